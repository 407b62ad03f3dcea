//! Importing real boundaries from a GeoJSON FeatureCollection, with every problem reported against
//! the feature that has it.
//!
//! Validation is all-or-nothing by design: [`parse_units`] returns either the complete list of
//! units to write or every error it found, so that the store writes nothing from a bad file.

use std::collections::HashMap;

use geo::{Area, Validation};
use geojson::{Feature, GeoJson, JsonValue};
use wanxiang_core::{Level, Unit, UnitCode};

use crate::demo::area_outside;
use crate::geojson_io;

/// Share of a feature's area that may lie outside its parent before the feature is refused.
/// Boundaries from different surveys rarely line up to the metre; slivers along a shared edge are
/// normal, a feature half outside is a mistake.
pub const OUTSIDE_TOLERANCE: f64 = 0.01;

/// How to read the features.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The level every feature is imported at.
    pub level: Level,
    /// The property holding the unit code.
    pub code_property: String,
    /// The property holding the unit name.
    pub name_property: String,
    /// The property holding the parent's code; without it the parent is read from the code.
    pub parent_property: Option<String>,
}

impl ImportOptions {
    /// Options with the default property names `code`, `name` and no parent property.
    pub fn new(level: Level) -> ImportOptions {
        ImportOptions {
            level,
            code_property: "code".into(),
            name_property: "name".into(),
            parent_property: None,
        }
    }
}

/// One problem with one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureError {
    /// The feature's 0-based position in the collection; `None` for a problem with the file.
    pub index: Option<usize>,
    /// The feature's code, when it could be read.
    pub code: Option<String>,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

impl std::fmt::Display for FeatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.index, &self.code) {
            (Some(i), Some(c)) => write!(f, "feature #{i} ({c}): {}", self.message),
            (Some(i), None) => write!(f, "feature #{i}: {}", self.message),
            (None, _) => write!(f, "file: {}", self.message),
        }
    }
}

/// Reads and validates the features of `text` against the units already stored.
pub fn parse_units(
    text: &str,
    options: &ImportOptions,
    existing: &[Unit],
) -> Result<Vec<Unit>, Vec<FeatureError>> {
    let file_error = |message: String| {
        vec![FeatureError {
            index: None,
            code: None,
            message,
        }]
    };
    if options.level == Level::District {
        return Err(file_error(
            "only street, community and grid boundaries can be imported".into(),
        ));
    }
    let geojson: GeoJson = text
        .parse()
        .map_err(|e| file_error(format!("not GeoJSON: {e}")))?;
    let GeoJson::FeatureCollection(collection) = geojson else {
        return Err(file_error(
            "the file must be a GeoJSON FeatureCollection".into(),
        ));
    };
    if collection.features.is_empty() {
        return Err(file_error("the FeatureCollection has no features".into()));
    }
    let stored: HashMap<&UnitCode, &Unit> = existing.iter().map(|u| (&u.code, u)).collect();
    let mut seen: HashMap<UnitCode, usize> = HashMap::new();
    let mut units = Vec::with_capacity(collection.features.len());
    let mut errors = Vec::new();
    for (index, feature) in collection.features.iter().enumerate() {
        let mut problems = Vec::new();
        let unit = read_feature(feature, options, &stored, &mut problems);
        let code = unit
            .as_ref()
            .map(|u| u.code.to_string())
            .or_else(|| raw_code(feature, options));
        if let Some(unit) = &unit
            && let Some(first) = seen.insert(unit.code.clone(), index)
        {
            problems.push(format!(
                "duplicate code {} (first used by feature #{first})",
                unit.code
            ));
        }
        if problems.is_empty() {
            units.extend(unit);
        }
        errors.extend(problems.into_iter().map(|message| FeatureError {
            index: Some(index),
            code: code.clone(),
            message,
        }));
    }
    if errors.is_empty() {
        Ok(units)
    } else {
        Err(errors)
    }
}

fn raw_code(feature: &Feature, options: &ImportOptions) -> Option<String> {
    feature.property(&options.code_property).map(property_text)
}

/// A property as text; codes are often numbers in GeoJSON exported from spreadsheets.
fn property_text(v: &JsonValue) -> String {
    match v {
        JsonValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads one feature, pushing every problem found; returns the unit only when there is none.
fn read_feature(
    feature: &Feature,
    options: &ImportOptions,
    stored: &HashMap<&UnitCode, &Unit>,
    problems: &mut Vec<String>,
) -> Option<Unit> {
    let code = match feature.property(&options.code_property).map(property_text) {
        None => {
            problems.push(format!(
                "missing property {:?} (the unit code)",
                options.code_property
            ));
            None
        }
        Some(text) => match UnitCode::parse(&text) {
            Ok(code) if code.level() == options.level => Some(code),
            Ok(code) => {
                problems.push(format!(
                    "code {code} is a {} code, not a {} code",
                    code.level(),
                    options.level
                ));
                None
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
    };
    let name = match feature.property(&options.name_property).map(property_text) {
        Some(name) if !name.trim().is_empty() => Some(name.trim().to_owned()),
        _ => {
            problems.push(format!(
                "missing or empty property {:?} (the unit name)",
                options.name_property
            ));
            None
        }
    };
    let boundary = match &feature.geometry {
        None => {
            problems.push("the feature has no geometry".into());
            None
        }
        Some(g) => match geojson_io::to_multipolygon(&g.value) {
            Err(e) => {
                problems.push(e);
                None
            }
            Ok(shape) => check_shape(shape, problems),
        },
    };
    let parent = code.as_ref().and_then(|code| {
        let from_code = code.parent().expect("imported levels have parents");
        if let Some(p) = &options.parent_property {
            match feature
                .property(p)
                .map(property_text)
                .map(|t| UnitCode::parse(&t))
            {
                None => problems.push(format!("missing property {p:?} (the parent code)")),
                Some(Err(e)) => problems.push(format!("parent: {e}")),
                Some(Ok(given)) if given != from_code => problems.push(format!(
                    "parent {given} does not match code {code}, whose parent is {from_code}"
                )),
                Some(Ok(_)) => {}
            }
        }
        match stored.get(&from_code) {
            None => {
                problems.push(format!(
                    "unknown parent {from_code}: import the {} first",
                    options.level.parent().expect("has parent")
                ));
                None
            }
            Some(parent) => Some(*parent),
        }
    });
    if let (Some(parent), Some(shape)) = (parent, &boundary)
        && let Some(parent_shape) = &parent.boundary
    {
        let area = shape.unsigned_area();
        let outside = area_outside(shape, parent_shape);
        if area > 0.0 && outside / area > OUTSIDE_TOLERANCE {
            problems.push(format!(
                "{:.1}% of the feature lies outside its parent {} {}",
                100.0 * outside / area,
                parent.code,
                parent.name
            ));
        }
    }
    if !problems.is_empty() {
        return None;
    }
    Some(Unit {
        code: code?,
        name: name?,
        level: options.level,
        parent: parent.map(|p| p.code.clone()),
        boundary,
        synthetic: false,
    })
}

/// Checks coordinates and ring validity; returns the shape when it is usable.
fn check_shape(
    shape: geo_types::MultiPolygon<f64>,
    problems: &mut Vec<String>,
) -> Option<geo_types::MultiPolygon<f64>> {
    use geo::CoordsIter;
    if shape.0.is_empty() {
        problems.push("the geometry is empty".into());
        return None;
    }
    if let Some(c) = shape
        .coords_iter()
        .find(|c| !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y))
    {
        problems.push(format!(
            "coordinate ({}, {}) is not WGS-84 longitude/latitude; reproject the file to EPSG:4326",
            c.x, c.y
        ));
        return None;
    }
    let invalid = shape.validation_errors();
    if !invalid.is_empty() {
        problems.extend(
            invalid
                .into_iter()
                .map(|e| format!("invalid geometry: {e}")),
        );
        return None;
    }
    if shape.unsigned_area() <= 0.0 {
        problems.push("the geometry has no area".into());
        return None;
    }
    Some(shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    fn street() -> Vec<Unit> {
        crate::demo::luohu()
            .unwrap()
            .into_iter()
            .filter(|u| u.level <= Level::Street)
            .collect()
    }

    fn check(level: Level, features: &str, expect: Expect) {
        let text = format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#);
        let got = match parse_units(&text, &ImportOptions::new(level), &street()) {
            Ok(units) => units
                .iter()
                .map(|u| {
                    format!(
                        "ok {} {} {:?}\n",
                        u.code,
                        u.name,
                        u.parent.as_ref().map(|p| p.to_string())
                    )
                })
                .collect::<String>(),
            Err(errors) => errors.iter().map(|e| format!("{e}\n")).collect(),
        };
        expect.assert_eq(&got);
    }

    const SQUARE_IN_GUIYUAN: &str = r#"{"type":"Polygon","coordinates":[[[114.105,22.545],[114.107,22.545],[114.107,22.547],[114.105,22.547],[114.105,22.545]]]}"#;
    const BOWTIE: &str = r#"{"type":"Polygon","coordinates":[[[114.105,22.545],[114.107,22.547],[114.107,22.545],[114.105,22.547],[114.105,22.545]]]}"#;
    const FAR_AWAY: &str = r#"{"type":"Polygon","coordinates":[[[116.0,39.0],[116.1,39.0],[116.1,39.1],[116.0,39.0]]]}"#;

    fn feature(props: &str, geometry: &str) -> String {
        format!(r#"{{"type":"Feature","properties":{{{props}}},"geometry":{geometry}}}"#)
    }

    #[test]
    fn accepts_a_good_community() {
        check(
            Level::Community,
            &feature(
                r#""code":"440303001001","name":"大塘龙社区""#,
                SQUARE_IN_GUIYUAN,
            ),
            expect![[r#"
                ok 440303001001 大塘龙社区 Some("440303001000")
            "#]],
        );
    }

    #[test]
    fn reports_every_bad_feature_with_its_index() {
        let features = [
            feature(r#""code":"440303001001","name":"好""#, SQUARE_IN_GUIYUAN),
            feature(r#""code":"440303001002","name":"自交""#, BOWTIE),
            feature(r#""code":"440303001004","name":"远""#, FAR_AWAY),
            feature(r#""code":"440303001001","name":"重复""#, SQUARE_IN_GUIYUAN),
            feature(r#""code":"440303099001","name":"无父""#, SQUARE_IN_GUIYUAN),
            feature(r#""code":"440303001","name":"街道""#, SQUARE_IN_GUIYUAN),
            feature(r#""name":"无码""#, r#"{"type":"Point","coordinates":[114.1,22.5]}"#),
            feature(r#""code":440303001005"#, r#"{"type":"Polygon","coordinates":[[[1140000,225000],[1140001,225000],[1140001,225001],[1140000,225000]]]}"#),
        ]
        .join(",");
        check(
            Level::Community,
            &features,
            expect![[r#"
                feature #1 (440303001002): invalid geometry: polygon at index 0 is invalid: exterior ring has a self-intersection
                feature #2 (440303001004): 100.0% of the feature lies outside its parent 440303001000 桂园街道
                feature #3 (440303001001): duplicate code 440303001001 (first used by feature #0)
                feature #4 (440303099001): unknown parent 440303099000: import the street first
                feature #5 (440303001): code 440303001000 is a street code, not a community code
                feature #6: missing property "code" (the unit code)
                feature #6: a boundary must be a Polygon or MultiPolygon, not a Point
                feature #7 (440303001005): missing or empty property "name" (the unit name)
                feature #7 (440303001005): coordinate (1140000, 225000) is not WGS-84 longitude/latitude; reproject the file to EPSG:4326
            "#]],
        );
    }

    #[test]
    fn refuses_files_that_are_not_feature_collections() {
        let opts = ImportOptions::new(Level::Street);
        let err = parse_units("{nope", &opts, &[]).unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].message.starts_with("not GeoJSON"), "{}", err[0]);
        let err = parse_units(r#"{"type":"Point","coordinates":[0,0]}"#, &opts, &[]).unwrap_err();
        assert_eq!(
            err[0].message,
            "the file must be a GeoJSON FeatureCollection"
        );
    }
}
