//! Early warnings (预警) of the city event hub: pure detectors over case data the caller has
//! already fetched, each returning at most one [`Warning`].
//!
//! Four detectors, one per [`Kind`]:
//!
//! - [`surge`] (突增): today's count of one category in one unit against its seasonal baseline,
//!   judged by the Poisson upper tail ([`poisson_upper_tail`]);
//! - [`repeat`] (重复): the same place reported again and again within a window;
//! - [`cross_source`] (多源印证): a sensor alarm and people's reports near the same point at about
//!   the same time, each confirming the other;
//! - [`backlog`] (积压): overdue cases piling up in one unit.
//!
//! The API layer stores warnings, de-duplicates them by [`Warning::key`], upgrades their levels and
//! pushes them on a stream; nothing here does I/O or reads a clock (times are Unix milliseconds).

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Mean Earth radius (IUGG), in metres, for [`distance_m`].
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// The lowest daily baseline [`surge`] assumes, so that a unit with little or no history does not
/// warn on its first few reports.
const BASELINE_FLOOR_PER_DAY: f64 = 0.5;
/// Days of history below which the baseline is floored at [`BASELINE_FLOOR_PER_DAY`].
const BASELINE_MIN_DAYS: usize = 7;
/// Terms smaller than this fraction of the running sum end a Poisson series.
const SERIES_EPSILON: f64 = 1e-17;

/// The most case ids a warning carries as evidence; [`Warning::observed`] still counts them all.
/// Keeps a warning about a flood of reports small enough to store and push.
pub const MAX_EVIDENCE: usize = 50;

/// How serious a warning is, in the four colours of Chinese emergency warnings. Ordered, so the API
/// layer can upgrade a stored warning when a detector reports a higher level under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// 蓝色预警: worth a look.
    Blue,
    /// 黄色预警: needs attention.
    Yellow,
    /// 橙色预警: serious.
    Orange,
    /// 红色预警: most serious.
    Red,
}

impl Level {
    /// Every level, least serious first (the order of the threshold arrays in [`Thresholds`]).
    pub const ALL: [Level; 4] = [Level::Blue, Level::Yellow, Level::Orange, Level::Red];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Blue => "blue",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Level::Blue => "蓝色预警",
            Level::Yellow => "黄色预警",
            Level::Orange => "橙色预警",
            Level::Red => "红色预警",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which detector raised a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 突增: more reports of a category in a unit today than its baseline explains.
    Surge,
    /// 重复: the same place reported several times within a window.
    Repeat,
    /// 多源印证: a sensor alarm corroborated by people's reports nearby.
    CrossSource,
    /// 积压: overdue cases piling up in a unit.
    Backlog,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Surge, Kind::Repeat, Kind::CrossSource, Kind::Backlog];

    /// The wire name (also the first part of [`Warning::key`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Surge => "surge",
            Kind::Repeat => "repeat",
            Kind::CrossSource => "cross_source",
            Kind::Backlog => "backlog",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Kind::Surge => "突增",
            Kind::Repeat => "重复",
            Kind::CrossSource => "多源印证",
            Kind::Backlog => "积压",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One case as the detectors see it: just what they need to compare cases in place, time, kind and
/// source.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The case id, carried into [`Warning::evidence`] and keys.
    pub id: String,
    /// The minor category code; `None` while the case is unclassified.
    pub category: Option<String>,
    /// True when the case came from a sensor or `video_ai` channel, false for people's reports;
    /// [`cross_source`] pairs one with the other.
    pub sensor: bool,
    /// Longitude, WGS-84 degrees.
    pub lon: f64,
    /// Latitude, WGS-84 degrees.
    pub lat: f64,
    /// The finest unit code holding the place (12 or 15 digits); the unit a warning is about.
    pub area: String,
    /// When the case was created, Unix milliseconds; windows and evidence order use it.
    pub created_at: i64,
}

/// What a detector found: the API layer stores it under [`Warning::key`] and pushes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Which detector raised it.
    pub kind: Kind,
    /// How serious it is.
    pub level: Level,
    /// Stable de-duplication key: the same situation seen again yields the same key, so the API
    /// layer updates (and perhaps upgrades) one warning instead of raising another. One of
    /// `surge:<unit>:<category>`, `repeat:<category or *>:<oldest evidence id>`,
    /// `cross_source:<sensor case id>`, `backlog:<unit>`.
    pub key: String,
    /// The unit code the warning is about, to route it to whoever watches that unit.
    pub area: String,
    /// The category concerned, if the detector looks at one.
    pub category: Option<String>,
    /// The case ids behind it, oldest first (for cross-source: the sensor case, then the reports
    /// oldest first), at most [`MAX_EVIDENCE`], so an operator can open them.
    pub evidence: Vec<String>,
    /// The figure that tripped it: today's count, reports at the place, corroborating reports,
    /// overdue cases.
    pub observed: f64,
    /// What `observed` was compared with: the daily baseline for a surge, otherwise the lowest
    /// count that warns at all.
    pub expected: f64,
    /// A bilingual one-liner, `中文 / English`, with the figures, for people reading the stream.
    pub message: String,
}

/// When the detectors warn, and at what level; configurable per deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Never warn of a surge with fewer reports than this in the day, however quiet the baseline.
    pub surge_min_count: u32,
    /// Poisson upper-tail p-values below which a surge is Blue, Yellow, Orange, Red.
    pub surge_alpha: [f64; 4],
    /// How close two reports must be, in metres, to count as the same place.
    pub repeat_radius_m: f64,
    /// How far back, in milliseconds, reports of the same place are counted.
    pub repeat_window_ms: i64,
    /// Reports at one place (including the new one) from which a repeat is Blue, Yellow, Orange,
    /// Red.
    pub repeat_counts: [u32; 4],
    /// How close a sensor alarm and a people's report must be, in metres, to corroborate.
    pub cross_radius_m: f64,
    /// How far apart in time, in milliseconds, a sensor alarm and a report may be to corroborate.
    pub cross_window_ms: i64,
    /// Overdue cases in one unit from which a backlog is Blue, Yellow, Orange, Red.
    pub backlog_counts: [u32; 4],
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            surge_min_count: 5,
            surge_alpha: [0.05, 0.01, 0.001, 0.0001],
            repeat_radius_m: 50.0,
            repeat_window_ms: 7 * 24 * 3_600_000,
            repeat_counts: [3, 5, 8, 12],
            cross_radius_m: 100.0,
            cross_window_ms: 2 * 3_600_000,
            backlog_counts: [5, 10, 20, 40],
        }
    }
}

/// Great-circle distance in metres between two `(lon, lat)` points in degrees (haversine, mean
/// Earth radius). Precise to well under a metre at the distances the detectors compare.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().clamp(0.0, 1.0).asin()
}

/// Recent signals on a grid of square cells, so that a batch of new signals each looks only at
/// the signals that can be within reach of it instead of at every recent one: a pass of the
/// detectors over `n` new cases among `m` recent ones costs `n × (those nearby)`, not `n × m`.
/// What [`repeat`] and [`cross_source`] decide from the signals within reach is exactly what they
/// decide from all of them.
#[derive(Debug)]
pub struct NearIndex<'a> {
    recent: Vec<&'a Signal>,
    /// Cell size in degrees of latitude and of longitude.
    cell: (f64, f64),
    cells: HashMap<(i64, i64), Vec<usize>>,
}

/// Metres in a degree of latitude, rounded down: cells measured with it are never smaller than
/// asked (the haversine's degree is 111,195 m on the mean Earth radius).
const METRES_PER_DEGREE_LOWER: f64 = 111_000.0;

impl<'a> NearIndex<'a> {
    /// Indexes `recent` in cells at least `cell_m` metres wide everywhere up to the latitude
    /// `max_abs_lat` (the farthest from the equator any point queried lies, plus the reach).
    pub fn new(
        recent: impl IntoIterator<Item = &'a Signal>,
        cell_m: f64,
        max_abs_lat: f64,
    ) -> NearIndex<'a> {
        let recent: Vec<&'a Signal> = recent.into_iter().collect();
        let cell = cell_degrees(cell_m, max_abs_lat);
        let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        for (i, s) in recent.iter().enumerate() {
            cells
                .entry(Self::key(cell, s.lon, s.lat))
                .or_default()
                .push(i);
        }
        NearIndex {
            recent,
            cell,
            cells,
        }
    }

    /// The cell a point lies in.
    fn key(cell: (f64, f64), lon: f64, lat: f64) -> (i64, i64) {
        ((lat / cell.0).floor() as i64, (lon / cell.1).floor() as i64)
    }
}

/// Cell sizes in degrees of latitude and of longitude for cells at least `cell_m` metres wide
/// everywhere up to the latitude `max_abs_lat`.
fn cell_degrees(cell_m: f64, max_abs_lat: f64) -> (f64, f64) {
    let cell_m = cell_m.max(1.0);
    // A degree of longitude is shortest at the highest latitude: cells sized there are wide
    // enough at every lower one.
    let cos = max_abs_lat.abs().min(89.0).to_radians().cos();
    (
        cell_m / METRES_PER_DEGREE_LOWER,
        cell_m / (METRES_PER_DEGREE_LOWER * cos),
    )
}

/// The cells within `reach_m` metres of a point, for cells of `cell` degrees.
fn cells_within(
    cell: (f64, f64),
    lon: f64,
    lat: f64,
    reach_m: f64,
) -> impl Iterator<Item = (i64, i64)> {
    let cell_m = cell.0 * METRES_PER_DEGREE_LOWER;
    let steps = (reach_m / cell_m).ceil().max(0.0) as i64;
    let (row, col) = NearIndex::key(cell, lon, lat);
    (row - steps..=row + steps).flat_map(move |r| (col - steps..=col + steps).map(move |c| (r, c)))
}

/// The positions held in the cells (of `cell` degrees) within `reach_m` metres of a point, in
/// order: oldest first.
fn gather<'c, T, L>(
    cells: &'c HashMap<(i64, i64), L>,
    cell: (f64, f64),
    lon: f64,
    lat: f64,
    reach_m: f64,
) -> Vec<T>
where
    T: Copy + Ord + 'c,
    &'c L: IntoIterator<Item = &'c T>,
{
    let mut found: Vec<T> = Vec::new();
    for key in cells_within(cell, lon, lat, reach_m) {
        if let Some(list) = cells.get(&key) {
            found.extend(list);
        }
    }
    found.sort_unstable();
    found
}

/// Recent signals that can be asked for those near a point: a [`NearIndex`] built for one pass,
/// or a [`SignalWindow`] kept up to date.
pub trait Nearby {
    /// The signals that may lie within `reach_m` metres of the point, oldest first (a superset:
    /// the detectors measure each one).
    fn refs_around(&self, lon: f64, lat: f64, reach_m: f64) -> Vec<&Signal>;
}

impl Nearby for NearIndex<'_> {
    fn refs_around(&self, lon: f64, lat: f64, reach_m: f64) -> Vec<&Signal> {
        gather(&self.cells, self.cell, lon, lat, reach_m)
            .into_iter()
            .map(|i| self.recent[i])
            .collect()
    }
}

/// The signals of a sliding window (they come in newest last and leave oldest first), with
/// their cells kept up to date as they come and go: a detector that holds its window in memory
/// asks it for the signals near each new one without indexing the whole window again on every
/// pass (which grew with the window: a day of intake). Finds what a [`NearIndex`] over the same
/// signals finds, in the same order.
#[derive(Debug, Clone)]
pub struct SignalWindow {
    signals: std::collections::VecDeque<Signal>,
    /// How many signals left the window since it began: the position of `signals[0]`.
    gone: u64,
    /// The cells' size asked for (metres).
    cell_m: f64,
    /// The latitude the cells are sized for (grown, and the cells redrawn, when a signal lies
    /// farther from the equator).
    max_abs_lat: f64,
    cell: (f64, f64),
    /// Each cell's signals by position, oldest first.
    cells: HashMap<(i64, i64), std::collections::VecDeque<u64>>,
}

impl SignalWindow {
    /// An empty window with cells at least `cell_m` metres wide (see [`detector_cell_m`]).
    pub fn new(cell_m: f64) -> SignalWindow {
        SignalWindow {
            signals: Default::default(),
            gone: 0,
            cell_m,
            max_abs_lat: 0.0,
            cell: cell_degrees(cell_m, 0.0),
            cells: HashMap::new(),
        }
    }

    /// How many signals it holds.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// The signals, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Signal> {
        self.signals.iter()
    }

    /// The signals, oldest first, to change in place (not where they lie).
    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Signal> {
        self.signals.iter_mut()
    }

    /// The oldest signal.
    pub fn front(&self) -> Option<&Signal> {
        self.signals.front()
    }

    /// Adds a signal as the newest. A point farther from the equator than any before (and a
    /// tenth of a degree of reach) redraws the cells for its latitude.
    pub fn push(&mut self, s: Signal) {
        let needs = s.lat.abs() + 0.1;
        if needs > self.max_abs_lat {
            self.max_abs_lat = needs;
            self.cell = cell_degrees(self.cell_m, needs);
            self.cells.clear();
            for (i, old) in self.signals.iter().enumerate() {
                self.cells
                    .entry(NearIndex::key(self.cell, old.lon, old.lat))
                    .or_default()
                    .push_back(self.gone + i as u64);
            }
        }
        let at = self.gone + self.signals.len() as u64;
        self.cells
            .entry(NearIndex::key(self.cell, s.lon, s.lat))
            .or_default()
            .push_back(at);
        self.signals.push_back(s);
    }

    /// Takes the oldest signal out.
    pub fn pop_front(&mut self) -> Option<Signal> {
        let s = self.signals.pop_front()?;
        let key = NearIndex::key(self.cell, s.lon, s.lat);
        if let Some(list) = self.cells.get_mut(&key) {
            // The oldest signal is the oldest of its cell.
            list.pop_front();
            if list.is_empty() {
                self.cells.remove(&key);
            }
        }
        self.gone += 1;
        Some(s)
    }
}

impl Extend<Signal> for SignalWindow {
    fn extend<I: IntoIterator<Item = Signal>>(&mut self, iter: I) {
        for s in iter {
            self.push(s);
        }
    }
}

impl std::ops::Index<usize> for SignalWindow {
    type Output = Signal;
    fn index(&self, i: usize) -> &Signal {
        &self.signals[i]
    }
}

impl Nearby for SignalWindow {
    fn refs_around(&self, lon: f64, lat: f64, reach_m: f64) -> Vec<&Signal> {
        gather(&self.cells, self.cell, lon, lat, reach_m)
            .into_iter()
            .map(|at| &self.signals[(at - self.gone) as usize])
            .collect()
    }
}

/// The cell size of a [`NearIndex`] for [`detect_near`]: the smaller radius, so that the few
/// signals near a new one are found among few others.
pub fn detector_cell_m(t: &Thresholds) -> f64 {
    t.repeat_radius_m.min(t.cross_radius_m)
}

/// [`repeat`] and [`cross_source`] for a new signal, from the recent signals in `index` (sized by
/// [`detector_cell_m`]): each is given only the signals within its reach, and cross-source is not
/// run when nothing of the other kind of source is within its radius (it would find nothing).
/// The same answers as both detectors over every recent signal.
pub fn detect_near(
    new: &Signal,
    index: &(impl Nearby + ?Sized),
    now: i64,
    t: &Thresholds,
) -> (Option<Warning>, Option<Warning>) {
    let near = index.refs_around(new.lon, new.lat, t.repeat_radius_m);
    let repeated = repeat(new, &near, now, t);
    let close = index.refs_around(new.lon, new.lat, t.cross_radius_m);
    let other_kind = close.iter().any(|s| {
        s.sensor != new.sensor
            && s.id != new.id
            && distance_m(point(new), point(s)) <= t.cross_radius_m
    });
    let corroborated = if other_kind {
        let reach = index.refs_around(new.lon, new.lat, 2.0 * t.cross_radius_m);
        cross_source(new, &reach, now, t)
    } else {
        None
    };
    (repeated, corroborated)
}

/// ln(n!), exactly summed for small n and by Stirling's series (error below 1e-12) above.
fn ln_factorial(n: u32) -> f64 {
    if n < 20 {
        return (2..=n).map(|i| f64::from(i).ln()).sum();
    }
    let n = f64::from(n);
    n * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI * n).ln() + 1.0 / (12.0 * n)
        - 1.0 / (360.0 * n.powi(3))
        + 1.0 / (1260.0 * n.powi(5))
}

/// P(X ≥ k) for X ~ Poisson(λ): how unlikely `k` or more events are when `lambda` are expected.
///
/// Computed without overflow for any `k` and large `lambda`: the probability of `k` (or `k − 1`)
/// is taken in log space, and the series is summed outwards from there, where its terms only
/// shrink — the upper tail directly when `k > λ` (so tiny p-values keep their precision), else
/// one minus the lower tail. With `λ ≤ 0` no event ever happens: 1 for `k = 0`, else 0.
pub fn poisson_upper_tail(k: u32, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    // NaN is treated as "nothing expected" rather than spread.
    if lambda.is_nan() || lambda <= 0.0 {
        return 0.0;
    }
    if lambda.is_infinite() {
        return 1.0;
    }
    let ln_lambda = lambda.ln();
    let kf = f64::from(k);
    if kf > lambda {
        // Upper tail: P(k) + P(k+1) + …, each term λ/(i+1) times the one before, below 1.
        let mut term = (kf * ln_lambda - lambda - ln_factorial(k)).exp();
        let mut sum = 0.0;
        let mut i = kf;
        loop {
            sum += term;
            i += 1.0;
            term *= lambda / i;
            if term <= sum * SERIES_EPSILON {
                break;
            }
        }
        sum.min(1.0)
    } else {
        // Lower tail: P(k−1) + P(k−2) + … + P(0), each term i/λ times the one before, at most 1.
        let mut i = kf - 1.0;
        let mut term = (i * ln_lambda - lambda - ln_factorial(k - 1)).exp();
        let mut sum = 0.0;
        loop {
            sum += term;
            if i <= 0.0 || term <= sum * SERIES_EPSILON {
                break;
            }
            term *= i / lambda;
            i -= 1.0;
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// The highest level whose count threshold `n` reaches; none for `n = 0`.
fn level_by_count(n: usize, thresholds: &[u32; 4]) -> Option<Level> {
    if n == 0 {
        return None;
    }
    Level::ALL
        .into_iter()
        .zip(thresholds)
        .rev()
        .find(|&(_, &min)| n >= min as usize)
        .map(|(level, _)| level)
}

/// The highest level whose alpha `p` is below; none when `p` is not below any.
fn level_by_alpha(p: f64, alpha: &[f64; 4]) -> Option<Level> {
    Level::ALL
        .into_iter()
        .zip(alpha)
        .rev()
        .find(|&(_, &a)| p < a)
        .map(|(level, _)| level)
}

/// Signals sorted oldest first (ties by id, so the order never depends on the caller's).
fn oldest_first(mut signals: Vec<&Signal>) -> Vec<&Signal> {
    signals.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    signals
}

/// Case ids, capped at [`MAX_EVIDENCE`].
fn evidence<'a>(signals: impl IntoIterator<Item = &'a Signal>) -> Vec<String> {
    signals
        .into_iter()
        .take(MAX_EVIDENCE)
        .map(|s| s.id.clone())
        .collect()
}

fn point(s: &Signal) -> (f64, f64) {
    (s.lon, s.lat)
}

/// A p-value for people: four decimals, or scientific notation once that would read as zero.
fn show_p(p: f64) -> String {
    if p >= 1e-4 {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}

/// A window as `(中文, English)`, in the largest whole unit: days, hours or minutes.
fn show_window(ms: i64) -> (String, String) {
    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;
    const MINUTE: i64 = 60_000;
    if ms >= DAY && ms % DAY == 0 {
        (format!("{} 日", ms / DAY), format!("{} d", ms / DAY))
    } else if ms >= HOUR && ms % HOUR == 0 {
        (format!("{} 小时", ms / HOUR), format!("{} h", ms / HOUR))
    } else {
        (
            format!("{} 分钟", ms / MINUTE),
            format!("{} min", ms / MINUTE),
        )
    }
}

/// `"1 report"`, `"3 reports"`.
fn reports_en(n: usize) -> String {
    if n == 1 {
        "1 report".to_owned()
    } else {
        format!("{n} reports")
    }
}

/// The daily baseline for [`surge`]: the mean of past daily counts, floored at
/// [`BASELINE_FLOOR_PER_DAY`] when there is under a week of history or the mean is zero.
fn baseline(days: &[u32]) -> f64 {
    let total: u64 = days.iter().map(|&d| u64::from(d)).sum();
    let mean = if days.is_empty() {
        0.0
    } else {
        total as f64 / days.len() as f64
    };
    if days.len() < BASELINE_MIN_DAYS || mean == 0.0 {
        mean.max(BASELINE_FLOOR_PER_DAY)
    } else {
        mean
    }
}

/// 突增: more cases of `category` in unit `area` in the last 24 hours than its baseline explains.
///
/// `today` are those cases (the evidence); `baseline_days` the daily counts of the same category
/// in the same unit on previous days (e.g. the last 28, a seasonal baseline). The baseline λ is
/// their mean, floored at 0.5/day with under 7 days of history or a zero mean. The level is that
/// of the smallest `surge_alpha` the p-value P(X ≥ count) is below; no warning under
/// `surge_min_count` cases or when the p-value is not below `surge_alpha[0]`.
pub fn surge(
    area: &str,
    category: &str,
    today: &[impl Borrow<Signal>],
    baseline_days: &[u32],
    t: &Thresholds,
) -> Option<Warning> {
    let count = u32::try_from(today.len()).unwrap_or(u32::MAX);
    if count == 0 || count < t.surge_min_count {
        return None;
    }
    let lambda = baseline(baseline_days);
    let p = poisson_upper_tail(count, lambda);
    let level = level_by_alpha(p, &t.surge_alpha)?;
    let p = show_p(p);
    Some(Warning {
        kind: Kind::Surge,
        level,
        key: format!("surge:{area}:{category}"),
        area: area.to_owned(),
        category: Some(category.to_owned()),
        evidence: evidence(oldest_first(today.iter().map(Borrow::borrow).collect())),
        observed: f64::from(count),
        expected: lambda,
        message: format!(
            "{area} 类别 {category} 今日 {count} 件，基线 {lambda:.1} 件/日 (p={p}) / \
             surge: {count} today in {area}, category {category}, against a baseline of \
             {lambda:.1}/day (p={p})"
        ),
    })
}

/// 重复: the place of `new` reported again and again.
///
/// From the candidates in `recent`, counts those within `repeat_radius_m` of `new`, created at or
/// after `now − repeat_window_ms`, and of the same category when `new` has one (any category when
/// it is unclassified); `new` itself counts too, and a candidate with `new`'s id is not counted
/// twice. The level is by `repeat_counts`. The key names the oldest case of the cluster, so the
/// warning keeps its key as the cluster grows (until that case leaves the window).
pub fn repeat(
    new: &Signal,
    recent: &[impl Borrow<Signal>],
    now: i64,
    t: &Thresholds,
) -> Option<Warning> {
    let cutoff = now.saturating_sub(t.repeat_window_ms);
    let mut seen = HashSet::from([new.id.as_str()]);
    let mut cluster = vec![new];
    for s in recent.iter().map(Borrow::borrow) {
        let same_category = match &new.category {
            Some(c) => s.category.as_ref() == Some(c),
            None => true,
        };
        if s.created_at >= cutoff
            && same_category
            && distance_m(point(new), point(s)) <= t.repeat_radius_m
            && seen.insert(s.id.as_str())
        {
            cluster.push(s);
        }
    }
    let count = cluster.len();
    let level = level_by_count(count, &t.repeat_counts)?;
    let cluster = oldest_first(cluster);
    let first = &cluster[0].id;
    let threshold = t.repeat_counts[0];
    let radius = t.repeat_radius_m;
    let (window_zh, window_en) = show_window(t.repeat_window_ms);
    let area = &new.area;
    let (category_zh, category_en) = match &new.category {
        Some(c) => (format!(" 类别 {c}"), format!(", category {c}")),
        None => (String::new(), String::new()),
    };
    Some(Warning {
        kind: Kind::Repeat,
        level,
        key: format!("repeat:{}:{first}", new.category.as_deref().unwrap_or("*")),
        area: area.clone(),
        category: new.category.clone(),
        evidence: evidence(cluster),
        observed: count as f64,
        expected: f64::from(threshold),
        message: format!(
            "{area}{category_zh} 同一地点 {radius:.0} 米内 {window_zh}内被报告 {count} 次，\
             阈值 {threshold} 次 / repeat: {} at one place in {area}{category_en} \
             (within {radius:.0} m, {window_en}), threshold {threshold}",
            reports_en(count)
        ),
    })
}

/// The Yellow/Orange/Red level for a sensor alarm corroborated by `n` people's reports.
fn cross_level(n: usize) -> Option<Level> {
    match n {
        0 => None,
        1 => Some(Level::Yellow),
        2..=4 => Some(Level::Orange),
        _ => Some(Level::Red),
    }
}

/// 多源印证: a sensor alarm and people's reports about the same point at about the same time.
///
/// Two cases corroborate when one is a sensor case and the other a people's report, they lie
/// within `cross_radius_m`, and their creation times are at most `cross_window_ms` apart, either
/// way round. Candidates in `recent` older than `now − cross_window_ms` (or with `new`'s id) are
/// ignored; sensor-with-sensor and report-with-report pairs never warn.
///
/// The warning is anchored on one sensor case, the earliest corroborating one: when `new` is a
/// report, the earliest sensor case it corroborates; when `new` is a sensor case that some report
/// corroborates, the earliest of `new` and the sensor cases near it in place and time (so a camera
/// firing again about the same scene keeps the key). The reports counted are those corroborating
/// the anchor, plus `new` or those corroborating `new`. Level: Yellow with one report, Orange with
/// 2–4, Red with 5 or more.
pub fn cross_source(
    new: &Signal,
    recent: &[impl Borrow<Signal>],
    now: i64,
    t: &Thresholds,
) -> Option<Warning> {
    let cutoff = now.saturating_sub(t.cross_window_ms);
    let near = |a: &Signal, b: &Signal| {
        a.created_at.abs_diff(b.created_at) <= t.cross_window_ms.unsigned_abs()
            && distance_m(point(a), point(b)) <= t.cross_radius_m
    };
    // Candidates, each id once and never `new` again.
    let mut seen = HashSet::from([new.id.as_str()]);
    let pool: Vec<&Signal> = recent
        .iter()
        .map(Borrow::borrow)
        .filter(|s| s.created_at >= cutoff && seen.insert(s.id.as_str()))
        .collect();
    let (anchor, mut reports): (&Signal, Vec<&Signal>) = if new.sensor {
        let direct: Vec<&Signal> = pool
            .iter()
            .copied()
            .filter(|s| !s.sensor && near(new, s))
            .collect();
        if direct.is_empty() {
            return None;
        }
        let sensors = pool.iter().copied().filter(|s| s.sensor && near(new, s));
        let anchor = oldest_first(sensors.chain([new]).collect())[0];
        (anchor, direct)
    } else {
        let sensors: Vec<&Signal> = pool
            .iter()
            .copied()
            .filter(|s| s.sensor && near(new, s))
            .collect();
        let anchor = *oldest_first(sensors).first()?;
        (anchor, vec![new])
    };
    for s in &pool {
        if !s.sensor && near(anchor, s) && !reports.iter().any(|r| r.id == s.id) {
            reports.push(s);
        }
    }
    let count = reports.len();
    let level = cross_level(count)?;
    let reports = oldest_first(reports);
    let category = anchor
        .category
        .clone()
        .or_else(|| reports.iter().find_map(|r| r.category.clone()));
    let area = &anchor.area;
    let sensor = &anchor.id;
    let radius = t.cross_radius_m;
    let (window_zh, window_en) = show_window(t.cross_window_ms);
    Some(Warning {
        kind: Kind::CrossSource,
        level,
        key: format!("cross_source:{sensor}"),
        area: area.clone(),
        category,
        evidence: evidence([anchor].into_iter().chain(reports)),
        observed: count as f64,
        expected: 1.0,
        message: format!(
            "{area} 传感器告警 {sensor} 获 {count} 件群众报告印证（{radius:.0} 米、{window_zh}内） / \
             cross-source: sensor alarm {sensor} in {area} corroborated by {} from people \
             (within {radius:.0} m, {window_en})",
            reports_en(count)
        ),
    })
}

/// 积压: overdue cases piling up in unit `area`.
///
/// `count` is how many overdue cases the unit has; `evidence`, the first of them by due time
/// (at most [`MAX_EVIDENCE`] are kept). The level is by `backlog_counts`.
pub fn backlog(area: &str, count: usize, evidence: Vec<String>, t: &Thresholds) -> Option<Warning> {
    let level = level_by_count(count, &t.backlog_counts)?;
    let threshold = t.backlog_counts[0];
    Some(Warning {
        kind: Kind::Backlog,
        level,
        key: format!("backlog:{area}"),
        area: area.to_owned(),
        category: None,
        evidence: evidence.into_iter().take(MAX_EVIDENCE).collect(),
        observed: count as f64,
        expected: f64::from(threshold),
        message: format!(
            "{area} 超期未办结 {count} 件，阈值 {threshold} 件 / \
             backlog: {count} overdue cases in {area}, threshold {threshold}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: (f64, f64) = (114.0579, 22.5431);
    const MIN: i64 = 60_000;
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    /// An arbitrary "now": 2026-05-01 00:00 UTC.
    const NOW: i64 = 1_777_593_600_000;
    const UNIT: &str = "440303001001";

    /// A signal `east` and `north` metres from [`BASE`], `ago` ms before [`NOW`].
    fn sig(
        id: &str,
        sensor: bool,
        category: Option<&str>,
        east: f64,
        north: f64,
        ago: i64,
    ) -> Signal {
        let m_per_deg = EARTH_RADIUS_M.to_radians();
        Signal {
            id: id.to_owned(),
            category: category.map(str::to_owned),
            sensor,
            lon: BASE.0 + east / (m_per_deg * BASE.1.to_radians().cos()),
            lat: BASE.1 + north / m_per_deg,
            area: UNIT.to_owned(),
            created_at: NOW - ago,
        }
    }

    fn report(id: &str, east: f64, ago: i64) -> Signal {
        sig(id, false, Some("0101"), east, 0.0, ago)
    }

    fn sensor(id: &str, east: f64, ago: i64) -> Signal {
        sig(id, true, Some("0101"), east, 0.0, ago)
    }

    fn ids(w: &Warning) -> Vec<&str> {
        w.evidence.iter().map(String::as_str).collect()
    }

    #[test]
    fn names_round_trip_and_levels_are_ordered() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.as_str()), Some(l));
            assert_eq!(l.to_string(), l.as_str());
        }
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        let levels: Vec<_> = Level::ALL
            .iter()
            .map(|l| (l.as_str(), l.name_zh()))
            .collect();
        assert_eq!(
            levels,
            [
                ("blue", "蓝色预警"),
                ("yellow", "黄色预警"),
                ("orange", "橙色预警"),
                ("red", "红色预警")
            ]
        );
        let kinds: Vec<_> = Kind::ALL
            .iter()
            .map(|k| (k.as_str(), k.name_zh()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("surge", "突增"),
                ("repeat", "重复"),
                ("cross_source", "多源印证"),
                ("backlog", "积压")
            ]
        );
        assert!(Level::Blue < Level::Yellow && Level::Yellow < Level::Orange);
        assert!(Level::Orange < Level::Red);
        assert_eq!(Level::ALL.iter().max(), Some(&Level::Red));
        assert_eq!(Level::parse("Red"), None);
        assert_eq!(Kind::parse("cross-source"), None);
    }

    #[test]
    fn default_thresholds() {
        let t = Thresholds::default();
        assert_eq!(t.surge_min_count, 5);
        assert_eq!(t.surge_alpha, [0.05, 0.01, 0.001, 0.0001]);
        assert_eq!((t.repeat_radius_m, t.repeat_window_ms), (50.0, 7 * DAY));
        assert_eq!(t.repeat_counts, [3, 5, 8, 12]);
        assert_eq!((t.cross_radius_m, t.cross_window_ms), (100.0, 2 * HOUR));
        assert_eq!(t.backlog_counts, [5, 10, 20, 40]);
    }

    #[test]
    fn poisson_upper_tail_matches_reference_values() {
        // References summed independently in Python with `decimal` at 80 digits (both tails, exactly
        // iterated from e^-λ), so they are good to every digit shown.
        let cases: &[(u32, f64, f64)] = &[
            (8, 3.0, 0.011904503856357388),
            (20, 10.0, 0.0034543419758568078),
            (1, 1.0, 0.6321205588285577),
            (3, 1.0, 0.08030139707139419),
            (12, 3.1, 9.665392903239809e-05),
            (5, 0.5, 0.00017211562995584078),
            (6, 0.5, 1.4164937322342491e-05),
            (12, 2.0, 1.3646151596151952e-06),
            (50, 1.0, 1.2337508979097351e-65),
            (2000, 1000.0, 3.0581920801687568e-170),
            (1000, 1000.0, 0.5042052441802155),
            (900, 1000.0, 0.9993774022157249),
            (3000, 3000.0, 0.5024278898940543),
            (3200, 3000.0, 0.0001554317290963899),
            (2800, 3000.0, 0.9998919829822747),
            (4000, 3000.0, 8.71313610104626e-68),
        ];
        for &(k, lambda, want) in cases {
            let got = poisson_upper_tail(k, lambda);
            assert!(
                ((got - want) / want).abs() < 1e-9,
                "P(X >= {k} | λ={lambda}) = {got:e}, want {want:e}"
            );
        }
        // Exact edges: nothing expected, k = 0, and no overflow or NaN far out.
        let edges: &[(u32, f64, f64)] = &[
            (0, 1.0, 1.0),
            (0, 0.0, 1.0),
            (0, -2.0, 1.0),
            (1, 0.0, 0.0),
            (3, -1.0, 0.0),
            (3, f64::NAN, 0.0),
            (1, 5000.0, 1.0),
            (u32::MAX, 3000.0, 0.0),
            (u32::MAX, 0.1, 0.0),
            (100_000, 1.0, 0.0),
        ];
        for &(k, lambda, want) in edges {
            assert_eq!(poisson_upper_tail(k, lambda), want, "k={k} λ={lambda}");
        }
        for k in [0, 1, 10, 100, 2999, 3000, 3001, 10_000, 1_000_000] {
            let p = poisson_upper_tail(k, 3000.0);
            assert!((0.0..=1.0).contains(&p), "k={k}: {p}");
        }
        // Monotone in k.
        let tail: Vec<f64> = (0..40).map(|k| poisson_upper_tail(k, 7.5)).collect();
        assert!(tail.windows(2).all(|w| w[1] < w[0]), "{tail:?}");
    }

    #[test]
    fn distances() {
        let cases: &[((f64, f64), (f64, f64), f64, f64)] = &[
            // (a, b, metres, tolerance)
            ((114.0, 22.5), (114.0, 22.5), 0.0, 1e-9),
            ((114.0, 22.5), (114.0, 22.501), 111.195, 0.01),
            ((0.0, 0.0), (0.0, 0.001), 111.195, 0.01),
            ((0.0, 0.0), (1.0, 0.0), 111_195.08, 0.1),
            ((0.0, 60.0), (1.0, 60.0), 55_597.0, 5.0),
            (
                (0.0, 0.0),
                (180.0, 0.0),
                std::f64::consts::PI * EARTH_RADIUS_M,
                1e-3,
            ),
        ];
        for &(a, b, want, tol) in cases {
            let (ab, ba) = (distance_m(a, b), distance_m(b, a));
            assert!((ab - want).abs() <= tol, "{a:?}–{b:?}: {ab}, want {want}");
            assert!((ab - ba).abs() < 1e-9, "not symmetric: {ab} vs {ba}");
        }
        // The test helper places points where it says.
        let s = sig("x", false, None, 30.0, 40.0, 0);
        assert!((distance_m(BASE, point(&s)) - 50.0).abs() < 0.05);
    }

    /// `n` reports of category 0101, one a minute, the newest first.
    fn today(n: usize) -> Vec<Signal> {
        (0..n)
            .map(|i| report(&format!("c{i:03}"), 0.0, i as i64 * MIN))
            .collect()
    }

    #[test]
    fn surge_levels_and_baselines() {
        let t = Thresholds::default();
        let steady3 = [3; 28];
        let mut sparse7 = [0; 7];
        sparse7[0] = 1;
        let cases: &[(&str, usize, &[u32], Option<Level>, f64)] = &[
            // λ = 3: p(6) = .084, p(7) = .034, p(8) = .012, p(9) = .0038, p(10) = .0011,
            // p(11) = .00029, p(12) = .000071.
            ("below alpha[0]", 6, &steady3, None, 3.0),
            ("blue from", 7, &steady3, Some(Level::Blue), 3.0),
            ("blue to", 8, &steady3, Some(Level::Blue), 3.0),
            ("yellow from", 9, &steady3, Some(Level::Yellow), 3.0),
            ("yellow to", 10, &steady3, Some(Level::Yellow), 3.0),
            ("orange", 11, &steady3, Some(Level::Orange), 3.0),
            ("red", 12, &steady3, Some(Level::Red), 3.0),
            ("nothing today", 0, &steady3, None, 3.0),
            // Floor 0.5/day: p(4) = .0018 but under surge_min_count; p(5) = .00017, p(6) = .000014.
            ("no history, under min count", 4, &[], None, 0.5),
            ("no history, min count", 5, &[], Some(Level::Orange), 0.5),
            ("no history", 6, &[], Some(Level::Red), 0.5),
            ("zero mean", 5, &[0; 28], Some(Level::Orange), 0.5),
            (
                "six days, floored",
                5,
                &[1, 0, 0, 0, 0, 0],
                Some(Level::Orange),
                0.5,
            ),
            (
                "seven days, not floored",
                5,
                &sparse7,
                Some(Level::Red),
                1.0 / 7.0,
            ),
            (
                "short history above floor",
                7,
                &[3; 6],
                Some(Level::Blue),
                3.0,
            ),
            ("a second report in a new district", 2, &[], None, 0.5),
        ];
        for &(name, n, days, level, lambda) in cases {
            let w = surge("440303001", "0101", &today(n), days, &t);
            assert_eq!(w.as_ref().map(|w| w.level), level, "{name}");
            if let Some(w) = w {
                assert_eq!((w.observed, w.expected), (n as f64, lambda), "{name}");
            }
        }
        // Min count is configurable and checked before the statistics.
        let strict = Thresholds {
            surge_min_count: 13,
            ..t
        };
        assert_eq!(
            surge("440303001", "0101", &today(12), &steady3, &strict),
            None
        );
        // "Below" is strict: a p-value equal to an alpha does not reach its level.
        let at_blue = Thresholds {
            surge_alpha: [poisson_upper_tail(7, 3.0), 0.01, 0.001, 0.0001],
            ..t
        };
        assert_eq!(
            surge("440303001", "0101", &today(7), &steady3, &at_blue),
            None
        );
        let w = surge("440303001", "0101", &today(8), &steady3, &at_blue);
        assert_eq!(w.map(|w| w.level), Some(Level::Blue));
    }

    #[test]
    fn surge_warning_contents() {
        let t = Thresholds::default();
        let w = surge("440303001", "0101", &today(12), &[3; 28], &t).unwrap();
        assert_eq!(w.kind, Kind::Surge);
        assert_eq!(w.key, "surge:440303001:0101");
        assert_eq!(
            (w.area.as_str(), w.category.as_deref()),
            ("440303001", Some("0101"))
        );
        // Oldest first: c011 is 11 minutes old.
        assert_eq!(ids(&w)[..3], ["c011", "c010", "c009"]);
        assert_eq!(ids(&w).last(), Some(&"c000"));
        assert_eq!(
            w.message,
            "440303001 类别 0101 今日 12 件，基线 3.0 件/日 (p=7.1e-5) / surge: 12 today in \
             440303001, category 0101, against a baseline of 3.0/day (p=7.1e-5)"
        );
        // Evidence is capped; the count is not.
        let w = surge("440303001", "0101", &today(80), &[3; 28], &t).unwrap();
        assert_eq!((w.evidence.len(), w.observed), (MAX_EVIDENCE, 80.0));
        assert_eq!((ids(&w)[0], ids(&w)[49]), ("c079", "c030"));
    }

    #[test]
    fn repeat_counts_and_filters() {
        let t = Thresholds::default();
        let new = report("new", 0.0, 0);
        let near = |i: usize| report(&format!("r{i:02}"), 10.0, (i as i64 + 1) * HOUR);
        let many = |n: usize| (0..n).map(near).collect::<Vec<_>>();
        let with = |mut v: Vec<Signal>, extra: Signal| {
            v.push(extra);
            v
        };
        let cases: Vec<(&str, Vec<Signal>, Option<Level>)> = vec![
            ("alone", vec![], None),
            ("two", many(1), None),
            ("three", many(2), Some(Level::Blue)),
            ("four", many(3), Some(Level::Blue)),
            ("five", many(4), Some(Level::Yellow)),
            ("seven", many(6), Some(Level::Yellow)),
            ("eight", many(7), Some(Level::Orange)),
            ("eleven", many(10), Some(Level::Orange)),
            ("twelve", many(11), Some(Level::Red)),
            ("far away", with(many(1), report("far", 60.0, HOUR)), None),
            (
                "just inside",
                with(many(1), report("edge", 49.0, HOUR)),
                Some(Level::Blue),
            ),
            (
                "north, inside",
                with(many(1), sig("n", false, Some("0101"), 0.0, 45.0, HOUR)),
                Some(Level::Blue),
            ),
            (
                "out of window",
                with(many(1), report("old", 0.0, 7 * DAY + 1)),
                None,
            ),
            (
                "window edge",
                with(many(1), report("edge", 0.0, 7 * DAY)),
                Some(Level::Blue),
            ),
            (
                "other category",
                with(many(1), sig("o", false, Some("0202"), 0.0, 0.0, HOUR)),
                None,
            ),
            (
                "unclassified other",
                with(many(1), sig("u", false, None, 0.0, 0.0, HOUR)),
                None,
            ),
            ("new itself in recent", with(many(1), new.clone()), None),
            ("duplicate candidate", with(many(1), near(0)), None),
        ];
        for (name, recent, level) in cases {
            let w = repeat(&new, &recent, NOW, &t);
            assert_eq!(w.map(|w| w.level), level, "{name}");
        }
        // An unclassified new report matches any category.
        let any = sig("new", false, None, 0.0, 0.0, 0);
        let recent = [
            sig("a", false, Some("0202"), 5.0, 0.0, HOUR),
            sig("b", false, None, 0.0, 5.0, 2 * HOUR),
        ];
        let w = repeat(&any, &recent, NOW, &t).unwrap();
        assert_eq!((w.level, w.key.as_str()), (Level::Blue, "repeat:*:b"));
        assert_eq!(
            (ids(&w), w.category.as_deref()),
            (vec!["b", "a", "new"], None)
        );
    }

    #[test]
    fn repeat_keeps_its_key_as_the_cluster_grows() {
        let t = Thresholds::default();
        let reports: Vec<Signal> = (0..14)
            .map(|i| report(&format!("p{i:02}"), (i % 3) as f64 * 10.0, (20 - i) * HOUR))
            .collect();
        let mut seen = Vec::new();
        for i in 1..reports.len() {
            let now = reports[i].created_at;
            // The caller's candidates come in any order.
            let mut recent = reports[..i].to_vec();
            recent.reverse();
            if let Some(w) = repeat(&reports[i], &recent, now, &t) {
                assert_eq!(w.evidence.len(), i + 1);
                assert_eq!(w.evidence.last(), Some(&reports[i].id));
                seen.push((i + 1, w.key, w.level));
            }
        }
        let keys: Vec<&str> = seen.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 12, "warns from the third report on");
        assert!(keys.iter().all(|k| *k == "repeat:0101:p00"), "{keys:?}");
        let levels: Vec<(usize, Level)> = seen.iter().map(|&(n, _, l)| (n, l)).collect();
        assert_eq!(
            levels,
            [
                (3, Level::Blue),
                (4, Level::Blue),
                (5, Level::Yellow),
                (6, Level::Yellow),
                (7, Level::Yellow),
                (8, Level::Orange),
                (9, Level::Orange),
                (10, Level::Orange),
                (11, Level::Orange),
                (12, Level::Red),
                (13, Level::Red),
                (14, Level::Red)
            ]
        );
    }

    #[test]
    fn repeat_warning_contents() {
        let t = Thresholds::default();
        let new = report("new", 0.0, 0);
        let recent = [report("b", 20.0, HOUR), report("a", -20.0, 2 * HOUR)];
        let w = repeat(&new, &recent, NOW, &t).unwrap();
        assert_eq!((w.kind, w.key.as_str()), (Kind::Repeat, "repeat:0101:a"));
        assert_eq!(ids(&w), ["a", "b", "new"]);
        assert_eq!((w.observed, w.expected), (3.0, 3.0));
        assert_eq!(
            (w.area.as_str(), w.category.as_deref()),
            (UNIT, Some("0101"))
        );
        assert_eq!(
            w.message,
            "440303001001 类别 0101 同一地点 50 米内 7 日内被报告 3 次，阈值 3 次 / repeat: \
             3 reports at one place in 440303001001, category 0101 (within 50 m, 7 d), threshold 3"
        );
    }

    #[test]
    fn cross_source_pairs_sensors_with_reports() {
        let t = Thresholds::default();
        let r = |id: &str, east: f64, ago: i64| report(id, east, ago);
        let s = |id: &str, east: f64, ago: i64| sensor(id, east, ago);
        // (name, new, recent, expected (level, anchor sensor, evidence))
        type Case<'a> = (
            &'a str,
            Signal,
            Vec<Signal>,
            Option<(Level, &'a str, Vec<&'a str>)>,
        );
        let cases: Vec<Case> = vec![
            // A report after a sensor alarm.
            (
                "report after sensor",
                r("new", 0.0, 0),
                vec![s("s1", 50.0, HOUR)],
                Some((Level::Yellow, "s1", vec!["s1", "new"])),
            ),
            // A sensor alarm after reports.
            (
                "sensor after reports",
                s("new", 0.0, 0),
                vec![r("a", 30.0, HOUR), r("b", -30.0, 30 * MIN)],
                Some((Level::Orange, "new", vec!["new", "a", "b"])),
            ),
            // The report may be older than the sensor case it corroborates (timestamps out of order).
            (
                "report older than sensor",
                r("new", 0.0, HOUR),
                vec![s("s1", 0.0, 0)],
                Some((Level::Yellow, "s1", vec!["s1", "new"])),
            ),
            (
                "sensor older than the new sensor's report",
                s("new", 0.0, HOUR),
                vec![r("a", 0.0, 0)],
                Some((Level::Yellow, "new", vec!["new", "a"])),
            ),
            (
                "four reports",
                s("new", 0.0, 0),
                (0..4)
                    .map(|i| r(&format!("r{i}"), 0.0, (i + 1) * MIN))
                    .collect(),
                Some((Level::Orange, "new", vec!["new", "r3", "r2", "r1", "r0"])),
            ),
            (
                "five reports",
                s("new", 0.0, 0),
                (0..5)
                    .map(|i| r(&format!("r{i}"), 0.0, (i + 1) * MIN))
                    .collect(),
                Some((Level::Red, "new", vec!["new", "r4", "r3", "r2", "r1", "r0"])),
            ),
            // Other reports of the sensor's scene count when a new report comes in.
            (
                "report joins earlier reports",
                r("new", 0.0, 0),
                vec![s("s1", 0.0, HOUR), r("a", 20.0, 50 * MIN)],
                Some((Level::Orange, "s1", vec!["s1", "a", "new"])),
            ),
            // Several sensor cases: anchored on the earliest.
            (
                "earliest sensor",
                r("new", 0.0, 0),
                vec![s("s2", 10.0, 30 * MIN), s("s1", -10.0, 90 * MIN)],
                Some((Level::Yellow, "s1", vec!["s1", "new"])),
            ),
            (
                "camera fires again",
                s("new", 0.0, 0),
                vec![s("s1", 10.0, HOUR), r("a", 0.0, 30 * MIN)],
                Some((Level::Yellow, "s1", vec!["s1", "a"])),
            ),
            (
                "sensor with sensor",
                s("new", 0.0, 0),
                vec![s("s1", 0.0, MIN)],
                None,
            ),
            (
                "report with report",
                r("new", 0.0, 0),
                vec![r("a", 0.0, MIN), r("b", 5.0, 2 * MIN)],
                None,
            ),
            ("too far", r("new", 0.0, 0), vec![s("s1", 110.0, MIN)], None),
            (
                "just near enough",
                r("new", 0.0, 0),
                vec![s("s1", 95.0, MIN)],
                Some((Level::Yellow, "s1", vec!["s1", "new"])),
            ),
            (
                "too long before",
                r("new", 0.0, 0),
                vec![s("s1", 0.0, 2 * HOUR + 1)],
                None,
            ),
            (
                "window edge",
                r("new", 0.0, 0),
                vec![s("s1", 0.0, 2 * HOUR)],
                Some((Level::Yellow, "s1", vec!["s1", "new"])),
            ),
            (
                "too long after an old report",
                r("new", 0.0, 2 * HOUR + MIN),
                vec![s("s1", 0.0, 0)],
                None,
            ),
            // A late-arriving report pairs only with candidates still inside the window at `now`.
            (
                "stale candidate",
                r("new", 0.0, 90 * MIN),
                vec![s("s1", 0.0, 150 * MIN)],
                None,
            ),
            (
                "new itself in recent",
                s("new", 0.0, 0),
                vec![s("new", 0.0, 0)],
                None,
            ),
            ("nothing recent", r("new", 0.0, 0), vec![], None),
        ];
        for (name, new, recent, want) in cases {
            let got = cross_source(&new, &recent, NOW, &t).map(|w| (w.level, w.key, w.evidence));
            let want = want.map(|(level, sensor, evidence)| {
                (
                    level,
                    format!("cross_source:{sensor}"),
                    evidence.into_iter().map(str::to_owned).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn cross_source_warning_contents() {
        let t = Thresholds::default();
        let mut camera = sensor("s1", 0.0, 10 * MIN);
        camera.category = None;
        camera.area = "440303001002".to_owned();
        let w = cross_source(&report("new", 20.0, 0), &[camera], NOW, &t).unwrap();
        assert_eq!(w.kind, Kind::CrossSource);
        // The sensor's place; the category from the report when the sensor has none.
        assert_eq!(
            (w.area.as_str(), w.category.as_deref()),
            ("440303001002", Some("0101"))
        );
        assert_eq!((w.observed, w.expected), (1.0, 1.0));
        assert_eq!(
            w.message,
            "440303001002 传感器告警 s1 获 1 件群众报告印证（100 米、2 小时内） / cross-source: \
             sensor alarm s1 in 440303001002 corroborated by 1 report from people (within 100 m, 2 h)"
        );
    }

    #[test]
    fn backlog_levels() {
        let t = Thresholds::default();
        let overdue = |n: usize| (0..n).map(|i| format!("c{i:02}")).collect::<Vec<_>>();
        let cases: &[(usize, Option<Level>)] = &[
            (0, None),
            (4, None),
            (5, Some(Level::Blue)),
            (9, Some(Level::Blue)),
            (10, Some(Level::Yellow)),
            (19, Some(Level::Yellow)),
            (20, Some(Level::Orange)),
            (39, Some(Level::Orange)),
            (40, Some(Level::Red)),
            (90, Some(Level::Red)),
        ];
        for &(n, level) in cases {
            let w = backlog("440303001", n, overdue(n), &t);
            assert_eq!(w.as_ref().map(|w| w.level), level, "{n} overdue");
            if let Some(w) = w {
                assert_eq!(w.observed, n as f64);
                assert_eq!(w.evidence.len(), n.min(MAX_EVIDENCE));
            }
        }
        // The count decides, not how much evidence came with it.
        let w = backlog("440303001", 5_000, overdue(3), &t).unwrap();
        assert_eq!(
            (w.level, w.observed, w.evidence.len()),
            (Level::Red, 5_000.0, 3)
        );
        let w = backlog("440303001", 12, overdue(12), &t).unwrap();
        assert_eq!(
            (w.kind, w.key.as_str()),
            (Kind::Backlog, "backlog:440303001")
        );
        assert_eq!(
            (w.area.as_str(), w.category.as_deref()),
            ("440303001", None)
        );
        assert_eq!(ids(&w)[..2], ["c00", "c01"]);
        assert_eq!(w.expected, 5.0);
        assert_eq!(
            w.message,
            "440303001 超期未办结 12 件，阈值 5 件 / backlog: 12 overdue cases in 440303001, \
             threshold 5"
        );
    }

    /// The `i`th point of a Weyl sequence in the unit cube: evenly spread, never repeating.
    fn weyl(i: i64) -> [f64; 3] {
        [0.618_033_988_75, 0.754_877_666_2, 0.569_840_290_998].map(|a| (i as f64 * a).fract())
    }

    /// Over a field of reports and sensor cases scattered at every distance around each other,
    /// the detectors decide the same from the signals the index gives as from every signal, and
    /// the index gives far fewer.
    #[test]
    fn the_near_index_changes_no_detection() {
        let t = Thresholds::default();
        let mut all = Vec::new();
        // A Weyl sequence over 3 km × 3 km, a fifth of them sensors, over the last two days.
        for i in 0..600_i64 {
            let [u, v, w] = weyl(i);
            let east = u * 3_000.0;
            let north = v * 3_000.0;
            let ago = (w * 2.0 * 86_400_000.0) as i64;
            let category = if i % 3 == 0 { None } else { Some("0101") };
            all.push(sig(
                &format!("s{i}"),
                i % 5 == 0,
                category,
                east,
                north,
                ago,
            ));
        }
        // Clusters, so that there is something to find.
        for k in 0..40_i64 {
            for j in 0..4_i64 {
                all.push(sig(
                    &format!("c{k}-{j}"),
                    j == 0,
                    Some("0101"),
                    (k * 70) as f64 + j as f64 * 9.0,
                    (k * 55) as f64,
                    j * 60_000,
                ));
            }
        }
        let index = NearIndex::new(&all, detector_cell_m(&t), BASE.1 + 0.1);
        let (mut found, mut looked) = (0, 0);
        for new in &all {
            looked += index
                .refs_around(new.lon, new.lat, 2.0 * t.cross_radius_m)
                .len();
            let full = (repeat(new, &all, NOW, &t), cross_source(new, &all, NOW, &t));
            assert_eq!(full, detect_near(new, &index, NOW, &t), "{}", new.id);
            found += usize::from(full.0.is_some()) + usize::from(full.1.is_some());
        }
        assert!(found > 40, "the field finds something: {found}");
        assert!(
            looked < all.len() * all.len() / 10,
            "{looked} signals looked at for {} new",
            all.len()
        );
    }

    /// A window kept up to date as signals come and go finds, for every point, what an index
    /// drawn over the same signals finds, in the same order; so the detectors decide the same.
    #[test]
    fn a_sliding_window_finds_what_an_index_of_its_signals_finds() {
        let t = Thresholds::default();
        let mut all = Vec::new();
        for i in 0..900_i64 {
            let [u, v, _] = weyl(i);
            let category = if i % 3 == 0 { None } else { Some("0101") };
            // Oldest first, a minute apart, with a cluster every 50 signals.
            let (east, north) = if i % 50 < 4 {
                ((i / 50) as f64 * 120.0 + (i % 50) as f64 * 7.0, 800.0)
            } else {
                (u * 2_500.0, v * 2_500.0)
            };
            all.push(sig(
                &format!("s{i}"),
                i % 5 == 0,
                category,
                east,
                north,
                (900 - i) * 60_000,
            ));
        }
        let mut window = SignalWindow::new(detector_cell_m(&t));
        let (mut first, mut warned) = (0, 0);
        for (i, s) in all.iter().enumerate() {
            window.push(s.clone());
            // Keep the newest 300.
            if window.len() > 300 {
                assert_eq!(
                    window.pop_front().map(|s| s.id),
                    Some(all[first].id.clone())
                );
                first += 1;
            }
            if i % 7 != 0 {
                continue;
            }
            let held = &all[first..=i];
            assert_eq!(window.len(), held.len());
            let index = NearIndex::new(held, detector_cell_m(&t), BASE.1 + 0.1);
            for reach in [t.repeat_radius_m, 2.0 * t.cross_radius_m] {
                let ids = |found: Vec<&Signal>| -> Vec<String> {
                    found.into_iter().map(|s| s.id.clone()).collect()
                };
                let wanted: Vec<String> = held
                    .iter()
                    .filter(|o| distance_m(point(s), point(o)) <= reach)
                    .map(|o| o.id.clone())
                    .collect();
                let got = ids(window.refs_around(s.lon, s.lat, reach));
                let drawn = ids(index.refs_around(s.lon, s.lat, reach));
                for id in &wanted {
                    assert!(got.contains(id), "{id} within {reach} m of {}", s.id);
                }
                // Both in the window's order, oldest first.
                let order = |v: &[String]| -> Vec<usize> {
                    v.iter()
                        .map(|id| held.iter().position(|o| &o.id == id).unwrap())
                        .collect()
                };
                assert!(order(&got).windows(2).all(|w| w[0] < w[1]), "{got:?}");
                assert!(order(&drawn).is_sorted());
            }
            let found = detect_near(s, &window, NOW, &t);
            assert_eq!(found, detect_near(s, &index, NOW, &t), "{}", s.id);
            warned += usize::from(found.0.is_some()) + usize::from(found.1.is_some());
        }
        assert!(warned > 5, "the clusters are found: {warned}");
    }
}
