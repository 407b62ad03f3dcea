//! Wanxiang's storage interface: what the platform keeps, independent of where it keeps it.
//!
//! Architecture invariant: this crate names no database. It holds the [`Store`] trait, its error
//! type, and (behind the `conformance` feature) the one test suite that every backend must pass,
//! so SQLite and PostgreSQL behave the same by construction rather than by hope.

use async_trait::async_trait;
use wanxiang_core::case::{CaseRecord, HistoryEntry, Stage};
use wanxiang_core::inbox::Notification;
use wanxiang_core::{
    Account, AuditEntry, Department, Entity, NewAccount, Role, Scope, Unit, UnitCode,
};

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod hub;
pub mod sensing;
pub mod services;

pub use hub::{
    Attachment, AttachmentMeta, CASE_PARTS_ALARMS, CaseMark, CaseParts, Delivery, DeliveryOutcome,
    DeliveryStatus, IntakeWrite, LinkedReport, NearQuery, NewCase, NewLink, OverdueGroup,
    SupervisionMark, UnsentAlarm, UnsentChange, WarningChange, WarningRecord, WarningStatus,
};
pub use sensing::{
    AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, DeviceFilter, DeviceMark, DeviceRecord,
    DeviceResume, NewDevice, ROLLUP_WIDTHS, Reading, Rollup, TelemetryBatch,
};
pub use services::ServiceStore;

/// Why a store operation failed. The API turns these into HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the connection.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database holds migrations this binary does not know: it was used by a newer Wanxiang.
    /// Running on would risk corrupting data the newer version wrote, so we stop.
    #[error(
        "the database schema is newer than this binary (it has migration {found}, this binary knows up to {known}); run a newer wanxiang"
    )]
    SchemaTooNew {
        /// The unknown migration version found in the database.
        found: i64,
        /// The newest migration this binary carries.
        known: i64,
    },
    /// A migration failed to apply, or an applied one was changed after the fact.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The caller's scope does not cover the record it tried to create.
    #[error("outside the caller's jurisdiction: {0}")]
    OutOfScope(String),
    /// A write broke a rule of the data (a unit whose parent does not exist, say).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back (a boundary that is not GeoJSON, an unknown level).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
    /// A telemetry commit claimed devices' rule state at versions another node has moved on
    /// from: these devices. Nothing was written; load their state again and judge again.
    #[error("rule state changed on another node: {0:?}")]
    Stale(Vec<String>),
}

/// Which engine a store runs on, for logs, `/readyz` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one SQLite file.
    Sqlite,
    /// PostgreSQL, for production and for several nodes.
    Postgres,
}

impl Backend {
    /// The name shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Everything Wanxiang persists. Implementations run their migrations when they are opened.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The engine behind this store.
    fn backend(&self) -> Backend;

    /// 一网通办's part of the store: registers, decision models, applications, certificates.
    fn services(&self) -> &dyn ServiceStore;

    /// Checks that the database answers; `/readyz` calls it.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The newest migration applied to the database.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Every administrative unit, sorted by code.
    async fn units(&self) -> Result<Vec<Unit>, StoreError>;

    /// One unit by code.
    async fn unit(&self, code: &UnitCode) -> Result<Option<Unit>, StoreError>;

    /// A counter that grows whenever units change, so that every node can tell cheaply when to
    /// rebuild its spatial index.
    async fn units_revision(&self) -> Result<i64, StoreError>;

    /// Inserts or replaces units in one transaction: all of them are written or none is. Parents
    /// must exist already or come earlier in the same batch's levels. Returns the new revision.
    async fn import_units(&self, units: &[Unit]) -> Result<i64, StoreError>;

    // --- Departments and social entities. Reads and writes take the caller's scope. ---

    /// Registers a department. `OutOfScope` unless the scope manages it; `Conflict` if the code
    /// exists.
    async fn create_department(
        &self,
        scope: &Scope,
        department: &Department,
    ) -> Result<(), StoreError>;

    /// The departments the scope sees: the district's staff see all of their district's,
    /// department staff their own, others none.
    async fn departments(&self, scope: &Scope) -> Result<Vec<Department>, StoreError>;

    /// Registers a social entity. `OutOfScope` unless the scope manages its unit and every unit of
    /// its service area; `Conflict` if the unit does not exist.
    async fn create_entity(&self, scope: &Scope, entity: &Entity) -> Result<(), StoreError>;

    /// The entities the scope sees, by name.
    async fn entities(&self, scope: &Scope) -> Result<Vec<Entity>, StoreError>;

    /// One entity, if the scope sees it.
    async fn entity(&self, scope: &Scope, id: &str) -> Result<Option<Entity>, StoreError>;

    // --- Accounts. ---

    /// Creates an account. `OutOfScope` unless the scope manages its organisation; `Conflict` if
    /// the username is taken.
    async fn create_account(
        &self,
        scope: &Scope,
        account: &NewAccount,
    ) -> Result<Account, StoreError>;

    /// The accounts the scope sees, by username.
    async fn accounts(&self, scope: &Scope) -> Result<Vec<Account>, StoreError>;

    /// One account, if the scope sees it.
    async fn account(&self, scope: &Scope, id: &str) -> Result<Option<Account>, StoreError>;

    /// Changes an account the scope sees; `None` if it does not see it. Disabling an account or
    /// changing its password ends its sessions.
    async fn update_account(
        &self,
        scope: &Scope,
        id: &str,
        update: &AccountUpdate,
        now: i64,
    ) -> Result<Option<Account>, StoreError>;

    /// How many accounts still have the published demo password (checked at start outside demo
    /// mode; a count reveals no record).
    async fn count_demo_passwords(&self) -> Result<u64, StoreError>;

    // --- Authentication: the only lookups without a scope, because they establish who the
    // caller is. They return nothing for disabled accounts. ---

    /// An account and its password hash, by username, for login.
    async fn credentials(&self, username: &str) -> Result<Option<(Account, String)>, StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// The live session with this token hash at `now`, with its account.
    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionInfo>, StoreError>;

    /// Ends a session; false if there was no live one.
    async fn revoke_session(&self, token_hash: &str, now: i64) -> Result<bool, StoreError>;

    /// Stores a new personal API token.
    async fn create_api_token(&self, token: &NewApiToken) -> Result<(), StoreError>;

    /// The account owning the live API token with this hash; records its use.
    async fn api_token_account(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Account>, StoreError>;

    /// An account's own tokens (never their secrets), newest first.
    async fn api_tokens(&self, account_id: &str) -> Result<Vec<ApiToken>, StoreError>;

    /// Revokes one of an account's own tokens; false if it has no such live token.
    async fn revoke_api_token(
        &self,
        account_id: &str,
        token_id: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    // --- Cases of the event hub. ---

    /// Stores a new case with its first history entries, in one transaction. When the channel
    /// and external id were seen before, nothing is written and the earlier case's id is
    /// returned as `Existing`.
    async fn create_case(
        &self,
        case: &CaseRecord,
        history: &[HistoryEntry],
    ) -> Result<CaseCreated, StoreError> {
        let batch = [NewCase {
            record: case.clone(),
            history: history.to_vec(),
            notifications: Vec::new(),
            attachments: Vec::new(),
        }];
        self.create_cases(&batch, false)
            .await?
            .pop()
            .ok_or_else(|| StoreError::Database("a batch of one answered nothing".into()))
    }

    /// The cases the scope sees, newest first.
    async fn cases(
        &self,
        scope: &Scope,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRecord>, StoreError>;

    /// One case, if the scope sees it.
    async fn case(&self, scope: &Scope, id: &str) -> Result<Option<CaseRecord>, StoreError>;

    /// A case's history, oldest first, if the scope sees the case.
    async fn case_history(&self, scope: &Scope, id: &str) -> Result<Vec<HistoryEntry>, StoreError>;

    /// What a case's detail shows beside the case, read together (one transaction): its
    /// history and attachments as [`Store::case_history`] and [`Store::case_attachments`] give
    /// them, how many reports are linked to it, and, when `alarms`,
    /// the newest [`CASE_PARTS_ALARMS`] alarms that opened or joined it. `None` when the scope
    /// does not see the case.
    async fn case_parts(
        &self,
        scope: &Scope,
        id: &str,
        alarms: bool,
    ) -> Result<Option<CaseParts>, StoreError>;

    /// Writes a changed case and appends its history entry, in one transaction, if the scope
    /// sees it and nobody changed it since it was read (`case.version` is the new version, one
    /// more than the one read). False when either is not so; nothing is written then.
    async fn update_case(
        &self,
        scope: &Scope,
        case: &CaseRecord,
        entry: &HistoryEntry,
    ) -> Result<bool, StoreError>;

    /// Writes a supervision pass's marks in one transaction. Each case is marked if the scope
    /// sees it and nobody changed it since it was read (`case.version` is one more than the
    /// version read); a marked case gets its history line, numbered after its last, and its
    /// notifications (with webhook deliveries when `outbox`). Answers per mark, in order,
    /// whether it was written.
    async fn mark_supervised(
        &self,
        scope: &Scope,
        marks: &[SupervisionMark],
        outbox: bool,
    ) -> Result<Vec<bool>, StoreError>;

    /// Indicators over the cases the scope sees that were reported in `[from, to)`.
    async fn case_stats(&self, scope: &Scope, from: i64, to: i64) -> Result<CaseStats, StoreError>;
    /// The figures of a ranking: cases reported in `[from, to)` inside `scope`, grouped by the first
    /// `prefix_len` characters of their area code (9 = street, 12 = community), in code order.
    /// Areas without cases are absent.
    async fn case_stats_by_area(
        &self,
        scope: &Scope,
        prefix_len: usize,
        from: i64,
        to: i64,
    ) -> Result<Vec<AreaCounts>, StoreError>;

    /// The earliest time at which an open, running case needs a warning or goes overdue: the
    /// supervision scheduler sleeps until then (one indexed aggregate, not a scan in the app).
    async fn next_supervision_at(&self) -> Result<Option<i64>, StoreError>;

    /// Open, running cases the scope sees that need a warning or went overdue by `now`.
    async fn cases_to_supervise(
        &self,
        scope: &Scope,
        now: i64,
        limit: u32,
    ) -> Result<Vec<CaseRecord>, StoreError>;

    /// Stores a batch of new cases in one transaction (group commit): each with its history,
    /// its notifications (and their webhook deliveries when `outbox`), and its attachments.
    /// Answers per case, in order: `New`, or `Existing` with the earlier case's id when its
    /// channel and external id were seen before (then nothing of it is written).
    async fn create_cases(
        &self,
        batch: &[NewCase],
        outbox: bool,
    ) -> Result<Vec<CaseCreated>, StoreError>;

    /// Recent cases (any scope: a question the intake rules ask) whose point lies in the box,
    /// newest first; at most `limit` of them (which ones, when there are more, is not defined).
    async fn cases_near(&self, query: &NearQuery) -> Result<Vec<CaseMark>, StoreError> {
        self.cases_near_any(std::slice::from_ref(query)).await
    }

    /// [`Store::cases_near`] for several boxes in one query (the intake's batch asks once):
    /// the cases in any of them (each box with its own conditions), each once, newest first.
    async fn cases_near_any(&self, boxes: &[NearQuery]) -> Result<Vec<CaseMark>, StoreError>;

    /// The marks of the cases created in `[since, until)`, oldest first (by time, then id), at
    /// most `limit`: what a detector alone on its store loads at its start.
    async fn case_marks(
        &self,
        since: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<CaseMark>, StoreError>;

    /// The intake's group commit: new cases and linked duplicates in one transaction, answered
    /// per item in order (`Existing` for a channel and external id seen before), with the cases
    /// the links joined as the transaction left them (the answer to a linked report; their
    /// histories as their last [`JOINED_HISTORY_LINES`] lines).
    async fn write_intake(
        &self,
        batch: &[IntakeWrite],
        outbox: bool,
    ) -> Result<IntakeWritten, StoreError>;

    /// Cases of a category the scope sees, counted per 24-hour window going back from `end`:
    /// element `i` counts `[end − (i+1)·24h, end − i·24h)`, for `days` windows.
    async fn daily_counts(
        &self,
        scope: &Scope,
        category: &str,
        end: i64,
        days: u32,
    ) -> Result<Vec<u64>, StoreError>;

    /// The open overdue cases the scope sees, counted per organisation and district, each
    /// group with its first `first` cases by due time (then id): what the backlog detector
    /// weighs. One grouped query over the open overdue cases' index, not their rows.
    async fn overdue_backlog(
        &self,
        scope: &Scope,
        first: u32,
    ) -> Result<Vec<OverdueGroup>, StoreError>;

    // --- Duplicates: reports linked to an open case (linked by `write_intake`). ---

    /// The reports linked to a case the scope sees (including unlinked ones), oldest first.
    async fn case_reports(
        &self,
        scope: &Scope,
        case_id: &str,
    ) -> Result<Vec<LinkedReport>, StoreError>;

    /// Unlinks a report the scope sees from its case and stores it as the new case `split`, in
    /// one transaction: the report is marked, `primary` (one version up) gets `entry`, and
    /// `split` is created. False when the report is not linked to that case any more or the
    /// case changed meanwhile.
    async fn unlink_report(
        &self,
        scope: &Scope,
        report_id: &str,
        primary: &CaseRecord,
        entry: &HistoryEntry,
        split: &NewCase,
        outbox: bool,
    ) -> Result<bool, StoreError>;

    /// The accounts following a case through linked reports (not unlinked).
    async fn case_followers(&self, case_id: &str) -> Result<Vec<String>, StoreError>;

    // --- Attachments. ---

    /// Stores an uploaded file (not yet attached).
    async fn put_attachment(&self, attachment: &Attachment) -> Result<(), StoreError>;

    /// A file's description, without its bytes.
    async fn attachment_meta(&self, id: &str) -> Result<Option<AttachmentMeta>, StoreError>;

    /// A file with its bytes.
    async fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError>;

    /// The files attached to a case, in the order attached.
    async fn case_attachments(&self, case_id: &str) -> Result<Vec<AttachmentMeta>, StoreError>;

    /// Attaches uploaded files of `owner` that belong to no case yet to a case's history line.
    /// Returns how many it attached.
    async fn attach(
        &self,
        ids: &[String],
        owner: &str,
        case_id: &str,
        seq: i64,
    ) -> Result<u64, StoreError>;

    /// Deletes uploads never attached that were made before `before`. Returns how many.
    async fn purge_loose_attachments(&self, before: i64) -> Result<u64, StoreError>;

    // --- Early warnings. ---

    /// Stores detections under their keys, in order and in one transaction: each a new warning,
    /// or an active one raised (higher level or more evidence; level never goes down). Each
    /// warning that is new or raised notifies its unit's supervisors ([`WarningRecord::notice`])
    /// in the same transaction, through the webhook outbox too when `outbox`. Returns each
    /// stored warning and what changed.
    async fn upsert_warnings(
        &self,
        warnings: &[WarningRecord],
        outbox: bool,
    ) -> Result<Vec<(WarningRecord, WarningChange)>, StoreError>;

    /// Warnings about units the scope sees, latest first; only active ones when `active_only`.
    async fn warnings(
        &self,
        scope: &Scope,
        active_only: bool,
        limit: u32,
    ) -> Result<Vec<WarningRecord>, StoreError>;

    /// One warning, if the scope sees its unit.
    async fn warning(&self, scope: &Scope, id: &str) -> Result<Option<WarningRecord>, StoreError>;

    /// Sets a warning's status and supervision case. False if the scope does not see it.
    async fn update_warning(
        &self,
        scope: &Scope,
        id: &str,
        status: WarningStatus,
        case_id: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError>;

    // --- The change outbox (live streams across nodes). ---

    /// Whether this backend writes every case history line to the change outbox as well, for
    /// [`Store::claim_changes`] to hand to the live streams (PostgreSQL: several nodes share it).
    /// When false, the node that wrote a change tells its streams itself.
    fn records_changes(&self) -> bool;

    /// Claims up to `limit` outbox lines whose claim ran out before `now`, oldest first, until
    /// `lease_until` (Unix ms); lines another node is claiming at the same moment are skipped.
    /// A claimer that dies loses its claim when the lease runs out, and another node takes the
    /// lines over. The lines come with their cases' scoping columns.
    async fn claim_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<UnsentChange>, StoreError>;

    /// Removes outbox lines once they were published: `(case_id, seq)` pairs.
    async fn forget_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError>;

    /// Claims alarm outbox lines (alarm history lines written on a store that
    /// [`Store::records_changes`]) like [`Store::claim_changes`], each with its alarm.
    async fn claim_alarm_changes(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<UnsentAlarm>, StoreError>;

    /// Deletes relayed alarm outbox lines, by (alarm id, seq).
    async fn forget_alarm_changes(&self, sent: &[(String, i64)]) -> Result<(), StoreError>;

    // --- Notifications. ---

    /// Stores notifications, in one transaction; with `outbox`, each also gets a pending
    /// webhook delivery due at its own time.
    async fn notify(&self, notifications: &[Notification], outbox: bool) -> Result<(), StoreError>;

    /// Pending deliveries due by `now`, oldest first.
    async fn deliveries_due(&self, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Claims up to `limit` pending deliveries due by `now` for one worker until `lease_until`:
    /// they stop being due for the others (their next attempt moves to the lease's end), and
    /// deliveries another worker is claiming at the same moment are skipped. The worker records
    /// each attempt ([`Store::record_delivery`]); one that dies leaves its claims to be retried
    /// when the lease runs out. So several worker nodes never send one delivery at once.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// When the next pending delivery is due.
    async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError>;

    /// Records an attempt.
    async fn record_delivery(
        &self,
        id: i64,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Deliveries, newest first, optionally only those with a status (the dead-letter list is
    /// `Dead`).
    async fn deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Puts a dead delivery back in the queue, due at `now`. False if it is not dead.
    async fn retry_delivery(&self, id: i64, now: i64) -> Result<bool, StoreError>;

    /// An account's inbox, newest first: what was sent to it, to its organisation, or to its
    /// organisation's holders of one of its roles.
    async fn inbox(&self, account: &Account, limit: u32) -> Result<Vec<Notification>, StoreError>;

    // --- The sensing hub: devices, telemetry, alarm-rule state and alarms. ---

    /// Registers a device. `Conflict` if its id or token hash is taken; `Forbidden` outside the
    /// scope.
    async fn create_device(&self, scope: &Scope, device: &NewDevice) -> Result<(), StoreError>;

    /// Registers many devices in one transaction, all or none (bulk registration, the demo).
    async fn create_devices(&self, scope: &Scope, devices: &[NewDevice]) -> Result<(), StoreError>;

    /// Devices the scope sees, by id.
    async fn devices(
        &self,
        scope: &Scope,
        filter: &DeviceFilter,
    ) -> Result<Vec<DeviceRecord>, StoreError>;

    /// One device the scope sees.
    async fn device(&self, scope: &Scope, id: &str) -> Result<Option<DeviceRecord>, StoreError>;

    /// The device a token hash belongs to (how devices authenticate).
    async fn device_by_token(&self, token_hash: &str) -> Result<Option<DeviceRecord>, StoreError>;

    /// Every device's resume point, for the pipeline's start; with `ids`, only those devices'
    /// (a node of a cluster catching up with what another node judged).
    async fn device_resumes(&self, ids: Option<&[String]>)
    -> Result<Vec<DeviceResume>, StoreError>;

    /// Changes a device's name, disabled flag and rule override at `now`. False if the scope
    /// does not see it.
    async fn update_device(
        &self,
        scope: &Scope,
        device: &DeviceRecord,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Writes one telemetry group commit in one transaction. Returns how many readings were
    /// new (a resent reading is stored once).
    async fn write_telemetry(&self, batch: &TelemetryBatch) -> Result<u64, StoreError>;

    /// Deletes these devices' readings older than `before` (retention), in one transaction;
    /// returns how many. Callers pass a few hundred devices at a time, so telemetry commits are
    /// never held up for long.
    async fn purge_readings(&self, device_ids: &[String], before: i64) -> Result<u64, StoreError>;

    /// Keeps the raw readings' storage in shape, where the backend partitions it by day
    /// (PostgreSQL): creates the daily partitions covering `[from, to)` that are missing, moving
    /// into them any readings the catch-all partition holds for their days, and drops whole
    /// partitions that end at or before `drop_before` (retention). Several nodes may call it at
    /// once. Returns (partitions created, partitions dropped); (0, 0) on SQLite.
    async fn maintain_readings(
        &self,
        from: i64,
        to: i64,
        drop_before: Option<i64>,
    ) -> Result<(u32, u32), StoreError>;

    /// Deletes these devices' rollups of `width` seconds whose bucket starts before `before`
    /// (their own, longer retention), in one transaction; returns how many.
    async fn purge_rollups(
        &self,
        device_ids: &[String],
        width: i64,
        before: i64,
    ) -> Result<u64, StoreError>;

    /// A device's readings in `[from, to)`, oldest first, at most `limit`.
    async fn readings(
        &self,
        device_id: &str,
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError>;

    /// A device's rollups of `key` at `width` seconds (one of [`ROLLUP_WIDTHS`]) whose buckets
    /// start in `[from, to)`, oldest first.
    async fn rollups(
        &self,
        device_id: &str,
        key: &str,
        width: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<Rollup>, StoreError>;

    /// A device's newest readings, newest first.
    async fn latest_readings(
        &self,
        device_id: &str,
        limit: u32,
    ) -> Result<Vec<Reading>, StoreError>;

    /// Alarms the scope sees, newest change first.
    async fn alarms(
        &self,
        scope: &Scope,
        filter: &AlarmFilter,
    ) -> Result<Vec<AlarmRecord>, StoreError>;

    /// One alarm the scope sees.
    async fn alarm(&self, scope: &Scope, id: &str) -> Result<Option<AlarmRecord>, StoreError>;

    /// An alarm's history, oldest first.
    async fn alarm_history(&self, alarm_id: &str) -> Result<Vec<AlarmEvent>, StoreError>;

    /// Every alarm not cleared, for the pipeline's start; with `devices`, only those devices'.
    async fn open_alarms(&self, devices: Option<&[String]>)
    -> Result<Vec<AlarmRecord>, StoreError>;

    /// Writes alarm changes made outside the pipeline (an operator's acknowledgement, a case
    /// opened) in one transaction.
    async fn write_alarms(&self, writes: &[AlarmWrite]) -> Result<(), StoreError>;

    // --- The audit log: append-only; the database refuses updates and deletes. ---

    /// Appends an entry.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Entries the scope sees, newest first, at most `limit`, older than `before` (an entry id).
    async fn audit(
        &self,
        scope: &Scope,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<(i64, AuditEntry)>, StoreError>;
}

/// The one check every create makes before writing: the new record must lie within the caller's
/// jurisdiction ([`Scope::manages`]). Backends call these first thing.
pub mod guard {
    use wanxiang_core::{Department, Entity, NewAccount, Org, Scope};

    use crate::StoreError;

    fn check(scope: &Scope, org: &Org, what: String) -> Result<(), StoreError> {
        if scope.manages(org) {
            Ok(())
        } else {
            Err(StoreError::OutOfScope(format!(
                "{} may not create {what}",
                scope.describe()
            )))
        }
    }

    /// Guards [`crate::Store::create_device`]: a unit's staff place devices within their subtree;
    /// a department or an entity registers only devices it owns itself.
    pub fn device(
        scope: &Scope,
        area: &wanxiang_core::UnitCode,
        org: &str,
    ) -> Result<(), StoreError> {
        let ok = match scope {
            Scope::System { .. } => true,
            Scope::Subtree(root) => root.encloses(area),
            Scope::Department(d) => d.to_string() == org,
            Scope::Entity(id) => org == format!("entity:{id}"),
            Scope::Own(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::OutOfScope(format!(
                "{} may not register a device in {area} owned by {org}",
                scope.describe()
            )))
        }
    }

    /// Guards [`crate::Store::create_account`].
    pub fn account(scope: &Scope, a: &NewAccount) -> Result<(), StoreError> {
        check(scope, &a.org, format!("an account in {}", a.org.key()))
    }

    /// Guards [`crate::Store::create_entity`]: its unit and its whole service area.
    pub fn entity(scope: &Scope, e: &Entity) -> Result<(), StoreError> {
        for unit in std::iter::once(&e.unit).chain(&e.service_area) {
            check(
                scope,
                &Org::Entity {
                    id: e.id.clone(),
                    unit: unit.clone(),
                },
                format!("an entity working in {unit}"),
            )?;
        }
        Ok(())
    }

    /// Guards [`crate::Store::create_department`].
    pub fn department(scope: &Scope, d: &Department) -> Result<(), StoreError> {
        check(
            scope,
            &Org::Department(d.code.clone()),
            format!("department {}", d.code),
        )
    }
}

/// What [`Store::write_intake`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntakeWritten {
    /// Per write of the batch, in order.
    pub created: Vec<CaseCreated>,
    /// Each case a link of the batch joined, once, read in the batch's transaction after its
    /// writes: the case and its parts, alarms included (callers show them to staff only), its
    /// history only as its last [`JOINED_HISTORY_LINES`] lines (lines are numbered from 1 without
    /// gaps, so the last one's number is how many there are).
    pub joined: Vec<(CaseRecord, CaseParts)>,
}

tokio::task_local! {
    /// The name of the store operation the current task is running, as its caller gave it.
    static OP: &'static str;
}

/// Runs `f` as the store operation `op`: what a backend measures inside it (how long it waited
/// for and held SQLite's one write lock) is labelled with that name. The API's metered store
/// names every call this way.
pub async fn as_op<F: std::future::Future>(op: &'static str, f: F) -> F::Output {
    OP.scope(op, f).await
}

/// The store operation the current task is running (see [`as_op`]), or `unnamed`.
pub fn current_op() -> &'static str {
    OP.try_with(|op| *op).unwrap_or("unnamed")
}

/// How many of its last history lines a joined case is read with in [`IntakeWritten::joined`]:
/// the answer to a linked report shows the case's latest progress, and a case that many reports
/// joined (a city-wide incident) would otherwise make every new report's answer, and the
/// intake's writer, read its whole history.
pub const JOINED_HISTORY_LINES: usize = 10;

/// What [`Store::create_case`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseCreated {
    /// The case was stored.
    New,
    /// A case with the same channel and external id exists already: its id.
    Existing(String),
}

/// Counts behind the event hub's indicators; see `GET /api/v1/stats` for the formulas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseStats {
    /// Cases reported in the period.
    pub intake: u64,
    /// Of those, dispatched at least once (no longer waiting to be registered or dispatched).
    pub dispatched: u64,
    /// Of those, closed.
    pub closed: u64,
    /// Closed without ever going overdue.
    pub closed_on_time: u64,
    /// Handled (reported done at least once) without the handling stage going overdue.
    pub handled_on_time: u64,
    /// Handled at least once.
    pub handled: u64,
    /// With at least one failed verification.
    pub reworked: u64,
    /// With at least one granted extension.
    pub extended: u64,
    /// Currently overdue and open.
    pub overdue_open: u64,
    /// Rated.
    pub rated: u64,
    /// Rated very satisfied, satisfied or fairly satisfied.
    pub satisfied: u64,
    /// Rated with an answer to "was it solved?".
    pub resolution_answered: u64,
    /// Of those, answered yes.
    pub resolved: u64,
    /// The 90th percentile (nearest rank) of (closing time − report time) over closed cases, in ms.
    pub handling_ms_p90: Option<i64>,
    /// Sum and count of (closing time − report time) over closed cases, in ms.
    pub handling_ms_sum: i64,
    /// Per category code: cases reported.
    pub by_category: Vec<(String, u64)>,
    /// Per day (`YYYY-MM-DD`, China Standard Time): cases reported, in date order.
    pub per_day: Vec<(String, u64)>,
    /// The ten units (usually grids) with the most reports, most first.
    pub hotspots: Vec<(String, u64)>,
    /// Reports per intake channel (wire name), most first.
    pub by_channel: Vec<(String, u64)>,
}

/// One area's figures for a ranking of units (see [`Store::case_stats_by_area`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaCounts {
    /// The area: the first characters of the cases' area codes (a street or community code).
    pub area: String,
    /// Cases reported in the period.
    pub intake: u64,
    /// Of those, closed.
    pub closed: u64,
    /// Open and past a due time.
    pub overdue_open: u64,
    /// Handled (at least once).
    pub handled: u64,
    /// Handled without the handling stage going overdue.
    pub handled_on_time: u64,
    /// Rated by the reporter.
    pub rated: u64,
    /// Rated at least fairly satisfied.
    pub satisfied: u64,
}

/// Which cases to list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Only cases at this stage.
    pub stage: Option<Stage>,
    /// Only cases with this responsible organisation key.
    pub assignee: Option<String>,
    /// Only cases of this category.
    pub category: Option<String>,
    /// Only cases reported at or after this time (Unix ms).
    pub since: Option<i64>,
    /// `Some(true)`: only open cases (not closed or rejected); `Some(false)`: only finished ones.
    pub open: Option<bool>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    /// New display name.
    pub display_name: Option<String>,
    /// New roles (sorted, without repeats).
    pub roles: Option<Vec<Role>>,
    /// Enable or disable.
    pub disabled: Option<bool>,
    /// New password hash, and whether it is the demo password.
    pub password: Option<(String, bool)>,
}

/// A session to store. Only the hash of its token is kept.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the session token, hex.
    pub token_hash: String,
    /// Whose session.
    pub account_id: String,
    /// The CSRF token cookie-authenticated writes must echo in `X-CSRF-Token`.
    pub csrf: String,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Expires (Unix ms).
    pub expires_at: i64,
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The account.
    pub account: Account,
    /// The session's CSRF token.
    pub csrf: String,
    /// When it expires (Unix ms).
    pub expires_at: i64,
}

/// A personal API token to store. Only the hash of its secret is kept.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Token id (shown in listings).
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// What the owner called it.
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    /// Created (Unix ms).
    pub created_at: i64,
}

/// A token as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Token id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Created (Unix ms).
    pub created_at: i64,
    /// Last used (Unix ms), if ever.
    pub last_used_at: Option<i64>,
    /// Revoked (Unix ms), if so.
    pub revoked_at: Option<i64>,
}

/// Encoding of units for the SQL backends, shared so both store exactly the same text.
pub mod codec {
    use wanxiang_core::{Level, Unit, UnitCode};
    use wanxiang_geo::geojson_io;

    use crate::StoreError;

    /// A unit row as both SQL backends hold it.
    #[derive(Debug, Clone)]
    pub struct UnitRow {
        /// Canonical code.
        pub code: String,
        /// Name.
        pub name: String,
        /// Level wire name.
        pub level: String,
        /// Parent code, if any.
        pub parent_code: Option<String>,
        /// Boundary as GeoJSON geometry text, if any.
        pub boundary: Option<String>,
        /// Whether the boundary is generated.
        pub synthetic: bool,
    }

    /// Encodes a unit for writing.
    pub fn encode(unit: &Unit) -> UnitRow {
        UnitRow {
            code: unit.code.to_string(),
            name: unit.name.clone(),
            level: unit.level.as_str().to_owned(),
            parent_code: unit.parent.as_ref().map(ToString::to_string),
            boundary: unit.boundary.as_ref().map(geojson_io::boundary_to_json),
            synthetic: unit.synthetic,
        }
    }

    /// Decodes a unit read back.
    pub fn decode(row: UnitRow) -> Result<Unit, StoreError> {
        let bad = |what: String| StoreError::Corrupt(format!("unit {}: {what}", row.code));
        let code = UnitCode::parse(&row.code).map_err(|e| bad(e.to_string()))?;
        let level = Level::parse(&row.level)
            .ok_or_else(|| bad(format!("unknown level {:?}", row.level)))?;
        let parent = row
            .parent_code
            .as_deref()
            .map(UnitCode::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        let boundary = row
            .boundary
            .as_deref()
            .map(geojson_io::boundary_from_json)
            .transpose()
            .map_err(bad)?;
        Ok(Unit {
            code,
            name: row.name,
            level,
            parent,
            boundary,
            synthetic: row.synthetic,
        })
    }

    /// Roles as stored: comma-separated wire names.
    pub fn encode_roles(roles: &[wanxiang_core::Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Roles read back.
    pub fn decode_roles(text: &str) -> Result<Vec<wanxiang_core::Role>, StoreError> {
        text.split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                wanxiang_core::Role::parse(t)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown role {t:?}")))
            })
            .collect()
    }

    /// Unit codes as stored: comma-separated.
    pub fn encode_codes(codes: &[UnitCode]) -> String {
        codes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Unit codes read back.
    pub fn decode_codes(text: &str) -> Result<Vec<UnitCode>, StoreError> {
        text.split(',')
            .filter(|t| !t.is_empty())
            .map(|t| UnitCode::parse(t).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    /// One unit code read back.
    pub fn decode_code(text: &str) -> Result<UnitCode, StoreError> {
        UnitCode::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// An organisation read back from its key and area.
    pub fn decode_org(key: &str, area: &str) -> Result<wanxiang_core::Org, StoreError> {
        use wanxiang_core::{DeptCode, Org};
        if let Some(id) = key.strip_prefix("entity:") {
            return Ok(Org::Entity {
                id: id.to_owned(),
                unit: decode_code(area)?,
            });
        }
        if let Some(d) = DeptCode::parse(key) {
            return Ok(Org::Department(d));
        }
        Ok(Org::Unit(decode_code(key)?))
    }

    /// An account row as both SQL backends hold it.
    #[derive(Debug, Clone)]
    pub struct AccountRow {
        /// Id.
        pub id: String,
        /// Username.
        pub username: String,
        /// Display name.
        pub display_name: String,
        /// Organisation key.
        pub org: String,
        /// Governing unit code.
        pub area_code: String,
        /// Comma-separated roles.
        pub roles: String,
        /// Demo password flag.
        pub demo_password: bool,
        /// Disabled flag.
        pub disabled: bool,
        /// Created (Unix ms).
        pub created_at: i64,
    }

    /// Decodes an account row.
    pub fn decode_account(row: AccountRow) -> Result<wanxiang_core::Account, StoreError> {
        Ok(wanxiang_core::Account {
            org: decode_org(&row.org, &row.area_code)?,
            roles: decode_roles(&row.roles)?,
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            disabled: row.disabled,
            demo_password: row.demo_password,
            created_at: row.created_at,
        })
    }

    /// Decodes an entity row.
    #[allow(clippy::too_many_arguments)]
    pub fn decode_entity(
        id: String,
        name: String,
        kind: &str,
        area_code: &str,
        service_area: &str,
        created_at: i64,
    ) -> Result<wanxiang_core::Entity, StoreError> {
        Ok(wanxiang_core::Entity {
            kind: wanxiang_core::EntityKind::parse(kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown entity kind {kind:?}")))?,
            unit: decode_code(area_code)?,
            service_area: decode_codes(service_area)?,
            id,
            name,
            created_at,
        })
    }

    /// Orders a batch so that parents are written before their children.
    pub fn parents_first(units: &[Unit]) -> Vec<&Unit> {
        let mut sorted: Vec<&Unit> = units.iter().collect();
        sorted.sort_by_key(|u| (u.level, u.code.clone()));
        sorted
    }
}

#[cfg(test)]
mod op_tests {
    use super::{as_op, current_op};

    #[tokio::test]
    async fn a_store_operation_is_named_for_the_task_running_it() {
        assert_eq!(current_op(), "unnamed");
        let inner = as_op("write_intake", async {
            tokio::task::yield_now().await;
            current_op()
        })
        .await;
        assert_eq!(inner, "write_intake");
        assert_eq!(current_op(), "unnamed", "and only while it runs");
    }
}
