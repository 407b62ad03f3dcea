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
use wanxiang_core::warning::{self, Kind, Level, Signal, Warning};
use wanxiang_core::{Role, Scope, UnitCode};
use wanxiang_store::{
    CaseFilter, CaseMark, NearQuery, WarningChange, WarningRecord, WarningStatus,
};

use super::duplicates::is_sensor;
use super::window::{DAY, Seen, street_of};
use super::{CaseDto, Change, Report, case_dto, open_case, place_of};
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
        /// The case, with its category now.
        case: Signal,
        /// Its category before, if it had one.
        before: Option<String>,
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

/// Tells the detectors a case's category was set (or changed from `before`) after it came in.
pub(crate) fn observe_category(state: &AppState, c: &CaseRecord, before: Option<&str>) {
    send(
        state,
        Observation::Category {
            case: signal(c),
            before: before.map(str::to_owned),
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

/// Most cases from before the detector started that it loads at its start (the surge span's,
/// else the repeat and cross-source window's); with more, passes ask the store instead.
const PRELOAD: u32 = 200_000;
/// Most cases the detector holds in memory; past it (a flood sustained for days), it forgets
/// them all and asks the store every pass from then on.
const HELD: usize = 2_000_000;
/// Most of today's cases a surge counts (as many as the store's case listing gives).
const TODAY: usize = 1000;

/// Starts the in-memory window (see [`Seen`]) with the cases from before `now` that it needs:
/// the surge span's when there are at most [`PRELOAD`], else the repeat and cross-source
/// window's when there are that few, else none (the passes ask the store for them).
async fn start_window(state: &AppState, window_ms: i64) -> Seen {
    let started = state.clock.now_ms();
    let span_ms = i64::from(BASELINE_DAYS + 1) * DAY;
    let load = |since: i64| async move {
        match state.store.case_marks(since, started, PRELOAD).await {
            Ok(marks) if marks.len() < PRELOAD as usize => Some(marks),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "early warnings: the recent cases could not be loaded");
                None
            }
        }
    };
    let (marks, whole_span) = match load(started.saturating_sub(span_ms.max(window_ms))).await {
        Some(m) => (Some(m), true),
        None => (load(started.saturating_sub(window_ms)).await, false),
    };
    let complete = marks.is_some();
    let before = marks
        .unwrap_or_default()
        .into_iter()
        .map(mark_signal)
        .collect();
    Seen::new(
        started,
        window_ms,
        warning::detector_cell_m(&state.hub.thresholds),
        BASELINE_DAYS + 1,
        before,
        complete,
        whole_span,
    )
}

async fn detector_loop(state: AppState, mut rx: mpsc::Receiver<Observation>) {
    // Work through what is waiting in batches: one search around all of a batch's new cases and
    // one count per street and category, however many cases arrived.
    // At most one pass per PACE: under a flood of reports the batches grow instead of the
    // detector's share of the database; a warning comes at most that much later.
    // Alone on its store, the detector keeps the cases it saw in memory (see [`Seen`]); with
    // other nodes writing cases it does not see, it asks the store every pass.
    let window = {
        let t = &state.hub.thresholds;
        t.repeat_window_ms.max(t.cross_window_ms)
    };
    let mut seen = if state.store.records_changes() {
        None
    } else {
        Some(start_window(&state, window).await)
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
                Observation::Category { case, before } => {
                    match cases.iter_mut().find(|c: &&mut Signal| c.id == case.id) {
                        Some(c) => c.category = case.category,
                        None => {
                            if let Some(seen) = seen.as_mut() {
                                seen.recategorise(&case, before.as_deref());
                            }
                        }
                    }
                }
            }
        }
        if let Err(e) = detect(&state, &cases, seen.as_mut()).await {
            tracing::warn!(error = %e, "early-warning detection failed");
        }
        if seen.as_ref().is_some_and(|s| s.len() > HELD) {
            tracing::warn!(
                held = HELD,
                "early warnings: too many recent cases to hold; the detectors ask the store from now on"
            );
            seen = None;
        }
        tokio::time::sleep_until(next_pass).await;
    }
}

/// A case as the detectors see it, from its mark.
fn mark_signal(m: CaseMark) -> Signal {
    Signal {
        sensor: is_sensor(m.channel),
        id: m.id,
        category: m.category,
        lon: m.lon,
        lat: m.lat,
        area: m.area,
        created_at: m.created_at,
    }
}

/// A case as the detectors see it.
fn signal(c: &CaseRecord) -> Signal {
    mark_signal(c.into())
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
            s.add(cases);
            Some(s)
        }
        None => None,
    };
    let around: Vec<Signal> = if before_start {
        let boxes: Vec<NearQuery> = cases
            .iter()
            .map(|c| NearQuery {
                until,
                ..NearQuery::around(c.lon, c.lat, radius, c.created_at - window, 1000)
            })
            .collect();
        state
            .store
            .cases_near_any(&boxes)
            .await?
            .into_iter()
            .map(mark_signal)
            .collect()
    } else {
        Vec::new()
    };
    let mut found: Vec<(Warning, i64)> = Vec::new();
    // Each new case looks only at the cases within each detector's reach of it (a grid of cells
    // the size of the smaller radius); the detectors skip the new case itself. The window this
    // node holds keeps its cells up to date; only with cases from the store are cells drawn for
    // the pass, sized for the latitude of the batch's points (and of anything within reach of
    // them: well under a tenth of a degree).
    let drawn;
    let index: &dyn warning::Nearby = match seen {
        Some(seen) if around.is_empty() => &seen.signals,
        _ => {
            let max_lat = cases.iter().map(|c| c.lat.abs()).fold(0.0, f64::max) + 0.1;
            drawn = warning::NearIndex::new(
                around
                    .iter()
                    .chain(seen.into_iter().flat_map(|s| s.signals.iter())),
                warning::detector_cell_m(t),
                max_lat,
            );
            &drawn
        }
    };
    for c in cases {
        let (repeated, corroborated) = warning::detect_near(c, index, c.created_at, t);
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
        // Today's cases as the window holds them (borrowed), or as the store gave them.
        let asked;
        let (counts, today): (Vec<u64>, Vec<&Signal>) =
            match seen.and_then(|s| s.surge_inputs(&street, &category, now, TODAY)) {
                Some(at_hand) => at_hand,
                None => match surge_inputs(state, &street, &category, now).await? {
                    Some((counts, cases)) => {
                        asked = cases;
                        (counts, asked.iter().collect())
                    }
                    None => continue,
                },
            };
        if counts.first().copied().unwrap_or(0) < u64::from(t.surge_min_count) {
            continue;
        }
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
    store(state, found).await
}

/// The surge detector's counts for a street and category from the store (see
/// [`Seen::surge_inputs`]); `None` when today's count is under the threshold (today's cases are
/// then not read).
async fn surge_inputs(
    state: &AppState,
    street: &UnitCode,
    category: &str,
    now: i64,
) -> Result<Option<(Vec<u64>, Vec<Signal>)>, AppError> {
    let scope = Scope::Subtree(street.clone());
    let counts = state
        .store
        .daily_counts(&scope, category, now + 1, BASELINE_DAYS + 1)
        .await?;
    if counts.first().copied().unwrap_or(0) < u64::from(state.hub.thresholds.surge_min_count) {
        return Ok(None);
    }
    let today = state
        .store
        .cases(
            &scope,
            &CaseFilter {
                category: Some(category.to_owned()),
                since: Some(now + 1 - DAY),
                limit: Some(TODAY as u32),
                ..CaseFilter::default()
            },
        )
        .await?;
    Ok(Some((counts, today.iter().map(signal).collect())))
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
    store(state, vec![(w, state.clock.now_ms())]).await
}

/// The backlog detector over every unit's overdue cases; the supervision loop runs it after
/// passes that marked cases overdue. The store counts them per organisation and district and
/// gives the first of each by due time, the evidence.
pub(crate) async fn backlog(state: &AppState, now: i64) -> Result<(), AppError> {
    let scope = Scope::system("early warning: overdue backlog");
    let groups = state
        .store
        .overdue_backlog(&scope, warning::MAX_EVIDENCE as u32)
        .await?;
    let mut by_unit: std::collections::BTreeMap<String, (u64, Vec<(Option<i64>, String)>)> =
        Default::default();
    for g in groups {
        // A unit's backlog: the cases assigned to it; a department's count at the district.
        let unit = if UnitCode::parse(&g.org).is_ok() {
            g.org
        } else {
            g.district
        };
        let (count, first) = by_unit.entry(unit).or_default();
        *count += g.count;
        first.extend(g.first);
    }
    let mut found = Vec::new();
    for (unit, (count, mut first)) in by_unit {
        first.sort();
        let evidence: Vec<String> = first.into_iter().map(|(_, id)| id).collect();
        if let Some(w) = warning::backlog(&unit, count as usize, evidence, &state.hub.thresholds) {
            found.push((w, now));
        }
    }
    store(state, found).await
}

/// Stores detections (each with when it was made) in one write, which also tells the units'
/// supervisors of those that are new or raised; then the streams hear of those.
async fn store(state: &AppState, found: Vec<(Warning, i64)>) -> Result<(), AppError> {
    if found.is_empty() {
        return Ok(());
    }
    let records = found
        .into_iter()
        .map(|(w, now)| {
            let area =
                UnitCode::parse(&w.area).map_err(|e| AppError::Unavailable(e.to_string()))?;
            Ok(WarningRecord {
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
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let outbox = state.hub.webhook.is_some();
    let stored = state.store.upsert_warnings(&records, outbox).await?;
    let mut told = false;
    for (stored, change) in stored {
        let kind = match change {
            WarningChange::Unchanged => continue,
            WarningChange::New => "warning_new",
            WarningChange::Raised => "warning_raised",
        };
        told = true;
        metrics::counter!("wanxiang_warnings_total", "kind" => stored.kind.as_str(), "level" => stored.level.as_str()).increment(1);
        let now = stored.updated_at;
        crate::bus::publish(state, Change::warning(&stored, kind, now));
    }
    if told && outbox {
        state.outbox_wake.notify_one();
    }
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
        super::writer::Written::New(_) | super::writer::Written::Linked { .. } => {
            super::after_write(&state, &record, "created", now);
            record.id.clone()
        }
    };
    state
        .store
        .update_warning(&p.scope, &w.id, w.status, Some(&id_created), now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(case_dto(&state, &p, &record, Some(history), now)),
    ))
}
