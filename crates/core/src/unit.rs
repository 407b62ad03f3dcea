//! Administrative units (区 district, 街道 street, 社区 community, 网格 grid) and their codes.
//!
//! Codes follow the national statistical division codes: 12 digits for district, street and
//! community (`440303000000`, `440303001000`, `440303001001`), and the national 15-digit grid code
//! for grids, which extends the community code with three digits (`440303001001003`). People write
//! the short forms too (`440303`, `440303001`); [`UnitCode::parse`] accepts them and pads them, so
//! that one unit has exactly one code inside Wanxiang.

use std::fmt;

use geo_types::MultiPolygon;

/// The level of a unit in the administrative tree, from the top down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 区: the district, the root of a deployment's tree.
    District,
    /// 街道: a street (sub-district office).
    Street,
    /// 社区: a community (residents' committee).
    Community,
    /// 网格: a grid cell, the smallest patch an inspector walks.
    Grid,
}

impl Level {
    /// Every level, from the top down.
    pub const ALL: [Level; 4] = [
        Level::District,
        Level::Street,
        Level::Community,
        Level::Grid,
    ];

    /// The stable English name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::District => "district",
            Level::Street => "street",
            Level::Community => "community",
            Level::Grid => "grid",
        }
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            Level::District => "区",
            Level::Street => "街道",
            Level::Community => "社区",
            Level::Grid => "网格",
        }
    }

    /// Parses the wire name (`district`, `street`, `community`, `grid`).
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The level directly above this one, if any.
    pub fn parent(self) -> Option<Level> {
        match self {
            Level::District => None,
            Level::Street => Some(Level::District),
            Level::Community => Some(Level::Street),
            Level::Grid => Some(Level::Community),
        }
    }

    /// The level directly below this one, if any.
    pub fn child(self) -> Option<Level> {
        match self {
            Level::District => Some(Level::Street),
            Level::Street => Some(Level::Community),
            Level::Community => Some(Level::Grid),
            Level::Grid => None,
        }
    }

    /// Depth in the tree: 0 for the district.
    pub fn depth(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a unit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseCodeError {
    /// The text has a character other than an ASCII digit.
    #[error("a unit code has only digits 0-9: {0:?}")]
    NotDigits(String),
    /// The text is not 6, 9, 12 or 15 digits long.
    #[error("a unit code has 6, 9, 12 or 15 digits, not {len}: {code:?}")]
    BadLength {
        /// The text as given.
        code: String,
        /// Its length in characters.
        len: usize,
    },
    /// The digits do not describe a unit (for example a street part of 000 under a community part).
    #[error("{0:?} is not a valid district, street, community or grid code")]
    Malformed(String),
}

/// A unit's code, always held in its canonical 12- or 15-digit form.
///
/// It can only be built by [`UnitCode::parse`], so a value of this type is always well formed and
/// its [`Level`] is known from the digits alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitCode(String);

impl UnitCode {
    /// Parses a code in long or short form: `440303` and `440303000000` are the same district,
    /// `440303001` and `440303001000` the same street.
    pub fn parse(text: &str) -> Result<UnitCode, ParseCodeError> {
        let t = text.trim();
        if !t.bytes().all(|b| b.is_ascii_digit()) || t.is_empty() {
            return Err(ParseCodeError::NotDigits(text.to_owned()));
        }
        let canonical = match t.len() {
            6 => format!("{t}000000"),
            9 => format!("{t}000"),
            12 | 15 => t.to_owned(),
            len => {
                return Err(ParseCodeError::BadLength {
                    code: text.to_owned(),
                    len,
                });
            }
        };
        // The district part itself may not be zero, and a lower part may only be non-zero when
        // the parts above it are (no community under street 000).
        let district = &canonical[0..6];
        let street = &canonical[6..9];
        let community = &canonical[9..12];
        let ok = district != "000000"
            && !(street == "000" && community != "000")
            && !(canonical.len() == 15 && (community == "000" || &canonical[12..15] == "000"));
        if !ok {
            return Err(ParseCodeError::Malformed(text.to_owned()));
        }
        Ok(UnitCode(canonical))
    }

    /// The canonical digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level the digits describe.
    pub fn level(&self) -> Level {
        if self.0.len() == 15 {
            Level::Grid
        } else if &self.0[6..12] == "000000" {
            Level::District
        } else if &self.0[9..12] == "000" {
            Level::Street
        } else {
            Level::Community
        }
    }

    /// The code of the unit directly above, read from the digits.
    pub fn parent(&self) -> Option<UnitCode> {
        let parent = match self.level() {
            Level::District => return None,
            Level::Street => format!("{}000000", &self.0[0..6]),
            Level::Community => format!("{}000", &self.0[0..9]),
            Level::Grid => self.0[0..12].to_owned(),
        };
        Some(UnitCode(parent))
    }

    /// The code of the `n`-th grid (1-based, at most 999) of a community.
    pub fn grid(&self, n: u16) -> Option<UnitCode> {
        (self.level() == Level::Community && (1..=999).contains(&n))
            .then(|| UnitCode(format!("{}{n:03}", self.0)))
    }

    /// The code of the `n`-th community (1-based, at most 999) of a street.
    pub fn community(&self, n: u16) -> Option<UnitCode> {
        (self.level() == Level::Street && (1..=999).contains(&n))
            .then(|| UnitCode(format!("{}{n:03}", &self.0[0..9])))
    }

    /// Whether `other` is this unit or lies below it in the tree, judged from the digits.
    pub fn encloses(&self, other: &UnitCode) -> bool {
        let prefix = match self.level() {
            Level::District => &self.0[0..6],
            Level::Street => &self.0[0..9],
            Level::Community | Level::Grid => &self.0[..],
        };
        other.0.starts_with(prefix)
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One administrative unit: a node of the district's tree with its boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The unit's canonical code; it names the unit everywhere.
    pub code: UnitCode,
    /// The official name, in Chinese (`桂园街道`).
    pub name: String,
    /// The unit's level; always the level its code describes.
    pub level: Level,
    /// The enclosing unit, `None` only for the district.
    pub parent: Option<UnitCode>,
    /// The patch the unit is responsible for, in WGS-84 longitude/latitude. Units created before
    /// their boundary is known have none and are never the answer to a location lookup.
    pub boundary: Option<MultiPolygon<f64>>,
    /// True when the boundary was generated (the demo's partition), not surveyed. Users must be
    /// able to tell a drawn guess from an official line.
    pub synthetic: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<(&str, Level, Option<&str>), ()>) {
        let got = UnitCode::parse(input)
            .map(|c| {
                let parent = c.parent().map(|p| p.as_str().to_owned());
                (c.as_str().to_owned(), c.level(), parent)
            })
            .map_err(|_| ());
        let expect = expect.map(|(c, l, p)| (c.to_owned(), l, p.map(str::to_owned)));
        assert_eq!(got, expect, "parsing {input:?}");
    }

    #[test]
    fn codes_parse_to_canonical_form_with_level_and_parent() {
        check("440303", Ok(("440303000000", Level::District, None)));
        check("440303000000", Ok(("440303000000", Level::District, None)));
        check(
            "440303001",
            Ok(("440303001000", Level::Street, Some("440303000000"))),
        );
        check(
            "440303001000",
            Ok(("440303001000", Level::Street, Some("440303000000"))),
        );
        check(
            "440303001001",
            Ok(("440303001001", Level::Community, Some("440303001000"))),
        );
        check(
            "440303001001003",
            Ok(("440303001001003", Level::Grid, Some("440303001001"))),
        );
        check(
            " 440303010007 ",
            Ok(("440303010007", Level::Community, Some("440303010000"))),
        );
        check("", Err(()));
        check("44030", Err(()));
        check("4403030010", Err(()));
        check("44030300100a", Err(()));
        check("000000001001", Err(()));
        check("440303000001", Err(()));
        check("440303001000001", Err(()));
        check("440303001001000", Err(()));
    }

    #[test]
    fn children_codes_and_enclosure() {
        let street = UnitCode::parse("440303001").unwrap();
        let community = street.community(7).unwrap();
        assert_eq!(community.as_str(), "440303001007");
        let grid = community.grid(3).unwrap();
        assert_eq!(grid.as_str(), "440303001007003");
        assert!(street.encloses(&grid));
        assert!(community.encloses(&grid));
        assert!(!UnitCode::parse("440303002").unwrap().encloses(&grid));
        assert!(UnitCode::parse("440303").unwrap().encloses(&street));
        assert!(street.grid(1).is_none());
        assert!(community.grid(1000).is_none());
    }

    #[test]
    fn levels_round_trip_their_wire_names() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.as_str()), Some(level));
        }
        assert_eq!(Level::parse("province"), None);
        assert_eq!(Level::Community.parent(), Some(Level::Street));
        assert_eq!(Level::Grid.child(), None);
    }
}
