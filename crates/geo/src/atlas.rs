//! The atlas: every unit of a deployment with one spatial index per level, answering which grid,
//! community, street and district hold a point.
//!
//! Each level is indexed on its own rather than by walking down the tree, so that a deployment
//! that imported real street boundaries over synthetic communities still gets the true street for
//! a point even where the old communities no longer nest exactly inside it.

use std::collections::HashMap;

use wanxiang_core::{Level, Unit, UnitCode};

use crate::index::PolygonIndex;

/// The units of one level and their index.
#[derive(Debug)]
struct LevelIndex {
    /// Positions in `Atlas::units` of the level's units that have a boundary.
    members: Vec<usize>,
    /// The index over those units' boundaries, in the order of `members`.
    index: PolygonIndex,
}

/// Every unit of a deployment, ready to locate points.
#[derive(Debug)]
pub struct Atlas {
    /// The units, sorted by code, so that listings are stable.
    units: Vec<Unit>,
    /// Position of each unit in `units`.
    by_code: HashMap<UnitCode, usize>,
    /// One index per level, in `Level::ALL` order.
    levels: Vec<LevelIndex>,
}

/// The units holding a point, one per level; a level is `None` where no unit of it does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located<'a> {
    /// The district (区).
    pub district: Option<&'a Unit>,
    /// The street (街道).
    pub street: Option<&'a Unit>,
    /// The community (社区).
    pub community: Option<&'a Unit>,
    /// The grid (网格).
    pub grid: Option<&'a Unit>,
}

impl Atlas {
    /// Builds the atlas and its indexes.
    pub fn new(mut units: Vec<Unit>) -> Atlas {
        units.sort_by(|a, b| a.code.cmp(&b.code));
        let by_code = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.code.clone(), i))
            .collect();
        let levels = Level::ALL
            .iter()
            .map(|&level| {
                let members: Vec<usize> = units
                    .iter()
                    .enumerate()
                    .filter(|(_, u)| u.level == level && u.boundary.is_some())
                    .map(|(i, _)| i)
                    .collect();
                let index =
                    PolygonIndex::new(members.iter().filter_map(|&i| units[i].boundary.as_ref()));
                LevelIndex { members, index }
            })
            .collect();
        Atlas {
            units,
            by_code,
            levels,
        }
    }

    /// All units, sorted by code.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// One unit by code.
    pub fn unit(&self, code: &UnitCode) -> Option<&Unit> {
        self.by_code.get(code).map(|&i| &self.units[i])
    }

    /// The units directly below a unit, sorted by code.
    pub fn children<'a>(&'a self, code: &'a UnitCode) -> impl Iterator<Item = &'a Unit> + 'a {
        self.units
            .iter()
            .filter(move |u| u.parent.as_ref() == Some(code))
    }

    /// The unit of one level holding a WGS-84 point.
    pub fn locate_level(&self, level: Level, lon: f64, lat: f64) -> Option<&Unit> {
        let li = &self.levels[level.depth()];
        li.index
            .locate(lon, lat)
            .map(|k| &self.units[li.members[k]])
    }

    /// The units holding a WGS-84 point, at every level.
    pub fn locate(&self, lon: f64, lat: f64) -> Located<'_> {
        Located {
            district: self.locate_level(Level::District, lon, lat),
            street: self.locate_level(Level::Street, lon, lat),
            community: self.locate_level(Level::Community, lon, lat),
            grid: self.locate_level(Level::Grid, lon, lat),
        }
    }

    /// How many units each level has, in `Level::ALL` order.
    pub fn counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for u in &self.units {
            counts[u.level.depth()] += 1;
        }
        counts
    }
}
