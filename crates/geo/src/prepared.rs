//! A polygon prepared for many point-in-polygon tests.
//!
//! A plain ray cast looks at every edge of the polygon; county and community boundaries have
//! thousands of vertices, so that is thousands of comparisons per point. Here the polygon's
//! bounding box is cut into horizontal bands of equal height, and each band keeps the edges that
//! cross it. A horizontal ray from the point can only cross edges of the point's own band, so a test
//! costs one division to find the band and a crossing test over the handful of edges in it.
//!
//! The crossing rule is the classic half-open one (an edge counts when exactly one end lies above
//! the point's latitude), applied to all rings of all parts at once, so holes and multi-part units
//! come out right by parity. Points exactly on an edge may go either way, as in any ray cast.

use geo_types::{Coord, LineString, MultiPolygon, Rect};

/// One edge, stored as its two ends.
#[derive(Debug, Clone, Copy)]
struct Edge {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
}

/// A polygon or multipolygon with a band index over its edges.
#[derive(Debug, Clone)]
pub struct PreparedPolygon {
    /// The bounding box; points outside it are rejected before any band is looked at.
    bbox: Rect<f64>,
    /// Bands per unit of latitude: `band = (y - min_y) * scale`.
    scale: f64,
    /// Where each band's edges start in `edges`; band `b` owns `edges[start[b]..start[b + 1]]`.
    start: Vec<u32>,
    /// The edges of every band, one band after another. An edge spanning several bands is stored
    /// once per band, which trades memory for never looking at an edge that cannot be crossed.
    edges: Vec<Edge>,
    /// How many distinct edges the polygon has, for statistics.
    edge_count: usize,
}

impl PreparedPolygon {
    /// Prepares a (multi)polygon. Returns `None` for an empty geometry.
    pub fn new(shape: &MultiPolygon<f64>) -> Option<PreparedPolygon> {
        let mut raw = Vec::new();
        for polygon in &shape.0 {
            push_ring(&mut raw, polygon.exterior());
            for hole in polygon.interiors() {
                push_ring(&mut raw, hole);
            }
        }
        let bbox = bounding_rect(shape)?;
        let edge_count = raw.len();
        // About one band per two edges keeps each band down to a few edges on wiggly boundaries,
        // while long straight edges (spanning many bands) stay cheap; the cap bounds memory.
        let bands = (edge_count / 2).clamp(1, 1 << 14);
        let height = bbox.height();
        let scale = if height > 0.0 {
            bands as f64 / height
        } else {
            0.0
        };
        let band_of = |y: f64| -> usize { (((y - bbox.min().y) * scale) as usize).min(bands - 1) };

        // Count first, then fill: a compressed layout keeps a band's edges contiguous in memory.
        let mut counts = vec![0u32; bands + 1];
        for e in &raw {
            for b in band_of(e.y1.min(e.y2))..=band_of(e.y1.max(e.y2)) {
                counts[b + 1] += 1;
            }
        }
        for b in 0..bands {
            counts[b + 1] += counts[b];
        }
        let start = counts.clone();
        let mut fill = counts;
        let mut edges = vec![
            Edge {
                x1: 0.0,
                y1: 0.0,
                x2: 0.0,
                y2: 0.0
            };
            start[bands] as usize
        ];
        for e in &raw {
            for b in band_of(e.y1.min(e.y2))..=band_of(e.y1.max(e.y2)) {
                edges[fill[b] as usize] = *e;
                fill[b] += 1;
            }
        }
        Some(PreparedPolygon {
            bbox,
            scale,
            start,
            edges,
            edge_count,
        })
    }

    /// The bounding box.
    pub fn bbox(&self) -> Rect<f64> {
        self.bbox
    }

    /// The number of edges of the original geometry.
    pub fn edge_count(&self) -> usize {
        self.edge_count
    }

    /// Whether the point lies inside (crossing-number rule).
    #[inline]
    pub fn contains(&self, x: f64, y: f64) -> bool {
        let (min, max) = (self.bbox.min(), self.bbox.max());
        // Written so that NaN fails every comparison and is never inside.
        if !(x >= min.x && x <= max.x && y >= min.y && y <= max.y) {
            return false;
        }
        let bands = self.start.len() - 1;
        let band = (((y - min.y) * self.scale) as usize).min(bands - 1);
        let edges = &self.edges[self.start[band] as usize..self.start[band + 1] as usize];
        let mut inside = false;
        for e in edges {
            if (e.y1 > y) != (e.y2 > y) {
                let cross_x = e.x1 + (y - e.y1) * (e.x2 - e.x1) / (e.y2 - e.y1);
                if x < cross_x {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

fn push_ring(out: &mut Vec<Edge>, ring: &LineString<f64>) {
    for w in ring.0.windows(2) {
        let (a, b): (Coord<f64>, Coord<f64>) = (w[0], w[1]);
        // Horizontal edges are never crossed by a horizontal ray under the half-open rule.
        if a.y != b.y {
            out.push(Edge {
                x1: a.x,
                y1: a.y,
                x2: b.x,
                y2: b.y,
            });
        }
    }
    // GeoJSON rings are closed; tolerate an unclosed ring by closing it here.
    if let (Some(first), Some(last)) = (ring.0.first(), ring.0.last())
        && first != last
        && first.y != last.y
    {
        out.push(Edge {
            x1: last.x,
            y1: last.y,
            x2: first.x,
            y2: first.y,
        });
    }
}

fn bounding_rect(shape: &MultiPolygon<f64>) -> Option<Rect<f64>> {
    use geo::BoundingRect;
    shape.bounding_rect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Contains;
    use geo_types::{Point, Polygon, polygon};

    /// A comb: a polygon with many teeth, so bands hold edges of several teeth, plus a hole.
    fn comb() -> MultiPolygon<f64> {
        let mut exterior = vec![(0.0, 0.0)];
        for i in 0..50 {
            let x = i as f64 * 2.0;
            exterior.push((x + 1.0, 0.0));
            exterior.push((x + 1.0, 10.0 + (i % 7) as f64));
            exterior.push((x + 2.0, 10.0 + (i % 7) as f64));
            exterior.push((x + 2.0, 0.5));
        }
        exterior.push((100.0, -5.0));
        exterior.push((0.0, -5.0));
        exterior.push((0.0, 0.0));
        let hole = vec![
            (40.0, -4.0),
            (60.0, -4.0),
            (60.0, -1.0),
            (40.0, -1.0),
            (40.0, -4.0),
        ];
        MultiPolygon(vec![
            Polygon::new(exterior.into(), vec![hole.into()]),
            polygon![(x: 200.0, y: 0.0), (x: 210.0, y: 0.0), (x: 205.0, y: 8.0), (x: 200.0, y: 0.0)],
        ])
    }

    #[test]
    fn agrees_with_geo_contains_on_a_lattice() {
        let shape = comb();
        let prepared = PreparedPolygon::new(&shape).unwrap();
        let mut inside = 0;
        // Offsets of 0.37/0.29 keep lattice points off the edges, where rules may legitimately differ.
        for i in 0..600 {
            for j in 0..60 {
                let (x, y) = (
                    -5.0 + i as f64 * 0.37 + 0.013,
                    -6.0 + j as f64 * 0.29 + 0.007,
                );
                let expect = shape.contains(&Point::new(x, y));
                assert_eq!(prepared.contains(x, y), expect, "({x}, {y})");
                inside += usize::from(expect);
            }
        }
        assert!(
            inside > 1000,
            "the lattice must hit the shape often, hit {inside}"
        );
    }

    #[test]
    fn rejects_nan_and_far_points() {
        let prepared = PreparedPolygon::new(&comb()).unwrap();
        assert!(!prepared.contains(f64::NAN, 1.0));
        assert!(!prepared.contains(1e9, 1.0));
        assert!(prepared.contains(205.0, 4.0));
        assert!(!prepared.contains(50.0, -2.0), "inside the hole");
    }
}
