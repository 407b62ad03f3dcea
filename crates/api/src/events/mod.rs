//! The event hub's HTTP face (一网统管): taking a report in, dispatching it by location and
//! category, and moving the case through its lifecycle. Decisions are the core's (`case::step`,
//! `dispatch::decide`, `category::Limit::due`); this module checks who may act, stores the result
//! and its history, and answers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::case::{
    self, Alarm, CaseRecord, Channel, Command, CommandKind, Effect, HistoryEntry, Notice,
    Satisfaction, Stage, Supervision,
};
use wanxiang_core::category::{Categories, Category, DEFAULT_CATEGORIES, Limit, Priority};
use wanxiang_core::dispatch::{Named, Place, decide};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::sla::Calendar;
use wanxiang_core::{Role, Scope};
use wanxiang_geo::Crs;
use wanxiang_store::{CaseFilter, NewCase, SupervisionMark};

use crate::auth::Principal;
use crate::people::iso;
use crate::{AppError, AppState};

/// What the event hub decides with: the category tree, the working calendar and the
/// free-text classifier.
#[derive(Debug, Clone)]
pub struct Hub {
    /// Categories and the responsibility list.
    pub categories: Categories,
    /// Holidays and make-up working days.
    pub calendar: Calendar,
    /// Classifies reports that come without a category.
    pub classifier: &'static wanxiang_classify::Classifier,
    /// Reports classified at least this confidently are dispatched at once; the rest wait for a
    /// dispatcher with the top suggestions.
    pub auto_dispatch_confidence: f64,
    /// A report of the same category within this many metres of an open case … (0: never link).
    pub duplicate_radius_m: f64,
    /// … reported at most this long after it (ms) is linked to it instead of opening a case.
    pub duplicate_window_ms: i64,
    /// The early-warning detectors' thresholds.
    pub thresholds: wanxiang_core::warning::Thresholds,
    /// Largest attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    /// Most attachments on one report or step.
    pub max_attachments: usize,
    /// Where notifications are also POSTed (an SMS/WeChat gateway), if anywhere.
    pub webhook: Option<Webhook>,
}

/// The social entities the dispatch rules weigh (those whose service area covers a report's
/// place), read from the store at most every [`EntityCache::TTL`] rather than per report; an
/// entity registered on this node clears it at once (on another node, within the TTL).
#[derive(Debug, Default)]
pub struct EntityCache {
    read: std::sync::RwLock<Option<(std::time::Instant, Arc<Vec<wanxiang_core::Entity>>)>>,
}

impl EntityCache {
    /// How long a read stays fresh.
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    /// Every entity, from memory when fresh.
    pub async fn get(
        &self,
        state: &AppState,
    ) -> Result<Arc<Vec<wanxiang_core::Entity>>, wanxiang_store::StoreError> {
        if let Some((at, list)) = &*self.read.read().expect("not poisoned")
            && at.elapsed() < Self::TTL
        {
            return Ok(list.clone());
        }
        // Which entities serve the place is a question about the whole district, asked by the
        // dispatch rules themselves: an explicit system scope, recorded in the case history.
        let list = Arc::new(
            state
                .store
                .entities(&Scope::system("dispatch rules"))
                .await?,
        );
        *self.read.write().expect("not poisoned") = Some((std::time::Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forgets the list (an entity was registered or changed).
    pub fn clear(&self) {
        *self.read.write().expect("not poisoned") = None;
    }
}

/// The notification webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The receiver's URL (http or https).
    pub url: String,
    /// Signs each body (HMAC-SHA256, header `X-Wanxiang-Signature: sha256=<hex>`) so the
    /// receiver can tell it is us; empty: unsigned.
    pub secret: String,
    /// Attempts before a delivery is dead (the dead-letter list).
    pub max_attempts: u32,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            categories: Categories::parse(DEFAULT_CATEGORIES)
                .expect("the shipped category file is valid"),
            calendar: Calendar::default(),
            classifier: wanxiang_classify::default_classifier(),
            ..Hub::settings()
        }
    }
}

impl Hub {
    /// The default for `events.auto_dispatch_confidence`.
    pub const DEFAULT_CONFIDENCE: f64 = 0.6;

    /// Default settings around an empty category tree and calendar.
    fn settings() -> Hub {
        Hub {
            categories: Categories::default(),
            calendar: Calendar::default(),
            classifier: wanxiang_classify::default_classifier(),
            auto_dispatch_confidence: Hub::DEFAULT_CONFIDENCE,
            duplicate_radius_m: 50.0,
            duplicate_window_ms: 24 * 3_600_000,
            thresholds: wanxiang_core::warning::Thresholds::default(),
            max_attachment_bytes: 10 << 20,
            max_attachments: 9,
            webhook: None,
        }
    }

    /// The classifier's suggestions for a text, limited to categories this deployment has.
    pub fn suggest(&self, text: &str, n: usize) -> Vec<wanxiang_classify::Suggestion> {
        self.classifier
            .classify(text)
            .into_iter()
            .filter(|s| self.categories.get(&s.category).is_some())
            .take(n)
            .collect()
    }
}

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 4000;
/// The limit for dispatching a case nobody could classify (the dispatchers' manual queue).
const MANUAL_DISPATCH: Limit = Limit {
    kind: wanxiang_core::category::LimitKind::Timer(wanxiang_core::sla::TimerKind::WorkingHours),
    amount: 2,
};

pub mod attachments;
pub mod duplicates;
pub mod warnings;
mod window;
pub(crate) mod writer;

pub use writer::IntakeWriter;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(attachments::routes())
        .merge(duplicates::routes())
        .merge(warnings::routes())
        .routes(routes!(list_categories))
        .routes(routes!(list_events, create_event))
        .routes(routes!(get_event))
        .routes(routes!(act))
        .routes(routes!(inbox))
        .routes(routes!(stats))
        .routes(routes!(unit_stats))
        .routes(routes!(stream))
}

/// A change to a case, a warning or a sensor alarm, as broadcast to the SSE streams. Carries the
/// scoping columns so each subscriber's scope can judge it without a store read.
#[derive(Debug, Clone)]
pub struct Change {
    /// The case's, warning's or alarm's id.
    pub id: String,
    /// What happened: for a case `created`, an action's name, `warn`, `overdue`, `link`,
    /// `unlink`, `reprioritize`; for a warning `warning_new` or `warning_raised`; for an alarm
    /// `raised`, `escalated`, `deescalated`, `case_opened`, `acknowledged`, `cleared`.
    pub kind: String,
    /// What changed, with what each kind of subscriber is told of it.
    pub subject: Subject,
    /// The responsible organisation (a case's assignee, an alarm's device owner), if any.
    pub assignee: Option<String>,
    /// Where it is (its finest unit).
    pub area: wanxiang_core::UnitCode,
    /// The reporting account.
    pub reporter: Option<String>,
    /// When (Unix ms).
    pub at: i64,
}

/// The thing a [`Change`] is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A case, at its stage after the change.
    Case {
        /// The stage.
        stage: Stage,
    },
    /// An early warning, at its level.
    Warning {
        /// The level.
        level: wanxiang_core::warning::Level,
    },
    /// A sensor alarm after the change.
    Alarm {
        /// Its device.
        device_id: String,
        /// Its rule.
        rule: String,
        /// Its level.
        level: wanxiang_core::alarm::Level,
        /// Its status.
        status: wanxiang_core::alarm::AlarmStatus,
        /// The case it opened, if any.
        case_id: Option<String>,
    },
}

impl Change {
    fn of(c: &CaseRecord, kind: &str, at: i64) -> Change {
        Change {
            id: c.id.clone(),
            kind: kind.to_owned(),
            subject: Subject::Case {
                stage: c.lifecycle.stage,
            },
            assignee: c.lifecycle.assignee.clone(),
            area: c.area.clone(),
            reporter: c.reporter.clone(),
            at,
        }
    }

    /// A warning's change: seen by staff of the units above and at the warning's unit.
    fn warning(w: &wanxiang_store::WarningRecord, kind: &str, at: i64) -> Change {
        Change {
            id: w.id.clone(),
            kind: kind.to_owned(),
            subject: Subject::Warning { level: w.level },
            assignee: None,
            area: w.area.clone(),
            reporter: None,
            at,
        }
    }

    /// An alarm's change: seen by whoever sees its device (staff of the units above its place,
    /// and its owner).
    pub(crate) fn alarm(a: &wanxiang_store::AlarmRecord, kind: &str, at: i64) -> Change {
        Change {
            id: a.id.clone(),
            kind: kind.to_owned(),
            subject: Subject::Alarm {
                device_id: a.device_id.clone(),
                rule: a.rule.clone(),
                level: a.level,
                status: a.status,
                case_id: a.case_id.clone(),
            },
            assignee: Some(a.org.clone()),
            area: a.area.clone(),
            reporter: None,
            at,
        }
    }

    /// Whether a subscriber with this scope may see it: the same rule the store applies.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        scope.admits(
            &self.area,
            self.assignee.as_deref().unwrap_or(""),
            self.reporter.as_deref(),
        )
    }

    /// The SSE event: its name and its JSON data.
    fn event(&self) -> (&'static str, serde_json::Value) {
        use serde_json::json;
        match &self.subject {
            Subject::Case { stage } => (
                "case",
                json!({ "id": self.id, "kind": self.kind, "stage": stage.as_str(), "at": iso(self.at) }),
            ),
            Subject::Warning { level } => (
                "warning",
                json!({ "id": self.id, "kind": self.kind, "level": level.as_str(), "area": self.area.as_str(), "at": iso(self.at) }),
            ),
            Subject::Alarm {
                device_id,
                rule,
                level,
                status,
                case_id,
            } => (
                "alarm",
                json!({ "id": self.id, "kind": self.kind, "device_id": device_id, "rule": rule, "level": level.as_str(), "status": status.as_str(), "case_id": case_id, "area": self.area.as_str(), "at": iso(self.at) }),
            ),
        }
    }
}

/// Server-Sent Events: every change in the caller's jurisdiction as it happens — cases
/// (`event: case`, data `{ "id", "kind", "stage", "at" }`), early warnings (`event: warning`,
/// `{ "id", "kind", "level", "area", "at" }`) and sensor alarms (`event: alarm`, `{ "id", "kind",
/// "device_id", "rule", "level", "status", "case_id", "area", "at" }`). A subscriber that falls
/// behind gets `event: lagged` and should reload its lists.
#[utoipa::path(get, path = "/api/v1/stream", tag = "events", responses(
    (status = 200, description = "text/event-stream", content_type = "text/event-stream"),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn stream(
    State(state): State<AppState>,
    p: Principal,
) -> axum::response::Sse<
    impl tokio_stream::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio_stream::StreamExt;
    use tokio_stream::wrappers::BroadcastStream;
    let scope = p.scope.clone();
    let events =
        BroadcastStream::new(state.changes.subscribe()).filter_map(move |item| match item {
            Ok(change) if change.visible_to(&scope) => {
                let (name, data) = change.event();
                Some(Ok(Event::default().event(name).data(data.to_string())))
            }
            Ok(_) => None,
            Err(_) => Some(Ok(Event::default().event("lagged").data("{}"))),
        });
    let hello = tokio_stream::once(Ok(Event::default().event("ready").data("{}")));
    // Ends when the node shuts down (the client reconnects, to another node behind a balancer).
    let closing = tokio_stream::wrappers::WatchStream::new(state.closing.subscribe())
        .filter(|closing| *closing)
        .map(|_| None);
    let events = events
        .map(Some)
        .merge(closing)
        .take_while(Option::is_some)
        .map(|e| e.expect("taken while some"));
    Sse::new(hello.chain(events)).keep_alive(KeepAlive::default())
}

/// A category on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryDto {
    /// Code such as `E0509`.
    code: String,
    /// Its class (`E05`).
    class: String,
    /// Chinese name.
    name_zh: String,
    /// English name.
    name_en: String,
    /// `urgent`, `high`, `normal` or `low`.
    priority: &'static str,
    /// Who handles it, in words.
    responsible: String,
    /// Who handles it, for machines: `community`, `street`, `district`, `department:<code>` or
    /// `entity:<kind>` (a social entity of that kind serving the place).
    responsible_key: String,
}

/// A class with its categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassDto {
    /// Code such as `E05`.
    code: String,
    /// Chinese name.
    name_zh: String,
    /// English name.
    name_en: String,
    /// Its minor categories.
    categories: Vec<CategoryDto>,
}

/// The category tree (classes of the standard and Luohu's additions) with responsibilities.
#[utoipa::path(get, path = "/api/v1/categories", tag = "events", responses((status = 200, body = Vec<ClassDto>)))]
async fn list_categories(State(state): State<AppState>) -> Json<Vec<ClassDto>> {
    let tree = &state.hub.categories;
    Json(
        tree.classes
            .values()
            .map(|class| ClassDto {
                code: class.code.clone(),
                name_zh: class.name_zh.clone(),
                name_en: class.name_en.clone(),
                categories: tree
                    .categories
                    .values()
                    .filter(|c| c.class == class.code)
                    .map(|c| CategoryDto {
                        code: c.code.clone(),
                        class: c.class.clone(),
                        name_zh: c.name_zh.clone(),
                        name_en: c.name_en.clone(),
                        priority: c.priority.as_str(),
                        responsible: c.responsible.describe(),
                        responsible_key: c.responsible.key(),
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// A point in a report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LocationInput {
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// `wgs84` (default), `gcj02` or `bd09`.
    pub crs: Option<String>,
}

/// A report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewEvent {
    /// `resident_app`, `hotline_12345`, `inspector`, `sensor`, `video_ai`, `open311` or `import`.
    pub channel: String,
    /// Where.
    pub location: LocationInput,
    /// A minor category code (`GET /api/v1/categories`); without it the case waits in the
    /// dispatchers' manual queue.
    pub category: Option<String>,
    /// What is wrong, 1 to 4,000 characters.
    pub description: String,
    /// How to reach the reporter; shown to staff only.
    pub reporter_contact: Option<String>,
    /// The sender's own id (a 12345 work-order number): sending it again returns the same case.
    pub external_id: Option<String>,
    /// Ids of files uploaded with `POST /api/v1/attachments` (photos of the scene), at most
    /// `events.max_attachments`.
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
}

/// A case's location on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationDto {
    /// WGS-84 longitude.
    lon: f64,
    /// WGS-84 latitude.
    lat: f64,
    /// The finest unit holding it (usually a grid).
    unit: String,
    /// That unit's name.
    unit_name: Option<String>,
}

/// A category suggested by the classifier.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionDto {
    /// Category code.
    category: String,
    /// Its Chinese name.
    name: String,
    /// Posterior probability, 0–1.
    confidence: f64,
}

/// One history line on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDto {
    /// Position.
    seq: i64,
    /// When (RFC 3339).
    at: String,
    /// Who, with role and unit.
    actor: String,
    /// Stage before.
    from: &'static str,
    /// Stage after.
    to: &'static str,
    /// What was done.
    action: String,
    /// Reason, note or target.
    note: String,
}

/// A case on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseDto {
    /// Id (the case number).
    id: String,
    /// How it arrived.
    channel: &'static str,
    /// The sender's id, if any.
    external_id: Option<String>,
    /// Minor category code.
    category: Option<String>,
    /// Its Chinese name.
    category_name: Option<String>,
    /// Its English name.
    category_name_en: Option<String>,
    /// What the reporter wrote.
    description: String,
    /// Where.
    location: LocationDto,
    /// The responsible organisation's key (unit code, department code or `entity:<id>`).
    assignee: Option<String>,
    /// Stage (wire name).
    stage: &'static str,
    /// Stage in Chinese.
    stage_zh: &'static str,
    /// Urgency.
    priority: &'static str,
    /// When the current stage falls due (RFC 3339).
    due_at: Option<String>,
    /// Whether the current stage is past its due time.
    overdue: bool,
    /// Why it went where it went.
    explanation: String,
    /// The reporter's contact; only staff see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reporter_contact: Option<String>,
    /// The reporter's rating of the latest closing.
    rating: Option<&'static str>,
    /// Whether the caller filed this case (only its reporter rates it; a resident whose report
    /// was linked to it follows it).
    reported_by_me: bool,
    /// Failed verifications.
    reworks: u32,
    /// Redos after unsatisfied ratings.
    redos: u32,
    /// Returns to the dispatcher.
    returns: u32,
    /// A pending extension's requested due time (RFC 3339).
    extension_requested_until: Option<String>,
    /// What the case allows now (whether the caller may do it is checked on the action).
    allowed_actions: Vec<&'static str>,
    /// For an unclassified case: the classifier's top three categories with confidences.
    #[serde(skip_serializing_if = "Option::is_none")]
    suggestions: Option<Vec<SuggestionDto>>,
    /// Grows with every change.
    version: i64,
    /// Reported (RFC 3339).
    created_at: String,
    /// Last changed (RFC 3339).
    updated_at: String,
    /// The full history, oldest first (on single-case reads); in the answer to a report that
    /// joined the case as a duplicate, only its last 10 lines (`history_total` says how many
    /// there are; `GET /api/v1/events/{id}` gives them all).
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryDto>>,
    /// How many lines the history has (they are numbered `seq` 1, 2, … without gaps), where
    /// `history` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    history_total: Option<i64>,
    /// With the rating: did the reporter say the problem was solved?
    resolved: Option<bool>,
    /// Photos and documents, with the history line each came with (on single-case reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    attachments: Option<Vec<attachments::AttachmentDto>>,
    /// How many duplicate reports are linked to it (on single-case reads; staff list them at
    /// `GET /api/v1/events/{id}/reports`).
    #[serde(skip_serializing_if = "Option::is_none")]
    linked_reports: Option<usize>,
    /// The sensor alarms that opened or joined it, with their readings around the alarm (on
    /// single-case reads, for staff).
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor_alarms: Option<Vec<crate::sensing::AlarmEvidence>>,
    /// On a report that joined this case as a duplicate: the report's own id.
    #[serde(skip_serializing_if = "Option::is_none")]
    linked_report_id: Option<String>,
    /// On a report that joined this case as a duplicate: metres from the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_distance_m: Option<f64>,
}

fn is_staff(p: &Principal) -> bool {
    p.account
        .roles
        .iter()
        .any(|r| !matches!(r, Role::Resident | Role::EntityMember))
}

fn case_dto(
    state: &AppState,
    p: &Principal,
    c: &CaseRecord,
    history: Option<Vec<HistoryEntry>>,
    now: i64,
) -> CaseDto {
    let atlas = state.atlas.current();
    let category = c
        .category
        .as_deref()
        .and_then(|code| state.hub.categories.get(code));
    // A resident following someone else's case (their report was linked to it as a duplicate)
    // sees its progress, not the other residents' words.
    let follower = !is_staff(p) && c.reporter.as_deref() != Some(p.account.id.as_str());
    let others = |text: String, actor_id: Option<&str>| {
        if follower && actor_id != Some(p.account.id.as_str()) {
            String::new()
        } else {
            text
        }
    };
    CaseDto {
        id: c.id.clone(),
        channel: c.channel.as_str(),
        external_id: c.external_id.clone(),
        category: c.category.clone(),
        category_name: category.map(|x| x.name_zh.clone()),
        category_name_en: category.map(|x| x.name_en.clone()),
        description: if follower {
            "（其他市民的上报，你的上报已并入 / another resident's report, which yours joined）"
                .into()
        } else {
            c.description.clone()
        },
        location: LocationDto {
            lon: c.lon,
            lat: c.lat,
            unit: c.area.to_string(),
            unit_name: atlas
                .as_ref()
                .and_then(|a| a.unit(&c.area))
                .map(|u| u.name.clone()),
        },
        assignee: c.lifecycle.assignee.clone(),
        stage: c.lifecycle.stage.as_str(),
        stage_zh: c.lifecycle.stage.name_zh(),
        priority: c.priority.as_str(),
        due_at: c.due_at.map(iso),
        overdue: c.lifecycle.stage.is_open()
            && c.lifecycle.stage != Stage::Suspended
            && c.due_at.is_some_and(|d| d < now),
        explanation: c.explanation.clone(),
        reporter_contact: if is_staff(p) {
            c.reporter_contact.clone()
        } else {
            None
        },
        rating: c.lifecycle.rating.map(|r| r.as_str()),
        reported_by_me: c.reporter.as_deref() == Some(p.account.id.as_str()),
        reworks: c.lifecycle.reworks,
        redos: c.lifecycle.redos,
        returns: c.lifecycle.returns,
        extension_requested_until: c.lifecycle.pending_extension.as_ref().map(|e| iso(e.until)),
        suggestions: (c.category.is_none()).then(|| {
            state
                .hub
                .suggest(&c.description, 3)
                .into_iter()
                .map(|s| SuggestionDto {
                    name: state
                        .hub
                        .categories
                        .get(&s.category)
                        .map(|x| x.name_zh.clone())
                        .unwrap_or_default(),
                    category: s.category,
                    confidence: s.confidence,
                })
                .collect()
        }),
        allowed_actions: case::allowed(&c.lifecycle)
            .into_iter()
            .map(|k| k.as_str())
            .collect(),
        version: c.version,
        created_at: iso(c.created_at),
        updated_at: iso(c.updated_at),
        history_total: history.as_ref().map(|h| h.last().map_or(0, |e| e.seq)),
        history: history.map(|h| {
            h.into_iter()
                .map(|e| HistoryDto {
                    seq: e.seq,
                    at: iso(e.at),
                    actor: if follower
                        && e.actor_id.as_deref() != Some(p.account.id.as_str())
                        && matches!(e.command.as_str(), "report" | "link" | "rate")
                    {
                        "另一位市民 / another resident".into()
                    } else {
                        e.actor
                    },
                    from: e.from.as_str(),
                    to: e.to.as_str(),
                    note: others(e.note, e.actor_id.as_deref()),
                    action: e.command,
                })
                .collect()
        }),
        resolved: c.lifecycle.resolved,
        attachments: None,
        linked_reports: None,
        sensor_alarms: None,
        linked_report_id: None,
        duplicate_distance_m: None,
    }
}

/// A case as a single read shows it: with its history, attachments and linked reports.
async fn case_detail(
    state: &AppState,
    p: &Principal,
    c: &CaseRecord,
    now: i64,
) -> Result<CaseDto, AppError> {
    // One read for all of it (one transaction on one connection).
    let parts = state
        .store
        .case_parts(&p.scope, &c.id, is_staff(p))
        .await?
        .unwrap_or_default();
    detail_of(state, p, c, parts, now).await
}

/// The answer to a report linked to `c`: the case's detail from the parts the intake's
/// transaction read, shown as [`case_detail`] would show them. The store's rule for who sees a
/// case's parts is applied here to the case in hand: a resident (own scope) always sees the
/// case their report just joined; staff see its parts when the case is in their scope.
async fn linked_detail(
    state: &AppState,
    p: &Principal,
    c: &CaseRecord,
    mut parts: wanxiang_store::CaseParts,
    now: i64,
) -> Result<CaseDto, AppError> {
    let own = matches!(p.scope.filter(), wanxiang_core::ScopeFilter::Owner(_));
    let org = c.lifecycle.assignee.as_deref().unwrap_or_default();
    if !own && !p.scope.admits(&c.area, org, c.reporter.as_deref()) {
        parts = wanxiang_store::CaseParts::default();
    }
    if !is_staff(p) {
        parts.alarms.clear();
    }
    detail_of(state, p, c, parts, now).await
}

/// A case's detail from its parts (alarms only in a staff member's parts).
async fn detail_of(
    state: &AppState,
    p: &Principal,
    c: &CaseRecord,
    parts: wanxiang_store::CaseParts,
    now: i64,
) -> Result<CaseDto, AppError> {
    let staff = is_staff(p);
    let wanxiang_store::CaseParts {
        history,
        attachments: attached,
        linked_reports,
        alarms,
    } = parts;
    let evidence = if staff {
        Some(crate::sensing::case_evidence(state, &alarms).await?)
    } else {
        None
    };
    let mut dto = case_dto(state, p, c, Some(history), now);
    dto.attachments = Some(
        attached
            .iter()
            .map(attachments::AttachmentDto::of)
            .collect(),
    );
    dto.linked_reports = Some(usize::try_from(linked_reports).unwrap_or(usize::MAX));
    if let Some(evidence) = evidence {
        dto.sensor_alarms = (!evidence.is_empty()).then_some(evidence);
    }
    Ok(dto)
}

pub(crate) fn actor(p: &Principal) -> String {
    let roles: Vec<&str> = p.account.roles.iter().map(|r| r.as_str()).collect();
    format!(
        "{} ({}, {})",
        p.account.username,
        roles.join(","),
        p.account.org.key()
    )
}

/// The limit of the stage a case has just entered, at its priority.
fn stage_limit(category: Option<&Category>, stage: Stage, priority: Priority) -> Option<Limit> {
    let Some(c) = category else {
        return (stage == Stage::Registered).then_some(MANUAL_DISPATCH);
    };
    let l = &c.limits;
    let limit = match stage {
        Stage::Registered => l.dispatch,
        Stage::Dispatched => l.accept,
        Stage::Accepted | Stage::InProgress => l.handle,
        Stage::Handled => l.verify,
        _ => return None,
    };
    Some(limit.for_priority(priority))
}

fn check_channel(p: &Principal, channel: Channel) -> Result<(), AppError> {
    let ok = match channel {
        Channel::ResidentApp => true,
        Channel::Inspector => p.has(Role::Inspector),
        Channel::Sensor | Channel::VideoAi => p.has(Role::Operator) || p.has(Role::Admin),
        Channel::Hotline12345 | Channel::Open311 | Channel::Import => {
            p.has(Role::Dispatcher) || p.has(Role::Admin)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "你的角色不能通过 {} 渠道上报 / your roles cannot report through {}",
            channel.as_str(),
            channel.as_str()
        )))
    }
}

/// Takes a report in: locates it, registers it, and — when its category is known — dispatches it
/// by the responsibility list, explaining the decision. Sending the same `external_id` on the
/// same channel again answers 200 with the case created the first time.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = NewEvent, responses(
    (status = 201, body = CaseDto, description = "Created"),
    (status = 200, body = CaseDto, description = "Already submitted with this external_id"),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Outside the district, unknown category or crs, description too long …"),
    (status = 401, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope, description = "Channel not open to the caller's roles"),
))]
async fn create_event(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<NewEvent>,
) -> Result<(StatusCode, Json<CaseDto>), AppError> {
    let channel = Channel::parse(&req.channel).ok_or_else(|| {
        AppError::field(
            "invalid_channel",
            "channel",
            format!("未知渠道 {:?} / unknown channel", req.channel),
        )
    })?;
    check_channel(&p, channel)?;
    // The resident-facing intake is the public one: limited per account.
    if !is_staff(&p) {
        state
            .throttle
            .intake_check(&p.account.id)
            .map_err(AppError::TooManyRequests)?;
    }
    let reporter = Reporter {
        id: p.account.id.clone(),
        actor: actor(&p),
    };
    let now = state.clock.now_ms();
    match take_in(&state, Some(&reporter), channel, &req).await? {
        // Everything the answer shows is at hand: no store reads after the write.
        Intake::New(record, history, attached) => {
            let mut dto = case_dto(&state, &p, &record, Some(history), now);
            dto.attachments = Some(
                attached
                    .iter()
                    .map(attachments::AttachmentDto::of)
                    .collect(),
            );
            dto.linked_reports = Some(0);
            Ok((StatusCode::CREATED, Json(dto)))
        }
        Intake::Linked {
            case,
            parts,
            report_id,
            distance_m,
        } => {
            let mut dto = match parts {
                Some(parts) => linked_detail(&state, &p, &case, *parts, now).await?,
                None => case_detail(&state, &p, &case, now).await?,
            };
            // The case's latest progress, however many reports joined it (the store reads
            // only these lines when it answers with the parts).
            if let Some(h) = dto.history.as_mut() {
                h.drain(..h.len().saturating_sub(wanxiang_store::JOINED_HISTORY_LINES));
            }
            dto.linked_report_id = Some(report_id);
            dto.duplicate_distance_m = Some((distance_m * 10.0).round() / 10.0);
            Ok((StatusCode::CREATED, Json(dto)))
        }
        Intake::Existing(id) => {
            let existing = state.store.case(&p.scope, &id).await?.ok_or_else(|| {
                AppError::Conflict(
                    "该外部编号已提交过 / this external_id was submitted before".into(),
                )
            })?;
            let history = state.store.case_history(&p.scope, &id).await?;
            Ok((
                StatusCode::OK,
                Json(case_dto(&state, &p, &existing, Some(history), now)),
            ))
        }
    }
}

/// Who reports, for [`take_in`].
#[derive(Debug, Clone)]
pub struct Reporter {
    /// The account id.
    pub id: String,
    /// Username, roles and unit in words, for the history.
    pub actor: String,
}

/// What [`take_in`] did.
#[derive(Debug)]
pub enum Intake {
    /// A new case, with its first history lines and the attachments it came with.
    New(
        Box<CaseRecord>,
        Vec<HistoryEntry>,
        Vec<wanxiang_store::AttachmentMeta>,
    ),
    /// The channel and external id were seen before: that case's id.
    Existing(String),
    /// The report repeats an open case nearby: it was linked to that case (its reporter
    /// follows it) instead of opening another.
    Linked {
        /// The case it joined.
        case: Box<CaseRecord>,
        /// Its history, attachments, linked reports and alarms as the intake's transaction
        /// left them (alarms are for staff only), when the store gave them.
        parts: Option<Box<wanxiang_store::CaseParts>>,
        /// The linked report's own id (staff can unlink it by this id).
        report_id: String,
        /// How far from the case, in metres.
        distance_m: f64,
    },
}

/// A report that passed validation, located and (if it could be) classified: what the case or
/// linked report is made of.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// How it came in.
    pub channel: Channel,
    /// Trimmed description.
    pub description: String,
    /// The sender's number.
    pub external_id: Option<String>,
    /// Private contact.
    pub reporter_contact: Option<String>,
    /// WGS-84 point.
    pub lon: f64,
    /// WGS-84 point.
    pub lat: f64,
    /// The units holding it.
    pub place: Place,
    /// Its category, given or classified confidently.
    pub category: Option<Category>,
    /// The classifier's answer when it chose the category.
    pub classified: Option<wanxiang_classify::Suggestion>,
    /// For the manual queue: the suggestions, in words.
    pub queue_note: String,
    /// Uploads to attach (checked).
    pub attachments: Vec<wanxiang_store::AttachmentMeta>,
    /// A priority that overrides the category's (a sensor alarm's, from its level).
    pub priority: Option<Priority>,
}

impl Report {
    /// The finest unit holding the point.
    pub fn finest(&self) -> wanxiang_core::UnitCode {
        let p = &self.place;
        p.grid
            .as_ref()
            .or(p.community.as_ref())
            .or(p.street.as_ref())
            .unwrap_or(&p.district)
            .code
            .clone()
    }
}

/// A location's coordinate system and point, checked (shared by reports and devices).
pub(crate) fn checked_point(location: &LocationInput) -> Result<(Crs, f64, f64), AppError> {
    let crs = match location.crs.as_deref() {
        None | Some("") => Crs::Wgs84,
        Some(t) => Crs::parse(t).ok_or_else(|| {
            AppError::field(
                "invalid_crs",
                "location.crs",
                format!("未知坐标系 {t:?} / unknown crs: use wgs84, gcj02 or bd09"),
            )
        })?,
    };
    let (lon, lat) = (location.lon, location.lat);
    if !(lon.is_finite() && lat.is_finite() && lon.abs() <= 180.0 && lat.abs() <= 90.0) {
        return Err(AppError::field(
            "coordinate_out_of_range",
            "location",
            "经纬度超出范围 / longitude or latitude out of range",
        ));
    }
    Ok((crs, lon, lat))
}

/// Checks a report's fields, locates it and classifies it if it has no category.
async fn prepare(
    state: &AppState,
    reporter: Option<&Reporter>,
    channel: Channel,
    req: &NewEvent,
) -> Result<Report, AppError> {
    let description = req.description.trim().to_owned();
    let chars = description.chars().count();
    if chars == 0 || chars > MAX_DESCRIPTION {
        return Err(AppError::field(
            "invalid_description",
            "description",
            format!(
                "描述须为 1-{MAX_DESCRIPTION} 个字符 / a description has 1 to {MAX_DESCRIPTION} characters, not {chars}"
            ),
        ));
    }
    let short = |v: &Option<String>, field: &'static str| -> Result<Option<String>, AppError> {
        match v.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
            Some(x) if x.chars().count() > 64 => Err(AppError::field(
                "too_long",
                field,
                format!("{field} 最多 64 个字符 / at most 64 characters"),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let external_id = short(&req.external_id, "external_id")?;
    let reporter_contact = short(&req.reporter_contact, "reporter_contact")?;
    let (crs, lon, lat) = checked_point(&req.location)?;
    let category = match req
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(code) => Some(state.hub.categories.get(code).cloned().ok_or_else(|| {
            AppError::field(
                "unknown_category",
                "category",
                format!("未知类别 {code:?} / unknown category (see GET /api/v1/categories)"),
            )
        })?),
    };
    let attachments = match (reporter, req.attachments.as_deref()) {
        (_, None) => Vec::new(),
        (Some(r), ids) => attachments::check(state, &r.id, ids).await?,
        (None, Some(_)) => {
            return Err(AppError::field(
                "invalid_field",
                "attachments",
                "批量导入不能带附件 / an import cannot carry attachments",
            ));
        }
    };
    // Without a category, the classifier reads the description: confident answers are used, the
    // rest go to the dispatchers with the top three suggestions.
    let mut classified = None;
    let mut queue_note = String::new();
    let category = match category {
        Some(c) => Some(c),
        None => {
            let suggestions = state.hub.suggest(&description, 3);
            match suggestions.first() {
                Some(top) if top.confidence >= state.hub.auto_dispatch_confidence => {
                    classified = Some(top.clone());
                    state.hub.categories.get(&top.category).cloned()
                }
                _ => {
                    let list: Vec<String> = suggestions
                        .iter()
                        .map(|s| format!("{} {:.2}", s.category, s.confidence))
                        .collect();
                    queue_note = format!(" (suggestions / 建议: {})", list.join(", "));
                    None
                }
            }
        }
    };
    let (wlon, wlat) = crs.to_wgs84(lon, lat);
    let place = place_of(state, wlon, wlat).ok_or_else(|| AppError::BadRequest {
        code: "outside_district",
        message: format!(
            "该点 ({lon}, {lat}, {crs}) 不在本区范围内 / the point is outside the district"
        ),
        field: Some("location"),
    })??;
    Ok(Report {
        channel,
        description,
        external_id,
        reporter_contact,
        lon: wlon,
        lat: wlat,
        place,
        category,
        classified,
        queue_note,
        attachments,
        priority: None,
    })
}

/// The units holding a WGS-84 point; `None` outside the district.
pub(crate) fn place_of(state: &AppState, lon: f64, lat: f64) -> Option<Result<Place, AppError>> {
    let atlas = match crate::units::atlas(state) {
        Ok(a) => a,
        Err(e) => return Some(Err(e)),
    };
    let found = atlas.locate(lon, lat);
    let named = |u: Option<&wanxiang_core::Unit>| {
        u.map(|u| Named {
            code: u.code.clone(),
            name: u.name.clone(),
        })
    };
    let district = named(found.district)?;
    Some(Ok(Place {
        district,
        street: named(found.street),
        community: named(found.community),
        grid: named(found.grid),
    }))
}

/// Makes the case a report opens: registered and, when classified, dispatched by the
/// responsibility list with the decision explained; its first history lines, deadline and the
/// notifications to send with it.
pub(crate) async fn open_case(
    state: &AppState,
    reporter_id: Option<&str>,
    who: &str,
    report: &Report,
    now: i64,
) -> Result<NewCase, AppError> {
    let category = report.category.clone();
    let mut history = vec![HistoryEntry {
        seq: 1,
        at: now,
        actor_id: reporter_id.map(str::to_owned),
        actor: who.to_owned(),
        from: Stage::Reported,
        to: Stage::Reported,
        command: "report".into(),
        note: report.channel.as_str().into(),
    }];
    let mut lifecycle = case::Case::reported();
    let mut apply =
        |lifecycle: &mut case::Case, command: Command, actor: String, actor_id: Option<String>| {
            let (next, t, _) =
                case::step(lifecycle, &command, now).expect("intake steps are always legal");
            history.push(HistoryEntry {
                seq: history.len() as i64 + 1,
                at: now,
                actor_id,
                actor,
                from: t.from,
                to: t.to,
                command: t.command.as_str().into(),
                note: t.note,
            });
            *lifecycle = next;
        };
    apply(
        &mut lifecycle,
        Command::Register,
        "system (intake)".into(),
        None,
    );
    let (explanation, area) = match &category {
        Some(cat) => {
            // Only categories handled by social entities need the entities.
            let entities = if matches!(
                cat.responsible,
                wanxiang_core::category::Responsible::Entity(_)
            ) {
                state.entities.get(state).await?
            } else {
                Arc::default()
            };
            let decision = decide(&report.place, cat, &entities);
            apply(
                &mut lifecycle,
                Command::Dispatch {
                    to: decision.to.clone(),
                },
                "system (dispatch rules)".into(),
                None,
            );
            let explanation = match &report.classified {
                Some(s) => format!(
                    "自动分类为 {} ({})，置信度 {:.2} / classified from the description as {} with confidence {:.2}; {}",
                    cat.name_zh,
                    cat.code,
                    s.confidence,
                    cat.code,
                    s.confidence,
                    decision.explanation
                ),
                None => decision.explanation.clone(),
            };
            if let Some(last) = history.last_mut() {
                last.note = format!("{} — {}", decision.to, explanation);
            }
            (explanation, decision.area)
        }
        None => (
            format!(
                "未分类，进入人工分拨队列 / not classified: waiting in the dispatchers' manual queue{}",
                report.queue_note
            ),
            report.finest(),
        ),
    };
    let priority = report
        .priority
        .unwrap_or_else(|| category.as_ref().map_or(Priority::Normal, |c| c.priority));
    let due_at = stage_limit(category.as_ref(), lifecycle.stage, priority)
        .map(|l| l.due(now, &state.hub.calendar));
    let record = CaseRecord {
        id: uuid::Uuid::now_v7().to_string(),
        channel: report.channel,
        external_id: report.external_id.clone(),
        category: category.as_ref().map(|c| c.code.clone()),
        description: report.description.clone(),
        lon: report.lon,
        lat: report.lat,
        area,
        reporter: reporter_id.map(str::to_owned),
        reporter_contact: report.reporter_contact.clone(),
        priority,
        lifecycle,
        due_at,
        explanation,
        supervision: Supervision::for_stage(now, due_at),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let notice = match record.lifecycle.assignee.clone() {
        Some(org) => Notice::Assignee(org),
        None => Notice::Dispatchers,
    };
    let notifications = notifications_for(
        state,
        &record,
        &[Effect::Notify(notice)],
        CommandKind::Dispatch,
        &[],
        now,
    );
    Ok(NewCase {
        record,
        history,
        notifications,
        attachments: report.attachments.iter().map(|m| m.id.clone()).collect(),
    })
}

/// Takes one report in: validates it, locates it, links it to an open case it repeats or
/// registers and (when classified) dispatches it, and stores it with its history, notifications
/// and attachments (in a group commit with concurrent reports); publishes the change and hands
/// it to the early-warning detectors. Shared by `POST /api/v1/events`, Open311 and
/// `wanxiang events import`.
pub async fn take_in(
    state: &AppState,
    reporter: Option<&Reporter>,
    channel: Channel,
    req: &NewEvent,
) -> Result<Intake, AppError> {
    take_in_with(state, reporter, channel, req, None).await
}

/// [`take_in`] with a priority that overrides the category's: a sensor alarm's case takes its
/// priority from the alarm's level.
pub async fn take_in_with(
    state: &AppState,
    reporter: Option<&Reporter>,
    channel: Channel,
    req: &NewEvent,
    priority: Option<Priority>,
) -> Result<Intake, AppError> {
    let mut report = prepare(state, reporter, channel, req).await?;
    report.priority = priority;
    let now = state.clock.now_ms();
    let who = reporter.map_or_else(|| "system (import)".to_owned(), |r| r.actor.clone());
    let new_case = open_case(state, reporter.map(|r| r.id.as_str()), &who, &report, now).await?;
    let probe = duplicates::Probe::of(state, &report, now);
    match writer::write(state, new_case, probe).await? {
        writer::Written::Linked {
            case,
            parts,
            report_id,
            distance_m,
        } => {
            after_write(state, &case, "link", now);
            warnings::observe_linked(state, &case, &report, &report_id);
            Ok(Intake::Linked {
                case,
                parts,
                report_id,
                distance_m,
            })
        }
        writer::Written::New(new_case) => {
            let NewCase {
                record, history, ..
            } = *new_case;
            after_write(state, &record, "created", now);
            let attached = report
                .attachments
                .into_iter()
                .map(|m| wanxiang_store::AttachmentMeta {
                    case_id: Some(record.id.clone()),
                    history_seq: Some(1),
                    ..m
                })
                .collect();
            Ok(Intake::New(Box::new(record), history, attached))
        }
        writer::Written::Existing(id) => Ok(Intake::Existing(id)),
    }
}

/// What follows every stored change: the supervision scheduler, the webhook worker and the
/// SSE streams hear of it, and of a new case (`kind` "created") the early-warning detectors,
/// which so see every case this node opens, whichever way it came in.
pub(crate) fn after_write(state: &AppState, c: &CaseRecord, kind: &str, now: i64) {
    if kind == "created" {
        warnings::observe(state, c);
    }
    wake_if_sooner(state, c);
    if state.hub.webhook.is_some() {
        state.outbox_wake.notify_one();
    }
    crate::bus::publish(state, Change::of(c, kind, now));
}

/// Raises an open case's priority to `priority` (never lowers it), as a sensor alarm's
/// escalation does. A higher priority has shorter time limits, so the current stage's deadline is
/// brought forward to what the new limit allows from now, if that is sooner. The change goes into
/// the case's history with `note`. Ok(false) when there was nothing to raise (closed, already as
/// urgent); a concurrent change is retried.
pub(crate) async fn raise_priority(
    state: &AppState,
    case_id: &str,
    priority: Priority,
    note: &str,
) -> Result<bool, AppError> {
    let scope = Scope::system("sensing: alarm escalation raises the case's priority");
    for _ in 0..5 {
        let Some(current) = state.store.case(&scope, case_id).await? else {
            return Ok(false);
        };
        // Priority orders most urgent first.
        if !current.lifecycle.stage.is_open() || current.priority <= priority {
            return Ok(false);
        }
        let now = state.clock.now_ms();
        let mut c = current.clone();
        c.priority = priority;
        let category = c
            .category
            .as_deref()
            .and_then(|code| state.hub.categories.get(code));
        let sooner = c
            .due_at
            .and(stage_limit(category, c.lifecycle.stage, priority))
            .map(|l| l.due(now, &state.hub.calendar))
            .filter(|d| c.due_at.is_some_and(|due| *d < due));
        let mut line = format!(
            "优先级由{}升为{} / priority raised from {} to {}",
            current.priority.name_zh(),
            priority.name_zh(),
            current.priority.as_str(),
            priority.as_str()
        );
        if let Some(due) = sooner {
            c.due_at = Some(due);
            c.supervision = Supervision {
                escalated_to: c.supervision.escalated_to.clone(),
                ..Supervision::for_stage(now, Some(due))
            };
            line.push_str(&format!(
                "，本环节时限提前至 {0} / stage now due {0}",
                iso(due)
            ));
        }
        c.version = current.version + 1;
        c.updated_at = now;
        let entry = HistoryEntry {
            seq: state.store.case_history(&scope, case_id).await?.len() as i64 + 1,
            at: now,
            actor_id: None,
            actor: "物联感知 / sensing hub".into(),
            from: c.lifecycle.stage,
            to: c.lifecycle.stage,
            command: "reprioritize".into(),
            note: format!("{line}（{note}）"),
        };
        if state.store.update_case(&scope, &c, &entry).await? {
            after_write(state, &c, "reprioritize", now);
            return Ok(true);
        }
    }
    Err(AppError::Conflict(
        "案件持续被修改，优先级未能提升 / the case kept changing; priority not raised".into(),
    ))
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    /// Only cases at this stage (`registered`, `dispatched`, …).
    stage: Option<String>,
    /// Only cases with this responsible organisation (`mine` for the caller's own).
    assignee: Option<String>,
    /// At most this many (1-1000, default 100).
    limit: Option<u32>,
    /// `open` (not closed or rejected) or `closed` (closed or rejected); default both.
    status: Option<String>,
}

/// The cases in the caller's jurisdiction, newest first: a street sees the cases located in it,
/// a department or entity those assigned to it, a resident their own reports.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery), responses(
    (status = 200, body = Vec<CaseDto>),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn list_events(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<EventQuery>,
) -> Result<Json<Vec<CaseDto>>, AppError> {
    let stage = match q.stage.as_deref() {
        None | Some("") => None,
        Some(s) => Some(Stage::parse(s).ok_or_else(|| {
            AppError::field(
                "invalid_stage",
                "stage",
                format!("未知阶段 {s:?} / unknown stage"),
            )
        })?),
    };
    let assignee = match q.assignee.as_deref() {
        Some("mine") => Some(p.account.org.key()),
        other => other.filter(|a| !a.is_empty()).map(str::to_owned),
    };
    let open = match q.status.as_deref() {
        None | Some("") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(other) => {
            return Err(AppError::field(
                "invalid_status",
                "status",
                format!(
                    "status 只能是 open 或 closed / status must be open or closed, not {other:?}"
                ),
            ));
        }
    };
    let filter = CaseFilter {
        category: None,
        since: None,
        stage,
        assignee,
        limit: q.limit,
        open,
    };
    let now = state.clock.now_ms();
    let cases = state.store.cases(&p.scope, &filter).await?;
    Ok(Json(
        cases
            .iter()
            .map(|c| case_dto(&state, &p, c, None, now))
            .collect(),
    ))
}

/// One case in the caller's jurisdiction, with its full history.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path, description = "Case id")), responses(
    (status = 200, body = CaseDto),
    (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn get_event(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<CaseDto>, AppError> {
    let c = state
        .store
        .case(&p.scope, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个案件 / no such case".into()))?;
    Ok(Json(
        case_detail(&state, &p, &c, state.clock.now_ms()).await?,
    ))
}

/// An action on a case.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ActionInput {
    /// `register`, `reject`, `dispatch`, `accept`, `return`, `start`, `handle`, `verify`, `rate`,
    /// `suspend`, `resume`, `reassign`, `request_extension`, `decide_extension` or `urge`.
    action: String,
    /// Reason (reject, return, suspend, request_extension).
    reason: Option<String>,
    /// Note (handle, verify, urge).
    note: Option<String>,
    /// Target organisation key (dispatch, reassign).
    to: Option<String>,
    /// Verification result.
    pass: Option<bool>,
    /// Rating: `very_satisfied`, `satisfied`, `fairly_satisfied`, `unsatisfied`, `very_unsatisfied`.
    level: Option<String>,
    /// Requested new due time, RFC 3339 (request_extension).
    until: Option<String>,
    /// Approve or refuse the pending extension (decide_extension).
    approve: Option<bool>,
    /// A category code to set when registering or dispatching an unclassified case.
    category: Option<String>,
    /// With a rating: was the problem solved? (解决率)
    resolved: Option<bool>,
    /// Ids of uploaded photos or documents to attach with this step (`handle` with the result's
    /// photos, `verify` with the inspector's).
    attachments: Option<Vec<String>>,
}

fn parse_command(a: &ActionInput) -> Result<Command, AppError> {
    let kind = CommandKind::parse(&a.action).ok_or_else(|| {
        AppError::field(
            "invalid_action",
            "action",
            format!("未知操作 {:?} / unknown action", a.action),
        )
    })?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let need = |v: &Option<String>, field: &'static str| -> Result<String, AppError> {
        v.clone().filter(|x| !x.trim().is_empty()).ok_or_else(|| {
            AppError::field(
                "missing_field",
                field,
                format!("缺少 {field} / {field} is required"),
            )
        })
    };
    Ok(match kind {
        CommandKind::Register => Command::Register,
        CommandKind::Reject => Command::Reject { reason: need(&a.reason, "reason")? },
        CommandKind::Dispatch => Command::Dispatch { to: need(&a.to, "to")? },
        CommandKind::Accept => Command::Accept,
        CommandKind::Return => Command::Return { reason: need(&a.reason, "reason")? },
        CommandKind::Start => Command::Start,
        CommandKind::Handle => Command::Handle { note: need(&a.note, "note")? },
        CommandKind::Verify => Command::Verify {
            pass: a.pass.ok_or_else(|| AppError::field("missing_field", "pass", "缺少 pass / pass is required"))?,
            note: text(&a.note),
        },
        CommandKind::Rate => Command::Rate {
            level: a.level.as_deref().and_then(Satisfaction::parse).ok_or_else(|| AppError::field("invalid_level", "level", "评价须为 very_satisfied … very_unsatisfied / a level from very_satisfied to very_unsatisfied"))?,
            resolved: a.resolved,
        },
        CommandKind::Suspend => Command::Suspend { reason: need(&a.reason, "reason")? },
        CommandKind::Resume => Command::Resume,
        CommandKind::Reassign => Command::Reassign { to: need(&a.to, "to")? },
        CommandKind::RequestExtension => {
            let until = need(&a.until, "until")?;
            let until = chrono::DateTime::parse_from_rfc3339(&until)
                .map_err(|_| AppError::field("invalid_time", "until", "须为 RFC 3339 时间 / until must be an RFC 3339 time"))?
                .timestamp_millis();
            Command::RequestExtension { until, reason: need(&a.reason, "reason")? }
        }
        CommandKind::DecideExtension => Command::DecideExtension {
            approve: a.approve.ok_or_else(|| AppError::field("missing_field", "approve", "缺少 approve / approve is required"))?,
        },
        CommandKind::Urge => Command::Urge { note: need(&a.note, "note")? },
        CommandKind::Progress => Command::Progress { note: need(&a.note, "note")? },
    })
}

/// Who may do what: roles for the action, and for the handler's actions, membership of the
/// organisation the case is with. (The case itself is already within the caller's scope.)
fn may(p: &Principal, c: &CaseRecord, kind: CommandKind) -> Result<(), AppError> {
    use CommandKind::*;
    let assigned_here = c.lifecycle.assignee.as_deref() == Some(p.account.org.key().as_str());
    let ok = match kind {
        Register | Reject | Dispatch | Reassign => p.has(Role::Dispatcher),
        Accept | Return | Start | Handle | Progress | RequestExtension => {
            assigned_here && (p.has(Role::Handler) || p.has(Role::EntityMember))
        }
        Verify => p.has(Role::Inspector) || p.has(Role::Supervisor),
        Rate => c.reporter.as_deref() == Some(p.account.id.as_str()),
        Suspend | Resume => p.has(Role::Dispatcher) || p.has(Role::Supervisor),
        DecideExtension | Urge => p.has(Role::Supervisor),
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "你不能对此案件执行 {} / you may not {} this case",
            kind.as_str(),
            kind.as_str()
        )))
    }
}

/// Moves a case through its lifecycle. Actions the stage does not allow answer 409 with the
/// allowed ones; actions the caller's roles do not allow, 403.
#[utoipa::path(post, path = "/api/v1/events/{id}/actions", tag = "events", request_body = ActionInput,
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, body = CaseDto),
        (status = 400, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
        (status = 409, body = crate::error::ErrorEnvelope, description = "`illegal_transition` with `allowed`, or changed concurrently"),
))]
async fn act(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(input): Json<ActionInput>,
) -> Result<Json<CaseDto>, AppError> {
    let command = parse_command(&input)?;
    let current = state
        .store
        .case(&p.scope, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个案件 / no such case".into()))?;
    may(&p, &current, command.kind())?;
    let attachments =
        attachments::check(&state, &p.account.id, input.attachments.as_deref()).await?;
    let now = state.clock.now_ms();
    let mut record = current.clone();
    if let Some(code) = input.category.as_deref().filter(|c| !c.is_empty()) {
        if !matches!(
            command.kind(),
            CommandKind::Register | CommandKind::Dispatch
        ) {
            return Err(AppError::field(
                "invalid_field",
                "category",
                "只有立案或派遣时可设置类别 / category can be set when registering or dispatching",
            ));
        }
        let cat = state.hub.categories.get(code).ok_or_else(|| {
            AppError::field(
                "unknown_category",
                "category",
                format!("未知类别 {code:?} / unknown category"),
            )
        })?;
        record.category = Some(cat.code.clone());
        record.priority = cat.priority;
    }
    let (next, t, effects) =
        case::step(&current.lifecycle, &command, now).map_err(|e| AppError::IllegalTransition {
            message: format!(
                "案件处于{}，不能{} / {}{}",
                e.stage.name_zh(),
                e.command,
                e,
                e.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            allowed: e.allowed.iter().map(|k| k.as_str().to_owned()).collect(),
        })?;
    let category = record
        .category
        .as_deref()
        .and_then(|c| state.hub.categories.get(c))
        .cloned();
    for effect in &effects {
        match effect {
            Effect::StartClock(stage) => {
                record.due_at = stage_limit(category.as_ref(), *stage, record.priority)
                    .map(|l| l.due(now, &state.hub.calendar));
                record.supervision = Supervision {
                    escalated_to: record.supervision.escalated_to.clone(),
                    ..Supervision::for_stage(now, record.due_at)
                };
            }
            Effect::StopClock => {
                record.due_at = None;
                record.supervision.warn_at = None;
            }
            Effect::ExtendDeadline(until) => {
                record.due_at = Some(*until);
                record.supervision = Supervision {
                    escalated_to: record.supervision.escalated_to.clone(),
                    ..Supervision::for_stage(now, Some(*until))
                };
            }
            // The clock stops while suspended (supervision skips suspended cases); on resume the
            // time spent suspended is given back, counted the way the stage's limit counts.
            Effect::ResumeClock { paused_at } => {
                if let (Some(due), Some(limit)) = (
                    record.due_at,
                    stage_limit(category.as_ref(), next.stage, record.priority),
                ) {
                    let moved = limit.resume(due, *paused_at, now, &state.hub.calendar);
                    record.due_at = Some(moved);
                    if !record.supervision.warned {
                        record.supervision.warn_at =
                            record.supervision.warn_at.map(|w| w + (moved - due));
                    }
                }
            }
            Effect::PauseClock | Effect::Notify(_) => {}
        }
    }
    if matches!(command, Command::Dispatch { .. } | Command::Reassign { .. }) {
        record.explanation = format!("{} by {}", t.note, p.account.username);
    }
    record.lifecycle = next;
    record.version = current.version + 1;
    record.updated_at = now;
    let seq = state.store.case_history(&p.scope, &id).await?.len() as i64 + 1;
    let entry = HistoryEntry {
        seq,
        at: now,
        actor_id: Some(p.account.id.clone()),
        actor: actor(&p),
        from: t.from,
        to: t.to,
        command: t.command.as_str().into(),
        note: t.note,
    };
    if !state.store.update_case(&p.scope, &record, &entry).await? {
        return Err(AppError::Conflict(
            "案件已被他人修改，请刷新后重试 / the case changed meanwhile; reload and retry".into(),
        ));
    }
    if record.category.is_some() && current.category != record.category {
        warnings::observe_category(&state, &record, current.category.as_deref());
    }
    if !attachments.is_empty() {
        let ids: Vec<String> = attachments.into_iter().map(|m| m.id).collect();
        state
            .store
            .attach(&ids, &p.account.id, &record.id, seq)
            .await?;
    }
    deliver(&state, &record, &effects, command.kind(), now).await?;
    after_write(&state, &record, command.kind().as_str(), now);
    Ok(Json(case_detail(&state, &p, &record, now).await?))
}

/// The district of a case (the first six digits of its area).
fn district_of(c: &CaseRecord) -> String {
    wanxiang_core::UnitCode::parse(&c.area.as_str()[..6])
        .expect("area codes start with a district")
        .to_string()
}

/// Stores the notifications a step's effects call for (the reporter's also go to the accounts
/// following the case through linked duplicate reports).
async fn deliver(
    state: &AppState,
    c: &CaseRecord,
    effects: &[Effect],
    kind: CommandKind,
    now: i64,
) -> Result<(), AppError> {
    let followers = if effects
        .iter()
        .any(|e| matches!(e, Effect::Notify(Notice::Reporter)))
    {
        state.store.case_followers(&c.id).await?
    } else {
        Vec::new()
    };
    let list = notifications_for(state, c, effects, kind, &followers, now);
    if !list.is_empty() {
        state
            .store
            .notify(&list, state.hub.webhook.is_some())
            .await?;
    }
    Ok(())
}

/// The notifications a step's effects call for.
fn notifications_for(
    state: &AppState,
    c: &CaseRecord,
    effects: &[Effect],
    kind: CommandKind,
    followers: &[String],
    now: i64,
) -> Vec<Notification> {
    let what = c
        .category
        .as_deref()
        .and_then(|x| state.hub.categories.get(x))
        .map_or("未分类", |x| x.name_zh.as_str());
    let message = format!(
        "案件 {} ({what}) {}：{} / case {} ({}) {}: {}",
        c.id,
        c.lifecycle.stage.name_zh(),
        kind.as_str(),
        c.id,
        c.category.as_deref().unwrap_or("unclassified"),
        c.lifecycle.stage.as_str(),
        kind.as_str()
    );
    let mut out = Vec::new();
    let mut push = |recipient: Recipient, tag: &str| {
        out.push(Notification {
            id: 0,
            at: now,
            recipient,
            case_id: Some(c.id.clone()),
            kind: tag.to_owned(),
            message: message.clone(),
        })
    };
    for effect in effects {
        let Effect::Notify(notice) = effect else {
            continue;
        };
        match notice {
            Notice::Assignee(org) if org.is_empty() => {}
            Notice::Assignee(org) => push(
                Recipient::Org {
                    org: org.clone(),
                    role: None,
                },
                kind.as_str(),
            ),
            Notice::Dispatchers => push(
                Recipient::Org {
                    org: district_of(c),
                    role: Some(Role::Dispatcher),
                },
                "to_dispatch",
            ),
            Notice::Supervisors => {
                let up = case::one_level_up(
                    c.lifecycle.assignee.as_deref().unwrap_or(c.area.as_str()),
                    &c.area,
                );
                push(
                    Recipient::Org {
                        org: up,
                        role: Some(Role::Supervisor),
                    },
                    kind.as_str(),
                )
            }
            Notice::Reporter => {
                for account in c.reporter.iter().chain(followers) {
                    push(Recipient::Account(account.clone()), "progress");
                }
            }
        }
    }
    out
}

/// One pass of supervision at `now`: warns before due times (黄色预警), marks overdue cases and
/// escalates them one level up (红色, 升级督办), writing each to the case's history and notifying.
/// Runs under an explicit system scope, recorded in the audit log; the pass's cases are written
/// in one transaction. Returns how many cases it changed, and whether any went overdue.
pub async fn supervise(state: &AppState, now: i64) -> Result<Pass, AppError> {
    let scope = Scope::system("supervision of deadlines");
    let due = state.store.cases_to_supervise(&scope, now, 500).await?;
    let mut changed = 0;
    let mut went_overdue = false;
    let mut marks = Vec::with_capacity(due.len());
    for current in &due {
        let Some(alarm) = case::alarm(current, now) else {
            continue;
        };
        let mut c = current.clone();
        let stage = c.lifecycle.stage;
        let (command, note, notices): (&str, String, Vec<(Recipient, &str)>) = match &alarm {
            Alarm::Yellow => {
                c.supervision.warned = true;
                let to = c
                    .lifecycle
                    .assignee
                    .clone()
                    .unwrap_or_else(|| district_of(&c));
                let due = c.due_at.map(iso).unwrap_or_default();
                (
                    "warn",
                    format!("黄色预警：{} 到期 / yellow warning: due {due}", due),
                    vec![(
                        Recipient::Org {
                            org: to,
                            role: None,
                        },
                        "warning",
                    )],
                )
            }
            Alarm::Red { escalate_to } => {
                c.supervision.warned = true;
                c.supervision.overdue = true;
                c.supervision.escalated_to = Some(escalate_to.clone());
                let mut notices = vec![(
                    Recipient::Org {
                        org: escalate_to.clone(),
                        role: Some(Role::Supervisor),
                    },
                    "escalated",
                )];
                if let Some(a) = &c.lifecycle.assignee {
                    notices.push((
                        Recipient::Org {
                            org: a.clone(),
                            role: None,
                        },
                        "overdue",
                    ));
                }
                (
                    "overdue",
                    format!(
                        "红色：已超期，升级至 {escalate_to} 督办 / red: overdue, escalated to {escalate_to}"
                    ),
                    notices,
                )
            }
        };
        c.version = current.version + 1;
        c.updated_at = now;
        let entry = HistoryEntry {
            seq: 0, // numbered by the store, after the case's last line
            at: now,
            actor_id: None,
            actor: "system (supervision)".into(),
            from: stage,
            to: stage,
            command: command.into(),
            note: note.clone(),
        };
        let notifications = notices
            .into_iter()
            .map(|(recipient, kind)| Notification {
                id: 0,
                at: now,
                recipient,
                case_id: Some(c.id.clone()),
                kind: kind.into(),
                message: format!("案件 {}：{note}", c.id),
            })
            .collect();
        marks.push(SupervisionMark {
            case: c,
            entry,
            notifications,
        });
    }
    // One transaction for the pass. A case changed meanwhile by someone acting on it is left
    // alone; the next pass looks at it again.
    let written = state
        .store
        .mark_supervised(&scope, &marks, state.hub.webhook.is_some())
        .await?;
    for (mark, _) in marks.iter().zip(written).filter(|(_, w)| *w) {
        let command = mark.entry.command.as_str();
        after_write(state, &mark.case, command, now);
        changed += 1;
        went_overdue |= command == "overdue";
    }
    if changed > 0 {
        let district = due.first().map(district_of).unwrap_or_default();
        let area = wanxiang_core::UnitCode::parse(&district)
            .map_err(|e| AppError::Unavailable(e.to_string()))?;
        state
            .store
            .append_audit(&wanxiang_core::AuditEntry {
                at: now,
                actor_id: None,
                actor_name: "system".into(),
                action: "system_scope".into(),
                target: None,
                detail: format!(
                    "{}: {changed} case(s) warned or escalated",
                    scope.describe()
                ),
                org: area.to_string(),
                area,
                client: None,
            })
            .await?;
    }
    Ok(Pass {
        changed,
        went_overdue,
    })
}

/// What a pass of [`supervise`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pass {
    /// How many cases it warned about or marked overdue.
    pub changed: usize,
    /// Whether any went overdue (the backlog detector then has something to weigh).
    pub went_overdue: bool,
}

/// The supervision scheduler: sleeps until the next warning or due time the store knows of (or
/// until a case changes, or a manual clock moves), then runs [`supervise`]. Stops when `stop`
/// turns true.
pub async fn supervision_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    // Never busier than this, even if a mark fails to stick; and look at least this often, in
    // case another node made a deadline sooner than the one this loop sleeps for, and died
    // before its own loop fired it (one aggregate query, not a scan). Under a steady flow of
    // deadlines a pass comes every FLOOR and marks what fell due since, in one write: a warning
    // or an overdue mark is up to a second late (time limits are minutes to days), and the
    // store's one writer is taken once a second, not fifty times (issue 4: each pass's write
    // held up the intake's batches behind it).
    const FLOOR: std::time::Duration = std::time::Duration::from_secs(1);
    const CEILING: std::time::Duration = std::time::Duration::from_secs(10);
    // The backlog detector weighs every unit's overdue cases. It runs once the passes that
    // marked cases overdue are done, and no more often than this (of the clock's time): under a
    // steady flow of deadlines a pass comes every few tens of milliseconds, and a unit's backlog
    // does not change its level that fast.
    const BACKLOG_EVERY: i64 = 5_000;
    let mut backlog_pending = false;
    let mut backlog_last: Option<i64> = None;
    let changed = state.clock.changed();
    loop {
        let now = state.clock.now_ms();
        let next = state.store.next_supervision_at().await.ok().flatten();
        let mut more = false;
        if next.is_some_and(|t| t <= now) {
            match supervise(&state, now).await {
                Ok(pass) => {
                    backlog_pending |= pass.went_overdue;
                    // Something changed: look again at once for what falls due next.
                    more = pass.changed > 0;
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "supervision pass failed; retrying at the next wake")
                }
            }
        }
        if more {
            continue;
        }
        if backlog_pending && backlog_last.is_none_or(|t| now - t >= BACKLOG_EVERY || now < t) {
            backlog_pending = false;
            backlog_last = Some(now);
            if let Err(e) = warnings::backlog(&state, now).await {
                tracing::warn!(error = %e, "backlog detection failed");
            }
        }
        state.clock.settled(now);
        let next = state.store.next_supervision_at().await.ok().flatten();
        state.next_supervision.store(
            next.unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
        let wait = match next {
            Some(t) => std::time::Duration::from_millis((t - state.clock.now_ms()).max(0) as u64)
                .clamp(FLOOR, CEILING),
            None => CEILING,
        };
        // A backlog still to weigh is weighed when its time comes, deadline or not.
        let wait = match backlog_last.filter(|_| backlog_pending) {
            Some(t) => wait
                .min(std::time::Duration::from_millis(
                    (t + BACKLOG_EVERY - state.clock.now_ms()).max(0) as u64,
                ))
                .max(FLOOR),
            None => wait,
        };
        let clock_moved = async {
            match &changed {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.wake.notified() => {}
            _ = clock_moved => {}
            _ = stop.changed() => return,
        }
    }
}

/// Wakes the supervision loop only if this case needs attention before the time the loop is
/// already waiting for: most changes do not, and waking it for each would cost a query per write.
fn wake_if_sooner(state: &AppState, c: &CaseRecord) {
    let soonest = [
        c.supervision.warn_at.filter(|_| !c.supervision.warned),
        c.due_at.filter(|_| !c.supervision.overdue),
    ]
    .into_iter()
    .flatten()
    .min();
    if soonest.is_some_and(|t| {
        t < state
            .next_supervision
            .load(std::sync::atomic::Ordering::SeqCst)
    }) {
        state.wake.notify_one();
    }
}

/// A notification on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDto {
    /// Id.
    id: i64,
    /// When (RFC 3339).
    at: String,
    /// The case, if any.
    case_id: Option<String>,
    /// `dispatch`, `warning`, `overdue`, `escalated`, `urge`, `progress` …
    kind: String,
    /// The text.
    message: String,
}

/// Inbox paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InboxQuery {
    /// At most this many (1-500, default 50).
    limit: Option<u32>,
}

/// The caller's inbox: notifications to the account, to its organisation, or to its role there.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "events", params(InboxQuery), responses(
    (status = 200, body = Vec<NotificationDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn inbox(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Vec<NotificationDto>>, AppError> {
    let list = state
        .store
        .inbox(&p.account, q.limit.unwrap_or(50).clamp(1, 500))
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|n| NotificationDto {
                id: n.id,
                at: iso(n.at),
                case_id: n.case_id,
                kind: n.kind,
                message: n.message,
            })
            .collect(),
    ))
}

/// Statistics query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsQuery {
    /// First day, `YYYY-MM-DD` (China Standard Time); default 30 days before `to`.
    from: Option<String>,
    /// Day after the last, `YYYY-MM-DD`; default tomorrow.
    to: Option<String>,
    /// Narrow to a unit inside the caller's jurisdiction (staff of a district or street).
    unit: Option<String>,
}

/// One indicator.
#[derive(Debug, Serialize, ToSchema)]
pub struct Indicator {
    /// Stable key.
    key: &'static str,
    /// Chinese name.
    name_zh: &'static str,
    /// The value (a ratio 0-1, or hours); null when its denominator is zero.
    value: Option<f64>,
    /// How it is computed.
    formula: &'static str,
}

/// Counts and indicators for a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsDto {
    /// First instant (RFC 3339).
    from: String,
    /// End, exclusive (RFC 3339).
    to: String,
    /// The unit the figures cover, or the caller's scope in words.
    covers: String,
    /// Cases reported in the period.
    intake: u64,
    /// Of those: dispatched, closed, closed on time, handled, handled on time, reworked,
    /// extended, overdue and open, rated, satisfied.
    counts: std::collections::BTreeMap<&'static str, u64>,
    /// The indicators with their formulas.
    indicators: Vec<Indicator>,
    /// Reports per category, most first (`""` = not yet classified).
    by_category: Vec<(String, u64)>,
    /// Reports per day (China Standard Time), for the trend.
    per_day: Vec<(String, u64)>,
    /// The ten units (grids) with the most reports: hotspots.
    hotspots: Vec<(String, u64)>,
    /// Reports per intake channel, most first.
    by_channel: Vec<(String, u64)>,
}

fn parse_day(text: &str, field: &'static str) -> Result<i64, AppError> {
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        AppError::field(
            "invalid_date",
            field,
            format!("日期格式为 YYYY-MM-DD / {field} must look like 2026-11-29"),
        )
    })?;
    // Midnight China Standard Time.
    Ok(d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
        - 8 * 3_600_000)
}

/// The event hub's indicators for the caller's jurisdiction and a period (by report time):
/// 结案率 = closed / intake; 按期结案率 = closed without ever being overdue / closed;
/// 按期处置率 = handled without the handling stage going overdue / handled; 返工率 = cases with a
/// failed verification / handled; 延期率 = cases with a granted extension / dispatched;
/// 响应率 = dispatched to a responsible unit / intake; 满意率 = rated at least fairly satisfied /
/// rated; 平均处置时长 = mean hours from report to closing verification over closed cases;
/// 处置时长90分位 = its 90th percentile (nearest rank); 解决率 = rated "solved: yes" / rated with
/// an answer to "was it solved?" (the reporter's `resolved` with the rating).
#[utoipa::path(get, path = "/api/v1/stats", tag = "events", params(StatsQuery), responses(
    (status = 200, body = StatsDto),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 404, body = crate::error::ErrorEnvelope, description = "`unit` outside the jurisdiction"),
))]
async fn stats(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<StatsQuery>,
) -> Result<Json<StatsDto>, AppError> {
    let (from, to) = period(&q, state.clock.now_ms())?;
    let (scope, covers) = narrowed(&p, q.unit.as_deref())?;
    let s = state.store.case_stats(&scope, from, to).await?;
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let indicators = vec![
        Indicator {
            key: "closure_rate",
            name_zh: "结案率",
            value: ratio(s.closed, s.intake),
            formula: "closed / intake",
        },
        Indicator {
            key: "closed_on_time_rate",
            name_zh: "按期结案率",
            value: ratio(s.closed_on_time, s.closed),
            formula: "closed without ever being overdue / closed",
        },
        Indicator {
            key: "handled_on_time_rate",
            name_zh: "按期处置率",
            value: ratio(s.handled_on_time, s.handled),
            formula: "handled without the handling stage going overdue / handled",
        },
        Indicator {
            key: "rework_rate",
            name_zh: "返工率",
            value: ratio(s.reworked, s.handled),
            formula: "cases with a failed verification / handled",
        },
        Indicator {
            key: "extension_rate",
            name_zh: "延期率",
            value: ratio(s.extended, s.dispatched),
            formula: "cases with a granted extension / dispatched",
        },
        Indicator {
            key: "response_rate",
            name_zh: "响应率",
            value: ratio(s.dispatched, s.intake),
            formula: "dispatched to a responsible unit / intake",
        },
        Indicator {
            key: "satisfaction_rate",
            name_zh: "满意率",
            value: ratio(s.satisfied, s.rated),
            formula: "rated very satisfied, satisfied or fairly satisfied / rated",
        },
        Indicator {
            key: "avg_handling_hours",
            name_zh: "平均处置时长",
            value: (s.closed > 0).then(|| s.handling_ms_sum as f64 / s.closed as f64 / 3_600_000.0),
            formula: "mean of (closing verification − report) over closed cases, hours",
        },
        Indicator {
            key: "p90_handling_hours",
            name_zh: "处置时长90分位",
            value: s.handling_ms_p90.map(|ms| ms as f64 / 3_600_000.0),
            formula: "90th percentile (nearest rank) of (closing verification − report) over closed cases, hours",
        },
        Indicator {
            key: "resolution_rate",
            name_zh: "解决率",
            value: ratio(s.resolved, s.resolution_answered),
            formula: "rated with \"solved: yes\" / rated with an answer to \"was it solved?\"",
        },
    ];
    let counts = [
        ("dispatched", s.dispatched),
        ("closed", s.closed),
        ("closed_on_time", s.closed_on_time),
        ("handled", s.handled),
        ("handled_on_time", s.handled_on_time),
        ("reworked", s.reworked),
        ("extended", s.extended),
        ("overdue_open", s.overdue_open),
        ("rated", s.rated),
        ("satisfied", s.satisfied),
        ("resolution_answered", s.resolution_answered),
        ("resolved", s.resolved),
    ]
    .into_iter()
    .collect();
    Ok(Json(StatsDto {
        from: iso(from),
        to: iso(to),
        covers,
        intake: s.intake,
        counts,
        indicators,
        by_category: s.by_category,
        per_day: s.per_day,
        hotspots: s.hotspots,
        by_channel: s.by_channel,
    }))
}

/// The period `[from, to)` of a stats query: `to` defaults to the start of tomorrow and `from` to
/// 30 days before `to` (days in China Standard Time).
fn period(q: &StatsQuery, now: i64) -> Result<(i64, i64), AppError> {
    let to = match q.to.as_deref() {
        Some(t) if !t.is_empty() => parse_day(t, "to")?,
        _ => {
            // The start of tomorrow in China Standard Time.
            const DAY: i64 = 86_400_000;
            const CST: i64 = 8 * 3_600_000;
            let local = now + CST;
            local - local.rem_euclid(DAY) + DAY - CST
        }
    };
    let from = match q.from.as_deref() {
        Some(f) if !f.is_empty() => parse_day(f, "from")?,
        _ => to - 30 * 86_400_000,
    };
    if from >= to {
        return Err(AppError::field(
            "invalid_period",
            "from",
            "from 须早于 to / from must be before to",
        ));
    }
    Ok((from, to))
}

/// The caller's scope, narrowed to `unit` when given (unit staff only, inside their jurisdiction),
/// and the scope in words.
fn narrowed(p: &Principal, unit: Option<&str>) -> Result<(Scope, String), AppError> {
    match (unit.filter(|u| !u.is_empty()), &p.scope) {
        (None, s) => Ok((s.clone(), s.describe())),
        (Some(u), Scope::Subtree(root)) => {
            let unit = crate::units::parse_code(u, "unit")?;
            if !root.encloses(&unit) {
                return Err(AppError::NotFound(
                    "没有这个单位 / no such unit in your jurisdiction".into(),
                ));
            }
            Ok((Scope::Subtree(unit.clone()), format!("unit {unit}")))
        }
        (Some(_), _) => Err(AppError::Forbidden(
            "只有区、街道、社区工作人员可按单位统计 / only unit staff can narrow by unit".into(),
        )),
    }
}

/// One unit's figures in a ranking.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitFigures {
    /// Unit code.
    code: String,
    /// Its name.
    name: String,
    /// Cases reported in the period.
    intake: u64,
    /// Of those, closed.
    closed: u64,
    /// Open and overdue.
    overdue_open: u64,
    /// 结案率 = closed / intake (null without intake).
    closure_rate: Option<f64>,
    /// 按期处置率 = handled on time / handled.
    handled_on_time_rate: Option<f64>,
    /// 满意率 = satisfied / rated.
    satisfaction_rate: Option<f64>,
}

/// The figures of each unit one level below the covered unit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitStatsDto {
    /// First instant (RFC 3339).
    from: String,
    /// End, exclusive (RFC 3339).
    to: String,
    /// The unit whose children are ranked.
    unit: String,
    /// One entry per child unit (also those without cases), in code order.
    units: Vec<UnitFigures>,
}

/// Figures per unit one level down, for rankings on the one screen: a district's staff get its
/// streets, a street's its communities (or, with `unit`, the children of that unit inside the
/// jurisdiction). Same period rules and formulas as `/api/v1/stats`.
#[utoipa::path(get, path = "/api/v1/stats/units", tag = "events", params(StatsQuery), responses(
    (status = 200, body = UnitStatsDto),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope, description = "Not unit staff"),
    (status = 404, body = crate::error::ErrorEnvelope, description = "`unit` outside the jurisdiction"),
))]
async fn unit_stats(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<StatsQuery>,
) -> Result<Json<UnitStatsDto>, AppError> {
    let (from, to) = period(&q, state.clock.now_ms())?;
    let unit = match narrowed(&p, q.unit.as_deref())?.0 {
        Scope::Subtree(u) => u,
        _ => {
            return Err(AppError::Forbidden(
                "只有区、街道、社区工作人员可看单位排名 / only unit staff can rank units".into(),
            ));
        }
    };
    let atlas = crate::units::atlas(&state)?;
    // Each child with the part of its code that its cases' area codes start with (codes are
    // padded to twelve digits: a street's cases start with its first nine).
    let children: Vec<(String, String, String)> = atlas
        .children(&unit)
        .map(|u| {
            let code = u.code.to_string();
            let len = match u.level {
                wanxiang_core::Level::District => 6,
                wanxiang_core::Level::Street => 9,
                wanxiang_core::Level::Community | wanxiang_core::Level::Grid => code.len(),
            };
            (code[..len.min(code.len())].to_owned(), code, u.name.clone())
        })
        .collect();
    let mut figures: std::collections::HashMap<String, wanxiang_store::AreaCounts> =
        std::collections::HashMap::new();
    // Children of one unit share a level, so their prefixes share a length: one grouped query.
    if let Some(len) = children.first().map(|(prefix, _, _)| prefix.len()) {
        for a in state
            .store
            .case_stats_by_area(&Scope::Subtree(unit.clone()), len, from, to)
            .await?
        {
            figures.insert(a.area.clone(), a);
        }
    }
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let units = children
        .into_iter()
        .map(|(prefix, code, name)| {
            let a = figures.remove(&prefix).unwrap_or_default();
            UnitFigures {
                closure_rate: ratio(a.closed, a.intake),
                handled_on_time_rate: ratio(a.handled_on_time, a.handled),
                satisfaction_rate: ratio(a.satisfied, a.rated),
                code,
                name,
                intake: a.intake,
                closed: a.closed,
                overdue_open: a.overdue_open,
            }
        })
        .collect();
    Ok(Json(UnitStatsDto {
        from: iso(from),
        to: iso(to),
        unit: unit.to_string(),
        units,
    }))
}

/// Builds a hub from a category file's text and a calendar's text (the binary reads the files).
pub fn hub_from(categories: Option<&str>, calendar: Option<&str>) -> Result<Arc<Hub>, String> {
    let categories =
        Categories::parse(categories.unwrap_or(DEFAULT_CATEGORIES)).map_err(|e| e.to_string())?;
    let calendar = match calendar {
        Some(text) => Calendar::parse(text).map_err(|e| e.to_string())?,
        None => Calendar::default(),
    };
    // Not `..Hub::default()`: that would parse the built-in category file only to drop it.
    Ok(Arc::new(Hub {
        categories,
        calendar,
        ..Hub::settings()
    }))
}
