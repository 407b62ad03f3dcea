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

/// Parses payload bytes; malformed JSON is one `malformed` count.
pub fn parse(
    bytes: &[u8],
    ty: &DeviceType,
    now: i64,
    window: Window,
    stamp: &mut dyn FnMut() -> i64,
) -> Outcome {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => parse_value(&v, ty, now, window, stamp),
        Err(_) => {
            let mut out = Outcome::default();
            out.count("malformed");
            out
        }
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
        }
    }
}
