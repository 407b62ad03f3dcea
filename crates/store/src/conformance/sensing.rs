//! Conformance cases for the sensing hub's storage: devices, telemetry group commits and alarms.

use wanxiang_core::alarm::{AlarmStatus, Level};
use wanxiang_core::case::Stage;
use wanxiang_core::{DeptCode, Scope};

use super::{Harness, code, entry, people, sample_case};
use crate::{
    AlarmEvent, AlarmFilter, AlarmRecord, AlarmWrite, DeviceFilter, DeviceMark, DeviceRecord,
    NewCase, NewDevice, Reading, StoreError, TelemetryBatch,
};

fn device(id: &str, area: &str, org: &str) -> DeviceRecord {
    DeviceRecord {
        id: id.into(),
        type_code: "water_level".into(),
        name: format!("积水点 {id}"),
        lon: 114.106,
        lat: 22.547,
        area: code(area),
        org: org.into(),
        owner: Some("id-street1".into()),
        installed_on: Some("2026-05-01".into()),
        disabled: false,
        rules: None,
        last_seen: None,
        bad_values: 0,
        bad_by_reason: Vec::new(),
        created_at: 1_000,
    }
}

fn reading(device: &str, ts: i64, level: f64) -> Reading {
    Reading {
        device_id: device.into(),
        ts,
        values: vec![("level_cm".into(), level), ("battery_pct".into(), 88.5)],
    }
}

fn alarm(id: &str, device: &str, level: Level, status: AlarmStatus, at: i64) -> AlarmRecord {
    AlarmRecord {
        id: id.into(),
        device_id: device.into(),
        device_name: format!("积水点 {device}"),
        type_code: "water_level".into(),
        rule: "level_high".into(),
        title: "积水超限 / Water depth".into(),
        level,
        peak: level,
        status,
        value: 20.0,
        lon: 114.106,
        lat: 22.547,
        area: code("440303001001001"),
        org: "440303001".into(),
        case_id: None,
        raised_at: 1_000,
        updated_at: at,
        cleared_at: (status == AlarmStatus::Cleared).then_some(at),
    }
}

fn event(action: &str, level: Level, at: i64) -> AlarmEvent {
    AlarmEvent {
        at,
        action: action.into(),
        level,
        value: 20.0,
        actor: None,
        note: format!("{action} {}", level.as_str()),
    }
}

/// Devices are registered only within the registrar's jurisdiction, their tokens are unique,
/// and they are seen only within scope.
pub async fn devices_are_registered_within_scope_with_unique_tokens(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let street1 = Scope::Subtree(code("440303001"));
    let street2 = Scope::Subtree(code("440303002"));
    let new = |id: &str, token: &str, area: &str, org: &str| NewDevice {
        record: device(id, area, org),
        token_hash: token.into(),
    };
    s.create_device(
        &street1,
        &new("dev-1", "hash-1", "440303001001001", "440303001"),
    )
    .await
    .unwrap();
    // Another street may not place a device here.
    assert!(matches!(
        s.create_device(
            &street2,
            &new("dev-2", "hash-2", "440303001001001", "440303002")
        )
        .await,
        Err(StoreError::OutOfScope(_))
    ));
    // Same id or same token: conflict.
    for (id, token) in [("dev-1", "hash-9"), ("dev-9", "hash-1")] {
        assert!(matches!(
            s.create_device(&street1, &new(id, token, "440303001001001", "440303001"))
                .await,
            Err(StoreError::Conflict(_))
        ));
    }
    // A department registers only devices it owns, anywhere.
    let water = Scope::Department(DeptCode::parse("440303D02").unwrap());
    s.create_device(&water, &new("dev-3", "hash-3", "440303002001", "440303D02"))
        .await
        .unwrap();
    assert!(matches!(
        s.create_device(&water, &new("dev-4", "hash-4", "440303002001", "440303002"))
            .await,
        Err(StoreError::OutOfScope(_))
    ));

    // Bulk registration is all or nothing.
    let bulk = vec![
        new("dev-5", "hash-5", "440303001001001", "440303001"),
        new("dev-6", "hash-1", "440303001001001", "440303001"),
    ];
    assert!(matches!(
        s.create_devices(&street1, &bulk).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.device(&street1, "dev-5").await.unwrap().is_none());

    let ids = |list: Vec<DeviceRecord>| list.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let all = DeviceFilter {
        limit: 100,
        ..DeviceFilter::default()
    };
    assert_eq!(ids(s.devices(&street1, &all).await.unwrap()), ["dev-1"]);
    assert_eq!(ids(s.devices(&street2, &all).await.unwrap()), ["dev-3"]);
    assert_eq!(ids(s.devices(&water, &all).await.unwrap()), ["dev-3"]);
    assert_eq!(
        ids(s.devices(&Scope::system("test"), &all).await.unwrap()),
        ["dev-1", "dev-3"]
    );
    let paged = DeviceFilter {
        after: Some("dev-1".into()),
        limit: 100,
        ..DeviceFilter::default()
    };
    assert_eq!(
        ids(s.devices(&Scope::system("test"), &paged).await.unwrap()),
        ["dev-3"]
    );
    assert!(s.device(&street2, "dev-1").await.unwrap().is_none());
    let stored = s.device(&street1, "dev-1").await.unwrap().unwrap();
    assert_eq!(stored, device("dev-1", "440303001001001", "440303001"));
    assert_eq!(
        s.device_by_token("hash-1").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(s.device_by_token("hash-x").await.unwrap(), None);

    let mut changed = stored.clone();
    changed.disabled = true;
    changed.rules = Some("[]".into());
    assert!(!s.update_device(&street2, &changed, 2_000).await.unwrap());
    assert!(s.update_device(&street1, &changed, 2_000).await.unwrap());
    assert_eq!(s.device(&street1, "dev-1").await.unwrap(), Some(changed));
    // What changed since a time: the device updated at 2,000, not those registered at 1,000.
    let since = |t: i64| DeviceFilter {
        changed_since: Some(t),
        limit: 100,
        ..DeviceFilter::default()
    };
    let system = Scope::system("test");
    assert_eq!(
        ids(s.devices(&system, &since(1_500)).await.unwrap()),
        ["dev-1"]
    );
    assert_eq!(
        ids(s.devices(&system, &since(1_000)).await.unwrap()),
        ["dev-1", "dev-3"]
    );
}

/// A telemetry commit stores each reading once, moves `last_seen` forward only, adds up bad
/// values by reason, and saves the rule state that a restart resumes from.
pub async fn telemetry_is_stored_once_with_marks_and_rule_state(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let street1 = Scope::Subtree(code("440303001"));
    s.create_device(
        &street1,
        &NewDevice {
            record: device("dev-1", "440303001001001", "440303001"),
            token_hash: "hash-1".into(),
        },
    )
    .await
    .unwrap();
    let batch = TelemetryBatch {
        readings: (0..10)
            .map(|i| reading("dev-1", 1_000 + i, i as f64))
            .collect(),
        marks: vec![DeviceMark {
            device_id: "dev-1".into(),
            last_seen: Some(1_009),
            bad: vec![("unknown_key".into(), 2)],
            rule_state: Some(r#"{"level_high":{"active":"blue"}}"#.into()),
        }],
        alarms: Vec::new(),
        claims: Vec::new(),
    };
    assert_eq!(s.write_telemetry(&batch).await.unwrap(), 10);
    // Resent: nothing new, counts still add up, last_seen does not move back.
    let again = TelemetryBatch {
        readings: vec![reading("dev-1", 1_005, 99.0), reading("dev-1", 2_000, 7.25)],
        marks: vec![DeviceMark {
            device_id: "dev-1".into(),
            last_seen: Some(1_001),
            bad: vec![("unknown_key".into(), 1), ("out_of_range".into(), 4)],
            rule_state: None,
        }],
        alarms: Vec::new(),
        claims: Vec::new(),
    };
    assert_eq!(s.write_telemetry(&again).await.unwrap(), 1);
    // Rollups count each stored reading once: the resent 1,005 is not in them.
    let minute = s.rollups("dev-1", "level_cm", 60, 0, 60_000).await.unwrap();
    assert_eq!(
        minute,
        vec![crate::Rollup {
            bucket: 0,
            min: 0.0,
            max: 9.0,
            sum: 45.0 + 7.25,
            count: 11,
            last: 7.25,
            last_ts: 2_000,
        }]
    );
    let hour = s
        .rollups("dev-1", "battery_pct", 3600, 0, 3_600_000)
        .await
        .unwrap();
    assert_eq!((hour.len(), hour[0].count, hour[0].max), (1, 11, 88.5));
    assert!(
        s.rollups("dev-1", "level_cm", 60, 60_000, 120_000)
            .await
            .unwrap()
            .is_empty()
    );
    let got = s.readings("dev-1", 1_004, 2_001, 100).await.unwrap();
    assert_eq!(got.len(), 7);
    assert_eq!(got[1], reading("dev-1", 1_005, 5.0), "the first write wins");
    assert_eq!(got[6], reading("dev-1", 2_000, 7.25));
    assert_eq!(s.readings("dev-1", 0, 10_000, 3).await.unwrap().len(), 3);
    let latest = s.latest_readings("dev-1", 2).await.unwrap();
    assert_eq!(
        latest.iter().map(|r| r.ts).collect::<Vec<_>>(),
        [2_000, 1_009]
    );
    let d = s.device(&street1, "dev-1").await.unwrap().unwrap();
    assert_eq!(d.last_seen, Some(1_009));
    assert_eq!(d.bad_values, 7);
    assert_eq!(
        d.bad_by_reason,
        vec![("unknown_key".into(), 3), ("out_of_range".into(), 4)]
    );
    let resumes = s.device_resumes(None).await.unwrap();
    assert_eq!(resumes.len(), 1);
    assert_eq!(
        resumes[0].rule_state.as_deref(),
        Some(r#"{"level_high":{"active":"blue"}}"#)
    );
    // Retention: readings before a time go, later ones and other devices' stay.
    assert_eq!(
        s.purge_readings(&["dev-1".into(), "dev-x".into()], 1_005)
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        s.readings("dev-1", 0, 10_000, 100).await.unwrap()[0].ts,
        1_005
    );
    // Rollups have a retention of their own, per width: the minute ones go, the hour ones stay.
    assert_eq!(s.purge_rollups(&["dev-1".into()], 60, 1).await.unwrap(), 2);
    assert!(
        s.rollups("dev-1", "level_cm", 60, 0, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.rollups("dev-1", "level_cm", 3600, 0, 3_600_000)
            .await
            .unwrap()
            .len(),
        1
    );
    // An empty state clears it.
    s.write_telemetry(&TelemetryBatch {
        marks: vec![DeviceMark {
            device_id: "dev-1".into(),
            rule_state: Some(String::new()),
            ..DeviceMark::default()
        }],
        ..TelemetryBatch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.device_resumes(None).await.unwrap()[0].rule_state, None);
}

/// A batch that claims devices' rule state at the versions it read commits only if no other
/// commit moved them on meanwhile, and moves them on itself; a stale claim writes nothing at
/// all and names the stale devices. Devices and open alarms can be loaded by id.
pub async fn rule_state_claims_refuse_a_stale_judgement(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let street1 = Scope::Subtree(code("440303001"));
    for id in ["dev-a", "dev-b"] {
        s.create_device(
            &street1,
            &NewDevice {
                record: device(id, "440303001001001", "440303001"),
                token_hash: format!("hash-{id}"),
            },
        )
        .await
        .unwrap();
    }
    let versions = |rs: Vec<crate::DeviceResume>| {
        rs.into_iter()
            .map(|r| (r.device_id, r.state_version))
            .collect::<Vec<_>>()
    };
    let ids = ["dev-b".to_owned(), "dev-a".to_owned()];
    assert_eq!(
        versions(s.device_resumes(Some(&ids)).await.unwrap()),
        [("dev-a".into(), 0), ("dev-b".into(), 0)]
    );
    let judged = |ts: i64, state: &str, claims: Vec<(String, i64)>| TelemetryBatch {
        readings: vec![reading("dev-a", ts, 1.0)],
        marks: vec![DeviceMark {
            device_id: "dev-a".into(),
            rule_state: Some(state.into()),
            ..DeviceMark::default()
        }],
        claims,
        ..TelemetryBatch::default()
    };
    // Node 1 judged both from version 0: it commits and moves both on.
    let one = judged(1_000, "one", vec![("dev-a".into(), 0), ("dev-b".into(), 0)]);
    assert_eq!(s.write_telemetry(&one).await.unwrap(), 1);
    // Node 2 judged dev-a from version 0 too: refused, nothing of it is stored.
    let two = judged(2_000, "two", vec![("dev-a".into(), 0)]);
    match s.write_telemetry(&two).await {
        Err(StoreError::Stale(stale)) => assert_eq!(stale, ["dev-a"]),
        other => panic!("expected a stale claim, got {other:?}"),
    }
    assert_eq!(s.readings("dev-a", 0, 10_000, 10).await.unwrap().len(), 1);
    let now = s.device_resumes(Some(&ids)).await.unwrap();
    assert_eq!(now[0].rule_state.as_deref(), Some("one"));
    assert_eq!(versions(now), [("dev-a".into(), 1), ("dev-b".into(), 1)]);
    // Judged again from the current version, it goes through.
    let again = judged(2_000, "two", vec![("dev-a".into(), 1)]);
    assert_eq!(s.write_telemetry(&again).await.unwrap(), 1);
    assert_eq!(
        versions(s.device_resumes(Some(&ids[1..])).await.unwrap()),
        [("dev-a".into(), 2)]
    );
    // A batch that claims nothing (one node alone) never checks versions.
    assert_eq!(
        s.write_telemetry(&judged(3_000, "three", Vec::new()))
            .await
            .unwrap(),
        1
    );
    // Open alarms by device.
    let alarm = alarm("alarm-b", "dev-b", Level::Blue, AlarmStatus::Active, 1_000);
    s.write_alarms(&[AlarmWrite {
        event: AlarmEvent {
            at: 1_000,
            action: "raised".into(),
            level: alarm.level,
            value: alarm.value,
            actor: None,
            note: String::new(),
        },
        alarm,
        case_note: None,
    }])
    .await
    .unwrap();
    let only_b = s.open_alarms(Some(&["dev-b".into()])).await.unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].id, "alarm-b");
    assert!(
        s.open_alarms(Some(&["dev-a".into()]))
            .await
            .unwrap()
            .is_empty()
    );
}

/// An alarm is one row per device and rule while active, changes keep its history, a cleared
/// one frees the place for the next, and a change notes itself in the alarm's case.
pub async fn alarms_are_one_per_rule_with_history_and_case_notes(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let street1 = Scope::Subtree(code("440303001"));
    let street2 = Scope::Subtree(code("440303002"));
    s.create_device(
        &street1,
        &NewDevice {
            record: device("dev-1", "440303001001001", "440303001"),
            token_hash: "hash-1".into(),
        },
    )
    .await
    .unwrap();
    s.create_cases(
        &[NewCase {
            record: sample_case(
                "case-1",
                "440303001001001",
                Some("440303001000"),
                None,
                None,
            ),
            history: vec![entry(1, Stage::Reported, Stage::Reported, "report")],
            notifications: Vec::new(),
            attachments: Vec::new(),
        }],
        false,
    )
    .await
    .unwrap();
    let write = |a: AlarmRecord, e: AlarmEvent| AlarmWrite {
        alarm: a,
        event: e,
        case_note: None,
    };
    let raised = alarm("al-1", "dev-1", Level::Yellow, AlarmStatus::Active, 1_000);
    s.write_telemetry(&TelemetryBatch {
        readings: vec![reading("dev-1", 1_000, 20.0)],
        alarms: vec![write(raised.clone(), event("raised", Level::Yellow, 1_000))],
        ..TelemetryBatch::default()
    })
    .await
    .unwrap();
    // A second active alarm for the same device and rule is refused.
    let twin = alarm("al-2", "dev-1", Level::Blue, AlarmStatus::Active, 1_001);
    assert!(
        s.write_alarms(&[write(twin, event("raised", Level::Blue, 1_001))])
            .await
            .is_err()
    );
    // Escalation updates the same row, with a case now, and notes the case.
    let mut escalated = alarm("al-1", "dev-1", Level::Red, AlarmStatus::Active, 2_000);
    escalated.case_id = Some("case-1".into());
    let mut note = entry(0, Stage::Reported, Stage::Reported, "alarm");
    note.note = "告警升级 / escalated".into();
    s.write_alarms(&[AlarmWrite {
        alarm: escalated.clone(),
        event: event("escalated", Level::Red, 2_000),
        case_note: Some(note),
    }])
    .await
    .unwrap();
    let history = s
        .case_history(&Scope::system("test"), "case-1")
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| (e.seq, e.command.as_str()))
            .collect::<Vec<_>>(),
        [(1, "report"), (2, "alarm")]
    );
    // The note keeps the case's stage.
    assert_eq!(
        (history[1].from, history[1].to),
        (Stage::Dispatched, Stage::Dispatched)
    );
    assert_eq!(s.alarm(&street1, "al-1").await.unwrap(), Some(escalated));
    assert_eq!(s.alarm(&street2, "al-1").await.unwrap(), None);
    let open = AlarmFilter {
        limit: 10,
        ..AlarmFilter::default()
    };
    assert_eq!(s.alarms(&street1, &open).await.unwrap().len(), 1);
    assert!(s.alarms(&street2, &open).await.unwrap().is_empty());
    assert!(
        s.alarms(&Scope::Own("id-resident".into()), &open)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.open_alarms(None).await.unwrap().len(), 1);

    // Cleared: off the open lists, and a new alarm may take its place.
    // A later write without the case keeps it.
    let mut lowered = alarm("al-1", "dev-1", Level::Orange, AlarmStatus::Active, 2_500);
    lowered.peak = Level::Red;
    s.write_alarms(&[write(lowered, event("deescalated", Level::Orange, 2_500))])
        .await
        .unwrap();
    assert_eq!(
        s.alarm(&street1, "al-1")
            .await
            .unwrap()
            .unwrap()
            .case_id
            .as_deref(),
        Some("case-1")
    );
    let cleared = alarm("al-1", "dev-1", Level::Red, AlarmStatus::Cleared, 3_000);
    s.write_alarms(&[write(cleared, event("cleared", Level::Red, 3_000))])
        .await
        .unwrap();
    assert!(s.open_alarms(None).await.unwrap().is_empty());
    let next = alarm("al-3", "dev-1", Level::Blue, AlarmStatus::Active, 4_000);
    s.write_alarms(&[write(next, event("raised", Level::Blue, 4_000))])
        .await
        .unwrap();
    let cleared_list = AlarmFilter {
        status: Some(AlarmStatus::Cleared),
        limit: 10,
        ..AlarmFilter::default()
    };
    assert_eq!(s.alarms(&street1, &cleared_list).await.unwrap().len(), 1);
    // A case's alarms, in any status: al-1 (cleared) and not al-3 (no case).
    let of_case = AlarmFilter {
        case_id: Some("case-1".into()),
        any_status: true,
        limit: 10,
        ..AlarmFilter::default()
    };
    let got = s.alarms(&street1, &of_case).await.unwrap();
    assert_eq!(
        got.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["al-1"]
    );
    assert!(s.alarms(&street2, &of_case).await.unwrap().is_empty());
    // The case's detail reads them with its other parts, only when asked.
    let system = Scope::system("test");
    let parts = |alarms: bool| {
        let s = &s;
        let system = &system;
        async move {
            s.case_parts(system, "case-1", alarms)
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(parts(true).await.alarms, got);
    assert!(parts(false).await.alarms.is_empty());
    assert_eq!(
        s.alarm_history("al-1")
            .await
            .unwrap()
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["raised", "escalated", "deescalated", "cleared"]
    );
    // The alarm outbox (PostgreSQL): every alarm history line, claimed once, with its alarm as
    // it is now; the refused twin left none.
    if !s.records_changes() {
        assert!(
            s.claim_alarm_changes(1, 1_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        return;
    }
    let (first, second) = tokio::join!(
        s.claim_alarm_changes(1, 1_000, 3),
        s.claim_alarm_changes(1, 1_000, 3)
    );
    let mut lines: Vec<_> = first.unwrap().into_iter().chain(second.unwrap()).collect();
    lines.sort_by(|x, y| (&x.alarm.id, x.seq).cmp(&(&y.alarm.id, y.seq)));
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.alarm.id.as_str(), l.seq, l.action.as_str()))
            .collect::<Vec<_>>(),
        [
            ("al-1", 1, "raised"),
            ("al-1", 2, "escalated"),
            ("al-1", 3, "deescalated"),
            ("al-1", 4, "cleared"),
            ("al-3", 1, "raised"),
        ],
        "each line claimed by one relay"
    );
    assert_eq!(
        lines[0].alarm.status,
        AlarmStatus::Cleared,
        "the alarm as it is now"
    );
    assert!(
        s.claim_alarm_changes(500, 1_500, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let sent: Vec<(String, i64)> = lines[..2]
        .iter()
        .map(|l| (l.alarm.id.clone(), l.seq))
        .collect();
    s.forget_alarm_changes(&sent).await.unwrap();
    // The lease runs out: what was not forgotten is claimed again.
    assert_eq!(
        s.claim_alarm_changes(2_000, 3_000, 10).await.unwrap().len(),
        3
    );
}

/// Partition maintenance (PostgreSQL partitions readings by day) loses no reading, keeps a
/// resend a no-op, is idempotent, and drops whole days past retention; on a backend without
/// partitions it does nothing and retention deletes rows.
pub async fn readings_survive_partition_maintenance_and_retention_drops_whole_days(
    h: &dyn Harness,
) {
    const DAY: i64 = 86_400_000;
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let street1 = Scope::Subtree(code("440303001"));
    s.create_device(
        &street1,
        &NewDevice {
            record: device("dev-1", "440303001001001", "440303001"),
            token_hash: "hash-1".into(),
        },
    )
    .await
    .unwrap();
    // 2026-11-01 00:00 UTC, and readings on three days, written before any partition exists.
    let day0 = 1_793_491_200_000;
    let times = [day0 + 3_600_000, day0 + DAY + 5, day0 + 5 * DAY + 7];
    let batch = TelemetryBatch {
        readings: times.iter().map(|t| reading("dev-1", *t, 1.0)).collect(),
        ..TelemetryBatch::default()
    };
    assert_eq!(s.write_telemetry(&batch).await.unwrap(), 3);
    let partitioned = s.backend() == crate::Backend::Postgres;
    let made = s
        .maintain_readings(day0, day0 + 3 * DAY, None)
        .await
        .unwrap();
    assert_eq!(made, if partitioned { (3, 0) } else { (0, 0) });
    assert_eq!(
        s.maintain_readings(day0, day0 + 3 * DAY, None)
            .await
            .unwrap(),
        (0, 0),
        "idempotent"
    );
    let all = |s: std::sync::Arc<dyn crate::Store>| async move {
        s.readings("dev-1", 0, i64::MAX, 100)
            .await
            .unwrap()
            .iter()
            .map(|r| r.ts)
            .collect::<Vec<_>>()
    };
    assert_eq!(all(s.clone()).await, times, "rows moved, none lost");
    // A resend into a day that now has its partition is still a no-op; a new reading lands.
    let again = TelemetryBatch {
        readings: vec![
            reading("dev-1", times[0], 9.0),
            reading("dev-1", day0 + 2 * DAY, 2.0),
        ],
        ..TelemetryBatch::default()
    };
    assert_eq!(s.write_telemetry(&again).await.unwrap(), 1);
    // Retention before day 1: the first day's partition goes whole; rows elsewhere stay.
    let dropped = s
        .maintain_readings(day0, day0 + 3 * DAY, Some(day0 + DAY))
        .await
        .unwrap();
    assert_eq!(dropped, if partitioned { (0, 1) } else { (0, 0) });
    // What partitions did not cover, row deletion does (on every backend).
    s.purge_readings(&["dev-1".into()], day0 + DAY)
        .await
        .unwrap();
    assert_eq!(all(s.clone()).await, [times[1], day0 + 2 * DAY, times[2]]);
}
