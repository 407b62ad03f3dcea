//! The shared registers' internal API: staff of departments and of the district look a record
//! up for a stated purpose, and every look-up is logged with that purpose beside the reads the
//! decisions make. District admins audit the log; a resident reads their own
//! (`/api/v1/services/me/register-access`).

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use wanxiang_core::{Level, Org, Role};
use wanxiang_store::services::RegisterAccess;

use crate::auth::Principal;
use crate::{AppError, AppState};

/// Why the caller looks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurposeQuery {
    /// The purpose, logged with the look-up (4 to 200 characters, e.g. `case:<id>` or
    /// `review:<application id>`).
    purpose: Option<String>,
}

/// A register record.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordDto {
    /// `population`, `enterprises` or `licences`.
    register: &'static str,
    /// Whose record.
    subject: String,
    /// The record.
    #[schema(value_type = Object)]
    record: Value,
}

/// May the caller look up register records: department staff, and the district's admins,
/// supervisors and leaders.
fn may_look_up(p: &Principal) -> Result<(), AppError> {
    let ok = match &p.account.org {
        Org::Department(_) => p.has(Role::Handler) || p.has(Role::Admin) || p.has(Role::Supervisor),
        Org::Unit(u) if u.level() == Level::District => {
            p.has(Role::Admin) || p.has(Role::Supervisor) || p.has(Role::Leader)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "只有部门和区级工作人员可以查询共享库 / only departments' and the district's staff look up the registers".into(),
        ))
    }
}

fn purpose(q: &PurposeQuery) -> Result<String, AppError> {
    q.purpose
        .as_deref()
        .map(str::trim)
        .filter(|s| (4..=200).contains(&s.chars().count()))
        .map(str::to_owned)
        .ok_or_else(|| {
            AppError::field(
                "missing_field",
                "purpose",
                "须说明查询目的（4-200 字） / state the purpose of the look-up (4 to 200 characters)",
            )
        })
}

async fn logged(
    state: &AppState,
    p: &Principal,
    register: &'static str,
    subject: &str,
    purpose: String,
    record: Value,
) -> Result<Json<RecordDto>, AppError> {
    state
        .store
        .services()
        .log_access(&[RegisterAccess {
            at: state.clock.now_ms(),
            account: p.account.id.clone(),
            purpose,
            register: register.into(),
            subject: subject.to_owned(),
            fields: "*".into(),
        }])
        .await?;
    Ok(Json(RecordDto {
        register,
        subject: subject.to_owned(),
        record,
    }))
}

/// A person in the population register, for a stated purpose (logged).
#[utoipa::path(get, path = "/api/v1/registers/people/{id}", tag = "services", params(PurposeQuery,
    ("id" = String, Path, description = "Identity number")),
    responses((status = 200, body = RecordDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn person(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<PurposeQuery>,
) -> Result<Json<RecordDto>, AppError> {
    may_look_up(&p)?;
    let purpose = purpose(&q)?;
    let x = state.store.services().person(&id).await?.ok_or_else(|| {
        AppError::NotFound("人口库中没有此人 / not in the population register".into())
    })?;
    let record = serde_json::json!({
        "id": x.id, "name": x.name, "gender": x.gender, "birth_date": x.birth_date,
        "phone": x.phone, "community": x.community, "household": x.household,
        "facts": serde_json::from_str::<Value>(&x.facts).unwrap_or(Value::Null), "demo": x.demo,
    });
    logged(&state, &p, "population", &id, purpose, record).await
}

/// An enterprise in the legal-entity register, for a stated purpose (logged).
#[utoipa::path(get, path = "/api/v1/registers/enterprises/{uscc}", tag = "services", params(PurposeQuery,
    ("uscc" = String, Path, description = "Unified social credit code")),
    responses((status = 200, body = RecordDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn enterprise(
    State(state): State<AppState>,
    p: Principal,
    Path(uscc): Path<String>,
    Query(q): Query<PurposeQuery>,
) -> Result<Json<RecordDto>, AppError> {
    may_look_up(&p)?;
    let purpose = purpose(&q)?;
    let e = state
        .store
        .services()
        .enterprise(&uscc)
        .await?
        .ok_or_else(|| {
            AppError::NotFound("法人库中没有此企业 / not in the legal-entity register".into())
        })?;
    let record = serde_json::json!({
        "uscc": e.uscc, "name": e.name, "legal_rep": e.legal_rep, "community": e.community,
        "registered_on": e.registered_on, "credit": e.credit,
        "facts": serde_json::from_str::<Value>(&e.facts).unwrap_or(Value::Null), "demo": e.demo,
    });
    logged(&state, &p, "enterprises", &uscc, purpose, record).await
}

/// The electronic licences and certificates a holder has (revoked ones too), for a stated
/// purpose (logged).
#[utoipa::path(get, path = "/api/v1/registers/licences/{holder}", tag = "services", params(PurposeQuery,
    ("holder" = String, Path, description = "Identity number or credit code")),
    responses((status = 200, body = RecordDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope)))]
pub(super) async fn licences(
    State(state): State<AppState>,
    p: Principal,
    Path(holder): Path<String>,
    Query(q): Query<PurposeQuery>,
) -> Result<Json<RecordDto>, AppError> {
    may_look_up(&p)?;
    let purpose = purpose(&q)?;
    let list: Vec<Value> = state
        .store
        .services()
        .certificates_of(&holder)
        .await?
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "item": c.item, "name": c.name, "department": c.department,
                "issued_at": c.issued_at, "expires_on": c.expires_on, "revoked_at": c.revoked_at,
            })
        })
        .collect();
    logged(&state, &p, "licences", &holder, purpose, Value::Array(list)).await
}

/// Filter of the access log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Whose record (identity number or credit code).
    subject: String,
}

/// One logged read.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLineDto {
    /// When (Unix ms).
    at: i64,
    /// The account that read (`system` for triggers).
    account: String,
    /// Why.
    purpose: String,
    /// Which register.
    register: String,
    /// Which facts (`*` for a whole record).
    fields: String,
}

/// Who read a subject's register records, and why (district admins).
#[utoipa::path(get, path = "/api/v1/registers/access", tag = "services", params(AccessQuery),
    responses((status = 200, body = Vec<AccessLineDto>), (status = 403, body = crate::error::ErrorEnvelope)))]
pub(super) async fn access(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AccessQuery>,
) -> Result<Json<Vec<AccessLineDto>>, AppError> {
    let district_admin = matches!(&p.account.org, Org::Unit(u) if u.level() == Level::District)
        && p.has(Role::Admin);
    if !district_admin {
        return Err(AppError::Forbidden(
            "只有区级管理员可以查看共享库访问日志 / only district admins read the register access log".into(),
        ));
    }
    let lines = state
        .store
        .services()
        .register_access(q.subject.trim(), 500)
        .await?;
    Ok(Json(
        lines
            .into_iter()
            .map(|a| AccessLineDto {
                at: a.at,
                account: a.account,
                purpose: a.purpose,
                register: a.register,
                fields: a.fields,
            })
            .collect(),
    ))
}
