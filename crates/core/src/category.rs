//! Event categories and the responsibility list (权责清单): who handles each kind of problem, how
//! urgent it is, and how long each stage may take. The list is data, read from a tab-separated
//! text that a deployment can replace; [`DEFAULT_CATEGORIES`] is the one shipped with Wanxiang.

use std::collections::BTreeMap;

use crate::account::EntityKind;
use crate::jurisdiction::DeptCode;
use crate::sla::{Calendar, TimerKind, add_working_ms, due_at, working_ms_between};

/// The default category tree, compiled in (demo responsibilities and limits, labelled as such).
pub const DEFAULT_CATEGORIES: &str = include_str!("../data/categories.tsv");

/// Who is responsible for a category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responsible {
    /// The community workstation where it happens.
    Community,
    /// The street office where it happens.
    Street,
    /// The district centre.
    District,
    /// A district department.
    Department(DeptCode),
    /// A social entity of this kind serving the place; the community when none does.
    Entity(EntityKind),
}

impl Responsible {
    fn parse(s: &str) -> Option<Responsible> {
        Some(match s {
            "community" => Responsible::Community,
            "street" => Responsible::Street,
            "district" => Responsible::District,
            _ => match s.split_once(':')? {
                ("department", code) => Responsible::Department(DeptCode::parse(code)?),
                ("entity", kind) => Responsible::Entity(EntityKind::parse(kind)?),
                _ => return None,
            },
        })
    }

    /// The machine form, as the category file writes it: `community`, `street`, `district`,
    /// `department:<code>` or `entity:<kind>`.
    pub fn key(&self) -> String {
        match self {
            Responsible::Community => "community".into(),
            Responsible::Street => "street".into(),
            Responsible::District => "district".into(),
            Responsible::Department(d) => format!("department:{d}"),
            Responsible::Entity(k) => format!("entity:{}", k.as_str()),
        }
    }

    /// In words, for dispatch explanations.
    pub fn describe(&self) -> String {
        match self {
            Responsible::Community => "community-level / 社区处置".into(),
            Responsible::Street => "street-level / 街道处置".into(),
            Responsible::District => "district-level / 区级处置".into(),
            Responsible::Department(d) => format!("the duty of department {d} / 部门职责"),
            Responsible::Entity(k) => format!(
                "for a {} serving the place / 由服务该区域的社会主体处置",
                k.as_str()
            ),
        }
    }
}

/// How urgent a category is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// 特急.
    Urgent,
    /// 紧急.
    High,
    /// 一般.
    Normal,
    /// 缓办.
    Low,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [
        Priority::Urgent,
        Priority::High,
        Priority::Normal,
        Priority::Low,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            Priority::Urgent => "特急",
            Priority::High => "紧急",
            Priority::Normal => "一般",
            Priority::Low => "缓办",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// How it is counted; continuous limits in `Minutes` are continuous hours at minute grain.
    pub kind: LimitKind,
    /// How many units.
    pub amount: u32,
}

/// Units of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Continuous minutes.
    Minutes,
    /// A timer kind of the standard.
    Timer(TimerKind),
}

impl Limit {
    fn parse(s: &str) -> Option<Limit> {
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let amount: u32 = s[..split].parse().ok()?;
        let kind = match &s[split..] {
            "m" => LimitKind::Minutes,
            "h" => LimitKind::Timer(TimerKind::ContinuousHours),
            "wh" => LimitKind::Timer(TimerKind::WorkingHours),
            "wd" => LimitKind::Timer(TimerKind::WorkingDays),
            "d" => LimitKind::Timer(TimerKind::CalendarDays),
            _ => return None,
        };
        (amount > 0).then_some(Limit { kind, amount })
    }

    /// The limit for a priority: the file gives normal limits; urgent cases get a quarter, high a
    /// half (never below one unit), low ones double.
    pub fn for_priority(self, p: Priority) -> Limit {
        let amount = match p {
            Priority::Urgent => self.amount.div_ceil(4),
            Priority::High => self.amount.div_ceil(2),
            Priority::Normal => self.amount,
            Priority::Low => self.amount.saturating_mul(2),
        };
        Limit {
            amount: amount.max(1),
            ..self
        }
    }

    /// When a stage started at `start` under this limit falls due.
    pub fn due(self, start: i64, cal: &Calendar) -> i64 {
        match self.kind {
            LimitKind::Minutes => start + i64::from(self.amount) * 60_000,
            LimitKind::Timer(TimerKind::WorkingHours) => {
                add_working_ms(start, i64::from(self.amount) * 3_600_000, cal)
            }
            LimitKind::Timer(kind) => due_at(start, self.amount, kind, cal),
        }
    }

    /// The due time after a pause: a clock paused at `paused_at` with `due` ahead of it, resumed
    /// at `now`, keeps the time it had left. Around-the-clock limits move by the pause's length;
    /// working-time limits keep the working time that was left at the pause (the working hours
    /// that passed while suspended are given back).
    pub fn resume(self, due: i64, paused_at: i64, now: i64, cal: &Calendar) -> i64 {
        let paused = (now - paused_at).max(0);
        match self.kind {
            LimitKind::Minutes
            | LimitKind::Timer(TimerKind::ContinuousHours | TimerKind::CalendarDays) => {
                due + paused
            }
            LimitKind::Timer(TimerKind::WorkingHours | TimerKind::WorkingDays) => {
                add_working_ms(now, working_ms_between(paused_at, due, cal), cal).max(now)
            }
        }
    }
}

/// The time limits of a category's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From registration to dispatch (派遣).
    pub dispatch: Limit,
    /// From dispatch to acceptance (签收).
    pub accept: Limit,
    /// From acceptance to handled (处置).
    pub handle: Limit,
    /// From handled to verified (核查).
    pub verify: Limit,
}

/// A minor category (小类), the unit of responsibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Code such as `E0509`.
    pub code: String,
    /// The major class's code (`E05`).
    pub class: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Who handles it.
    pub responsible: Responsible,
    /// How urgent it is.
    pub priority: Priority,
    /// Its stages' limits at normal priority.
    pub limits: Limits,
}

/// A major class (大类).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Code such as `E05`.
    pub code: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// The whole tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Categories {
    /// Major classes by code.
    pub classes: BTreeMap<String, Class>,
    /// Minor categories by code.
    pub categories: BTreeMap<String, Category>,
}

/// Why a category file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("categories line {line}: {message}")]
pub struct CategoryError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Categories {
    /// Reads the tab-separated format of `data/categories.tsv`.
    pub fn parse(text: &str) -> Result<Categories, CategoryError> {
        let mut tree = Categories::default();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() || raw.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = raw.split('\t').map(str::trim).collect();
            let err = |message: String| CategoryError { line, message };
            if !header_seen {
                if f.first() != Some(&"code") {
                    return Err(err(
                        "the first line must be the header starting with `code`".into(),
                    ));
                }
                header_seen = true;
                continue;
            }
            let [
                code,
                parent,
                name_zh,
                name_en,
                responsible,
                priority,
                dispatch,
                accept,
                handle,
                verify,
            ] = f[..]
            else {
                return Err(err(format!(
                    "expected 10 tab-separated fields, found {}",
                    f.len()
                )));
            };
            if code.is_empty() || name_zh.is_empty() {
                return Err(err("code and name_zh are required".into()));
            }
            if tree.classes.contains_key(code) || tree.categories.contains_key(code) {
                return Err(err(format!("duplicate code {code}")));
            }
            if parent.is_empty() {
                tree.classes.insert(
                    code.into(),
                    Class {
                        code: code.into(),
                        name_zh: name_zh.into(),
                        name_en: name_en.into(),
                    },
                );
                continue;
            }
            if !tree.classes.contains_key(parent) {
                return Err(err(format!(
                    "unknown class {parent} (classes come before their categories)"
                )));
            }
            let limit = |s: &str, stage: &str| {
                Limit::parse(s).ok_or_else(|| {
                    err(format!(
                        "{stage} limit {s:?} is not like 30m, 4h, 8wh, 3wd or 2d"
                    ))
                })
            };
            tree.categories.insert(
                code.into(),
                Category {
                    code: code.into(),
                    class: parent.into(),
                    name_zh: name_zh.into(),
                    name_en: name_en.into(),
                    responsible: Responsible::parse(responsible)
                        .ok_or_else(|| err(format!("unknown responsibility {responsible:?}")))?,
                    priority: Priority::parse(priority)
                        .ok_or_else(|| err(format!("unknown priority {priority:?}")))?,
                    limits: Limits {
                        dispatch: limit(dispatch, "dispatch")?,
                        accept: limit(accept, "accept")?,
                        handle: limit(handle, "handle")?,
                        verify: limit(verify, "verify")?,
                    },
                },
            );
        }
        if tree.categories.is_empty() {
            return Err(CategoryError {
                line: 0,
                message: "no categories".into(),
            });
        }
        Ok(tree)
    }

    /// One category by code.
    pub fn get(&self, code: &str) -> Option<&Category> {
        self.categories.get(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responsibility_keys_read_back() {
        for key in [
            "community",
            "street",
            "district",
            "department:440303D01",
            "entity:property_manager",
        ] {
            assert_eq!(
                Responsible::parse(key).map(|r| r.key()).as_deref(),
                Some(key)
            );
        }
    }

    #[test]
    fn a_resumed_clock_keeps_the_time_it_had_left() {
        let cal = Calendar::default();
        // 2026-11-30 is a Monday; times in China Standard Time.
        let cst = |d: u32, h: u32, m: u32| {
            // Day 31 is the 1st of December.
            let (month, d) = if d > 30 { (12, d - 30) } else { (11, d) };
            chrono::NaiveDate::from_ymd_opt(2026, month, d)
                .unwrap()
                .and_hms_opt(h, m, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
                - 8 * 3_600_000
        };
        let hours = |kind, amount| Limit {
            kind: LimitKind::Timer(kind),
            amount,
        };
        // Continuous: a 2 h pause moves the due time by 2 h.
        let l = hours(TimerKind::ContinuousHours, 4);
        assert_eq!(
            l.resume(cst(30, 12, 0), cst(30, 9, 0), cst(30, 11, 0), &cal),
            cst(30, 14, 0)
        );
        // Working hours: due Monday 17:00, paused at 10:00 (5 working hours left), resumed
        // Tuesday 09:00 → those 5 working hours run from then: 09-12 and 14-16.
        let l = hours(TimerKind::WorkingHours, 8);
        assert_eq!(
            l.resume(cst(30, 17, 0), cst(30, 10, 0), cst(31, 9, 0), &cal),
            cst(31, 16, 0)
        );
        // A pause over lunch gives nothing back: no working time passed.
        assert_eq!(
            l.resume(cst(30, 17, 0), cst(30, 12, 10), cst(30, 13, 50), &cal),
            cst(30, 17, 0)
        );
        // Paused after the due time: due at once on resume, never in the past.
        assert_eq!(
            l.resume(cst(30, 9, 0), cst(30, 10, 0), cst(30, 15, 0), &cal),
            cst(30, 15, 0)
        );
    }

    #[test]
    fn the_default_tree_reads_and_has_the_luohu_additions() {
        let tree = Categories::parse(DEFAULT_CATEGORIES).unwrap();
        for class in [
            "E01", "E02", "E03", "E04", "E05", "E06", "C01", "C02", "C03", "C04", "L01",
        ] {
            assert!(tree.classes.contains_key(class), "{class}");
        }
        let names: Vec<&str> = tree
            .categories
            .values()
            .filter(|c| c.class == "L01")
            .map(|c| c.name_zh.as_str())
            .collect();
        for name in [
            "不文明养犬",
            "内涝积水",
            "边坡位移",
            "楼体倾斜",
            "垃圾分类投放不规范",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        let stall = tree.get("E0509").unwrap();
        assert_eq!(
            (stall.name_zh.as_str(), &stall.responsible, stall.priority),
            ("占道经营", &Responsible::Street, Priority::Normal)
        );
        assert!(tree.categories.len() >= 40);
    }

    #[test]
    fn bad_files_name_their_line() {
        let header = "code\tparent\tname_zh\tname_en\tresponsible\tpriority\tdispatch\taccept\thandle\tverify\n";
        let cases = [
            (
                "E01\t\t市容\tCity\t\t\t\t\t\t\nE0101\tE01\t乱\tX\tstreet\tnormal\t1wh\t1wh\t2x\t1wh\n",
                3,
                "handle limit",
            ),
            (
                "E0101\tE09\t乱\tX\tstreet\tnormal\t1wh\t1wh\t1wh\t1wh\n",
                2,
                "unknown class",
            ),
            (
                "E01\t\t市容\tCity\t\t\t\t\t\t\nE0101\tE01\t乱\tX\tmayor\tnormal\t1wh\t1wh\t1wh\t1wh\n",
                3,
                "unknown responsibility",
            ),
            (
                "E01\t\t市容\tCity\t\t\t\t\t\t\nE01\t\t市容\tCity\t\t\t\t\t\t\n",
                3,
                "duplicate",
            ),
        ];
        for (body, line, needle) in cases {
            let err = Categories::parse(&format!("{header}{body}")).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.message.contains(needle), "{err}");
        }
        assert!(Categories::parse("E01\tx").is_err(), "no header");
    }

    #[test]
    fn limits_scale_with_priority_and_fall_due() {
        let l = Limit::parse("8wh").unwrap();
        let amounts: Vec<u32> = Priority::ALL
            .iter()
            .map(|&p| l.for_priority(p).amount)
            .collect();
        assert_eq!(amounts, [2, 4, 8, 16]);
        assert_eq!(
            Limit::parse("1wh")
                .unwrap()
                .for_priority(Priority::Urgent)
                .amount,
            1,
            "never below one unit"
        );
        assert_eq!(
            Limit::parse("15m").unwrap().due(0, &Calendar::default()),
            15 * 60_000
        );
        assert!(
            Limit::parse("0wh").is_none()
                && Limit::parse("wh").is_none()
                && Limit::parse("3y").is_none()
        );
    }
}
