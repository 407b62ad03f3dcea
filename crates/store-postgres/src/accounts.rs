//! Departments, entities, accounts, sessions, API tokens and the audit log on PostgreSQL.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use wanxiang_core::{
    Account, AuditEntry, Department, DeptCode, Entity, NewAccount, Scope, ScopeFilter,
};
use wanxiang_store::codec::{self, AccountRow};
use wanxiang_store::{AccountUpdate, ApiToken, NewApiToken, NewSession, SessionInfo, StoreError};

use crate::db;

/// Appends the scope's condition to a query that already has a `WHERE`.
fn push_scope(qb: &mut QueryBuilder<'_, Postgres>, scope: &Scope) {
    match scope.filter() {
        ScopeFilter::All => qb.push(""),
        ScopeFilter::AreaPrefix(p) => qb.push(" AND area_code LIKE ").push_bind(format!("{p}%")),
        ScopeFilter::Org(key) => qb.push(" AND org = ").push_bind(key),
        ScopeFilter::Owner(id) => qb.push(" AND owner = ").push_bind(id),
    };
}

const ACCOUNT_COLUMNS: &str =
    "id, username, display_name, org, area_code, roles, demo_password, disabled, created_at";

fn read_account(row: &PgRow) -> Result<Account, StoreError> {
    codec::decode_account(AccountRow {
        id: row.try_get("id").map_err(db)?,
        username: row.try_get("username").map_err(db)?,
        display_name: row.try_get("display_name").map_err(db)?,
        org: row.try_get("org").map_err(db)?,
        area_code: row.try_get("area_code").map_err(db)?,
        roles: row.try_get("roles").map_err(db)?,
        demo_password: row.try_get("demo_password").map_err(db)?,
        disabled: row.try_get("disabled").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn read_entity(row: &PgRow) -> Result<Entity, StoreError> {
    let kind: String = row.try_get("kind").map_err(db)?;
    let area: String = row.try_get("area_code").map_err(db)?;
    let service: String = row.try_get("service_area").map_err(db)?;
    codec::decode_entity(
        row.try_get("id").map_err(db)?,
        row.try_get("name").map_err(db)?,
        &kind,
        &area,
        &service,
        row.try_get("created_at").map_err(db)?,
    )
}

fn conflict_on_unique(e: sqlx::Error, what: String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
            StoreError::Conflict(what)
        }
        _ => db(e),
    }
}

pub(crate) async fn create_department(pool: &PgPool, d: &Department) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO departments (code, name, area_code, org, owner) VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(d.code.as_str())
    .bind(&d.name)
    .bind(d.code.district().as_str())
    .bind(d.code.as_str())
    .execute(pool)
    .await
    .map_err(|e| {
        conflict_on_unique(
            e,
            format!("department {} exists or its district is unknown", d.code),
        )
    })?;
    Ok(())
}

pub(crate) async fn departments(
    pool: &PgPool,
    scope: &Scope,
) -> Result<Vec<Department>, StoreError> {
    let mut qb = QueryBuilder::new("SELECT code, name FROM departments WHERE 1 = 1");
    push_scope(&mut qb, scope);
    qb.push(" ORDER BY code");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            let code: String = r.try_get("code").map_err(db)?;
            Ok(Department {
                code: DeptCode::parse(&code)
                    .ok_or_else(|| StoreError::Corrupt(format!("department code {code:?}")))?,
                name: r.try_get("name").map_err(db)?,
            })
        })
        .collect()
}

pub(crate) async fn create_entity(pool: &PgPool, e: &Entity) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO entities (id, name, kind, area_code, org, owner, service_area, created_at) VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
    )
    .bind(&e.id)
    .bind(&e.name)
    .bind(e.kind.as_str())
    .bind(e.unit.as_str())
    .bind(format!("entity:{}", e.id))
    .bind(codec::encode_codes(&e.service_area))
    .bind(e.created_at)
    .execute(pool)
    .await
    .map_err(|err| conflict_on_unique(err, format!("entity {} exists or unit {} is unknown", e.id, e.unit)))?;
    Ok(())
}

pub(crate) async fn entities(
    pool: &PgPool,
    scope: &Scope,
    id: Option<&str>,
) -> Result<Vec<Entity>, StoreError> {
    let mut qb = QueryBuilder::new(
        "SELECT id, name, kind, area_code, service_area, created_at FROM entities WHERE 1 = 1",
    );
    if let Some(id) = id {
        qb.push(" AND id = ").push_bind(id.to_owned());
    }
    push_scope(&mut qb, scope);
    qb.push(" ORDER BY name, id");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(read_entity).collect()
}

pub(crate) async fn create_account(pool: &PgPool, a: &NewAccount) -> Result<Account, StoreError> {
    sqlx::query(
        "INSERT INTO accounts (id, username, display_name, org, area_code, owner, roles, password_hash, demo_password, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10)",
    )
    .bind(&a.id)
    .bind(&a.username)
    .bind(&a.display_name)
    .bind(a.org.key())
    .bind(a.org.area().as_str())
    .bind(&a.id)
    .bind(codec::encode_roles(&a.roles))
    .bind(&a.password_hash)
    .bind(a.demo_password)
    .bind(a.created_at)
    .execute(pool)
    .await
    .map_err(|e| conflict_on_unique(e, format!("username {} is taken", a.username)))?;
    Ok(Account {
        id: a.id.clone(),
        username: a.username.clone(),
        display_name: a.display_name.clone(),
        org: a.org.clone(),
        roles: a.roles.clone(),
        disabled: false,
        demo_password: a.demo_password,
        created_at: a.created_at,
    })
}

pub(crate) async fn accounts(
    pool: &PgPool,
    scope: &Scope,
    id: Option<&str>,
) -> Result<Vec<Account>, StoreError> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE 1 = 1"
    ));
    if let Some(id) = id {
        qb.push(" AND id = ").push_bind(id.to_owned());
    }
    push_scope(&mut qb, scope);
    qb.push(" ORDER BY username");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(read_account).collect()
}

pub(crate) async fn update_account(
    pool: &PgPool,
    scope: &Scope,
    id: &str,
    u: &AccountUpdate,
    now: i64,
) -> Result<Option<Account>, StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mut qb = QueryBuilder::new("UPDATE accounts SET id = id");
    if let Some(name) = &u.display_name {
        qb.push(", display_name = ").push_bind(name.clone());
    }
    if let Some(roles) = &u.roles {
        qb.push(", roles = ").push_bind(codec::encode_roles(roles));
    }
    if let Some(disabled) = u.disabled {
        qb.push(", disabled = ").push_bind(disabled);
    }
    if let Some((hash, demo)) = &u.password {
        qb.push(", password_hash = ").push_bind(hash.clone());
        qb.push(", demo_password = ").push_bind(*demo);
    }
    qb.push(" WHERE id = ").push_bind(id.to_owned());
    push_scope(&mut qb, scope);
    let changed = qb
        .build()
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    if u.disabled == Some(true) || u.password.is_some() {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    read_account(&row).map(Some)
}

pub(crate) async fn count_demo_passwords(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE demo_password")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok(n as u64)
}

pub(crate) async fn credentials(
    pool: &PgPool,
    username: &str,
) -> Result<Option<(Account, String)>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE username = $1 AND NOT disabled"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some((
            read_account(&row)?,
            row.try_get("password_hash").map_err(db)?,
        ))),
    }
}

pub(crate) async fn create_session(pool: &PgPool, s: &NewSession) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (token_hash, account_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&s.token_hash)
        .bind(&s.account_id)
        .bind(&s.csrf)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn session(
    pool: &PgPool,
    token_hash: &str,
    now: i64,
) -> Result<Option<SessionInfo>, StoreError> {
    let row = sqlx::query(
        "SELECT a.id, a.username, a.display_name, a.org, a.area_code, a.roles, a.demo_password, a.disabled, a.created_at,
                s.csrf, s.expires_at
         FROM sessions s JOIN accounts a ON a.id = s.account_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT a.disabled",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(SessionInfo {
            account: read_account(&row)?,
            csrf: row.try_get("csrf").map_err(db)?,
            expires_at: row.try_get("expires_at").map_err(db)?,
        })),
    }
}

pub(crate) async fn revoke_session(
    pool: &PgPool,
    token_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(token_hash)
    .execute(pool)
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n > 0)
}

pub(crate) async fn create_api_token(pool: &PgPool, t: &NewApiToken) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_tokens (id, account_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(crate) async fn api_token_account(
    pool: &PgPool,
    token_hash: &str,
    now: i64,
) -> Result<Option<Account>, StoreError> {
    let row = sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL RETURNING account_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let account_id: String = row.try_get("account_id").map_err(db)?;
    let row = sqlx::query(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 AND NOT disabled"
    ))
    .bind(account_id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.as_ref().map(read_account).transpose()
}

pub(crate) async fn api_tokens(
    pool: &PgPool,
    account_id: &str,
) -> Result<Vec<ApiToken>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE account_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(ApiToken {
                id: r.try_get("id").map_err(db)?,
                name: r.try_get("name").map_err(db)?,
                created_at: r.try_get("created_at").map_err(db)?,
                last_used_at: r.try_get("last_used_at").map_err(db)?,
                revoked_at: r.try_get("revoked_at").map_err(db)?,
            })
        })
        .collect()
}

pub(crate) async fn revoke_api_token(
    pool: &PgPool,
    account_id: &str,
    token_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(token_id)
        .bind(account_id)
        .execute(pool)
        .await
        .map_err(db)?
        .rows_affected();
    Ok(n > 0)
}

pub(crate) async fn append_audit(pool: &PgPool, e: &AuditEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, actor_name, action, target, detail, area_code, org, owner, client)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.at)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.detail)
    .bind(e.area.as_str())
    .bind(&e.org)
    .bind(&e.actor_id)
    .bind(&e.client)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn audit(
    pool: &PgPool,
    scope: &Scope,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
    let mut qb = QueryBuilder::new(
        "SELECT id, at, actor_id, actor_name, action, target, detail, area_code, org, client FROM audit_log WHERE 1 = 1",
    );
    if let Some(before) = before {
        qb.push(" AND id < ").push_bind(before);
    }
    push_scope(&mut qb, scope);
    qb.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            let area: String = r.try_get("area_code").map_err(db)?;
            Ok((
                r.try_get("id").map_err(db)?,
                AuditEntry {
                    at: r.try_get("at").map_err(db)?,
                    actor_id: r.try_get("actor_id").map_err(db)?,
                    actor_name: r.try_get("actor_name").map_err(db)?,
                    action: r.try_get("action").map_err(db)?,
                    target: r.try_get("target").map_err(db)?,
                    detail: r.try_get("detail").map_err(db)?,
                    area: codec::decode_code(&area)?,
                    org: r.try_get("org").map_err(db)?,
                    client: r.try_get("client").map_err(db)?,
                },
            ))
        })
        .collect()
}
