//! 一件事一次办: life-event bundles. A bundle has one combined form — the union of its items'
//! form fields, each asked once — fans out into one application per member item (each decided by
//! its own department, instantly where it can be), and shows one combined status. An item that
//! registers an enterprise (a business licence) lets the bundle's later enterprise items apply
//! for the new enterprise: they wait as drafts until it exists, and are submitted the moment it
//! is approved.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use wanxiang_core::identity::CreditCode;
use wanxiang_core::service::{ApplicantKind, Command, Item, Source, State as AppStateKind};
use wanxiang_store::services::{ApplicationFilter, ApplicationRecord, ApplicationStep, Enterprise};

use super::{
    ApplicationDto, Caller, Edit, FieldDto, application_dto, caller, check_form, field_dto,
    resident_person, transition,
};
use crate::auth::Principal;
use crate::{AppError, AppState};

/// A life-event bundle with its combined form.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleDto {
    /// Code (`birth`, `restaurant`).
    code: String,
    /// Chinese name.
    name_zh: String,
    /// English name.
    name_en: String,
    /// Member items, in order.
    items: Vec<BundleItemDto>,
    /// The one combined form: every member's form fields, each asked once.
    form: Vec<FieldDto>,
    /// What is taken from the registers instead (never asked).
    from_registers: Vec<FieldDto>,
}

/// A member item of a bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleItemDto {
    /// Item code.
    code: String,
    /// Chinese name.
    name_zh: String,
    /// Deciding department.
    department: String,
    /// `instant`, `proactive` or `standard`.
    mode: &'static str,
}

fn members(state: &AppState, bundle: &super::catalogue::Bundle) -> Vec<Item> {
    bundle
        .items
        .iter()
        .filter_map(|c| state.services.catalogue.item(c.as_str()).cloned())
        .collect()
}

fn bundle_dto(state: &AppState, bundle: &super::catalogue::Bundle) -> BundleDto {
    let items = members(state, bundle);
    let mut form: Vec<FieldDto> = Vec::new();
    let mut from_registers: Vec<FieldDto> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        for f in &item.fields {
            if !seen.insert(f.key.clone()) {
                continue;
            }
            match f.source {
                Source::Form => form.push(field_dto(f)),
                Source::Register(_) => from_registers.push(field_dto(f)),
            }
        }
    }
    BundleDto {
        code: bundle.code.clone(),
        name_zh: bundle.name_zh.clone(),
        name_en: bundle.name_en.clone(),
        items: items
            .iter()
            .map(|i| BundleItemDto {
                code: i.code.to_string(),
                name_zh: i.name_zh.clone(),
                department: i.department.to_string(),
                mode: i.mode.as_str(),
            })
            .collect(),
        form,
        from_registers,
    }
}

fn known_bundle<'a>(
    state: &'a AppState,
    code: &str,
) -> Result<&'a super::catalogue::Bundle, AppError> {
    state
        .services
        .catalogue
        .bundles
        .get(code)
        .ok_or_else(|| AppError::NotFound(format!("没有一件事 {code} / no bundle {code}")))
}

/// The life-event bundles (一件事一次办) with their combined forms, public.
#[utoipa::path(get, path = "/api/v1/services/bundles", tag = "services",
    responses((status = 200, body = Vec<BundleDto>)))]
pub(super) async fn list_bundles(State(state): State<AppState>) -> Json<Vec<BundleDto>> {
    Json(
        state
            .services
            .catalogue
            .bundles
            .values()
            .map(|b| bundle_dto(&state, b))
            .collect(),
    )
}

/// One bundle: its items and the one combined form.
#[utoipa::path(get, path = "/api/v1/services/bundles/{code}", tag = "services",
    params(("code" = String, Path, description = "Bundle code")),
    responses((status = 200, body = BundleDto), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn get_bundle(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<BundleDto>, AppError> {
    Ok(Json(bundle_dto(&state, known_bundle(&state, &code)?)))
}

/// A bundle application: one form for every member item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleInput {
    /// For bundles with enterprise items and no item registering the enterprise: the credit code
    /// of an enterprise the applicant legally represents.
    #[serde(default)]
    enterprise: Option<String>,
    /// The combined form (each field once).
    #[serde(default)]
    #[schema(value_type = Object)]
    form: Map<String, Value>,
}

/// A bundle application and its combined status.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleApplicationDto {
    /// Its id (`<bundle>.<uuid>`).
    id: String,
    /// The bundle's code.
    bundle: String,
    /// The bundle's Chinese name.
    name_zh: String,
    /// `approved` (every item), `in_progress` (some still open), `finished` (all done, some not approved).
    state: &'static str,
    /// The combined state in Chinese.
    state_zh: &'static str,
    /// One application per member item, in the bundle's order.
    members: Vec<ApplicationDto>,
}

fn combined(members: &[ApplicationRecord]) -> (&'static str, &'static str) {
    let states: Vec<AppStateKind> = members
        .iter()
        .filter_map(|m| AppStateKind::parse(&m.state))
        .collect();
    if !states.is_empty() && states.iter().all(|s| *s == AppStateKind::Approved) {
        ("approved", "已全部办结")
    } else if states.iter().any(|s| !s.is_final()) || members.iter().any(|m| m.deciding) {
        ("in_progress", "办理中")
    } else {
        ("finished", "已办结（部分未获批准）")
    }
}

async fn bundle_application_dto(
    state: &AppState,
    who: &Caller,
    p: &Principal,
    id: &str,
) -> Result<BundleApplicationDto, AppError> {
    let code = id.split('.').next().unwrap_or_default();
    let bundle = known_bundle(state, code).map_err(|_| {
        AppError::NotFound("没有这个一件事申请 / no such bundle application".into())
    })?;
    let mut list = state
        .store
        .services()
        .applications(&ApplicationFilter {
            bundle: Some(id.to_owned()),
            limit: 100,
            ..ApplicationFilter::default()
        })
        .await?;
    if list.is_empty() || !list.iter().all(|a| who.sees(p, a)) {
        return Err(AppError::NotFound(
            "没有这个一件事申请 / no such bundle application".into(),
        ));
    }
    list.sort_by_key(|a| {
        bundle
            .items
            .iter()
            .position(|c| c.as_str() == a.item)
            .unwrap_or(usize::MAX)
    });
    let (s, zh) = combined(&list);
    let names = super::Names::load(state).await?;
    let mut members = Vec::with_capacity(list.len());
    for a in &list {
        members.push(application_dto(state, who, p, a, true, &names).await?);
    }
    Ok(BundleApplicationDto {
        id: id.to_owned(),
        bundle: bundle.code.clone(),
        name_zh: bundle.name_zh.clone(),
        state: s,
        state_zh: zh,
        members,
    })
}

/// Applies for a whole bundle with one form. Each member item becomes an application, decided
/// by its department (instant items at once); the answer is the combined status.
#[utoipa::path(post, path = "/api/v1/services/bundles/{code}/applications", tag = "services",
    request_body = BundleInput, params(("code" = String, Path, description = "Bundle code")),
    responses((status = 201, body = BundleApplicationDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn submit_bundle(
    State(state): State<AppState>,
    p: Principal,
    Path(code): Path<String>,
    Json(input): Json<BundleInput>,
) -> Result<(axum::http::StatusCode, Json<BundleApplicationDto>), AppError> {
    let bundle = known_bundle(&state, &code)?.clone();
    let person = resident_person(&state, &p).await?;
    let items = members(&state, &bundle);
    // Every field of the combined form belongs to some member.
    for key in input.form.keys() {
        let known = items
            .iter()
            .any(|i| i.form_fields().any(|f| f.key == format!("form.{key}")));
        if !known {
            return Err(AppError::field(
                "unknown_field",
                "form",
                format!(
                    "{key}: 此一件事没有这个字段，或由共享库提供 / the bundle has no such field, or the registers supply it"
                ),
            ));
        }
    }
    let enterprise = match input.enterprise.as_deref() {
        Some(uscc) => {
            let theirs = state.store.services().enterprises_of(&person.id).await?;
            if !theirs.iter().any(|e| e.uscc == uscc) {
                return Err(AppError::Forbidden(
                    "你不是该企业的法定代表人 / you are not the enterprise's legal representative"
                        .into(),
                ));
            }
            Some(uscc.to_owned())
        }
        None => None,
    };
    // Check every member's part of the form before anything is stored: nothing half-applied.
    let mut forms = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let part: Map<String, Value> = input
            .form
            .iter()
            .filter(|(k, _)| item.form_fields().any(|f| f.key == format!("form.{k}")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        forms.push(check_form(item, &part)?);
        if item.applicant == ApplicantKind::Enterprise
            && enterprise.is_none()
            && !items[..i].iter().any(|x| x.registers_enterprise)
        {
            return Err(AppError::field(
                "missing_field",
                "enterprise",
                format!(
                    "「{}」须指明企业 / {} needs the enterprise's credit code",
                    item.name_zh, item.name_en
                ),
            ));
        }
    }
    let store = state.store.services();
    // Every rule-decided member has its model, or nothing is stored.
    for item in items.iter().filter(|i| i.mode.decided_by_rules()) {
        if store.model(item.code.as_str(), None).await?.is_none() {
            return Err(AppError::Unavailable(format!(
                "「{}」的决策模型尚未存储 / the decision model of {} is not stored yet",
                item.name_zh, item.name_en
            )));
        }
    }
    let now = state.clock.now_ms();
    let id = format!("{}.{}", bundle.code, uuid::Uuid::now_v7());
    let mut ids = Vec::new();
    for (item, form) in items.iter().zip(forms) {
        let record = ApplicationRecord {
            id: uuid::Uuid::now_v7().to_string(),
            item: item.code.to_string(),
            department: item.department.to_string(),
            mode: item.mode.as_str().into(),
            state: AppStateKind::Draft.as_str().into(),
            deciding: false,
            person: person.id.clone(),
            enterprise: match item.applicant {
                ApplicantKind::Enterprise => enterprise.clone(),
                ApplicantKind::Resident => None,
            },
            account: Some(p.account.id.clone()),
            form: Value::Object(form).to_string(),
            offer_key: None,
            bundle: Some(id.clone()),
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
        store
            .create_application(
                &record,
                &ApplicationStep {
                    at: now,
                    actor: p.account.id.clone(),
                    role: "applicant".into(),
                    action: "create".into(),
                    from: AppStateKind::Draft.as_str().into(),
                    to: AppStateKind::Draft.as_str().into(),
                    note: Some(format!("{} / {}", bundle.name_zh, bundle.name_en)),
                },
            )
            .await?;
        ids.push(record.id);
    }
    // Submit in order; enterprise items without their enterprise wait for the licence.
    for (item, app_id) in items.iter().zip(&ids) {
        let Some(current) = store.application(app_id).await? else {
            continue;
        };
        let waits = item.applicant == ApplicantKind::Enterprise && current.enterprise.is_none();
        if current.state != AppStateKind::Draft.as_str() || waits {
            continue;
        }
        let updated = transition(
            &state,
            current,
            item,
            &Command::Submit,
            &p.account.id,
            "applicant",
            Edit::default(),
        )
        .await?;
        after_approval(&state, updated).await?;
    }
    let who = caller(&state, &p).await?;
    let dto = bundle_application_dto(&state, &who, &p, &id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(dto)))
}

/// A bundle application's combined status with its members.
#[utoipa::path(get, path = "/api/v1/services/bundle-applications/{id}", tag = "services",
    params(("id" = String, Path, description = "Bundle application id")),
    responses((status = 200, body = BundleApplicationDto), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn get_bundle_application(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<BundleApplicationDto>, AppError> {
    let who = caller(&state, &p).await?;
    Ok(Json(bundle_application_dto(&state, &who, &p, &id).await?))
}

/// The enterprise a business licence registers: its credit code derived from the application
/// (so registering twice gives the same), named and scoped by the form.
async fn register_enterprise(
    state: &AppState,
    a: &ApplicationRecord,
    now: i64,
) -> Result<String, AppError> {
    use sha2::{Digest, Sha256};
    const CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let digest = Sha256::digest(a.id.as_bytes());
    let body: String = digest[..9]
        .iter()
        .map(|b| CHARS[usize::from(*b) % CHARS.len()] as char)
        .collect();
    let uscc = CreditCode::compose('9', '2', "440303", &body)
        .map_err(|e| AppError::Unavailable(e.to_string()))?
        .to_string();
    let store = state.store.services();
    // Registered once: what the register learned since (its credit, say) is never overwritten.
    if store.enterprise(&uscc).await?.is_some() {
        return Ok(uscc);
    }
    let form: Map<String, Value> = serde_json::from_str(&a.form).unwrap_or_default();
    let text = |k: &str| form.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let community = store
        .person(&a.person)
        .await?
        .map(|p| p.community)
        .unwrap_or_else(|| "440303".into());
    store
        .put_enterprises(&[Enterprise {
            uscc: uscc.clone(),
            name: text("business_name"),
            legal_rep: a.person.clone(),
            community,
            registered_on: super::today(now).to_string(),
            credit: "good".into(),
            facts: serde_json::json!({
                "scope": text("business_scope"),
                "business_licence": true,
                "kind": "个体工商户",
                "application": a.id,
            })
            .to_string(),
            demo: state.config.demo,
        }])
        .await?;
    Ok(uscc)
}

/// What follows an approval: an item that registers an enterprise registers it, and the
/// bundle's members waiting for that enterprise are submitted for it (their approvals followed
/// in turn; the platform submits them, as `system`). Returns the applications it moved.
pub(crate) async fn after_approval(
    state: &AppState,
    approved: ApplicationRecord,
) -> Result<Vec<ApplicationRecord>, AppError> {
    let store = state.store.services();
    let mut queue = vec![approved];
    let mut moved = Vec::new();
    while let Some(a) = queue.pop() {
        if a.state != AppStateKind::Approved.as_str() {
            continue;
        }
        let Some(item) = state.services.catalogue.item(&a.item).cloned() else {
            continue;
        };
        if !item.registers_enterprise {
            continue;
        }
        let uscc = register_enterprise(state, &a, state.clock.now_ms()).await?;
        let Some(bundle) = &a.bundle else {
            continue;
        };
        let mut waiting = store
            .applications(&ApplicationFilter {
                bundle: Some(bundle.clone()),
                state: Some(AppStateKind::Draft.as_str().into()),
                limit: 100,
                ..ApplicationFilter::default()
            })
            .await?;
        waiting.reverse();
        for m in waiting {
            let Some(member) = state.services.catalogue.item(&m.item).cloned() else {
                continue;
            };
            if member.applicant != ApplicantKind::Enterprise || m.enterprise.is_some() {
                continue;
            }
            let next = transition(
                state,
                m,
                &member,
                &Command::Submit,
                "system",
                "system",
                Edit {
                    enterprise: Some(uscc.clone()),
                    ..Edit::default()
                },
            )
            .await?;
            moved.push(next.clone());
            queue.push(next);
        }
    }
    Ok(moved)
}
