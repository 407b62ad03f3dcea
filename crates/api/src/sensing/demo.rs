//! The demo district's sensors: DEMO content, generated, never real. Devices are spread over the
//! demo grids by a fixed pseudo-random sequence, with published tokens (`wxd_demo_000001`, as the
//! demo password is published) so `wanxiang simulate` can drive them. The first few are the
//! scripted incidents' devices, with names that say what they watch.

use wanxiang_core::{Level, Scope};
use wanxiang_geo::Atlas;
use wanxiang_store::{DeviceRecord, NewDevice, Store, StoreError};

use crate::auth::token_hash;

/// Demo device tokens start with this; they are published, like the demo password.
pub const DEMO_TOKEN_PREFIX: &str = "wxd_demo_";

/// The demo district's gateway device: it may publish for every demo device
/// (`v1/gateway/telemetry`), which is how the demo's built-in simulator drives thousands of
/// devices over a few connections.
pub const DEMO_GATEWAY_ID: &str = "demo-gateway";
/// Its published token.
pub const DEMO_GATEWAY_TOKEN: &str = "wxd_demo_gateway";

/// One demo device, as both the seed and the simulator know it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoDevice {
    /// Position in the sequence.
    pub index: usize,
    /// `demo-000001`.
    pub id: String,
    /// Its published access token.
    pub token: String,
    /// Its type.
    pub type_code: &'static str,
    /// Its name (marked as demo).
    pub name: String,
}

/// The incident devices, first in the sequence: type and what they watch.
pub const INCIDENTS: &[(&str, &str)] = &[
    ("water_level", "人民南路下穿通道积水点"),
    ("slope", "梧桐山脚边坡"),
    ("smoke", "东门老街商铺烟感"),
    ("building_tilt", "和平新居楼体倾斜监测"),
    ("manhole", "解放路井盖"),
];

/// How the rest are shared among types, out of 100.
const MIX: &[(&str, usize)] = &[
    ("smoke", 30),
    ("manhole", 24),
    ("water_level", 14),
    ("parking", 14),
    ("air_quality", 5),
    ("slope", 4),
    ("water_quality", 3),
    ("building_tilt", 3),
    ("generic", 3),
];

/// SplitMix64: a fixed, dependency-free sequence, so every run places the same devices.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The first `n` demo devices.
pub fn demo_devices(n: usize) -> Vec<DemoDevice> {
    (0..n)
        .map(|index| {
            let (type_code, name) = match INCIDENTS.get(index) {
                Some((t, watch)) => (*t, format!("（演示）{watch}")),
                None => {
                    let mut bucket = (mix(index as u64) % 100) as usize;
                    let t = MIX
                        .iter()
                        .find(|(_, share)| {
                            if bucket < *share {
                                true
                            } else {
                                bucket -= share;
                                false
                            }
                        })
                        .map_or("generic", |(t, _)| *t);
                    (t, format!("（演示）{t}-{index:06}"))
                }
            };
            DemoDevice {
                index,
                id: format!("demo-{index:06}"),
                token: format!("{DEMO_TOKEN_PREFIX}{index:06}"),
                type_code,
                name,
            }
        })
        .collect()
}

/// Registers the first `n` demo devices if the store has none yet; returns how many it added.
pub async fn seed(
    store: &dyn Store,
    atlas: &Atlas,
    n: usize,
    now: i64,
) -> Result<usize, StoreError> {
    let scope = Scope::system("demo sensors");
    if n == 0 || store.device(&scope, "demo-000000").await?.is_some() {
        return Ok(0);
    }
    let mut grids: Vec<_> = atlas
        .units()
        .iter()
        .filter(|u| u.level == Level::Grid && u.boundary.is_some())
        .collect();
    grids.sort_by(|a, b| a.code.cmp(&b.code));
    if grids.is_empty() {
        return Ok(0);
    }
    let mut batch = Vec::with_capacity(n);
    for d in demo_devices(n) {
        let seed = mix(d.index as u64 ^ 0xD3_5E_ED);
        let grid = grids[(seed % grids.len() as u64) as usize];
        let (lon, lat) = place_in(atlas, grid, seed);
        batch.push(NewDevice {
            record: DeviceRecord {
                id: d.id,
                type_code: d.type_code.to_owned(),
                name: d.name,
                lon,
                lat,
                area: grid.code.clone(),
                // Owned by the street that holds it (grid → community → street).
                org: grid
                    .code
                    .parent()
                    .and_then(|c| c.parent())
                    .map_or_else(|| grid.code.to_string(), |s| s.to_string()),
                owner: None,
                installed_on: Some("2026-01-01".into()),
                disabled: false,
                rules: None,
                last_seen: None,
                bad_values: 0,
                bad_by_reason: Vec::new(),
                created_at: now,
            },
            token_hash: token_hash(&d.token),
        });
    }
    // The district's gateway sits in the first grid (the grids are non-empty, checked above).
    if let Some(district) = atlas.units().iter().find(|u| u.level == Level::District) {
        let grid = grids[0];
        let (lon, lat) = place_in(atlas, grid, 7);
        let area = grid.code.clone();
        batch.push(NewDevice {
            record: DeviceRecord {
                id: DEMO_GATEWAY_ID.into(),
                type_code: "gateway".into(),
                name: "（演示）区物联网关".into(),
                lon,
                lat,
                area,
                org: district.code.to_string(),
                owner: None,
                installed_on: Some("2026-01-01".into()),
                disabled: false,
                rules: None,
                last_seen: None,
                bad_values: 0,
                bad_by_reason: Vec::new(),
                created_at: now,
            },
            token_hash: token_hash(DEMO_GATEWAY_TOKEN),
        });
    }
    store.create_devices(&scope, &batch).await?;
    Ok(batch.len())
}

/// A point inside the unit (a grid, a community): a pseudo-random point of its bounding box that
/// the atlas places in the unit (Voronoi cells are convex, so a few tries suffice), else the
/// box's centre. The unit must have a boundary.
pub(crate) fn place_in(atlas: &Atlas, grid: &wanxiang_core::Unit, seed: u64) -> (f64, f64) {
    let Some(boundary) = grid.boundary.as_ref() else {
        return (0.0, 0.0);
    };
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for poly in &boundary.0 {
        for c in poly.exterior().coords() {
            x0 = x0.min(c.x);
            y0 = y0.min(c.y);
            x1 = x1.max(c.x);
            y1 = y1.max(c.y);
        }
    }
    let mut s = seed;
    for _ in 0..32 {
        s = mix(s);
        let fx = (s >> 11) as f64 / (1u64 << 53) as f64;
        s = mix(s);
        let fy = (s >> 11) as f64 / (1u64 << 53) as f64;
        let (lon, lat) = (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0));
        if atlas
            .locate_level(grid.level, lon, lat)
            .is_some_and(|g| g.code == grid.code)
        {
            return (lon, lat);
        }
    }
    ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed_and_mixed() {
        let list = demo_devices(2000);
        assert_eq!(list[0].id, "demo-000000");
        assert_eq!(list[0].token, "wxd_demo_000000");
        assert_eq!(list[0].type_code, "water_level");
        assert_eq!(list[2].name, "（演示）东门老街商铺烟感");
        assert_eq!(demo_devices(2000), list, "the same every time");
        let share = |t: &str| list.iter().filter(|d| d.type_code == t).count();
        // Roughly the mix (±40 %): the hash spreads them.
        for (t, pct) in MIX {
            let want = 2000 * pct / 100;
            let got = share(t);
            assert!(
                got * 10 >= want * 6 && got * 10 <= want * 14,
                "{t}: {got} of ~{want}"
            );
        }
    }
}
