//! The embedded default store: one SQLite file, WAL mode, migrations at open.
//!
//! Architecture invariant: this crate knows SQLite and the [`wanxiang_store::Store`] trait, nothing above them. It
//! is what `wanxiang serve` uses when no database URL is given, so it must never need a service.

use std::str::FromStr;
use std::sync::{Arc, Weak};
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
/// sqlx's SQLite driver runs a query of several statements (binding their parameters in
/// order), on the connection's own thread: a `Script` is one round trip there, not one per
/// statement (each is a hand-off between threads, which was most of the intake writer's
/// time; issue 4).
const SCRIPT_IN_ONE_QUERY: bool = true;
/// A unit's area as a range of codes, not `LIKE 'prefix%'`: SQLite prepares a statement again
/// every time a pattern it could use an index for is bound (its LIKE optimisation depends on
/// the value), which was a sixth of the read connections' time under intake load.
const AREA_PREFIX_RANGE: bool = true;
/// A case's history lines as one JSON array of arrays (`HISTORY_COLUMNS` less the case id), in
/// order: the parts of a case, the answer to every linked report, come as one row per case
/// instead of one per line; each row is copied out of SQLite and handed between threads on its
/// own, which was a fifth of the intake writer's time once cases had a dozen lines (issue 4).
const HISTORY_AGG: &str = "json_group_array(json_array(seq, at, actor_id, actor_name, from_stage, to_stage, command, note) ORDER BY seq)";
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
    /// The intake writer, the busiest, keeps a connection of its own out of this pool
    /// (`intake`): the ping each return to the pool costs was a round trip per batch. The two
    /// then drop each other's cache on commit, which only the other writes pay for (supervision
    /// and telemetry, far fewer transactions than intake's under load).
    writer: SqlitePool,
    /// The intake writer's connection (see `shared::IntakeConn`).
    intake: shared::IntakeConn,
    /// Held while any clone of the store lives: the checkpoint task stops when it is gone.
    _alive: Arc<()>,
}

/// How often the WAL is checkpointed. Each checkpoint copies back what was committed since the
/// last, so the WAL stays small (readers look pages up in it) and no commit waits for it.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the WAL back into the database every [`CHECKPOINT_EVERY`], from a read connection,
/// without blocking the writer or the readers (a passive checkpoint copies what no reader still
/// needs and leaves the rest for the next), until the store is dropped.
async fn checkpoints(pool: SqlitePool, alive: Weak<()>) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.strong_count() == 0 {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
        }
    }
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
            // Statement journals (what a multi-row statement rolls back to if it fails midway)
            // and sorts in memory, not in temporary files: the intake writer created, wrote and
            // deleted such a file for its multi-row inserts, a fifth of its time (issue 4).
            .pragma("temp_store", "memory")
            // The WAL is copied back into the database by a task of its own (`checkpoints`),
            // off the writer's path: a commit that ran the checkpoint itself (and its fsyncs)
            // stalled every report waiting behind it, which was most of intake's p99 (issue 4).
            // The writer checkpoints by itself only past 256 MB, should that task fall behind.
            .pragma("wal_autocheckpoint", "65536")
            .busy_timeout(Duration::from_secs(10));
        // A connection to a local file does not go away: no ping before each use (a ping is a
        // round trip to the connection's thread, as many as the queries themselves on the
        // intake's hot path).
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .min_connections(1)
            .max_connections(1)
            // Kept open: its page cache is the point.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let alive = Arc::new(());
        tokio::spawn(checkpoints(pool.clone(), Arc::downgrade(&alive)));
        Ok(SqliteStore {
            pool,
            writer,
            intake: Default::default(),
            _alive: alive,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use wanxiang_store::NearQuery;

    /// The duplicate search's wide box for machines' cases goes through their partial index
    /// (`cases_machine_near`), the narrow one through the index of every case: if the query's
    /// condition and the index's drifted apart, SQLite would scan the category's whole band.
    #[tokio::test]
    async fn the_machines_box_goes_through_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("wanxiang.db").display().to_string())
            .await
            .unwrap();
        let square = |half: f64, machines_only: bool| NearQuery {
            lon_min: 114.1 - half,
            lon_max: 114.1 + half,
            lat_min: 22.55 - half,
            lat_max: 22.55 + half,
            since: 0,
            until: None,
            category: Some("E0404".into()),
            open_only: true,
            machines_only,
            limit: 200,
        };
        let qb = hub::near_query(&[square(0.0005, false), square(0.001, true)]);
        // Unbound parameters are NULL: enough for the plan.
        let plan: Vec<String> = sqlx::raw_sql(&format!("EXPLAIN QUERY PLAN {}", qb.sql()))
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, "detail"))
            .collect();
        let uses = |index: &str| plan.iter().any(|d| d.contains(&format!("INDEX {index} ")));
        assert!(uses("cases_machine_near"), "{plan:?}");
        assert!(uses("cases_category_lon_lat"), "{plan:?}");
    }
}
