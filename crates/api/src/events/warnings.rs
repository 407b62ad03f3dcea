//! Early warning (预警) on the stream of cases. Each new case is handed to a detector task (off
//! the request path) that runs the core's detectors — surge, repeat, cross-source — over the
//! cases around it; supervision runs the backlog detector when cases go overdue. A detection is
//! stored under its key (raised in place as evidence grows, never lowered), pushed to the SSE
//! streams of the units it concerns, and a supervisor can open a supervision case (督办案件)
//! from it.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::case::{CaseRecord, Channel, HistoryEntry};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::warning::{self, Kind, Level, Signal, Warning};
use wanxiang_core::{Role, Scope, UnitCode};
use wanxiang_store::{CaseFilter, NearQuery, WarningChange, WarningRecord, WarningStatus};

use super::duplicates::is_sensor;
use super::{CaseDto, Change, Report, case_dto, district_of, open_case, place_of};
use crate::auth::Principal;
use crate::people::iso;
use crate::{AppError, AppState};

/// Days of history a surge is judged against.
const BASELINE_DAYS: u32 = 28;
/// Most new cases one detection pass looks at together.
const BATCH: usize = 4096;
/// The shortest time between the starts of two detection passes.
const PACE: std::time::Duration = std::time::Duration::from_millis(500);
/// Signals waiting for the detector before new ones are dropped (detection is analysis: a
/// dropped signal delays a warning, it loses no case).
const QUEUE: usize = 65_536;

/// What the detector task is told.
#[derive(Debug)]
pub enum Observation {
    /// A new case, as the detectors see it.
    Case(Signal),
    /// A report linked to a case as its duplicate.
    Linked {
        /// The case.
        case: Box<CaseRecord>,
        /// The linked report's id.
        report_id: String,
        /// Whether the report came from a machine.
        sensor: bool,
    },
    /// A case was given its category (at registration or dispatch) after it was observed.
    Category {
        /// The case.
        id: String,
        /// Its category now.
        category: String,
    },
}

/// Hands a new case to the detectors.
pub(crate) fn observe(state: &AppState, c: &CaseRecord) {
    send(state, Observation::Case(signal(c)));
}

/// Hands a linked duplicate to the cross-source detector: a sensor alarm and a person's report
/// joined in one case corroborate each other.
pub(crate) fn observe_linked(state: &AppState, c: &CaseRecord, report: &Report, report_id: &str) {
    send(
        state,
        Observation::Linked {
            case: Box::new(c.clone()),
            report_id: report_id.to_owned(),
            sensor: is_sensor(report.channel),
        },
    );
}

/// Tells the detectors a case's category was set after it came in.
pub(crate) fn observe_category(state: &AppState, id: &str, category: &str) {
    send(
        state,
        Observation::Category {
            id: id.to_owned(),
            category: category.to_owned(),
        },
    );
}

fn send(state: &AppState, o: Observation) {
    let tx = state.detector.get_or_init(|| {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(detector_loop(state.clone(), rx));
        tx
    });
    if tx.try_send(o).is_err() {
        metrics::counter!("wanxiang_detector_dropped_total").increment(1);
    }
}

/// The cases of the detectors' window that this node saw come in: on a store no other node
/// writes to, every case since the detector started passes through it, so the repeat and
/// cross-source detectors read only the cases reported before it started from the store, and
/// those only while they are within the window.
#[derive(Debug)]
struct Seen {
    /// When the detector started (node clock, Unix ms): the store holds what came before.
    started: i64,
    /// The cases observed since, oldest first (and, when `complete`, those before too).
    signals: std::collections::VecDeque<Signal>,
    /// Whether the cases of the window reported before the start were loaded at the start (there
    /// were at most [`PRELOAD`]); if not, each pass searches the store for them.
    complete: bool,
}

/// Most cases of the window reported before the detector started that it loads at its start.
const PRELOAD: u32 = 20_000;

impl Seen {
    /// Starts the window: the cases of the last `window_ms` from the store, when they are few
    /// enough to hold (on an error or too many, each pass searches the store for them instead).
    async fn start(state: &AppState, window_ms: i64) -> Seen {
        let started = state.clock.now_ms();
        let everywhere = NearQuery {
            lon_min: -180.0,
            lon_max: 180.0,
            lat_min: -90.0,
            lat_max: 90.0,
            since: started.saturating_sub(window_ms),
            until: Some(started),
            category: None,
            open_only: false,
            limit: PRELOAD,
        };
        let loaded = match state.store.cases_near_any(&[everywhere]).await {
            Ok(found) if found.len() < PRELOAD as usize => Some(found),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "early warnings: the recent cases could not be loaded");
                None
            }
        };
        let complete = loaded.is_some();
        let mut signals: Vec<Signal> = loaded.unwrap_or_default().iter().map(signal).collect();
        signals.sort_by_key(|s| s.created_at);
        Seen {
            started,
            signals: signals.into(),
            complete,
        }
    }
}

impl Seen {
    /// Adds a pass's new cases and forgets those older than `window_ms` before the oldest of them.
    fn add(&mut self, cases: &[Signal], window_ms: i64) {
        self.signals.extend(cases.iter().cloned());
        if let Some(oldest) = cases.iter().map(|c| c.created_at).min() {
            let cutoff = oldest.saturating_sub(window_ms);
            while self.signals.front().is_some_and(|s| s.created_at < cutoff) {
                self.signals.pop_front();
            }
        }
    }

    /// A case's category set after it came in.
    fn recategorise(&mut self, id: &str, category: String) {
        if let Some(s) = self.signals.iter_mut().rev().find(|s| s.id == id) {
            s.category = Some(category);
        }
    }
}

async fn detector_loop(state: AppState, mut rx: mpsc::Receiver<Observation>) {
    // Work through what is waiting in batches: one search around all of a batch's new cases and
    // one count per street and category, however many cases arrived.
    // At most one pass per PACE: under a flood of reports the batches grow instead of the
    // detector's share of the database; a warning comes at most that much later.
    // Alone on its store, the detector keeps the cases it saw in memory (see [`Seen`]); with
    // other nodes writing cases it does not see, it searches the store every pass.
    let window = {
        let t = &state.hub.thresholds;
        t.repeat_window_ms.max(t.cross_window_ms)
    };
    let mut seen = if state.store.records_changes() {
        None
    } else {
        Some(Seen::start(&state, window).await)
    };
    let mut waiting = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut waiting, BATCH).await > 0 {
        let next_pass = tokio::time::Instant::now() + PACE;
        let mut cases = Vec::new();
        for o in waiting.drain(..) {
            match o {
                Observation::Case(c) => cases.push(c),
                Observation::Linked {
                    case,
                    report_id,
                    sensor,
                } => {
                    if let Err(e) = corroborate(&state, &case, &report_id, sensor).await {
                        tracing::warn!(error = %e, "early-warning corroboration failed");
                    }
                }
                Observation::Category { id, category } => {
                    match cases.iter_mut().find(|c: &&mut Signal| c.id == id) {
                        Some(c) => c.category = Some(category),
                        None => {
                            if let Some(seen) = seen.as_mut() {
                                seen.recategorise(&id, category);
                            }
                        }
                    }
                }
            }
        }
        if let Err(e) = detect(&state, &cases, seen.as_mut()).await {
            tracing::warn!(error = %e, "early-warning detection failed");
        }
        tokio::time::sleep_until(next_pass).await;
    }
}

fn signal(c: &CaseRecord) -> Signal {
    Signal {
        id: c.id.clone(),
        category: c.category.clone(),
        sensor: is_sensor(c.channel),
        lon: c.lon,
        lat: c.lat,
        area: c.area.to_string(),
        created_at: c.created_at,
    }
}

/// The street a unit code lies in (its first nine digits), or the unit itself above streets.
fn street_of(area: &str) -> Option<UnitCode> {
    UnitCode::parse(area.get(..9).unwrap_or(area)).ok()
}

/// Runs the detectors for a batch of new cases.
async fn detect(
    state: &AppState,
    cases: &[Signal],
    seen: Option<&mut Seen>,
) -> Result<(), AppError> {
    if cases.is_empty() {
        return Ok(());
    }
    let t = &state.hub.thresholds;
    // Repeat and cross-source: the cases around each point, any category, in one search.
    let radius = t.repeat_radius_m.max(t.cross_radius_m);
    let window = t.repeat_window_ms.max(t.cross_window_ms);
    // What this node saw come in is at hand; the store is asked only for what came before.
    let until = seen.as_ref().map(|s| s.started);
    let oldest = cases.iter().map(|c| c.created_at).min().unwrap_or(0);
    let before_start = match &seen {
        None => true,
        Some(s) => !s.complete && oldest.saturating_sub(window) < s.started,
    };
    // Added before the store is asked, so a failing search loses none of them.
    let seen: Option<&Seen> = match seen {
        Some(s) => {
            s.add(cases, window);
            Some(s)
        }
        None => None,
    };
    let around: Vec<Signal> = if before_start {
        let boxes: Vec<NearQuery> = cases
            .iter()
            .map(|c| {
                let dlat = radius / 111_320.0;
                let dlon = radius / (111_320.0 * c.lat.to_radians().cos().max(0.01));
                NearQuery {
                    lon_min: c.lon - dlon,
                    lon_max: c.lon + dlon,
                    lat_min: c.lat - dlat,
                    lat_max: c.lat + dlat,
                    since: c.created_at - window,
                    until,
                    category: None,
                    open_only: false,
                    limit: 1000,
                }
            })
            .collect();
        state
            .store
            .cases_near_any(&boxes)
            .await?
            .iter()
            .map(signal)
            .collect()
    } else {
        Vec::new()
    };
    let mut found: Vec<(Warning, i64)> = Vec::new();
    // Each new case looks only at the cases within each detector's reach of it (a grid of cells
    // the size of the smaller radius); the detectors skip the new case itself. Cells are sized
    // for the latitude of the batch's points (and of anything within reach of them: well under a
    // tenth of a degree).
    let max_lat = cases.iter().map(|c| c.lat.abs()).fold(0.0, f64::max) + 0.1;
    let index = warning::NearIndex::new(
        around
            .iter()
            .chain(seen.into_iter().flat_map(|s| s.signals.iter())),
        warning::detector_cell_m(t),
        max_lat,
    );
    for c in cases {
        let (repeated, corroborated) = warning::detect_near(c, &index, c.created_at, t);
        found.extend(
            repeated
                .into_iter()
                .chain(corroborated)
                .map(|w| (w, c.created_at)),
        );
    }
    // Surge: each category in each street the batch touched, today against the last four weeks.
    let mut groups: std::collections::BTreeMap<(UnitCode, String), i64> = Default::default();
    for c in cases {
        if let (Some(category), Some(street)) = (&c.category, street_of(&c.area)) {
            let at = groups
                .entry((street, category.clone()))
                .or_insert(c.created_at);
            *at = (*at).max(c.created_at);
        }
    }
    for ((street, category), now) in groups {
        let scope = Scope::Subtree(street.clone());
        let counts = state
            .store
            .daily_counts(&scope, &category, now + 1, BASELINE_DAYS + 1)
            .await?;
        if counts.first().copied().unwrap_or(0) < u64::from(t.surge_min_count) {
            continue;
        }
        let today = state
            .store
            .cases(
                &scope,
                &CaseFilter {
                    category: Some(category.clone()),
                    since: Some(now + 1 - 86_400_000),
                    limit: Some(1000),
                    ..CaseFilter::default()
                },
            )
            .await?;
        let today: Vec<Signal> = today.iter().map(signal).collect();
        let baseline: Vec<u32> = counts[1..]
            .iter()
            .map(|n| u32::try_from(*n).unwrap_or(u32::MAX))
            .collect();
        found.extend(
            warning::surge(street.as_str(), &category, &today, &baseline, t).map(|w| (w, now)),
        );
    }
    // One write per key: the most serious detection of the batch.
    found.sort_by(|a, b| {
        (&a.0.key, b.0.level, b.0.evidence.len()).cmp(&(&b.0.key, a.0.level, a.0.evidence.len()))
    });
    found.dedup_by(|later, first| later.0.key == first.0.key);
    for (w, at) in found {
        store(state, w, at).await?;
    }
    Ok(())
}

/// A linked duplicate from the other kind of source (a machine's alarm and a person's report)
/// corroborates its case: a cross-source warning whose level grows with the people's reports.
async fn corroborate(
    state: &AppState,
    c: &CaseRecord,
    report_id: &str,
    sensor: bool,
) -> Result<(), AppError> {
    if sensor == is_sensor(c.channel) {
        return Ok(());
    }
    let scope = Scope::system("early warning: cross-source corroboration");
    let reports = state.store.case_reports(&scope, &c.id).await?;
    let other: Vec<String> = reports
        .iter()
        .filter(|r| r.unlinked_at.is_none() && is_sensor(r.channel) != is_sensor(c.channel))
        .map(|r| r.id.clone())
        .collect();
    let people = if is_sensor(c.channel) { other.len() } else { 1 };
    let level = match people {
        0 | 1 => Level::Yellow,
        2..=4 => Level::Orange,
        _ => Level::Red,
    };
    let mut evidence = vec![c.id.clone()];
    evidence.extend(other);
    if !evidence.iter().any(|e| e == report_id) {
        evidence.push(report_id.to_owned());
    }
    let w = Warning {
        kind: Kind::CrossSource,
        level,
        key: format!("cross_source:{}", c.id),
        area: c.area.to_string(),
        category: c.category.clone(),
        observed: (evidence.len() - 1) as f64,
        expected: 1.0,
        message: format!(
            "传感器告警与群众上报相互印证：案件 {} 有 {} 条另一来源的上报并入 / a sensor alarm and people's reports corroborate each other: case {} has {} linked report(s) from the other source",
            c.id,
            evidence.len() - 1,
            c.id,
            evidence.len() - 1
        ),
        evidence,
    };
    store(state, w, state.clock.now_ms()).await
}

/// The backlog detector over every unit's overdue cases; supervision runs it after a pass that
/// marked cases overdue.
pub(crate) async fn backlog(state: &AppState, now: i64) -> Result<(), AppError> {
    let scope = Scope::system("early warning: overdue backlog");
    let overdue = state.store.overdue_cases(&scope, 10_000).await?;
    let mut by_unit: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &overdue {
        // A unit's backlog: the cases assigned to it; a department's counts at the district.
        let unit = match c.lifecycle.assignee.as_deref() {
            Some(org) if UnitCode::parse(org).is_ok() => org.to_owned(),
            _ => district_of(c),
        };
        by_unit.entry(unit).or_default().push(c.id.clone());
    }
    for (unit, ids) in by_unit {
        if let Some(w) = warning::backlog(&unit, &ids, &state.hub.thresholds) {
            store(state, w, now).await?;
        }
    }
    Ok(())
}

/// Stores a detection and, when it is new or raised, tells the unit's supervisors and streams.
async fn store(state: &AppState, w: Warning, now: i64) -> Result<(), AppError> {
    let area = UnitCode::parse(&w.area).map_err(|e| AppError::Unavailable(e.to_string()))?;
    let record = WarningRecord {
        id: uuid::Uuid::now_v7().to_string(),
        key: w.key,
        kind: w.kind,
        level: w.level,
        area,
        category: w.category,
        evidence: w.evidence,
        observed: w.observed,
        expected: w.expected,
        message: w.message,
        status: WarningStatus::Active,
        case_id: None,
        created_at: now,
        updated_at: now,
    };
    let (stored, change) = state.store.upsert_warning(&record).await?;
    if change == WarningChange::Unchanged {
        return Ok(());
    }
    metrics::counter!("wanxiang_warnings_total", "kind" => stored.kind.as_str(), "level" => stored.level.as_str()).increment(1);
    let note = Notification {
        id: 0,
        at: now,
        recipient: Recipient::Org {
            org: stored.area.to_string(),
            role: Some(Role::Supervisor),
        },
        case_id: None,
        kind: "early_warning".into(),
        message: format!(
            "{}（{}）：{}",
            stored.level.name_zh(),
            stored.kind.name_zh(),
            stored.message
        ),
    };
    state
        .store
        .notify(&[note], state.hub.webhook.is_some())
        .await?;
    if state.hub.webhook.is_some() {
        state.outbox_wake.notify_one();
    }
    let kind = if change == WarningChange::New {
        "warning_new"
    } else {
        "warning_raised"
    };
    crate::bus::publish(state, Change::warning(&stored, kind, now));
    Ok(())
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(close))
        .routes(routes!(supervise))
}

/// A warning on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningDto {
    /// Id.
    id: String,
    /// `surge`, `repeat`, `cross_source` or `backlog`.
    kind: &'static str,
    /// In Chinese.
    kind_zh: &'static str,
    /// `blue`, `yellow`, `orange` or `red`.
    level: &'static str,
    /// In Chinese.
    level_zh: &'static str,
    /// The unit it is about.
    area: String,
    /// The category, for category detectors.
    category: Option<String>,
    /// Evidence: case ids (and linked report ids), oldest first.
    evidence: Vec<String>,
    /// The figure that tripped it.
    observed: f64,
    /// The baseline or threshold it was compared with.
    expected: f64,
    /// Explanation with the figures, Chinese / English.
    message: String,
    /// `active` or `closed`.
    status: &'static str,
    /// The supervision case opened for it.
    case_id: Option<String>,
    /// First detected (RFC 3339).
    created_at: String,
    /// Last raised or changed (RFC 3339).
    updated_at: String,
}

fn dto(w: &WarningRecord) -> WarningDto {
    WarningDto {
        id: w.id.clone(),
        kind: w.kind.as_str(),
        kind_zh: w.kind.name_zh(),
        level: w.level.as_str(),
        level_zh: w.level.name_zh(),
        area: w.area.to_string(),
        category: w.category.clone(),
        evidence: w.evidence.clone(),
        observed: w.observed,
        expected: w.expected,
        message: w.message.clone(),
        status: w.status.as_str(),
        case_id: w.case_id.clone(),
        created_at: iso(w.created_at),
        updated_at: iso(w.updated_at),
    }
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct WarningQuery {
    /// `active` (default) or `all`.
    status: Option<String>,
    /// At most this many (1-1000, default 100).
    limit: Option<u32>,
}

fn staff_only(p: &Principal) -> Result<(), AppError> {
    if super::is_staff(p) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "预警仅对工作人员开放 / warnings are for staff".into(),
        ))
    }
}

/// Early warnings about the units of the caller's jurisdiction, latest first. Levels: blue <
/// yellow < orange < red. Surge: a category's reports in a street over the last 24 h against
/// the mean of the 28 days before (Poisson upper tail p < 0.05 / 0.01 / 0.001 / 0.0001, at least
/// 5 reports); repeat: 3 / 5 / 8 / 12 reports of one category within 50 m in 7 days;
/// cross-source: a sensor alarm and people's reports within 100 m and 2 h (1 / 2-4 / 5+
/// reports: yellow / orange / red); backlog: 5 / 10 / 20 / 40 overdue cases in one unit.
#[utoipa::path(get, path = "/api/v1/warnings", tag = "events", params(WarningQuery), responses(
    (status = 200, body = Vec<WarningDto>),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 401, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<WarningQuery>,
) -> Result<Json<Vec<WarningDto>>, AppError> {
    staff_only(&p)?;
    let active_only = match q.status.as_deref() {
        None | Some("active") => true,
        Some("all") => false,
        Some(other) => {
            return Err(AppError::field(
                "invalid_status",
                "status",
                format!("status 须为 active 或 all / status is active or all, not {other:?}"),
            ));
        }
    };
    let list = state
        .store
        .warnings(&p.scope, active_only, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(list.iter().map(dto).collect()))
}

async fn find(state: &AppState, p: &Principal, id: &str) -> Result<WarningRecord, AppError> {
    staff_only(p)?;
    state
        .store
        .warning(&p.scope, id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个预警 / no such warning".into()))
}

/// One warning.
#[utoipa::path(get, path = "/api/v1/warnings/{id}", tag = "events",
    params(("id" = String, Path, description = "Warning id")),
    responses(
        (status = 200, body = WarningDto),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn get_one(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<WarningDto>, AppError> {
    Ok(Json(dto(&find(&state, &p, &id).await?)))
}

/// Closes a warning that has been dealt with (supervisors).
#[utoipa::path(post, path = "/api/v1/warnings/{id}/close", tag = "events",
    params(("id" = String, Path, description = "Warning id")),
    responses(
        (status = 200, body = WarningDto),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn close(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<WarningDto>, AppError> {
    let w = find(&state, &p, &id).await?;
    p.require(&[Role::Supervisor])?;
    let now = state.clock.now_ms();
    state
        .store
        .update_warning(
            &p.scope,
            &w.id,
            WarningStatus::Closed,
            w.case_id.as_deref(),
            now,
        )
        .await?;
    Ok(Json(dto(&find(&state, &p, &id).await?)))
}

/// Opens a supervision case (督办案件) for a warning: a case in the warning's unit, registered and
/// waiting for a dispatcher, whose description carries the warning and its evidence. Once per
/// warning (supervisors).
#[utoipa::path(post, path = "/api/v1/warnings/{id}/supervise", tag = "events",
    params(("id" = String, Path, description = "Warning id")),
    responses(
        (status = 201, body = CaseDto),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
        (status = 409, body = crate::error::ErrorEnvelope, description = "A supervision case exists already"),
))]
async fn supervise(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<CaseDto>), AppError> {
    let w = find(&state, &p, &id).await?;
    p.require(&[Role::Supervisor])?;
    if let Some(c) = &w.case_id {
        return Err(AppError::Conflict(format!(
            "该预警已有督办案件 {c} / this warning has supervision case {c}"
        )));
    }
    // The case sits at the warning's first evidence case, or else inside the warning's unit.
    // Every detector names evidence cases; the supervision case sits at the first one.
    let evidence = state
        .store
        .case(
            &Scope::system("early warning: supervision case"),
            w.evidence.first().map_or("", |s| s.as_str()),
        )
        .await?
        .ok_or_else(|| {
            AppError::Conflict(
                "预警的证据案件已不存在 / the warning's evidence case is gone".into(),
            )
        })?;
    let (lon, lat) = (evidence.lon, evidence.lat);
    let place = place_of(&state, lon, lat).ok_or_else(|| {
        AppError::Conflict("预警位置不在本区 / the warning's place is outside the district".into())
    })??;
    let now = state.clock.now_ms();
    let report = Report {
        channel: Channel::Inspector,
        description: format!(
            "【督办】{}（{}）{}；证据案件 / evidence: {}",
            w.level.name_zh(),
            w.kind.name_zh(),
            w.message,
            w.evidence.join(", ")
        )
        .chars()
        .take(super::MAX_DESCRIPTION)
        .collect(),
        external_id: Some(format!("warning:{}", w.id)),
        reporter_contact: None,
        lon,
        lat,
        place,
        category: None,
        classified: None,
        queue_note: String::new(),
        attachments: Vec::new(),
        priority: None,
    };
    let mut new_case =
        open_case(&state, Some(&p.account.id), &super::actor(&p), &report, now).await?;
    new_case.history[0].note = format!(
        "warning {} — 由预警发起督办 / opened from an early warning",
        w.id
    );
    let record = new_case.record.clone();
    let history: Vec<HistoryEntry> = new_case.history.clone();
    let id_created = match super::writer::write(&state, new_case, None).await? {
        super::writer::Written::Existing(existing) => existing,
        super::writer::Written::New(_) | super::writer::Written::Linked { .. } => record.id.clone(),
    };
    state
        .store
        .update_warning(&p.scope, &w.id, w.status, Some(&id_created), now)
        .await?;
    super::after_write(&state, &record, "created", now);
    Ok((
        StatusCode::CREATED,
        Json(case_dto(&state, &p, &record, Some(history), now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: &str, created_at: i64) -> Signal {
        Signal {
            id: id.into(),
            category: None,
            sensor: false,
            lon: 114.1,
            lat: 22.55,
            area: "440303001001".into(),
            created_at,
        }
    }

    #[test]
    fn the_seen_window_keeps_what_the_detectors_can_still_count() {
        let mut seen = Seen {
            started: 0,
            signals: Default::default(),
            complete: true,
        };
        seen.add(&[at("a", 1_000), at("b", 2_000)], 5_000);
        seen.add(&[at("c", 6_500)], 5_000);
        // A pass at 6,500 still counts what came after 1,500.
        let ids: Vec<&str> = seen.signals.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        seen.recategorise("b", "E0404".into());
        assert_eq!(seen.signals[0].category.as_deref(), Some("E0404"));
        seen.recategorise("gone", "E0101".into());
        assert_eq!(seen.signals[1].category, None);
    }
}
