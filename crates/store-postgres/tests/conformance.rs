//! The storage conformance suite, run against PostgreSQL: each test in a private schema of the
//! database named by `WANXIANG_TEST_DATABASE_URL` (default: the local `test` database).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use wanxiang_store::conformance::Harness;
use wanxiang_store::{Store, StoreError};
use wanxiang_store_postgres::PgStore;

fn base_url() -> String {
    std::env::var("WANXIANG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

struct PgHarness {
    /// The options with `search_path` set to this test's own schema.
    options: PgConnectOptions,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

async fn harness() -> PgHarness {
    let schema = format!(
        "wx_conf_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let base: PgConnectOptions = base_url().parse().unwrap();
    let admin = sqlx::PgPool::connect_with(base.clone())
        .await
        .expect("PostgreSQL must be running for these tests (.ci/run starts it)");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    PgHarness {
        options: base.options([("search_path", schema.as_str())]),
    }
}

#[async_trait]
impl Harness for PgHarness {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(PgStore::connect_with(self.options.clone()).await?))
    }

    async fn pretend_newer_schema(&self) {
        let store = PgStore::connect_with(self.options.clone()).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }

    async fn tamper_with_audit(&self) -> (Result<(), String>, Result<(), String>) {
        let store = PgStore::connect_with(self.options.clone()).await.unwrap();
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
