//! Many prepared polygons, and the two ways of finding which of them hold a point.
//!
//! The R-tree path narrows a point down to the polygons whose boxes hold it and tests each exactly
//! with its band index ([`PreparedPolygon`]). The grid path ([`crate::grid`]) looks the point's
//! cell up in a precomputed uniform grid that already knows which polygons cover the cell entirely
//! and which only touch it. Both give the same answer (the lowest-index polygon holding the
//! point); the grid is faster (BENCHMARKS.md) and is what [`PolygonIndex::locate`] uses. This is
//! the structure behind both the server's locate endpoint and `wanxiang geo locate`.

use geo_types::MultiPolygon;
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use crate::grid::CellGrid;
use crate::prepared::PreparedPolygon;

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// An index over a list of polygons, answering which of them contain a point.
#[derive(Debug)]
pub struct PolygonIndex {
    /// The prepared polygons, in input order; `None` for empty geometries, which contain nothing.
    polygons: Vec<Option<PreparedPolygon>>,
    /// Bounding boxes of the non-empty polygons, carrying their position in `polygons`.
    tree: RTree<BoxEntry>,
    /// The cell grid; `None` when there is no non-empty polygon.
    grid: Option<CellGrid>,
}

/// How [`PolygonIndex::locate_many_with`] finds candidates; both give identical answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The precomputed cell grid (the default).
    Grid,
    /// The R-tree over bounding boxes, then the exact test on each candidate.
    RTree,
}

impl PolygonIndex {
    /// Builds the index. Positions in `shapes` are the answers later returned.
    pub fn new<'a>(shapes: impl IntoIterator<Item = &'a MultiPolygon<f64>>) -> PolygonIndex {
        let shapes: Vec<&MultiPolygon<f64>> = shapes.into_iter().collect();
        let polygons: Vec<Option<PreparedPolygon>> =
            shapes.iter().map(|s| PreparedPolygon::new(s)).collect();
        let grid = CellGrid::new(&shapes, &polygons);
        let entries = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let b = p.as_ref()?.bbox();
                let rect = Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
                Some(GeomWithData::new(rect, i as u32))
            })
            .collect();
        PolygonIndex {
            polygons,
            tree: RTree::bulk_load(entries),
            grid,
        }
    }

    /// The number of polygons indexed (including empty ones).
    pub fn len(&self) -> usize {
        self.polygons.len()
    }

    /// Whether the index holds no polygon.
    pub fn is_empty(&self) -> bool {
        self.polygons.is_empty()
    }

    /// The total number of edges, for statistics.
    pub fn edge_count(&self) -> usize {
        self.polygons
            .iter()
            .flatten()
            .map(PreparedPolygon::edge_count)
            .sum()
    }

    /// The lowest position of a polygon containing the point, if any. Taking the lowest makes the
    /// answer deterministic when input polygons overlap.
    #[inline]
    pub fn locate(&self, x: f64, y: f64) -> Option<usize> {
        self.grid.as_ref()?.locate(&self.polygons, x, y)
    }

    /// The same answer as [`PolygonIndex::locate`], found through the R-tree.
    #[inline]
    pub fn locate_rtree(&self, x: f64, y: f64) -> Option<usize> {
        let mut best: Option<u32> = None;
        for entry in self.tree.locate_all_at_point(&[x, y]) {
            let i = entry.data;
            if best.is_some_and(|b| b < i) {
                continue;
            }
            if self.polygons[i as usize]
                .as_ref()
                .is_some_and(|p| p.contains(x, y))
            {
                best = Some(i);
            }
        }
        best.map(|i| i as usize)
    }

    /// Locates many points at once; the answers are those of [`PolygonIndex::locate`], in input
    /// order.
    ///
    /// Points arrive in any order, and a lookup's cost is dominated by fetching its polygon's
    /// bands and edges from memory. Visiting the points along a Z-order (Morton) curve makes
    /// neighbouring lookups touch the same polygons and bands, which then stay in cache; the
    /// sort costs far less than the cache misses it saves.
    pub fn locate_many(&self, points: &[(f64, f64)]) -> Vec<Option<usize>> {
        self.locate_many_with(points, Strategy::Grid)
    }

    /// [`PolygonIndex::locate_many`] with a chosen strategy, for comparing the two.
    pub fn locate_many_with(
        &self,
        points: &[(f64, f64)],
        strategy: Strategy,
    ) -> Vec<Option<usize>> {
        let mut out = vec![None; points.len()];
        if self.tree.size() == 0 {
            return out;
        }
        let root = self.tree.root().envelope();
        let (lo, hi) = (root.lower(), root.upper());
        let (sx, sy) = (
            65535.0 / (hi[0] - lo[0]).max(f64::MIN_POSITIVE),
            65535.0 / (hi[1] - lo[1]).max(f64::MIN_POSITIVE),
        );
        // Bucket the points by the top bits of their Morton key: one counting-sort pass groups
        // each small square of the map together, which is all the locality the lookups need (the
        // order inside a bucket does not matter). About eight points per bucket on average.
        let bits = (usize::BITS - (points.len() / 8).max(1).leading_zeros()).clamp(8, 24);
        let shift = 32 - bits;
        let keys: Vec<u32> = points
            .iter()
            .map(|&(x, y)| {
                // Points outside the index's box (or NaN) clamp to its edge; they match nothing
                // anyway, and their place in the order does not matter.
                let qx = ((x - lo[0]) * sx).clamp(0.0, 65535.0) as u32;
                let qy = ((y - lo[1]) * sy).clamp(0.0, 65535.0) as u32;
                morton(qx, qy) >> shift
            })
            .collect();
        let mut next = vec![0u32; (1usize << bits) + 1];
        for &k in &keys {
            next[k as usize + 1] += 1;
        }
        for b in 1..next.len() {
            next[b] += next[b - 1];
        }
        let mut order = vec![0u32; points.len()];
        for (i, &k) in keys.iter().enumerate() {
            order[next[k as usize] as usize] = i as u32;
            next[k as usize] += 1;
        }
        for i in order {
            let i = i as usize;
            let (x, y) = points[i];
            out[i] = match strategy {
                Strategy::Grid => self.locate(x, y),
                Strategy::RTree => self.locate_rtree(x, y),
            };
        }
        out
    }

    /// The grid's cells across, down, and its number of entries, for statistics.
    pub fn grid_size(&self) -> (usize, usize, usize) {
        self.grid.as_ref().map_or((0, 0, 0), CellGrid::size)
    }

    /// Every position of a polygon containing the point, ascending.
    pub fn locate_all(&self, x: f64, y: f64) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .tree
            .locate_all_at_point(&[x, y])
            .filter(|e| {
                self.polygons[e.data as usize]
                    .as_ref()
                    .is_some_and(|p| p.contains(x, y))
            })
            .map(|e| e.data as usize)
            .collect();
        all.sort_unstable();
        all
    }
}

/// Interleaves the bits of two 16-bit numbers (x in the even bits).
fn morton(x: u32, y: u32) -> u32 {
    fn spread(mut v: u32) -> u32 {
        v &= 0xFFFF;
        v = (v | (v << 8)) & 0x00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    }
    spread(x) | (spread(y) << 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{MultiPolygon, polygon};

    fn square(x: f64, y: f64, size: f64) -> MultiPolygon<f64> {
        MultiPolygon(vec![polygon![
            (x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size), (x: x, y: y)
        ]])
    }

    #[test]
    fn finds_the_lowest_containing_polygon() {
        let shapes = [
            square(0.0, 0.0, 10.0),
            square(5.0, 5.0, 10.0),
            MultiPolygon(vec![]),
            square(20.0, 0.0, 1.0),
        ];
        let index = PolygonIndex::new(&shapes);
        let cases: &[((f64, f64), Option<usize>, &[usize])] = &[
            ((1.0, 1.0), Some(0), &[0]),
            ((7.0, 7.0), Some(0), &[0, 1]),
            ((12.0, 12.0), Some(1), &[1]),
            ((20.5, 0.5), Some(3), &[3]),
            ((18.0, 0.5), None, &[]),
            ((f64::NAN, 0.5), None, &[]),
        ];
        for &((x, y), first, all) in cases {
            assert_eq!(index.locate(x, y), first, "({x}, {y})");
            assert_eq!(index.locate_all(x, y), all, "({x}, {y})");
        }
        assert_eq!(index.len(), 4);
        let points: Vec<(f64, f64)> = cases.iter().map(|c| c.0).collect();
        let expect: Vec<Option<usize>> = cases.iter().map(|c| c.1).collect();
        assert_eq!(index.locate_many(&points), expect);
        assert_eq!(
            PolygonIndex::new(&[]).locate_many(&points),
            vec![None; points.len()]
        );
        for &(x, y) in &points {
            assert_eq!(index.locate_rtree(x, y), index.locate(x, y));
        }
    }

    /// The grid and the R-tree must agree everywhere: random points over the demo district's
    /// grids, communities and streets, plus points on a lattice that hits cell lines exactly.
    #[test]
    fn grid_and_rtree_agree_on_the_demo_district() {
        use crate::partition::SplitMix64;
        use wanxiang_core::Level;
        let units = crate::demo::luohu().unwrap();
        for level in [Level::Street, Level::Community, Level::Grid] {
            let shapes: Vec<&MultiPolygon<f64>> = units
                .iter()
                .filter(|u| u.level == level)
                .filter_map(|u| u.boundary.as_ref())
                .collect();
            let index = PolygonIndex::new(shapes.iter().copied());
            let mut rng = SplitMix64::new(7);
            let mut points: Vec<(f64, f64)> = (0..50_000)
                .map(|_| {
                    (
                        114.05 + rng.next_f64() * 0.18,
                        22.52 + rng.next_f64() * 0.11,
                    )
                })
                .collect();
            points.extend((0..200).flat_map(|i| {
                (0..100).map(move |j| (114.05 + i as f64 * 0.0009, 22.52 + j as f64 * 0.0011))
            }));
            let fast = index.locate_many(&points);
            let slow = index.locate_many_with(&points, Strategy::RTree);
            let matched = fast.iter().filter(|m| m.is_some()).count();
            assert_eq!(fast, slow, "{level}");
            assert!(
                matched > points.len() / 3,
                "{level}: only {matched} matched"
            );
        }
    }
}
