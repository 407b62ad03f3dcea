//! A [`Store`] wrapper that times every call, so `/metrics` shows store latency per operation.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use wanxiang_core::case::{CaseRecord, HistoryEntry};
use wanxiang_core::inbox::Notification;
use wanxiang_core::{Account, AuditEntry, Department, Entity, NewAccount, Scope, Unit, UnitCode};
use wanxiang_store::ServiceStore;
use wanxiang_store::services::{
    ApplicationFilter, ApplicationRecord, ApplicationStep, ApplicationUpdate, Birth, Certificate,
    DecisionRecord, DeskLine, Enterprise, KeyEnterprise, ModelVersion, Person, RegisterAccess,
    SigningKey,
};
use wanxiang_store::{
    AccountUpdate, ApiToken, Attachment, AttachmentMeta, Backend, CaseCreated, CaseFilter,
    CaseMark, CaseParts, CaseStats, Delivery, DeliveryOutcome, DeliveryStatus, IntakeWrite,
    LinkedReport, NearQuery, NewApiToken, NewCase, NewSession, SessionInfo, Store, StoreError,
    WarningChange, WarningRecord, WarningStatus,
};
use wanxiang_store::{
    AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, DeviceFilter, DeviceRecord, DeviceResume,
    NewDevice, Reading, Rollup, TelemetryBatch,
};

/// Times the calls of the store it wraps.
pub struct MeteredStore {
    /// The real store.
    inner: Arc<dyn Store>,
    /// Its 一网通办 part, timed the same way.
    services: MeteredServices,
}

impl MeteredStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn Store>) -> MeteredStore {
        let backend = inner.backend();
        MeteredStore {
            services: MeteredServices {
                inner: inner.clone(),
                backend,
            },
            inner,
        }
    }
}

async fn timed<T>(
    op: &'static str,
    backend: Backend,
    f: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let start = Instant::now();
    let result = wanxiang_store::as_op(op, f).await;
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

    fn services(&self) -> &dyn ServiceStore {
        &self.services
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

    async fn mark_supervised(
        &self,
        scope: &Scope,
        marks: &[wanxiang_store::SupervisionMark],
        outbox: bool,
    ) -> Result<Vec<bool>, StoreError> {
        timed(
            "mark_supervised",
            self.backend(),
            self.inner.mark_supervised(scope, marks, outbox),
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

    async fn cases_near_any(&self, boxes: &[NearQuery]) -> Result<Vec<CaseMark>, StoreError> {
        timed(
            "cases_near",
            self.backend(),
            self.inner.cases_near_any(boxes),
        )
        .await
    }

    async fn case_parts(
        &self,
        scope: &Scope,
        id: &str,
        alarms: bool,
    ) -> Result<Option<CaseParts>, StoreError> {
        timed(
            "case_parts",
            self.backend(),
            self.inner.case_parts(scope, id, alarms),
        )
        .await
    }

    async fn case_marks(
        &self,
        since: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<CaseMark>, StoreError> {
        timed(
            "case_marks",
            self.backend(),
            self.inner.case_marks(since, until, limit),
        )
        .await
    }

    async fn write_intake(
        &self,
        batch: &[IntakeWrite],
        outbox: bool,
    ) -> Result<wanxiang_store::IntakeWritten, StoreError> {
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

    async fn overdue_backlog(
        &self,
        scope: &Scope,
        first: u32,
    ) -> Result<Vec<wanxiang_store::OverdueGroup>, StoreError> {
        timed(
            "overdue_backlog",
            self.backend(),
            self.inner.overdue_backlog(scope, first),
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

    async fn upsert_warnings(
        &self,
        warnings: &[WarningRecord],
        outbox: bool,
    ) -> Result<Vec<(WarningRecord, WarningChange)>, StoreError> {
        timed(
            "upsert_warnings",
            self.backend(),
            self.inner.upsert_warnings(warnings, outbox),
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

    async fn claim_alarm_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<wanxiang_store::UnsentAlarm>, StoreError> {
        timed(
            "claim_alarm_changes",
            self.backend(),
            self.inner.claim_alarm_changes(now, lease_until, limit),
        )
        .await
    }

    async fn forget_alarm_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError> {
        timed(
            "forget_alarm_changes",
            self.backend(),
            self.inner.forget_alarm_changes(sent),
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

    async fn device_resumes(
        &self,
        ids: Option<&[String]>,
    ) -> Result<Vec<DeviceResume>, StoreError> {
        timed(
            "device_resumes",
            self.backend(),
            self.inner.device_resumes(ids),
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

    async fn open_alarms(
        &self,
        devices: Option<&[String]>,
    ) -> Result<Vec<AlarmRecord>, StoreError> {
        timed(
            "open_alarms",
            self.backend(),
            self.inner.open_alarms(devices),
        )
        .await
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

/// Times the calls of 一网通办's part of the store, like [`MeteredStore`] does the rest (op names
/// as the methods).
pub struct MeteredServices {
    /// The real store.
    inner: Arc<dyn Store>,
    /// Its engine, for the metric's label.
    backend: Backend,
}

#[async_trait]
impl ServiceStore for MeteredServices {
    async fn put_people(&self, people: &[Person]) -> Result<(), StoreError> {
        timed(
            "put_people",
            self.backend,
            self.inner.services().put_people(people),
        )
        .await
    }

    async fn put_enterprises(&self, enterprises: &[Enterprise]) -> Result<(), StoreError> {
        timed(
            "put_enterprises",
            self.backend,
            self.inner.services().put_enterprises(enterprises),
        )
        .await
    }

    async fn put_births(&self, births: &[Birth]) -> Result<(), StoreError> {
        timed(
            "put_births",
            self.backend,
            self.inner.services().put_births(births),
        )
        .await
    }

    async fn count_people(&self) -> Result<u64, StoreError> {
        timed(
            "count_people",
            self.backend,
            self.inner.services().count_people(),
        )
        .await
    }

    async fn person(&self, id: &str) -> Result<Option<Person>, StoreError> {
        timed("person", self.backend, self.inner.services().person(id)).await
    }

    async fn person_by_phone(&self, phone: &str) -> Result<Option<Person>, StoreError> {
        timed(
            "person_by_phone",
            self.backend,
            self.inner.services().person_by_phone(phone),
        )
        .await
    }

    async fn people_born_between(&self, from: &str, to: &str) -> Result<Vec<Person>, StoreError> {
        timed(
            "people_born_between",
            self.backend,
            self.inner.services().people_born_between(from, to),
        )
        .await
    }

    async fn enterprise(&self, uscc: &str) -> Result<Option<Enterprise>, StoreError> {
        timed(
            "enterprise",
            self.backend,
            self.inner.services().enterprise(uscc),
        )
        .await
    }

    async fn enterprises_of(&self, person: &str) -> Result<Vec<Enterprise>, StoreError> {
        timed(
            "enterprises_of",
            self.backend,
            self.inner.services().enterprises_of(person),
        )
        .await
    }

    async fn births_since(&self, since: i64) -> Result<Vec<Birth>, StoreError> {
        timed(
            "births_since",
            self.backend,
            self.inner.services().births_since(since),
        )
        .await
    }

    async fn births_of_parent(&self, person: &str) -> Result<Vec<Birth>, StoreError> {
        timed(
            "births_of_parent",
            self.backend,
            self.inner.services().births_of_parent(person),
        )
        .await
    }

    async fn account_of_phone(&self, phone: &str) -> Result<Option<String>, StoreError> {
        timed(
            "account_of_phone",
            self.backend,
            self.inner.services().account_of_phone(phone),
        )
        .await
    }

    async fn log_access(&self, entries: &[RegisterAccess]) -> Result<(), StoreError> {
        timed(
            "log_access",
            self.backend,
            self.inner.services().log_access(entries),
        )
        .await
    }

    async fn register_access(
        &self,
        subject: &str,
        limit: u32,
    ) -> Result<Vec<RegisterAccess>, StoreError> {
        timed(
            "register_access",
            self.backend,
            self.inner.services().register_access(subject, limit),
        )
        .await
    }

    async fn put_model(
        &self,
        item: &str,
        model: &str,
        author: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        timed(
            "put_model",
            self.backend,
            self.inner.services().put_model(item, model, author, at),
        )
        .await
    }

    async fn model(
        &self,
        item: &str,
        version: Option<i64>,
    ) -> Result<Option<ModelVersion>, StoreError> {
        timed(
            "model",
            self.backend,
            self.inner.services().model(item, version),
        )
        .await
    }

    async fn model_versions(&self, item: &str) -> Result<Vec<ModelVersion>, StoreError> {
        timed(
            "model_versions",
            self.backend,
            self.inner.services().model_versions(item),
        )
        .await
    }

    async fn create_application(
        &self,
        application: &ApplicationRecord,
        step: &ApplicationStep,
    ) -> Result<bool, StoreError> {
        timed(
            "create_application",
            self.backend,
            self.inner.services().create_application(application, step),
        )
        .await
    }

    async fn offer_exists(&self, offer_key: &str) -> Result<bool, StoreError> {
        timed(
            "offer_exists",
            self.backend,
            self.inner.services().offer_exists(offer_key),
        )
        .await
    }

    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        timed(
            "application",
            self.backend,
            self.inner.services().application(id),
        )
        .await
    }

    async fn applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        timed(
            "applications",
            self.backend,
            self.inner.services().applications(filter),
        )
        .await
    }

    async fn update_application(
        &self,
        update: &ApplicationUpdate,
    ) -> Result<ApplicationRecord, StoreError> {
        timed(
            "update_application",
            self.backend,
            self.inner.services().update_application(update),
        )
        .await
    }

    async fn next_application_due(&self) -> Result<Option<i64>, StoreError> {
        timed(
            "next_application_due",
            self.backend,
            self.inner.services().next_application_due(),
        )
        .await
    }

    async fn applications_overdue(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        timed(
            "applications_overdue",
            self.backend,
            self.inner.services().applications_overdue(now, limit),
        )
        .await
    }

    async fn applications_deciding(
        &self,
        before: i64,
        limit: u32,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        timed(
            "applications_deciding",
            self.backend,
            self.inner.services().applications_deciding(before, limit),
        )
        .await
    }

    async fn mark_overdue(&self, id: &str, step: &ApplicationStep) -> Result<bool, StoreError> {
        timed(
            "mark_overdue",
            self.backend,
            self.inner.services().mark_overdue(id, step),
        )
        .await
    }

    async fn application_history(&self, id: &str) -> Result<Vec<ApplicationStep>, StoreError> {
        timed(
            "application_history",
            self.backend,
            self.inner.services().application_history(id),
        )
        .await
    }

    async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        timed("decision", self.backend, self.inner.services().decision(id)).await
    }

    async fn decisions_of(&self, application: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        timed(
            "decisions_of",
            self.backend,
            self.inner.services().decisions_of(application),
        )
        .await
    }

    async fn put_key_enterprise(&self, k: &KeyEnterprise) -> Result<(), StoreError> {
        timed(
            "put_key_enterprise",
            self.backend,
            self.inner.services().put_key_enterprise(k),
        )
        .await
    }

    async fn key_enterprises(&self) -> Result<Vec<KeyEnterprise>, StoreError> {
        timed(
            "key_enterprises",
            self.backend,
            self.inner.services().key_enterprises(),
        )
        .await
    }

    async fn add_desk_problem(
        &self,
        case_id: &str,
        uscc: &str,
        at: i64,
        by: &str,
    ) -> Result<(), StoreError> {
        timed(
            "add_desk_problem",
            self.backend,
            self.inner
                .services()
                .add_desk_problem(case_id, uscc, at, by),
        )
        .await
    }

    async fn desk_problems(&self, uscc: &str) -> Result<Vec<String>, StoreError> {
        timed(
            "desk_problems",
            self.backend,
            self.inner.services().desk_problems(uscc),
        )
        .await
    }

    async fn desk_report(&self) -> Result<Vec<DeskLine>, StoreError> {
        timed(
            "desk_report",
            self.backend,
            self.inner.services().desk_report(),
        )
        .await
    }

    async fn certificate(&self, id: &str) -> Result<Option<Certificate>, StoreError> {
        timed(
            "certificate",
            self.backend,
            self.inner.services().certificate(id),
        )
        .await
    }

    async fn certificates_of(&self, holder: &str) -> Result<Vec<Certificate>, StoreError> {
        timed(
            "certificates_of",
            self.backend,
            self.inner.services().certificates_of(holder),
        )
        .await
    }

    async fn certificates_issued(
        &self,
        item: &str,
        since: i64,
    ) -> Result<Vec<Certificate>, StoreError> {
        timed(
            "certificates_issued",
            self.backend,
            self.inner.services().certificates_issued(item, since),
        )
        .await
    }

    async fn certificates_expiring(
        &self,
        item: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<Certificate>, StoreError> {
        timed(
            "certificates_expiring",
            self.backend,
            self.inner.services().certificates_expiring(item, from, to),
        )
        .await
    }

    async fn revoke_certificate(
        &self,
        id: &str,
        at: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        timed(
            "revoke_certificate",
            self.backend,
            self.inner.services().revoke_certificate(id, at, reason),
        )
        .await
    }

    async fn signing_key(&self, department: &str) -> Result<Option<SigningKey>, StoreError> {
        timed(
            "signing_key",
            self.backend,
            self.inner.services().signing_key(department),
        )
        .await
    }

    async fn ensure_signing_key(&self, key: &SigningKey) -> Result<SigningKey, StoreError> {
        timed(
            "ensure_signing_key",
            self.backend,
            self.inner.services().ensure_signing_key(key),
        )
        .await
    }
}
