//! Many prepared polygons behind an R-tree of their bounding boxes.
//!
//! The R-tree narrows a point down to the few polygons whose boxes hold it; each of those is then
//! tested exactly with its band index ([`PreparedPolygon`]). This is the structure behind both the
//! server's locate endpoint and the `wanxiang geo locate` command.

use geo_types::MultiPolygon;
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use crate::prepared::PreparedPolygon;

type BoxEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// An index over a list of polygons, answering which of them contain a point.
#[derive(Debug)]
pub struct PolygonIndex {
    /// The prepared polygons, in input order; `None` for empty geometries, which contain nothing.
    polygons: Vec<Option<PreparedPolygon>>,
    /// Bounding boxes of the non-empty polygons, carrying their position in `polygons`.
    tree: RTree<BoxEntry>,
}

impl PolygonIndex {
    /// Builds the index. Positions in `shapes` are the answers later returned.
    pub fn new<'a>(shapes: impl IntoIterator<Item = &'a MultiPolygon<f64>>) -> PolygonIndex {
        let polygons: Vec<Option<PreparedPolygon>> =
            shapes.into_iter().map(PreparedPolygon::new).collect();
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
    }
}
