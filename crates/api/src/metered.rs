//! A [`Store`] wrapper that times every call, so `/metrics` shows store latency per operation.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use wanxiang_core::case::{CaseRecord, HistoryEntry};
use wanxiang_core::inbox::Notification;
use wanxiang_core::{Account, AuditEntry, Department, Entity, NewAccount, Scope, Unit, UnitCode};
use wanxiang_store::{
    AccountUpdate, ApiToken, Attachment, AttachmentMeta, Backend, CaseCreated, CaseFilter,
    CaseStats, Delivery, DeliveryOutcome, DeliveryStatus, IntakeWrite, LinkedReport, NearQuery,
    NewApiToken, NewCase, NewSession, SessionInfo, Store, StoreError, WarningChange, WarningRecord,
    WarningStatus,
};
use wanxiang_store::{
    AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, DeviceFilter, DeviceRecord, DeviceResume,
    NewDevice, Reading, Rollup, TelemetryBatch,
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

    // 一网通办's calls are not timed yet: they go straight to the inner store.
    fn services(&self) -> &dyn wanxiang_store::ServiceStore {
        self.inner.services()
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

    async fn create_cases(
        &self,
        batch: &[NewCase],
        outbox: bool,
    ) -> Result<Vec<CaseCreated>, StoreError> {
        timed(
            "create_cases",
            self.backend(),
            self.inner.create_cases(batch, outbox),
        )
        .await
    }

    async fn cases_near_any(&self, boxes: &[NearQuery]) -> Result<Vec<CaseRecord>, StoreError> {
        timed(
            "cases_near",
            self.backend(),
            self.inner.cases_near_any(boxes),
        )
        .await
    }

    async fn write_intake(
        &self,
        batch: &[IntakeWrite],
        outbox: bool,
    ) -> Result<Vec<CaseCreated>, StoreError> {
        timed(
            "write_intake",
            self.backend(),
            self.inner.write_intake(batch, outbox),
        )
        .await
    }

    async fn daily_counts(
        &self,
        scope: &Scope,
        category: &str,
        end: i64,
        days: u32,
    ) -> Result<Vec<u64>, StoreError> {
        timed(
            "daily_counts",
            self.backend(),
            self.inner.daily_counts(scope, category, end, days),
        )
        .await
    }

    async fn overdue_cases(
        &self,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        timed(
            "overdue_cases",
            self.backend(),
            self.inner.overdue_cases(scope, limit),
        )
        .await
    }

    async fn case_reports(
        &self,
        scope: &Scope,
        case_id: &str,
    ) -> Result<Vec<LinkedReport>, StoreError> {
        timed(
            "case_reports",
            self.backend(),
            self.inner.case_reports(scope, case_id),
        )
        .await
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
        timed(
            "unlink_report",
            self.backend(),
            self.inner
                .unlink_report(scope, report_id, primary, entry, split, outbox),
        )
        .await
    }

    async fn case_followers(&self, case_id: &str) -> Result<Vec<String>, StoreError> {
        timed(
            "case_followers",
            self.backend(),
            self.inner.case_followers(case_id),
        )
        .await
    }

    async fn put_attachment(&self, attachment: &Attachment) -> Result<(), StoreError> {
        timed(
            "put_attachment",
            self.backend(),
            self.inner.put_attachment(attachment),
        )
        .await
    }

    async fn attachment_meta(&self, id: &str) -> Result<Option<AttachmentMeta>, StoreError> {
        timed(
            "attachment_meta",
            self.backend(),
            self.inner.attachment_meta(id),
        )
        .await
    }

    async fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        timed("attachment", self.backend(), self.inner.attachment(id)).await
    }

    async fn case_attachments(&self, case_id: &str) -> Result<Vec<AttachmentMeta>, StoreError> {
        timed(
            "case_attachments",
            self.backend(),
            self.inner.case_attachments(case_id),
        )
        .await
    }

    async fn attach(
        &self,
        ids: &[String],
        owner: &str,
        case_id: &str,
        seq: i64,
    ) -> Result<u64, StoreError> {
        timed(
            "attach",
            self.backend(),
            self.inner.attach(ids, owner, case_id, seq),
        )
        .await
    }

    async fn purge_loose_attachments(&self, before: i64) -> Result<u64, StoreError> {
        timed(
            "purge_loose_attachments",
            self.backend(),
            self.inner.purge_loose_attachments(before),
        )
        .await
    }

    async fn upsert_warning(
        &self,
        warning: &WarningRecord,
    ) -> Result<(WarningRecord, WarningChange), StoreError> {
        timed(
            "upsert_warning",
            self.backend(),
            self.inner.upsert_warning(warning),
        )
        .await
    }

    async fn warnings(
        &self,
        scope: &Scope,
        active_only: bool,
        limit: u32,
    ) -> Result<Vec<WarningRecord>, StoreError> {
        timed(
            "warnings",
            self.backend(),
            self.inner.warnings(scope, active_only, limit),
        )
        .await
    }

    async fn warning(&self, scope: &Scope, id: &str) -> Result<Option<WarningRecord>, StoreError> {
        timed("warning", self.backend(), self.inner.warning(scope, id)).await
    }

    async fn update_warning(
        &self,
        scope: &Scope,
        id: &str,
        status: WarningStatus,
        case_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        timed(
            "update_warning",
            self.backend(),
            self.inner.update_warning(scope, id, status, case_id, now),
        )
        .await
    }

    async fn notify(&self, notifications: &[Notification], outbox: bool) -> Result<(), StoreError> {
        timed(
            "notify",
            self.backend(),
            self.inner.notify(notifications, outbox),
        )
        .await
    }

    fn records_changes(&self) -> bool {
        self.inner.records_changes()
    }

    async fn claim_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<wanxiang_store::UnsentChange>, StoreError> {
        timed(
            "claim_changes",
            self.backend(),
            self.inner.claim_changes(now, lease_until, limit),
        )
        .await
    }

    async fn forget_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError> {
        timed(
            "forget_changes",
            self.backend(),
            self.inner.forget_changes(sent),
        )
        .await
    }

    async fn deliveries_due(&self, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        timed(
            "deliveries_due",
            self.backend(),
            self.inner.deliveries_due(now, limit),
        )
        .await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        timed(
            "claim_deliveries",
            self.backend(),
            self.inner.claim_deliveries(now, lease_until, limit),
        )
        .await
    }

    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        timed(
            "next_delivery_at",
            self.backend(),
            self.inner.next_delivery_at(),
        )
        .await
    }

    async fn record_delivery(
        &self,
        id: i64,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        timed(
            "record_delivery",
            self.backend(),
            self.inner.record_delivery(id, outcome, now),
        )
        .await
    }

    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        timed(
            "deliveries",
            self.backend(),
            self.inner.deliveries(status, limit),
        )
        .await
    }

    async fn create_device(&self, scope: &Scope, device: &NewDevice) -> Result<(), StoreError> {
        timed(
            "create_device",
            self.backend(),
            self.inner.create_device(scope, device),
        )
        .await
    }

    async fn create_devices(&self, scope: &Scope, devices: &[NewDevice]) -> Result<(), StoreError> {
        timed(
            "create_devices",
            self.backend(),
            self.inner.create_devices(scope, devices),
        )
        .await
    }

    async fn devices(
        &self,
        scope: &Scope,
        filter: &DeviceFilter,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        timed("devices", self.backend(), self.inner.devices(scope, filter)).await
    }

    async fn device(&self, scope: &Scope, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        timed("device", self.backend(), self.inner.device(scope, id)).await
    }

    async fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError> {
        timed(
            "device_by_token",
            self.backend(),
            self.inner.device_by_token(token_hash),
        )
        .await
    }

    async fn device_resumes(&self) -> Result<Vec<DeviceResume>, StoreError> {
        timed(
            "device_resumes",
            self.backend(),
            self.inner.device_resumes(),
        )
        .await
    }

    async fn update_device(
        &self,
        scope: &Scope,
        device: &DeviceRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        timed(
            "update_device",
            self.backend(),
            self.inner.update_device(scope, device, now),
        )
        .await
    }

    async fn write_telemetry(&self, batch: &TelemetryBatch) -> Result<u64, StoreError> {
        timed(
            "write_telemetry",
            self.backend(),
            self.inner.write_telemetry(batch),
        )
        .await
    }

    async fn rollups(
        &self,
        device_id: &str,
        key: &str,
        width: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<Rollup>, StoreError> {
        timed(
            "rollups",
            self.backend(),
            self.inner.rollups(device_id, key, width, from, to),
        )
        .await
    }

    async fn purge_readings(&self, device_ids: &[String], before: i64) -> Result<u64, StoreError> {
        timed(
            "purge_readings",
            self.backend(),
            self.inner.purge_readings(device_ids, before),
        )
        .await
    }

    async fn maintain_readings(
        &self,
        from: i64,
        to: i64,
        drop_before: Option<i64>,
    ) -> Result<(u32, u32), StoreError> {
        timed(
            "maintain_readings",
            self.backend(),
            self.inner.maintain_readings(from, to, drop_before),
        )
        .await
    }

    async fn purge_rollups(
        &self,
        device_ids: &[String],
        width: i64,
        before: i64,
    ) -> Result<u64, StoreError> {
        timed(
            "purge_rollups",
            self.backend(),
            self.inner.purge_rollups(device_ids, width, before),
        )
        .await
    }

    async fn readings(
        &self,
        device_id: &str,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        timed(
            "readings",
            self.backend(),
            self.inner.readings(device_id, from, to, limit),
        )
        .await
    }

    async fn latest_readings(
        &self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError> {
        timed(
            "latest_readings",
            self.backend(),
            self.inner.latest_readings(device_id, limit),
        )
        .await
    }

    async fn alarms(
        &self,
        scope: &Scope,
        filter: &AlarmFilter,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        timed("alarms", self.backend(), self.inner.alarms(scope, filter)).await
    }

    async fn alarm(&self, scope: &Scope, id: &str) -> Result<Option<AlarmRecord>, StoreError> {
        timed("alarm", self.backend(), self.inner.alarm(scope, id)).await
    }

    async fn alarm_history(&self, alarm_id: &str) -> Result<Vec<AlarmEvent>, StoreError> {
        timed(
            "alarm_history",
            self.backend(),
            self.inner.alarm_history(alarm_id),
        )
        .await
    }

    async fn open_alarms(&self) -> Result<Vec<AlarmRecord>, StoreError> {
        timed("open_alarms", self.backend(), self.inner.open_alarms()).await
    }

    async fn write_alarms(&self, writes: &[AlarmWrite]) -> Result<(), StoreError> {
        timed(
            "write_alarms",
            self.backend(),
            self.inner.write_alarms(writes),
        )
        .await
    }

    async fn retry_delivery(&self, id: i64, now: i64) -> Result<bool, StoreError> {
        timed(
            "retry_delivery",
            self.backend(),
            self.inner.retry_delivery(id, now),
        )
        .await
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

    async fn case_stats_by_area(
        &self,
        scope: &Scope,
        prefix_len: usize,
        from: i64,
        to: i64,
    ) -> Result<Vec<wanxiang_store::AreaCounts>, StoreError> {
        timed(
            "case_stats_by_area",
            self.backend(),
            self.inner.case_stats_by_area(scope, prefix_len, from, to),
        )
        .await
    }
}
