//! What the event hub keeps beside cases: batched intake, duplicate reports linked to a case,
//! attachments, early warnings and the webhook outbox. The types the [`crate::Store`] methods of
//! those sections take and return.

use wanxiang_core::Role;
use wanxiang_core::UnitCode;
use wanxiang_core::case::{CaseRecord, Channel, HistoryEntry};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::warning::{Kind, Level};

/// A case to store, with everything that must be written in the same transaction as it.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// The case.
    pub record: CaseRecord,
    /// Its first history lines.
    pub history: Vec<HistoryEntry>,
    /// Who to tell: written only if the case is new.
    pub notifications: Vec<Notification>,
    /// Uploaded attachments (ids) the report names; they become the case's, as of history line 1.
    pub attachments: Vec<String>,
}

/// A duplicate report to link to its case, with what goes with it.
#[derive(Debug, Clone)]
pub struct NewLink {
    /// The report.
    pub report: LinkedReport,
    /// The case's history line recording it (`seq` is assigned by the store).
    pub entry: HistoryEntry,
    /// Who to tell.
    pub notifications: Vec<Notification>,
    /// The reporter's uploads, attached at the link's history line.
    pub attachments: Vec<String>,
}

/// A supervision pass's mark on one case: a yellow warning, or overdue and escalated
/// ([`crate::Store::mark_supervised`]).
#[derive(Debug, Clone)]
pub struct SupervisionMark {
    /// The case as the mark leaves it. Only its `supervision` (warned, overdue, escalated to),
    /// `version` (one more than the one read) and `updated_at` are written.
    pub case: CaseRecord,
    /// The case's history line recording the mark (`seq` is assigned by the store).
    pub entry: HistoryEntry,
    /// Who to tell.
    pub notifications: Vec<Notification>,
}

/// A unit's open overdue cases, for the backlog detector ([`crate::Store::overdue_backlog`]):
/// the cases of one `org` (as stored: a unit code, a department's key, or empty) in one
/// district.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueGroup {
    /// The organisation the cases are assigned to (empty when none).
    pub org: String,
    /// The district (6-digit code) their places lie in.
    pub district: String,
    /// How many there are.
    pub count: u64,
    /// The first of them by due time, then id: (due time, id), at most as many as asked for.
    pub first: Vec<(Option<i64>, String)>,
}

/// One write of the intake's group commit.
#[derive(Debug, Clone)]
pub enum IntakeWrite {
    /// A new case.
    Case(NewCase),
    /// A report linked to an open case (possibly one created earlier in the same batch).
    Link(NewLink),
}

/// Recent cases near a point, for duplicate linking and the early-warning detectors. The box is
/// a coarse prefilter (an index range); callers measure the real distance.
#[derive(Debug, Clone)]
pub struct NearQuery {
    /// West edge (WGS-84 degrees).
    pub lon_min: f64,
    /// East edge.
    pub lon_max: f64,
    /// South edge.
    pub lat_min: f64,
    /// North edge.
    pub lat_max: f64,
    /// Reported at or after this time (Unix ms).
    pub since: i64,
    /// Reported before this time, if given (Unix ms).
    pub until: Option<i64>,
    /// Only this category.
    pub category: Option<String>,
    /// Only cases not yet closed or rejected.
    pub open_only: bool,
    /// Only cases a machine reported (channel `sensor` or `video_ai`): a person's report looks
    /// for them in a wider box than for other people's (the cross-source radius), and a partial
    /// index holds only theirs, so the wide box costs next to nothing.
    pub machines_only: bool,
    /// At most this many, newest first.
    pub limit: u32,
}

impl NearQuery {
    /// The box of ±`radius_m` around a point (a degree of longitude shrinks with the latitude's
    /// cosine), reported from `since`, of any category, stage and channel, at most `limit`.
    pub fn around(lon: f64, lat: f64, radius_m: f64, since: i64, limit: u32) -> NearQuery {
        const METRES_PER_DEGREE: f64 = 111_320.0;
        let dlat = radius_m / METRES_PER_DEGREE;
        let dlon = radius_m / (METRES_PER_DEGREE * lat.to_radians().cos().max(0.01));
        NearQuery {
            lon_min: lon - dlon,
            lon_max: lon + dlon,
            lat_min: lat - dlat,
            lat_max: lat + dlat,
            since,
            until: None,
            category: None,
            open_only: false,
            machines_only: false,
            limit,
        }
    }
}

/// Most alarms [`crate::Store::case_parts`] gives.
pub const CASE_PARTS_ALARMS: u32 = 20;

/// What a case's detail shows beside the case ([`crate::Store::case_parts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseParts {
    /// Its history, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Its attachments, by history line.
    pub attachments: Vec<AttachmentMeta>,
    /// How many reports are linked to it (not counting those unlinked since).
    pub linked_reports: u64,
    /// The alarms that opened or joined it, newest first (when asked for).
    pub alarms: Vec<crate::AlarmRecord>,
}

/// What the early-warning detectors keep of a case ([`crate::Store::case_marks`]), and what the
/// search for the open case a report repeats reads of each candidate
/// ([`crate::Store::cases_near_any`]): a few columns, not the whole case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseMark {
    /// The case id.
    pub id: String,
    /// How it came in.
    pub channel: Channel,
    /// Its minor category, once it has one.
    pub category: Option<String>,
    /// Longitude (WGS-84 degrees).
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// The finest unit code holding the place.
    pub area: String,
    /// When it was created (Unix ms).
    pub created_at: i64,
    /// Its stage in the lifecycle.
    pub stage: wanxiang_core::case::Stage,
}

impl From<&CaseRecord> for CaseMark {
    fn from(c: &CaseRecord) -> CaseMark {
        CaseMark {
            id: c.id.clone(),
            channel: c.channel,
            category: c.category.clone(),
            lon: c.lon,
            lat: c.lat,
            area: c.area.to_string(),
            created_at: c.created_at,
            stage: c.lifecycle.stage,
        }
    }
}

/// A report linked to an earlier open case as its duplicate, instead of opening a case.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedReport {
    /// The report's own id.
    pub id: String,
    /// The case it was linked to.
    pub case_id: String,
    /// How it came in.
    pub channel: Channel,
    /// The sender's own number for it (idempotent resubmission, as for cases).
    pub external_id: Option<String>,
    /// The reporting account: it follows the case (sees it, and gets its progress).
    pub reporter: Option<String>,
    /// Private contact, for staff.
    pub reporter_contact: Option<String>,
    /// Its category (the case's, or what it was classified as).
    pub category: Option<String>,
    /// What the reporter wrote.
    pub description: String,
    /// Where (WGS-84).
    pub lon: f64,
    /// Where (WGS-84).
    pub lat: f64,
    /// The finest unit holding the place.
    pub area: UnitCode,
    /// How far from the case it was linked to, in metres.
    pub distance_m: f64,
    /// When it came in (Unix ms).
    pub at: i64,
    /// When staff unlinked it, if they did.
    pub unlinked_at: Option<i64>,
    /// The case it became when unlinked.
    pub unlinked_to: Option<String>,
}

/// An uploaded file's description (its bytes travel separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    /// Id.
    pub id: String,
    /// The uploading account: only it may attach the file to a report or step.
    pub owner: String,
    /// The case it belongs to, once attached.
    pub case_id: Option<String>,
    /// The history line it was attached with (1 for the report itself).
    pub history_seq: Option<i64>,
    /// The file name as uploaded (sanitised).
    pub name: String,
    /// The checked media type (`image/jpeg`, …).
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex: integrity, and an ETag.
    pub sha256: String,
    /// Uploaded (Unix ms).
    pub created_at: i64,
}

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its description.
    pub meta: AttachmentMeta,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// Whether a warning still stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningStatus {
    /// Standing; shown on the screens.
    Active,
    /// Dealt with (a supervisor closed it).
    Closed,
}

impl WarningStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningStatus::Active => "active",
            WarningStatus::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<WarningStatus> {
        match s {
            "active" => Some(WarningStatus::Active),
            "closed" => Some(WarningStatus::Closed),
            _ => None,
        }
    }
}

/// An early warning as stored: one per detector key, raised in place as evidence grows.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningRecord {
    /// Id.
    pub id: String,
    /// The detector's de-duplication key.
    pub key: String,
    /// Which detector.
    pub kind: Kind,
    /// How serious.
    pub level: Level,
    /// The unit it is about.
    pub area: UnitCode,
    /// The category, for category detectors.
    pub category: Option<String>,
    /// Evidence case ids, oldest first.
    pub evidence: Vec<String>,
    /// The figure that tripped it.
    pub observed: f64,
    /// What it was compared with.
    pub expected: f64,
    /// Bilingual explanation with the figures.
    pub message: String,
    /// Standing or closed.
    pub status: WarningStatus,
    /// The supervision case opened for it, if any.
    pub case_id: Option<String>,
    /// First detected (Unix ms).
    pub created_at: i64,
    /// Last raised or changed (Unix ms).
    pub updated_at: i64,
}

impl WarningRecord {
    /// What its unit's supervisors are told when it is new or raised, as of its `updated_at`.
    pub fn notice(&self) -> Notification {
        Notification {
            id: 0,
            at: self.updated_at,
            recipient: Recipient::Org {
                org: self.area.to_string(),
                role: Some(Role::Supervisor),
            },
            case_id: None,
            kind: "early_warning".into(),
            message: format!(
                "{}（{}）：{}",
                self.level.name_zh(),
                self.kind.name_zh(),
                self.message
            ),
        }
    }
}

/// What [`crate::Store::upsert_warnings`] did with each warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningChange {
    /// A new warning.
    New,
    /// An active warning with the same key got a higher level or more evidence.
    Raised,
    /// Nothing new (same or lower level, no new evidence), or the key's warning was closed.
    Unchanged,
}

/// Where a webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed: the dead-letter list.
    Dead,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// A webhook delivery of one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Id.
    pub id: i64,
    /// What to deliver.
    pub notification: Notification,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (Unix ms).
    pub next_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued (Unix ms).
    pub created_at: i64,
    /// Last attempted or changed (Unix ms).
    pub updated_at: i64,
}

/// How an attempt went, for [`crate::Store::record_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver took it.
    Delivered,
    /// It failed; try again at `retry_at`, or never (`None`: dead).
    Failed {
        /// Why, for operators.
        error: String,
        /// When to try again.
        retry_at: Option<i64>,
    },
}

/// An alarm history line waiting in the alarm outbox to be told to the live streams (PostgreSQL
/// writes one with every alarm history line, like the change outbox for cases), with the alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsentAlarm {
    /// The alarm as it is now.
    pub alarm: crate::AlarmRecord,
    /// The history line's number.
    pub seq: i64,
    /// What the line did (`raised`, `escalated`, `acknowledged`, `cleared` …).
    pub action: String,
    /// When the line was written (Unix ms).
    pub at: i64,
}

/// A case history line waiting in the change outbox to be told to the live streams (PostgreSQL
/// writes one with every history line; see [`crate::Store::records_changes`]), with what a
/// stream needs to judge and show it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsentChange {
    /// The case.
    pub case_id: String,
    /// The history line's number.
    pub seq: i64,
    /// What the line did (`report`, `dispatch`, `accept`, `warn`, `link` …).
    pub command: String,
    /// The case's stage after the line.
    pub stage: wanxiang_core::case::Stage,
    /// When the line was written (Unix ms).
    pub at: i64,
    /// The case's responsible organisation now.
    pub assignee: Option<String>,
    /// The case's finest unit.
    pub area: UnitCode,
    /// The reporting account.
    pub reporter: Option<String>,
}
