//! Telemetry payloads in ThingsBoard's device convention, checked against the device type: the
//! good values are kept, the bad ones counted by reason, and nothing in a payload can fail the
//! others.
//!
//! Accepted shapes: `{"key": value, …}` (stamped on arrival), `{"ts": ms, "values": {…}}`, or an
//! array of those. The gateway topic carries `{"device name": [readings…], …}`.

use serde_json::Value;
use wanxiang_core::alarm::DeviceType;

/// One reading that passed: its time and its good values.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// Measurement time (Unix ms).
    pub ts: i64,
    /// Good values.
    pub values: Vec<(String, f64)>,
}

/// What came out of one payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Readings with at least one good value.
    pub readings: Vec<Parsed>,
    /// Refused values (or readings, for times and shapes) by reason.
    pub bad: Vec<(&'static str, i64)>,
}

impl Outcome {
    fn count(&mut self, reason: &'static str) {
        match self.bad.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.bad.push((reason, 1)),
        }
    }

    /// How many values or readings were refused.
    pub fn bad_total(&self) -> i64 {
        self.bad.iter().map(|(_, n)| n).sum()
    }
}

/// How far from the server's clock a reading's time may lie.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Readings more than this far in the future are refused (`bad_time`).
    pub max_future_ms: i64,
    /// Readings older than this are refused.
    pub max_past_ms: i64,
}

/// Parses a payload's JSON value. `stamp` gives the arrival time for readings without `ts`.
pub fn parse_value(
    value: &Value,
    ty: &DeviceType,
    now: i64,
    window: Window,
    stamp: &mut dyn FnMut() -> i64,
) -> Outcome {
    let mut out = Outcome::default();
    match value {
        Value::Array(items) => {
            for item in items {
                one(item, ty, now, window, stamp, &mut out);
            }
        }
        other => one(other, ty, now, window, stamp, &mut out),
    }
    out
}

/// Parses payload bytes; malformed JSON is one `malformed` count. Reads the JSON straight into
/// a small tree of its own ([`Field`]) rather than a `serde_json::Value`, whose ordered maps cost
/// more than the rest of the path on the hot MQTT route; the outcome is the same as
/// [`parse_value`]'s.
pub fn parse(
    bytes: &[u8],
    ty: &DeviceType,
    now: i64,
    window: Window,
    stamp: &mut dyn FnMut() -> i64,
) -> Outcome {
    let mut out = Outcome::default();
    match serde_json::from_slice::<Field>(bytes) {
        Ok(Field::Map(entries)) => one_fields(entries, ty, now, window, stamp, &mut out),
        Ok(Field::List(items)) => {
            for item in items {
                match item {
                    Field::Map(entries) => one_fields(entries, ty, now, window, stamp, &mut out),
                    _ => out.count("malformed"),
                }
            }
        }
        Ok(_) | Err(_) => out.count("malformed"),
    }
    out
}

/// A JSON value as telemetry needs it.
enum Field {
    /// A number (or a boolean as 1 or 0), with its integer form when it has one (for `ts`).
    Number(f64, Option<i64>),
    /// An object, keys in order.
    Map(Vec<(String, Field)>),
    /// An array.
    List(Vec<Field>),
    /// Anything else (strings, null).
    Other,
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Field, E> {
                Ok(Field::Number(if b { 1.0 } else { 0.0 }, None))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Field, E> {
                Ok(Field::Number(i as f64, Some(i)))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Field, E> {
                Ok(Field::Number(u as f64, i64::try_from(u).ok()))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Field, E> {
                Ok(Field::Number(f, None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E>(self) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Field, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Field>()? {
                    items.push(item);
                }
                Ok(Field::List(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Field, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Field>()? {
                    entries.push((k, v));
                }
                Ok(Field::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// One reading object, from the [`Field`] tree; the same rules as [`one`].
fn one_fields(
    entries: Vec<(String, Field)>,
    ty: &DeviceType,
    now: i64,
    window: Window,
    stamp: &mut dyn FnMut() -> i64,
    out: &mut Outcome,
) {
    let has = |k: &str| entries.iter().any(|(key, _)| key == k);
    let nested = entries.len() == 2
        && has("ts")
        && entries
            .iter()
            .any(|(k, v)| k == "values" && matches!(v, Field::Map(_)));
    let (ts, values) = if nested {
        let mut ts = None;
        let mut values = Vec::new();
        for (k, v) in entries {
            match (k.as_str(), v) {
                ("ts", Field::Number(_, i)) => ts = i,
                ("values", Field::Map(m)) => values = m,
                _ => {}
            }
        }
        let Some(ts) = ts else {
            out.count("bad_time");
            return;
        };
        if ts > now + window.max_future_ms || ts < now - window.max_past_ms {
            out.count("bad_time");
            return;
        }
        (ts, values)
    } else if has("ts") && has("values") {
        out.count("malformed");
        return;
    } else {
        (stamp(), entries)
    };
    let mut good = Vec::with_capacity(values.len());
    for (key, v) in values {
        let checked = match v {
            Field::Number(x, _) => ty.check(&key, x).map_err(|e| e.as_str()),
            _ if ty.measure(&key).is_none() => Err("unknown_key"),
            _ => Err("wrong_type"),
        };
        match checked {
            Ok(x) => good.push((key, x)),
            Err(reason) => out.count(reason),
        }
    }
    if !good.is_empty() {
        out.readings.push(Parsed { ts, values: good });
    }
}

fn one(
    item: &Value,
    ty: &DeviceType,
    now: i64,
    window: Window,
    stamp: &mut dyn FnMut() -> i64,
    out: &mut Outcome,
) {
    let Value::Object(map) = item else {
        out.count("malformed");
        return;
    };
    let (ts, values) = match (map.get("ts"), map.get("values")) {
        (Some(ts), Some(Value::Object(values))) if map.len() == 2 => {
            let Some(ts) = ts.as_i64() else {
                out.count("bad_time");
                return;
            };
            if ts > now + window.max_future_ms || ts < now - window.max_past_ms {
                out.count("bad_time");
                return;
            }
            (ts, values)
        }
        (_, Some(_)) if map.contains_key("ts") => {
            out.count("malformed");
            return;
        }
        _ => (stamp(), map),
    };
    let mut good = Vec::with_capacity(values.len());
    for (key, v) in values {
        let number = match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        };
        let checked = match number {
            None if ty.measure(key).is_none() => Err("unknown_key"),
            None => Err("wrong_type"),
            Some(x) => ty.check(key, x).map_err(|e| e.as_str()),
        };
        match checked {
            Ok(x) => good.push((key.clone(), x)),
            Err(reason) => out.count(reason),
        }
    }
    if !good.is_empty() {
        out.readings.push(Parsed { ts, values: good });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensing::types::{DEFAULT_DEVICE_TYPES, parse_types};

    fn check(payload: &str) -> String {
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let ty = &types["water_level"];
        let now = 1_800_000_000_000;
        let mut next = now;
        let mut stamp = || {
            next += 1;
            next
        };
        let window = Window {
            max_future_ms: 60_000,
            max_past_ms: 86_400_000,
        };
        let out = parse(payload.as_bytes(), ty, now, window, &mut stamp);
        let readings: Vec<String> = out
            .readings
            .iter()
            .map(|r| {
                let values: Vec<String> =
                    r.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}:{}", r.ts - now, values.join(","))
            })
            .collect();
        let bad: Vec<String> = out.bad.iter().map(|(r, n)| format!("{r}×{n}")).collect();
        format!("[{}] bad[{}]", readings.join(" "), bad.join(" "))
    }

    #[test]
    fn thingsboard_shapes() {
        let cases = [
            (
                r#"{"level_cm": 12.5, "battery_pct": 90}"#,
                "[1:level_cm=12.5,battery_pct=90] bad[]",
            ),
            (
                r#"{"ts": 1800000000000, "values": {"level_cm": 3}}"#,
                "[0:level_cm=3] bad[]",
            ),
            (
                r#"[{"ts": 1799999999000, "values": {"level_cm": 3}}, {"level_cm": 4}]"#,
                "[-1000:level_cm=3 1:level_cm=4] bad[]",
            ),
            // Bad values are counted; the good ones in the same reading are kept.
            (
                r#"{"level_cm": 700, "battery_pct": "full", "colour": 1, "x": "y"}"#,
                "[] bad[out_of_range×1 wrong_type×1 unknown_key×2]",
            ),
            (
                r#"{"level_cm": 9, "battery_pct": null}"#,
                "[1:level_cm=9] bad[wrong_type×1]",
            ),
            (r#"{"level_cm": true}"#, "[1:level_cm=1] bad[]"),
            // Times far off are refused.
            (
                r#"[{"ts": 1900000000000, "values": {"level_cm": 1}}, {"ts": 1, "values": {"level_cm": 1}}, {"ts": "soon", "values": {"level_cm": 1}}]"#,
                "[] bad[bad_time×3]",
            ),
            ("{not json", "[] bad[malformed×1]"),
            ("[1, 2]", "[] bad[malformed×2]"),
            (
                r#"{"ts": 1800000000000, "values": {"level_cm": 1}, "extra": 1}"#,
                "[] bad[malformed×1]",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(check(payload), want, "{payload}");
            // The Value path (gateway and batch payloads) agrees.
            if let Ok(v) = serde_json::from_str::<Value>(payload) {
                let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
                let ty = &types["water_level"];
                let window = Window {
                    max_future_ms: 60_000,
                    max_past_ms: 86_400_000,
                };
                let (mut a, mut b) = (1_800_000_000_000, 1_800_000_000_000);
                let fast = parse(
                    payload.as_bytes(),
                    ty,
                    1_800_000_000_000,
                    window,
                    &mut || {
                        a += 1;
                        a
                    },
                );
                let slow = parse_value(&v, ty, 1_800_000_000_000, window, &mut || {
                    b += 1;
                    b
                });
                assert_eq!(fast, slow, "{payload}");
            }
        }
    }
}
