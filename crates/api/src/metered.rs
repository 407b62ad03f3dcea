//! A [`Store`] wrapper that times every call, so `/metrics` shows store latency per operation.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use wanxiang_core::{Unit, UnitCode};
use wanxiang_store::{Backend, Store, StoreError};

/// Times the calls of the store it wraps.
pub struct MeteredStore {
    /// The real store.
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn Store>) -> MeteredStore {
        MeteredStore { inner }
    }
}

async fn timed<T>(
    op: &'static str,
    backend: Backend,
    f: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let result = f.await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::histogram!("wanxiang_store_query_seconds", "op" => op, "backend" => backend.as_str(), "outcome" => outcome)
        .record(start.elapsed().as_secs_f64());
    result
}

#[async_trait]
impl Store for MeteredStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed("ping", self.backend(), self.inner.ping()).await
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        timed(
            "schema_version",
            self.backend(),
            self.inner.schema_version(),
        )
        .await
    }

    async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        timed("units", self.backend(), self.inner.units()).await
    }

    async fn unit(&self, code: &UnitCode) -> Result<Option<Unit>, StoreError> {
        timed("unit", self.backend(), self.inner.unit(code)).await
    }

    async fn units_revision(&self) -> Result<i64, StoreError> {
        timed(
            "units_revision",
            self.backend(),
            self.inner.units_revision(),
        )
        .await
    }

    async fn import_units(&self, units: &[Unit]) -> Result<i64, StoreError> {
        timed(
            "import_units",
            self.backend(),
            self.inner.import_units(units),
        )
        .await
    }
}
