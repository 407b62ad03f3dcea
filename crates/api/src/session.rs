//! Logging in and out, residents registering themselves, the caller's own account (`/me`), its
//! password and its personal API tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::account::{check_password, parse_resident_login};
use wanxiang_core::{NewAccount, Org, Role, Scope};
use wanxiang_store::{AccountUpdate, NewApiToken, NewSession};

use crate::auth::{
    ClientAddr, Principal, SESSION_COOKIE, TOKEN_PREFIX, Via, now_ms, password, random_secret,
    token_hash,
};
use crate::people::{AccountDto, Event, ScopeDto, iso, record, record_by};
use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(register))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username (staff) or phone number / e-mail (residents).
    username: String,
    /// Password.
    password: String,
}

/// Login answer. The same token is set as an HttpOnly cookie for the web UI.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Session token for scripts: send it as `Authorization: Bearer <token>`.
    token: String,
    /// For cookie-authenticated writes, send this in the `X-CSRF-Token` header.
    csrf_token: String,
    /// When the session ends (RFC 3339).
    expires_at: String,
    /// Who logged in.
    account: MeResponse,
}

/// The caller's account, unit, roles and scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The account.
    #[serde(flatten)]
    account: AccountDto,
    /// What the account can see.
    scope: ScopeDto,
}

fn me_of(state: &AppState, p: &Principal) -> MeResponse {
    MeResponse {
        account: AccountDto::of(state, &p.account),
        scope: ScopeDto::of(&p.scope),
    }
}

fn session_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: i64) -> String {
    // Secure when the deployment says it is behind TLS, or the proxy says this request was.
    let tls = state.config.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if tls { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The district a deployment serves: the root of its unit tree.
fn district(state: &AppState) -> Result<wanxiang_core::UnitCode, AppError> {
    let atlas = crate::units::atlas(state)?;
    atlas
        .units()
        .iter()
        .find(|u| u.parent.is_none())
        .map(|u| u.code.clone())
        .ok_or_else(|| AppError::Unavailable("尚未配置行政区 / no district configured".into()))
}

/// Logs in with username and password. Answers with a session cookie and a bearer token. After
/// repeated failures the username and the client address are locked out for a growing time
/// (429 with `Retry-After`); unknown users and wrong passwords get the same 401.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse, headers(("set-cookie" = String, description = "wx_session, HttpOnly, SameSite=Lax"))),
    (status = 401, body = crate::error::ErrorEnvelope, description = "`invalid_credentials`"),
    (status = 429, body = crate::error::ErrorEnvelope, description = "Locked out or rate limited; see Retry-After"),
))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, AppError> {
    let addr = client.clone().unwrap_or_else(|| "unknown".into());
    state
        .throttle
        .rate_check(&addr)
        .map_err(AppError::TooManyRequests)?;
    let username = req.username.trim().to_lowercase();
    let keys = [format!("user:{username}"), format!("addr:{addr}")];
    let now = now_ms();
    state
        .throttle
        .check(&keys, now)
        .map_err(AppError::TooManyRequests)?;
    let found = state.store.credentials(&username).await?;
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| password::decoy().to_owned());
    let ok = password::verify_async(req.password, hash).await && found.is_some();
    let Some((account, _)) = found.filter(|_| ok) else {
        state.throttle.failed(&keys, now);
        let district = district(&state)?;
        record(
            &state,
            None,
            &username,
            client,
            Event {
                action: "login_failed",
                target: None,
                detail: "wrong username or password".into(),
                org: &Org::Unit(district),
            },
        )
        .await?;
        return Err(AppError::InvalidCredentials);
    };
    state.throttle.succeeded(&keys);
    let token = random_secret();
    let csrf = random_secret();
    let ttl = state.config.session_ttl_secs as i64;
    let expires_at = now + ttl * 1000;
    state
        .store
        .create_session(&NewSession {
            token_hash: token_hash(&token),
            account_id: account.id.clone(),
            csrf: csrf.clone(),
            created_at: now,
            expires_at,
        })
        .await?;
    let principal = Principal {
        scope: Scope::of(&account.id, &account.org, &account.roles),
        account,
        via: Via::SessionBearer {
            token_hash: token_hash(&token),
        },
        client: client.clone(),
    };
    record(
        &state,
        Some(&principal),
        "",
        client,
        Event {
            action: "login",
            target: Some(principal.account.id.clone()),
            detail: "session started".into(),
            org: &principal.account.org,
        },
    )
    .await?;
    let body = LoginResponse {
        account: me_of(&state, &principal),
        token: token.clone(),
        csrf_token: csrf,
        expires_at: iso(expires_at),
    };
    let cookie = session_cookie(&state, &headers, &token, ttl);
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Ends the caller's session (cookie or bearer) and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", responses(
    (status = 204, description = "Logged out"),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    p: Principal,
) -> Result<Response, AppError> {
    if let Via::SessionCookie { token_hash } | Via::SessionBearer { token_hash } = &p.via {
        state.store.revoke_session(token_hash, now_ms()).await?;
        state.auth_cache.clear();
    }
    record_by(
        &state,
        &p,
        Event {
            action: "logout",
            target: Some(p.account.id.clone()),
            detail: "session ended".into(),
            org: &p.account.org,
        },
    )
    .await?;
    let cookie = session_cookie(&state, &headers, "", 0);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

/// Resident self-registration.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// A mainland mobile number or an e-mail address; it becomes the username.
    username: String,
    /// 8 to 128 characters.
    password: String,
    /// How to address the resident; defaults to the username.
    display_name: Option<String>,
}

/// A resident registers with a phone number or e-mail address and a password. The account sees
/// only its own records.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest, responses(
    (status = 201, body = AccountDto),
    (status = 400, body = crate::error::ErrorEnvelope, description = "Bad phone/e-mail or password"),
    (status = 409, body = crate::error::ErrorEnvelope, description = "Already registered"),
    (status = 429, body = crate::error::ErrorEnvelope),
))]
async fn register(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<AccountDto>), AppError> {
    state
        .throttle
        .rate_check(client.as_deref().unwrap_or("unknown"))
        .map_err(AppError::TooManyRequests)?;
    let username = parse_resident_login(&req.username)
        .map_err(|e| AppError::field("invalid_username", "username", e.to_string()))?;
    check_password(&req.password)
        .map_err(|e| AppError::field("invalid_password", "password", e.to_string()))?;
    let display_name = req
        .display_name
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| username.clone());
    if display_name.chars().count() > 64 {
        return Err(AppError::field(
            "invalid_display_name",
            "display_name",
            "显示名最多 64 个字符 / at most 64 characters",
        ));
    }
    let org = Org::Unit(district(&state)?);
    let new = NewAccount {
        id: uuid::Uuid::now_v7().to_string(),
        username,
        display_name,
        org: org.clone(),
        roles: vec![Role::Resident],
        password_hash: password::hash_async(req.password).await,
        demo_password: false,
        created_at: now_ms(),
    };
    // Nobody is logged in to create this account, so the write uses an explicit system scope,
    // recorded as such in the audit log.
    let scope = Scope::system("resident self-registration");
    let account = state
        .store
        .create_account(&scope, &new)
        .await
        .map_err(|e| match e {
            wanxiang_store::StoreError::Conflict(_) => {
                AppError::Conflict("该手机号或邮箱已注册 / already registered".into())
            }
            other => other.into(),
        })?;
    record(
        &state,
        None,
        &account.username,
        client,
        Event {
            action: "account_registered",
            target: Some(account.id.clone()),
            detail: format!("resident self-registration under {}", scope.describe()),
            org: &org,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccountDto::of(&state, &account))))
}

/// The caller's account, unit, roles and scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", responses(
    (status = 200, body = MeResponse),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn me(State(state): State<AppState>, p: Principal) -> Json<MeResponse> {
    Json(me_of(&state, &p))
}

/// Password change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// The current password.
    current_password: String,
    /// The new one, 8 to 128 characters.
    new_password: String,
}

/// Changes the caller's own password. Every session of the account ends, including this one.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", request_body = PasswordChange, responses(
    (status = 204, description = "Changed; log in again"),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 401, body = crate::error::ErrorEnvelope, description = "Not logged in, or the current password is wrong"),
))]
async fn change_password(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    check_password(&req.new_password)
        .map_err(|e| AppError::field("invalid_password", "new_password", e.to_string()))?;
    let (_, hash) = state
        .store
        .credentials(&p.account.username)
        .await?
        .ok_or(AppError::InvalidCredentials)?;
    if !password::verify_async(req.current_password, hash).await {
        return Err(AppError::InvalidCredentials);
    }
    let update = AccountUpdate {
        password: Some((password::hash_async(req.new_password).await, false)),
        ..AccountUpdate::default()
    };
    state
        .store
        .update_account(
            &Scope::Own(p.account.id.clone()),
            &p.account.id,
            &update,
            now_ms(),
        )
        .await?;
    state.auth_cache.clear();
    record_by(
        &state,
        &p,
        Event {
            action: "password_changed",
            target: Some(p.account.id.clone()),
            detail: "own password changed; sessions ended".into(),
            org: &p.account.org,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A personal API token as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDto {
    /// Token id.
    id: String,
    /// Its name.
    name: String,
    /// Created (RFC 3339).
    created_at: String,
    /// Last used (RFC 3339), if ever.
    last_used_at: Option<String>,
    /// Revoked (RFC 3339), if so.
    revoked_at: Option<String>,
}

/// The caller's personal API tokens.
#[utoipa::path(get, path = "/api/v1/me/tokens", tag = "accounts", responses(
    (status = 200, body = Vec<TokenDto>),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn list_tokens(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<TokenDto>>, AppError> {
    let tokens = state.store.api_tokens(&p.account.id).await?;
    Ok(Json(
        tokens
            .into_iter()
            .map(|t| TokenDto {
                id: t.id,
                name: t.name,
                created_at: iso(t.created_at),
                last_used_at: t.last_used_at.map(iso),
                revoked_at: t.revoked_at.map(iso),
            })
            .collect(),
    ))
}

/// New token request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// What the token is for, 1 to 64 characters.
    name: String,
}

/// A token just created: its secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Token id.
    id: String,
    /// Its name.
    name: String,
    /// The secret: send as `Authorization: Bearer <token>`. Stored only as a hash; keep it now.
    token: String,
}

/// Creates a personal API token for integrations.
#[utoipa::path(post, path = "/api/v1/me/tokens", tag = "accounts", request_body = NewToken, responses(
    (status = 201, body = CreatedToken),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 401, body = crate::error::ErrorEnvelope),
))]
async fn create_token(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AppError::field(
            "invalid_name",
            "name",
            "名称须为 1-64 个字符 / a name has 1 to 64 characters",
        ));
    }
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let id = uuid::Uuid::now_v7().to_string();
    state
        .store
        .create_api_token(&NewApiToken {
            id: id.clone(),
            account_id: p.account.id.clone(),
            name: name.clone(),
            token_hash: token_hash(&secret),
            created_at: now_ms(),
        })
        .await?;
    record_by(
        &state,
        &p,
        Event {
            action: "token_created",
            target: Some(id.clone()),
            detail: format!("personal API token {name:?}"),
            org: &p.account.org,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            name,
            token: secret,
        }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/v1/me/tokens/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope, description = "No such live token of yours"),
))]
async fn revoke_token(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    if !state
        .store
        .revoke_api_token(&p.account.id, &id, now_ms())
        .await?
    {
        return Err(AppError::NotFound("没有这个令牌 / no such token".into()));
    }
    state.auth_cache.clear();
    record_by(
        &state,
        &p,
        Event {
            action: "token_revoked",
            target: Some(id),
            detail: "personal API token revoked".into(),
            org: &p.account.org,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
