//! The SQL both backends run, written once.
//!
//! This file is not a module of `wanxiang-store` (which names no database): `wanxiang-store-sqlite`
//! and `wanxiang-store-postgres` each include it with `#[path]`, so the same queries compile once
//! per engine. Placeholders are `$1, $2, …`, which PostgreSQL and sqlx's SQLite driver both
//! accept; dynamic conditions go through `QueryBuilder`, which writes each engine's own. Each
//! including crate defines in its root: `Db` (the sqlx database), `DbRow`, `StoreImpl` (its store
//! type, with a `pool` field), `BACKEND`, `UNITS_ORDER`, `LOCK_UNITS_REVISION`, `BEGIN_WRITE`, `CST_DAY` and `db` (its error
//! mapping). What differs between the engines lives there, and only there.

use async_trait::async_trait;
use sqlx::{Pool, QueryBuilder, Row, Transaction};
use wanxiang_core::case::{
    Case, CaseRecord, Channel, HistoryEntry, PendingExtension, Satisfaction, Stage, Supervision,
};
use wanxiang_core::category::Priority;
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::{
    Account, AuditEntry, Department, DeptCode, Entity, NewAccount, Scope, ScopeFilter, Unit,
    UnitCode,
};
use wanxiang_store::codec::{self, AccountRow, UnitRow};
use wanxiang_store::{
    AccountUpdate, AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, ApiToken, AreaCounts,
    Attachment, AttachmentMeta, Backend, CASE_PARTS_ALARMS, CaseCreated, CaseFilter, CaseMark,
    CaseParts, CaseStats, Delivery, DeliveryOutcome, DeliveryStatus, DeviceFilter, DeviceRecord,
    DeviceResume, IntakeWrite, LinkedReport, NearQuery, NewApiToken, NewCase, NewDevice,
    NewSession, Reading, Rollup, SessionInfo, Store, StoreError, TelemetryBatch, WarningChange,
    WarningRecord, WarningStatus,
};

use crate::{BACKEND, CST_DAY, Db, DbRow, LOCK_UNITS_REVISION, StoreImpl, UNITS_ORDER, db};

fn read_unit(row: &DbRow) -> Result<Unit, StoreError> {
    codec::decode(UnitRow {
        code: row.try_get("code").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        level: row.try_get("level").map_err(db)?,
        parent_code: row.try_get("parent_code").map_err(db)?,
        boundary: row.try_get("boundary").map_err(db)?,
        synthetic: row.try_get("synthetic").map_err(db)?,
    })
}

async fn write_units(tx: &mut crate::shared::WriteTx, units: &[Unit]) -> Result<(), StoreError> {
    for unit in codec::parents_first(units) {
        let row = codec::encode(unit);
        if let Some(parent) = &row.parent_code {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM units WHERE code = $1")
                .bind(parent)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if exists.is_none() {
                return Err(StoreError::Conflict(format!(
                    "unit {} has unknown parent {parent}",
                    row.code
                )));
            }
        }
        sqlx::query(
            "INSERT INTO units (code, name, level, parent_code, boundary, synthetic) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level,
               parent_code = excluded.parent_code, boundary = excluded.boundary, synthetic = excluded.synthetic",
        )
        .bind(&row.code)
        .bind(&row.name)
        .bind(&row.level)
        .bind(&row.parent_code)
        .bind(&row.boundary)
        .bind(row.synthetic)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// A write transaction. On SQLite it also holds the process's write lock for its whole life:
/// SQLite has one writer, and two transactions racing for it make the loser sleep in SQLite's
/// busy handler (in steps of up to 100 ms), which is where the tail of our write latency came
/// from; queueing on an async lock instead wakes the next writer the moment the last commits.
/// On PostgreSQL there is no lock here (`WRITE_LOCK` is `None`).
pub(crate) struct WriteTx {
    /// The transaction (dropped first: a transaction dropped uncommitted rolls back before the
    /// lock is released).
    tx: Transaction<'static, Db>,
    /// The write lock, if the engine needs one.
    _guard: Option<WriteLock>,
}

/// The process's write lock, held (SQLite). How long each store operation waited for it and
/// held it is measured by operation (`wanxiang_store_write_lock_wait_seconds` and
/// `wanxiang_store_write_lock_held_seconds`, labelled `op` as `wanxiang_store::as_op` named
/// it): the one writer is shared by intake, supervision and every other write, so a write
/// that waits long shows who held the lock.
pub(crate) struct WriteLock {
    _guard: tokio::sync::MutexGuard<'static, ()>,
    op: &'static str,
    since: std::time::Instant,
}

impl WriteLock {
    /// Waits for the engine's write lock; `None` where it has none (PostgreSQL).
    pub(crate) async fn take() -> Option<WriteLock> {
        let lock = crate::WRITE_LOCK?;
        let op = wanxiang_store::current_op();
        let asked = std::time::Instant::now();
        let guard = lock.lock().await;
        let since = std::time::Instant::now();
        metrics::histogram!("wanxiang_store_write_lock_wait_seconds", "op" => op)
            .record((since - asked).as_secs_f64());
        Some(WriteLock {
            _guard: guard,
            op,
            since,
        })
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        metrics::histogram!("wanxiang_store_write_lock_held_seconds", "op" => self.op)
            .record(self.since.elapsed().as_secs_f64());
    }
}

impl std::ops::Deref for WriteTx {
    type Target = <Db as sqlx::Database>::Connection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits (and then releases the lock).
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Begins a write transaction (see [`WriteTx`]).
pub(crate) async fn begin_write(pool: &Pool<Db>) -> Result<WriteTx, StoreError> {
    let guard = WriteLock::take().await;
    let tx = pool.begin_with(crate::BEGIN_WRITE).await.map_err(db)?;
    Ok(WriteTx { tx, _guard: guard })
}

/// A connection of the engine's (what a [`WriteTx`] derefs to).
pub(crate) type Conn = <Db as sqlx::Database>::Connection;

/// The connection the intake writer keeps between its batches, taken out of the writer pool
/// (empty until the first batch, and again after a batch that could not end its transaction).
/// A pooled connection is tested with a ping each time it goes back to the pool, in a task of
/// its own, and the next batch waited for that round trip too: a batch is one round trip of
/// its own (see [`ScriptTx`]), and the wake-ups around the ping doubled it.
pub(crate) type IntakeConn = std::sync::Arc<tokio::sync::Mutex<Option<Conn>>>;

/// A write transaction whose `BEGIN` is the first statement of its first script and whose
/// `COMMIT` the last of its last: where the engine takes a script in one query (SQLite), a
/// write that needs no answer before its end (an intake batch without external ids) is then a
/// single round trip to the connection's thread instead of three (begin, script, commit), and
/// each round trip, under load, costs the waiting writer more than the work it carries.
/// Elsewhere the statements still run one after another. Holds the write lock like a
/// [`WriteTx`]. A failure must be followed by [`ScriptTx::rollback`]; a transaction dropped
/// while it may be open (a cancelled write) drops its connection, which rolls it back.
pub(crate) struct ScriptTx {
    /// The connection, for statements outside scripts once begun.
    conn: Conn,
    /// Whether the transaction may be open: from the start until a commit or rollback answered.
    open: bool,
    /// The write lock, if the engine needs one (released after the connection went back).
    _guard: Option<WriteLock>,
}

impl ScriptTx {
    /// Takes the write lock and `held` (or, if there is none, a connection of `pool`'s, out
    /// of the pool); `script`, which must be empty, begins with the transaction's `BEGIN`: it
    /// must run before anything else does on [`ScriptTx::conn`].
    pub(crate) async fn begin(
        pool: &Pool<Db>,
        held: Option<Conn>,
        script: &mut Script,
    ) -> Result<Self, StoreError> {
        debug_assert!(script.is_empty(), "BEGIN goes first");
        let guard = WriteLock::take().await;
        let conn = match held {
            Some(conn) => conn,
            None => pool.acquire().await.map_err(db)?.detach(),
        };
        script.statement(crate::BEGIN_WRITE);
        Ok(ScriptTx {
            conn,
            open: true,
            _guard: guard,
        })
    }

    /// The connection, in the transaction once the script with its `BEGIN` ran (after the
    /// commit: still holding the write lock, so what it reads is what the commit left).
    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Ends `script` with `COMMIT` and runs it; returns the outcomes of its statements (the
    /// commit's last). A failure leaves the transaction to [`ScriptTx::rollback`].
    pub(crate) async fn commit(&mut self, mut script: Script) -> Result<Vec<Outcome>, StoreError> {
        script.statement("COMMIT");
        let done = script.run(&mut self.conn).await?;
        self.open = false;
        Ok(done)
    }

    /// Rolls back what the transaction wrote. If that fails (or there was no transaction: its
    /// `BEGIN` failed) the connection is closed instead of going back to the pool.
    pub(crate) async fn rollback(&mut self) {
        if !self.open {
            return;
        }
        if sqlx::query("ROLLBACK")
            .execute(&mut self.conn)
            .await
            .is_ok()
        {
            self.open = false;
        }
    }
}

impl ScriptTx {
    /// Ends the transaction's life: the connection to keep for the next, unless the
    /// transaction may still be open (it is then dropped, which closes the connection and so
    /// rolls the transaction back; as when a `ScriptTx` is dropped on a cancelled write).
    pub(crate) fn finish(self) -> Option<Conn> {
        (!self.open).then_some(self.conn)
    }
}

/// Statements written first and run together: a write whose statements do not need each
/// other's answers queues them in a script and runs it once. Where the engine takes several
/// statements in one query (`SCRIPT_IN_ONE_QUERY`: SQLite, whose driver runs each connection
/// on a thread of its own), the whole script is one round trip to that thread instead of one
/// per statement; elsewhere (PostgreSQL prepares one statement at a time) the statements run
/// one after another, as they would without a script. Either way each statement's outcome
/// comes back in order. A script's values go in through the builder's binds only: SQLite's
/// driver numbers a script's parameters across all its statements, so a literal `$1` in one of
/// them would name the first statement's first value.
#[derive(Default)]
pub(crate) struct Script {
    /// The statements' builders: one holding them all, or one each.
    parts: Vec<QueryBuilder<'static, Db>>,
    /// How many statements were begun.
    statements: usize,
}

/// What one statement of a [`Script`] did.
#[derive(Default)]
pub(crate) struct Outcome {
    /// Rows it inserted, updated or deleted.
    pub(crate) affected: u64,
    /// Rows it returned.
    pub(crate) rows: Vec<DbRow>,
}

impl Script {
    /// Begins the next statement with `head`; returns its place (the index of its outcome)
    /// and the builder to finish it with.
    pub(crate) fn statement(&mut self, head: &str) -> (usize, &mut QueryBuilder<'static, Db>) {
        let at = self.statements;
        self.statements += 1;
        match self.parts.last_mut() {
            Some(qb) if crate::SCRIPT_IN_ONE_QUERY => {
                qb.push(";\n").push(head);
            }
            _ => self.parts.push(QueryBuilder::new(head)),
        }
        let qb = self.parts.last_mut().expect("a statement was just begun");
        (at, qb)
    }

    /// Whether no statement was begun.
    pub(crate) fn is_empty(&self) -> bool {
        self.statements == 0
    }

    /// Runs the statements in order, in the transaction or on the connection given; returns
    /// their outcomes, one each. The first statement to fail stops the rest.
    pub(crate) async fn run(
        mut self,
        conn: &mut <Db as sqlx::Database>::Connection,
    ) -> Result<Vec<Outcome>, StoreError> {
        use sqlx::Either;
        use tokio_stream::StreamExt;
        let mut out = Vec::with_capacity(self.statements);
        let mut rows = Vec::new();
        for qb in &mut self.parts {
            let mut stream = sqlx::Executor::fetch_many(&mut *conn, qb.build());
            while let Some(step) = stream.next().await {
                match step.map_err(db)? {
                    Either::Right(row) => rows.push(row),
                    Either::Left(done) => out.push(Outcome {
                        affected: done.rows_affected(),
                        rows: std::mem::take(&mut rows),
                    }),
                }
            }
        }
        if out.len() != self.statements {
            return Err(StoreError::Database(format!(
                "a script of {} statements reported {}",
                self.statements,
                out.len()
            )));
        }
        Ok(out)
    }
}

/// ` AND area_code` starts with `prefix` (see `AREA_PREFIX_RANGE`).
pub(crate) fn push_area_prefix(qb: &mut QueryBuilder<'_, Db>, prefix: &str) {
    if crate::AREA_PREFIX_RANGE {
        // Every code starting with the prefix sorts at or after it and before the prefix
        // followed by the greatest character. `+` keeps the plans the LIKE had: SQLite's
        // case-insensitive LIKE never used the area index, and a range would tempt the planner
        // to read a whole street's cases through it where it now stops early on another index.
        qb.push(" AND +area_code >= ")
            .push_bind(prefix.to_owned())
            .push(" AND +area_code < ")
            .push_bind(format!("{prefix}\u{10FFFF}"));
    } else {
        qb.push(" AND area_code LIKE ")
            .push_bind(format!("{prefix}%"));
    }
}

pub(crate) fn push_scope(qb: &mut QueryBuilder<'_, Db>, scope: &Scope) {
    match scope.filter() {
        ScopeFilter::All => qb.push(""),
        ScopeFilter::AreaPrefix(p) => {
            push_area_prefix(qb, &p);
            qb
        }
        ScopeFilter::Org(key) => qb.push(" AND org = ").push_bind(key),
        ScopeFilter::Owner(id) => qb.push(" AND owner = ").push_bind(id),
    };
}

const ACCOUNT_COLUMNS: &str =
    "id, username, display_name, org, area_code, roles, demo_password, disabled, created_at";

fn read_account(row: &DbRow) -> Result<Account, StoreError> {
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

fn read_entity(row: &DbRow) -> Result<Entity, StoreError> {
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

async fn create_department(pool: &Pool<Db>, d: &Department) -> Result<(), StoreError> {
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

async fn departments(pool: &Pool<Db>, scope: &Scope) -> Result<Vec<Department>, StoreError> {
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

async fn create_entity(pool: &Pool<Db>, e: &Entity) -> Result<(), StoreError> {
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

async fn entities(
    pool: &Pool<Db>,
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

async fn create_account(pool: &Pool<Db>, a: &NewAccount) -> Result<Account, StoreError> {
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

async fn accounts(
    pool: &Pool<Db>,
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

async fn update_account(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
    u: &AccountUpdate,
    now: i64,
) -> Result<Option<Account>, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
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

async fn count_demo_passwords(pool: &Pool<Db>) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE demo_password")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok(n as u64)
}

async fn credentials(
    pool: &Pool<Db>,
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

async fn create_session(pool: &Pool<Db>, s: &NewSession) -> Result<(), StoreError> {
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

async fn session(
    pool: &Pool<Db>,
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

async fn revoke_session(pool: &Pool<Db>, token_hash: &str, now: i64) -> Result<bool, StoreError> {
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

async fn create_api_token(pool: &Pool<Db>, t: &NewApiToken) -> Result<(), StoreError> {
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

async fn api_token_account(
    pool: &Pool<Db>,
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

async fn api_tokens(pool: &Pool<Db>, account_id: &str) -> Result<Vec<ApiToken>, StoreError> {
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

async fn revoke_api_token(
    pool: &Pool<Db>,
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

async fn append_audit(pool: &Pool<Db>, e: &AuditEntry) -> Result<(), StoreError> {
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

async fn audit(
    pool: &Pool<Db>,
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

pub(crate) const CASE_COLUMNS: &str = "id, channel, external_id, category, description, lon, lat, area_code, org, owner, \
    reporter_contact, priority, stage, suspended_from, rating, reworks, redos, returns, ext_until, ext_reason, \
    extensions, due_at, explanation, version, created_at, updated_at, warn_at, warned, overdue, escalated_to, \
    suspended_at, resolved";

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} {value:?}"))
}

/// The text column `column` of a row read as a value of the domain by `parse` (a channel, a
/// stage …); [`corrupt`] if it names none.
pub(crate) fn parsed<T>(
    row: &DbRow,
    column: &str,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let v: String = row.try_get(column).map_err(db)?;
    parse(&v).ok_or_else(|| corrupt(what, &v))
}

pub(crate) fn read_case(row: &DbRow) -> Result<CaseRecord, StoreError> {
    let text = |c: &str| -> Result<String, StoreError> { row.try_get(c).map_err(db) };
    let opt = |c: &str| -> Result<Option<String>, StoreError> { row.try_get(c).map_err(db) };
    let int = |c: &str| -> Result<i64, StoreError> { row.try_get::<i64, _>(c).map_err(db) };
    let stage = |v: String| Stage::parse(&v).ok_or_else(|| corrupt("stage", &v));
    let priority = text("priority")?;
    let org = text("org")?;
    let ext_until: Option<i64> = row.try_get("ext_until").map_err(db)?;
    let pending_extension = match (ext_until, opt("ext_reason")?) {
        (Some(until), Some(reason)) => Some(PendingExtension { until, reason }),
        _ => None,
    };
    Ok(CaseRecord {
        id: text("id")?,
        channel: parsed(row, "channel", "channel", Channel::parse)?,
        external_id: opt("external_id")?,
        category: opt("category")?,
        description: text("description")?,
        lon: row.try_get("lon").map_err(db)?,
        lat: row.try_get("lat").map_err(db)?,
        area: codec::decode_code(&text("area_code")?)?,
        reporter: opt("owner")?,
        reporter_contact: opt("reporter_contact")?,
        priority: Priority::parse(&priority).ok_or_else(|| corrupt("priority", &priority))?,
        lifecycle: Case {
            stage: stage(text("stage")?)?,
            assignee: (!org.is_empty()).then_some(org),
            suspended_from: opt("suspended_from")?.map(stage).transpose()?,
            rating: opt("rating")?
                .map(|r| Satisfaction::parse(&r).ok_or_else(|| corrupt("rating", &r)))
                .transpose()?,
            resolved: row.try_get("resolved").map_err(db)?,
            suspended_at: row.try_get("suspended_at").map_err(db)?,
            reworks: int("reworks")? as u32,
            redos: int("redos")? as u32,
            returns: int("returns")? as u32,
            pending_extension,
            extensions: int("extensions")? as u32,
        },
        due_at: row.try_get("due_at").map_err(db)?,
        explanation: text("explanation")?,
        supervision: Supervision {
            warn_at: row.try_get("warn_at").map_err(db)?,
            warned: row.try_get("warned").map_err(db)?,
            overdue: row.try_get("overdue").map_err(db)?,
            escalated_to: opt("escalated_to")?,
        },
        version: int("version")?,
        created_at: int("created_at")?,
        updated_at: int("updated_at")?,
    })
}

/// What [`read_history`] reads.
const HISTORY_COLUMNS: &str = "seq, at, actor_id, actor_name, from_stage, to_stage, command, note";

fn read_history(row: &DbRow) -> Result<HistoryEntry, StoreError> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(db);
    entry_of((
        row.try_get("seq").map_err(db)?,
        row.try_get("at").map_err(db)?,
        row.try_get("actor_id").map_err(db)?,
        text("actor_name")?,
        text("from_stage")?,
        text("to_stage")?,
        text("command")?,
        text("note")?,
    ))
}

pub(crate) async fn insert_history(
    tx: &mut Conn,
    case_id: &str,
    e: &HistoryEntry,
) -> Result<(), StoreError> {
    insert_histories(tx, &[(case_id, e)]).await
}

/// Inserts history lines, all in one statement.
pub(crate) async fn insert_histories(
    tx: &mut Conn,
    lines: &[(&str, &HistoryEntry)],
) -> Result<(), StoreError> {
    let mut script = Script::default();
    push_histories(&mut script, lines);
    script.run(tx).await?;
    Ok(())
}

/// Queues the statements that insert history lines: the lines in one statement, their change
/// keys (where the engine keeps an outbox) and the facts they tell about their cases.
pub(crate) fn push_histories(script: &mut Script, lines: &[(&str, &HistoryEntry)]) {
    if lines.is_empty() {
        return;
    }
    let (_, qb) = script.statement(HISTORY_INSERT);
    qb.push_values(lines, |mut b, (case_id, e)| {
        b.push_bind((*case_id).to_owned())
            .push_bind(e.seq)
            .push_bind(e.at)
            .push_bind(e.actor_id.clone())
            .push_bind(e.actor.clone())
            .push_bind(e.from.as_str())
            .push_bind(e.to.as_str())
            .push_bind(e.command.clone())
            .push_bind(e.note.clone());
    });
    let keys: Vec<(&str, i64)> = lines.iter().map(|(id, e)| (*id, e.seq)).collect();
    crate::hub::push_changes(script, &keys);
    push_facts(script, lines);
}

/// The head of a statement inserting history lines.
const HISTORY_INSERT: &str = "INSERT INTO case_history (case_id, seq, at, actor_id, actor_name, from_stage, to_stage, command, note) ";

/// Queues the statements that append history lines each after its case's last, numbered by
/// the database (their `seq` is not read): for writes that must not wait for an answer to
/// number them. The lines' cases must differ (the lines of one statement all see the history
/// as it was before it); several lines of one case go in successive calls. With their change
/// keys and facts, as [`push_histories`].
pub(crate) fn push_appended(script: &mut Script, lines: &[(&str, &HistoryEntry)]) {
    if lines.is_empty() {
        return;
    }
    let (_, qb) = script.statement(HISTORY_INSERT);
    qb.push("VALUES ");
    for (i, (case_id, e)) in lines.iter().enumerate() {
        qb.push(if i == 0 { "(" } else { ", (" })
            .push_bind((*case_id).to_owned())
            .push(", (SELECT COALESCE(MAX(h.seq), 0) + 1 FROM case_history h WHERE h.case_id = ")
            .push_bind((*case_id).to_owned())
            .push("), ");
        let mut rest = qb.separated(", ");
        rest.push_bind(e.at)
            .push_bind(e.actor_id.clone())
            .push_bind(e.actor.clone())
            .push_bind(e.from.as_str())
            .push_bind(e.to.as_str())
            .push_bind(e.command.clone())
            .push_bind(e.note.clone())
            .push_unseparated(")");
    }
    if crate::CHANGE_OUTBOX {
        let (_, qb) = script.statement(
            "INSERT INTO change_outbox (case_id, seq) SELECT case_id, MAX(seq) FROM case_history WHERE case_id IN (",
        );
        let ids: Vec<&str> = lines.iter().map(|(id, _)| *id).collect();
        push_among(
            qb,
            &ids,
            "GROUP BY case_id ON CONFLICT (case_id, seq) DO NOTHING",
        );
    }
    push_facts(script, lines);
}

/// Queues the statements that keep the history's facts on the case rows (migration 0011), for
/// the indicators.
fn push_facts(script: &mut Script, lines: &[(&str, &HistoryEntry)]) {
    let mut facts: Vec<(&str, Facts)> = Vec::new();
    for (case_id, e) in lines {
        let f = Facts::of(e);
        if f == Facts::default() {
            continue;
        }
        match facts.iter_mut().find(|(id, _)| id == case_id) {
            Some((_, known)) => known.merge(f),
            None => facts.push((case_id, f)),
        }
    }
    // Cases with the same facts share one statement: an intake batch's new cases are all just
    // "dispatched", so the whole batch costs one UPDATE.
    let mut groups: Vec<(Facts, Vec<&str>)> = Vec::new();
    for (case_id, f) in facts {
        match groups.iter_mut().find(|(g, _)| *g == f) {
            Some((_, ids)) => ids.push(case_id),
            None => groups.push((f, vec![case_id])),
        }
    }
    for (f, ids) in &groups {
        for chunk in ids.chunks(500) {
            let (_, qb) = script.statement("UPDATE cases SET was_dispatched = (was_dispatched OR ");
            qb.push_bind(f.dispatched)
                .push("), was_handled = (was_handled OR ")
                .push_bind(f.handled)
                .push("), was_overdue = (was_overdue OR ")
                .push_bind(f.overdue)
                .push("), handled_late = (handled_late OR ")
                .push_bind(f.handled_late)
                .push(")");
            if let Some(at) = f.closed_at {
                qb.push(", closed_at = CASE WHEN closed_at IS NOT NULL AND closed_at >= ")
                    .push_bind(at)
                    .push(" THEN closed_at ELSE ")
                    .push_bind(at)
                    .push(" END");
            }
            qb.push(" WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind((*id).to_owned());
            }
            qb.push(")");
        }
    }
}

/// What a history line tells the indicators about its case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Facts {
    /// Dispatched to a responsible unit (at least once).
    dispatched: bool,
    /// Reported handled (at least once).
    handled: bool,
    /// A stage went overdue.
    overdue: bool,
    /// The handling stage (accepted or in progress) went overdue.
    handled_late: bool,
    /// Closed by a passing verification, at this time.
    closed_at: Option<i64>,
}

impl Facts {
    fn of(e: &HistoryEntry) -> Facts {
        let overdue = e.command == "overdue";
        Facts {
            dispatched: e.command == "dispatch",
            handled: e.command == "handle",
            overdue,
            handled_late: overdue && matches!(e.from, Stage::Accepted | Stage::InProgress),
            closed_at: (e.command == "verify" && e.to == Stage::Closed).then_some(e.at),
        }
    }

    fn merge(&mut self, o: Facts) {
        self.dispatched |= o.dispatched;
        self.handled |= o.handled;
        self.overdue |= o.overdue;
        self.handled_late |= o.handled_late;
        self.closed_at = self.closed_at.max(o.closed_at);
    }
}

/// Inserts a case row; false when its channel and external id are taken.
pub(crate) async fn insert_case(tx: &mut Conn, c: &CaseRecord) -> Result<bool, StoreError> {
    Ok(insert_cases(tx, &[c]).await? > 0)
}

/// Inserts case rows in one statement, skipping any whose channel and external id are taken;
/// returns how many it inserted.
pub(crate) async fn insert_cases(tx: &mut Conn, cases: &[&CaseRecord]) -> Result<u64, StoreError> {
    if cases.is_empty() {
        return Ok(0);
    }
    let mut script = Script::default();
    let at = push_cases(&mut script, cases);
    Ok(script.run(tx).await?[at].affected)
}

/// Queues the statement that inserts case rows, skipping any whose channel and external id
/// are taken; returns its place in the script (its outcome counts the rows inserted).
pub(crate) fn push_cases(script: &mut Script, cases: &[&CaseRecord]) -> usize {
    let (at, qb) = script.statement(
        "INSERT INTO cases (id, channel, external_id, category, description, lon, lat, area_code, org, owner,
             reporter_contact, priority, stage, suspended_from, rating, reworks, redos, returns, ext_until, ext_reason,
             extensions, due_at, explanation, version, created_at, updated_at, warn_at, warned, overdue, escalated_to,
             suspended_at, resolved) ",
    );
    qb.push_values(cases, |mut b, c| {
        let c = *c;
        let l = &c.lifecycle;
        b.push_bind(c.id.clone())
            .push_bind(c.channel.as_str())
            .push_bind(c.external_id.clone())
            .push_bind(c.category.clone())
            .push_bind(c.description.clone())
            .push_bind(c.lon)
            .push_bind(c.lat)
            .push_bind(c.area.as_str().to_owned())
            .push_bind(l.assignee.clone().unwrap_or_default())
            .push_bind(c.reporter.clone())
            .push_bind(c.reporter_contact.clone())
            .push_bind(c.priority.as_str())
            .push_bind(l.stage.as_str())
            .push_bind(l.suspended_from.map(|s| s.as_str()))
            .push_bind(l.rating.map(|r| r.as_str()))
            .push_bind(i64::from(l.reworks))
            .push_bind(i64::from(l.redos))
            .push_bind(i64::from(l.returns))
            .push_bind(l.pending_extension.as_ref().map(|p| p.until))
            .push_bind(l.pending_extension.as_ref().map(|p| p.reason.clone()))
            .push_bind(i64::from(l.extensions))
            .push_bind(c.due_at)
            .push_bind(c.explanation.clone())
            .push_bind(c.version)
            .push_bind(c.created_at)
            .push_bind(c.updated_at)
            .push_bind(c.supervision.warn_at)
            .push_bind(c.supervision.warned)
            .push_bind(c.supervision.overdue)
            .push_bind(c.supervision.escalated_to.clone())
            .push_bind(l.suspended_at)
            .push_bind(l.resolved);
    });
    qb.push(" ON CONFLICT (channel, external_id) DO NOTHING");
    at
}

/// The case scope, where a resident also sees the cases their linked reports follow.
fn push_case_scope(qb: &mut QueryBuilder<'_, Db>, scope: &Scope) {
    match scope.filter() {
        ScopeFilter::Owner(id) => {
            qb.push(" AND (owner = ")
                .push_bind(id.clone())
                .push(" OR id IN (SELECT case_id FROM case_reports WHERE unlinked_at IS NULL AND owner = ")
                .push_bind(id)
                .push("))");
        }
        _ => push_scope(qb, scope),
    }
}

async fn cases<'c>(
    ex: impl sqlx::Executor<'c, Database = Db>,
    scope: &Scope,
    filter: &CaseFilter,
    id: Option<&str>,
) -> Result<Vec<CaseRecord>, StoreError> {
    let mut qb = QueryBuilder::new(format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1"));
    if let Some(id) = id {
        qb.push(" AND id = ").push_bind(id.to_owned());
    }
    if let Some(stage) = filter.stage {
        qb.push(" AND stage = ").push_bind(stage.as_str());
    }
    if let Some(a) = &filter.assignee {
        qb.push(" AND org = ").push_bind(a.clone());
    }
    if let Some(c) = &filter.category {
        qb.push(" AND category = ").push_bind(c.clone());
    }
    if let Some(t) = filter.since {
        qb.push(" AND created_at >= ").push_bind(t);
    }
    match filter.open {
        Some(true) => qb.push(" AND stage NOT IN ('closed', 'rejected')"),
        Some(false) => qb.push(" AND stage IN ('closed', 'rejected')"),
        None => &mut qb,
    };
    push_case_scope(&mut qb, scope);
    let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 1000));
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    let rows = qb.build().fetch_all(ex).await.map_err(db)?;
    rows.iter().map(read_case).collect()
}

async fn case_history(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    if cases(pool, scope, &CaseFilter::default(), Some(id))
        .await?
        .is_empty()
    {
        return Ok(Vec::new());
    }
    history_of(pool, id).await
}

async fn history_of<'c>(
    ex: impl sqlx::Executor<'c, Database = Db>,
    id: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {HISTORY_COLUMNS} FROM case_history WHERE case_id = $1 ORDER BY seq"
    ))
    .bind(id)
    .fetch_all(ex)
    .await
    .map_err(db)?;
    rows.iter().map(read_history).collect()
}

/// A case's parts, read in one transaction on one connection: see [`Store::case_parts`].
async fn case_parts(
    pool: &Pool<Db>,
    scope: &Scope,
    id: &str,
    with_alarms: bool,
) -> Result<Option<CaseParts>, StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    if cases(&mut *tx, scope, &CaseFilter::default(), Some(id))
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let ids = [id.to_owned()];
    let mut parts = parts_of(&mut tx, &ids, None, with_alarms).await?;
    tx.commit().await.map_err(db)?;
    Ok(Some(parts.remove(id).unwrap_or_default()))
}

/// `head` (ending in `IN (`), the ids bound as a list, `)` and `tail`.
pub(crate) fn among<'a>(head: &str, ids: &[impl AsRef<str>], tail: &str) -> QueryBuilder<'a, Db> {
    let mut qb = QueryBuilder::<Db>::new(head);
    push_among(&mut qb, ids, tail);
    qb
}

/// The list of ids after a `head` ending in `IN (`, then `tail` (see [`among`]).
pub(crate) fn push_among(qb: &mut QueryBuilder<'_, Db>, ids: &[impl AsRef<str>], tail: &str) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.as_ref().to_owned());
    }
    list.push_unseparated(") ");
    qb.push(tail);
}

/// Of each case, beside its row: how many reports are linked to it and whether it has any
/// attachments or alarms (`linked_n`, `has_attachments`, `has_alarms`). A read of cases that
/// selects these learns in the same statement which of its parts need a statement of their own.
pub(crate) const PARTS_CENSUS: &str = "(SELECT COUNT(*) FROM case_reports r \
     WHERE r.case_id = cases.id AND r.unlinked_at IS NULL) AS linked_n, \
     EXISTS (SELECT 1 FROM attachments a WHERE a.case_id = cases.id) AS has_attachments, \
     EXISTS (SELECT 1 FROM alarms m WHERE m.case_id = cases.id) AS has_alarms";

/// What [`PARTS_CENSUS`] tells of a case.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Census {
    linked: u64,
    attachments: bool,
    alarms: bool,
}

/// The census columns of a row that selected [`PARTS_CENSUS`].
pub(crate) fn read_census(row: &DbRow) -> Result<Census, StoreError> {
    let linked: i64 = row.try_get("linked_n").map_err(db)?;
    Ok(Census {
        linked: u64::try_from(linked).unwrap_or_default(),
        attachments: row.try_get("has_attachments").map_err(db)?,
        alarms: row.try_get("has_alarms").map_err(db)?,
    })
}

/// The census of some cases, by id (for a caller that did not select it with their rows).
async fn census_of(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Census>, StoreError> {
    let rows = among(
        &format!("SELECT id, {PARTS_CENSUS} FROM cases WHERE id IN ("),
        ids,
        "",
    )
    .build()
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|row| Ok((row.try_get("id").map_err(db)?, read_census(row)?)))
        .collect()
}

/// The history lines of some cases, one row per case (`case_id`, and `lines`: its lines as a
/// JSON array in order, `HISTORY_AGG` of each engine), all of them or only each case's `last`
/// lines: the head of a query to finish with [`among`] or [`push_among`] and [`HISTORY_GROUP`];
/// [`assemble_parts`] reads its rows.
pub(crate) fn histories_head(last: Option<usize>) -> String {
    let tail = last.map_or(String::new(), |n| {
        format!(
            "seq > (SELECT MAX(t.seq) FROM case_history t \
             WHERE t.case_id = case_history.case_id) - {n} AND "
        )
    });
    format!(
        "SELECT case_id, {} AS lines FROM case_history WHERE {tail}case_id IN (",
        crate::HISTORY_AGG
    )
}
pub(crate) const HISTORY_GROUP: &str = "GROUP BY case_id";

/// One history line as [`histories_head`] gives it: the columns of [`HISTORY_COLUMNS`], in order.
type HistoryLine = (
    i64,
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
);

/// The lines of one row of [`histories_head`].
fn read_history_lines(row: &DbRow) -> Result<Vec<HistoryEntry>, StoreError> {
    let sqlx::types::Json(lines): sqlx::types::Json<Vec<HistoryLine>> =
        row.try_get("lines").map_err(db)?;
    lines.into_iter().map(entry_of).collect()
}

/// A history line from its columns, in the order of [`HISTORY_COLUMNS`].
fn entry_of(
    (seq, at, actor_id, actor, from, to, command, note): HistoryLine,
) -> Result<HistoryEntry, StoreError> {
    let stage = |s: &str| Stage::parse(s).ok_or_else(|| corrupt("stage", s));
    Ok(HistoryEntry {
        seq,
        at,
        actor_id,
        actor,
        from: stage(&from)?,
        to: stage(&to)?,
        command,
        note,
    })
}

/// The parts of some cases (history, attachments, linked-report count and, when asked, alarms),
/// by case id, on the connection given. `census` is what the caller read with the cases' rows
/// ([`PARTS_CENSUS`]; read here when `None`): the attachments and alarms are read only of cases
/// that have some, so the parts of cases without take two statements, however many the cases.
pub(crate) async fn parts_of(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[String],
    census: Option<std::collections::HashMap<String, Census>>,
    with_alarms: bool,
) -> Result<std::collections::HashMap<String, CaseParts>, StoreError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let census = match census {
        Some(census) => census,
        None => census_of(conn, ids).await?,
    };
    let rows = among(&histories_head(None), ids, HISTORY_GROUP)
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let mut parts = assemble_parts(ids, &census, &rows)?;
    more_parts(conn, &mut parts, ids, &census, with_alarms).await?;
    Ok(parts)
}

/// The parts of some cases as far as their census and history rows (read with [`histories_head`])
/// tell: everything but attachments and alarms.
pub(crate) fn assemble_parts(
    ids: &[String],
    census: &std::collections::HashMap<String, Census>,
    history: &[DbRow],
) -> Result<std::collections::HashMap<String, CaseParts>, StoreError> {
    let mut parts: std::collections::HashMap<String, CaseParts> = ids
        .iter()
        .map(|id| (id.clone(), CaseParts::default()))
        .collect();
    for row in history {
        let id: String = row.try_get("case_id").map_err(db)?;
        if let Some(p) = parts.get_mut(&id) {
            p.history = read_history_lines(row)?;
        }
    }
    for (id, c) in census {
        if let Some(p) = parts.get_mut(id) {
            p.linked_reports = c.linked;
        }
    }
    Ok(parts)
}

/// Adds to the parts the attachments and (when asked) the newest alarms of the cases whose
/// census says they have some: no statement at all for cases without (most).
pub(crate) async fn more_parts(
    conn: &mut <Db as sqlx::Database>::Connection,
    parts: &mut std::collections::HashMap<String, CaseParts>,
    ids: &[String],
    census: &std::collections::HashMap<String, Census>,
    with_alarms: bool,
) -> Result<(), StoreError> {
    let with = |pick: fn(&Census) -> bool| -> Vec<&String> {
        ids.iter()
            .filter(|id| census.get(*id).is_some_and(pick))
            .collect()
    };
    let attached = with(|c| c.attachments);
    if !attached.is_empty() {
        for meta in crate::hub::attachments_of(&mut *conn, &attached).await? {
            if let Some(p) = meta.case_id.as_ref().and_then(|id| parts.get_mut(id)) {
                p.attachments.push(meta);
            }
        }
    }
    if with_alarms {
        // Few cases have alarms: read each one's newest.
        let system = Scope::system("store: the alarms of a case in scope");
        for id in with(|c| c.alarms) {
            let filter = AlarmFilter {
                case_id: Some(id.clone()),
                any_status: true,
                limit: CASE_PARTS_ALARMS,
                ..AlarmFilter::default()
            };
            let alarms = crate::sensing::alarms(&mut *conn, &system, &filter).await?;
            if let Some(p) = parts.get_mut(id) {
                p.alarms = alarms;
            }
        }
    }
    Ok(())
}

async fn update_case(
    pool: &Pool<Db>,
    scope: &Scope,
    c: &CaseRecord,
    entry: &HistoryEntry,
) -> Result<bool, StoreError> {
    let mut tx = crate::shared::begin_write(pool).await?;
    let l = &c.lifecycle;
    let mut qb = QueryBuilder::<Db>::new("UPDATE cases SET category = ");
    qb.push_bind(c.category.clone());
    qb.push(", org = ")
        .push_bind(l.assignee.clone().unwrap_or_default());
    qb.push(", priority = ").push_bind(c.priority.as_str());
    qb.push(", stage = ").push_bind(l.stage.as_str());
    qb.push(", suspended_from = ")
        .push_bind(l.suspended_from.map(|s| s.as_str()));
    qb.push(", rating = ")
        .push_bind(l.rating.map(|r| r.as_str()));
    qb.push(", resolved = ").push_bind(l.resolved);
    qb.push(", suspended_at = ").push_bind(l.suspended_at);
    qb.push(", reworks = ").push_bind(i64::from(l.reworks));
    qb.push(", redos = ").push_bind(i64::from(l.redos));
    qb.push(", returns = ").push_bind(i64::from(l.returns));
    qb.push(", ext_until = ")
        .push_bind(l.pending_extension.as_ref().map(|p| p.until));
    qb.push(", ext_reason = ")
        .push_bind(l.pending_extension.as_ref().map(|p| p.reason.clone()));
    qb.push(", extensions = ")
        .push_bind(i64::from(l.extensions));
    qb.push(", due_at = ").push_bind(c.due_at);
    qb.push(", explanation = ").push_bind(c.explanation.clone());
    qb.push(", version = ").push_bind(c.version);
    qb.push(", updated_at = ").push_bind(c.updated_at);
    qb.push(", warn_at = ").push_bind(c.supervision.warn_at);
    qb.push(", warned = ").push_bind(c.supervision.warned);
    qb.push(", overdue = ").push_bind(c.supervision.overdue);
    qb.push(", escalated_to = ")
        .push_bind(c.supervision.escalated_to.clone());
    qb.push(" WHERE id = ").push_bind(c.id.clone());
    qb.push(" AND version = ").push_bind(c.version - 1);
    push_scope(&mut qb, scope);
    let changed = qb
        .build()
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    // The line goes after whatever was appended since the caller read the history (a linked
    // report, an alarm's note), which do not change the case's version.
    crate::hub::append_history(&mut tx, &c.id, entry).await?;
    tx.commit().await.map_err(db)?;
    Ok(true)
}

/// Stages whose clock runs.
/// Written as the partial indexes of migration 0022 write it: a query uses such an index only
/// if its own conditions include the index's, term for term.
const RUNNING: &str = "stage NOT IN ('closed', 'rejected', 'suspended')";

async fn next_supervision_at(pool: &Pool<Db>) -> Result<Option<i64>, StoreError> {
    let warn: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MIN(warn_at) FROM cases WHERE NOT warned AND NOT overdue AND {RUNNING}"
    ))
    .fetch_one(pool)
    .await
    .map_err(db)?;
    let due: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT MIN(due_at) FROM cases WHERE NOT overdue AND {RUNNING}"
    ))
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(match (warn, due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

async fn cases_to_supervise(
    pool: &Pool<Db>,
    scope: &Scope,
    now: i64,
    limit: u32,
) -> Result<Vec<CaseRecord>, StoreError> {
    // Each half reads its own partial index (migration 0022): only cases still waiting for a
    // warning, or for their due time, are in them.
    let mut qb = QueryBuilder::new(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id IN (\
         SELECT id FROM cases WHERE NOT warned AND NOT overdue AND {RUNNING} AND warn_at <= "
    ));
    qb.push_bind(now);
    qb.push(format!(
        " UNION ALL SELECT id FROM cases WHERE NOT overdue AND {RUNNING} AND due_at <= "
    ))
    .push_bind(now)
    .push(")");
    push_scope(&mut qb, scope);
    qb.push(" ORDER BY due_at, id LIMIT ")
        .push_bind(i64::from(limit));
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter().map(read_case).collect()
}

/// A notification's recipient from its `recipient_account`, `recipient_org` and
/// `recipient_role` columns.
pub(crate) fn read_recipient(r: &DbRow) -> Result<Recipient, StoreError> {
    let account: Option<String> = r.try_get("recipient_account").map_err(db)?;
    let org: Option<String> = r.try_get("recipient_org").map_err(db)?;
    let role: Option<String> = r.try_get("recipient_role").map_err(db)?;
    match (account, org) {
        (Some(a), _) => Ok(Recipient::Account(a)),
        (None, Some(org)) => Ok(Recipient::Org {
            org,
            role: role.as_deref().and_then(wanxiang_core::Role::parse),
        }),
        (None, None) => Err(StoreError::Corrupt(
            "a notification without recipient".into(),
        )),
    }
}

async fn inbox(
    pool: &Pool<Db>,
    account: &Account,
    limit: u32,
) -> Result<Vec<Notification>, StoreError> {
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT id, at, recipient_account, recipient_org, recipient_role, case_id, kind, message FROM notifications WHERE recipient_account = ",
    );
    qb.push_bind(account.id.clone());
    qb.push(" OR (recipient_org = ")
        .push_bind(account.org.key());
    qb.push(" AND (recipient_role IS NULL");
    for role in &account.roles {
        qb.push(" OR recipient_role = ").push_bind(role.as_str());
    }
    qb.push(")) ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            let recipient = read_recipient(r)?;
            Ok(Notification {
                id: r.try_get("id").map_err(db)?,
                at: r.try_get("at").map_err(db)?,
                recipient,
                case_id: r.try_get("case_id").map_err(db)?,
                kind: r.try_get("kind").map_err(db)?,
                message: r.try_get("message").map_err(db)?,
            })
        })
        .collect()
}

async fn case_stats(
    pool: &Pool<Db>,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<CaseStats, StoreError> {
    // One pass over the period's cases in scope; history facts come from correlated EXISTS.
    // The history's facts live on the case row (see `insert_histories`): one scan of `cases`.
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT COUNT(*) AS intake,
            CAST(COALESCE(SUM(CASE WHEN was_dispatched THEN 1 ELSE 0 END), 0) AS BIGINT) AS dispatched,
            CAST(COALESCE(SUM(CASE WHEN stage = 'closed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS closed,
            CAST(COALESCE(SUM(CASE WHEN stage = 'closed' AND NOT was_overdue THEN 1 ELSE 0 END), 0) AS BIGINT) AS closed_on_time,
            CAST(COALESCE(SUM(CASE WHEN was_handled THEN 1 ELSE 0 END), 0) AS BIGINT) AS handled,
            CAST(COALESCE(SUM(CASE WHEN was_handled AND NOT handled_late THEN 1 ELSE 0 END), 0) AS BIGINT) AS handled_on_time,
            CAST(COALESCE(SUM(CASE WHEN reworks > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS reworked,
            CAST(COALESCE(SUM(CASE WHEN extensions > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS extended,
            CAST(COALESCE(SUM(CASE WHEN overdue AND stage NOT IN ('closed', 'rejected') THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue_open,
            CAST(COALESCE(SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS rated,
            CAST(COALESCE(SUM(CASE WHEN rating IN ('very_satisfied', 'satisfied', 'fairly_satisfied') THEN 1 ELSE 0 END), 0) AS BIGINT) AS satisfied,
            CAST(COALESCE(SUM(CASE WHEN resolved IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS resolution_answered,
            CAST(COALESCE(SUM(CASE WHEN resolved THEN 1 ELSE 0 END), 0) AS BIGINT) AS resolved,
            CAST(COALESCE(SUM(CASE WHEN stage = 'closed' THEN closed_at - created_at ELSE 0 END), 0) AS BIGINT) AS handling_ms_sum
         FROM cases WHERE created_at >= ",
    );
    qb.push_bind(from).push(" AND created_at < ").push_bind(to);
    push_scope(&mut qb, scope);
    let row = qb.build().fetch_one(pool).await.map_err(db)?;
    let n = |c: &str| -> Result<u64, StoreError> {
        Ok(row.try_get::<i64, _>(c).map_err(db)?.max(0) as u64)
    };
    let mut stats = CaseStats {
        intake: n("intake")?,
        dispatched: n("dispatched")?,
        closed: n("closed")?,
        closed_on_time: n("closed_on_time")?,
        handled: n("handled")?,
        handled_on_time: n("handled_on_time")?,
        reworked: n("reworked")?,
        extended: n("extended")?,
        overdue_open: n("overdue_open")?,
        rated: n("rated")?,
        satisfied: n("satisfied")?,
        resolution_answered: n("resolution_answered")?,
        resolved: n("resolved")?,
        handling_ms_p90: None,
        handling_ms_sum: row.try_get::<i64, _>("handling_ms_sum").map_err(db)?,
        by_category: Vec::new(),
        per_day: Vec::new(),
        hotspots: Vec::new(),
        by_channel: Vec::new(),
    };
    // The 90th percentile by nearest rank: the ⌈0.9·n⌉-th smallest handling time.
    if stats.closed > 0 {
        let rank = (stats.closed * 9).div_ceil(10).max(1);
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT closed_at - created_at AS d FROM cases WHERE stage = 'closed' AND created_at >= ",
        );
        qb.push_bind(from).push(" AND created_at < ").push_bind(to);
        push_scope(&mut qb, scope);
        qb.push(" ORDER BY d LIMIT 1 OFFSET ")
            .push_bind(rank as i64 - 1);
        stats.handling_ms_p90 = qb
            .build()
            .fetch_optional(pool)
            .await
            .map_err(db)?
            .map(|r| r.try_get::<Option<i64>, _>("d").map_err(db))
            .transpose()?
            .flatten();
    }
    let mut qb = QueryBuilder::<Db>::new(
        "SELECT COALESCE(category, '') AS category, COUNT(*) AS n FROM cases WHERE created_at >= ",
    );
    qb.push_bind(from).push(" AND created_at < ").push_bind(to);
    push_scope(&mut qb, scope);
    qb.push(" GROUP BY COALESCE(category, '') ORDER BY n DESC, category");
    for r in qb.build().fetch_all(pool).await.map_err(db)? {
        stats.by_category.push((
            r.try_get("category").map_err(db)?,
            r.try_get::<i64, _>("n").map_err(db)? as u64,
        ));
    }
    // Reports per day (China Standard Time) and the grids reported most (hotspots).
    let grouped = |key: &str, order: &str, limit: Option<i64>| {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {key} AS k, COUNT(*) AS n FROM cases WHERE created_at >= "
        ));
        qb.push_bind(from).push(" AND created_at < ").push_bind(to);
        push_scope(&mut qb, scope);
        qb.push(format!(" GROUP BY {key} ORDER BY {order}"));
        if let Some(l) = limit {
            qb.push(" LIMIT ").push_bind(l);
        }
        qb
    };
    let mut qb = grouped(CST_DAY, "k", None);
    for r in qb.build().fetch_all(pool).await.map_err(db)? {
        stats.per_day.push((
            r.try_get("k").map_err(db)?,
            r.try_get::<i64, _>("n").map_err(db)? as u64,
        ));
    }
    let mut qb = grouped("area_code", "n DESC, k", Some(10));
    for r in qb.build().fetch_all(pool).await.map_err(db)? {
        stats.hotspots.push((
            r.try_get("k").map_err(db)?,
            r.try_get::<i64, _>("n").map_err(db)? as u64,
        ));
    }
    let mut qb = grouped("channel", "n DESC, k", None);
    for r in qb.build().fetch_all(pool).await.map_err(db)? {
        stats.by_channel.push((
            r.try_get("k").map_err(db)?,
            r.try_get::<i64, _>("n").map_err(db)? as u64,
        ));
    }
    Ok(stats)
}

async fn case_stats_by_area(
    pool: &sqlx::Pool<Db>,
    scope: &Scope,
    prefix_len: usize,
    from: i64,
    to: i64,
) -> Result<Vec<AreaCounts>, StoreError> {
    // The prefix length is a number chosen by the caller's code, never text from a request.
    let mut qb = QueryBuilder::<Db>::new(format!(
        "SELECT SUBSTR(area_code, 1, {prefix_len}) AS k, COUNT(*) AS intake,
            CAST(COALESCE(SUM(CASE WHEN stage = 'closed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS closed,
            CAST(COALESCE(SUM(CASE WHEN overdue AND stage NOT IN ('closed', 'rejected') THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue_open,
            CAST(COALESCE(SUM(CASE WHEN was_handled THEN 1 ELSE 0 END), 0) AS BIGINT) AS handled,
            CAST(COALESCE(SUM(CASE WHEN was_handled AND NOT handled_late THEN 1 ELSE 0 END), 0) AS BIGINT) AS handled_on_time,
            CAST(COALESCE(SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS rated,
            CAST(COALESCE(SUM(CASE WHEN rating IN ('very_satisfied', 'satisfied', 'fairly_satisfied') THEN 1 ELSE 0 END), 0) AS BIGINT) AS satisfied
         FROM cases WHERE created_at >= ",
    ));
    qb.push_bind(from).push(" AND created_at < ").push_bind(to);
    push_scope(&mut qb, scope);
    qb.push(" GROUP BY k ORDER BY k");
    let rows = qb.build().fetch_all(pool).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            let n = |c: &str| -> Result<u64, StoreError> {
                Ok(r.try_get::<i64, _>(c).map_err(db)?.max(0) as u64)
            };
            Ok(AreaCounts {
                area: r.try_get("k").map_err(db)?,
                intake: n("intake")?,
                closed: n("closed")?,
                overdue_open: n("overdue_open")?,
                handled: n("handled")?,
                handled_on_time: n("handled_on_time")?,
                rated: n("rated")?,
                satisfied: n("satisfied")?,
            })
        })
        .collect()
}

#[async_trait]
impl Store for StoreImpl {
    fn backend(&self) -> Backend {
        BACKEND
    }

    fn services(&self) -> &dyn wanxiang_store::ServiceStore {
        self
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows = sqlx::query(
            &format!("SELECT code, name, level, parent_code, boundary, synthetic FROM units ORDER BY {UNITS_ORDER}"),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_unit).collect()
    }

    async fn unit(&self, code: &UnitCode) -> Result<Option<Unit>, StoreError> {
        let row = sqlx::query(
            "SELECT code, name, level, parent_code, boundary, synthetic FROM units WHERE code = $1",
        )
        .bind(code.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(read_unit).transpose()
    }

    async fn units_revision(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT revision FROM units_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn import_units(&self, units: &[Unit]) -> Result<i64, StoreError> {
        let mut tx = crate::shared::begin_write(self.writer()).await?;
        // Lock the revision row first where the engine can: concurrent imports from two nodes
        // serialize here. (SQLite has one writer at a time anyway.)
        if let Some(lock) = LOCK_UNITS_REVISION {
            sqlx::query(lock).execute(&mut *tx).await.map_err(db)?;
        }
        write_units(&mut tx, units).await?;
        let revision: i64 = sqlx::query_scalar(
            "UPDATE units_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(units = units.len(), revision, "units imported");
        Ok(revision)
    }

    async fn create_department(
        &self,
        scope: &Scope,
        department: &Department,
    ) -> Result<(), StoreError> {
        wanxiang_store::guard::department(scope, department)?;
        create_department(&self.pool, department).await
    }

    async fn departments(&self, scope: &Scope) -> Result<Vec<Department>, StoreError> {
        departments(&self.pool, scope).await
    }

    async fn create_entity(&self, scope: &Scope, entity: &Entity) -> Result<(), StoreError> {
        wanxiang_store::guard::entity(scope, entity)?;
        create_entity(&self.pool, entity).await
    }

    async fn entities(&self, scope: &Scope) -> Result<Vec<Entity>, StoreError> {
        entities(&self.pool, scope, None).await
    }

    async fn entity(&self, scope: &Scope, id: &str) -> Result<Option<Entity>, StoreError> {
        Ok(entities(&self.pool, scope, Some(id)).await?.pop())
    }

    async fn create_account(
        &self,
        scope: &Scope,
        account: &NewAccount,
    ) -> Result<Account, StoreError> {
        wanxiang_store::guard::account(scope, account)?;
        create_account(&self.pool, account).await
    }

    async fn accounts(&self, scope: &Scope) -> Result<Vec<Account>, StoreError> {
        accounts(&self.pool, scope, None).await
    }

    async fn account(&self, scope: &Scope, id: &str) -> Result<Option<Account>, StoreError> {
        Ok(accounts(&self.pool, scope, Some(id)).await?.pop())
    }

    async fn update_account(
        &self,
        scope: &Scope,
        id: &str,
        update: &AccountUpdate,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        update_account(self.writer(), scope, id, update, now).await
    }

    async fn count_demo_passwords(&self) -> Result<u64, StoreError> {
        count_demo_passwords(&self.pool).await
    }

    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        credentials(&self.pool, username).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        create_session(&self.pool, session).await
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionInfo>, StoreError> {
        session(&self.pool, token_hash, now).await
    }

    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        revoke_session(&self.pool, token_hash, now).await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<(), StoreError> {
        create_api_token(&self.pool, token).await
    }

    async fn api_token_account(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        api_token_account(&self.pool, token_hash, now).await
    }

    async fn api_tokens(&self, account_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        api_tokens(&self.pool, account_id).await
    }

    async fn revoke_api_token(
        &self,
        account_id: &str,
        token_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        revoke_api_token(&self.pool, account_id, token_id, now).await
    }

    async fn create_device(&self, scope: &Scope, device: &NewDevice) -> Result<(), StoreError> {
        crate::sensing::create_device(self.writer(), scope, device).await
    }

    async fn create_devices(&self, scope: &Scope, devices: &[NewDevice]) -> Result<(), StoreError> {
        crate::sensing::create_devices(self.writer(), scope, devices).await
    }

    async fn devices(
        &self,
        scope: &Scope,
        filter: &DeviceFilter,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        crate::sensing::devices(&self.pool, scope, filter).await
    }

    async fn device(&self, scope: &Scope, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        crate::sensing::device(&self.pool, scope, id).await
    }

    async fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        crate::sensing::device_by_token(&self.pool, token_hash).await
    }

    async fn device_resumes(
        &self,
        ids: Option<&[String]>,
    ) -> Result<Vec<DeviceResume>, StoreError> {
        crate::sensing::device_resumes(&self.pool, ids).await
    }

    async fn update_device(
        &self,
        scope: &Scope,
        device: &DeviceRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        crate::sensing::update_device(&self.pool, scope, device, now).await
    }

    async fn write_telemetry(&self, batch: &TelemetryBatch) -> Result<u64, StoreError> {
        crate::sensing::write_telemetry(self.writer(), batch).await
    }

    async fn rollups(
        &self,
        device_id: &str,
        key: &str,
        width: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<Rollup>, StoreError> {
        crate::sensing::rollups(&self.pool, device_id, key, width, from, to).await
    }

    async fn purge_readings(&self, device_ids: &[String], before: i64) -> Result<u64, StoreError> {
        crate::sensing::purge_readings(self.writer(), device_ids, before).await
    }

    async fn maintain_readings(
        &self,
        from: i64,
        to: i64,
        drop_before: Option<i64>,
    ) -> Result<(u32, u32), StoreError> {
        crate::sensing::maintain_readings(self.writer(), from, to, drop_before).await
    }

    async fn purge_rollups(
        &self,
        device_ids: &[String],
        width: i64,
        before: i64,
    ) -> Result<u64, StoreError> {
        crate::sensing::purge_rollups(self.writer(), device_ids, width, before).await
    }

    async fn readings(
        &self,
        device_id: &str,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        crate::sensing::readings(&self.pool, device_id, from, to, limit).await
    }

    async fn latest_readings(
        &self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        crate::sensing::latest_readings(&self.pool, device_id, limit).await
    }

    async fn alarms(
        &self,
        scope: &Scope,
        filter: &AlarmFilter,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        crate::sensing::alarms(&self.pool, scope, filter).await
    }

    async fn alarm(&self, scope: &Scope, id: &str) -> Result<Option<AlarmRecord>, StoreError> {
        crate::sensing::alarm(&self.pool, scope, id).await
    }

    async fn alarm_history(&self, alarm_id: &str) -> Result<Vec<AlarmEvent>, StoreError> {
        crate::sensing::alarm_history(&self.pool, alarm_id).await
    }

    async fn open_alarms(
        &self,
        devices: Option<&[String]>,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        crate::sensing::open_alarms(&self.pool, devices).await
    }

    async fn write_alarms(&self, writes: &[AlarmWrite]) -> Result<(), StoreError> {
        crate::sensing::write_alarms(self.writer(), writes).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        append_audit(&self.pool, entry).await
    }

    async fn audit(
        &self,
        scope: &Scope,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        audit(&self.pool, scope, limit, before).await
    }

    async fn cases(
        &self,
        scope: &Scope,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        cases(&self.pool, scope, filter, None).await
    }

    async fn case(&self, scope: &Scope, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        Ok(cases(&self.pool, scope, &CaseFilter::default(), Some(id))
            .await?
            .pop())
    }

    async fn case_history(&self, scope: &Scope, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        case_history(&self.pool, scope, id).await
    }

    async fn case_parts(
        &self,
        scope: &Scope,
        id: &str,
        alarms: bool,
    ) -> Result<Option<CaseParts>, StoreError> {
        case_parts(&self.pool, scope, id, alarms).await
    }

    async fn update_case(
        &self,
        scope: &Scope,
        case: &CaseRecord,
        entry: &HistoryEntry,
    ) -> Result<bool, StoreError> {
        update_case(self.writer(), scope, case, entry).await
    }

    async fn mark_supervised(
        &self,
        scope: &Scope,
        marks: &[wanxiang_store::SupervisionMark],
        outbox: bool,
    ) -> Result<Vec<bool>, StoreError> {
        crate::hub::mark_supervised(self.writer(), scope, marks, outbox).await
    }

    async fn next_supervision_at(&self) -> Result<Option<i64>, StoreError> {
        next_supervision_at(&self.pool).await
    }

    async fn cases_to_supervise(
        &self,
        scope: &Scope,
        now: i64,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        cases_to_supervise(&self.pool, scope, now, limit).await
    }

    async fn create_cases(
        &self,
        batch: &[NewCase],
        outbox: bool,
    ) -> Result<Vec<CaseCreated>, StoreError> {
        crate::hub::create_cases(self.writer(), batch, outbox).await
    }

    async fn cases_near_any(&self, boxes: &[NearQuery]) -> Result<Vec<CaseMark>, StoreError> {
        crate::hub::cases_near_any(&self.pool, boxes).await
    }

    async fn case_marks(
        &self,
        since: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<CaseMark>, StoreError> {
        crate::hub::case_marks(&self.pool, since, until, limit).await
    }

    async fn write_intake(
        &self,
        batch: &[IntakeWrite],
        outbox: bool,
    ) -> Result<wanxiang_store::IntakeWritten, StoreError> {
        crate::hub::write_intake(self.writer(), &self.intake, batch, outbox).await
    }

    async fn daily_counts(
        &self,
        scope: &Scope,
        category: &str,
        end: i64,
        days: u32,
    ) -> Result<Vec<u64>, StoreError> {
        crate::hub::daily_counts(&self.pool, scope, category, end, days).await
    }

    async fn overdue_backlog(
        &self,
        scope: &Scope,
        first: u32,
    ) -> Result<Vec<wanxiang_store::OverdueGroup>, StoreError> {
        crate::hub::overdue_backlog(&self.pool, scope, first).await
    }

    async fn case_reports(
        &self,
        scope: &Scope,
        case_id: &str,
    ) -> Result<Vec<LinkedReport>, StoreError> {
        if cases(&self.pool, scope, &CaseFilter::default(), Some(case_id))
            .await?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        crate::hub::case_reports(&self.pool, case_id).await
    }

    async fn unlink_report(
        &self,
        scope: &Scope,
        report_id: &str,
        primary: &CaseRecord,
        entry: &HistoryEntry,
        split: &NewCase,
        outbox: bool,
    ) -> Result<bool, StoreError> {
        crate::hub::unlink_report(
            self.writer(),
            scope,
            report_id,
            primary,
            entry,
            split,
            outbox,
        )
        .await
    }

    async fn case_followers(&self, case_id: &str) -> Result<Vec<String>, StoreError> {
        crate::hub::case_followers(&self.pool, case_id).await
    }

    async fn put_attachment(&self, attachment: &Attachment) -> Result<(), StoreError> {
        crate::hub::put_attachment(&self.pool, attachment).await
    }

    async fn attachment_meta(&self, id: &str) -> Result<Option<AttachmentMeta>, StoreError> {
        Ok(crate::hub::attachment(&self.pool, id, false)
            .await?
            .map(|a| a.meta))
    }

    async fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        crate::hub::attachment(&self.pool, id, true).await
    }

    async fn case_attachments(&self, case_id: &str) -> Result<Vec<AttachmentMeta>, StoreError> {
        crate::hub::attachments_of(&self.pool, &[case_id]).await
    }

    async fn attach(
        &self,
        ids: &[String],
        owner: &str,
        case_id: &str,
        seq: i64,
    ) -> Result<u64, StoreError> {
        crate::hub::attach(self.writer(), ids, owner, case_id, seq).await
    }

    async fn purge_loose_attachments(&self, before: i64) -> Result<u64, StoreError> {
        crate::hub::purge_loose_attachments(&self.pool, before).await
    }

    async fn upsert_warnings(
        &self,
        warnings: &[WarningRecord],
        outbox: bool,
    ) -> Result<Vec<(WarningRecord, WarningChange)>, StoreError> {
        crate::hub::upsert_warnings(self.writer(), warnings, outbox).await
    }

    async fn warnings(
        &self,
        scope: &Scope,
        active_only: bool,
        limit: u32,
    ) -> Result<Vec<WarningRecord>, StoreError> {
        crate::hub::warnings(&self.pool, scope, active_only, None, limit).await
    }

    async fn warning(&self, scope: &Scope, id: &str) -> Result<Option<WarningRecord>, StoreError> {
        Ok(crate::hub::warnings(&self.pool, scope, false, Some(id), 1)
            .await?
            .pop())
    }

    async fn update_warning(
        &self,
        scope: &Scope,
        id: &str,
        status: WarningStatus,
        case_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        crate::hub::update_warning(&self.pool, scope, id, status, case_id, now).await
    }

    async fn notify(&self, notifications: &[Notification], outbox: bool) -> Result<(), StoreError> {
        crate::hub::notify(self.writer(), notifications, outbox).await
    }

    fn records_changes(&self) -> bool {
        crate::CHANGE_OUTBOX
    }

    async fn claim_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<wanxiang_store::UnsentChange>, StoreError> {
        crate::hub::claim_changes(self.writer(), now, lease_until, limit).await
    }

    async fn forget_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError> {
        crate::hub::forget_changes(self.writer(), sent).await
    }

    async fn claim_alarm_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<wanxiang_store::UnsentAlarm>, StoreError> {
        crate::hub::claim_alarm_changes(self.writer(), now, lease_until, limit).await
    }

    async fn forget_alarm_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError> {
        crate::hub::forget_alarm_changes(self.writer(), sent).await
    }

    async fn deliveries_due(&self, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        crate::hub::deliveries_due(&self.pool, now, limit).await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        crate::hub::claim_deliveries(self.writer(), now, lease_until, limit).await
    }

    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        crate::hub::next_delivery_at(&self.pool).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::hub::record_delivery(&self.pool, id, outcome, now).await
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        crate::hub::deliveries(&self.pool, status, limit).await
    }

    async fn retry_delivery(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        crate::hub::retry_delivery(&self.pool, id, now).await
    }

    async fn inbox(&self, account: &Account, limit: u32) -> Result<Vec<Notification>, StoreError> {
        inbox(&self.pool, account, limit).await
    }

    async fn case_stats(&self, scope: &Scope, from: i64, to: i64) -> Result<CaseStats, StoreError> {
        case_stats(&self.pool, scope, from, to).await
    }

    async fn case_stats_by_area(
        &self,
        scope: &Scope,
        prefix_len: usize,
        from: i64,
        to: i64,
    ) -> Result<Vec<AreaCounts>, StoreError> {
        case_stats_by_area(&self.pool, scope, prefix_len, from, to).await
    }
}
