//! Wire types shared by the account, entity and audit routes, and the audit helper.

use serde::Serialize;
use utoipa::ToSchema;
use wanxiang_core::{Account, AuditEntry, Org, Scope, UnitCode};

use crate::auth::{Principal, now_ms};
use crate::{AppError, AppState};

/// A time on the wire: RFC 3339 in UTC with milliseconds.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// An organisation on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgDto {
    /// `unit`, `department` or `entity`.
    pub kind: &'static str,
    /// Unit code, department code or entity id.
    pub id: String,
    /// Its name, when the caller can see it.
    pub name: Option<String>,
    /// For units: `district`, `street`, `community` or `grid`.
    pub level: Option<&'static str>,
    /// The unit whose subtree governs it.
    pub area: String,
}

impl OrgDto {
    /// Describes an organisation, naming units from the atlas.
    pub fn of(state: &AppState, org: &Org) -> OrgDto {
        let atlas = state.atlas.current();
        let unit = |code: &UnitCode| {
            atlas
                .as_ref()
                .and_then(|a| a.unit(code))
                .map(|u| (u.name.clone(), u.level.as_str()))
        };
        match org {
            Org::Unit(code) => {
                let found = unit(code);
                OrgDto {
                    kind: "unit",
                    id: code.to_string(),
                    name: found.as_ref().map(|f| f.0.clone()),
                    level: found.map(|f| f.1),
                    area: code.to_string(),
                }
            }
            Org::Department(d) => OrgDto {
                kind: "department",
                id: d.to_string(),
                name: None,
                level: None,
                area: d.district().to_string(),
            },
            Org::Entity { id, unit } => OrgDto {
                kind: "entity",
                id: id.clone(),
                name: None,
                level: None,
                area: unit.to_string(),
            },
        }
    }
}

/// An account on the wire (never with a password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDto {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Organisation.
    pub org: OrgDto,
    /// Roles (wire names).
    pub roles: Vec<&'static str>,
    /// Roles in Chinese.
    pub roles_zh: Vec<&'static str>,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Whether it still has the published demo password.
    pub demo_password: bool,
    /// Created (RFC 3339).
    pub created_at: String,
}

impl AccountDto {
    /// Converts an account.
    pub fn of(state: &AppState, a: &Account) -> AccountDto {
        AccountDto {
            id: a.id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            org: OrgDto::of(state, &a.org),
            roles: a.roles.iter().map(|r| r.as_str()).collect(),
            roles_zh: a.roles.iter().map(|r| r.name_zh()).collect(),
            disabled: a.disabled,
            demo_password: a.demo_password,
            created_at: iso(a.created_at),
        }
    }
}

/// The caller's scope on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeDto {
    /// `subtree`, `department`, `entity` or `own`.
    pub kind: &'static str,
    /// The unit, department or entity the scope is rooted at; the account id for `own`.
    pub root: String,
    /// In words.
    pub description: String,
}

impl ScopeDto {
    /// Converts a scope.
    pub fn of(scope: &Scope) -> ScopeDto {
        let (kind, root) = match scope {
            Scope::System { reason } => ("system", reason.clone()),
            Scope::Subtree(u) => ("subtree", u.to_string()),
            Scope::Department(d) => ("department", d.to_string()),
            Scope::Entity(e) => ("entity", e.clone()),
            Scope::Own(a) => ("own", a.clone()),
        };
        ScopeDto {
            kind,
            root,
            description: scope.describe(),
        }
    }
}

/// What happened, for [`record`].
pub struct Event<'a> {
    /// Action name (`login`, `account_created` …).
    pub action: &'a str,
    /// Affected record.
    pub target: Option<String>,
    /// Details in words, never secrets.
    pub detail: String,
    /// The organisation the action belongs to (decides which admins see it).
    pub org: &'a Org,
}

/// Appends an audit entry for an action by `actor` (or by the system / an unknown user named
/// `actor_name`). An entry that cannot be written fails the request: a security action must not
/// happen unrecorded.
pub async fn record(
    state: &AppState,
    actor: Option<&Principal>,
    actor_name: &str,
    client: Option<String>,
    event: Event<'_>,
) -> Result<(), AppError> {
    let entry = AuditEntry {
        at: now_ms(),
        actor_id: actor.map(|p| p.account.id.clone()),
        actor_name: actor
            .map(|p| p.account.username.clone())
            .unwrap_or_else(|| actor_name.chars().take(64).collect()),
        action: event.action.to_owned(),
        target: event.target,
        detail: event.detail,
        area: event.org.area(),
        org: event.org.key(),
        client,
    };
    state.store.append_audit(&entry).await?;
    Ok(())
}

/// [`record`] for an action by an authenticated caller, from the caller's address.
pub async fn record_by(
    state: &AppState,
    actor: &Principal,
    event: Event<'_>,
) -> Result<(), AppError> {
    record(state, Some(actor), "", actor.client.clone(), event).await
}
