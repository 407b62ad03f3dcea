//! The storage conformance suite, run against SQLite files in a temporary directory.

use std::sync::Arc;

use async_trait::async_trait;
use wanxiang_store::conformance::Harness;
use wanxiang_store::{Store, StoreError};
use wanxiang_store_sqlite::SqliteStore;

struct SqliteHarness {
    /// Kept so the directory lives as long as the test.
    _dir: tempfile::TempDir,
    url: String,
}

async fn harness() -> SqliteHarness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("wanxiang.db").display());
    SqliteHarness { _dir: dir, url }
}

#[async_trait]
impl Harness for SqliteHarness {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(SqliteStore::open(&self.url).await?))
    }

    async fn pretend_newer_schema(&self) {
        let store = SqliteStore::open(&self.url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99990101000000, 'from the future', TRUE, X'00', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }

    async fn tamper_with_audit(&self) -> (Result<(), String>, Result<(), String>) {
        let store = SqliteStore::open(&self.url).await.unwrap();
        let update = sqlx::query("UPDATE audit_log SET detail = 'changed'")
            .execute(store.pool())
            .await;
        let delete = sqlx::query("DELETE FROM audit_log")
            .execute(store.pool())
            .await;
        (
            update.map(|_| ()).map_err(|e| e.to_string()),
            delete.map(|_| ()).map_err(|e| e.to_string()),
        )
    }
}

wanxiang_store::conformance_suite!(harness());
