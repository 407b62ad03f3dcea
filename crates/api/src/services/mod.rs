//! 一网通办's edge: the catalogue, applications and their actions, instant decisions by the
//! items' decision models (with a replayable record), manual review, certificates and their
//! public verification, and the triggers that offer services without being asked.
//!
//! Who may see and do what is decided here in one place ([`Caller`]): a resident sees their own
//! applications and offers; a department's staff those of its items; district-level admins,
//! supervisors and leaders all. Register data is never asked on a form: the decision's inputs
//! are gathered from the registers (`registers.rs`), every read logged with its purpose.

pub(crate) mod bundles;
pub mod catalogue;
pub mod certificate;
pub mod demo;
mod desk;
mod lookup;
pub mod registers;
pub mod supervision;
pub mod triggers;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::service::{
    self, ApplicantKind, Application, Command, FieldKind, Item, Mode, Source, State as AppStateKind,
};
use wanxiang_core::{Org, Role};
use wanxiang_rules::Model;
use wanxiang_store::services::{
    ApplicationFilter, ApplicationRecord, ApplicationStep, ApplicationUpdate, Certificate,
    DecisionRecord,
};

use crate::auth::Principal;
use crate::{AppError, AppState};

pub use catalogue::Catalogue;

/// The catalogue and the compiled decision models this node evaluates.
pub struct Services {
    /// Items and bundles.
    pub catalogue: Catalogue,
    /// Compiled models by (item, version): a stored version never changes, so compiling once is enough.
    models: Mutex<HashMap<(String, i64), Arc<Model>>>,
}

impl Default for Services {
    fn default() -> Self {
        Services::new(Catalogue::shipped())
    }
}

impl Services {
    /// Services over a catalogue.
    pub fn new(catalogue: Catalogue) -> Services {
        Services {
            catalogue,
            models: Mutex::new(HashMap::new()),
        }
    }

    fn compiled(&self, item: &Item, version: i64, text: &str) -> Result<Arc<Model>, AppError> {
        let key = (item.code.to_string(), version);
        if let Some(m) = self.models.lock().expect("not poisoned").get(&key) {
            return Ok(m.clone());
        }
        let model = catalogue::check_model(text, &item.fields).map_err(|e| {
            AppError::Unavailable(format!(
                "存储的决策模型无法使用 / the stored model does not load: {e}"
            ))
        })?;
        let model = Arc::new(model);
        self.models
            .lock()
            .expect("not poisoned")
            .insert(key, model.clone());
        Ok(model)
    }
}

/// Stores the shipped model of every rule-decided item that has none stored yet (as version 1,
/// author `catalogue`). Several nodes may run it at once: a lost race is harmless.
pub async fn ensure_models(state: &AppState) -> Result<usize, wanxiang_store::StoreError> {
    let store = state.store.services();
    let now = state.clock.now_ms();
    let mut stored = 0;
    for entry in state.services.catalogue.items.values() {
        let Some(text) = &entry.shipped_model else {
            continue;
        };
        let code = entry.item.code.as_str();
        if store.model(code, None).await?.is_none() {
            match store.put_model(code, text, "catalogue", now).await {
                Ok(_) => stored += 1,
                Err(wanxiang_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(stored)
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_items))
        .routes(routes!(get_item))
        .routes(routes!(bundles::list_bundles))
        .routes(routes!(bundles::get_bundle))
        .routes(routes!(bundles::submit_bundle))
        .routes(routes!(bundles::get_bundle_application))
        .routes(routes!(get_model, put_model))
        .routes(routes!(model_versions))
        .routes(routes!(list_applications, submit))
        .routes(routes!(get_application))
        .routes(routes!(act))
        .routes(routes!(get_decision))
        .routes(routes!(replay))
        .routes(routes!(get_certificate))
        .routes(routes!(revoke))
        .routes(routes!(me))
        .routes(routes!(my_register_access))
        .routes(routes!(run_triggers))
        .routes(routes!(desk::list_desk))
        .routes(routes!(desk::desk_report))
        .routes(routes!(desk::put_desk))
        .routes(routes!(desk::raise_problem))
        .routes(routes!(lookup::person))
        .routes(routes!(lookup::enterprise))
        .routes(routes!(lookup::licences))
        .routes(routes!(lookup::access))
}

/// The public pages: verification (what the QR code opens) and the printable certificate.
pub(crate) fn pages() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/verify/{id}", axum::routing::get(verify))
        .route("/certificates/{id}/print", axum::routing::get(print))
}

// --- Who may see and do what (the one place). ---

/// What the caller is to 一网通办.
enum Caller {
    /// A resident, with their register identity if the register knows their mobile number.
    Resident {
        /// The person's identity number.
        person: Option<String>,
    },
    /// Staff of a department: its items' applications.
    Department {
        /// The department's code.
        code: String,
        /// Admin (may edit the department's models).
        admin: bool,
        /// Handler or admin (may review).
        reviewer: bool,
    },
    /// District-level admin, supervisor or leader: everything (admins may edit every model).
    District {
        /// Admin.
        admin: bool,
    },
    /// Anyone else (streets, communities, entities): nothing of 一网通办.
    Other,
}

async fn caller(state: &AppState, p: &Principal) -> Result<Caller, AppError> {
    Ok(match &p.account.org {
        _ if p.has(Role::Resident) => Caller::Resident {
            person: state
                .store
                .services()
                .person_by_phone(&p.account.username)
                .await?
                .map(|x| x.id),
        },
        Org::Department(d) => Caller::Department {
            code: d.to_string(),
            admin: p.has(Role::Admin),
            reviewer: p.has(Role::Handler) || p.has(Role::Admin),
        },
        Org::Unit(u)
            if u.level() == wanxiang_core::Level::District
                && (p.has(Role::Admin) || p.has(Role::Supervisor) || p.has(Role::Leader)) =>
        {
            Caller::District {
                admin: p.has(Role::Admin),
            }
        }
        _ => Caller::Other,
    })
}

impl Caller {
    fn sees(&self, p: &Principal, a: &ApplicationRecord) -> bool {
        match self {
            Caller::Resident { person } => {
                a.account.as_deref() == Some(p.account.id.as_str())
                    || person.as_deref() == Some(a.person.as_str())
            }
            Caller::Department { code, .. } => {
                *code == a.department || a.countersign.as_deref() == Some(code.as_str())
            }
            Caller::District { .. } => true,
            Caller::Other => false,
        }
    }

    /// Whether the caller reviews it now: its department's reviewers (only the delegate and the
    /// department's admins once it is delegated), and in 会签 the countersigning department's.
    fn reviews(&self, p: &Principal, a: &ApplicationRecord) -> bool {
        let Caller::Department {
            code,
            admin,
            reviewer: true,
        } = self
        else {
            return false;
        };
        let deciding_department = if a.state == AppStateKind::Countersign.as_str() {
            a.countersign.as_deref().unwrap_or_default()
        } else {
            a.department.as_str()
        };
        let delegated_elsewhere = a
            .assignee
            .as_deref()
            .is_some_and(|id| id != p.account.id && !*admin);
        code == deciding_department && !delegated_elsewhere
    }

    fn edits_model(&self, item: &Item) -> bool {
        match self {
            Caller::Department { code, admin, .. } => *admin && *code == item.department.as_str(),
            Caller::District { admin } => *admin,
            _ => false,
        }
    }

    fn filter(&self, p: &Principal) -> ApplicationFilter {
        match self {
            Caller::Resident { person } => ApplicationFilter {
                account: Some(p.account.id.clone()),
                person: person.clone(),
                ..ApplicationFilter::default()
            },
            Caller::Department { code, .. } => ApplicationFilter {
                departments: Some(vec![code.clone()]),
                ..ApplicationFilter::default()
            },
            Caller::District { .. } => ApplicationFilter::default(),
            Caller::Other => ApplicationFilter {
                departments: Some(Vec::new()),
                ..ApplicationFilter::default()
            },
        }
    }
}

fn not_found() -> AppError {
    AppError::NotFound("没有这个申请 / no such application".into())
}

/// An application the caller may see, or 404 (its existence is not revealed).
async fn visible(
    state: &AppState,
    p: &Principal,
    who: &Caller,
    id: &str,
) -> Result<ApplicationRecord, AppError> {
    let a = state
        .store
        .services()
        .application(id)
        .await?
        .ok_or_else(not_found)?;
    if who.sees(p, &a) {
        Ok(a)
    } else {
        Err(not_found())
    }
}

// --- DTOs. ---

/// A field of an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldDto {
    /// The key the decision model reads (`form.premises_area`, `applicant.age`).
    key: String,
    /// Chinese label.
    label_zh: String,
    /// English label.
    label_en: String,
    /// `text`, `number`, `date`, `bool` or `choice`.
    kind: &'static str,
    /// The allowed values of a choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<String>>,
    /// `form`, or the register fact it is taken from (never asked).
    source: String,
    /// Whether the form needs it.
    required: bool,
}

/// An item of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemDto {
    /// Code (GB/T 39554.1 manner).
    code: String,
    /// Chinese name.
    name_zh: String,
    /// English name.
    name_en: String,
    /// The item type (行政许可, 行政给付 …).
    type_zh: &'static str,
    /// Deciding department.
    department: String,
    /// Its name.
    department_name: String,
    /// Legal basis.
    legal_basis: String,
    /// `resident` or `enterprise`.
    applicant: &'static str,
    /// `instant` (秒批), `proactive` (无感申办) or `standard`.
    mode: &'static str,
    /// The mode in Chinese.
    mode_zh: &'static str,
    /// Promised time limit, working days.
    time_limit_days: u32,
    /// Can be handled across regions (跨域通办).
    cross_region: bool,
    /// The certificate it issues.
    certificate: Option<String>,
    /// Materials still needed.
    materials: Vec<String>,
    /// What the form asks.
    form: Vec<FieldDto>,
    /// What is taken from the registers instead of asked.
    from_registers: Vec<FieldDto>,
    /// Demo content.
    demo: bool,
}

fn field_dto(f: &wanxiang_core::service::Field) -> FieldDto {
    FieldDto {
        key: f.key.clone(),
        label_zh: f.label_zh.clone(),
        label_en: f.label_en.clone(),
        kind: f.kind.as_str(),
        choices: match &f.kind {
            FieldKind::Choice(c) => Some(c.clone()),
            _ => None,
        },
        source: match &f.source {
            Source::Form => "form".into(),
            Source::Register(fact) => fact.clone(),
        },
        required: f.required,
    }
}

fn item_dto(i: &Item, names: &HashMap<String, String>) -> ItemDto {
    ItemDto {
        code: i.code.to_string(),
        name_zh: i.name_zh.clone(),
        name_en: i.name_en.clone(),
        type_zh: i.code.type_zh(),
        department: i.department.to_string(),
        department_name: names
            .get(i.department.as_str())
            .cloned()
            .unwrap_or_else(|| i.department.to_string()),
        legal_basis: i.legal_basis.clone(),
        applicant: i.applicant.as_str(),
        mode: i.mode.as_str(),
        mode_zh: i.mode.name_zh(),
        time_limit_days: i.time_limit_days,
        cross_region: i.cross_region,
        certificate: i.certificate.clone(),
        materials: i.materials.clone(),
        form: i.form_fields().map(field_dto).collect(),
        from_registers: i
            .fields
            .iter()
            .filter(|f| f.source != Source::Form)
            .map(field_dto)
            .collect(),
        demo: i.demo,
    }
}

/// A line of an application's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepDto {
    /// When (RFC 3339).
    at: String,
    /// Who (an account id, or `system` for the rules and triggers).
    actor: String,
    /// The account's display name (`系统 / system` for the platform).
    actor_name: String,
    /// `applicant`, `reviewer` or `system`.
    role: String,
    /// The action.
    action: String,
    /// State before.
    from: String,
    /// State after.
    to: String,
    /// Reasons, what to correct.
    note: Option<String>,
}

/// An application (办件).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationDto {
    /// Id.
    id: String,
    /// The item's code.
    item: String,
    /// The item's name.
    item_name: String,
    /// Deciding department.
    department: String,
    /// The deciding department's name.
    department_name: String,
    /// The reviewer it is delegated to (委托; an account id), if any.
    assignee: Option<String>,
    /// That reviewer's display name.
    assignee_name: Option<String>,
    /// The applicant's 好差评, 1 (非常不满意) to 5 (非常满意), once rated.
    rating: Option<i32>,
    /// The department that countersigns it (会签), if its item needs one.
    countersign: Option<String>,
    /// `instant`, `proactive` or `standard`.
    mode: String,
    /// `draft`, `offered`, `declined`, `pending`, `review`, `countersign`, `correction`, `approved`,
    /// `refused`, `withdrawn`.
    state: String,
    /// The state in Chinese.
    state_zh: &'static str,
    /// The applicant's identity number, masked.
    applicant: String,
    /// The enterprise applying.
    enterprise: Option<String>,
    /// The form as filled in.
    #[schema(value_type = Object)]
    form: Value,
    /// Created (RFC 3339).
    created_at: String,
    /// Last changed (RFC 3339).
    updated_at: String,
    /// Promised deadline (RFC 3339).
    due_at: Option<String>,
    /// Whether the deadline passed while it waited for a decision (the department and the
    /// district's supervisors were told).
    overdue: bool,
    /// The latest decision record.
    decision: Option<String>,
    /// The failing rules of the latest decision, in plain language.
    failures: Vec<String>,
    /// The certificate issued.
    certificate: Option<String>,
    /// The bundle it belongs to.
    bundle: Option<String>,
    /// What the caller may do now.
    allowed: Vec<&'static str>,
    /// The history, on the single-application route.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<StepDto>>,
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
                .to_rfc3339()
        })
        .unwrap_or_default()
}

fn lifecycle(a: &ApplicationRecord) -> Application {
    Application {
        state: AppStateKind::parse(&a.state).unwrap_or(AppStateKind::Pending),
        mode: Mode::parse(&a.mode).unwrap_or(Mode::Standard),
        deciding: a.deciding,
        rated: a.rating.is_some(),
        countersign: a.countersign.is_some(),
    }
}

/// What the caller may do to the application now.
fn allowed_for(who: &Caller, p: &Principal, a: &ApplicationRecord) -> Vec<&'static str> {
    let own = matches!(who, Caller::Resident { .. }) && who.sees(p, a);
    let reviewer = who.reviews(p, a);
    service::allowed(&lifecycle(a))
        .into_iter()
        .filter(|action| match *action {
            "decide" => false,
            "submit" | "confirm" | "decline" | "withdraw" | "rate" => own,
            _ => reviewer,
        })
        .collect()
}

/// Who is who in an answer: department and account names, read once per request (not per
/// application of a list).
pub(crate) struct Names {
    /// Department names by code.
    departments: HashMap<String, String>,
    /// Account display names by id.
    accounts: HashMap<String, String>,
}

impl Names {
    pub(crate) async fn load(state: &AppState) -> Result<Names, AppError> {
        Ok(Names {
            departments: department_names(state).await?,
            accounts: account_names(state).await?,
        })
    }

    fn department(&self, code: &str) -> String {
        self.departments
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }

    fn account(&self, id: &str) -> String {
        if id == "system" {
            "系统 / system".to_owned()
        } else {
            self.accounts
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_owned())
        }
    }
}

async fn application_dto(
    state: &AppState,
    who: &Caller,
    p: &Principal,
    a: &ApplicationRecord,
    with_history: bool,
    names: &Names,
) -> Result<ApplicationDto, AppError> {
    let store = state.store.services();
    let failures = match &a.decision {
        Some(id) => store
            .decision(id)
            .await?
            .map(|d| serde_json::from_str::<Vec<String>>(&d.failures).unwrap_or_default())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let steps = if with_history {
        store.application_history(&a.id).await?
    } else {
        Vec::new()
    };
    let name_of = |id: &str| names.account(id);
    let history = if with_history {
        Some(
            steps
                .into_iter()
                .map(|s| StepDto {
                    at: rfc3339(s.at),
                    actor_name: name_of(&s.actor),
                    actor: s.actor,
                    role: s.role,
                    action: s.action,
                    from: s.from,
                    to: s.to,
                    note: s.note,
                })
                .collect(),
        )
    } else {
        None
    };
    Ok(ApplicationDto {
        id: a.id.clone(),
        item: a.item.clone(),
        item_name: state
            .services
            .catalogue
            .item(&a.item)
            .map(|i| i.name_zh.clone())
            .unwrap_or_default(),
        department: a.department.clone(),
        department_name: names.department(&a.department),
        assignee: a.assignee.clone(),
        assignee_name: a.assignee.as_deref().map(name_of),
        rating: a.rating,
        countersign: a.countersign.clone(),
        mode: a.mode.clone(),
        state: a.state.clone(),
        state_zh: AppStateKind::parse(&a.state).map_or("", |s| s.name_zh()),
        applicant: certificate::mask_holder(&a.person),
        enterprise: a.enterprise.clone(),
        form: serde_json::from_str(&a.form).unwrap_or(Value::Null),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
        due_at: a.due_at.map(rfc3339),
        overdue: a.overdue,
        decision: a.decision.clone(),
        failures,
        certificate: a.certificate.clone(),
        bundle: a.bundle.clone(),
        allowed: {
            let mut allowed = allowed_for(who, p, a);
            // A bundle's enterprise item waits for its enterprise: it is submitted by itself.
            let waits = a.state == AppStateKind::Draft.as_str()
                && a.bundle.is_some()
                && a.enterprise.is_none()
                && state
                    .services
                    .catalogue
                    .item(&a.item)
                    .is_some_and(|i| i.applicant == ApplicantKind::Enterprise);
            if waits {
                allowed.retain(|x| *x != "submit");
            }
            allowed
        },
        history,
    })
}

// --- The catalogue. ---

/// The service catalogue (public, like every government's list of services).
#[utoipa::path(get, path = "/api/v1/services/items", tag = "services",
    responses((status = 200, body = Vec<ItemDto>)))]
async fn list_items(State(state): State<AppState>) -> Result<Json<Vec<ItemDto>>, AppError> {
    let names = department_names(&state).await?;
    Ok(Json(
        state
            .services
            .catalogue
            .items
            .values()
            .map(|e| item_dto(&e.item, &names))
            .collect(),
    ))
}

/// Every account's display name by id, for history lines and delegations.
async fn account_names(state: &AppState) -> Result<HashMap<String, String>, AppError> {
    let scope = wanxiang_core::Scope::system("names of the accounts in an application's history");
    Ok(state
        .store
        .accounts(&scope)
        .await?
        .into_iter()
        .map(|x| (x.id, x.display_name))
        .collect())
}

/// Every department's name by code (departments are public organisations).
async fn department_names(state: &AppState) -> Result<HashMap<String, String>, AppError> {
    let scope = wanxiang_core::Scope::system("department names for the service catalogue");
    Ok(state
        .store
        .departments(&scope)
        .await?
        .into_iter()
        .map(|d| (d.code.to_string(), d.name))
        .collect())
}

/// One item: what the form asks and what is taken from the registers.
#[utoipa::path(get, path = "/api/v1/services/items/{code}", tag = "services",
    params(("code" = String, Path, description = "Item code")),
    responses((status = 200, body = ItemDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_item(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<ItemDto>, AppError> {
    let item = known_item(&state, &code)?;
    let names = department_names(&state).await?;
    Ok(Json(item_dto(item, &names)))
}

fn known_item<'a>(state: &'a AppState, code: &str) -> Result<&'a Item, AppError> {
    state
        .services
        .catalogue
        .item(code)
        .ok_or_else(|| AppError::NotFound(format!("没有事项 {code} / no item {code}")))
}

// --- Decision models. ---

/// A stored version of a decision model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDto {
    /// The item.
    item: String,
    /// Version (the highest is in force).
    version: i64,
    /// Who saved it (an account id, or `catalogue` for the shipped one).
    author: String,
    /// Their display name.
    author_name: String,
    /// When (RFC 3339).
    created_at: String,
    /// The GoRules JDM document (omitted in the version list).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    model: Option<Value>,
}

fn model_dto(
    m: wanxiang_store::services::ModelVersion,
    with_model: bool,
    names: &HashMap<String, String>,
) -> ModelDto {
    ModelDto {
        item: m.item,
        version: m.version,
        author_name: match m.author.as_str() {
            "catalogue" => "随事项目录发布 / shipped with the catalogue".to_owned(),
            id => names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
        },
        author: m.author,
        created_at: rfc3339(m.created_at),
        model: with_model.then(|| serde_json::from_str(&m.model).unwrap_or(Value::Null)),
    }
}

async fn staff_of_item(state: &AppState, p: &Principal, item: &Item) -> Result<Caller, AppError> {
    let who = caller(state, p).await?;
    let ok = match &who {
        Caller::Department { code, .. } => *code == item.department.as_str(),
        Caller::District { .. } => true,
        _ => false,
    };
    if ok {
        Ok(who)
    } else {
        Err(AppError::Forbidden(
            "只有事项所属部门或区级管理人员可查看决策模型 / only the item's department or district staff see its model".into(),
        ))
    }
}

/// The version an edit started from.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BaseQuery {
    /// The version the edit started from: if another version was saved since, 409 and nothing
    /// is stored (so a colleague's newer version is never silently replaced).
    base: Option<i64>,
}

/// Which version of a model.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version number; the one in force when absent.
    version: Option<i64>,
}

/// The decision model in force for an item, or an older version (its department's staff and
/// district staff).
#[utoipa::path(get, path = "/api/v1/services/items/{code}/model", tag = "services",
    params(("code" = String, Path, description = "Item code"), VersionQuery),
    responses((status = 200, body = ModelDto), (status = 403, body = crate::error::ErrorEnvelope),
              (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_model(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<ModelDto>, AppError> {
    let item = known_item(&state, &code)?;
    staff_of_item(&state, &p, item).await?;
    let m = state
        .store
        .services()
        .model(&code, q.version)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(
                "此事项没有这个版本的决策模型 / no such version of this item's decision model"
                    .into(),
            )
        })?;
    let names = account_names(&state).await?;
    Ok(Json(model_dto(m, true, &names)))
}

/// Every version of an item's model, newest first.
#[utoipa::path(get, path = "/api/v1/services/items/{code}/model/versions", tag = "services",
    params(("code" = String, Path, description = "Item code")),
    responses((status = 200, body = Vec<ModelDto>), (status = 403, body = crate::error::ErrorEnvelope),
              (status = 404, body = crate::error::ErrorEnvelope)))]
async fn model_versions(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
) -> Result<Json<Vec<ModelDto>>, AppError> {
    let item = known_item(&state, &code)?;
    staff_of_item(&state, &p, item).await?;
    let versions = state.store.services().model_versions(&code).await?;
    let names = account_names(&state).await?;
    Ok(Json(
        versions
            .into_iter()
            .map(|m| model_dto(m, false, &names))
            .collect(),
    ))
}

/// Saves a new version of an item's decision model (the department's admin or a district
/// admin). The model is validated first: a GoRules JDM graph of input, decision-table,
/// expression and output nodes only — no scripting — whose tables read only the item's fields.
#[utoipa::path(put, path = "/api/v1/services/items/{code}/model", tag = "services",
    params(("code" = String, Path, description = "Item code"), BaseQuery),
    request_body(content = Object, description = "A GoRules JDM document"),
    responses((status = 200, body = ModelDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope),
              (status = 409, body = crate::error::ErrorEnvelope, description = "`base` is not the version in force")))]
async fn put_model(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    Query(q): Query<BaseQuery>,
    Json(document): Json<Value>,
) -> Result<Json<ModelDto>, AppError> {
    let item = known_item(&state, &code)?;
    let who = staff_of_item(&state, &p, item).await?;
    if !who.edits_model(item) {
        return Err(AppError::Forbidden(
            "只有事项所属部门或区级管理员可修改决策模型 / only the department's or the district's admins edit models".into(),
        ));
    }
    if !item.mode.decided_by_rules() {
        return Err(AppError::field(
            "not_rule_decided",
            "model",
            "一般审批事项没有决策模型 / a standard item is reviewed by people, not by a model",
        ));
    }
    let text = document.to_string();
    catalogue::check_model(&text, &item.fields)
        .map_err(|e| AppError::field("invalid_model", "model", e))?;
    let now = state.clock.now_ms();
    let store = state.store.services();
    if let Some(base) = q.base {
        let current = store.model(&code, None).await?.map_or(0, |m| m.version);
        if current != base {
            return Err(AppError::Conflict(format!(
                "你编辑的是第 {base} 版，现行的是第 {current} 版 / you edited version {base}; version {current} is in force"
            )));
        }
    }
    let version = store.put_model(&code, &text, &p.account.id, now).await?;
    crate::people::record_by(
        &state,
        &p,
        crate::people::Event {
            action: "decision_model_saved",
            target: Some(code.clone()),
            detail: format!("item {code} model version {version}"),
            org: &p.account.org,
        },
    )
    .await?;
    let m = store.model(&code, Some(version)).await?.ok_or_else(|| {
        AppError::Unavailable("刚保存的模型读不到 / the saved model vanished".into())
    })?;
    let names = account_names(&state).await?;
    Ok(Json(model_dto(m, true, &names)))
}

// --- Applications. ---

/// A new application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitInput {
    /// The item's code.
    item: String,
    /// For enterprise items: the credit code of an enterprise the applicant legally represents.
    #[serde(default)]
    enterprise: Option<String>,
    /// The form: only the item's form fields (register data is never asked).
    #[serde(default)]
    #[schema(value_type = Object)]
    form: Map<String, Value>,
}

/// Checks a form against the item's form fields.
fn check_form(item: &Item, form: &Map<String, Value>) -> Result<Map<String, Value>, AppError> {
    let mut out = Map::new();
    for (key, value) in form {
        let Some(field) = item
            .form_fields()
            .find(|f| f.key.strip_prefix("form.") == Some(key.as_str()))
        else {
            let held = item
                .fields
                .iter()
                .any(|f| f.key.ends_with(&format!(".{key}")));
            let why = if held {
                "由共享库提供，无需填写 / taken from the registers, never asked"
            } else {
                "此事项没有这个字段 / the item has no such field"
            };
            return Err(AppError::field(
                "unknown_field",
                "form",
                format!("{key}: {why}"),
            ));
        };
        let bad = |what: &str| {
            AppError::field(
                "invalid_field",
                "form",
                format!("{key}（{}）: {what}", field.label_zh),
            )
        };
        let ok = match (&field.kind, value) {
            (_, Value::Null) => continue,
            (FieldKind::Number, Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {
                value.clone()
            }
            (FieldKind::Number, _) => return Err(bad("须为数字 / must be a number")),
            (FieldKind::Bool, Value::Bool(_)) => value.clone(),
            (FieldKind::Bool, _) => return Err(bad("须为 true 或 false / must be true or false")),
            (FieldKind::Text, Value::String(s)) => {
                let s = s.trim();
                if s.is_empty() || s.chars().count() > 500 {
                    return Err(bad("须为 1 至 500 个字符 / 1 to 500 characters"));
                }
                Value::String(s.to_owned())
            }
            (FieldKind::Date, Value::String(s))
                if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() =>
            {
                value.clone()
            }
            (FieldKind::Choice(choices), Value::String(s)) if choices.contains(s) => value.clone(),
            (FieldKind::Choice(choices), _) => {
                return Err(bad(&format!(
                    "须为 {} 之一 / one of these",
                    choices.join("、")
                )));
            }
            _ => return Err(bad("格式不对 / wrong kind of value")),
        };
        out.insert(key.clone(), ok);
    }
    for field in item.form_fields().filter(|f| f.required) {
        let key = field.key.trim_start_matches("form.");
        if !out.contains_key(key) {
            return Err(AppError::field(
                "missing_field",
                "form",
                format!("缺少 {key}（{}） / {key} is required", field.label_zh),
            ));
        }
    }
    Ok(out)
}

async fn resident_person(
    state: &AppState,
    p: &Principal,
) -> Result<wanxiang_store::services::Person, AppError> {
    if !p.has(Role::Resident) {
        return Err(AppError::Forbidden(
            "只有居民可以申请 / only residents apply".into(),
        ));
    }
    state
        .store
        .services()
        .person_by_phone(&p.account.username)
        .await?
        .ok_or_else(|| {
            AppError::Forbidden(
                "账号未与人口库中的实名身份关联 / the account has no real-name identity in the population register".into(),
            )
        })
}

/// Applies for an item. An instant item is decided at once by its rules: approved with its
/// certificate issued, or left pending for review with the failing rules named (the applicant
/// may correct the form and submit again). A standard item waits for a reviewer.
#[utoipa::path(post, path = "/api/v1/services/applications", tag = "services", request_body = SubmitInput,
    responses((status = 201, body = ApplicationDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn submit(
    State(state): State<AppState>,
    p: Principal,
    Json(input): Json<SubmitInput>,
) -> Result<(axum::http::StatusCode, Json<ApplicationDto>), AppError> {
    let item = known_item(&state, &input.item)?.clone();
    let person = resident_person(&state, &p).await?;
    let enterprise = match (item.applicant, input.enterprise.as_deref()) {
        (ApplicantKind::Enterprise, None) => {
            return Err(AppError::field(
                "missing_field",
                "enterprise",
                "企业事项须指明企业的统一社会信用代码 / an enterprise item names the enterprise (credit code)",
            ));
        }
        (ApplicantKind::Enterprise, Some(uscc)) => {
            let theirs = state.store.services().enterprises_of(&person.id).await?;
            if !theirs.iter().any(|e| e.uscc == uscc) {
                return Err(AppError::Forbidden(
                    "你不是该企业的法定代表人 / you are not the enterprise's legal representative"
                        .into(),
                ));
            }
            Some(uscc.to_owned())
        }
        (ApplicantKind::Resident, Some(_)) => {
            return Err(AppError::field(
                "invalid_field",
                "enterprise",
                "个人事项不填企业 / a resident item names no enterprise",
            ));
        }
        (ApplicantKind::Resident, None) => None,
    };
    let form = check_form(&item, &input.form)?;
    let now = state.clock.now_ms();
    let record = ApplicationRecord {
        id: uuid::Uuid::now_v7().to_string(),
        item: item.code.to_string(),
        department: item.department.to_string(),
        mode: item.mode.as_str().into(),
        state: AppStateKind::Draft.as_str().into(),
        deciding: false,
        person: person.id.clone(),
        enterprise,
        account: Some(p.account.id.clone()),
        form: Value::Object(form).to_string(),
        offer_key: None,
        bundle: None,
        created_at: now,
        updated_at: now,
        due_at: None,
        decision: None,
        certificate: None,
        rating: None,
        version: 0,
        overdue: false,
        countersign: item.countersign.as_ref().map(|d| d.to_string()),
        assignee: None,
    };
    let created = open_application(&state, record, &item, &p.account.id, None).await?;
    bundles::after_approval(&state, created.clone()).await?;
    let who = caller(&state, &p).await?;
    let names = Names::load(&state).await?;
    let dto = application_dto(&state, &who, &p, &created, true, &names).await?;
    Ok((axum::http::StatusCode::CREATED, Json(dto)))
}

/// Stores a new application and submits it (deciding it by rules where the item is so decided).
pub(crate) async fn open_application(
    state: &AppState,
    record: ApplicationRecord,
    item: &Item,
    actor: &str,
    form: Option<String>,
) -> Result<ApplicationRecord, AppError> {
    let store = state.store.services();
    let draft = ApplicationStep {
        at: record.created_at,
        actor: actor.to_owned(),
        role: "applicant".into(),
        action: "create".into(),
        from: AppStateKind::Draft.as_str().into(),
        to: AppStateKind::Draft.as_str().into(),
        note: None,
    };
    if !store.create_application(&record, &draft).await? {
        return Err(AppError::Conflict(
            "申请已存在 / the application exists".into(),
        ));
    }
    let stored = store.application(&record.id).await?.ok_or_else(not_found)?;
    transition(
        state,
        stored,
        item,
        &Command::Submit,
        actor,
        "applicant",
        Edit {
            form,
            ..Edit::default()
        },
    )
    .await
}

/// What a command changes beside the state.
#[derive(Debug, Default)]
pub(crate) struct Edit {
    /// A corrected form (JSON).
    pub form: Option<String>,
    /// The enterprise, once a bundle's business licence registered it.
    pub enterprise: Option<String>,
    /// The applicant's rating, 1 (非常不满意) to 5 (非常满意).
    pub rating: Option<i32>,
    /// The reviewer it is delegated to (`Some("")` clears).
    pub assignee: Option<String>,
}

/// Applies a command, then, where it leaves the application waiting for the rules, decides it.
async fn transition(
    state: &AppState,
    current: ApplicationRecord,
    item: &Item,
    command: &Command,
    actor: &str,
    role: &str,
    edit: Edit,
) -> Result<ApplicationRecord, AppError> {
    let (next, t) =
        service::step(&lifecycle(&current), command).map_err(|e| AppError::IllegalTransition {
            message: e.to_string(),
            allowed: e.allowed.iter().map(|s| s.to_string()).collect(),
        })?;
    let now = state.clock.now_ms();
    // The promised time limit starts with the submission; 补正 pauses it: back from correction,
    // the deadline moves by the time the application spent with the applicant.
    let due_at = match t.from {
        AppStateKind::Draft | AppStateKind::Offered if t.to == AppStateKind::Pending => {
            Some(wanxiang_core::sla::due_at(
                now,
                item.time_limit_days,
                wanxiang_core::sla::TimerKind::WorkingDays,
                &state.hub.calendar,
            ))
        }
        AppStateKind::Correction if t.to != AppStateKind::Correction => current
            .due_at
            .map(|due| due + (now - current.updated_at).max(0)),
        _ => None,
    };
    let certificate = if next.state == AppStateKind::Approved && !next.deciding {
        issue_for(state, &current, item, None, now).await?
    } else {
        None
    };
    let updated = state
        .store
        .services()
        .update_application(&ApplicationUpdate {
            id: current.id.clone(),
            expected_version: current.version,
            state: next.state.as_str().into(),
            deciding: next.deciding,
            form: edit.form,
            enterprise: edit.enterprise,
            // Countersigning passes it to the other department: its own delegation ends.
            assignee: if t.from != AppStateKind::Countersign
                && next.state == AppStateKind::Countersign
            {
                Some(String::new())
            } else {
                edit.assignee
            },
            due_at,
            rating: edit.rating,
            step: ApplicationStep {
                at: now,
                actor: actor.to_owned(),
                role: role.to_owned(),
                action: t.action.into(),
                from: t.from.as_str().into(),
                to: t.to.as_str().into(),
                note: t.note,
            },
            decision: None,
            certificate,
        })
        .await?;
    tell(state, &updated, item, now).await?;
    if updated.deciding {
        return decide(state, updated, item, actor).await;
    }
    Ok(updated)
}

/// Evaluates the item's decision model on the registers' data and the form, stores the decision
/// record, and moves the application on: approved (certificate issued) or pending review with
/// the failing rules named.
pub(crate) async fn decide(
    state: &AppState,
    current: ApplicationRecord,
    item: &Item,
    actor: &str,
) -> Result<ApplicationRecord, AppError> {
    let now = state.clock.now_ms();
    let (decision, failures) = evaluate(state, &current, item, actor, now).await?;
    conclude(state, current, item, failures, Some(decision), now).await
}

/// Ends an application's wait for the rules: approved (certificate issued) when nothing failed,
/// else pending review with the reasons; with the decision record, when the rules made one (an
/// application they could not decide goes to review without).
pub(crate) async fn conclude(
    state: &AppState,
    current: ApplicationRecord,
    item: &Item,
    failures: Vec<String>,
    decision: Option<DecisionRecord>,
    now: i64,
) -> Result<ApplicationRecord, AppError> {
    let (next, t) = service::step(&lifecycle(&current), &Command::Decide { failures })
        .map_err(|e| AppError::Conflict(e.to_string()))?;
    let certificate = if next.state == AppStateKind::Approved {
        issue_for(
            state,
            &current,
            item,
            decision.as_ref().map(|d| d.id.as_str()),
            now,
        )
        .await?
    } else {
        None
    };
    let updated = state
        .store
        .services()
        .update_application(&ApplicationUpdate {
            id: current.id.clone(),
            expected_version: current.version,
            state: next.state.as_str().into(),
            deciding: next.deciding,
            form: None,
            enterprise: None,
            assignee: None,
            due_at: None,
            rating: None,
            step: ApplicationStep {
                at: now,
                actor: "system".into(),
                role: "system".into(),
                action: t.action.into(),
                from: t.from.as_str().into(),
                to: t.to.as_str().into(),
                note: t.note,
            },
            decision,
            certificate,
        })
        .await?;
    tell(state, &updated, item, now).await?;
    Ok(updated)
}

/// Runs the model and builds the decision record (not yet stored) and the failing reasons.
async fn evaluate(
    state: &AppState,
    a: &ApplicationRecord,
    item: &Item,
    actor: &str,
    now: i64,
) -> Result<(DecisionRecord, Vec<String>), AppError> {
    let store = state.store.services();
    let version = store
        .model(item.code.as_str(), None)
        .await?
        .ok_or_else(|| {
            AppError::Unavailable(
                "此事项的决策模型尚未存储 / the item's decision model is not stored yet".into(),
            )
        })?;
    let model = state
        .services
        .compiled(item, version.version, &version.model)?;
    let person = store.person(&a.person).await?.ok_or_else(|| {
        AppError::Unavailable(
            "申请人不在人口库中 / the applicant is not in the population register".into(),
        )
    })?;
    let enterprise = match &a.enterprise {
        Some(uscc) => store.enterprise(uscc).await?,
        None => None,
    };
    let form: Map<String, Value> = serde_json::from_str(&a.form).unwrap_or_default();
    let purpose = format!("application:{}", a.id);
    let gathered = registers::gather(
        store,
        item,
        &registers::Subject { person, enterprise },
        &form,
        registers::Reader {
            account: actor,
            purpose: &purpose,
            at: now,
        },
    )
    .await?;
    store.log_access(&gathered.accesses).await?;
    let (output, trace, failures) = match model.evaluate(&gathered.inputs) {
        Ok(e) => {
            let mut failures = failures_of(&e.output);
            if e.has_cell_errors() {
                failures.push(
                    "部分规则因数据缺失或类型不符无法判断，转人工审查 / some rules could not be judged (data missing or of the wrong kind); sent to review"
                        .into(),
                );
            }
            (
                e.output,
                serde_json::to_value(&e.trace).unwrap_or(Value::Null),
                failures,
            )
        }
        Err(e) => (
            Value::Null,
            Value::Null,
            vec![format!(
                "规则无法评估，转人工审查 / the rules could not be evaluated, sent to review: {e}"
            )],
        ),
    };
    let record = DecisionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        application: a.id.clone(),
        item: item.code.to_string(),
        model_version: version.version,
        inputs: gathered.inputs.to_string(),
        output: output.to_string(),
        trace: trace.to_string(),
        failures: serde_json::to_string(&failures).unwrap_or_else(|_| "[]".into()),
        approved: failures.is_empty(),
        at: now,
    };
    Ok((record, failures))
}

/// The failing rules' reasons in a model's output (`failures: [{rule, reason}]`).
fn failures_of(output: &Value) -> Vec<String> {
    match output.get("failures") {
        Some(Value::Array(rows)) => rows
            .iter()
            .map(|r| {
                r.get("reason")
                    .and_then(Value::as_str)
                    .or_else(|| r.get("rule").and_then(Value::as_str))
                    .unwrap_or("未命名规则 / unnamed rule")
                    .to_owned()
            })
            .collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![format!(
            "模型输出不合约定 / the model's output is not a list of failures: {other}"
        )],
    }
}

/// The day (China Standard Time) of a time.
pub(crate) fn today(now: i64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now + 8 * 3600 * 1000)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

async fn department_name(state: &AppState, code: &str) -> String {
    department_names(state)
        .await
        .ok()
        .and_then(|names| names.get(code).cloned())
        .unwrap_or_else(|| code.to_owned())
}

/// Signs the item's certificate for an approved application (none if the item issues none).
async fn issue_for(
    state: &AppState,
    a: &ApplicationRecord,
    item: &Item,
    decision: Option<&str>,
    now: i64,
) -> Result<Option<Certificate>, AppError> {
    let Some(name) = &item.certificate else {
        return Ok(None);
    };
    let store = state.store.services();
    let (holder, holder_name) = match &a.enterprise {
        Some(uscc) => (
            uscc.clone(),
            store
                .enterprise(uscc)
                .await?
                .map(|e| e.name)
                .unwrap_or_default(),
        ),
        None => (
            a.person.clone(),
            store
                .person(&a.person)
                .await?
                .map(|p| p.name)
                .unwrap_or_default(),
        ),
    };
    let key = certificate::department_key(store, &a.department, now).await?;
    let department_name = department_name(state, &a.department).await;
    let expires_on = licence_years(item).map(|years| {
        let d = today(now);
        d.with_year_offset(years).to_string()
    });
    let c = certificate::issue(
        certificate::Draft {
            id: uuid::Uuid::now_v7().to_string(),
            item: item.code.as_str(),
            name,
            holder: &holder,
            holder_name: &holder_name,
            department: &a.department,
            department_name: &department_name,
            application: &a.id,
            decision,
            issued_at: now,
            expires_on,
        },
        &key,
    )
    .map_err(|e| AppError::Unavailable(format!("签发失败 / signing failed: {e}")))?;
    Ok(Some(c))
}

/// Licences (行政许可) are valid five years; other certificates have no end date.
fn licence_years(item: &Item) -> Option<i32> {
    item.code.as_str().starts_with("01").then_some(5)
}

trait YearOffset {
    fn with_year_offset(self, years: i32) -> chrono::NaiveDate;
}

impl YearOffset for chrono::NaiveDate {
    fn with_year_offset(self, years: i32) -> chrono::NaiveDate {
        self.checked_add_months(chrono::Months::new(12 * years as u32))
            .unwrap_or(self)
    }
}

/// Notifies the applicant (in-app inbox, and the webhook for SMS) of what happened.
async fn tell(
    state: &AppState,
    a: &ApplicationRecord,
    item: &Item,
    now: i64,
) -> Result<(), AppError> {
    let store = state.store.services();
    let account = match &a.account {
        Some(id) => Some(id.clone()),
        None => match store.person(&a.person).await?.and_then(|p| p.phone) {
            Some(phone) => store.account_of_phone(&phone).await?,
            None => None,
        },
    };
    let Some(account) = account else {
        return Ok(());
    };
    let (kind, message) = match AppStateKind::parse(&a.state) {
        Some(AppStateKind::Offered) => (
            "service_offered",
            format!(
                "您符合「{}」条件，已为您预填申请，确认即可办理 / you qualify for {}: your application is filled in, confirm to apply",
                item.name_zh, item.name_en
            ),
        ),
        Some(AppStateKind::Approved) => (
            "service_approved",
            format!(
                "您的「{}」申请已办结（准予） / your application for {} is approved",
                item.name_zh, item.name_en
            ),
        ),
        Some(AppStateKind::Refused) => (
            "service_refused",
            format!(
                "您的「{}」申请不予批准 / your application for {} is refused",
                item.name_zh, item.name_en
            ),
        ),
        Some(AppStateKind::Correction) => (
            "service_correction",
            format!(
                "您的「{}」申请需要补正 / your application for {} needs correcting",
                item.name_zh, item.name_en
            ),
        ),
        Some(AppStateKind::Pending) if !a.deciding && a.decision.is_some() => (
            "service_review",
            format!(
                "您的「{}」申请未通过自动审批，已转人工审查，可修改后重新提交 / your application for {} did not pass the rules; it waits for review, or correct it and submit again",
                item.name_zh, item.name_en
            ),
        ),
        _ => return Ok(()),
    };
    state
        .store
        .notify(
            &[wanxiang_core::inbox::Notification {
                id: 0,
                at: now,
                recipient: wanxiang_core::inbox::Recipient::Account(account),
                case_id: None,
                kind: kind.into(),
                message,
            }],
            state.hub.webhook.is_some(),
        )
        .await?;
    if state.hub.webhook.is_some() {
        state.outbox_wake.notify_one();
    }
    Ok(())
}

/// Filters of the application list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only in this state.
    state: Option<String>,
    /// Only of this item.
    item: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Applications the caller may see: a resident's own (and offers made to them), a department's,
/// or, for district staff, all. Newest first.
#[utoipa::path(get, path = "/api/v1/services/applications", tag = "services", params(ListQuery),
    responses((status = 200, body = Vec<ApplicationDto>)))]
async fn list_applications(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ApplicationDto>>, AppError> {
    let who = caller(&state, &p).await?;
    let mut filter = who.filter(&p);
    filter.state = q.state;
    filter.item = q.item;
    filter.limit = q.limit.unwrap_or(100);
    let list = state.store.services().applications(&filter).await?;
    let names = Names::load(&state).await?;
    let mut out = Vec::with_capacity(list.len());
    for a in &list {
        out.push(application_dto(&state, &who, &p, a, false, &names).await?);
    }
    Ok(Json(out))
}

/// One application with its history and what the caller may do.
#[utoipa::path(get, path = "/api/v1/services/applications/{id}", tag = "services",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_application(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<ApplicationDto>, AppError> {
    let who = caller(&state, &p).await?;
    let a = visible(&state, &p, &who, &id).await?;
    let names = Names::load(&state).await?;
    Ok(Json(
        application_dto(&state, &who, &p, &a, true, &names).await?,
    ))
}

/// An action on an application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// The applicant's `submit` (again, after correcting), `confirm` or `decline` (an offer),
    /// `withdraw`; a reviewer's `accept` (受理), `return` (补正, with `note`), `approve`, `refuse`
    /// (with `note`).
    action: String,
    /// Reasons (return, refuse).
    #[serde(default)]
    note: Option<String>,
    /// The corrected form (submit).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    form: Option<Map<String, Value>>,
    /// 委托 (delegate): the login name of a colleague in the deciding department.
    #[serde(default)]
    to: Option<String>,
    /// 好差评 (rate): `very_satisfied`, `satisfied`, `fairly_satisfied`, `unsatisfied`,
    /// `very_unsatisfied`; the last two open a follow-up case.
    #[serde(default)]
    level: Option<String>,
}

/// Moves an application on. Actions its state does not allow answer 409 with the allowed ones;
/// actions that are not the caller's to take, 403.
#[utoipa::path(post, path = "/api/v1/services/applications/{id}/actions", tag = "services",
    request_body = ActionInput, params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope),
              (status = 409, body = crate::error::ErrorEnvelope)))]
async fn act(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(input): Json<ActionInput>,
) -> Result<Json<ApplicationDto>, AppError> {
    let who = caller(&state, &p).await?;
    let current = visible(&state, &p, &who, &id).await?;
    let item = known_item(&state, &current.item)?.clone();
    let note = || {
        input
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().count() <= 2000)
            .map(str::to_owned)
            .ok_or_else(|| {
                AppError::field(
                    "missing_field",
                    "note",
                    "须写明理由（2000 字以内） / a note (up to 2,000 characters) is required",
                )
            })
    };
    let command = match input.action.as_str() {
        "submit" => Command::Submit,
        "confirm" => Command::Confirm,
        "decline" => Command::Decline,
        "withdraw" => Command::Withdraw,
        "accept" => Command::Accept,
        "return" => Command::ReturnForCorrection { note: note()? },
        "approve" => Command::Approve,
        "refuse" => Command::Refuse { reason: note()? },
        "delegate" => Command::Delegate {
            to: input
                .to
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    AppError::field("missing_field", "to", "须指明委托给谁 / name the colleague")
                })?
                .to_owned(),
        },
        "rate" => {
            let level = input
                .level
                .as_deref()
                .and_then(wanxiang_core::case::Satisfaction::parse)
                .ok_or_else(|| {
                    AppError::field(
                        "invalid_level",
                        "level",
                        "评价须为 very_satisfied … very_unsatisfied / a level from very_satisfied to very_unsatisfied",
                    )
                })?;
            let comment = input
                .note
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| n.chars().take(500).collect::<String>());
            Command::Rate {
                level,
                note: comment,
            }
        }
        other => {
            return Err(AppError::field(
                "invalid_action",
                "action",
                format!("未知操作 {other:?} / unknown action"),
            ));
        }
    };
    let (allowed, role) = match command.actor() {
        service::Actor::Applicant => (matches!(who, Caller::Resident { .. }), "applicant"),
        service::Actor::Reviewer => (who.reviews(&p, &current), "reviewer"),
        service::Actor::System => (false, "system"),
    };
    if !allowed {
        return Err(AppError::Forbidden(format!(
            "你不能对此申请执行 {} / you may not {} this application",
            input.action, input.action
        )));
    }
    let form = match (&command, &input.form) {
        (Command::Submit, Some(form)) => Some(Value::Object(check_form(&item, form)?).to_string()),
        (_, Some(_)) => {
            return Err(AppError::field(
                "invalid_field",
                "form",
                "只有提交时可以修改表单 / the form changes only with submit",
            ));
        }
        _ => None,
    };
    // A rating is checked against the state first, so a refused rating opens no case.
    let mut command = command;
    let mut rating = None;
    if let Command::Rate { level, note } = &mut command {
        service::step(
            &lifecycle(&current),
            &Command::Rate {
                level: *level,
                note: None,
            },
        )
        .map_err(|e| AppError::IllegalTransition {
            message: e.to_string(),
            allowed: e.allowed.iter().map(|s| s.to_string()).collect(),
        })?;
        rating = Some(stars(*level));
        if level.demands_redo() {
            let case = follow_up(&state, &p, &current, &item, *level, note.as_deref()).await?;
            let line = format!("差评回访案件 / follow-up case {case}");
            *note = Some(match note.take() {
                Some(n) => format!("{n}；{line}"),
                None => line,
            });
        }
    }
    let assignee = match &command {
        Command::Delegate { to } => Some(delegate_to(&state, &current, to).await?),
        _ => None,
    };
    // A bundle's enterprise item waits for its enterprise: submitted without one, its rules would
    // judge nobody's data (and its licence go to no enterprise).
    if matches!(command, Command::Submit)
        && item.applicant == ApplicantKind::Enterprise
        && current.enterprise.is_none()
    {
        return Err(AppError::Conflict(
            "此事项等待一件事中的营业执照核发后自动提交 / this item is submitted by itself once its bundle's business licence is granted".into(),
        ));
    }
    let was_approved = current.state == AppStateKind::Approved.as_str();
    let updated = transition(
        &state,
        current,
        &item,
        &command,
        &p.account.id,
        role,
        Edit {
            form,
            rating,
            assignee,
            ..Edit::default()
        },
    )
    .await?;
    // Only an approval that just happened has consequences (a rating of an approved one has none).
    if !was_approved {
        bundles::after_approval(&state, updated.clone()).await?;
    }
    Ok(Json(
        application_dto(
            &state,
            &who,
            &p,
            &updated,
            true,
            &Names::load(&state).await?,
        )
        .await?,
    ))
}

/// The colleague an application is delegated to: an enabled reviewer (handler or admin) of the
/// department deciding it now. Returns the account id.
async fn delegate_to(
    state: &AppState,
    a: &ApplicationRecord,
    username: &str,
) -> Result<String, AppError> {
    let deciding = if a.state == AppStateKind::Countersign.as_str() {
        a.countersign.clone().unwrap_or_default()
    } else {
        a.department.clone()
    };
    let scope = wanxiang_core::Scope::system("delegation: find the colleague");
    let colleague = state
        .store
        .accounts(&scope)
        .await?
        .into_iter()
        .find(|x| x.username == username.to_lowercase())
        .filter(|x| {
            !x.disabled
                && x.org.key() == deciding
                && (x.roles.contains(&Role::Handler) || x.roles.contains(&Role::Admin))
        })
        .ok_or_else(|| {
            AppError::field(
                "invalid_field",
                "to",
                "须为本部门的审批人员 / must be a reviewer of the deciding department",
            )
        })?;
    Ok(colleague.id)
}

/// The five 好差评 levels as 1 (非常不满意) to 5 (非常满意).
fn stars(level: wanxiang_core::case::Satisfaction) -> i32 {
    use wanxiang_core::case::Satisfaction::*;
    match level {
        VeryUnsatisfied => 1,
        Unsatisfied => 2,
        FairlySatisfied => 3,
        Satisfied => 4,
        VerySatisfied => 5,
    }
}

/// A bad rating (不满意 or worse) opens a follow-up case (差评回访) in the event hub, reported by
/// the applicant at their community and waiting for a dispatcher, who sends it to the
/// department; the applicant follows it like any report. Once per application.
async fn follow_up(
    state: &AppState,
    p: &Principal,
    a: &ApplicationRecord,
    item: &Item,
    level: wanxiang_core::case::Satisfaction,
    comment: Option<&str>,
) -> Result<String, AppError> {
    use wanxiang_core::case::Channel;
    let atlas = crate::units::atlas(state)?;
    let person = state.store.services().person(&a.person).await?;
    // The household's community, or (registered elsewhere) the first community of the district.
    let home = person
        .as_ref()
        .and_then(|x| wanxiang_core::UnitCode::parse(&x.community).ok())
        .and_then(|c| atlas.unit(&c).cloned())
        .filter(|u| u.boundary.is_some())
        .or_else(|| {
            atlas
                .units()
                .iter()
                .find(|u| u.level == wanxiang_core::Level::Community && u.boundary.is_some())
                .cloned()
        })
        .ok_or_else(|| {
            AppError::Unavailable(
                "辖区没有社区边界 / the district has no community boundaries".into(),
            )
        })?;
    let seed =
        a.id.bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let (lon, lat) = crate::sensing::demo::place_in(&atlas, &home, seed);
    let place = crate::events::place_of(state, lon, lat).ok_or_else(|| {
        AppError::Unavailable(
            "回访地点不在本区 / the follow-up's place is outside the district".into(),
        )
    })??;
    let now = state.clock.now_ms();
    let description: String = format!(
        "【好差评回访】「{}」（{}）评价为{}{}；申请 / application {}",
        item.name_zh,
        item.department,
        level.name_zh(),
        comment.map(|c| format!("：{c}")).unwrap_or_default(),
        a.id
    )
    .chars()
    .take(crate::events::MAX_DESCRIPTION)
    .collect();
    let report = crate::events::Report {
        channel: Channel::ResidentApp,
        description,
        external_id: Some(format!("rating:{}", a.id)),
        reporter_contact: None,
        lon,
        lat,
        place,
        category: None,
        classified: None,
        queue_note: "政务服务差评回访，请派往事项所属部门 / a bad rating of a service: send it to the item's department".into(),
        attachments: Vec::new(),
        priority: None,
    };
    let new_case = crate::events::open_case(
        state,
        Some(&p.account.id),
        &crate::events::actor(p),
        &report,
        now,
    )
    .await?;
    let record = new_case.record.clone();
    let id = match crate::events::writer::write(state, new_case, None).await? {
        crate::events::writer::Written::Existing(existing) => existing,
        _ => {
            crate::events::after_write(state, &record, "created", now);
            record.id.clone()
        }
    };
    Ok(id)
}

// --- Decisions. ---

/// A decision record: the model version, every input, the output and the trace.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionDto {
    /// Id.
    id: String,
    /// The application.
    application: String,
    /// The item.
    item: String,
    /// The model version evaluated.
    model_version: i64,
    /// Whether every rule passed.
    approved: bool,
    /// The failing rules, in plain language.
    failures: Vec<String>,
    /// Every input (register facts and the form).
    #[schema(value_type = Object)]
    inputs: Value,
    /// The model's output.
    #[schema(value_type = Object)]
    output: Value,
    /// Every node, row and cell as evaluated.
    #[schema(value_type = Object)]
    trace: Value,
    /// When (RFC 3339).
    at: String,
}

async fn visible_decision(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<DecisionRecord, AppError> {
    let who = caller(state, p).await?;
    let d = state
        .store
        .services()
        .decision(id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个决策记录 / no such decision".into()))?;
    visible(state, p, &who, &d.application)
        .await
        .map_err(|_| AppError::NotFound("没有这个决策记录 / no such decision".into()))?;
    Ok(d)
}

/// A decision record (the applicant, the item's department, district staff).
#[utoipa::path(get, path = "/api/v1/services/decisions/{id}", tag = "services",
    params(("id" = String, Path, description = "Decision id")),
    responses((status = 200, body = DecisionDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_decision(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<DecisionDto>, AppError> {
    let d = visible_decision(&state, &p, &id).await?;
    Ok(Json(DecisionDto {
        failures: serde_json::from_str(&d.failures).unwrap_or_default(),
        inputs: serde_json::from_str(&d.inputs).unwrap_or(Value::Null),
        output: serde_json::from_str(&d.output).unwrap_or(Value::Null),
        trace: serde_json::from_str(&d.trace).unwrap_or(Value::Null),
        id: d.id,
        application: d.application,
        item: d.item,
        model_version: d.model_version,
        approved: d.approved,
        at: rfc3339(d.at),
    }))
}

/// The result of replaying a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayDto {
    /// The decision replayed.
    decision: String,
    /// The model version used (the one recorded, not the one in force).
    model_version: i64,
    /// Whether the replay gave the recorded output.
    same: bool,
    /// Whether every rule passed on replay.
    approved: bool,
    /// The failing rules on replay.
    failures: Vec<String>,
    /// The output on replay.
    #[schema(value_type = Object)]
    output: Value,
}

/// Replays a decision: evaluates the recorded model version on the recorded inputs and says
/// whether it gives the recorded output, so any approval can be audited.
#[utoipa::path(post, path = "/api/v1/services/decisions/{id}/replay", tag = "services",
    params(("id" = String, Path, description = "Decision id")),
    responses((status = 200, body = ReplayDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn replay(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<ReplayDto>, AppError> {
    let d = visible_decision(&state, &p, &id).await?;
    let item = known_item(&state, &d.item)?;
    let version = state
        .store
        .services()
        .model(&d.item, Some(d.model_version))
        .await?
        .ok_or_else(|| {
            AppError::Unavailable(
                "记录的模型版本已不存在 / the recorded model version is gone".into(),
            )
        })?;
    let model = state
        .services
        .compiled(item, version.version, &version.model)?;
    let inputs: Value = serde_json::from_str(&d.inputs).unwrap_or(Value::Null);
    let recorded: Value = serde_json::from_str(&d.output).unwrap_or(Value::Null);
    let output = model
        .evaluate(&inputs)
        .map(|e| e.output)
        .unwrap_or(Value::Null);
    let failures = failures_of(&output);
    Ok(Json(ReplayDto {
        decision: d.id,
        model_version: d.model_version,
        same: output == recorded,
        approved: failures.is_empty(),
        failures,
        output,
    }))
}

// --- Certificates. ---

/// A certificate as its holder or its department sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateDto {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// The issuing item.
    item: String,
    /// Holder (identity number masked, or credit code).
    holder: String,
    /// Holder's name.
    holder_name: String,
    /// Issuing department.
    department: String,
    /// Issued (RFC 3339).
    issued_at: String,
    /// Valid until.
    expires_on: Option<String>,
    /// Revoked (RFC 3339).
    revoked_at: Option<String>,
    /// Why.
    revoked_reason: Option<String>,
    /// `valid`, `revoked`, `expired` or `bad_signature`.
    validity: &'static str,
    /// The signed body (JSON text, exactly the bytes signed).
    body: String,
    /// Ed25519 signature of `body`, base64.
    signature: String,
    /// The department's public key, base64.
    public_key: Option<String>,
    /// The key id.
    key_id: String,
    /// The public verification page (what the QR code opens).
    verify_url: String,
    /// The printable page.
    print_url: String,
}

async fn visible_certificate(
    state: &AppState,
    p: &Principal,
    id: &str,
) -> Result<Certificate, AppError> {
    let gone = || AppError::NotFound("没有这个证照 / no such certificate".into());
    let c = state
        .store
        .services()
        .certificate(id)
        .await?
        .ok_or_else(gone)?;
    let who = caller(state, p).await?;
    let ok = match &who {
        Caller::Resident { .. } => match &c.application {
            Some(a) => visible(state, p, &who, a).await.is_ok(),
            None => false,
        },
        Caller::Department { code, .. } => *code == c.department,
        Caller::District { .. } => true,
        Caller::Other => false,
    };
    if ok { Ok(c) } else { Err(gone()) }
}

fn base_url(headers: &HeaderMap, secure: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("{}://{host}", if secure { "https" } else { "http" })
}

/// A certificate (its holder, its department, district staff).
#[utoipa::path(get, path = "/api/v1/services/certificates/{id}", tag = "services",
    params(("id" = String, Path, description = "Certificate id")),
    responses((status = 200, body = CertificateDto), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_certificate(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CertificateDto>, AppError> {
    let c = visible_certificate(&state, &p, &id).await?;
    let key = state.store.services().signing_key(&c.department).await?;
    let validity = certificate::check(&c, key.as_ref(), today(state.clock.now_ms()));
    let base = base_url(&headers, state.config.secure_cookies);
    Ok(Json(CertificateDto {
        verify_url: format!("{base}/verify/{}", c.id),
        print_url: format!("{base}/certificates/{}/print", c.id),
        holder: certificate::mask_holder(&c.holder),
        issued_at: rfc3339(c.issued_at),
        revoked_at: c.revoked_at.map(rfc3339),
        validity: validity.as_str(),
        public_key: key.map(|k| k.public_key),
        id: c.id,
        name: c.name,
        item: c.item,
        holder_name: c.holder_name,
        department: c.department,
        expires_on: c.expires_on,
        revoked_reason: c.revoked_reason,
        body: c.body,
        signature: c.signature,
        key_id: c.key_id,
    }))
}

/// Why a certificate is revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeInput {
    /// The reason, shown on the verification page.
    reason: String,
}

/// Revokes a certificate (reviewers of the issuing department). Verification shows it revoked
/// from then on.
#[utoipa::path(post, path = "/api/v1/services/certificates/{id}/revoke", tag = "services",
    request_body = RevokeInput, params(("id" = String, Path, description = "Certificate id")),
    responses((status = 204), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope),
              (status = 409, body = crate::error::ErrorEnvelope)))]
async fn revoke(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(input): Json<RevokeInput>,
) -> Result<axum::http::StatusCode, AppError> {
    let c = visible_certificate(&state, &p, &id).await?;
    let who = caller(&state, &p).await?;
    let may =
        matches!(&who, Caller::Department { code, reviewer: true, .. } if *code == c.department);
    if !may {
        return Err(AppError::Forbidden(
            "只有签发部门可以撤销证照 / only the issuing department revokes a certificate".into(),
        ));
    }
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::field(
            "invalid_field",
            "reason",
            "须写明撤销原因（500 字以内） / a reason of up to 500 characters is required",
        ));
    }
    if !state
        .store
        .services()
        .revoke_certificate(&id, state.clock.now_ms(), reason)
        .await?
    {
        return Err(AppError::Conflict("证照已撤销 / already revoked".into()));
    }
    crate::people::record_by(
        &state,
        &p,
        crate::people::Event {
            action: "certificate_revoked",
            target: Some(id.clone()),
            detail: reason.to_owned(),
            org: &p.account.org,
        },
    )
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Options of the verification page.
#[derive(Debug, Deserialize)]
struct VerifyQuery {
    /// `json` for a machine-readable answer.
    format: Option<String>,
}

/// The public verification page the QR code opens: validity (signature, revocation, expiry),
/// the certificate's name and issuer, the holder's name masked. `?format=json` for machines.
async fn verify(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<VerifyQuery>,
) -> Result<Response, AppError> {
    let c = state
        .store
        .services()
        .certificate(&id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个证照 / no such certificate".into()))?;
    let key = state.store.services().signing_key(&c.department).await?;
    let validity = certificate::check(&c, key.as_ref(), today(state.clock.now_ms()));
    let department = department_name(&state, &c.department).await;
    if q.format.as_deref() == Some("json") {
        return Ok(Json(serde_json::json!({
            "id": c.id,
            "name": c.name,
            "validity": validity.as_str(),
            "holder_name": certificate::mask_name(&c.holder_name),
            "department": c.department,
            "department_name": department,
            "issued_at": rfc3339(c.issued_at),
            "expires_on": c.expires_on,
            "revoked_reason": c.revoked_reason,
        }))
        .into_response());
    }
    Ok(Html(certificate::verify_page(&c, validity, &department)).into_response())
}

/// The printable certificate (its holder, its department, district staff).
async fn print(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let c = visible_certificate(&state, &p, &id).await?;
    let department = department_name(&state, &c.department).await;
    let link = format!(
        "{}/verify/{}",
        base_url(&headers, state.config.secure_cookies),
        c.id
    );
    let demo = state.config.demo
        || state
            .services
            .catalogue
            .item(&c.item)
            .is_some_and(|i| i.demo);
    Ok(Html(certificate::print_page(&c, &department, &link, demo)).into_response())
}

// --- Registers: who I am to them, and what was read about me, and why. ---

/// An enterprise the caller represents.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnterpriseDto {
    /// Unified social credit code.
    uscc: String,
    /// Name.
    name: String,
}

/// The calling resident as the registers know them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeDto {
    /// Name.
    name: String,
    /// Identity number, masked.
    identity: String,
    /// Enterprises they legally represent (they may apply for enterprise items on their behalf).
    enterprises: Vec<EnterpriseDto>,
}

/// The calling resident's register identity and the enterprises they represent.
#[utoipa::path(get, path = "/api/v1/services/me", tag = "services",
    responses((status = 200, body = MeDto), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn me(State(state): State<AppState>, p: Principal) -> Result<Json<MeDto>, AppError> {
    let person = resident_person(&state, &p).await?;
    let enterprises = state
        .store
        .services()
        .enterprises_of(&person.id)
        .await?
        .into_iter()
        .map(|e| EnterpriseDto {
            uscc: e.uscc,
            name: e.name,
        })
        .collect();
    Ok(Json(MeDto {
        name: person.name,
        identity: certificate::mask_holder(&person.id),
        enterprises,
    }))
}

/// One read of a register.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessDto {
    /// When (RFC 3339).
    at: String,
    /// `population`, `births`, `enterprises`, `licences`.
    register: String,
    /// Why (`application:<id>`, `offer:<item>`).
    purpose: String,
    /// Which facts.
    fields: String,
    /// Read by (`system` for triggers).
    account: String,
}

/// The register reads about the calling resident, with their purpose (who looked at my data, and why).
#[utoipa::path(get, path = "/api/v1/services/me/register-access", tag = "services",
    responses((status = 200, body = Vec<AccessDto>), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn my_register_access(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<AccessDto>>, AppError> {
    let person = resident_person(&state, &p).await?;
    let list = state
        .store
        .services()
        .register_access(&person.id, 200)
        .await?;
    Ok(Json(
        list.into_iter()
            .map(|a| AccessDto {
                at: rfc3339(a.at),
                register: a.register,
                purpose: a.purpose,
                fields: a.fields,
                account: a.account,
            })
            .collect(),
    ))
}

/// What one pass of the triggers did.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerReport {
    /// People and enterprises considered.
    considered: usize,
    /// Offers made.
    offered: usize,
    /// Considered but not eligible by the rules.
    not_eligible: usize,
    /// Already offered for the same event before.
    already_offered: usize,
}

/// Runs the proactive triggers now (district admins; they also run by themselves every hour).
#[utoipa::path(post, path = "/api/v1/services/triggers/run", tag = "services",
    responses((status = 200, body = TriggerReport), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn run_triggers(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<TriggerReport>, AppError> {
    match caller(&state, &p).await? {
        Caller::District { admin: true } => {}
        _ => {
            return Err(AppError::Forbidden(
                "只有区级管理员可以运行触发器 / only district admins run the triggers".into(),
            ));
        }
    }
    let r = triggers::run(&state).await?;
    Ok(Json(TriggerReport {
        considered: r.considered,
        offered: r.offered,
        not_eligible: r.not_eligible,
        already_offered: r.already_offered,
    }))
}
