//! 物联感知, the sensing hub: device types and devices, telemetry over HTTP and MQTT, the readings
//! kept, alarm rules judged, and alarms that open cases in the event hub by themselves.
//!
//! The pieces: [`types`] parses the device-types file and rule overrides; [`payload`] reads
//! ThingsBoard-style payloads; [`pipeline`] is the one task per node that commits readings with
//! the alarm changes they cause; [`gateway`] connects the MQTT listener (`wanxiang-mqtt`) to it.
//! Routes live here.

pub mod demo;
pub mod gateway;
pub mod payload;
pub mod pipeline;
pub mod subscriber;
pub mod types;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::alarm::{AlarmStatus, DeviceType, Level, Rule, Source};
use wanxiang_core::case::Channel;
use wanxiang_core::category::Priority;
use wanxiang_core::{Role, Scope};
use wanxiang_store::{
    AlarmEvent, AlarmFilter, AlarmRecord, DeviceFilter, DeviceRecord, NewDevice, Rollup, StoreError,
};

use crate::auth::{Principal, random_secret, token_hash};
use crate::events::{Intake, LocationInput, NewEvent, place_of, take_in_with};
use crate::people::iso;
use crate::{AppError, AppState};
use pipeline::{Action, Job};
use types::{RuleSpec, parse_rules};

/// The sensing hub's settings and caches, shared by every request of a node.
pub struct Sensing {
    /// Device types by code.
    pub types: HashMap<String, Arc<DeviceType>>,
    /// Each type's default rules, shared by its devices that do not override them.
    type_rules: HashMap<String, Arc<Vec<Rule>>>,
    /// Alarms at or above this level open a case.
    pub case_level: Level,
    /// How far from now a reading's time may lie.
    pub window: payload::Window,
    /// Refused values per device per minute beyond which the device is throttled.
    pub flood_limit: i64,
    /// An alarm nobody acknowledges for this long (ms) goes one level up; 0 never.
    pub unattended_ms: i64,
    /// Devices known to this node, by id (all of them once the pipeline has started).
    live: RwLock<HashMap<String, Arc<Live>>>,
    /// Token hash → device id, for authentication without a store read.
    tokens: RwLock<HashMap<String, String>>,
    /// Refused values per device in the current minute: (minute, count).
    floods: Mutex<HashMap<String, (i64, i64)>>,
    /// The telemetry pipeline's queue, started on first use.
    pub(crate) pipeline: OnceLock<mpsc::Sender<Job>>,
    /// Where the MQTT device gateway listens, once bound (shown in `/readyz`).
    pub mqtt_addr: OnceLock<std::net::SocketAddr>,
}

impl Default for Sensing {
    fn default() -> Self {
        Sensing::new(
            types::parse_types(types::DEFAULT_DEVICE_TYPES).expect("the shipped types parse"),
        )
    }
}

impl Sensing {
    /// A hub with these types and default settings.
    pub fn new(types: HashMap<String, Arc<DeviceType>>) -> Sensing {
        Sensing {
            type_rules: types
                .iter()
                .map(|(code, t)| (code.clone(), Arc::new(t.rules.clone())))
                .collect(),
            types,
            case_level: Level::Yellow,
            window: payload::Window {
                max_future_ms: 5 * 60 * 1000,
                max_past_ms: 30 * 24 * 3600 * 1000,
            },
            flood_limit: 600,
            unattended_ms: 0,
            live: RwLock::default(),
            tokens: RwLock::default(),
            floods: Mutex::default(),
            pipeline: OnceLock::new(),
            mqtt_addr: OnceLock::new(),
        }
    }

    /// Builds a device's live form: its type and effective rules.
    fn live_of(&self, record: DeviceRecord) -> Result<Arc<Live>, StoreError> {
        let ty = self.types.get(&record.type_code).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("unknown device type {}", record.type_code))
        })?;
        let rules = match &record.rules {
            // Shared by every device of the type that keeps its rules.
            None => self
                .type_rules
                .get(&record.type_code)
                .cloned()
                .unwrap_or_else(|| Arc::new(ty.rules.clone())),
            Some(text) => {
                let specs: Vec<RuleSpec> = serde_json::from_str(text)
                    .map_err(|e| StoreError::Corrupt(format!("device {} rules: {e}", record.id)))?;
                Arc::new(
                    parse_rules(&specs, &ty).map_err(|e| {
                        StoreError::Corrupt(format!("device {} rules: {e}", record.id))
                    })?,
                )
            }
        };
        Ok(Arc::new(Live {
            stamp: AtomicI64::new(0),
            record,
            ty,
            rules,
        }))
    }

    /// Remembers a device (and forgets its previous form).
    fn remember(&self, live: &Arc<Live>, token_hash: Option<&str>) {
        let id = live.record.id.clone();
        self.live
            .write()
            .expect("not poisoned")
            .insert(id.clone(), live.clone());
        if let Some(h) = token_hash {
            self.tokens
                .write()
                .expect("not poisoned")
                .insert(h.to_owned(), id);
        }
    }

    /// Loads every device of the store into the node's memory (before the MQTT gateway opens,
    /// so a gateway's first publish finds its devices).
    pub async fn load_all(&self, state: &AppState) -> Result<Vec<Arc<Live>>, StoreError> {
        let scope = Scope::system("sensing pipeline start");
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = state
                .store
                .devices(
                    &scope,
                    &DeviceFilter {
                        after: after.clone(),
                        limit: 5000,
                        ..DeviceFilter::default()
                    },
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for record in page {
                match self.live_of(record) {
                    Ok(live) => {
                        self.remember(&live, None);
                        out.push(live);
                    }
                    Err(e) => tracing::warn!(error = %e, "device skipped"),
                }
            }
        }
        Ok(out)
    }

    /// The device a token belongs to, from memory or the store.
    pub async fn authenticate(
        &self,
        state: &AppState,
        token: &str,
    ) -> Result<Option<Arc<Live>>, StoreError> {
        let hash = token_hash(token);
        let known = self
            .tokens
            .read()
            .expect("not poisoned")
            .get(&hash)
            .cloned();
        if let Some(id) = known
            && let Some(live) = self.live.read().expect("not poisoned").get(&id)
        {
            return Ok(Some(live.clone()));
        }
        let Some(record) = state.store.device_by_token(&hash).await? else {
            return Ok(None);
        };
        let live = self.live_of(record)?;
        self.remember(&live, Some(&hash));
        Ok(Some(live))
    }

    /// A known device by id.
    pub fn device(&self, id: &str) -> Option<Arc<Live>> {
        self.live.read().expect("not poisoned").get(id).cloned()
    }

    /// A device by id, from memory or the store (registered on another node since this one
    /// started).
    pub async fn find(&self, state: &AppState, id: &str) -> Result<Option<Arc<Live>>, StoreError> {
        if let Some(live) = self.device(id) {
            return Ok(Some(live));
        }
        let scope = Scope::system("sensing: a device heard of through the external broker");
        let Some(record) = state.store.device(&scope, id).await? else {
            return Ok(None);
        };
        let live = self.live_of(record)?;
        self.remember(&live, None);
        Ok(Some(live))
    }

    /// Counts refused values; true while the device is over its limit this minute.
    fn count_bad(&self, device: &str, now: i64, bad: i64) -> bool {
        let minute = now / 60_000;
        let mut floods = self.floods.lock().expect("not poisoned");
        if bad == 0 {
            // A check, on every read of a device's socket: no allocation.
            return floods
                .get(device)
                .is_some_and(|(m, n)| *m == minute && *n > self.flood_limit);
        }
        let entry = floods.entry(device.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += bad;
        entry.1 > self.flood_limit
    }

    /// Whether the device is over its refused-value limit this minute.
    pub fn throttled(&self, device: &str, now: i64) -> bool {
        self.count_bad(device, now, 0)
    }
}

/// A device as the pipeline and the gateways use it.
#[derive(Debug)]
pub struct Live {
    /// The stored device.
    pub record: DeviceRecord,
    /// Its type.
    pub ty: Arc<DeviceType>,
    /// Its effective rules (its override, else its type's).
    pub rules: Arc<Vec<Rule>>,
    /// The last arrival stamp given to a reading without `ts`, so two such readings in one
    /// millisecond get distinct times and are both kept.
    stamp: AtomicI64,
}

impl Live {
    /// A strictly increasing arrival time for this device.
    fn stamp(&self, now: i64) -> i64 {
        let mut last = self.stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .stamp
                .compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}

/// What became of a payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Accepted {
    /// Readings stored (new or already stored).
    pub readings: u64,
    /// Values refused, by reason (`unknown_key`, `wrong_type`, `out_of_range`, `bad_time`,
    /// `malformed`).
    pub refused: HashMap<String, i64>,
}

/// Hands a device's parsed payload to the pipeline now, and returns the future of its answer
/// (resolved once durable). The job is queued before this returns when the queue has room, so a
/// caller may enqueue many and await them in order; when it is full, the future waits for room.
pub(crate) fn enqueue(
    state: &AppState,
    live: &Arc<Live>,
    parsed: payload::Outcome,
) -> impl Future<Output = Result<Accepted, StoreError>> + Send + 'static + use<> {
    let now = state.clock.now_ms();
    let bad_total = parsed.bad_total();
    if bad_total > 0 {
        state.sensing.count_bad(&live.record.id, now, bad_total);
        metrics::counter!("wanxiang_telemetry_refused_total").increment(bad_total as u64);
    }
    let refused: HashMap<String, i64> = parsed
        .bad
        .iter()
        .map(|(r, n)| ((*r).to_owned(), *n))
        .collect();
    let (done, answer) = oneshot::channel();
    let job = Job::Telemetry {
        device: live.clone(),
        readings: parsed.readings,
        bad: parsed.bad,
        done,
    };
    let tx = pipeline::sender(state);
    let waiting = match tx.try_send(job) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
            Some(job)
        }
    };
    async move {
        let stopped = || StoreError::Unavailable("telemetry pipeline stopped".into());
        if let Some(job) = waiting {
            tx.send(job).await.map_err(|_| stopped())?;
        }
        let readings = answer.await.map_err(|_| stopped())??;
        Ok(Accepted { readings, refused })
    }
}

/// Parses a device's payload and hands it to the pipeline; resolves once durable.
pub(crate) async fn submit(
    state: &AppState,
    live: &Arc<Live>,
    parsed: payload::Outcome,
) -> Result<Accepted, StoreError> {
    enqueue(state, live, parsed).await
}

/// Starts the node's telemetry pipeline now (rather than on the first reading), so inactivity
/// alarms fire and alarms left without a case by a crash get theirs.
pub fn start(state: &AppState) {
    pipeline::sender(state);
}

/// Parses payload bytes for a device.
pub(crate) fn parse_for(state: &AppState, live: &Live, bytes: &[u8]) -> payload::Outcome {
    let now = state.clock.now_ms();
    payload::parse(bytes, &live.ty, now, state.sensing.window, &mut || {
        live.stamp(now)
    })
}

/// Opens (or finds, by the external id `alarm:{id}`) the event-hub case for an alarm.
/// The priority of an alarm's case at the alarm's level: red is urgent, orange high, yellow
/// normal, blue low.
pub(crate) fn priority_for(level: Level) -> Priority {
    match level {
        Level::Red => Priority::Urgent,
        Level::Orange => Priority::High,
        Level::Yellow => Priority::Normal,
        Level::Blue => Priority::Low,
    }
}

pub(crate) async fn open_alarm_case(
    state: &AppState,
    live: &Live,
    alarm: &AlarmRecord,
) -> Result<String, AppError> {
    let d = &live.record;
    let req = NewEvent {
        channel: "sensor".into(),
        location: LocationInput {
            lon: d.lon,
            lat: d.lat,
            crs: None,
        },
        category: Some(live.ty.category.clone()),
        description: format!(
            "【物联告警·{}】{}（{}）{}，读数 {:.2} / sensor alarm at {} level from device {}",
            alarm.level.name_zh(),
            alarm.title,
            d.name,
            live.ty.name_zh,
            alarm.value,
            alarm.level.as_str(),
            d.id
        ),
        reporter_contact: None,
        external_id: Some(format!("alarm:{}", alarm.id)),
        attachments: None,
    };
    // The alarm's level sets the case's priority (and so its time limits).
    let priority = priority_for(alarm.level);
    match take_in_with(state, None, Channel::Sensor, &req, Some(priority)).await? {
        Intake::New(case, ..) => Ok(case.id),
        Intake::Linked { case, .. } => Ok(case.id),
        Intake::Existing(id) => Ok(id),
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(device_types))
        .routes(routes!(list_devices, create_device))
        .routes(routes!(device_summary))
        .routes(routes!(get_device))
        .routes(routes!(set_rules))
        .routes(routes!(set_disabled))
        .routes(routes!(telemetry))
        .routes(routes!(latest))
        .routes(routes!(post_telemetry))
        .routes(routes!(post_batch))
        .routes(routes!(list_alarms))
        .routes(routes!(get_alarm))
        .routes(routes!(acknowledge))
        .routes(routes!(clear))
}

/// Who may run devices: operators, and admins of the unit.
fn operator(p: &Principal) -> Result<(), AppError> {
    p.require(&[Role::Operator, Role::Admin])
}

/// Who may look at devices and alarms: staff (not residents or entity members).
fn staff(p: &Principal) -> Result<(), AppError> {
    p.require(&[
        Role::Operator,
        Role::Admin,
        Role::Dispatcher,
        Role::Handler,
        Role::Supervisor,
        Role::Inspector,
        Role::Leader,
    ])
}

/// A measured key on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeasureDto {
    key: String,
    name_zh: String,
    name_en: String,
    unit: String,
    min: f64,
    max: f64,
}

/// A device type on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceTypeDto {
    code: String,
    name_zh: String,
    name_en: String,
    /// Seconds without data after which a device counts as inactive.
    timeout_secs: i64,
    /// Category of the cases its alarms open.
    category: String,
    measures: Vec<MeasureDto>,
    /// Default alarm rules.
    rules: Vec<RuleSpec>,
}

/// The device types and their default alarm rules.
#[utoipa::path(get, path = "/api/v1/device-types", tag = "sensing", responses(
    (status = 200, body = Vec<DeviceTypeDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn device_types(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<DeviceTypeDto>>, AppError> {
    staff(&p)?;
    let mut list: Vec<DeviceTypeDto> = state
        .sensing
        .types
        .values()
        .map(|t| DeviceTypeDto {
            code: t.code.clone(),
            name_zh: t.name_zh.clone(),
            name_en: t.name_en.clone(),
            timeout_secs: t.timeout_secs,
            category: t.category.clone(),
            measures: t
                .measures
                .iter()
                .map(|m| MeasureDto {
                    key: m.key.clone(),
                    name_zh: m.name_zh.clone(),
                    name_en: m.name_en.clone(),
                    unit: m.unit.clone(),
                    min: m.min,
                    max: m.max,
                })
                .collect(),
            rules: t.rules.iter().map(RuleSpec::of).collect(),
        })
        .collect();
    list.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(Json(list))
}

/// A device to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceInput {
    /// Device type code (`GET /api/v1/device-types`).
    #[serde(rename = "type")]
    pub type_code: String,
    /// A name, 1 to 100 characters.
    pub name: String,
    /// Where it is installed.
    pub location: LocationInput,
    /// The owning organisation's key (a unit code or department code); defaults to the
    /// registrar's own.
    pub owner_unit: Option<String>,
    /// Installation date, `YYYY-MM-DD`.
    pub installed_on: Option<String>,
    /// An id of your own (1–64 of letters, digits, `-`, `_`); a UUID otherwise.
    pub id: Option<String>,
}

/// A device on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDto {
    id: String,
    #[serde(rename = "type")]
    type_code: String,
    name: String,
    lon: f64,
    lat: f64,
    /// The finest unit holding it.
    area: String,
    /// The owning organisation.
    owner_unit: String,
    installed_on: Option<String>,
    /// `active`, `inactive` (no data for longer than its type's timeout) or `disabled`.
    state: String,
    /// Its newest reading.
    last_seen: Option<String>,
    /// Values refused so far.
    bad_values: i64,
    /// Refused values by reason.
    bad_by_reason: HashMap<String, i64>,
    /// Whether its rules override its type's.
    custom_rules: bool,
    created_at: String,
}

/// `active`, `inactive` (silent longer than its type's timeout) or `disabled`.
fn device_state(state: &AppState, d: &DeviceRecord, now: i64) -> &'static str {
    let timeout = state
        .sensing
        .types
        .get(&d.type_code)
        .map_or(3600, |t| t.timeout_secs);
    let fresh = d.last_seen.is_some_and(|t| now - t <= timeout * 1000);
    if d.disabled {
        "disabled"
    } else if fresh {
        "active"
    } else {
        "inactive"
    }
}

fn device_dto(state: &AppState, d: &DeviceRecord) -> DeviceDto {
    let now = state.clock.now_ms();
    DeviceDto {
        id: d.id.clone(),
        type_code: d.type_code.clone(),
        name: d.name.clone(),
        lon: d.lon,
        lat: d.lat,
        area: d.area.to_string(),
        owner_unit: d.org.clone(),
        installed_on: d.installed_on.clone(),
        state: device_state(state, d, now).into(),
        last_seen: d.last_seen.map(iso),
        bad_values: d.bad_values,
        bad_by_reason: d.bad_by_reason.iter().cloned().collect(),
        custom_rules: d.rules.is_some(),
        created_at: iso(d.created_at),
    }
}

/// A registered device with its access token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDevice {
    device: DeviceDto,
    /// The device's access token: the MQTT username, and the `{token}` of
    /// `POST /api/v1/telemetry/{token}`. Stored only as a hash; it cannot be shown again.
    token: String,
}

/// Checks a device registration and builds the record; `default_org` owns it unless the input
/// names an owner.
pub fn check_new_device(
    state: &AppState,
    registrar: Option<&str>,
    default_org: &str,
    input: &NewDeviceInput,
    now: i64,
) -> Result<DeviceRecord, AppError> {
    let ty = state
        .sensing
        .types
        .get(input.type_code.trim())
        .ok_or_else(|| {
            AppError::field(
                "unknown_device_type",
                "type",
                format!(
                    "未知设备类型 {:?} / unknown device type (see GET /api/v1/device-types)",
                    input.type_code
                ),
            )
        })?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::field(
            "invalid_name",
            "name",
            "名称须为 1–100 个字符 / name must be 1–100 characters",
        ));
    }
    let id = match input.id.as_deref().map(str::trim) {
        None | Some("") => uuid::Uuid::now_v7().to_string(),
        Some(id) => {
            let ok = id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(AppError::field(
                    "invalid_id",
                    "id",
                    "编号须为 1–64 个字母、数字、- 或 _ / id must be 1–64 of letters, digits, - and _",
                ));
            }
            id.to_owned()
        }
    };
    if let Some(date) = &input.installed_on
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err()
    {
        return Err(AppError::field(
            "invalid_date",
            "installed_on",
            "安装日期格式为 YYYY-MM-DD / installed_on is YYYY-MM-DD",
        ));
    }
    let (crs, lon, lat) = crate::events::checked_point(&input.location)?;
    let (lon, lat) = crs.to_wgs84(lon, lat);
    let place = place_of(state, lon, lat).ok_or_else(|| AppError::BadRequest {
        code: "outside_district",
        message: "该点不在本区范围内 / the point is outside the district".into(),
        field: Some("location"),
    })??;
    let area = place
        .grid
        .as_ref()
        .or(place.community.as_ref())
        .or(place.street.as_ref())
        .unwrap_or(&place.district)
        .code
        .clone();
    let org = match input.owner_unit.as_deref().map(str::trim) {
        None | Some("") => default_org.to_owned(),
        Some(o) => o.to_owned(),
    };
    Ok(DeviceRecord {
        id,
        type_code: ty.code.clone(),
        name: name.to_owned(),
        lon,
        lat,
        area,
        org,
        owner: registrar.map(str::to_owned),
        installed_on: input.installed_on.clone(),
        disabled: false,
        rules: None,
        last_seen: None,
        bad_values: 0,
        bad_by_reason: Vec::new(),
        created_at: now,
    })
}

/// Registers a device (operators, within their jurisdiction). The answer carries the device's
/// access token, shown once.
#[utoipa::path(post, path = "/api/v1/devices", tag = "sensing", request_body = NewDeviceInput, responses(
    (status = 201, body = CreatedDevice),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
    (status = 409, body = crate::error::ErrorEnvelope),
))]
async fn create_device(
    State(state): State<AppState>,
    p: Principal,
    Json(input): Json<NewDeviceInput>,
) -> Result<(StatusCode, Json<CreatedDevice>), AppError> {
    operator(&p)?;
    let now = state.clock.now_ms();
    let record = check_new_device(
        &state,
        Some(&p.account.id),
        &p.account.org.key(),
        &input,
        now,
    )?;
    let token = random_secret();
    let hash = token_hash(&token);
    register(&state, &p.scope, record.clone(), &hash).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedDevice {
            device: device_dto(&state, &record),
            token,
        }),
    ))
}

/// Stores a new device and tells the pipeline.
pub(crate) async fn register(
    state: &AppState,
    scope: &Scope,
    record: DeviceRecord,
    hash: &str,
) -> Result<(), AppError> {
    state
        .store
        .create_device(
            scope,
            &NewDevice {
                record: record.clone(),
                token_hash: hash.to_owned(),
            },
        )
        .await?;
    let live = state.sensing.live_of(record)?;
    state.sensing.remember(&live, Some(hash));
    let _ = pipeline::sender(state).send(Job::Device(live)).await;
    Ok(())
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeviceQuery {
    /// Only this type.
    #[serde(rename = "type")]
    type_code: Option<String>,
    /// Devices after this id (paging).
    after: Option<String>,
    /// At most this many (1–1000, default 100).
    limit: Option<u32>,
}

/// Devices in the caller's jurisdiction, with their state and refused-value counts.
#[utoipa::path(get, path = "/api/v1/devices", tag = "sensing", params(DeviceQuery), responses(
    (status = 200, body = Vec<DeviceDto>),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list_devices(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<DeviceQuery>,
) -> Result<Json<Vec<DeviceDto>>, AppError> {
    staff(&p)?;
    let list = state
        .store
        .devices(
            &p.scope,
            &DeviceFilter {
                type_code: q.type_code,
                after: q.after,
                changed_since: None,
                limit: q.limit.unwrap_or(100).clamp(1, 1000),
            },
        )
        .await?;
    Ok(Json(list.iter().map(|d| device_dto(&state, d)).collect()))
}

/// One device type's share of a summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypeSummary {
    /// Type code.
    type_code: String,
    /// Its Chinese name.
    name: String,
    /// Its English name.
    name_en: String,
    /// Devices of this type.
    total: u64,
    /// Of those, reporting within their timeout.
    active: u64,
}

/// Device health in the caller's jurisdiction.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceSummary {
    /// All devices.
    total: u64,
    /// Reporting within their type's timeout.
    active: u64,
    /// Silent for longer than their type's timeout.
    inactive: u64,
    /// Switched off by an operator.
    disabled: u64,
    /// 在线率 = active / (total − disabled); null without devices in service.
    online_rate: Option<f64>,
    /// Per type, by code.
    by_type: Vec<TypeSummary>,
}

/// Device counts by state and type in the caller's jurisdiction (the one screen's 在线率).
#[utoipa::path(get, path = "/api/v1/devices/summary", tag = "sensing", responses(
    (status = 200, body = DeviceSummary),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn device_summary(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<DeviceSummary>, AppError> {
    staff(&p)?;
    let now = state.clock.now_ms();
    let mut summary = DeviceSummary {
        total: 0,
        active: 0,
        inactive: 0,
        disabled: 0,
        online_rate: None,
        by_type: Vec::new(),
    };
    let mut by_type: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut after = None;
    // Pages of a thousand keep each store read short; a district has tens of thousands.
    loop {
        let page = state
            .store
            .devices(
                &p.scope,
                &DeviceFilter {
                    type_code: None,
                    after: after.take(),
                    changed_since: None,
                    limit: 1000,
                },
            )
            .await?;
        for d in &page {
            let s = device_state(&state, d, now);
            summary.total += 1;
            let t = by_type.entry(d.type_code.clone()).or_default();
            t.0 += 1;
            match s {
                "active" => {
                    summary.active += 1;
                    t.1 += 1;
                }
                "disabled" => summary.disabled += 1,
                _ => summary.inactive += 1,
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = Some(last.id.clone()),
            _ => break,
        }
    }
    let in_service = summary.total - summary.disabled;
    summary.online_rate = (in_service > 0).then(|| summary.active as f64 / in_service as f64);
    summary.by_type = by_type
        .into_iter()
        .map(|(code, (total, active))| {
            let ty = state.sensing.types.get(&code);
            TypeSummary {
                name: ty.map_or_else(|| code.clone(), |t| t.name_zh.clone()),
                name_en: ty.map_or_else(|| code.clone(), |t| t.name_en.clone()),
                type_code: code,
                total,
                active,
            }
        })
        .collect();
    Ok(Json(summary))
}
async fn find_device(state: &AppState, p: &Principal, id: &str) -> Result<DeviceRecord, AppError> {
    staff(p)?;
    state
        .store
        .device(&p.scope, id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个设备 / no such device".into()))
}

/// A device with its effective rules and open alarms.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    #[serde(flatten)]
    device: DeviceDto,
    /// The rules it is judged by.
    rules: Vec<RuleSpec>,
    /// Its alarms not cleared.
    alarms: Vec<AlarmDto>,
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "sensing",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = DeviceDetail), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_device(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeviceDetail>, AppError> {
    let d = find_device(&state, &p, &id).await?;
    let live = state.sensing.live_of(d.clone())?;
    let alarms = state
        .store
        .alarms(
            &p.scope,
            &AlarmFilter {
                device_id: Some(d.id.clone()),
                limit: 100,
                ..AlarmFilter::default()
            },
        )
        .await?;
    Ok(Json(DeviceDetail {
        device: device_dto(&state, &d),
        rules: live.rules.iter().map(RuleSpec::of).collect(),
        alarms: alarms.iter().map(|a| alarm_dto(a, Vec::new())).collect(),
    }))
}

/// Replaces a device's alarm rules (`[]` judges nothing); `null` returns to its type's.
#[utoipa::path(put, path = "/api/v1/devices/{id}/rules", tag = "sensing",
    params(("id" = String, Path, description = "Device id")),
    request_body = Option<Vec<RuleSpec>>,
    responses((status = 200, body = DeviceDetail), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope)))]
async fn set_rules(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(specs): Json<Option<Vec<RuleSpec>>>,
) -> Result<Json<DeviceDetail>, AppError> {
    operator(&p)?;
    let mut d = find_device(&state, &p, &id).await?;
    let ty = state
        .sensing
        .types
        .get(&d.type_code)
        .ok_or_else(|| AppError::Store(StoreError::Corrupt(d.type_code.clone())))?;
    d.rules = match specs {
        None => None,
        Some(specs) => {
            parse_rules(&specs, ty).map_err(|e| AppError::field("invalid_rule", "rules", e))?;
            Some(serde_json::to_string(&specs).map_err(|e| AppError::Unavailable(e.to_string()))?)
        }
    };
    update(&state, &p, d).await?;
    get_device(State(state), p, Path(id)).await
}

/// Whether a device is disabled.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisabledInput {
    /// True refuses its data and stops judging it.
    pub disabled: bool,
}

/// Disables or enables a device.
#[utoipa::path(put, path = "/api/v1/devices/{id}/disabled", tag = "sensing",
    params(("id" = String, Path, description = "Device id")),
    request_body = DisabledInput,
    responses((status = 200, body = DeviceDetail), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn set_disabled(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(input): Json<DisabledInput>,
) -> Result<Json<DeviceDetail>, AppError> {
    operator(&p)?;
    let mut d = find_device(&state, &p, &id).await?;
    d.disabled = input.disabled;
    update(&state, &p, d).await?;
    get_device(State(state), p, Path(id)).await
}

async fn update(state: &AppState, p: &Principal, d: DeviceRecord) -> Result<(), AppError> {
    if !state
        .store
        .update_device(&p.scope, &d, state.clock.now_ms())
        .await?
    {
        return Err(AppError::NotFound("没有这个设备 / no such device".into()));
    }
    let live = state.sensing.live_of(d)?;
    state.sensing.remember(&live, None);
    let _ = pipeline::sender(state).send(Job::Device(live)).await;
    Ok(())
}

/// Telemetry query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TelemetryQuery {
    /// The key (required when `agg` is given; otherwise every key).
    key: Option<String>,
    /// From (ISO 8601 or Unix ms); default 24 hours before `to`.
    from: Option<String>,
    /// To (exclusive); default now.
    to: Option<String>,
    /// `none` (default: raw readings), `avg`, `min`, `max`, `count`, `last`.
    agg: Option<String>,
    /// Bucket width in seconds for `agg` (default 3600), buckets aligned to the epoch; whole
    /// minutes are served from the stored 1-minute and 1-hour rollups.
    interval: Option<i64>,
    /// Most raw readings (default 1000, at most 10000).
    limit: Option<u32>,
}

/// A point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointDto {
    /// Time (ISO 8601; a bucket's start when aggregated).
    ts: String,
    /// Unix ms.
    ts_ms: i64,
    /// The values (one key when `key` is given).
    values: HashMap<String, f64>,
}

fn parse_time(field: &'static str, text: &str) -> Result<i64, AppError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            AppError::field(
                "invalid_time",
                field,
                format!("{field} 须为 ISO 8601 时间或 Unix 毫秒 / {field} is ISO 8601 or Unix ms"),
            )
        })
}

/// A device's readings between two times, raw or aggregated per interval.
#[utoipa::path(get, path = "/api/v1/devices/{id}/telemetry", tag = "sensing",
    params(("id" = String, Path, description = "Device id"), TelemetryQuery),
    responses((status = 200, body = Vec<PointDto>), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope)))]
async fn telemetry(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<TelemetryQuery>,
) -> Result<Json<Vec<PointDto>>, AppError> {
    let d = find_device(&state, &p, &id).await?;
    let to = match &q.to {
        Some(t) => parse_time("to", t)?,
        None => state.clock.now_ms() + 1,
    };
    let from = match &q.from {
        Some(t) => parse_time("from", t)?,
        None => to - 24 * 3600 * 1000,
    };
    if from >= to {
        return Err(AppError::field(
            "invalid_range",
            "from",
            "from 须早于 to / from must be before to",
        ));
    }
    let agg = q.agg.as_deref().unwrap_or("none");
    if !matches!(agg, "none" | "avg" | "min" | "max" | "count" | "last") {
        return Err(AppError::field(
            "invalid_agg",
            "agg",
            "agg 为 none、avg、min、max、count 或 last / agg is none, avg, min, max, count or last",
        ));
    }
    if let Some(k) = &q.key
        && state
            .sensing
            .types
            .get(&d.type_code)
            .is_some_and(|t| t.measure(k).is_none())
    {
        return Err(AppError::field(
            "unknown_key",
            "key",
            format!("该设备类型没有 {k:?} / the device type has no such key"),
        ));
    }
    let keep = |values: Vec<(String, f64)>| -> HashMap<String, f64> {
        values
            .into_iter()
            .filter(|(k, _)| q.key.as_deref().is_none_or(|want| want == k))
            .collect()
    };
    if agg == "none" {
        let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
        let rows = state.store.readings(&d.id, from, to, limit).await?;
        return Ok(Json(
            rows.into_iter()
                .map(|r| PointDto {
                    ts: iso(r.ts),
                    ts_ms: r.ts,
                    values: keep(r.values),
                })
                .filter(|p| !p.values.is_empty())
                .collect(),
        ));
    }
    let Some(key) = q.key.clone() else {
        return Err(AppError::field(
            "missing_key",
            "key",
            "聚合需指定 key / agg needs a key",
        ));
    };
    let interval = q.interval.unwrap_or(3600);
    if !(1..=31 * 86_400).contains(&interval) || (to - from) / (interval * 1000) > 10_000 {
        return Err(AppError::field(
            "invalid_interval",
            "interval",
            "interval 为 1 秒至 31 天，且不超过 10000 个区间 / interval is 1 s to 31 days, at most 10,000 buckets",
        ));
    }
    // Buckets are aligned to the epoch (so minute and hour buckets fall on the clock). Intervals
    // that are whole minutes come from the stored rollups, which outlive the raw readings; other
    // intervals are computed from the raw readings (at most 100,000).
    let width = interval * 1000;
    let align = |t: i64| t - t.rem_euclid(width);
    let mut buckets: std::collections::BTreeMap<i64, Rollup> = Default::default();
    let mut add = |start: i64, r: Rollup| {
        buckets
            .entry(start)
            .and_modify(|b| b.merge(&r))
            .or_insert(Rollup { bucket: start, ..r });
    };
    if interval % 60 == 0 {
        let stored = if interval % 3600 == 0 { 3600 } else { 60 };
        for r in state
            .store
            .rollups(&d.id, &key, stored, align(from), to)
            .await?
        {
            add(align(r.bucket), r);
        }
    } else {
        for r in state
            .store
            .readings(&d.id, align(from), to, 100_000)
            .await?
        {
            if let Some(&(_, v)) = r.values.iter().find(|(k, _)| *k == key) {
                add(align(r.ts), Rollup::of(align(r.ts), r.ts, v));
            }
        }
    }
    Ok(Json(
        buckets
            .into_values()
            .map(|b| {
                let value = match agg {
                    "avg" => b.sum / b.count as f64,
                    "min" => b.min,
                    "max" => b.max,
                    "count" => b.count as f64,
                    _ => b.last,
                };
                PointDto {
                    ts: iso(b.bucket),
                    ts_ms: b.bucket,
                    values: HashMap::from([(key.clone(), value)]),
                }
            })
            .collect(),
    ))
}

/// The newest value of each key.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestDto {
    /// Key → value and time.
    values: HashMap<String, LatestValue>,
}

/// A key's newest value.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestValue {
    value: f64,
    ts: String,
}

/// The latest value of every key of a device.
#[utoipa::path(get, path = "/api/v1/devices/{id}/latest", tag = "sensing",
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = LatestDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn latest(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<LatestDto>, AppError> {
    let d = find_device(&state, &p, &id).await?;
    let mut values = HashMap::new();
    for r in state.store.latest_readings(&d.id, 100).await? {
        for (k, v) in r.values {
            values.entry(k).or_insert(LatestValue {
                value: v,
                ts: iso(r.ts),
            });
        }
    }
    Ok(Json(LatestDto { values }))
}

fn telemetry_error(e: StoreError) -> AppError {
    AppError::Store(e)
}

/// Telemetry from one device, authenticated by its access token in the path (ThingsBoard's
/// HTTP device API). Body: `{"key": value}`, `{"ts": ms, "values": {…}}` or an array of them.
/// Answered once the readings are durable; bad values are counted and reported, not fatal.
#[utoipa::path(post, path = "/api/v1/telemetry/{token}", tag = "sensing",
    params(("token" = String, Path, description = "The device's access token")),
    request_body(content = serde_json::Value, description = "Readings"),
    responses(
        (status = 200, body = Accepted),
        (status = 401, body = crate::error::ErrorEnvelope, description = "Unknown token"),
        (status = 403, body = crate::error::ErrorEnvelope, description = "Device disabled"),
        (status = 429, body = crate::error::ErrorEnvelope, description = "Too many bad values"),
        (status = 503, body = crate::error::ErrorEnvelope),
))]
async fn post_telemetry(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<Accepted>, AppError> {
    let live = device_of(&state, &token).await?;
    let parsed = parse_for(&state, &live, &body);
    Ok(Json(
        submit(&state, &live, parsed)
            .await
            .map_err(telemetry_error)?,
    ))
}

async fn device_of(state: &AppState, token: &str) -> Result<Arc<Live>, AppError> {
    let live = state
        .sensing
        .authenticate(state, token)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("设备令牌无效 / unknown device token".into()))?;
    if live.record.disabled {
        return Err(AppError::Forbidden(
            "设备已停用 / the device is disabled".into(),
        ));
    }
    if state
        .sensing
        .throttled(&live.record.id, state.clock.now_ms())
    {
        return Err(AppError::TooManyRequests(60));
    }
    Ok(live)
}

/// One device's part of a batch.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BatchItem {
    /// The device's access token.
    pub token: String,
    /// Its readings, in any of the single-device shapes.
    #[schema(value_type = Object)]
    pub telemetry: serde_json::Value,
}

/// What became of each item of a batch, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// Accepted items' counts, or the item's error.
    items: Vec<BatchOutcome>,
}

/// One item's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOutcome {
    /// Readings stored.
    readings: u64,
    /// Values refused, by reason.
    refused: HashMap<String, i64>,
    /// Why the item was refused as a whole (`unknown_token`, `disabled`, `throttled`).
    error: Option<String>,
}

/// Telemetry from many devices in one request (a gateway or a platform forwarding its devices):
/// `[{"token": …, "telemetry": …}, …]`, at most 1,000 items. Each item is judged on its own.
#[utoipa::path(post, path = "/api/v1/telemetry", tag = "sensing",
    request_body = Vec<BatchItem>,
    responses((status = 200, body = BatchResult), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 503, body = crate::error::ErrorEnvelope)))]
async fn post_batch(
    State(state): State<AppState>,
    Json(items): Json<Vec<BatchItem>>,
) -> Result<Json<BatchResult>, AppError> {
    if items.len() > 1000 {
        return Err(AppError::field(
            "too_many_items",
            "",
            "一批最多 1000 项 / at most 1,000 items per batch",
        ));
    }
    let mut waits = Vec::with_capacity(items.len());
    for item in &items {
        let live = match device_of(&state, &item.token).await {
            Ok(l) => l,
            Err(e) => {
                let code = match e {
                    AppError::Unauthenticated(_) => "unknown_token",
                    AppError::Forbidden(_) => "disabled",
                    AppError::TooManyRequests(_) => "throttled",
                    other => return Err(other),
                };
                waits.push(Err(code));
                continue;
            }
        };
        let now = state.clock.now_ms();
        let parsed = payload::parse_value(
            &item.telemetry,
            &live.ty,
            now,
            state.sensing.window,
            &mut || live.stamp(now),
        );
        waits.push(Ok(enqueue(&state, &live, parsed)));
    }
    let mut out = Vec::with_capacity(waits.len());
    for w in waits {
        out.push(match w {
            Err(code) => BatchOutcome {
                readings: 0,
                refused: HashMap::new(),
                error: Some(code.into()),
            },
            Ok(answer) => {
                let a = answer.await.map_err(telemetry_error)?;
                BatchOutcome {
                    readings: a.readings,
                    refused: a.refused,
                    error: None,
                }
            }
        });
    }
    Ok(Json(BatchResult { items: out }))
}

/// An alarm on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmDto {
    id: String,
    device_id: String,
    device_name: String,
    device_type: String,
    /// The rule (alarm type).
    rule: String,
    /// `积水超限 / Water depth`.
    title: String,
    /// `blue`, `yellow`, `orange`, `red`.
    level: String,
    /// 蓝色预警 …
    level_zh: String,
    /// The highest level reached.
    peak: String,
    /// `active`, `acknowledged`, `cleared`.
    status: String,
    /// The judged number at the last change.
    value: f64,
    lon: f64,
    lat: f64,
    area: String,
    /// The case it opened.
    case_id: Option<String>,
    raised_at: String,
    updated_at: String,
    cleared_at: Option<String>,
    /// Its history (in the single-alarm view).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    history: Vec<AlarmEventDto>,
}

/// A line of an alarm's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmEventDto {
    at: String,
    action: String,
    level: String,
    value: f64,
    actor: Option<String>,
    note: String,
}

fn alarm_dto(a: &AlarmRecord, history: Vec<AlarmEvent>) -> AlarmDto {
    AlarmDto {
        id: a.id.clone(),
        device_id: a.device_id.clone(),
        device_name: a.device_name.clone(),
        device_type: a.type_code.clone(),
        rule: a.rule.clone(),
        title: a.title.clone(),
        level: a.level.as_str().into(),
        level_zh: a.level.name_zh().into(),
        peak: a.peak.as_str().into(),
        status: a.status.as_str().into(),
        value: a.value,
        lon: a.lon,
        lat: a.lat,
        area: a.area.to_string(),
        case_id: a.case_id.clone(),
        raised_at: iso(a.raised_at),
        updated_at: iso(a.updated_at),
        cleared_at: a.cleared_at.map(iso),
        history: history
            .into_iter()
            .map(|e| AlarmEventDto {
                at: iso(e.at),
                action: e.action,
                level: e.level.as_str().into(),
                value: e.value,
                actor: e.actor,
                note: e.note,
            })
            .collect(),
    }
}

/// A sensor alarm attached to a case: the alarm, and the readings of its rule's key from an hour
/// before it was raised to an hour after (at most 500).
#[derive(Debug, Serialize, ToSchema)]
pub struct AlarmEvidence {
    /// The alarm.
    alarm: AlarmDto,
    /// The measured key its rule judges (none for an inactivity alarm).
    key: Option<String>,
    /// The key's unit.
    unit: Option<String>,
    /// The readings: `[{ "at", "value" }]`, oldest first.
    readings: Vec<EvidencePoint>,
}

/// One reading of an [`AlarmEvidence`].
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidencePoint {
    at: String,
    value: f64,
}

/// The sensor alarms that opened or joined a case, with their readings, for the case's page
/// (staff only: the caller has already been allowed to see the case).
pub(crate) async fn case_evidence(
    state: &AppState,
    alarms: &[AlarmRecord],
) -> Result<Vec<AlarmEvidence>, AppError> {
    let mut out = Vec::with_capacity(alarms.len());
    for a in alarms {
        let key = state.sensing.device(&a.device_id).and_then(|live| {
            live.rules
                .iter()
                .find(|r| r.code == a.rule)
                .and_then(|r| match &r.source {
                    Source::Value(k) | Source::Rate { key: k, .. } => Some(k.clone()),
                    Source::Silence => None,
                })
        });
        let readings = match &key {
            Some(k) => state
                .store
                .readings(
                    &a.device_id,
                    a.raised_at - 3_600_000,
                    a.raised_at + 3_600_000,
                    500,
                )
                .await?
                .into_iter()
                .filter_map(|r| {
                    let v = r.values.iter().find(|(name, _)| name == k)?.1;
                    Some(EvidencePoint {
                        at: iso(r.ts),
                        value: v,
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let unit = key.as_ref().and_then(|k| {
            state
                .sensing
                .types
                .get(&a.type_code)
                .and_then(|t| t.measure(k))
                .map(|m| m.unit.clone())
        });
        out.push(AlarmEvidence {
            alarm: alarm_dto(a, Vec::new()),
            key,
            unit,
            readings,
        });
    }
    Ok(out)
}

/// Alarm listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AlarmQuery {
    /// `open` (default: active and acknowledged), `active`, `acknowledged`, `cleared` or `all`.
    status: Option<String>,
    /// Only this device's.
    device: Option<String>,
    /// Only those that opened or joined this case.
    case: Option<String>,
    /// At most this many (1–1000, default 100).
    limit: Option<u32>,
}

/// Alarms in the caller's jurisdiction, latest change first.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "sensing", params(AlarmQuery), responses(
    (status = 200, body = Vec<AlarmDto>),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list_alarms(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AlarmQuery>,
) -> Result<Json<Vec<AlarmDto>>, AppError> {
    staff(&p)?;
    let status = match q.status.as_deref() {
        None | Some("open") | Some("all") => None,
        Some(s) => Some(AlarmStatus::parse(s).ok_or_else(|| {
            AppError::field(
                "invalid_status",
                "status",
                "status 为 open、active、acknowledged、cleared 或 all / status is open, active, acknowledged, cleared or all",
            )
        })?),
    };
    let list = state
        .store
        .alarms(
            &p.scope,
            &AlarmFilter {
                status,
                any_status: q.status.as_deref() == Some("all"),
                device_id: q.device,
                case_id: q.case,
                limit: q.limit.unwrap_or(100).clamp(1, 1000),
            },
        )
        .await?;
    Ok(Json(
        list.iter().map(|a| alarm_dto(a, Vec::new())).collect(),
    ))
}

async fn find_alarm(state: &AppState, p: &Principal, id: &str) -> Result<AlarmRecord, AppError> {
    staff(p)?;
    state
        .store
        .alarm(&p.scope, id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个告警 / no such alarm".into()))
}

/// One alarm with its history.
#[utoipa::path(get, path = "/api/v1/alarms/{id}", tag = "sensing",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, body = AlarmDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_alarm(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlarmDto>, AppError> {
    let a = find_alarm(&state, &p, &id).await?;
    let history = state.store.alarm_history(&a.id).await?;
    Ok(Json(alarm_dto(&a, history)))
}

async fn operate(
    state: AppState,
    p: Principal,
    id: String,
    action: Action,
) -> Result<Json<AlarmDto>, AppError> {
    operator(&p)?;
    let a = find_alarm(&state, &p, &id).await?;
    if a.status == AlarmStatus::Cleared {
        return Err(AppError::Conflict(
            "告警已解除 / the alarm is already cleared".into(),
        ));
    }
    let (done, answer) = oneshot::channel();
    pipeline::sender(&state)
        .send(Job::Operator {
            alarm_id: a.id.clone(),
            action,
            actor: p.account.username.clone(),
            done,
        })
        .await
        .map_err(|_| AppError::Unavailable("telemetry pipeline stopped".into()))?;
    let updated = answer
        .await
        .map_err(|_| AppError::Unavailable("telemetry pipeline stopped".into()))??;
    let history = state.store.alarm_history(&updated.id).await?;
    Ok(Json(alarm_dto(&updated, history)))
}

/// Acknowledges an alarm (operators): seen, still standing until its condition clears.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/acknowledge", tag = "sensing",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, body = AlarmDto), (status = 404, body = crate::error::ErrorEnvelope),
        (status = 409, body = crate::error::ErrorEnvelope)))]
async fn acknowledge(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlarmDto>, AppError> {
    operate(state, p, id, Action::Acknowledge).await
}

/// Clears an alarm by hand (operators). Its rule starts afresh: if the condition still holds,
/// the next reading raises a new alarm.
#[utoipa::path(post, path = "/api/v1/alarms/{id}/clear", tag = "sensing",
    params(("id" = String, Path, description = "Alarm id")),
    responses((status = 200, body = AlarmDto), (status = 404, body = crate::error::ErrorEnvelope),
        (status = 409, body = crate::error::ErrorEnvelope)))]
async fn clear(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlarmDto>, AppError> {
    operate(state, p, id, Action::Clear).await
}
