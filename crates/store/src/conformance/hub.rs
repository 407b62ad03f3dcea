//! Conformance cases for the event hub's storage beside cases: batched intake, linked
//! duplicates, attachments, warnings, the webhook outbox and the per-day counts.

use wanxiang_core::Scope;
use wanxiang_core::case::{Channel, HistoryEntry, Stage};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::warning::{Kind, Level};

use super::{Harness, code, entry, people, sample_case};
use crate::Store;
use crate::{
    Attachment, AttachmentMeta, CaseCreated, CaseFilter, CaseMark, CaseParts, DeliveryOutcome,
    DeliveryStatus, IntakeWrite, IntakeWritten, LinkedReport, NearQuery, NewCase, NewLink,
    WarningChange, WarningRecord, WarningStatus,
};

fn note(to: Recipient, at: i64) -> Notification {
    Notification {
        id: 0,
        at,
        recipient: to,
        case_id: None,
        kind: "dispatch".into(),
        message: "派遣 / dispatched".into(),
    }
}

fn new_case(id: &str, external: Option<&str>, reporter: Option<&str>) -> NewCase {
    NewCase {
        record: sample_case(
            id,
            "440303001001001",
            Some("440303001000"),
            reporter,
            external,
        ),
        history: vec![entry(1, Stage::Reported, Stage::Reported, "report")],
        notifications: vec![note(
            Recipient::Org {
                org: "440303001000".into(),
                role: None,
            },
            1_000,
        )],
        attachments: Vec::new(),
    }
}

fn report(id: &str, case_id: &str, external: Option<&str>) -> LinkedReport {
    LinkedReport {
        id: id.into(),
        case_id: case_id.into(),
        channel: Channel::Hotline12345,
        external_id: external.map(str::to_owned),
        reporter: Some("id-other".into()),
        reporter_contact: Some("139****1111".into()),
        category: Some("E0509".into()),
        description: "又有人占道 / again".into(),
        lon: 114.106_2,
        lat: 22.547,
        area: code("440303001001001"),
        distance_m: 12.5,
        at: 2_000,
        unlinked_at: None,
        unlinked_to: None,
    }
}

/// A batch is one transaction that answers per case (a repeated external id inside the batch
/// answers `Existing`); near-by queries find it; a linked duplicate appends to the case's
/// history, lets its reporter follow the case, and unlinks into a case of its own.
pub async fn intake_batches_link_and_unlink_duplicates(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let batch = [
        new_case("case-1", Some("ext-1"), Some("id-resident")),
        new_case("case-2", None, None),
        new_case("case-3", Some("ext-1"), None),
    ];
    assert_eq!(
        s.create_cases(&batch, true).await.unwrap(),
        [
            CaseCreated::New,
            CaseCreated::New,
            CaseCreated::Existing("case-1".into())
        ]
    );
    assert_eq!(
        s.deliveries_due(10_000, 10).await.unwrap().len(),
        2,
        "one outbox delivery per stored notification, none for the repeat"
    );
    // A run of cases without external ids is written in multi-row statements: same result.
    let mut bulk = [
        new_case("case-b1", None, None),
        new_case("case-b2", None, None),
    ];
    bulk[1]
        .history
        .push(entry(2, Stage::Reported, Stage::Registered, "register"));
    for c in &mut bulk {
        c.record.lon = 113.9; // away from the searches below
    }
    assert_eq!(
        s.write_intake(
            &[
                IntakeWrite::Case(bulk[0].clone()),
                IntakeWrite::Case(bulk[1].clone())
            ],
            true
        )
        .await
        .unwrap(),
        IntakeWritten {
            created: vec![CaseCreated::New, CaseCreated::New],
            joined: Vec::new(),
        }
    );
    assert_eq!(s.deliveries_due(10_000, 10).await.unwrap().len(), 4);
    let system = Scope::system("test");
    assert_eq!(
        s.case(&system, "case-b2").await.unwrap().unwrap(),
        bulk[1].record,
        "read back exactly"
    );
    assert_eq!(
        s.case_history(&system, "case-b2").await.unwrap(),
        bulk[1].history
    );
    let near = |category: Option<&str>, open_only: bool, since: i64| NearQuery {
        lon_min: 114.1,
        lon_max: 114.11,
        lat_min: 22.54,
        lat_max: 22.55,
        since,
        until: None,
        category: category.map(str::to_owned),
        open_only,
        machines_only: false,
        limit: 10,
    };
    let marks = |v: Vec<CaseMark>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let ids =
        |v: Vec<wanxiang_core::case::CaseRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let found = s.cases_near(&near(Some("E0509"), true, 0)).await.unwrap();
    assert_eq!(
        found[1],
        CaseMark::from(&batch[0].record),
        "a candidate's mark is the case's"
    );
    assert_eq!(marks(found), ["case-2", "case-1"]);
    assert!(
        s.cases_near(&near(Some("E0101"), true, 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.cases_near(&near(None, true, 1_007))
            .await
            .unwrap()
            .is_empty(),
        "too old"
    );
    let far = NearQuery {
        lon_min: 114.2,
        lon_max: 114.3,
        ..near(None, false, 0)
    };
    assert!(s.cases_near(&far).await.unwrap().is_empty());
    // Both were reported at 1,006: before 1,007, not before 1,006.
    let before = |until: i64| NearQuery {
        until: Some(until),
        ..near(None, false, 0)
    };
    assert_eq!(s.cases_near_any(&[before(1_007)]).await.unwrap().len(), 2);
    assert!(s.cases_near_any(&[before(1_006)]).await.unwrap().is_empty());
    // What a detector loads at its start: a span's marks, oldest first, at most a limit.
    let marks = s.case_marks(1_006, 1_008, 10).await.unwrap();
    assert_eq!(
        marks
            .iter()
            .map(|m| (m.id.as_str(), m.created_at))
            .collect::<Vec<_>>(),
        [
            ("case-1", 1_006),
            ("case-2", 1_006),
            ("case-b1", 1_007),
            ("case-b2", 1_007)
        ]
    );
    let c = &batch[0].record;
    assert_eq!(
        marks[0],
        CaseMark {
            id: "case-1".into(),
            channel: Channel::Hotline12345,
            category: Some("E0509".into()),
            lon: c.lon,
            lat: c.lat,
            area: "440303001001001".into(),
            created_at: 1_006,
            stage: c.lifecycle.stage,
        }
    );
    assert_eq!(s.case_marks(1_006, 1_007, 1).await.unwrap().len(), 1);
    assert!(s.case_marks(1_008, 9_000, 10).await.unwrap().is_empty());

    // Link a report (with its reporter's photo) to case-1: history grows, the reporter follows it.
    s.put_attachment(&upload("att-l", "id-other", 1_500))
        .await
        .unwrap();
    let link_entry = HistoryEntry {
        seq: 0,
        ..entry(9, Stage::Dispatched, Stage::Dispatched, "link")
    };
    let r = report("rep-1", "case-1", Some("ext-9"));
    let link = |r: LinkedReport, attachments: &[&str]| {
        IntakeWrite::Link(NewLink {
            report: r,
            entry: link_entry.clone(),
            notifications: Vec::new(),
            attachments: attachments.iter().map(|a| (*a).to_owned()).collect(),
        })
    };
    // In one batch: the link, a new case, and a link to that new case (same transaction).
    let mut fresh = new_case("case-8", None, None);
    fresh.record.category = Some("E0101".into());
    let to_fresh = LinkedReport {
        category: Some("E0101".into()),
        ..report("rep-3", "case-8", None)
    };
    assert_eq!(
        s.write_intake(
            &[
                link(r.clone(), &["att-l"]),
                IntakeWrite::Case(fresh),
                link(to_fresh, &[])
            ],
            false
        )
        .await
        .unwrap()
        .created,
        [CaseCreated::New, CaseCreated::New, CaseCreated::New]
    );
    assert_eq!(
        s.write_intake(
            &[link(report("rep-2", "case-1", Some("ext-9")), &[])],
            false
        )
        .await
        .unwrap(),
        IntakeWritten {
            created: vec![CaseCreated::Existing("case-1".into())],
            joined: Vec::new(),
        },
        "the same external id again: no link, so no case joined"
    );
    assert_eq!(
        s.case_history(&Scope::system("test"), "case-8")
            .await
            .unwrap()
            .last()
            .map(|e| (e.seq, e.command.clone())),
        Some((2, "link".to_owned())),
        "linked to a case of the same batch"
    );
    // Two links to one case in one batch: numbered in order, the photo at its own line.
    s.put_attachment(&upload("att-m", "id-other", 1_600))
        .await
        .unwrap();
    let written = s
        .write_intake(
            &[
                link(report("rep-4", "case-2", None), &[]),
                link(report("rep-5", "case-2", None), &["att-m"]),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(written.created, [CaseCreated::New, CaseCreated::New]);
    // The case both joined, once, as the transaction left it: what a read after it shows.
    let system = Scope::system("test");
    let after = (
        s.case(&system, "case-2").await.unwrap().unwrap(),
        s.case_parts(&system, "case-2", true)
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(written.joined, std::slice::from_ref(&after));
    assert_eq!(
        (
            after.1.history.len(),
            after.1.linked_reports,
            after.1.attachments.len()
        ),
        (3, 2, 1),
        "the report, two links, the photo"
    );
    assert_eq!(
        s.case_history(&Scope::system("test"), "case-2")
            .await
            .unwrap()
            .iter()
            .map(|e| (e.seq, e.command.as_str()))
            .collect::<Vec<_>>(),
        [(1, "report"), (2, "link"), (3, "link")]
    );
    assert_eq!(
        s.attachment_meta("att-m")
            .await
            .unwrap()
            .map(|m| (m.case_id, m.history_seq)),
        Some((Some("case-2".to_owned()), Some(3)))
    );
    assert_eq!(
        s.case_reports(&Scope::system("test"), "case-2")
            .await
            .unwrap()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["rep-4", "rep-5"]
    );
    // A case many reports joined is answered with its last lines only, numbered as they are.
    // (Their reporter follows no other case here.)
    let joining = |id: &str| {
        link(
            LinkedReport {
                reporter: Some("id-many".into()),
                ..report(id, "case-30", None)
            },
            &[],
        )
    };
    let mut many = vec![IntakeWrite::Case(new_case("case-30", None, None))];
    many.extend((0..12).map(|i| joining(&format!("rep-30-{i}"))));
    s.write_intake(&many, false).await.unwrap();
    let written = s.write_intake(&[joining("rep-30-x")], false).await.unwrap();
    let full = s.case_history(&system, "case-30").await.unwrap();
    assert_eq!(full.len(), 14, "the report and thirteen links");
    let [(case, parts)] = written.joined.as_slice() else {
        panic!("one case joined: {:?}", written.joined)
    };
    assert_eq!(case.id, "case-30");
    assert_eq!(parts.linked_reports, 13);
    assert_eq!(
        parts.history,
        full[full.len() - crate::JOINED_HISTORY_LINES..],
        "the last {} lines",
        crate::JOINED_HISTORY_LINES
    );
    assert_eq!(
        s.create_cases(&[new_case("case-4", Some("ext-9"), None)], false)
            .await
            .unwrap(),
        [CaseCreated::Existing("case-1".into())],
        "an external id seen as a linked report"
    );
    let system = Scope::system("test");
    let history = s.case_history(&system, "case-1").await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|e| (e.seq, e.command.as_str()))
            .collect::<Vec<_>>(),
        [(1, "report"), (2, "link")]
    );
    assert_eq!(s.case_followers("case-1").await.unwrap(), ["id-other"]);
    assert_eq!(
        s.attachment_meta("att-l")
            .await
            .unwrap()
            .unwrap()
            .history_seq,
        Some(2),
        "attached at the link's line"
    );
    let follower = Scope::Own("id-other".into());
    assert_eq!(
        ids(s.cases(&follower, &CaseFilter::default()).await.unwrap()),
        ["case-8", "case-2", "case-1"]
    );
    assert_eq!(
        s.case_reports(&system, "case-1").await.unwrap(),
        std::slice::from_ref(&r)
    );
    assert!(
        s.case_reports(&Scope::Own("id-nobody".into()), "case-1")
            .await
            .unwrap()
            .is_empty(),
        "reports only of cases the scope sees"
    );
    // A case's detail reads the same parts at once; the follower sees them, a stranger nothing.
    let parts = s.case_parts(&follower, "case-1", true).await.unwrap();
    assert_eq!(
        parts,
        Some(CaseParts {
            history: history.clone(),
            attachments: s.case_attachments("case-1").await.unwrap(),
            linked_reports: 1,
            alarms: Vec::new(),
        })
    );
    assert_eq!(
        parts.unwrap().attachments.len(),
        1,
        "the linked report's photo"
    );
    assert_eq!(
        s.case_parts(&Scope::Own("id-nobody".into()), "case-1", true)
            .await
            .unwrap(),
        None
    );

    // Unlink it into case-5.
    let mut primary = s.case(&system, "case-1").await.unwrap().unwrap();
    primary.version += 1;
    primary.updated_at = 3_000;
    let split = new_case("case-5", Some("ext-9"), Some("id-other"));
    let unlink_entry = HistoryEntry {
        seq: 0,
        ..entry(9, Stage::Dispatched, Stage::Dispatched, "unlink")
    };
    assert!(
        s.unlink_report(&system, "rep-1", &primary, &unlink_entry, &split, false)
            .await
            .unwrap()
    );
    assert!(
        !s.unlink_report(
            &system,
            "rep-1",
            &primary,
            &unlink_entry,
            &new_case("case-6", None, None),
            false
        )
        .await
        .unwrap(),
        "only once"
    );
    assert!(s.case(&system, "case-6").await.unwrap().is_none());
    let reports = s.case_reports(&system, "case-1").await.unwrap();
    assert_eq!(
        (reports[0].unlinked_at, reports[0].unlinked_to.as_deref()),
        (Some(90), Some("case-5"))
    );
    assert!(s.case_followers("case-1").await.unwrap().is_empty());
    let parts = s.case_parts(&system, "case-1", false).await.unwrap();
    assert_eq!(
        parts.map(|p| p.linked_reports),
        Some(0),
        "unlinked: not counted"
    );
    assert_eq!(
        s.case(&system, "case-1").await.unwrap().unwrap().version,
        primary.version
    );
    assert_eq!(
        s.case(&system, "case-5")
            .await
            .unwrap()
            .unwrap()
            .external_id
            .as_deref(),
        Some("ext-9"),
        "the split case keeps the report's external id"
    );
    assert_eq!(
        s.create_cases(&[new_case("case-7", Some("ext-9"), None)], false)
            .await
            .unwrap(),
        [CaseCreated::Existing("case-5".into())]
    );
}

fn upload(id: &str, owner: &str, at: i64) -> Attachment {
    Attachment {
        meta: AttachmentMeta {
            id: id.into(),
            owner: owner.into(),
            case_id: None,
            history_seq: None,
            name: "井盖.jpg".into(),
            content_type: "image/jpeg".into(),
            size: 4,
            sha256: "ab".repeat(32),
            created_at: at,
        },
        data: vec![0xFF, 0xD8, 0xFF, 0x00],
    }
}

/// The duplicate search's box for machines' cases only (a sensor's, a camera's): it finds those
/// and no one else's, beside a box for every case in the same query.
pub async fn the_near_search_keeps_a_box_to_machines_cases(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let mut cases = Vec::new();
    for (id, channel) in [
        ("case-person", Channel::Hotline12345),
        ("case-sensor", Channel::Sensor),
        ("case-camera", Channel::VideoAi),
        ("case-sensor-closed", Channel::Sensor),
    ] {
        let mut c = new_case(id, None, None);
        c.record.channel = channel;
        if id.ends_with("closed") {
            c.record.lifecycle.stage = Stage::Closed;
        }
        cases.push(c);
    }
    s.create_cases(&cases, false).await.unwrap();
    let r = &cases[0].record;
    let square = |half: f64, machines_only: bool| NearQuery {
        lon_min: r.lon - half,
        lon_max: r.lon + half,
        lat_min: r.lat - half,
        lat_max: r.lat + half,
        since: 0,
        until: None,
        category: Some("E0509".into()),
        open_only: true,
        machines_only,
        limit: 10,
    };
    let ids = |found: Vec<CaseMark>| {
        let mut ids: Vec<String> = found.into_iter().map(|c| c.id).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(s.cases_near(&square(0.001, true)).await.unwrap()),
        ["case-camera", "case-sensor"]
    );
    assert_eq!(
        ids(s.cases_near(&square(0.001, false)).await.unwrap()),
        ["case-camera", "case-person", "case-sensor"]
    );
    // A narrow box elsewhere for everyone's, the wide one here for machines' only.
    let elsewhere = NearQuery {
        lon_min: r.lon + 0.01,
        lon_max: r.lon + 0.011,
        ..square(0.0005, false)
    };
    assert_eq!(
        ids(s
            .cases_near_any(&[elsewhere, square(0.001, true)])
            .await
            .unwrap()),
        ["case-camera", "case-sensor"]
    );
    // Each box keeps its own conditions: open cases of everyone's, machines' closed ones too.
    let closed_too = NearQuery {
        open_only: false,
        ..square(0.001, true)
    };
    assert_eq!(
        ids(s
            .cases_near_any(&[square(0.001, false), closed_too])
            .await
            .unwrap()),
        [
            "case-camera",
            "case-person",
            "case-sensor",
            "case-sensor-closed"
        ]
    );
}

/// An intake batch is one transaction, however its statements travel to the engine: a batch
/// that fails at its last row leaves nothing behind, and a run of new cases and links gives
/// every notification (the links' too) its delivery.
pub async fn an_intake_batch_is_all_or_nothing(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    s.create_cases(&[new_case("case-1", None, None)], false)
        .await
        .unwrap();
    let system = Scope::system("test");
    let noted = |r: LinkedReport| {
        IntakeWrite::Link(NewLink {
            report: r,
            entry: HistoryEntry {
                seq: 0,
                ..entry(9, Stage::Dispatched, Stage::Dispatched, "link")
            },
            notifications: vec![note(Recipient::Account("id-other".into()), 2_000)],
            attachments: Vec::new(),
        })
    };
    // The new case, a link to it and to case-1, then a case whose id is taken. With the outbox
    // the deliveries wait for the notifications' ids; without it the batch is one script that
    // ends with its commit: it stops at the statement that fails, and the transaction is rolled
    // back (the next write finds the connection out of it).
    for outbox in [true, false] {
        let failed = s
            .write_intake(
                &[
                    IntakeWrite::Case(new_case("case-2", None, None)),
                    noted(report("rep-1", "case-2", None)),
                    noted(report("rep-2", "case-1", None)),
                    IntakeWrite::Case(new_case("case-1", None, None)),
                ],
                outbox,
            )
            .await;
        assert!(failed.is_err(), "a case id used twice: {failed:?}");
        assert_eq!(s.case(&system, "case-2").await.unwrap(), None);
        assert!(s.case_reports(&system, "case-1").await.unwrap().is_empty());
        assert_eq!(s.case_history(&system, "case-1").await.unwrap().len(), 1);
        assert!(s.deliveries_due(10_000, 10).await.unwrap().is_empty());
    }

    let written = s
        .write_intake(
            &[
                IntakeWrite::Case(new_case("case-2", None, None)),
                noted(report("rep-1", "case-2", None)),
                noted(report("rep-2", "case-1", None)),
                noted(report("rep-3", "case-1", None)),
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(written.created, vec![CaseCreated::New; 4]);
    let mut joined: Vec<_> = written
        .joined
        .iter()
        .map(|(c, p)| (c.id.as_str(), p.history.len(), p.linked_reports))
        .collect();
    joined.sort_unstable();
    assert_eq!(
        joined,
        [("case-1", 3, 2), ("case-2", 2, 1)],
        "each joined case once, with its new lines"
    );
    assert_eq!(
        s.deliveries_due(10_000, 10).await.unwrap().len(),
        4,
        "the new case's notification and each link's"
    );
}

/// Uploads keep their bytes exactly, attach once and only to their uploader's reports, and the
/// never-attached ones are purged.
pub async fn attachments_attach_once_to_their_owners_case(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    s.create_cases(&[new_case("case-1", None, Some("id-resident"))], false)
        .await
        .unwrap();
    let a = upload("att-1", "id-resident", 100);
    s.put_attachment(&a).await.unwrap();
    s.put_attachment(&upload("att-2", "id-resident", 50))
        .await
        .unwrap();
    assert_eq!(s.attachment("att-1").await.unwrap().unwrap(), a);
    assert_eq!(s.attachment_meta("att-1").await.unwrap().unwrap(), a.meta);
    let ids = ["att-1".to_owned()];
    assert_eq!(
        s.attach(&ids, "id-other", "case-1", 3).await.unwrap(),
        0,
        "not the uploader"
    );
    assert_eq!(s.attach(&ids, "id-resident", "case-1", 3).await.unwrap(), 1);
    assert_eq!(
        s.attach(&ids, "id-resident", "case-1", 4).await.unwrap(),
        0,
        "once"
    );
    let on_case = s.case_attachments("case-1").await.unwrap();
    assert_eq!(
        on_case
            .iter()
            .map(|m| (m.id.as_str(), m.history_seq))
            .collect::<Vec<_>>(),
        [("att-1", Some(3))]
    );
    // A batch attaches the reporter's uploads at line 1.
    s.put_attachment(&upload("att-3", "id-resident", 60))
        .await
        .unwrap();
    let mut c = new_case("case-2", None, Some("id-resident"));
    c.attachments = vec!["att-3".into()];
    s.create_cases(&[c], false).await.unwrap();
    assert_eq!(
        s.attachment_meta("att-3")
            .await
            .unwrap()
            .unwrap()
            .history_seq,
        Some(1)
    );
    assert_eq!(
        s.purge_loose_attachments(80).await.unwrap(),
        1,
        "att-2 only"
    );
    assert!(s.attachment("att-2").await.unwrap().is_none());
    assert!(s.attachment("att-1").await.unwrap().is_some());
}

fn warning(key: &str, area: &str, level: Level, evidence: &[&str], at: i64) -> WarningRecord {
    WarningRecord {
        id: format!("w-{key}-{at}"),
        key: key.into(),
        kind: Kind::Repeat,
        level,
        area: code(area),
        category: Some("E0509".into()),
        evidence: evidence.iter().map(|e| (*e).to_owned()).collect(),
        observed: evidence.len() as f64,
        expected: 3.0,
        message: format!("{level}"),
        status: WarningStatus::Active,
        case_id: None,
        created_at: at,
        updated_at: at,
    }
}

async fn upsert(s: &dyn Store, w: &WarningRecord) -> (WarningRecord, WarningChange) {
    let mut out = s
        .upsert_warnings(std::slice::from_ref(w), false)
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// A detector pass's warnings are stored in one call, in order (a key met twice is raised by the
/// second), and each new or raised one notifies its unit's supervisors in the same write.
pub async fn a_pass_of_warnings_is_stored_with_its_notices(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    assert!(s.upsert_warnings(&[], true).await.unwrap().is_empty());
    let pass = [
        warning("repeat:a", "440303001001", Level::Blue, &["c1", "c2"], 10),
        warning("repeat:b", "440303002001", Level::Yellow, &["c3"], 10),
        warning("repeat:a", "440303001001", Level::Orange, &["c4"], 11),
    ];
    let changes: Vec<_> = s
        .upsert_warnings(&pass, true)
        .await
        .unwrap()
        .into_iter()
        .map(|(w, c)| (w.key, w.level, c))
        .collect();
    assert_eq!(
        changes,
        [
            ("repeat:a".to_owned(), Level::Blue, WarningChange::New),
            ("repeat:b".into(), Level::Yellow, WarningChange::New),
            ("repeat:a".into(), Level::Orange, WarningChange::Raised),
        ]
    );
    let told = |due: Vec<crate::Delivery>| {
        due.into_iter()
            .map(|d| {
                (
                    d.notification.recipient,
                    d.notification.kind,
                    d.notification.at,
                )
            })
            .collect::<Vec<_>>()
    };
    let supervisors = |org: &str| Recipient::Org {
        org: org.into(),
        role: Some(wanxiang_core::Role::Supervisor),
    };
    assert_eq!(
        told(s.deliveries_due(100, 10).await.unwrap()),
        [
            (supervisors("440303001001"), "early_warning".to_owned(), 10),
            (supervisors("440303002001"), "early_warning".into(), 10),
            (supervisors("440303001001"), "early_warning".into(), 11),
        ]
    );
    let raised = s.deliveries_due(100, 10).await.unwrap().remove(2);
    assert!(
        raised
            .notification
            .message
            .starts_with(Level::Orange.name_zh()),
        "{}",
        raised.notification.message
    );
    // Nothing new: nothing stored, nobody told.
    let again = s.upsert_warnings(&pass[..2], true).await.unwrap();
    assert!(again.iter().all(|(_, c)| *c == WarningChange::Unchanged));
    assert_eq!(s.deliveries_due(100, 10).await.unwrap().len(), 3);
}

/// A warning key is stored once; later detections raise it (never lower it) and add evidence;
/// a closed one stays closed; units outside the scope are not seen.
pub async fn warnings_rise_never_fall_and_are_scoped(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let first = warning(
        "repeat:a",
        "440303001001",
        Level::Blue,
        &["c1", "c2", "c3"],
        10,
    );
    let (stored, change) = upsert(&*s, &first).await;
    assert_eq!((stored, change), (first.clone(), WarningChange::New));
    let (_, change) = upsert(
        &*s,
        &warning("repeat:a", "440303001001", Level::Blue, &["c2"], 20),
    )
    .await;
    assert_eq!(change, WarningChange::Unchanged);
    let (stored, change) = upsert(
        &*s,
        &warning(
            "repeat:a",
            "440303001001",
            Level::Yellow,
            &["c1", "c4", "c5"],
            30,
        ),
    )
    .await;
    assert_eq!(change, WarningChange::Raised);
    assert_eq!(
        (
            stored.id.as_str(),
            stored.level,
            stored.evidence.clone(),
            stored.updated_at,
            stored.created_at
        ),
        (
            "w-repeat:a-10",
            Level::Yellow,
            vec![
                "c1".to_owned(),
                "c2".into(),
                "c3".into(),
                "c4".into(),
                "c5".into()
            ],
            30,
            10
        )
    );
    let (stored, change) = upsert(
        &*s,
        &warning("repeat:a", "440303001001", Level::Blue, &["c6"], 40),
    )
    .await;
    assert_eq!(
        (change, stored.level, stored.evidence.len()),
        (WarningChange::Raised, Level::Yellow, 6),
        "more evidence, level kept"
    );
    upsert(
        &*s,
        &warning("repeat:b", "440303002001", Level::Red, &["c9"], 50),
    )
    .await;

    let keys = |v: Vec<WarningRecord>| v.into_iter().map(|w| w.key).collect::<Vec<_>>();
    let system = Scope::system("test");
    assert_eq!(
        keys(s.warnings(&system, true, 10).await.unwrap()),
        ["repeat:b", "repeat:a"]
    );
    assert_eq!(
        keys(
            s.warnings(&Scope::Subtree(code("440303001")), true, 10)
                .await
                .unwrap()
        ),
        ["repeat:a"]
    );
    assert!(
        s.warnings(
            &Scope::Department(wanxiang_core::DeptCode::parse("440303D01").unwrap()),
            true,
            10
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(
        s.warning(&Scope::Subtree(code("440303002")), "w-repeat:a-10")
            .await
            .unwrap()
            .is_none()
    );

    assert!(
        !s.update_warning(
            &Scope::Subtree(code("440303002")),
            "w-repeat:a-10",
            WarningStatus::Closed,
            None,
            60
        )
        .await
        .unwrap()
    );
    assert!(
        s.update_warning(
            &system,
            "w-repeat:a-10",
            WarningStatus::Closed,
            Some("case-9"),
            60
        )
        .await
        .unwrap()
    );
    let closed = s.warning(&system, "w-repeat:a-10").await.unwrap().unwrap();
    assert_eq!(
        (closed.status, closed.case_id.as_deref()),
        (WarningStatus::Closed, Some("case-9"))
    );
    assert_eq!(
        keys(s.warnings(&system, true, 10).await.unwrap()),
        ["repeat:b"]
    );
    assert_eq!(s.warnings(&system, false, 10).await.unwrap().len(), 2);
    let (_, change) = upsert(
        &*s,
        &warning("repeat:a", "440303001001", Level::Red, &["c7"], 70),
    )
    .await;
    assert_eq!(
        change,
        WarningChange::Unchanged,
        "a closed warning stays closed"
    );
}

/// The outbox holds a delivery per notification until it is delivered or dead; dead ones are
/// listed and can be queued again.
pub async fn the_webhook_outbox_retries_and_keeps_dead_letters(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let to = Recipient::Account("id-resident".into());
    s.notify(&[note(to.clone(), 100), note(to.clone(), 200)], true)
        .await
        .unwrap();
    s.notify(&[note(to.clone(), 300)], false).await.unwrap();
    assert_eq!(s.next_delivery_at().await.unwrap(), Some(100));
    let due = s.deliveries_due(150, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let (a, b) = (due[0].id, s.deliveries_due(1_000, 10).await.unwrap()[1].id);
    assert_eq!(
        (
            due[0].status,
            due[0].attempts,
            due[0].notification.recipient.clone()
        ),
        (DeliveryStatus::Pending, 0, to.clone())
    );
    s.record_delivery(
        a,
        &DeliveryOutcome::Failed {
            error: "receiver answered 500".into(),
            retry_at: Some(5_000),
        },
        150,
    )
    .await
    .unwrap();
    assert_eq!(
        s.deliveries_due(1_000, 10)
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [b]
    );
    s.record_delivery(b, &DeliveryOutcome::Delivered, 1_000)
        .await
        .unwrap();
    assert_eq!(s.next_delivery_at().await.unwrap(), Some(5_000));
    s.record_delivery(
        a,
        &DeliveryOutcome::Failed {
            error: "timeout".into(),
            retry_at: None,
        },
        5_000,
    )
    .await
    .unwrap();
    assert_eq!(s.next_delivery_at().await.unwrap(), None);
    let dead = s.deliveries(Some(DeliveryStatus::Dead), 10).await.unwrap();
    assert_eq!(
        dead.iter()
            .map(|d| (d.id, d.attempts, d.last_error.as_deref()))
            .collect::<Vec<_>>(),
        [(a, 2, Some("timeout"))]
    );
    assert_eq!(
        s.deliveries(Some(DeliveryStatus::Delivered), 10)
            .await
            .unwrap()[0]
            .id,
        b
    );
    assert_eq!(s.deliveries(None, 10).await.unwrap().len(), 2);
    assert!(!s.retry_delivery(b, 6_000).await.unwrap(), "only dead ones");
    assert!(s.retry_delivery(a, 6_000).await.unwrap());
    let again = s.deliveries_due(6_000, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (a, 0));
}

/// Where the engine keeps a change outbox, every history line waits in it until a relay claims
/// and forgets it: two relays claiming at once get different lines, a claim hides its lines until
/// its lease ends, and the lines come with their cases' scoping columns. Where it keeps none
/// (one process's store), nothing is ever there to claim.
pub async fn the_change_outbox_holds_each_history_line_until_relayed(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let mut a = new_case("case-o1", None, Some("id-resident"));
    a.history
        .push(entry(2, Stage::Reported, Stage::Registered, "register"));
    let b = new_case("case-o2", None, None);
    s.write_intake(&[IntakeWrite::Case(a), IntakeWrite::Case(b)], false)
        .await
        .unwrap();
    if !s.records_changes() {
        assert!(s.claim_changes(1, 1_000, 10).await.unwrap().is_empty());
        return;
    }
    let (first, second) = tokio::join!(s.claim_changes(1, 1_000, 2), s.claim_changes(1, 1_000, 2));
    let mut lines: Vec<_> = first.unwrap().into_iter().chain(second.unwrap()).collect();
    lines.sort_by(|x, y| (&x.case_id, x.seq).cmp(&(&y.case_id, y.seq)));
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.case_id.as_str(), l.seq, l.command.as_str(), l.stage))
            .collect::<Vec<_>>(),
        [
            ("case-o1", 1, "report", Stage::Reported),
            ("case-o1", 2, "register", Stage::Registered),
            ("case-o2", 1, "report", Stage::Reported),
        ],
        "each line claimed by one relay"
    );
    assert_eq!(
        (
            lines[0].area.as_str(),
            lines[0].assignee.as_deref(),
            lines[0].reporter.as_deref()
        ),
        ("440303001001001", Some("440303001000"), Some("id-resident"))
    );
    assert!(
        s.claim_changes(500, 1_500, 10).await.unwrap().is_empty(),
        "claimed"
    );
    // The relay published case-o1's lines and forgot them, then died before case-o2's.
    s.forget_changes(&[("case-o1".into(), 1), ("case-o1".into(), 2)])
        .await
        .unwrap();
    let back = s.claim_changes(1_001, 2_000, 10).await.unwrap();
    assert_eq!(
        back.iter()
            .map(|l| (l.case_id.as_str(), l.seq))
            .collect::<Vec<_>>(),
        [("case-o2", 1)]
    );
}

/// Two workers claiming due deliveries at once get different ones; a claim hides a delivery from
/// the others until its lease ends, and a recorded attempt replaces the claim.
pub async fn webhook_deliveries_are_claimed_by_one_worker(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let to = Recipient::Account("id-resident".into());
    let notes: Vec<_> = (0..6).map(|i| note(to.clone(), 100 + i)).collect();
    s.notify(&notes, true).await.unwrap();
    let (first, second) = tokio::join!(
        s.claim_deliveries(1_000, 61_000, 4),
        s.claim_deliveries(1_000, 61_000, 4)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut ids: Vec<i64> = first.iter().chain(&second).map(|d| d.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        first.len() + second.len(),
        "claimed twice: {first:?} {second:?}"
    );
    assert_eq!(ids.len(), 6, "every due delivery claimed by one of them");
    assert!(
        s.claim_deliveries(2_000, 62_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.deliveries_due(2_000, 10).await.unwrap().is_empty(),
        "claimed ones are not due"
    );
    // The first worker sends one; the second dies. Its claims come back when the lease ends.
    s.record_delivery(first[0].id, &DeliveryOutcome::Delivered, 2_000)
        .await
        .unwrap();
    let back = s.claim_deliveries(61_000, 121_000, 10).await.unwrap();
    assert_eq!(back.len(), 5);
    assert!(back.iter().all(|d| d.id != first[0].id));
}

/// Per-day counts go back in 24-hour windows from the end; the stats' p90 handling time and
/// 解决率 counts come from closed and rated cases.
pub async fn daily_counts_p90_and_resolution(h: &dyn Harness) {
    const DAY: i64 = 86_400_000;
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let end = 30 * DAY;
    let mut batch = Vec::new();
    for (i, at) in [
        end - 1,
        end - DAY,
        end - DAY - 1,
        end - 3 * DAY + 5,
        end - 10 * DAY,
    ]
    .iter()
    .enumerate()
    {
        let mut c = new_case(&format!("case-{i}"), None, None);
        c.record.created_at = *at;
        batch.push(c);
    }
    // Ten closed cases, handled in 1..=10 hours; two rated with an answer.
    for i in 1..=10i64 {
        let mut c = new_case(&format!("closed-{i:02}"), None, None);
        c.record.created_at = 0;
        c.record.category = Some("E0101".into());
        c.record.lifecycle.stage = Stage::Closed;
        c.record.lifecycle.resolved = match i {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        };
        c.history.push(HistoryEntry {
            seq: 2,
            at: i * 3_600_000,
            ..entry(2, Stage::Handled, Stage::Closed, "verify")
        });
        batch.push(c);
    }
    s.create_cases(&batch, false).await.unwrap();
    let district = Scope::Subtree(code("440303"));
    assert_eq!(
        s.daily_counts(&district, "E0509", end, 4).await.unwrap(),
        [2, 1, 1, 0]
    );
    assert_eq!(
        s.daily_counts(&Scope::Subtree(code("440303002")), "E0509", end, 4)
            .await
            .unwrap(),
        [0, 0, 0, 0]
    );
    let stats = s.case_stats(&district, 0, 1).await.unwrap();
    assert_eq!(
        (
            stats.closed,
            stats.handling_ms_p90,
            stats.resolution_answered,
            stats.resolved
        ),
        (10, Some(9 * 3_600_000), 2, 1)
    );
    let none = s.case_stats(&district, 1, 2).await.unwrap();
    assert_eq!(none.handling_ms_p90, None);
}

/// A supervision pass's marks go in one write: each case read at its version gets its marks,
/// its history line after its last and its notifications (with deliveries); a case changed
/// since it was read, or outside the scope, gets nothing. The backlog detector's counts come per
/// organisation and district, with the first cases by due time, open overdue cases only.
pub async fn supervision_marks_a_pass_in_one_write_and_counts_the_backlog(h: &dyn Harness) {
    use crate::{OverdueGroup, SupervisionMark};
    let s = h.open().await.unwrap();
    super::people(s.as_ref()).await;
    let system = Scope::system("supervision");
    let a = sample_case("case-a", "440303001001", Some("440303001001"), None, None);
    let b = sample_case("case-b", "440303002001", Some("440303002000"), None, None);
    let stale = sample_case(
        "case-stale",
        "440303001001",
        Some("440303001001"),
        None,
        None,
    );
    for c in [&a, &b, &stale] {
        let dispatched = entry(1, Stage::Registered, Stage::Dispatched, "dispatch");
        s.create_case(c, &[dispatched]).await.unwrap();
    }
    // A line appended since the pass read the case (a linked report) does not change its version.
    let link = entry(2, Stage::Dispatched, Stage::Dispatched, "link");
    assert!(
        s.update_case(
            &system,
            &{
                let mut moved = b.clone();
                moved.version = 2;
                moved
            },
            &link
        )
        .await
        .unwrap()
    );
    let b = s.case(&system, "case-b").await.unwrap().unwrap();
    let mark = |c: &wanxiang_core::case::CaseRecord, command: &str, escalate: Option<&str>| {
        let mut c = c.clone();
        c.supervision.warned = true;
        c.supervision.overdue = escalate.is_some();
        c.supervision.escalated_to = escalate.map(str::to_owned);
        c.version += 1;
        c.updated_at = 9_000;
        SupervisionMark {
            entry: HistoryEntry {
                seq: 0,
                at: 9_000,
                actor_id: None,
                actor: "system (supervision)".into(),
                from: c.lifecycle.stage,
                to: c.lifecycle.stage,
                command: command.into(),
                note: format!("{command} {}", c.id),
            },
            notifications: vec![Notification {
                case_id: Some(c.id.clone()),
                ..note(
                    Recipient::Org {
                        org: "440303000000".into(),
                        role: None,
                    },
                    9_000,
                )
            }],
            case: c,
        }
    };
    let mut late = mark(&stale, "warn", None);
    late.case.version = 1; // read at version 0: someone changed it since
    let marks = [
        mark(&a, "warn", None),
        mark(&b, "overdue", Some("440303000000")),
        late,
    ];
    assert_eq!(
        s.mark_supervised(&system, &marks, true).await.unwrap(),
        [true, true, false]
    );
    let stored = |id: &'static str| {
        let s = s.clone();
        async move {
            let system = Scope::system("supervision");
            let c = s.case(&system, id).await.unwrap().unwrap();
            let history = s.case_history(&system, id).await.unwrap();
            (c, history)
        }
    };
    let (ca, ha) = stored("case-a").await;
    assert_eq!(
        (
            ca.supervision.warned,
            ca.supervision.overdue,
            ca.version,
            ca.updated_at
        ),
        (true, false, 2, 9_000)
    );
    assert_eq!(
        ha.iter()
            .map(|e| (e.seq, e.command.as_str()))
            .collect::<Vec<_>>(),
        [(1, "dispatch"), (2, "warn")]
    );
    assert_eq!(ha[1].note, "warn case-a");
    let (cb, hb) = stored("case-b").await;
    assert_eq!(
        (
            cb.supervision.overdue,
            cb.supervision.escalated_to.as_deref(),
            cb.version,
            cb.lifecycle.stage
        ),
        (true, Some("440303000000"), 3, Stage::Dispatched),
        "only the supervision columns change"
    );
    assert_eq!(
        hb.iter()
            .map(|e| (e.seq, e.command.as_str()))
            .collect::<Vec<_>>(),
        [(1, "dispatch"), (2, "link"), (3, "overdue")],
        "numbered after the last line"
    );
    let (cs, hs) = stored("case-stale").await;
    assert_eq!((cs.supervision.warned, cs.version, hs.len()), (false, 1, 1));
    let sent: Vec<Option<String>> = s
        .deliveries(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.notification.case_id)
        .collect();
    assert_eq!(
        sent.len(),
        2,
        "the stale mark's notification is not written"
    );
    assert!(!sent.contains(&Some("case-stale".into())));
    // Outside the scope: nothing.
    let again = mark(&cb, "overdue", Some("440303000000"));
    assert_eq!(
        s.mark_supervised(&Scope::Subtree(code("440303001")), &[again], false)
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(stored("case-b").await.0.version, 3);
    assert!(
        s.mark_supervised(&system, &[], false)
            .await
            .unwrap()
            .is_empty()
    );

    // The backlog: case-b is overdue; add three in one community, two with no unit yet (a
    // department's, counted at the district by the detector) and one closed.
    let overdue = |id: &str, area: &str, org: Option<&str>, due: i64| {
        let mut c = sample_case(id, area, org, None, None);
        c.due_at = Some(due);
        c.supervision.warned = true;
        c.supervision.overdue = true;
        c
    };
    let mut closed = overdue("case-closed", "440303001001", Some("440303001001"), 1);
    closed.lifecycle.stage = Stage::Closed;
    for c in [
        overdue("case-o3", "440303001001", Some("440303001001"), 300),
        overdue("case-o1", "440303001001", Some("440303001001"), 100),
        overdue("case-o2", "440303001001", Some("440303001001"), 200),
        overdue("case-n2", "440303001001", None, 20),
        overdue("case-n1", "440303002001", None, 10),
        closed,
    ] {
        s.create_case(&c, &[]).await.unwrap();
    }
    let ids = |v: &[&str]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let groups = s.overdue_backlog(&system, 2).await.unwrap();
    let seen: Vec<(String, String, u64, Vec<String>)> = groups
        .iter()
        .map(|g: &OverdueGroup| {
            (
                g.org.clone(),
                g.district.clone(),
                g.count,
                g.first.iter().map(|(_, id)| id.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("".into(), "440303".into(), 2, ids(&["case-n1", "case-n2"])),
            (
                "440303001001".into(),
                "440303".into(),
                3,
                ids(&["case-o1", "case-o2"])
            ),
            ("440303002000".into(), "440303".into(), 1, ids(&["case-b"])),
        ]
    );
    assert_eq!(groups[1].first[0].0, Some(100), "with their due times");
    let street = s
        .overdue_backlog(&Scope::Subtree(code("440303001")), 10)
        .await
        .unwrap();
    assert_eq!(
        street
            .iter()
            .map(|g| (g.org.as_str(), g.count, g.first.len()))
            .collect::<Vec<_>>(),
        [("", 1, 1), ("440303001001", 3, 3)],
        "scoped"
    );
}
