//! What the early-warning detector keeps in memory when it is alone on its store: the cases it
//! saw come in over the repeat and cross-source window, and, per street and category, those of
//! the surge detector's span (today and the baseline days). On a store no other node writes to,
//! every new case passes through the detector, so once the cases before its start are loaded it
//! never has to ask the store again: a pass costs no reads at all (issue 4: the surge's per-pass
//! counts were a fifth of the server's CPU under intake load). Pure bookkeeping, no I/O: the
//! detector task loads and feeds it.

use std::collections::{HashMap, VecDeque};

use wanxiang_core::UnitCode;
use wanxiang_core::warning::{Signal, SignalWindow};

/// A day in Unix ms.
pub(crate) const DAY: i64 = 86_400_000;

/// The street a unit code lies in (its first nine digits), or the unit itself above streets.
pub(crate) fn street_of(area: &str) -> Option<UnitCode> {
    UnitCode::parse(area.get(..9).unwrap_or(area)).ok()
}

/// The cases of the detectors' windows that this node saw come in (and, when `complete`, those
/// from before its start too).
#[derive(Debug)]
pub(crate) struct Seen {
    /// When the detector started (node clock, Unix ms): the store holds what came before.
    pub started: i64,
    /// The cases of the repeat and cross-source window, oldest first, with the cells they lie
    /// in (kept as cases come and go, so a pass asks it for those near each new case without
    /// indexing a day of cases again).
    pub signals: SignalWindow,
    /// Whether the window's cases from before the start were loaded (else each pass searches the
    /// store for them).
    pub complete: bool,
    /// How far back `signals` reach (ms).
    window_ms: i64,
    /// The surge span's cases per street and category, when all of them from before the start
    /// were loaded too; `None`: the surge detector counts in the store.
    tally: Option<Tally>,
}

impl Seen {
    /// A window that starts at `started` with the cases `before` it (oldest first): those within
    /// `window_ms` are the window's (in cells at least `cell_m` metres wide); `complete` says
    /// whether that is all of them, and a `tally` of the surge span (`span_days`) is kept when
    /// `before` holds the whole span.
    pub fn new(
        started: i64,
        window_ms: i64,
        cell_m: f64,
        span_days: u32,
        before: Vec<Signal>,
        complete: bool,
        whole_span: bool,
    ) -> Seen {
        let tally = whole_span.then(|| {
            let mut t = Tally::new(span_days);
            for s in &before {
                t.add(s);
            }
            t
        });
        let cutoff = started.saturating_sub(window_ms);
        let mut signals = SignalWindow::new(cell_m);
        signals.extend(before.into_iter().filter(|s| s.created_at >= cutoff));
        Seen {
            started,
            signals,
            complete,
            window_ms,
            tally,
        }
    }

    /// How many cases it holds.
    pub fn len(&self) -> usize {
        self.signals.len() + self.tally.as_ref().map_or(0, |t| t.len)
    }

    /// Adds a pass's new cases, and forgets those that left the windows before the oldest of them.
    pub fn add(&mut self, cases: &[Signal]) {
        self.signals.extend(cases.iter().cloned());
        if let Some(t) = self.tally.as_mut() {
            for c in cases {
                t.add(c);
            }
        }
        if let Some(oldest) = cases.iter().map(|c| c.created_at).min() {
            let cutoff = oldest.saturating_sub(self.window_ms);
            while self.signals.front().is_some_and(|s| s.created_at < cutoff) {
                self.signals.pop_front();
            }
            if let Some(t) = self.tally.as_mut() {
                t.forget_before(oldest.saturating_sub(i64::from(t.span_days) * DAY));
            }
        }
    }

    /// A case given a category after it came in (`case` as it is now, `before` its category
    /// before).
    pub fn recategorise(&mut self, case: &Signal, before: Option<&str>) {
        if let Some(s) = self.signals.iter_mut().rev().find(|s| s.id == case.id) {
            s.category.clone_from(&case.category);
        }
        if let Some(t) = self.tally.as_mut() {
            if let Some(before) = before {
                t.remove(&case.area, before, &case.id);
            }
            t.add(case);
        }
    }

    /// What the surge detector needs for a street and category at `now`, when the tally is
    /// kept: see [`Tally::surge_inputs`].
    pub fn surge_inputs(
        &self,
        street: &UnitCode,
        category: &str,
        now: i64,
        today_limit: usize,
    ) -> Option<(Vec<u64>, Vec<&Signal>)> {
        self.tally
            .as_ref()
            .map(|t| t.surge_inputs(street, category, now, today_limit))
    }
}

/// Per street and category, the cases of the last `span_days` days, oldest first (by time, then
/// id): the store's `daily_counts` and today's cases, at hand.
#[derive(Debug)]
struct Tally {
    span_days: u32,
    groups: HashMap<(UnitCode, String), VecDeque<Signal>>,
    /// Cases held, over all groups.
    len: usize,
}

impl Tally {
    fn new(span_days: u32) -> Tally {
        Tally {
            span_days,
            groups: HashMap::new(),
            len: 0,
        }
    }

    /// Counts a case in its street and category (one without either is not counted).
    fn add(&mut self, s: &Signal) {
        let (Some(category), Some(street)) = (&s.category, street_of(&s.area)) else {
            return;
        };
        let q = self.groups.entry((street, category.clone())).or_default();
        let key = (s.created_at, s.id.as_str());
        // In order of arrival as a rule; a case that arrives late goes to its place.
        if q.back()
            .is_none_or(|b| (b.created_at, b.id.as_str()) <= key)
        {
            q.push_back(s.clone());
        } else {
            let at = q.partition_point(|e| (e.created_at, e.id.as_str()) < key);
            q.insert(at, s.clone());
        }
        self.len += 1;
    }

    /// Uncounts a case from a street and category.
    fn remove(&mut self, area: &str, category: &str, id: &str) {
        let Some(street) = street_of(area) else {
            return;
        };
        let key = (street, category.to_owned());
        if let Some(q) = self.groups.get_mut(&key)
            && let Some(at) = q.iter().rposition(|e| e.id == id)
        {
            q.remove(at);
            self.len -= 1;
            if q.is_empty() {
                self.groups.remove(&key);
            }
        }
    }

    /// Forgets the cases created before `cutoff`.
    fn forget_before(&mut self, cutoff: i64) {
        let mut forgotten = 0;
        self.groups.retain(|_, q| {
            while q.front().is_some_and(|e| e.created_at < cutoff) {
                q.pop_front();
                forgotten += 1;
            }
            !q.is_empty()
        });
        self.len -= forgotten;
    }

    /// For a street and category at `now`: the daily counts over the span (index 0 the 24 hours
    /// up to `now`, 1 the 24 hours before …), and today's cases (created at or after 24 hours
    /// before `now`, the newest `today_limit`, oldest first), as the store's `daily_counts` and
    /// case listing give them.
    fn surge_inputs(
        &self,
        street: &UnitCode,
        category: &str,
        now: i64,
        today_limit: usize,
    ) -> (Vec<u64>, Vec<&Signal>) {
        let mut counts = vec![0u64; self.span_days as usize];
        let Some(q) = self.groups.get(&(street.clone(), category.to_owned())) else {
            return (counts, Vec::new());
        };
        let end = now + 1;
        let from = q.partition_point(|e| e.created_at < end - i64::from(self.span_days) * DAY);
        for e in q.range(from..).take_while(|e| e.created_at < end) {
            if let Some(slot) = usize::try_from((end - 1 - e.created_at) / DAY)
                .ok()
                .and_then(|k| counts.get_mut(k))
            {
                *slot += 1;
            }
        }
        let today_from = q.partition_point(|e| e.created_at < end - DAY);
        let today_from = today_from.max(q.len().saturating_sub(today_limit));
        let today = q.range(today_from..).collect();
        (counts, today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREET: &str = "440303001";

    fn case(id: &str, area: &str, category: Option<&str>, at: i64) -> Signal {
        Signal {
            id: id.into(),
            category: category.map(str::to_owned),
            sensor: false,
            lon: 114.1,
            lat: 22.55,
            area: area.into(),
            created_at: at,
        }
    }

    /// The counts and today's cases as the store computes them, by brute force.
    fn by_hand(
        all: &[Signal],
        street: &str,
        category: &str,
        now: i64,
        days: u32,
        limit: usize,
    ) -> (Vec<u64>, Vec<String>) {
        let end = now + 1;
        let mine: Vec<&Signal> = all
            .iter()
            .filter(|s| s.area.starts_with(street) && s.category.as_deref() == Some(category))
            .collect();
        let mut counts = vec![0u64; days as usize];
        for s in &mine {
            if s.created_at >= end - i64::from(days) * DAY && s.created_at < end {
                counts[((end - 1 - s.created_at) / DAY) as usize] += 1;
            }
        }
        let mut today: Vec<&Signal> = mine
            .into_iter()
            .filter(|s| s.created_at >= end - DAY)
            .collect();
        today.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        today.truncate(limit);
        today.reverse();
        (counts, today.into_iter().map(|s| s.id.clone()).collect())
    }

    #[test]
    fn the_tally_counts_as_the_store_does() {
        // Cases over 40 days in two streets and three categories, some arriving out of order,
        // some unclassified, a few in the future of `now`.
        let mut all = Vec::new();
        let mut x: u64 = 7;
        for i in 0..3_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let at = 100 * DAY - (x >> 20) as i64 % (40 * DAY);
            let area = if i % 3 == 0 {
                "440303002003001"
            } else {
                "440303001005002"
            };
            let category = ["E0101", "E0404", "L0101"][(x >> 7) as usize % 3];
            let category = (i % 17 != 0).then_some(category);
            all.push(case(&format!("c{i:04}"), area, category, at));
        }
        let mut seen = Seen::new(0, 7 * DAY, 50.0, 29, Vec::new(), true, true);
        for chunk in all.chunks(97) {
            seen.add(chunk);
        }
        let street = UnitCode::parse(STREET).unwrap();
        for now in [100 * DAY - 1, 99 * DAY + 12_345, 97 * DAY] {
            for limit in [1000, 5] {
                let (counts, today) = seen.surge_inputs(&street, "E0404", now, limit).unwrap();
                let today: Vec<String> = today.into_iter().map(|s| s.id.clone()).collect();
                // What the tally forgot (older than 29 days before the oldest of the last pass)
                // is older than what `now` asks for.
                assert_eq!(
                    (counts, today),
                    by_hand(&all, STREET, "E0404", now, 29, limit),
                    "now {now}, limit {limit}"
                );
            }
        }
        // A category set later moves the case between tallies.
        let late = all
            .iter()
            .find(|s| s.category.is_none() && s.created_at > 99 * DAY);
        let late = late.expect("an unclassified case of the last day").clone();
        let now = 100 * DAY;
        let street = street_of(&late.area).unwrap();
        // The inputs as of now (they borrow the window, which changes next).
        let owned = |(counts, today): (Vec<u64>, Vec<&Signal>)| -> (Vec<u64>, Vec<Signal>) {
            (counts, today.into_iter().cloned().collect())
        };
        let before = owned(seen.surge_inputs(&street, "E0101", now, 1000).unwrap());
        let classified = Signal {
            category: Some("E0101".into()),
            ..late.clone()
        };
        seen.recategorise(&classified, None);
        let after = owned(seen.surge_inputs(&street, "E0101", now, 1000).unwrap());
        assert_eq!(after.0[0], before.0[0] + 1);
        assert!(after.1.iter().any(|s| s.id == late.id));
        let moved = Signal {
            category: Some("L0101".into()),
            ..late.clone()
        };
        seen.recategorise(&moved, Some("E0101"));
        assert_eq!(
            owned(seen.surge_inputs(&street, "E0101", now, 1000).unwrap()),
            before
        );
        assert_eq!(
            seen.signals
                .iter()
                .find(|s| s.id == late.id)
                .and_then(|s| s.category.clone()),
            Some("L0101".into())
        );
    }

    #[test]
    fn the_seen_window_keeps_what_the_detectors_can_still_count() {
        let at = |id: &str, t: i64| case(id, "440303001001", None, t);
        let mut seen = Seen::new(0, 5_000, 50.0, 29, Vec::new(), true, true);
        seen.add(&[at("a", 1_000), at("b", 2_000)]);
        seen.add(&[at("c", 6_500)]);
        // A pass at 6,500 still counts what came after 1,500.
        let ids: Vec<&str> = seen.signals.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        let b = case("b", "440303001001", Some("E0404"), 2_000);
        seen.recategorise(&b, None);
        assert_eq!(seen.signals[0].category.as_deref(), Some("E0404"));
        seen.recategorise(&case("gone", "440303001001", Some("E0101"), 0), None);
        assert_eq!(seen.signals[1].category, None);
    }

    #[test]
    fn the_windows_forget_what_left_them() {
        let mut seen = Seen::new(
            10 * DAY,
            DAY,
            50.0,
            2,
            vec![case("old", "440303001001", Some("E0101"), 8 * DAY)],
            true,
            true,
        );
        assert_eq!(
            (seen.signals.len(), seen.len()),
            (0, 1),
            "out of the window, in the span"
        );
        seen.add(&[case("new", "440303001001", Some("E0101"), 10 * DAY + 1)]);
        assert_eq!((seen.signals.len(), seen.len()), (1, 2));
        seen.add(&[case("later", "440303001001", Some("E0101"), 11 * DAY)]);
        assert_eq!(
            seen.len(),
            2 + 2,
            "the span keeps two days: old left, new and later stay"
        );
        let s = UnitCode::parse(STREET).unwrap();
        assert_eq!(
            seen.surge_inputs(&s, "E0101", 11 * DAY, 10).unwrap().0,
            [2, 0]
        );
        // Without the whole span the surge counts in the store.
        let partial = Seen::new(10 * DAY, DAY, 50.0, 2, Vec::new(), true, false);
        assert!(partial.surge_inputs(&s, "E0101", 11 * DAY, 10).is_none());
    }
}
