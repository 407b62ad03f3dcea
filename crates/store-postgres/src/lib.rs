//! The PostgreSQL store: the production backend, shared by every node of a cluster.
//!
//! Architecture invariant: this crate knows PostgreSQL and the [`wanxiang_store::Store`] trait, nothing above them.
//! PostGIS is never required: boundaries are GeoJSON text and point lookup happens in memory.

use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use wanxiang_store::{Backend, StoreError};

/// The sqlx database the shared SQL runs on.
pub(crate) type Db = sqlx::Postgres;
/// A row of it.
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// The store type the shared SQL implements [`wanxiang_store::Store`] for.
pub(crate) type StoreImpl = PgStore;
/// Reported by [`wanxiang_store::Store::backend`].
const BACKEND: Backend = Backend::Postgres;
/// Byte order, whatever the database's collation.
/// A case's report day in China Standard Time, as `YYYY-MM-DD`: PostgreSQL's to_char over the instant shifted to UTC+8.
const CST_DAY: &str =
    "to_char(to_timestamp((created_at + 28800000) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
const UNITS_ORDER: &str = "code COLLATE \"C\"";
/// Concurrent imports from several nodes serialize on this row lock.
/// PostgreSQL's row locks serialize writers where needed; a plain transaction suffices.
const BEGIN_WRITE: &str = "BEGIN";
/// PostgreSQL has row locks and many writers: no process-wide write lock.
const WRITE_LOCK: Option<&tokio::sync::Mutex<()>> = None;
/// Raw readings are partitioned by day (migration 0009).
const READINGS_PARTITIONED: bool = true;
/// Every history line also goes into the change outbox (migration 0012): several nodes share this
/// database, and a node may die between its commit and its publish.
const CHANGE_OUTBOX: bool = true;
/// PostgreSQL's extended protocol prepares one statement at a time: a `Script`'s statements
/// run one after another.
const SCRIPT_IN_ONE_QUERY: bool = false;
/// A unit's area as `LIKE 'prefix%'` (PostgreSQL plans it once; a range would depend on the
/// database's collation).
const AREA_PREFIX_RANGE: bool = false;
/// A case's history lines as one JSON array of arrays, in order (see the SQLite backend's).
const HISTORY_AGG: &str = "json_agg(json_build_array(seq, at, actor_id, actor_name, from_stage, to_stage, command, note) ORDER BY seq)";
/// Claims skip rows another node's transaction holds.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
/// Rows read to be checked and changed in the same transaction are locked first.
const FOR_UPDATE: &str = " FOR UPDATE";
const LOCK_UNITS_REVISION: Option<&str> =
    Some("SELECT revision FROM units_revision WHERE id = 1 FOR UPDATE");

#[path = "../../store/sql/hub.rs"]
mod hub;
#[path = "../../store/sql/sensing.rs"]
mod sensing;
#[path = "../../store/sql/services.rs"]
mod services;
#[path = "../../store/sql/shared.rs"]
mod shared;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// The connection pool shared by all requests of this node.
    pool: PgPool,
    /// The intake writer's connection (see `shared::IntakeConn`).
    intake: shared::IntakeConn,
}

impl PgStore {
    /// Connects to a `postgres://` URL and migrates the database. Migrations take PostgreSQL's
    /// advisory lock, so several nodes starting at once migrate exactly once.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        PgStore::connect_with(options).await
    }

    /// Connects with explicit options (tests use them to pick a private schema).
    pub async fn connect_with(options: PgConnectOptions) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        Ok(PgStore {
            pool,
            intake: Default::default(),
        })
    }

    /// The pool, for tests that need to reach under the trait.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool write transactions use: the same one (PostgreSQL has many writers).
    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }
}

fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            known: MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0),
        },
        other => StoreError::Migration(other.to_string()),
    }
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Database(other.to_string()),
    }
}
