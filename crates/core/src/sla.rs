//! Time limits (处置时限): when a stage of a case falls due, for the four timer kinds of the
//! digital-urban-management standard, on China Standard Time, with a configurable holiday calendar.
//!
//! Working time is 08:00–12:00 and 14:00–18:00 on working days. A working day is Monday to Friday
//! unless it is a public holiday, plus the weekend days declared as make-up working days (调休).
//! China Standard Time has no daylight saving, so local time is UTC+8 all year.
//!
//! Times are Unix milliseconds; nothing here reads a clock.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};

/// UTC+8, in milliseconds.
const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;
/// The working windows of a working day, in hours: [start, end).
const WINDOWS: [(u32, u32); 2] = [(8, 12), (14, 18)];
/// Hours of working time in a working day.
pub const WORKING_HOURS_PER_DAY: i64 = 8;

/// How a time limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// 连续小时: hours around the clock.
    ContinuousHours,
    /// 工作时: hours of working time (08–12, 14–18 on working days).
    WorkingHours,
    /// 工作日: working days; due at 18:00 of the n-th working day after the start day.
    WorkingDays,
    /// 自然日: calendar days around the clock.
    CalendarDays,
}

impl TimerKind {
    /// Every kind.
    pub const ALL: [TimerKind; 4] = [
        TimerKind::ContinuousHours,
        TimerKind::WorkingHours,
        TimerKind::WorkingDays,
        TimerKind::CalendarDays,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::ContinuousHours => "continuous_hours",
            TimerKind::WorkingHours => "working_hours",
            TimerKind::WorkingDays => "working_days",
            TimerKind::CalendarDays => "calendar_days",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<TimerKind> {
        TimerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Public holidays and make-up working days, as the State Council publishes them each year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Days off that would otherwise be working days (and weekend days inside a holiday).
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休).
    pub workdays: BTreeSet<NaiveDate>,
}

/// Why a calendar text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("calendar line {line}: {message}")]
pub struct CalendarError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Calendar {
    /// Reads a calendar from lines `YYYY-MM-DD holiday|workday [note]`; `#` starts a comment.
    pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
        let mut cal = Calendar::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| CalendarError {
                line: i + 1,
                message,
            };
            let mut parts = line.split_whitespace();
            let date = parts.next().unwrap_or_default();
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|e| err(format!("{date:?}: {e}")))?;
            match parts.next() {
                Some("holiday") => cal.holidays.insert(date),
                Some("workday") => cal.workdays.insert(date),
                other => return Err(err(format!("expected holiday or workday, found {other:?}"))),
            };
        }
        if let Some(both) = cal.holidays.intersection(&cal.workdays).next() {
            return Err(CalendarError {
                line: 0,
                message: format!("{both} is both a holiday and a workday"),
            });
        }
        Ok(cal)
    }

    /// Whether a local date is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        !self.holidays.contains(&d) && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }
}

fn local(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms + CST_OFFSET_MS)
        .expect("time in range")
        .naive_utc()
}

fn utc_ms(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_millis() - CST_OFFSET_MS
}

fn at(d: NaiveDate, hour: u32) -> NaiveDateTime {
    d.and_time(NaiveTime::from_hms_opt(hour, 0, 0).expect("valid hour"))
}

/// When a limit of `amount` units of `kind`, started at `start`, falls due.
pub fn due_at(start: i64, amount: u32, kind: TimerKind, cal: &Calendar) -> i64 {
    let amount = i64::from(amount);
    match kind {
        TimerKind::ContinuousHours => start + amount * 3_600_000,
        TimerKind::CalendarDays => start + amount * 86_400_000,
        TimerKind::WorkingDays => {
            let mut day = local(start).date();
            let mut left = amount;
            while left > 0 {
                day = day.succ_opt().expect("date in range");
                if cal.is_working_day(day) {
                    left -= 1;
                }
            }
            utc_ms(at(day, 18))
        }
        TimerKind::WorkingHours => add_working_ms(start, amount * 3_600_000, cal),
    }
}

/// The instant after `ms` of working time has elapsed from `start`.
pub fn add_working_ms(start: i64, ms: i64, cal: &Calendar) -> i64 {
    let mut t = local(start);
    let mut left = Duration::milliseconds(ms);
    // A limit of zero falls due at once, even outside working time.
    if left <= Duration::zero() {
        return start;
    }
    loop {
        let day = t.date();
        if cal.is_working_day(day) {
            for (from, to) in WINDOWS {
                let (open, close) = (at(day, from), at(day, to));
                if t >= close {
                    continue;
                }
                let begin = t.max(open);
                let room = close - begin;
                if left <= room {
                    return utc_ms(begin + left);
                }
                left -= room;
                t = close;
            }
        }
        t = at(day.succ_opt().expect("date in range"), 0);
    }
}

/// Working time between two instants, in milliseconds (0 if `end` is not after `start`). Used to
/// pause a clock: the working time that passed while a case was suspended is given back.
pub fn working_ms_between(start: i64, end: i64, cal: &Calendar) -> i64 {
    if end <= start {
        return 0;
    }
    let (s, e) = (local(start), local(end));
    let mut total = Duration::zero();
    let mut day = s.date();
    while day <= e.date() {
        if cal.is_working_day(day) {
            for (from, to) in WINDOWS {
                let (open, close) = (at(day, from).max(s), at(day, to).min(e));
                if close > open {
                    total += close - open;
                }
            }
        }
        day = day.succ_opt().expect("date in range");
    }
    total.num_milliseconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An illustrative National Day week in the shape the State Council publishes (eight days off,
    /// two weekend days worked); not a claim about the official 2026 schedule.
    const NATIONAL_DAY_2026: &str = "
        2026-10-01 holiday  # 国庆节 (illustrative)
        2026-10-02 holiday
        2026-10-03 holiday
        2026-10-04 holiday
        2026-10-05 holiday
        2026-10-06 holiday
        2026-10-07 holiday
        2026-10-08 holiday
        2026-09-27 workday  # 调休
        2026-10-10 workday
    ";

    /// Local CST time as Unix ms.
    fn t(s: &str) -> i64 {
        utc_ms(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
    }

    fn show(ms: i64) -> String {
        local(ms).format("%Y-%m-%d %a %H:%M").to_string()
    }

    #[test]
    fn due_times_for_every_timer_kind() {
        let cal = Calendar::parse(NATIONAL_DAY_2026).unwrap();
        let cases: &[(&str, u32, TimerKind, &str)] = &[
            // Continuous hours and calendar days ignore working time.
            (
                "2026-11-27 17:00",
                2,
                TimerKind::ContinuousHours,
                "2026-11-27 Fri 19:00",
            ),
            (
                "2026-11-27 17:00",
                3,
                TimerKind::CalendarDays,
                "2026-11-30 Mon 17:00",
            ),
            // Working hours: one hour left on Friday, then Monday morning.
            (
                "2026-11-27 17:00",
                2,
                TimerKind::WorkingHours,
                "2026-11-30 Mon 09:00",
            ),
            // Lunch break is skipped.
            (
                "2026-11-25 11:30",
                1,
                TimerKind::WorkingHours,
                "2026-11-25 Wed 14:30",
            ),
            // Reported at night: the clock starts at 08:00.
            (
                "2026-11-25 22:00",
                8,
                TimerKind::WorkingHours,
                "2026-11-26 Thu 18:00",
            ),
            (
                "2026-11-25 22:00",
                9,
                TimerKind::WorkingHours,
                "2026-11-27 Fri 09:00",
            ),
            // Exactly at the end of a window.
            (
                "2026-11-25 08:00",
                4,
                TimerKind::WorkingHours,
                "2026-11-25 Wed 12:00",
            ),
            // Working days: due at 18:00 of the n-th working day after the start day.
            (
                "2026-11-27 10:00",
                1,
                TimerKind::WorkingDays,
                "2026-11-30 Mon 18:00",
            ),
            (
                "2026-11-25 10:00",
                3,
                TimerKind::WorkingDays,
                "2026-11-30 Mon 18:00",
            ),
            // Across National Day: 30 Sep (Wed) → the holiday → Fri 9 Oct, Sat 10 Oct (make-up day).
            (
                "2026-09-30 10:00",
                1,
                TimerKind::WorkingDays,
                "2026-10-09 Fri 18:00",
            ),
            (
                "2026-09-30 10:00",
                2,
                TimerKind::WorkingDays,
                "2026-10-10 Sat 18:00",
            ),
            (
                "2026-09-30 17:00",
                2,
                TimerKind::WorkingHours,
                "2026-10-09 Fri 09:00",
            ),
            // The make-up Sunday before the holiday is a working day.
            (
                "2026-09-26 12:00",
                1,
                TimerKind::WorkingHours,
                "2026-09-27 Sun 09:00",
            ),
            (
                "2026-11-27 17:00",
                0,
                TimerKind::WorkingHours,
                "2026-11-27 Fri 17:00",
            ),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|&(s, n, k, _)| show(due_at(t(s), n, k, &cal)))
            .collect();
        let want: Vec<&str> = cases.iter().map(|c| c.3).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn working_time_between_instants() {
        let cal = Calendar::parse(NATIONAL_DAY_2026).unwrap();
        let h = |s: &str, e: &str| working_ms_between(t(s), t(e), &cal) as f64 / 3_600_000.0;
        assert_eq!(h("2026-11-27 17:00", "2026-11-30 09:00"), 2.0);
        assert_eq!(h("2026-11-25 11:00", "2026-11-25 15:00"), 2.0);
        assert_eq!(
            h("2026-10-01 08:00", "2026-10-08 18:00"),
            0.0,
            "the holiday has no working time"
        );
        assert_eq!(h("2026-11-30 09:00", "2026-11-27 17:00"), 0.0);
        // Adding back what passed is consistent with due_at.
        let start = t("2026-11-27 16:30");
        let due = add_working_ms(start, 5 * 3_600_000, &cal);
        assert_eq!(working_ms_between(start, due, &cal), 5 * 3_600_000);
    }

    #[test]
    fn calendar_text_is_checked() {
        assert!(Calendar::parse("2026-10-01 holiday\n2026-10-01 workday").is_err());
        let err = Calendar::parse("# header\n2026-13-01 holiday").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(Calendar::parse("2026-10-01 vacation").is_err());
        let cal = Calendar::parse("").unwrap();
        assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()));
        assert!(!cal.is_working_day(NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()));
    }
}
