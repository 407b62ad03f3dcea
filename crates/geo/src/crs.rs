//! China's three coordinate systems: WGS-84 (GPS), GCJ-02 (most Chinese web maps and phones) and
//! BD-09 (Baidu). Everything Wanxiang stores is WGS-84; points are converted once, at the edge.
//!
//! The arithmetic is the `coordtransform` crate's. We call its `*_in_mainland` variants on purpose:
//! the crate's own region mask carves Hong Kong out at about 100 m resolution, and Luohu's southern
//! boundary *is* the Hong Kong border, so the masked variants would leave some genuine Luohu points
//! unconverted. A deployment of Wanxiang serves a mainland district, so every point it is asked
//! about is treated as mainland; a point that then falls outside the district is reported as such.

use std::fmt;

/// A coordinate reference system a client may send a point in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS-84 longitude/latitude, as GPS receivers and most GIS data give it.
    Wgs84,
    /// GCJ-02, the obfuscated system of Chinese map services (Amap/Gaode, Tencent) and phones.
    Gcj02,
    /// BD-09, Baidu Maps' system, derived from GCJ-02.
    Bd09,
}

impl Crs {
    /// Every system, in the order they are documented.
    pub const ALL: [Crs; 3] = [Crs::Wgs84, Crs::Gcj02, Crs::Bd09];

    /// The wire name (`wgs84`, `gcj02`, `bd09`).
    pub fn as_str(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(s: &str) -> Option<Crs> {
        Crs::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    /// Converts a point given in this system to WGS-84.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => coordtransform::gcj02_to_wgs84_in_mainland(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = coordtransform::bd09_to_gcj02(lon, lat);
                coordtransform::gcj02_to_wgs84_in_mainland(glon, glat)
            }
        }
    }

    /// Converts a WGS-84 point to this system.
    pub fn from_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => coordtransform::wgs84_to_gcj02_in_mainland(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = coordtransform::wgs84_to_gcj02_in_mainland(lon, lat);
                coordtransform::gcj02_to_bd09(glon, glat)
            }
        }
    }
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference pairs published with the widely used `coordtransform` JavaScript library
    /// (wandergis/coordtransform, README), all for the point (116.404, 39.915) in Beijing.
    /// Each row: source system, input, target system, expected output.
    const PUBLISHED: &[(Crs, (f64, f64), Crs, (f64, f64))] = &[
        (
            Crs::Bd09,
            (116.404, 39.915),
            Crs::Gcj02,
            (116.39762729119315, 39.90865673957631),
        ),
        (
            Crs::Gcj02,
            (116.404, 39.915),
            Crs::Bd09,
            (116.41036949371029, 39.92133699351021),
        ),
        (
            Crs::Wgs84,
            (116.404, 39.915),
            Crs::Gcj02,
            (116.41024449916938, 39.91640428150164),
        ),
        (
            Crs::Gcj02,
            (116.404, 39.915),
            Crs::Wgs84,
            (116.39775550083061, 39.91359571849836),
        ),
    ];

    fn convert(from: Crs, to: Crs, p: (f64, f64)) -> (f64, f64) {
        let (lon, lat) = from.to_wgs84(p.0, p.1);
        to.from_wgs84(lon, lat)
    }

    #[test]
    fn matches_published_reference_points() {
        for &(from, input, to, expect) in PUBLISHED {
            let got = convert(from, to, input);
            // The published inverse (GCJ-02 → WGS-84) is the one-step approximation; the crate
            // refines it, so the two agree to about 1e-5 degrees (about a metre), not to the bit.
            let tolerance = if to == Crs::Wgs84 || from == Crs::Bd09 {
                2e-5
            } else {
                1e-9
            };
            assert!(
                (got.0 - expect.0).abs() < tolerance && (got.1 - expect.1).abs() < tolerance,
                "{from} {input:?} → {to}: got {got:?}, published {expect:?}"
            );
        }
    }

    #[test]
    fn round_trips_at_a_luohu_point() {
        let wgs = (114.1185, 22.5480);
        for crs in Crs::ALL {
            let there = crs.from_wgs84(wgs.0, wgs.1);
            let back = crs.to_wgs84(there.0, there.1);
            assert!(
                (back.0 - wgs.0).abs() < 1e-7 && (back.1 - wgs.1).abs() < 1e-7,
                "{crs}"
            );
        }
        // GCJ-02 moves Shenzhen points by roughly half a kilometre; a conversion that did nothing
        // (or the masked variant skipping a border point) would fail here.
        let gcj = Crs::Gcj02.from_wgs84(wgs.0, wgs.1);
        let shift = ((gcj.0 - wgs.0).powi(2) + (gcj.1 - wgs.1).powi(2)).sqrt();
        assert!((0.003..0.01).contains(&shift), "shift {shift}");
    }

    #[test]
    fn parses_wire_names() {
        assert_eq!(Crs::parse("GCJ02"), Some(Crs::Gcj02));
        assert_eq!(Crs::parse("bd09"), Some(Crs::Bd09));
        assert_eq!(Crs::parse("epsg4326"), None);
    }
}
