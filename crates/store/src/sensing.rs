//! What the sensing hub keeps: devices, their readings, alarm-rule state, and alarms with their
//! history. The types the [`crate::Store`] methods of that section take and return.

use wanxiang_core::UnitCode;
use wanxiang_core::alarm::{AlarmStatus, Level};
use wanxiang_core::case::HistoryEntry;

/// A registered device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    /// Id (a UUID v7, or the id given at registration).
    pub id: String,
    /// Its device type's code.
    pub type_code: String,
    /// A human name (`东门街道晒布路边坡1号`).
    pub name: String,
    /// WGS-84 longitude.
    pub lon: f64,
    /// WGS-84 latitude.
    pub lat: f64,
    /// The finest unit holding it (grid, else community, street or district); scopes who sees it.
    pub area: UnitCode,
    /// The organisation that owns and maintains it (an org key); its staff see it too.
    pub org: String,
    /// The account that registered it.
    pub owner: Option<String>,
    /// Installation date (`YYYY-MM-DD`), if known.
    pub installed_on: Option<String>,
    /// Disabled by an operator: its data is refused and its alarms are not judged.
    pub disabled: bool,
    /// Rules overriding its type's, as the API's JSON text; `None` uses the type's.
    pub rules: Option<String>,
    /// Time of its newest reading (Unix ms).
    pub last_seen: Option<i64>,
    /// Values refused so far, all reasons together.
    pub bad_values: i64,
    /// Refused values by reason (`unknown_key`, `wrong_type`, `out_of_range`, `bad_time`,
    /// `malformed`).
    pub bad_by_reason: Vec<(String, i64)>,
    /// Registered at (Unix ms).
    pub created_at: i64,
}

/// A device to register with the hash of its access token (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The device.
    pub record: DeviceRecord,
    /// SHA-256 of the access token, hex.
    pub token_hash: String,
}

/// Listing filters for devices.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Only this type.
    pub type_code: Option<String>,
    /// Only devices whose id sorts after this one (keyset paging).
    pub after: Option<String>,
    /// Only devices registered or changed (rules, disabled, name) at or after this time (Unix
    /// ms): how a node hears of devices registered or changed on another.
    pub changed_since: Option<i64>,
    /// At most this many (the store caps it).
    pub limit: u32,
}

/// One device message: one device, one timestamp, its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The device.
    pub device_id: String,
    /// Measurement time (Unix ms); with the device, the reading's identity, so a resent message
    /// is stored once.
    pub ts: i64,
    /// Key and value pairs, checked against the device type.
    pub values: Vec<(String, f64)>,
}

/// What one batch of telemetry changed for a device besides its readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMark {
    /// The device.
    pub device_id: String,
    /// Its newest reading in the batch (Unix ms); the stored value only moves forward.
    pub last_seen: Option<i64>,
    /// Values refused in the batch, by reason; added to the stored counts.
    pub bad: Vec<(String, i64)>,
    /// Its alarm rules' evaluation state, if it changed (the API's encoding; `Some("")` clears).
    pub rule_state: Option<String>,
}

/// An alarm: one per device and rule while active.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRecord {
    /// Id.
    pub id: String,
    /// The device.
    pub device_id: String,
    /// The device's name, for lists.
    pub device_name: String,
    /// The device's type.
    pub type_code: String,
    /// The rule (alarm type) code.
    pub rule: String,
    /// The rule's name in Chinese and English (`积水超限 / Water depth`).
    pub title: String,
    /// Current level.
    pub level: Level,
    /// Highest level it reached.
    pub peak: Level,
    /// Lifecycle status.
    pub status: AlarmStatus,
    /// The judged number at the last change.
    pub value: f64,
    /// The device's place, for scoping and the map.
    pub lon: f64,
    /// The device's place.
    pub lat: f64,
    /// The device's finest unit (scope).
    pub area: UnitCode,
    /// The device's owning organisation (scope).
    pub org: String,
    /// The event-hub case it opened, if any.
    pub case_id: Option<String>,
    /// Raised at (Unix ms).
    pub raised_at: i64,
    /// Last changed at (Unix ms).
    pub updated_at: i64,
    /// Cleared at (Unix ms).
    pub cleared_at: Option<i64>,
}

/// One line of an alarm's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmEvent {
    /// When (Unix ms).
    pub at: i64,
    /// `raised`, `escalated`, `deescalated`, `cleared`, `acknowledged`, `case_opened`.
    pub action: String,
    /// The level after the change.
    pub level: Level,
    /// The judged number.
    pub value: f64,
    /// The operator, if a person acted.
    pub actor: Option<String>,
    /// Words for the history (bilingual).
    pub note: String,
}

/// An alarm change to store with its history line, and the note it adds to its case.
#[derive(Debug, Clone)]
pub struct AlarmWrite {
    /// The alarm as it is after the change (inserted or replaced by id).
    pub alarm: AlarmRecord,
    /// Its history line.
    pub event: AlarmEvent,
    /// A line for the alarm's case history (`seq` assigned by the store), if it has a case.
    pub case_note: Option<HistoryEntry>,
}

/// One group commit of the telemetry pipeline: all in one transaction, so readings, rule state
/// and the alarms they caused are durable together or not at all.
#[derive(Debug, Clone, Default)]
pub struct TelemetryBatch {
    /// Readings to store (a reading already stored is skipped).
    pub readings: Vec<Reading>,
    /// Per-device changes.
    pub marks: Vec<DeviceMark>,
    /// Alarm changes, in order.
    pub alarms: Vec<AlarmWrite>,
    /// On a store several nodes share: each device whose rule state and alarms this batch was
    /// judged from, with the `state_version` that state had. The commit goes through only if
    /// every version is still current (checked under the devices' row locks), and moves each
    /// one on; otherwise nothing is written and [`crate::StoreError::Stale`] names the devices.
    /// Empty on one node alone.
    pub claims: Vec<(String, i64)>,
}

/// Widths of the rollups kept beside the raw readings, in seconds: one minute and one hour.
pub const ROLLUP_WIDTHS: [i64; 2] = [60, 3600];

/// One key of one device over one bucket of time: what `min`, `max`, `avg`, `count` and `last`
/// queries need without the raw readings. Written by the store from the readings it newly
/// stored, in the same transaction, so a resent reading is never counted twice.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    /// The bucket's start (Unix ms, a multiple of the width).
    pub bucket: i64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// How many values.
    pub count: i64,
    /// The newest value …
    pub last: f64,
    /// … and its time (Unix ms).
    pub last_ts: i64,
}

impl Rollup {
    /// A bucket holding one value.
    pub fn of(bucket: i64, ts: i64, v: f64) -> Rollup {
        Rollup {
            bucket,
            min: v,
            max: v,
            sum: v,
            count: 1,
            last: v,
            last_ts: ts,
        }
    }

    /// Folds another bucket's figures into this one.
    pub fn merge(&mut self, o: &Rollup) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.count += o.count;
        if o.last_ts >= self.last_ts {
            self.last = o.last;
            self.last_ts = o.last_ts;
        }
    }
}

/// What a device's evaluation resumes from after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceResume {
    /// The device.
    pub device_id: String,
    /// Its newest reading (Unix ms).
    pub last_seen: Option<i64>,
    /// Its saved rule state.
    pub rule_state: Option<String>,
    /// The version of that state and of its open alarms (see [`TelemetryBatch::claims`]).
    pub state_version: i64,
}

/// Listing filters for alarms.
#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    /// Only alarms in this status; `None` lists active and acknowledged ones.
    pub status: Option<AlarmStatus>,
    /// Only this device's.
    pub device_id: Option<String>,
    /// Only those that opened or joined this case.
    pub case_id: Option<String>,
    /// Every status, cleared ones too (`status` is then ignored).
    pub any_status: bool,
    /// At most this many, newest first (the store caps it).
    pub limit: u32,
}
