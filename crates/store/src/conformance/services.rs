//! Conformance cases for 一网通办's part of the store: registers and their access log, model
//! versions, applications (offers unique per key, versioned updates with their history,
//! decision and certificate written together), certificates and signing keys.

use crate::StoreError;
use crate::conformance::Harness;
use crate::services::{
    ApplicationFilter, ApplicationRecord, ApplicationStep, ApplicationUpdate, Birth, Certificate,
    DecisionRecord, Enterprise, Person, RegisterAccess, SigningKey,
};

fn person(id: &str, phone: Option<&str>, born: &str) -> Person {
    Person {
        id: id.into(),
        name: "测试".into(),
        gender: "female".into(),
        birth_date: born.into(),
        phone: phone.map(Into::into),
        community: "440303001001".into(),
        household: "H1".into(),
        facts: "{}".into(),
        demo: true,
    }
}

fn application(id: &str, offer_key: Option<&str>) -> ApplicationRecord {
    ApplicationRecord {
        id: id.into(),
        item: "0500001001".into(),
        department: "440303D07".into(),
        mode: "proactive".into(),
        state: "offered".into(),
        deciding: false,
        person: "P1".into(),
        enterprise: None,
        account: None,
        form: "{}".into(),
        offer_key: offer_key.map(Into::into),
        bundle: None,
        created_at: 1_000,
        updated_at: 1_000,
        due_at: None,
        decision: None,
        certificate: None,
        rating: None,
        version: 0,
        overdue: false,
        countersign: None,
        assignee: None,
    }
}

fn step(at: i64, action: &str, from: &str, to: &str) -> ApplicationStep {
    ApplicationStep {
        at,
        actor: "system".into(),
        role: "system".into(),
        action: action.into(),
        from: from.into(),
        to: to.into(),
        note: None,
    }
}

/// Registers: upserts, lookups by phone, birth date range, legal representative and parent.
pub async fn registers_answer_lookups_and_log_access(h: &impl Harness) {
    let store = h.open().await.unwrap();
    let s = store.services();
    assert_eq!(s.count_people().await.unwrap(), 0);
    s.put_people(&[
        person("P1", Some("13900000001"), "1946-11-27"),
        person("P2", None, "1990-01-01"),
    ])
    .await
    .unwrap();
    // An upsert replaces.
    let mut p2 = person("P2", None, "1990-01-02");
    p2.name = "改名".into();
    s.put_people(&[p2.clone()]).await.unwrap();
    assert_eq!(s.count_people().await.unwrap(), 2);
    assert_eq!(s.person("P2").await.unwrap(), Some(p2));
    assert_eq!(
        s.person_by_phone("13900000001")
            .await
            .unwrap()
            .map(|p| p.id),
        Some("P1".into())
    );
    let born: Vec<String> = s
        .people_born_between("1946-11-01", "1946-11-30")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(born, ["P1"]);
    s.put_enterprises(&[Enterprise {
        uscc: "E1".into(),
        name: "店".into(),
        legal_rep: "P2".into(),
        community: "440303001001".into(),
        registered_on: "2020-01-01".into(),
        credit: "good".into(),
        facts: "{}".into(),
        demo: true,
    }])
    .await
    .unwrap();
    assert_eq!(s.enterprises_of("P2").await.unwrap().len(), 1);
    assert!(s.enterprises_of("P1").await.unwrap().is_empty());
    let birth = Birth {
        id: "B1".into(),
        child_name: "小".into(),
        child_id: None,
        mother: "P1".into(),
        father: Some("P2".into()),
        born_on: "2026-11-28".into(),
        hospital: "医院".into(),
        registered_at: 5_000,
        demo: true,
    };
    s.put_births(std::slice::from_ref(&birth)).await.unwrap();
    // Known births are left alone.
    s.put_births(&[Birth {
        hospital: "别处".into(),
        ..birth.clone()
    }])
    .await
    .unwrap();
    assert_eq!(s.births_since(5_000).await.unwrap(), vec![birth.clone()]);
    assert!(s.births_since(5_001).await.unwrap().is_empty());
    assert_eq!(s.births_of_parent("P2").await.unwrap(), vec![birth]);
    let access = |at, purpose: &str| RegisterAccess {
        at,
        account: "a1".into(),
        purpose: purpose.into(),
        register: "population".into(),
        subject: "P1".into(),
        fields: "age".into(),
    };
    s.log_access(&[access(1, "application:x"), access(2, "offer:y")])
        .await
        .unwrap();
    let log: Vec<String> = s
        .register_access("P1", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.purpose)
        .collect();
    assert_eq!(log, ["offer:y", "application:x"], "newest first");
    assert!(s.register_access("P2", 10).await.unwrap().is_empty());
}

/// Models are versioned 1, 2, …; the highest is in force; old versions stay readable.
pub async fn decision_models_are_versioned(h: &impl Harness) {
    let store = h.open().await.unwrap();
    let s = store.services();
    assert!(s.model("X", None).await.unwrap().is_none());
    assert_eq!(
        s.put_model("X", "{\"v\":1}", "catalogue", 1).await.unwrap(),
        1
    );
    assert_eq!(s.put_model("X", "{\"v\":2}", "admin", 2).await.unwrap(), 2);
    assert_eq!(s.put_model("Y", "{}", "admin", 3).await.unwrap(), 1);
    assert_eq!(
        s.model("X", None).await.unwrap().unwrap().model,
        "{\"v\":2}"
    );
    assert_eq!(
        s.model("X", Some(1)).await.unwrap().unwrap().model,
        "{\"v\":1}"
    );
    let versions: Vec<i64> = s
        .model_versions("X")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions, [2, 1]);
}

/// Applications: one offer per key, versioned updates with history, decision and certificate
/// stored with the update, scoped listing, certificates and keys.
pub async fn applications_keep_offers_unique_and_updates_versioned(h: &impl Harness) {
    let store = h.open().await.unwrap();
    let s = store.services();
    assert!(
        s.create_application(
            &application("A1", Some("k1")),
            &step(1_000, "offer", "offered", "offered")
        )
        .await
        .unwrap()
    );
    assert!(s.offer_exists("k1").await.unwrap());
    assert!(!s.offer_exists("k2").await.unwrap());
    // The same offer key again stores nothing.
    assert!(
        !s.create_application(
            &application("A2", Some("k1")),
            &step(1_000, "offer", "offered", "offered")
        )
        .await
        .unwrap()
    );
    assert!(s.application("A2").await.unwrap().is_none());
    let decision = DecisionRecord {
        id: "D1".into(),
        application: "A1".into(),
        item: "0500001001".into(),
        model_version: 1,
        inputs: "{\"applicant\":{\"age\":80}}".into(),
        output: "{\"failures\":[]}".into(),
        trace: "[]".into(),
        failures: "[]".into(),
        approved: true,
        at: 2_000,
    };
    let certificate = Certificate {
        id: "C1".into(),
        item: "0500001001".into(),
        name: "通知书".into(),
        holder: "P1".into(),
        holder_name: "测试".into(),
        department: "440303D07".into(),
        application: Some("A1".into()),
        issued_at: 2_000,
        expires_on: Some("2031-11-30".into()),
        revoked_at: None,
        revoked_reason: None,
        body: "{}".into(),
        signature: "sig".into(),
        key_id: "k".into(),
    };
    let update = |version, decision: Option<DecisionRecord>, certificate: Option<Certificate>| {
        ApplicationUpdate {
            id: "A1".into(),
            expected_version: version,
            state: "approved".into(),
            deciding: false,
            form: Some("{\"x\":1}".into()),
            enterprise: None,
            assignee: Some("reviewer-1".into()),
            due_at: Some(9_000),
            rating: None,
            step: step(2_000, "decide", "pending", "approved"),
            decision,
            certificate,
        }
    };
    let stored = s
        .update_application(&update(
            0,
            Some(decision.clone()),
            Some(certificate.clone()),
        ))
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state, "approved");
    assert_eq!(stored.decision.as_deref(), Some("D1"));
    assert_eq!(stored.certificate.as_deref(), Some("C1"));
    assert_eq!(stored.form, "{\"x\":1}");
    assert_eq!(stored.due_at, Some(9_000));
    assert_eq!(stored.assignee.as_deref(), Some("reviewer-1"));
    // A stale version is a conflict and changes nothing (no second decision stored either).
    let stale = update(
        0,
        Some(DecisionRecord {
            id: "D2".into(),
            ..decision.clone()
        }),
        None,
    );
    assert!(matches!(
        s.update_application(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.decision("D2").await.unwrap().is_none());
    assert_eq!(s.decision("D1").await.unwrap(), Some(decision));
    assert_eq!(s.decisions_of("A1").await.unwrap().len(), 1);
    let history: Vec<String> = s
        .application_history("A1")
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.action)
        .collect();
    assert_eq!(history, ["offer", "decide"]);
    // Listing by person, account and department.
    let mut other = application("A3", None);
    other.person = "P9".into();
    other.account = Some("acc9".into());
    other.department = "440303D08".into();
    other.countersign = Some("440303D03".into());
    other.created_at = 3_000;
    assert!(
        s.create_application(&other, &step(3_000, "create", "draft", "draft"))
            .await
            .unwrap()
    );
    let ids = |f: ApplicationFilter| async move {
        s.applications(&ApplicationFilter { limit: 10, ..f })
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(ApplicationFilter::default()).await, ["A3", "A1"]);
    assert_eq!(
        ids(ApplicationFilter {
            person: Some("P1".into()),
            ..Default::default()
        })
        .await,
        ["A1"]
    );
    assert_eq!(
        ids(ApplicationFilter {
            account: Some("acc9".into()),
            person: Some("P1".into()),
            ..Default::default()
        })
        .await,
        ["A3", "A1"]
    );
    assert_eq!(
        ids(ApplicationFilter {
            departments: Some(vec!["440303D08".into()]),
            ..Default::default()
        })
        .await,
        ["A3"]
    );
    assert_eq!(
        ids(ApplicationFilter {
            departments: Some(vec!["440303D03".into()]),
            ..Default::default()
        })
        .await,
        ["A3"],
        "the countersigning department sees it too"
    );
    assert!(
        ids(ApplicationFilter {
            departments: Some(vec![]),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    // Certificates: by holder, issued since, expiring, revoked once.
    assert_eq!(s.certificate("C1").await.unwrap(), Some(certificate));
    assert_eq!(s.certificates_of("P1").await.unwrap().len(), 1);
    assert_eq!(
        s.certificates_issued("0500001001", 2_000)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.certificates_issued("0500001001", 2_001)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.certificates_expiring("0500001001", "2031-11-01", "2031-12-01")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.revoke_certificate("C1", 5_000, "错发").await.unwrap());
    assert!(!s.revoke_certificate("C1", 6_000, "again").await.unwrap());
    let revoked = s.certificate("C1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(5_000));
    assert!(
        s.certificates_expiring("0500001001", "2031-11-01", "2031-12-01")
            .await
            .unwrap()
            .is_empty()
    );
    // Applications left between submission and decision are found again.
    let mut stuck = application("A5", None);
    stuck.state = "pending".into();
    stuck.deciding = true;
    stuck.updated_at = 500;
    stuck.created_at = 500;
    assert!(
        s.create_application(&stuck, &step(500, "create", "draft", "draft"))
            .await
            .unwrap()
    );
    let found: Vec<String> = s
        .applications_deciding(501, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(found, ["A5"]);
    assert!(s.applications_deciding(500, 10).await.unwrap().is_empty());

    // Deadlines: the earliest open one; marked overdue once.
    let mut waiting = application("A4", None);
    waiting.state = "review".into();
    waiting.due_at = Some(10_000);
    waiting.created_at = 4_000;
    assert!(
        s.create_application(&waiting, &step(4_000, "create", "draft", "draft"))
            .await
            .unwrap()
    );
    assert_eq!(s.next_application_due().await.unwrap(), Some(10_000));
    assert!(s.applications_overdue(9_999, 10).await.unwrap().is_empty());
    let due: Vec<String> = s
        .applications_overdue(10_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(
        due,
        ["A4"],
        "approved A1 has a deadline too, but nothing to decide"
    );
    assert!(
        s.mark_overdue("A4", &step(10_000, "overdue", "review", "review"))
            .await
            .unwrap()
    );
    assert!(
        !s.mark_overdue("A4", &step(10_001, "overdue", "review", "review"))
            .await
            .unwrap()
    );
    assert!(s.application("A4").await.unwrap().unwrap().overdue);
    assert_eq!(s.next_application_due().await.unwrap(), None);
    assert_eq!(s.application_history("A4").await.unwrap().len(), 2);

    // Keys: the first stored wins.
    let key = |id: &str| SigningKey {
        department: "440303D07".into(),
        key_id: id.into(),
        public_key: "pub".into(),
        secret_key: "sec".into(),
        created_at: 1,
    };
    assert!(s.signing_key("440303D07").await.unwrap().is_none());
    assert_eq!(
        s.ensure_signing_key(&key("first")).await.unwrap().key_id,
        "first"
    );
    assert_eq!(
        s.ensure_signing_key(&key("second")).await.unwrap().key_id,
        "first"
    );
}
