//! Device types and alarm rules: what a sensor measures, when its readings mean trouble, and how an
//! alarm rises, escalates, falls back and clears. Pure functions over readings and time: the
//! sensing hub at the edge feeds readings and clock ticks in, and acts on the transitions that come
//! out.
//!
//! A rule judges one number — a key's value, its rate of change over a window, or how long the
//! device has been silent — against ordered steps, one per warning level. The highest level whose
//! condition is met is the rule's level. Three refinements keep alarms honest:
//! - **duration** (`for_secs`): a level is only entered once its condition has held that long;
//! - **repeat** (`count` in `window_secs`): a level is only entered once its condition held that
//!   many times within the window;
//! - **hysteresis**: a level already reached is kept until the value retreats past the threshold
//!   by the margin, so values hovering around a threshold do not flap.

use std::collections::VecDeque;

pub use crate::warning::Level;

/// One measured key of a device type, e.g. a water-level sensor's `level_cm`.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// The key in the device's payload.
    pub key: String,
    /// Chinese name, for screens.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Unit of the value (`mm`, `°`, `cm`, `µg/m³`; empty when dimensionless).
    pub unit: String,
    /// Lowest physically plausible value; below it a reading is bad data, not an alarm.
    pub min: f64,
    /// Highest physically plausible value.
    pub max: f64,
}

/// A kind of device and what it measures; deployments add their own in the types file.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceType {
    /// Stable code (`slope`, `water_level`, …).
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// The keys its readings carry.
    pub measures: Vec<Measure>,
    /// Seconds without data after which the device counts as inactive.
    pub timeout_secs: i64,
    /// The event-hub category of the cases its alarms open.
    pub category: String,
    /// Its default alarm rules; a device may override them.
    pub rules: Vec<Rule>,
}

/// Why one value of a reading was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValue {
    /// The type does not measure this key.
    UnknownKey,
    /// The value is not a number (or a boolean, taken as 1 or 0).
    WrongType,
    /// The number lies outside the key's plausible range.
    OutOfRange,
}

impl BadValue {
    /// The wire name, used in the per-device counts operators see.
    pub fn as_str(self) -> &'static str {
        match self {
            BadValue::UnknownKey => "unknown_key",
            BadValue::WrongType => "wrong_type",
            BadValue::OutOfRange => "out_of_range",
        }
    }
}

impl DeviceType {
    /// The measure of `key`, if this type has it.
    pub fn measure(&self, key: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.key == key)
    }

    /// Checks one numeric value of a reading against the type.
    pub fn check(&self, key: &str, value: f64) -> Result<f64, BadValue> {
        let m = self.measure(key).ok_or(BadValue::UnknownKey)?;
        if !value.is_finite() {
            return Err(BadValue::WrongType);
        }
        if value < m.min || value > m.max {
            return Err(BadValue::OutOfRange);
        }
        Ok(value)
    }

    /// The rule with `code`, if the type has it.
    pub fn rule(&self, code: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.code == code)
    }
}

/// What number a rule judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The value of a key.
    Value(String),
    /// A key's rate of change: (newest − oldest in the window) ÷ elapsed, scaled to `per_secs`
    /// (e.g. mm per day for a slope), judged once the window spans at least a quarter of itself.
    Rate {
        /// The key.
        key: String,
        /// How far back the window reaches, in seconds.
        window_secs: i64,
        /// The time unit of the rate, in seconds (86,400 for "per day").
        per_secs: i64,
    },
    /// Seconds since the device's last reading, judged on the clock (inactivity alarms).
    Silence,
}

impl Source {
    /// The key a reading must carry for this source to judge it (none for silence).
    pub fn key(&self) -> Option<&str> {
        match self {
            Source::Value(k) | Source::Rate { key: k, .. } => Some(k),
            Source::Silence => None,
        }
    }
}

/// How a judged number is compared with a step's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Alarm while the number is above the threshold.
    Above,
    /// Alarm while the number is below the threshold.
    Below,
    /// Alarm while the number lies between the threshold and the step's upper bound, inclusive.
    Between,
    /// Alarm while the number equals the threshold (switches such as a manhole cover's `open`).
    Equals,
}

impl Op {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            ">" | "above" => Op::Above,
            "<" | "below" => Op::Below,
            "between" => Op::Between,
            "=" | "==" | "equals" => Op::Equals,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Above => "above",
            Op::Below => "below",
            Op::Between => "between",
            Op::Equals => "equals",
        }
    }
}

/// One level of a rule: the threshold at which it is reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// The warning level this step raises.
    pub level: Level,
    /// The threshold (the lower bound for [`Op::Between`]).
    pub threshold: f64,
    /// The upper bound for [`Op::Between`]; ignored otherwise.
    pub upper: f64,
}

/// "`count` times within `window_secs`": a level is entered only after that many hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// Hits needed.
    pub count: u32,
    /// The window they must fall in, in seconds.
    pub window_secs: i64,
}

/// An alarm rule: one alarm type of a device (one active alarm per device and rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The alarm type's code, unique within a device type (`level_high`, `offline`).
    pub code: String,
    /// Chinese name of the alarm.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// What is judged.
    pub source: Source,
    /// How it is compared.
    pub op: Op,
    /// The levels, least serious first, each with a distinct level.
    pub steps: Vec<Step>,
    /// How far the number must retreat past a reached level's threshold before it is left.
    pub hysteresis: f64,
    /// How long a level's condition must hold before the level is entered, in seconds.
    pub for_secs: i64,
    /// Whether a level needs repeated hits before it is entered.
    pub repeat: Option<Repeat>,
}

/// Why a rule was refused when loaded or overridden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// A rule needs at least one step.
    #[error("rule {0} has no steps")]
    NoSteps(String),
    /// Steps must rise in level, and in threshold in the direction of the comparison.
    #[error("rule {0}: steps must be ordered from blue to red, thresholds growing more severe")]
    Unordered(String),
    /// Windows, durations and repeat counts must be positive, thresholds finite.
    #[error("rule {0}: {1}")]
    Invalid(String, &'static str),
    /// The rule judges a key its device type does not measure.
    #[error("rule {0} judges key {1:?}, which the device type does not measure")]
    UnknownKey(String, String),
}

impl Rule {
    /// Checks that the rule is well formed for a type measuring `keys`.
    pub fn validate(&self, keys: &[&str]) -> Result<(), RuleError> {
        let code = || self.code.clone();
        if self.steps.is_empty() {
            return Err(RuleError::NoSteps(code()));
        }
        if let Some(key) = self.source.key()
            && !keys.contains(&key)
        {
            return Err(RuleError::UnknownKey(code(), key.to_owned()));
        }
        let finite = self
            .steps
            .iter()
            .all(|s| s.threshold.is_finite() && (self.op != Op::Between || s.upper.is_finite()));
        if !finite || !self.hysteresis.is_finite() || self.hysteresis < 0.0 {
            return Err(RuleError::Invalid(
                code(),
                "thresholds must be numbers, hysteresis ≥ 0",
            ));
        }
        if self.for_secs < 0 {
            return Err(RuleError::Invalid(code(), "for_secs must be ≥ 0"));
        }
        if let Source::Rate {
            window_secs,
            per_secs,
            ..
        } = self.source
            && (window_secs <= 0 || per_secs <= 0)
        {
            return Err(RuleError::Invalid(code(), "rate windows must be positive"));
        }
        if let Some(r) = self.repeat
            && (r.count == 0 || r.window_secs <= 0)
        {
            return Err(RuleError::Invalid(
                code(),
                "repeat needs a positive count and window",
            ));
        }
        for pair in self.steps.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let rising = match self.op {
                Op::Above => b.threshold >= a.threshold,
                Op::Below => b.threshold <= a.threshold,
                Op::Between | Op::Equals => true,
            };
            if a.level >= b.level || !rising {
                return Err(RuleError::Unordered(code()));
            }
        }
        Ok(())
    }

    /// Whether `x` meets a step's condition, with the hysteresis margin when the level is held.
    fn holds(&self, step: &Step, x: f64, held: bool) -> bool {
        let h = if held { self.hysteresis } else { 0.0 };
        match self.op {
            Op::Above => x > step.threshold - h,
            Op::Below => x < step.threshold + h,
            Op::Between => x >= step.threshold - h && x <= step.upper + h,
            Op::Equals => (x - step.threshold).abs() < 1e-9,
        }
    }

    /// The number this rule judges for `value` of its key at `ts` (ms): the value itself, or the
    /// rate once the window allows one. Updates the rate window.
    pub fn observe(&self, state: &mut RuleState, ts: i64, value: f64) -> Option<f64> {
        match &self.source {
            Source::Value(_) => Some(value),
            Source::Silence => None,
            Source::Rate {
                window_secs,
                per_secs,
                ..
            } => {
                let window = window_secs * 1000;
                // The window keeps one point per 1/64 of its length, so its memory (and the
                // state saved with every commit) stays bounded however often a device sends;
                // the oldest kept point is within 1/64 of the window's true start.
                if state
                    .window
                    .back()
                    .is_none_or(|&(t, _)| ts - t >= (window / WINDOW_POINTS).max(1))
                {
                    state.window.push_back((ts, value));
                }
                while state.window.front().is_some_and(|&(t, _)| t < ts - window) {
                    state.window.pop_front();
                }
                let &(t0, v0) = state.window.front()?;
                if ts - t0 < window / 4 || ts == t0 {
                    return None;
                }
                Some((value - v0) / (ts - t0) as f64 * (*per_secs as f64 * 1000.0))
            }
        }
    }

    /// Judges the number `x` at `ts` (ms) and moves the rule's state; returns the alarm's change,
    /// if any. Judgements older than the last one are ignored (late readings are stored, not
    /// judged, so a delayed message cannot reopen an alarm that newer data cleared).
    pub fn judge(&self, state: &mut RuleState, ts: i64, x: f64) -> Option<Transition> {
        if state.last_ts.is_some_and(|last| ts < last) {
            return None;
        }
        state.last_ts = Some(ts);
        let mut reached = None;
        for (i, step) in self.steps.iter().enumerate() {
            let held = state.active.is_some_and(|a| a >= step.level);
            let holds = self.holds(step, x, held);
            let since = &mut state.since[i];
            if holds {
                since.get_or_insert(ts);
            } else {
                *since = None;
            }
            let hits = &mut state.hits[i];
            let repeat_ok = match self.repeat {
                None => true,
                Some(r) => {
                    if holds {
                        hits.push_back(ts);
                    }
                    while hits
                        .front()
                        .is_some_and(|&t| t <= ts - r.window_secs * 1000)
                    {
                        hits.pop_front();
                    }
                    while hits.len() > r.count as usize {
                        hits.pop_front();
                    }
                    hits.len() >= r.count as usize
                }
            };
            let sustained = since.is_some_and(|s| ts - s >= self.for_secs * 1000);
            let rise = holds && sustained && repeat_ok;
            let keep = held && (holds || (self.repeat.is_some() && repeat_ok));
            if rise || keep {
                reached = Some(step.level);
            }
        }
        let before = state.active;
        state.active = reached;
        Transition::between(before, reached)
    }

    /// For a silence rule: when (ms) the next step above the current level falls due, given the
    /// last reading at `last_seen`. The sensing hub sleeps until then, so inactivity fires on time.
    pub fn next_silence_due(&self, state: &RuleState, last_seen: i64) -> Option<i64> {
        if self.source != Source::Silence {
            return None;
        }
        self.steps
            .iter()
            .find(|s| state.active.is_none_or(|a| s.level > a))
            .map(|s| last_seen + (s.threshold * 1000.0).ceil() as i64 + 1)
    }
}

/// Points a rate window keeps at most (about one per 1/64 of its length).
const WINDOW_POINTS: i64 = 64;

/// What a rule remembers between readings; saved by the sensing hub so it survives a restart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleState {
    /// The level the rule is at (its active alarm's level), if any.
    pub active: Option<Level>,
    /// The time (ms) of the newest judgement, so late readings are not judged.
    pub last_ts: Option<i64>,
    /// Since when (ms) each step's condition has held without a break, by step index.
    pub since: [Option<i64>; 4],
    /// When each step's condition held within the repeat window (ms), by step index.
    pub hits: [VecDeque<i64>; 4],
    /// The rate window: recent (ms, value) of the judged key.
    pub window: VecDeque<(i64, f64)>,
}

impl RuleState {
    /// Whether the state carries nothing worth saving.
    pub fn is_empty(&self) -> bool {
        *self == RuleState::default()
    }
}

/// A change of a rule's alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// No alarm was active; one is raised at this level.
    Raised(Level),
    /// A stronger condition holds.
    Escalated {
        /// The level before.
        from: Level,
        /// The level now.
        to: Level,
    },
    /// The condition weakened but has not cleared.
    Deescalated {
        /// The level before.
        from: Level,
        /// The level now.
        to: Level,
    },
    /// The condition cleared (past the hysteresis margin).
    Cleared {
        /// The level before.
        from: Level,
    },
}

impl Transition {
    /// The change from one level (or none) to another.
    pub fn between(before: Option<Level>, after: Option<Level>) -> Option<Transition> {
        match (before, after) {
            (None, None) => None,
            (None, Some(to)) => Some(Transition::Raised(to)),
            (Some(from), None) => Some(Transition::Cleared { from }),
            (Some(from), Some(to)) if to > from => Some(Transition::Escalated { from, to }),
            (Some(from), Some(to)) if to < from => Some(Transition::Deescalated { from, to }),
            _ => None,
        }
    }

    /// The level after the change (none when cleared).
    pub fn level(self) -> Option<Level> {
        match self {
            Transition::Raised(l) => Some(l),
            Transition::Escalated { to, .. } | Transition::Deescalated { to, .. } => Some(to),
            Transition::Cleared { .. } => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Raised(_) => "raised",
            Transition::Escalated { .. } => "escalated",
            Transition::Deescalated { .. } => "deescalated",
            Transition::Cleared { .. } => "cleared",
        }
    }
}

/// An alarm's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmStatus {
    /// Raised and not yet seen by an operator.
    Active,
    /// An operator has seen it; the condition may still hold.
    Acknowledged,
    /// The condition cleared or an operator cleared it; no longer active.
    Cleared,
}

impl AlarmStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmStatus::Active => "active",
            AlarmStatus::Acknowledged => "acknowledged",
            AlarmStatus::Cleared => "cleared",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<AlarmStatus> {
        [
            AlarmStatus::Active,
            AlarmStatus::Acknowledged,
            AlarmStatus::Cleared,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Escalation by time: an alarm left active — nobody acknowledged it — below red for `after_ms`
/// since its last change goes one level up, and again after as long, until red or until someone
/// acknowledges it. `None` when it cannot escalate (acknowledged, cleared, red, or `after_ms` 0).
pub fn unattended_due(
    status: AlarmStatus,
    level: Level,
    changed_at: i64,
    after_ms: i64,
) -> Option<i64> {
    (status == AlarmStatus::Active && level < Level::Red && after_ms > 0)
        .then(|| changed_at.saturating_add(after_ms))
}

/// The level an unattended alarm escalates to at `now`, if it is due (see [`unattended_due`]).
pub fn unattended_escalation(
    status: AlarmStatus,
    level: Level,
    changed_at: i64,
    after_ms: i64,
    now: i64,
) -> Option<Level> {
    unattended_due(status, level, changed_at, after_ms)
        .filter(|due| *due <= now)
        .map(|_| Level::ALL[Level::ALL.iter().position(|l| *l == level).unwrap_or(0) + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(op: Op, steps: &[(Level, f64)], hysteresis: f64) -> Rule {
        Rule {
            code: "r".into(),
            name_zh: "规则".into(),
            name_en: "rule".into(),
            source: Source::Value("x".into()),
            op,
            steps: steps
                .iter()
                .map(|&(level, threshold)| Step {
                    level,
                    threshold,
                    upper: 0.0,
                })
                .collect(),
            hysteresis,
            for_secs: 0,
            repeat: None,
        }
    }

    /// Feeds (seconds, value) pairs and renders each judgement as `t:value→change`.
    fn run(rule: &Rule, input: &[(i64, f64)]) -> String {
        let mut state = RuleState::default();
        let mut out = Vec::new();
        for &(t, v) in input {
            let ts = t * 1000;
            let Some(x) = rule.observe(&mut state, ts, v) else {
                out.push(format!("{t}:-"));
                continue;
            };
            let change = match rule.judge(&mut state, ts, x) {
                None => "·".to_owned(),
                Some(tr) => format!(
                    "{}({})",
                    tr.as_str(),
                    tr.level().map(|l| l.as_str()).unwrap_or("none")
                ),
            };
            out.push(format!("{t}:{change}"));
        }
        out.join(" ")
    }

    use Level::*;

    #[test]
    fn thresholds_escalate_deescalate_and_clear() {
        let r = rule(Op::Above, &[(Blue, 20.0), (Yellow, 30.0), (Red, 50.0)], 0.0);
        assert_eq!(
            run(
                &r,
                &[
                    (0, 10.0),
                    (1, 25.0),
                    (2, 35.0),
                    (3, 60.0),
                    (4, 31.0),
                    (5, 5.0)
                ]
            ),
            "0:· 1:raised(blue) 2:escalated(yellow) 3:escalated(red) 4:deescalated(yellow) 5:cleared(none)"
        );
        // Jumping straight to a high level raises it at once.
        assert_eq!(run(&r, &[(0, 99.0)]), "0:raised(red)");
    }

    #[test]
    fn hysteresis_stops_flapping_around_a_threshold() {
        let without = rule(Op::Above, &[(Yellow, 30.0)], 0.0);
        let with = rule(Op::Above, &[(Yellow, 30.0)], 2.0);
        let hover = [(0, 30.5), (1, 29.8), (2, 30.2), (3, 29.5), (4, 27.9)];
        assert_eq!(
            run(&without, &hover),
            "0:raised(yellow) 1:cleared(none) 2:raised(yellow) 3:cleared(none) 4:·"
        );
        assert_eq!(
            run(&with, &hover),
            "0:raised(yellow) 1:· 2:· 3:· 4:cleared(none)"
        );
    }

    #[test]
    fn below_between_and_equals() {
        let low = rule(Op::Below, &[(Blue, 6.5), (Orange, 5.0)], 0.2);
        assert_eq!(
            run(
                &low,
                &[(0, 7.0), (1, 6.4), (2, 4.0), (3, 5.1), (4, 6.6), (5, 6.8)]
            ),
            // 6.6 is still within blue's hysteresis margin (6.5 + 0.2).
            "0:· 1:raised(blue) 2:escalated(orange) 3:· 4:deescalated(blue) 5:cleared(none)"
        );
        let mut band = rule(Op::Between, &[(Blue, 10.0)], 0.0);
        band.steps[0].upper = 20.0;
        assert_eq!(
            run(&band, &[(0, 5.0), (1, 10.0), (2, 20.0), (3, 20.5)]),
            "0:· 1:raised(blue) 2:· 3:cleared(none)"
        );
        let open = rule(Op::Equals, &[(Orange, 1.0)], 0.0);
        assert_eq!(
            run(&open, &[(0, 0.0), (1, 1.0), (2, 1.0), (3, 0.0)]),
            "0:· 1:raised(orange) 2:· 3:cleared(none)"
        );
    }

    #[test]
    fn duration_needs_the_condition_to_hold_long_enough() {
        let mut r = rule(Op::Above, &[(Yellow, 30.0), (Red, 50.0)], 0.0);
        r.for_secs = 60;
        assert_eq!(
            run(
                &r,
                &[
                    (0, 40.0),
                    (30, 40.0),
                    (45, 10.0),
                    (50, 40.0),
                    (100, 40.0),
                    (110, 60.0),
                    (170, 60.0)
                ]
            ),
            // The break at 45 s restarts the clock; red needs its own 60 s.
            "0:· 30:· 45:· 50:· 100:· 110:raised(yellow) 170:escalated(red)"
        );
    }

    #[test]
    fn repeat_needs_hits_within_the_window() {
        let mut r = rule(Op::Equals, &[(Yellow, 1.0)], 0.0);
        r.repeat = Some(Repeat {
            count: 3,
            window_secs: 60,
        });
        assert_eq!(
            run(
                &r,
                &[
                    (0, 1.0),
                    (10, 1.0),
                    (100, 1.0),
                    (110, 0.0),
                    (120, 1.0),
                    (130, 1.0)
                ]
            ),
            "0:· 10:· 100:· 110:· 120:· 130:raised(yellow)"
        );
    }

    #[test]
    fn rate_of_change_over_a_window() {
        // Slope displacement: mm per day over a 6-hour window; yellow at 5 mm/day, red at 20.
        let mut r = rule(Op::Above, &[(Yellow, 5.0), (Red, 20.0)], 1.0);
        r.source = Source::Rate {
            key: "x".into(),
            window_secs: 6 * 3600,
            per_secs: 86_400,
        };
        let hour = 3600;
        // Creeping at 2 mm/day, then 8 mm/day, then 48 mm/day during rain.
        let mut input = Vec::new();
        let mut v = 100.0;
        for h in 0..24 {
            let per_hour = if h < 8 {
                2.0 / 24.0
            } else if h < 16 {
                8.0 / 24.0
            } else {
                2.0
            };
            v += per_hour;
            input.push((h * hour, v));
        }
        let out = run(&r, &input);
        assert!(out.starts_with("0:- 3600:- 7200:·"), "{out}");
        assert!(out.contains("raised(yellow)"), "{out}");
        assert!(out.contains("escalated(red)"), "{out}");
        let raised = out.find("raised(yellow)").unwrap();
        let red = out.find("escalated(red)").unwrap();
        assert!(raised < red);
    }

    #[test]
    fn a_rate_window_stays_small_however_often_a_device_sends() {
        let mut r = rule(Op::Above, &[(Yellow, 5.0)], 0.0);
        r.source = Source::Rate {
            key: "x".into(),
            window_secs: 3600,
            per_secs: 86_400,
        };
        let mut state = RuleState::default();
        // One reading a second for two hours, rising 1 mm an hour (24 mm/day).
        let mut last = None;
        for s in 0..7200i64 {
            last = r.observe(&mut state, s * 1000, s as f64 / 3600.0);
        }
        assert!(state.window.len() <= 66, "{} points", state.window.len());
        let rate = last.unwrap();
        assert!((rate - 24.0).abs() < 0.5, "{rate}");
    }

    #[test]
    fn late_readings_are_not_judged() {
        let r = rule(Op::Above, &[(Yellow, 30.0)], 0.0);
        assert_eq!(run(&r, &[(10, 5.0), (5, 90.0), (11, 5.0)]), "10:· 5:· 11:·");
    }

    #[test]
    fn silence_fires_on_time_and_clears_on_data() {
        let mut r = rule(Op::Above, &[(Blue, 600.0), (Yellow, 3600.0)], 0.0);
        r.source = Source::Silence;
        let mut state = RuleState::default();
        let last = 1_000_000;
        let due = r.next_silence_due(&state, last).unwrap();
        assert_eq!(due, last + 600_001);
        let x = |now: i64| (now - last) as f64 / 1000.0;
        assert_eq!(r.judge(&mut state, due - 2, x(due - 2)), None);
        assert_eq!(
            r.judge(&mut state, due, x(due)),
            Some(Transition::Raised(Blue))
        );
        let next = r.next_silence_due(&state, last).unwrap();
        assert_eq!(next, last + 3_600_001);
        assert_eq!(
            r.judge(&mut state, next, x(next)),
            Some(Transition::Escalated {
                from: Blue,
                to: Yellow
            })
        );
        assert_eq!(r.next_silence_due(&state, last), None);
        // A reading arrives: silence is zero.
        assert_eq!(
            r.judge(&mut state, next + 5, 0.0),
            Some(Transition::Cleared { from: Yellow })
        );
    }

    #[test]
    fn validation() {
        let keys = ["x"];
        assert!(
            rule(Op::Above, &[(Blue, 1.0), (Red, 2.0)], 0.0)
                .validate(&keys)
                .is_ok()
        );
        assert_eq!(
            rule(Op::Above, &[(Red, 1.0), (Blue, 2.0)], 0.0).validate(&keys),
            Err(RuleError::Unordered("r".into()))
        );
        assert_eq!(
            rule(Op::Above, &[(Blue, 2.0), (Red, 1.0)], 0.0).validate(&keys),
            Err(RuleError::Unordered("r".into()))
        );
        assert!(
            rule(Op::Below, &[(Blue, 2.0), (Red, 1.0)], 0.0)
                .validate(&keys)
                .is_ok()
        );
        assert_eq!(
            rule(Op::Above, &[], 0.0).validate(&keys),
            Err(RuleError::NoSteps("r".into()))
        );
        assert_eq!(
            rule(Op::Above, &[(Blue, 1.0)], 0.0).validate(&["y"]),
            Err(RuleError::UnknownKey("r".into(), "x".into()))
        );
        assert!(matches!(
            rule(Op::Above, &[(Blue, 1.0)], -1.0).validate(&keys),
            Err(RuleError::Invalid(..))
        ));
    }

    #[test]
    fn unattended_alarms_escalate_one_level_per_period_until_red_or_acknowledged() {
        let h = 3_600_000;
        assert_eq!(
            unattended_due(AlarmStatus::Active, Level::Yellow, 1_000, h),
            Some(1_000 + h)
        );
        assert_eq!(
            unattended_escalation(AlarmStatus::Active, Level::Yellow, 1_000, h, h),
            None
        );
        assert_eq!(
            unattended_escalation(AlarmStatus::Active, Level::Yellow, 1_000, h, 1_000 + h),
            Some(Level::Orange)
        );
        assert_eq!(
            unattended_escalation(AlarmStatus::Active, Level::Blue, 0, h, 5 * h),
            Some(Level::Yellow),
            "one level per pass, however late"
        );
        assert_eq!(
            unattended_escalation(AlarmStatus::Active, Level::Orange, 0, h, h),
            Some(Level::Red)
        );
        assert_eq!(unattended_due(AlarmStatus::Active, Level::Red, 0, h), None);
        assert_eq!(
            unattended_due(AlarmStatus::Acknowledged, Level::Yellow, 0, h),
            None
        );
        assert_eq!(
            unattended_due(AlarmStatus::Cleared, Level::Yellow, 0, h),
            None
        );
        assert_eq!(
            unattended_due(AlarmStatus::Active, Level::Yellow, 0, 0),
            None,
            "off"
        );
    }
}
