//! The embedded default store: one SQLite file, WAL mode, migrations at open.
//!
//! Architecture invariant: this crate knows SQLite and the [`Store`] trait, nothing above them. It
//! is what `wanxiang serve` uses when no database URL is given, so it must never need a service.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use wanxiang_core::{Account, AuditEntry, Department, Entity, NewAccount, Scope, Unit, UnitCode};
use wanxiang_store::codec::{self, UnitRow};
use wanxiang_store::{
    AccountUpdate, ApiToken, Backend, NewApiToken, NewSession, SessionInfo, Store, StoreError,
};

mod accounts;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connection pool; SQLite serializes writers, WAL lets readers run beside them.
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://` URL or plain path and migrates it.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only a power loss can
            // lose the last transactions, which is the usual trade for an embedded store.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for tests that need to reach under the trait.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Runs the migrations, refusing a database that a newer binary migrated.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(migrate_error)
}

fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            known: known_version(),
        },
        other => StoreError::Migration(other.to_string()),
    }
}

fn known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Database(other.to_string()),
    }
}

fn read_unit(row: &sqlx::sqlite::SqliteRow) -> Result<Unit, StoreError> {
    codec::decode(UnitRow {
        code: row.try_get("code").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        level: row.try_get("level").map_err(db)?,
        parent_code: row.try_get("parent_code").map_err(db)?,
        boundary: row.try_get("boundary").map_err(db)?,
        synthetic: row.try_get("synthetic").map_err(db)?,
    })
}

async fn write_units(tx: &mut Transaction<'_, Sqlite>, units: &[Unit]) -> Result<(), StoreError> {
    for unit in codec::parents_first(units) {
        let row = codec::encode(unit);
        if let Some(parent) = &row.parent_code {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM units WHERE code = ?")
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
            "INSERT INTO units (code, name, level, parent_code, boundary, synthetic) VALUES (?, ?, ?, ?, ?, ?)
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

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
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
            "SELECT code, name, level, parent_code, boundary, synthetic FROM units ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(read_unit).collect()
    }

    async fn unit(&self, code: &UnitCode) -> Result<Option<Unit>, StoreError> {
        let row = sqlx::query(
            "SELECT code, name, level, parent_code, boundary, synthetic FROM units WHERE code = ?",
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
        let mut tx = self.pool.begin().await.map_err(db)?;
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
        accounts::create_department(&self.pool, department).await
    }

    async fn departments(&self, scope: &Scope) -> Result<Vec<Department>, StoreError> {
        accounts::departments(&self.pool, scope).await
    }

    async fn create_entity(&self, scope: &Scope, entity: &Entity) -> Result<(), StoreError> {
        wanxiang_store::guard::entity(scope, entity)?;
        accounts::create_entity(&self.pool, entity).await
    }

    async fn entities(&self, scope: &Scope) -> Result<Vec<Entity>, StoreError> {
        accounts::entities(&self.pool, scope, None).await
    }

    async fn entity(&self, scope: &Scope, id: &str) -> Result<Option<Entity>, StoreError> {
        Ok(accounts::entities(&self.pool, scope, Some(id)).await?.pop())
    }

    async fn create_account(
        &self,
        scope: &Scope,
        account: &NewAccount,
    ) -> Result<Account, StoreError> {
        wanxiang_store::guard::account(scope, account)?;
        accounts::create_account(&self.pool, account).await
    }

    async fn accounts(&self, scope: &Scope) -> Result<Vec<Account>, StoreError> {
        accounts::accounts(&self.pool, scope, None).await
    }

    async fn account(&self, scope: &Scope, id: &str) -> Result<Option<Account>, StoreError> {
        Ok(accounts::accounts(&self.pool, scope, Some(id)).await?.pop())
    }

    async fn update_account(
        &self,
        scope: &Scope,
        id: &str,
        update: &AccountUpdate,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        accounts::update_account(&self.pool, scope, id, update, now).await
    }

    async fn count_demo_passwords(&self) -> Result<u64, StoreError> {
        accounts::count_demo_passwords(&self.pool).await
    }

    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        accounts::credentials(&self.pool, username).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        accounts::create_session(&self.pool, session).await
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionInfo>, StoreError> {
        accounts::session(&self.pool, token_hash, now).await
    }

    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        accounts::revoke_session(&self.pool, token_hash, now).await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<(), StoreError> {
        accounts::create_api_token(&self.pool, token).await
    }

    async fn api_token_account(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        accounts::api_token_account(&self.pool, token_hash, now).await
    }

    async fn api_tokens(&self, account_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        accounts::api_tokens(&self.pool, account_id).await
    }

    async fn revoke_api_token(
        &self,
        account_id: &str,
        token_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        accounts::revoke_api_token(&self.pool, account_id, token_id, now).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        accounts::append_audit(&self.pool, entry).await
    }

    async fn audit(
        &self,
        scope: &Scope,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        accounts::audit(&self.pool, scope, limit, before).await
    }
}
