//! A [`Store`] wrapper that times every call, so `/metrics` shows store latency per operation.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use wanxiang_core::case::{CaseRecord, HistoryEntry};
use wanxiang_core::inbox::Notification;
use wanxiang_core::{Account, AuditEntry, Department, Entity, NewAccount, Scope, Unit, UnitCode};
use wanxiang_store::{
    AccountUpdate, ApiToken, Backend, CaseCreated, CaseFilter, CaseStats, NewApiToken, NewSession,
    SessionInfo, Store, StoreError,
};

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

    async fn create_department(
        &self,
        scope: &Scope,
        department: &Department,
    ) -> Result<(), StoreError> {
        timed(
            "create_department",
            self.backend(),
            self.inner.create_department(scope, department),
        )
        .await
    }

    async fn departments(&self, scope: &Scope) -> Result<Vec<Department>, StoreError> {
        timed("departments", self.backend(), self.inner.departments(scope)).await
    }

    async fn create_entity(&self, scope: &Scope, entity: &Entity) -> Result<(), StoreError> {
        timed(
            "create_entity",
            self.backend(),
            self.inner.create_entity(scope, entity),
        )
        .await
    }

    async fn entities(&self, scope: &Scope) -> Result<Vec<Entity>, StoreError> {
        timed("entities", self.backend(), self.inner.entities(scope)).await
    }

    async fn entity(&self, scope: &Scope, id: &str) -> Result<Option<Entity>, StoreError> {
        timed("entity", self.backend(), self.inner.entity(scope, id)).await
    }

    async fn create_account(
        &self,
        scope: &Scope,
        account: &NewAccount,
    ) -> Result<Account, StoreError> {
        timed(
            "create_account",
            self.backend(),
            self.inner.create_account(scope, account),
        )
        .await
    }

    async fn accounts(&self, scope: &Scope) -> Result<Vec<Account>, StoreError> {
        timed("accounts", self.backend(), self.inner.accounts(scope)).await
    }

    async fn account(&self, scope: &Scope, id: &str) -> Result<Option<Account>, StoreError> {
        timed("account", self.backend(), self.inner.account(scope, id)).await
    }

    async fn update_account(
        &self,
        scope: &Scope,
        id: &str,
        update: &AccountUpdate,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        timed(
            "update_account",
            self.backend(),
            self.inner.update_account(scope, id, update, now),
        )
        .await
    }

    async fn count_demo_passwords(&self) -> Result<u64, StoreError> {
        timed(
            "count_demo_passwords",
            self.backend(),
            self.inner.count_demo_passwords(),
        )
        .await
    }

    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError> {
        timed(
            "credentials",
            self.backend(),
            self.inner.credentials(username),
        )
        .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        timed(
            "create_session",
            self.backend(),
            self.inner.create_session(session),
        )
        .await
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionInfo>, StoreError> {
        timed(
            "session",
            self.backend(),
            self.inner.session(token_hash, now),
        )
        .await
    }

    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<bool, StoreError> {
        timed(
            "revoke_session",
            self.backend(),
            self.inner.revoke_session(token_hash, now),
        )
        .await
    }

    async fn create_api_token(&self, token: &NewApiToken) -> Result<(), StoreError> {
        timed(
            "create_api_token",
            self.backend(),
            self.inner.create_api_token(token),
        )
        .await
    }

    async fn api_token_account(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError> {
        timed(
            "api_token_account",
            self.backend(),
            self.inner.api_token_account(token_hash, now),
        )
        .await
    }

    async fn api_tokens(&self, account_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        timed(
            "api_tokens",
            self.backend(),
            self.inner.api_tokens(account_id),
        )
        .await
    }

    async fn revoke_api_token(
        &self,
        account_id: &str,
        token_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        timed(
            "revoke_api_token",
            self.backend(),
            self.inner.revoke_api_token(account_id, token_id, now),
        )
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        timed(
            "append_audit",
            self.backend(),
            self.inner.append_audit(entry),
        )
        .await
    }

    async fn audit(
        &self,
        scope: &Scope,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError> {
        timed(
            "audit",
            self.backend(),
            self.inner.audit(scope, limit, before),
        )
        .await
    }

    async fn create_case(
        &self,
        case: &CaseRecord,
        history: &[HistoryEntry],
    ) -> Result<CaseCreated, StoreError> {
        timed(
            "create_case",
            self.backend(),
            self.inner.create_case(case, history),
        )
        .await
    }

    async fn cases(
        &self,
        scope: &Scope,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        timed("cases", self.backend(), self.inner.cases(scope, filter)).await
    }

    async fn case(&self, scope: &Scope, id: &str) -> Result<Option<CaseRecord>, StoreError> {
        timed("case", self.backend(), self.inner.case(scope, id)).await
    }

    async fn case_history(&self, scope: &Scope, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        timed(
            "case_history",
            self.backend(),
            self.inner.case_history(scope, id),
        )
        .await
    }

    async fn update_case(
        &self,
        scope: &Scope,
        case: &CaseRecord,
        entry: &HistoryEntry,
    ) -> Result<bool, StoreError> {
        timed(
            "update_case",
            self.backend(),
            self.inner.update_case(scope, case, entry),
        )
        .await
    }

    async fn next_supervision_at(&self) -> Result<Option<i64>, StoreError> {
        timed(
            "next_supervision_at",
            self.backend(),
            self.inner.next_supervision_at(),
        )
        .await
    }

    async fn cases_to_supervise(
        &self,
        scope: &Scope,
        now: i64,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        timed(
            "cases_to_supervise",
            self.backend(),
            self.inner.cases_to_supervise(scope, now, limit),
        )
        .await
    }

    async fn notify(&self, notification: &Notification) -> Result<(), StoreError> {
        timed("notify", self.backend(), self.inner.notify(notification)).await
    }

    async fn inbox(&self, account: &Account, limit: u32) -> Result<Vec<Notification>, StoreError> {
        timed("inbox", self.backend(), self.inner.inbox(account, limit)).await
    }

    async fn case_stats(&self, scope: &Scope, from: i64, to: i64) -> Result<CaseStats, StoreError> {
        timed(
            "case_stats",
            self.backend(),
            self.inner.case_stats(scope, from, to),
        )
        .await
    }
}
