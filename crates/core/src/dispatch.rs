//! Dispatch (分拨): from where a problem is and what it is to the organisation that must handle it,
//! with the reason in words. Rules are data (the category's responsibility); this function only
//! applies them, so every decision can be explained and tested.

use crate::account::Entity;
use crate::category::{Category, Responsible};
use crate::unit::UnitCode;

/// A unit on the way, with its name for the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Code.
    pub code: UnitCode,
    /// Name.
    pub name: String,
}

/// Where a problem is: the units holding its point, as the atlas located them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The district.
    pub district: Named,
    /// The street, if known.
    pub street: Option<Named>,
    /// The community, if known.
    pub community: Option<Named>,
    /// The grid, if known.
    pub grid: Option<Named>,
}

/// A dispatch decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The responsible organisation's key: a unit code, a department code or `entity:<id>`.
    pub to: String,
    /// The unit whose jurisdiction the case belongs to (for scoping): the finest unit known.
    pub area: UnitCode,
    /// Why, in Chinese and English.
    pub explanation: String,
}

impl Place {
    /// The finest unit known, and its description.
    fn finest(&self) -> (&Named, &'static str) {
        if let Some(g) = &self.grid {
            (g, "grid")
        } else if let Some(c) = &self.community {
            (c, "community")
        } else if let Some(s) = &self.street {
            (s, "street")
        } else {
            (&self.district, "district")
        }
    }
}

/// Decides who handles a problem of `category` at `place`. `entities` are the registered social
/// entities that may be considered; the first (by id) of the right kind whose service area
/// encloses the place wins.
pub fn decide(place: &Place, category: &Category, entities: &[Entity]) -> Decision {
    let (finest, level) = place.finest();
    let because = format!(
        "{} ({}) is {}",
        category.name_zh,
        category.code,
        category.responsible.describe()
    );
    let to_unit = |u: &Named| Decision {
        to: u.code.to_string(),
        area: finest.code.clone(),
        explanation: format!("{level} {} → {} because {because}", finest.code, u.name),
    };
    match &category.responsible {
        Responsible::Community => to_unit(
            place
                .community
                .as_ref()
                .or(place.street.as_ref())
                .unwrap_or(&place.district),
        ),
        Responsible::Street => to_unit(place.street.as_ref().unwrap_or(&place.district)),
        Responsible::District => to_unit(&place.district),
        Responsible::Department(d) => Decision {
            to: d.to_string(),
            area: finest.code.clone(),
            explanation: format!("{level} {} → department {d} because {because}", finest.code),
        },
        Responsible::Entity(kind) => {
            let mut candidates: Vec<&Entity> = entities
                .iter()
                .filter(|e| {
                    e.kind == *kind && e.service_area.iter().any(|a| a.encloses(&finest.code))
                })
                .collect();
            candidates.sort_by(|a, b| a.id.cmp(&b.id));
            match candidates.first() {
                Some(e) => Decision {
                    to: format!("entity:{}", e.id),
                    area: finest.code.clone(),
                    explanation: format!("{level} {} → {} because {because}", finest.code, e.name),
                },
                None => {
                    let fallback = place
                        .community
                        .as_ref()
                        .or(place.street.as_ref())
                        .unwrap_or(&place.district);
                    let mut d = to_unit(fallback);
                    d.explanation.push_str(&format!(
                        "; no {} serves this place, so the community handles it / 无社会主体服务该区域，由社区处置",
                        kind.as_str()
                    ));
                    d
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::EntityKind;
    use crate::category::{Categories, DEFAULT_CATEGORIES};

    fn named(code: &str, name: &str) -> Named {
        Named {
            code: UnitCode::parse(code).unwrap(),
            name: name.into(),
        }
    }

    fn place() -> Place {
        Place {
            district: named("440303", "罗湖区"),
            street: Some(named("440303001", "桂园街道")),
            community: Some(named("440303001001", "大塘龙社区")),
            grid: Some(named("440303001001003", "大塘龙社区第3网格")),
        }
    }

    #[test]
    fn decisions_follow_the_responsibility_list_and_explain_themselves() {
        let tree = Categories::parse(DEFAULT_CATEGORIES).unwrap();
        let property = Entity {
            id: "wy".into(),
            name: "示范物业".into(),
            kind: EntityKind::PropertyManager,
            unit: UnitCode::parse("440303001001").unwrap(),
            service_area: vec![UnitCode::parse("440303001001").unwrap()],
            created_at: 0,
        };
        let cases: &[(&str, &[Entity], &str, &str)] = &[
            (
                "E0509",
                &[],
                "440303001000",
                "grid 440303001001003 → 桂园街道 because 占道经营 (E0509) is street-level / 街道处置",
            ),
            (
                "E0404",
                &[],
                "440303001001",
                "grid 440303001001003 → 大塘龙社区 because 下水道堵塞 (E0404) is community-level / 社区处置",
            ),
            (
                "L0102",
                &[],
                "440303D02",
                "grid 440303001001003 → department 440303D02 because 内涝积水 (L0102) is the duty of department 440303D02 / 部门职责",
            ),
            (
                "L0106",
                std::slice::from_ref(&property),
                "entity:wy",
                "grid 440303001001003 → 示范物业 because 楼道堆物 (L0106) is for a property_manager serving the place / 由服务该区域的社会主体处置",
            ),
        ];
        for &(code, entities, to, explanation) in cases {
            let d = decide(&place(), tree.get(code).unwrap(), entities);
            assert_eq!(
                (d.to.as_str(), d.explanation.as_str()),
                (to, explanation),
                "{code}"
            );
            assert_eq!(d.area.as_str(), "440303001001003");
        }
        // An entity serving another place is not chosen; the community falls back.
        let elsewhere = Entity {
            service_area: vec![UnitCode::parse("440303002").unwrap()],
            ..property
        };
        let d = decide(&place(), tree.get("L0106").unwrap(), &[elsewhere]);
        assert_eq!(d.to, "440303001001");
        assert!(
            d.explanation
                .contains("no property_manager serves this place"),
            "{}",
            d.explanation
        );
    }
}
