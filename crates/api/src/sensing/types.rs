//! The device-types file and rule overrides: their file and wire shapes, parsed into the core's
//! [`DeviceType`] and [`Rule`] with every rule validated, so a bad file stops the start and a bad
//! override gets a 400 naming the rule.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wanxiang_core::alarm::{DeviceType, Level, Measure, Op, Repeat, Rule, Source, Step};

/// The device types shipped with Wanxiang (demo thresholds; see the file's header).
pub const DEFAULT_DEVICE_TYPES: &str = include_str!("../../../core/data/device_types.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypesFile {
    types: Vec<TypeSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeSpec {
    code: String,
    name_zh: String,
    name_en: String,
    timeout_secs: i64,
    category: String,
    measures: Vec<MeasureSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeasureSpec {
    key: String,
    name_zh: String,
    name_en: String,
    #[serde(default)]
    unit: String,
    min: f64,
    max: f64,
}

/// An alarm rule as written in the types file and in a device's override (`PUT
/// /api/v1/devices/{id}/rules`).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The alarm type's code, unique within the device (`level_high`).
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// `value`, `rate` (change per `per_secs` over `window_secs`) or `silence` (seconds
    /// without data).
    pub source: String,
    /// The judged key (value and rate rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Rate window, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<i64>,
    /// Rate unit, in seconds (86400: per day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_secs: Option<i64>,
    /// `above`, `below`, `between` or `equals`.
    pub op: String,
    /// `[level, threshold]` (or `[level, low, high]` for between), blue first.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub steps: Vec<StepSpec>,
    /// Retreat needed past a reached level's threshold before it is left.
    #[serde(default)]
    pub hysteresis: f64,
    /// Seconds a condition must hold before its level is entered.
    #[serde(default)]
    pub for_secs: i64,
    /// Hits needed within a window before a level is entered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<RepeatSpec>,
}

/// `[level, threshold]` or `[level, low, high]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum StepSpec {
    /// Above, below, equals.
    One(String, f64),
    /// Between.
    Two(String, f64, f64),
}

/// "count times within window_secs".
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatSpec {
    /// Hits needed.
    pub count: u32,
    /// The window, in seconds.
    pub window_secs: i64,
}

impl RuleSpec {
    /// Parses and validates the rule for a type measuring `keys`.
    pub fn to_rule(&self, keys: &[&str]) -> Result<Rule, String> {
        let code = &self.code;
        let valid_code = !code.is_empty()
            && code.len() <= 64
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_code {
            return Err(format!("rule code {code:?} must be 1–64 of a-z, 0-9 and _"));
        }
        let key = || {
            self.key
                .clone()
                .ok_or_else(|| format!("rule {code}: source {} needs a key", self.source))
        };
        let source = match self.source.as_str() {
            "value" => Source::Value(key()?),
            "rate" => Source::Rate {
                key: key()?,
                window_secs: self
                    .window_secs
                    .ok_or_else(|| format!("rule {code}: a rate needs window_secs"))?,
                per_secs: self.per_secs.unwrap_or(86_400),
            },
            "silence" => Source::Silence,
            other => {
                return Err(format!(
                    "rule {code}: unknown source {other:?} (value, rate or silence)"
                ));
            }
        };
        let op = Op::parse(&self.op).ok_or_else(|| {
            format!(
                "rule {code}: unknown op {:?} (above, below, between, equals)",
                self.op
            )
        })?;
        let steps = self
            .steps
            .iter()
            .map(|s| {
                let (level, threshold, upper) = match s {
                    StepSpec::One(l, t) if op != Op::Between => (l, *t, 0.0),
                    StepSpec::Two(l, lo, hi) if op == Op::Between => (l, *lo, *hi),
                    _ => {
                        return Err(format!(
                            "rule {code}: steps are [level, threshold], or [level, low, high] for between"
                        ));
                    }
                };
                let level = Level::parse(level).ok_or_else(|| {
                    format!("rule {code}: unknown level {level:?} (blue, yellow, orange, red)")
                })?;
                Ok(Step {
                    level,
                    threshold,
                    upper,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let rule = Rule {
            code: code.clone(),
            name_zh: self.name_zh.clone(),
            name_en: self.name_en.clone(),
            source,
            op,
            steps,
            hysteresis: self.hysteresis,
            for_secs: self.for_secs,
            repeat: self.repeat.map(|r| Repeat {
                count: r.count,
                window_secs: r.window_secs,
            }),
        };
        rule.validate(keys).map_err(|e| e.to_string())?;
        Ok(rule)
    }

    /// The wire form of a core rule.
    pub fn of(rule: &Rule) -> RuleSpec {
        let (source, key, window_secs, per_secs) = match &rule.source {
            Source::Value(k) => ("value", Some(k.clone()), None, None),
            Source::Rate {
                key,
                window_secs,
                per_secs,
            } => (
                "rate",
                Some(key.clone()),
                Some(*window_secs),
                Some(*per_secs),
            ),
            Source::Silence => ("silence", None, None, None),
        };
        RuleSpec {
            code: rule.code.clone(),
            name_zh: rule.name_zh.clone(),
            name_en: rule.name_en.clone(),
            source: source.into(),
            key,
            window_secs,
            per_secs,
            op: rule.op.as_str().into(),
            steps: rule
                .steps
                .iter()
                .map(|s| match rule.op {
                    Op::Between => StepSpec::Two(s.level.as_str().into(), s.threshold, s.upper),
                    _ => StepSpec::One(s.level.as_str().into(), s.threshold),
                })
                .collect(),
            hysteresis: rule.hysteresis,
            for_secs: rule.for_secs,
            repeat: rule.repeat.map(|r| RepeatSpec {
                count: r.count,
                window_secs: r.window_secs,
            }),
        }
    }
}

/// Parses a list of rules for a type, refusing duplicate codes.
pub fn parse_rules(specs: &[RuleSpec], ty: &DeviceType) -> Result<Vec<Rule>, String> {
    let keys: Vec<&str> = ty.measures.iter().map(|m| m.key.as_str()).collect();
    let mut rules: Vec<Rule> = Vec::with_capacity(specs.len());
    for spec in specs {
        let rule = spec.to_rule(&keys)?;
        if rules.iter().any(|r| r.code == rule.code) {
            return Err(format!("rule code {} appears twice", rule.code));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// Parses a device-types file (TOML), checking every type and rule.
pub fn parse_types(text: &str) -> Result<HashMap<String, Arc<DeviceType>>, String> {
    let file: TypesFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for t in file.types {
        if t.measures.is_empty() {
            return Err(format!("device type {} measures nothing", t.code));
        }
        let mut ty = DeviceType {
            code: t.code.clone(),
            name_zh: t.name_zh,
            name_en: t.name_en,
            measures: t
                .measures
                .into_iter()
                .map(|m| Measure {
                    key: m.key,
                    name_zh: m.name_zh,
                    name_en: m.name_en,
                    unit: m.unit,
                    min: m.min,
                    max: m.max,
                })
                .collect(),
            timeout_secs: t.timeout_secs,
            category: t.category,
            rules: Vec::new(),
        };
        for m in &ty.measures {
            let ok_key = !m.key.is_empty()
                && m.key.len() <= 64
                && m.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok_key || m.min.partial_cmp(&m.max) != Some(std::cmp::Ordering::Less) {
                return Err(format!(
                    "device type {}: measure {:?} needs a key of a-z, 0-9, _ and min < max",
                    ty.code, m.key
                ));
            }
        }
        ty.rules =
            parse_rules(&t.rules, &ty).map_err(|e| format!("device type {}: {e}", ty.code))?;
        if out.insert(ty.code.clone(), Arc::new(ty)).is_some() {
            return Err(format!("device type {} appears twice", t.code));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_types_parse() {
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let mut codes: Vec<&str> = types.keys().map(String::as_str).collect();
        codes.sort();
        assert_eq!(
            codes,
            [
                "air_quality",
                "building_tilt",
                "gateway",
                "generic",
                "manhole",
                "parking",
                "slope",
                "smoke",
                "water_level",
                "water_quality"
            ]
        );
        let slope = &types["slope"];
        assert!(matches!(
            slope.rule("displacement_rate").unwrap().source,
            Source::Rate {
                window_secs: 21600,
                per_secs: 86400,
                ..
            }
        ));
        // Every type can go silent.
        assert!(types.values().all(|t| t.rule("offline").is_some()));
    }

    #[test]
    fn rules_round_trip_and_bad_ones_are_named() {
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let ty = &types["water_quality"];
        let specs: Vec<RuleSpec> = ty.rules.iter().map(RuleSpec::of).collect();
        assert_eq!(parse_rules(&specs, ty).unwrap(), ty.rules);
        let bad = |json: &str| {
            let spec: RuleSpec = serde_json::from_str(json).unwrap();
            parse_rules(&[spec], ty).unwrap_err()
        };
        assert_eq!(
            bad(
                r#"{"code":"x","name_zh":"x","name_en":"x","source":"value","key":"nope","op":"above","steps":[["blue",1]]}"#
            ),
            "rule x judges key \"nope\", which the device type does not measure"
        );
        assert_eq!(
            bad(
                r#"{"code":"x","name_zh":"x","name_en":"x","source":"value","key":"ph","op":"above","steps":[["purple",1]]}"#
            ),
            "rule x: unknown level \"purple\" (blue, yellow, orange, red)"
        );
        assert_eq!(
            bad(
                r#"{"code":"x","name_zh":"x","name_en":"x","source":"value","key":"ph","op":"between","steps":[["blue",1]]}"#
            ),
            "rule x: steps are [level, threshold], or [level, low, high] for between"
        );
        assert!(
            parse_types("[[types]]\ncode = \"a\"\nname_zh = \"a\"\nname_en = \"a\"\ntimeout_secs = 1\ncategory = \"x\"\nmeasures = []\n")
                .unwrap_err()
                .contains("measures nothing")
        );
    }
}
