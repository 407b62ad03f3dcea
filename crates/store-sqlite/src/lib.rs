//! The embedded default store: one SQLite file, WAL mode, migrations at open.
//!
//! Architecture invariant: this crate knows SQLite and the [`wanxiang_store::Store`] trait, nothing above them. It
//! is what `wanxiang serve` uses when no database URL is given, so it must never need a service.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use wanxiang_store::{Backend, StoreError};

/// The sqlx database the shared SQL runs on.
pub(crate) type Db = sqlx::Sqlite;
/// A row of it.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// The store type the shared SQL implements [`wanxiang_store::Store`] for.
pub(crate) type StoreImpl = SqliteStore;
/// Reported by [`wanxiang_store::Store::backend`].
const BACKEND: Backend = Backend::Sqlite;
/// Codes are ASCII digits; SQLite compares text bytewise.
/// A case's report day in China Standard Time, as `YYYY-MM-DD`: SQLite's date() over Unix seconds shifted to UTC+8.
const CST_DAY: &str = "date((created_at + 28800000) / 1000, 'unixepoch')";
const UNITS_ORDER: &str = "code";
/// SQLite has a single writer; there is no row lock to take.
const LOCK_UNITS_REVISION: Option<&str> = None;
/// One readings table (SQLite has no partitions); retention deletes rows.
const READINGS_PARTITIONED: bool = false;
/// One process owns a SQLite database: its changes reach its streams directly, no outbox.
const CHANGE_OUTBOX: bool = false;
/// One writer at a time: nothing to skip.
const SKIP_LOCKED: &str = "";
/// The write transaction already holds the whole file.
const FOR_UPDATE: &str = "";
/// Write transactions take SQLite's write lock at once: a deferred one that reads first and
/// writes later fails (SQLITE_BUSY_SNAPSHOT) whenever another writer committed in between, and
/// waiting (busy_timeout) cannot help it.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// One writer at a time, queued in the process rather than in SQLite's busy handler (see
/// `WriteTx` in `store/sql/shared.rs`).
static SQLITE_WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const WRITE_LOCK: Option<&tokio::sync::Mutex<()>> = Some(&SQLITE_WRITES);

#[path = "../../store/sql/hub.rs"]
mod hub;
#[path = "../../store/sql/sensing.rs"]
mod sensing;
#[path = "../../store/sql/services.rs"]
mod services;
#[path = "../../store/sql/shared.rs"]
mod shared;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The connection pool for reads; WAL lets readers run beside the writer.
    pool: SqlitePool,
    /// One connection that every write transaction uses. SQLite has one writer anyway, and a
    /// commit by another connection makes a connection drop its whole page cache: writes
    /// spread over the pool re-read their pages from the file each time, where one writer
    /// keeps its cache warm (the difference grows with the tables: many devices, many cases).
    writer: SqlitePool,
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
            // No memory-mapped reads: with a file that grows under a stream of commits, the
            // read connections kept remapping it (page faults, unmaps, TLB shootdowns), which
            // cost intake about 8% more CPU per report than reading pages into each
            // connection's cache (BENCHMARKS.md, issue 4, session 8).
            .pragma("mmap_size", "0")
            .pragma("cache_size", "-16000")
            // Checkpoint the WAL into the database every 64 MB rather than SQLite's 4 MB: a page
            // rewritten by many commits in between (a rollup's current bucket, a busy index
            // page) is copied back once, and big telemetry commits do not each end in a
            // checkpoint and its fsync.
            .pragma("wal_autocheckpoint", "16384")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            // Kept open: its page cache is the point.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore { pool, writer })
    }

    /// The pool write transactions use.
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
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
