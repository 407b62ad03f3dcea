//! Deterministic partition of a region into cells, for the synthetic demo geography.
//!
//! Cells are Voronoi cells of seed points, computed by clipping a box with the perpendicular
//! bisector of every other seed (a few dozen seeds per region, so the quadratic cost is nothing),
//! then intersected with the region. A few rounds of Lloyd relaxation move random seeds to their
//! cells' centroids so that the cells come out of similar size, as real communities roughly are.

use geo::{BooleanOps, BoundingRect, Centroid, Contains};
use geo_types::{Coord, LineString, MultiPolygon, Point, Polygon};

/// SplitMix64: a tiny, well-known generator; enough for reproducible demo seeds, and it keeps a
/// random-number crate out of the dependency graph for this one use.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed from a text (a unit code), so each region's randomness depends only on its identity.
pub(crate) fn seed_of(text: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike std's randomly keyed hasher.
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `n` random points inside the region.
pub(crate) fn random_points_in(
    region: &MultiPolygon<f64>,
    n: usize,
    rng: &mut SplitMix64,
) -> Vec<Coord<f64>> {
    let bbox = region
        .bounding_rect()
        .expect("a region to partition is not empty");
    let mut points = Vec::with_capacity(n);
    while points.len() < n {
        let c = Coord {
            x: bbox.min().x + rng.next_f64() * bbox.width(),
            y: bbox.min().y + rng.next_f64() * bbox.height(),
        };
        if region.contains(&Point(c)) {
            points.push(c);
        }
    }
    points
}

/// The Voronoi cell of `seeds[i]` inside `region`.
fn cell(seeds: &[Coord<f64>], i: usize, region: &MultiPolygon<f64>) -> MultiPolygon<f64> {
    let bbox = region
        .bounding_rect()
        .expect("a region to partition is not empty");
    let pad = bbox.width().max(bbox.height());
    let (min, max) = (bbox.min(), bbox.max());
    let mut poly = vec![
        Coord {
            x: min.x - pad,
            y: min.y - pad,
        },
        Coord {
            x: max.x + pad,
            y: min.y - pad,
        },
        Coord {
            x: max.x + pad,
            y: max.y + pad,
        },
        Coord {
            x: min.x - pad,
            y: max.y + pad,
        },
    ];
    let s = seeds[i];
    for (j, &o) in seeds.iter().enumerate() {
        if j != i {
            poly = clip_half_plane(&poly, s, o);
        }
    }
    let mut ring: Vec<Coord<f64>> = poly;
    if ring.len() < 3 {
        return MultiPolygon(vec![]);
    }
    ring.push(ring[0]);
    let convex = Polygon::new(LineString(ring), vec![]);
    MultiPolygon(vec![convex]).intersection(region)
}

/// Keeps the part of a convex polygon that is closer to `s` than to `o` (Sutherland–Hodgman).
fn clip_half_plane(poly: &[Coord<f64>], s: Coord<f64>, o: Coord<f64>) -> Vec<Coord<f64>> {
    // Points p with (p - m)·(o - s) <= 0 are on s's side, where m is the midpoint.
    let m = Coord {
        x: (s.x + o.x) / 2.0,
        y: (s.y + o.y) / 2.0,
    };
    let d = Coord {
        x: o.x - s.x,
        y: o.y - s.y,
    };
    let side = |p: Coord<f64>| (p.x - m.x) * d.x + (p.y - m.y) * d.y;
    let mut out = Vec::with_capacity(poly.len() + 1);
    for k in 0..poly.len() {
        let a = poly[k];
        let b = poly[(k + 1) % poly.len()];
        let (sa, sb) = (side(a), side(b));
        if sa <= 0.0 {
            out.push(a);
        }
        if (sa <= 0.0) != (sb <= 0.0) {
            let t = sa / (sa - sb);
            out.push(Coord {
                x: a.x + t * (b.x - a.x),
                y: a.y + t * (b.y - a.y),
            });
        }
    }
    out
}

/// Splits a region into one cell per seed, in the order of the seeds.
pub(crate) fn voronoi(region: &MultiPolygon<f64>, seeds: &[Coord<f64>]) -> Vec<MultiPolygon<f64>> {
    (0..seeds.len()).map(|i| cell(seeds, i, region)).collect()
}

/// Splits a region into `n` cells of similar size from random seeds relaxed by Lloyd's method.
pub(crate) fn relaxed(
    region: &MultiPolygon<f64>,
    n: usize,
    rng: &mut SplitMix64,
    rounds: usize,
) -> Vec<MultiPolygon<f64>> {
    let mut seeds = random_points_in(region, n, rng);
    for _ in 0..rounds {
        let cells = voronoi(region, &seeds);
        for (seed, cell) in seeds.iter_mut().zip(&cells) {
            // A centroid can fall outside a concave region; then the seed stays where it was, so
            // every seed stays inside and every cell stays non-empty.
            if let Some(c) = cell.centroid()
                && region.contains(&c)
            {
                *seed = c.0;
            }
        }
    }
    voronoi(region, &seeds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Area;
    use geo_types::polygon;

    #[test]
    fn cells_cover_the_region_without_overlap() {
        let region = MultiPolygon(vec![polygon![
            (x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 4.0), (x: 4.0, y: 4.0), (x: 4.0, y: 10.0), (x: 0.0, y: 10.0), (x: 0.0, y: 0.0)
        ]]);
        let mut rng = SplitMix64::new(seed_of("test"));
        let cells = relaxed(&region, 7, &mut rng, 3);
        assert_eq!(cells.len(), 7);
        let total: f64 = cells.iter().map(|c| c.unsigned_area()).sum();
        assert!(
            (total - region.unsigned_area()).abs() / total < 1e-6,
            "total {total}"
        );
        for (i, a) in cells.iter().enumerate() {
            assert!(a.unsigned_area() > 0.0);
            for b in &cells[i + 1..] {
                assert!(a.intersection(b).unsigned_area() < 1e-6);
            }
        }
        let again = relaxed(&region, 7, &mut SplitMix64::new(seed_of("test")), 3);
        assert_eq!(cells, again, "same seed, same cells");
    }
}
