//! Managing people and organisations within a jurisdiction: accounts, social entities,
//! departments, and reading the audit log. Every handler passes the caller's scope to the store;
//! records outside it answer 404, permitted reads with forbidden actions 403.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::account::{check_password, parse_username};
use wanxiang_core::{Department, DeptCode, Entity, EntityKind, NewAccount, Org, Role};
use wanxiang_store::AccountUpdate;

use crate::auth::{Principal, now_ms, password};
use crate::people::{AccountDto, Event, iso, record_by};
use crate::units::parse_code;
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, update_account))
        .routes(routes!(list_entities, create_entity))
        .routes(routes!(get_entity))
        .routes(routes!(list_departments, create_department))
        .routes(routes!(list_audit))
}

fn not_found(what: &str) -> AppError {
    AppError::NotFound(format!("没有这个{what} / no such {what}", what = what))
}

fn parse_roles(names: &[String], org: &Org) -> Result<Vec<Role>, AppError> {
    let bad = |m: String| AppError::field("invalid_roles", "roles", m);
    let mut roles = Vec::new();
    for n in names {
        let role =
            Role::parse(n).ok_or_else(|| bad(format!("未知角色 {n:?} / unknown role {n:?}")))?;
        if role == Role::Resident {
            return Err(bad(
                "居民账号请自行注册 / residents register themselves".into()
            ));
        }
        let fits = match org {
            Org::Entity { .. } => matches!(role, Role::EntityMember | Role::Admin),
            _ => role != Role::EntityMember,
        };
        if !fits {
            return Err(bad(format!(
                "角色 {n} 与所属组织不符 / role {n} does not fit the organisation"
            )));
        }
        roles.push(role);
    }
    if roles.is_empty() {
        return Err(bad("至少一个角色 / at least one role".into()));
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Where a new account belongs: exactly one of `unit`, `department`, `entity`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrgInput {
    /// A unit code (district, street or community).
    unit: Option<String>,
    /// A department code such as `440303D01`.
    department: Option<String>,
    /// A social entity's id.
    entity: Option<String>,
}

async fn resolve_org(state: &AppState, p: &Principal, input: &OrgInput) -> Result<Org, AppError> {
    match (&input.unit, &input.department, &input.entity) {
        (Some(u), None, None) => {
            let code = parse_code(u, "org.unit")?;
            let atlas = crate::units::atlas(state)?;
            let unit = atlas.unit(&code).ok_or_else(|| not_found("单位 unit"))?;
            if unit.level == wanxiang_core::Level::Grid {
                return Err(AppError::field(
                    "invalid_org",
                    "org.unit",
                    "账号属于区、街道或社区 / accounts belong to a district, street or community",
                ));
            }
            Ok(Org::Unit(code))
        }
        (None, Some(d), None) => {
            let code = DeptCode::parse(d).ok_or_else(|| {
                AppError::field(
                    "invalid_org",
                    "org.department",
                    format!(
                        "部门编码形如 440303D01 / a department code looks like 440303D01, not {d:?}"
                    ),
                )
            })?;
            // The department must exist and be visible to the caller.
            let visible = state.store.departments(&p.scope).await?;
            visible
                .iter()
                .find(|x| x.code == code)
                .ok_or_else(|| not_found("部门 department"))?;
            Ok(Org::Department(code))
        }
        (None, None, Some(e)) => {
            let entity = state
                .store
                .entity(&p.scope, e)
                .await?
                .ok_or_else(|| not_found("社会主体 entity"))?;
            Ok(Org::Entity {
                id: entity.id,
                unit: entity.unit,
            })
        }
        _ => Err(AppError::field(
            "invalid_org",
            "org",
            "请给出 unit、department、entity 之一 / give exactly one of unit, department, entity",
        )),
    }
}

/// The accounts in the caller's jurisdiction (admins only).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", responses(
    (status = 200, body = Vec<AccountDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list_accounts(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<AccountDto>>, AppError> {
    p.require(&[Role::Admin])?;
    let accounts = state.store.accounts(&p.scope).await?;
    Ok(Json(
        accounts.iter().map(|a| AccountDto::of(&state, a)).collect(),
    ))
}

/// A new staff account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAccount {
    /// Login name: 3-64 lower-case letters, digits or `._-@+`.
    username: String,
    /// Name shown to people.
    display_name: String,
    /// Initial password, 8 to 128 characters.
    password: String,
    /// Where the account belongs; must be within the admin's jurisdiction.
    org: OrgInput,
    /// Roles: admin, dispatcher, handler, supervisor, inspector, leader, operator, entity_member.
    roles: Vec<String>,
}

/// Creates a staff account in the admin's unit or below (never above or beside it).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = CreateAccount, responses(
    (status = 201, body = AccountDto),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope, description = "Not an admin, or the organisation is outside the jurisdiction"),
    (status = 409, body = crate::error::ErrorEnvelope, description = "Username taken"),
))]
async fn create_account(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateAccount>,
) -> Result<(StatusCode, Json<AccountDto>), AppError> {
    p.require(&[Role::Admin])?;
    let username = parse_username(&req.username)
        .map_err(|e| AppError::field("invalid_username", "username", e.to_string()))?;
    let display_name = req.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 64 {
        return Err(AppError::field(
            "invalid_display_name",
            "display_name",
            "显示名须为 1-64 个字符 / 1 to 64 characters",
        ));
    }
    check_password(&req.password)
        .map_err(|e| AppError::field("invalid_password", "password", e.to_string()))?;
    let org = resolve_org(&state, &p, &req.org).await?;
    let roles = parse_roles(&req.roles, &org)?;
    let new = NewAccount {
        id: uuid::Uuid::now_v7().to_string(),
        username,
        display_name,
        org: org.clone(),
        roles,
        password_hash: password::hash_async(req.password).await,
        demo_password: false,
        created_at: now_ms(),
    };
    let account = state.store.create_account(&p.scope, &new).await?;
    let roles: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
    record_by(
        &state,
        &p,
        Event {
            action: "account_created",
            target: Some(account.id.clone()),
            detail: format!(
                "{} in {} with roles {}",
                account.username,
                org.key(),
                roles.join(",")
            ),
            org: &org,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccountDto::of(&state, &account))))
}

/// One account in the caller's jurisdiction.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, body = AccountDto),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope, description = "No such account in your jurisdiction"),
))]
async fn get_account(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<AccountDto>, AppError> {
    p.require(&[Role::Admin])?;
    let account = state
        .store
        .account(&p.scope, &id)
        .await?
        .ok_or_else(|| not_found("账号 account"))?;
    Ok(Json(AccountDto::of(&state, &account)))
}

/// Changes to an account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateAccount {
    /// New display name.
    display_name: Option<String>,
    /// New roles.
    roles: Option<Vec<String>>,
    /// Disable (true) or enable (false); disabling ends its sessions.
    disabled: Option<bool>,
    /// A new password (8 to 128 characters); ends its sessions.
    password: Option<String>,
}

/// Changes an account in the caller's jurisdiction: name, roles, enabled, password.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = UpdateAccount,
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, body = AccountDto),
        (status = 400, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn update_account(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Json(req): Json<UpdateAccount>,
) -> Result<Json<AccountDto>, AppError> {
    p.require(&[Role::Admin])?;
    let current = state
        .store
        .account(&p.scope, &id)
        .await?
        .ok_or_else(|| not_found("账号 account"))?;
    let roles = match &req.roles {
        Some(names) if current.roles.contains(&Role::Resident) => {
            let _ = names;
            return Err(AppError::field(
                "invalid_roles",
                "roles",
                "居民账号的角色不能修改 / a resident's roles cannot be changed",
            ));
        }
        Some(names) => Some(parse_roles(names, &current.org)?),
        None => None,
    };
    if let Some(pw) = &req.password {
        check_password(pw)
            .map_err(|e| AppError::field("invalid_password", "password", e.to_string()))?;
    }
    let display_name = match &req.display_name {
        Some(d) if d.trim().is_empty() || d.trim().chars().count() > 64 => {
            return Err(AppError::field(
                "invalid_display_name",
                "display_name",
                "显示名须为 1-64 个字符 / 1 to 64 characters",
            ));
        }
        other => other.as_ref().map(|d| d.trim().to_owned()),
    };
    let password = match req.password {
        Some(pw) => Some((password::hash_async(pw).await, false)),
        None => None,
    };
    let update = AccountUpdate {
        display_name,
        roles,
        disabled: req.disabled,
        password,
    };
    let account = state
        .store
        .update_account(&p.scope, &id, &update, now_ms())
        .await?
        .ok_or_else(|| not_found("账号 account"))?;
    state.auth_cache.clear();
    let mut changed = Vec::new();
    if update.display_name.is_some() {
        changed.push("display_name".to_owned());
    }
    if let Some(r) = &update.roles {
        changed.push(format!(
            "roles={}",
            r.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")
        ));
    }
    if let Some(d) = update.disabled {
        changed.push(format!("disabled={d}"));
    }
    if update.password.is_some() {
        changed.push("password reset".to_owned());
    }
    record_by(
        &state,
        &p,
        Event {
            action: "account_updated",
            target: Some(account.id.clone()),
            detail: format!("{}: {}", account.username, changed.join("; ")),
            org: &account.org,
        },
    )
    .await?;
    Ok(Json(AccountDto::of(&state, &account)))
}

/// A social entity on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityDto {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// `enterprise`, `property_manager`, `volunteer_team` or `social_organisation`.
    kind: &'static str,
    /// The unit it is registered under.
    unit: String,
    /// Units it may be assigned work in.
    service_area: Vec<String>,
    /// Registered (RFC 3339).
    created_at: String,
}

fn entity_dto(e: &Entity) -> EntityDto {
    EntityDto {
        id: e.id.clone(),
        name: e.name.clone(),
        kind: e.kind.as_str(),
        unit: e.unit.to_string(),
        service_area: e.service_area.iter().map(|c| c.to_string()).collect(),
        created_at: iso(e.created_at),
    }
}

/// The social entities in the caller's jurisdiction (an entity's members see their own).
#[utoipa::path(get, path = "/api/v1/entities", tag = "accounts", responses(
    (status = 200, body = Vec<EntityDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn list_entities(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<EntityDto>>, AppError> {
    Ok(Json(
        state
            .store
            .entities(&p.scope)
            .await?
            .iter()
            .map(entity_dto)
            .collect(),
    ))
}

/// A new social entity.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateEntity {
    /// Registered name.
    name: String,
    /// `enterprise`, `property_manager`, `volunteer_team` or `social_organisation`.
    kind: String,
    /// The unit it is registered under (in the admin's jurisdiction).
    unit: String,
    /// Units it may be assigned work in (in the admin's jurisdiction); default its unit.
    #[serde(default)]
    service_area: Vec<String>,
}

/// Registers a social entity (enterprise, property manager, volunteer team …) under a unit.
#[utoipa::path(post, path = "/api/v1/entities", tag = "accounts", request_body = CreateEntity, responses(
    (status = 201, body = EntityDto),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope, description = "Not an admin, or outside the jurisdiction"),
))]
async fn create_entity(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateEntity>,
) -> Result<(StatusCode, Json<EntityDto>), AppError> {
    p.require(&[Role::Admin])?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(AppError::field(
            "invalid_name",
            "name",
            "名称须为 1-128 个字符 / 1 to 128 characters",
        ));
    }
    let kind = EntityKind::parse(&req.kind).ok_or_else(|| {
        AppError::field(
            "invalid_kind",
            "kind",
            format!("未知类型 {:?} / unknown kind", req.kind),
        )
    })?;
    let atlas = crate::units::atlas(&state)?;
    let unit = parse_code(&req.unit, "unit")?;
    atlas.unit(&unit).ok_or_else(|| not_found("单位 unit"))?;
    let mut service_area = Vec::new();
    for text in &req.service_area {
        let code = parse_code(text, "service_area")?;
        atlas.unit(&code).ok_or_else(|| not_found("单位 unit"))?;
        service_area.push(code);
    }
    if service_area.is_empty() {
        service_area.push(unit.clone());
    }
    let entity = Entity {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        kind,
        unit,
        service_area,
        created_at: now_ms(),
    };
    state.store.create_entity(&p.scope, &entity).await?;
    state.entities.clear();
    let org = Org::Entity {
        id: entity.id.clone(),
        unit: entity.unit.clone(),
    };
    record_by(
        &state,
        &p,
        Event {
            action: "entity_registered",
            target: Some(entity.id.clone()),
            detail: format!("{} ({}) under {}", entity.name, kind.as_str(), entity.unit),
            org: &org,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entity_dto(&entity))))
}

/// One social entity in the caller's jurisdiction.
#[utoipa::path(get, path = "/api/v1/entities/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Entity id")),
    responses(
        (status = 200, body = EntityDto),
        (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn get_entity(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<EntityDto>, AppError> {
    let entity = state
        .store
        .entity(&p.scope, &id)
        .await?
        .ok_or_else(|| not_found("社会主体 entity"))?;
    Ok(Json(entity_dto(&entity)))
}

/// A department on the wire.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DepartmentDto {
    /// Code such as `440303D01`.
    code: String,
    /// Name.
    name: String,
}

/// The departments the caller sees: all of the district's for district staff, its own for a
/// department.
#[utoipa::path(get, path = "/api/v1/departments", tag = "accounts", responses(
    (status = 200, body = Vec<DepartmentDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn list_departments(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<DepartmentDto>>, AppError> {
    let list = state.store.departments(&p.scope).await?;
    Ok(Json(
        list.into_iter()
            .map(|d| DepartmentDto {
                code: d.code.to_string(),
                name: d.name,
            })
            .collect(),
    ))
}

/// Registers a district department (district admins only).
#[utoipa::path(post, path = "/api/v1/departments", tag = "accounts", request_body = DepartmentDto, responses(
    (status = 201, body = DepartmentDto),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
    (status = 409, body = crate::error::ErrorEnvelope),
))]
async fn create_department(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<DepartmentDto>,
) -> Result<(StatusCode, Json<DepartmentDto>), AppError> {
    p.require(&[Role::Admin])?;
    let code = DeptCode::parse(&req.code).ok_or_else(|| {
        AppError::field(
            "invalid_code",
            "code",
            "部门编码形如 440303D01 / a department code looks like 440303D01",
        )
    })?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(AppError::field(
            "invalid_name",
            "name",
            "名称须为 1-128 个字符 / 1 to 128 characters",
        ));
    }
    let d = Department {
        code: code.clone(),
        name: name.clone(),
    };
    state.store.create_department(&p.scope, &d).await?;
    record_by(
        &state,
        &p,
        Event {
            action: "department_created",
            target: Some(code.to_string()),
            detail: name.clone(),
            org: &Org::Department(code.clone()),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(DepartmentDto {
            code: code.to_string(),
            name,
        }),
    ))
}

/// Audit log paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// At most this many entries (1-500, default 100).
    limit: Option<u32>,
    /// Only entries older than this entry id (for the next page).
    before: Option<i64>,
}

/// An audit entry on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    /// Entry id (increasing).
    id: i64,
    /// When (RFC 3339).
    at: String,
    /// Acting account id, if any.
    actor_id: Option<String>,
    /// Acting username, `system`, or the name tried at a failed login.
    actor: String,
    /// What happened.
    action: String,
    /// What it happened to.
    target: Option<String>,
    /// Details.
    detail: String,
    /// The unit whose jurisdiction the action belongs to.
    area: String,
    /// Client address.
    client: Option<String>,
}

/// Security-relevant actions in the admin's jurisdiction, newest first. Nothing can edit or
/// delete them.
#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts", params(AuditQuery), responses(
    (status = 200, body = Vec<AuditDto>),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list_audit(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditDto>>, AppError> {
    p.require(&[Role::Admin])?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let entries = state.store.audit(&p.scope, limit, q.before).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|(id, e)| AuditDto {
                id,
                at: iso(e.at),
                actor_id: e.actor_id,
                actor: e.actor_name,
                action: e.action,
                target: e.target,
                detail: e.detail,
                area: e.area.to_string(),
                client: e.client,
            })
            .collect(),
    ))
}
