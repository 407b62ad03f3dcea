//! The storage conformance suite: every backend runs these same cases.
//!
//! A backend's test file provides a [`Harness`] (how to open a fresh store, and how to make its
//! database look as if a newer Wanxiang had migrated it) and invokes [`conformance_suite!`], which
//! expands to one `#[tokio::test]` per case, as ripgrep's `rgtest!` runs each test per engine.

use std::sync::Arc;

use async_trait::async_trait;
use geo_types::{MultiPolygon, polygon};
use wanxiang_core::{
    AuditEntry, Department, DeptCode, Entity, EntityKind, Level, NewAccount, Org, Role, Scope,
    Unit, UnitCode,
};

use crate::{AccountUpdate, NewApiToken, NewSession, Store, StoreError};

mod hub;
mod sensing;
mod services;
pub use hub::*;
pub use sensing::*;
pub use services::*;

/// What a backend supplies to run the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    /// Opens (migrating) the store of this harness's private database; calling it again opens
    /// the same database anew.
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError>;
    /// Records in the database a migration newer than any this binary knows.
    async fn pretend_newer_schema(&self);
    /// Tries to update and then to delete audit log rows with plain SQL; returns the database's
    /// refusals (both must be `Err`).
    async fn tamper_with_audit(&self) -> (Result<(), String>, Result<(), String>);
}

/// Expands to one test per conformance case. `$harness` is an async expression giving a fresh
/// [`Harness`] for each test.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::conformance_suite!(@cases $harness;
            migrations_are_idempotent, refuses_a_newer_schema, a_new_store_is_empty,
            units_round_trip_exactly, import_is_all_or_nothing, import_replaces_and_bumps_revision,
            accounts_are_seen_only_within_scope, usernames_are_unique, sessions_expire_and_revoke,
            api_tokens_are_hashed_listed_and_revoked, entities_and_departments_are_scoped,
            the_audit_log_is_append_only_and_scoped, cases_are_idempotent_scoped_and_versioned,
            supervision_finds_what_falls_due_and_inboxes_reach_their_recipients,
            intake_batches_link_and_unlink_duplicates, an_intake_batch_is_all_or_nothing,
            the_near_search_keeps_a_box_to_machines_cases,
            attachments_attach_once_to_their_owners_case,
            warnings_rise_never_fall_and_are_scoped, a_pass_of_warnings_is_stored_with_its_notices, the_webhook_outbox_retries_and_keeps_dead_letters,
            webhook_deliveries_are_claimed_by_one_worker,
            supervision_marks_a_pass_in_one_write_and_counts_the_backlog,
            the_change_outbox_holds_each_history_line_until_relayed,
            daily_counts_p90_and_resolution, devices_are_registered_within_scope_with_unique_tokens,
            telemetry_is_stored_once_with_marks_and_rule_state,
            rule_state_claims_refuse_a_stale_judgement,
            alarms_are_one_per_rule_with_history_and_case_notes,
            readings_survive_partition_maintenance_and_retention_drops_whole_days,
            registers_answer_lookups_and_log_access, decision_models_are_versioned,
            applications_keep_offers_unique_and_updates_versioned);
    };
    (@cases $harness:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness.await;
                $crate::conformance::$case(&harness).await;
            }
        )*
    };
}

fn square(x: f64, y: f64, size: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![polygon![
        (x: x, y: y), (x: x + size, y: y), (x: x + size, y: y + size), (x: x, y: y + size), (x: x, y: y)
    ]])
}

fn unit(code: &str, name: &str, boundary: Option<MultiPolygon<f64>>, synthetic: bool) -> Unit {
    let code = UnitCode::parse(code).expect("test codes are valid");
    Unit {
        level: code.level(),
        parent: code.parent(),
        code,
        name: name.into(),
        boundary,
        synthetic,
    }
}

/// A small tree: a district, two streets, a community and a grid.
fn small_tree() -> Vec<Unit> {
    vec![
        unit("440303", "罗湖区", Some(square(114.0, 22.5, 0.2)), false),
        unit(
            "440303001",
            "桂园街道",
            Some(square(114.0, 22.5, 0.1)),
            true,
        ),
        unit("440303002", "黄贝街道", None, true),
        unit(
            "440303001001",
            "大塘龙社区",
            Some(square(114.0, 22.5, 0.05)),
            true,
        ),
        unit(
            "440303001001001",
            "大塘龙社区第1网格",
            Some(square(114.0, 22.5, 0.01)),
            true,
        ),
    ]
}

/// Opening twice runs no migration twice and keeps the version.
pub async fn migrations_are_idempotent(h: &dyn Harness) {
    let first = h.open().await.expect("first open migrates");
    let v1 = first.schema_version().await.unwrap();
    assert!(v1 > 0, "a migrated store has a version");
    first.import_units(&small_tree()).await.unwrap();
    let second = h.open().await.expect("second open finds nothing to do");
    assert_eq!(second.schema_version().await.unwrap(), v1);
    assert_eq!(
        second.units().await.unwrap().len(),
        5,
        "data survives reopening"
    );
    second.ping().await.unwrap();
}

/// A database migrated by a newer binary is refused with a clear error.
pub async fn refuses_a_newer_schema(h: &dyn Harness) {
    h.open().await.unwrap();
    h.pretend_newer_schema().await;
    match h.open().await {
        Err(StoreError::SchemaTooNew { found, known }) => assert!(found > known),
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, the store opened"),
    }
}

/// A fresh store holds nothing.
pub async fn a_new_store_is_empty(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    assert!(s.units().await.unwrap().is_empty());
    assert_eq!(
        s.unit(&UnitCode::parse("440303").unwrap()).await.unwrap(),
        None
    );
    assert_eq!(s.units_revision().await.unwrap(), 0);
}

/// Units come back exactly as written, boundaries to the last bit, sorted by code.
pub async fn units_round_trip_exactly(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let mut tree = small_tree();
    // Written children-first on purpose: the store must order the batch itself.
    tree.reverse();
    s.import_units(&tree).await.unwrap();
    tree.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(s.units().await.unwrap(), tree);
    let grid = UnitCode::parse("440303001001001").unwrap();
    assert_eq!(
        s.unit(&grid).await.unwrap().as_ref(),
        tree.iter().find(|u| u.code == grid)
    );
    // Awkward floats survive: GeoJSON text must print the shortest exact representation.
    let odd = unit(
        "440303002001",
        "水库社区",
        Some(square(114.123_456_789_012_34, 22.1 + 0.2, 1e-7)),
        true,
    );
    s.import_units(std::slice::from_ref(&odd)).await.unwrap();
    assert_eq!(s.unit(&odd.code).await.unwrap(), Some(odd));
}

/// A batch with one bad unit writes nothing and leaves the revision alone.
pub async fn import_is_all_or_nothing(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    s.import_units(&small_tree()[..2]).await.unwrap();
    let before = (s.units().await.unwrap(), s.units_revision().await.unwrap());
    let batch = vec![
        unit("440303001002", "桂木园社区", None, false),
        // Its street was never imported.
        unit("440303009001", "孤儿社区", None, false),
    ];
    let err = s.import_units(&batch).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "got {err}");
    assert_eq!(
        (s.units().await.unwrap(), s.units_revision().await.unwrap()),
        before
    );
}

/// Re-importing a code replaces the unit, and every import bumps the revision.
pub async fn import_replaces_and_bumps_revision(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    let r1 = s.import_units(&small_tree()).await.unwrap();
    assert!(r1 > 0);
    let real = unit(
        "440303001",
        "桂园街道",
        Some(square(114.01, 22.51, 0.08)),
        false,
    );
    let r2 = s.import_units(std::slice::from_ref(&real)).await.unwrap();
    assert!(r2 > r1);
    assert_eq!(s.units_revision().await.unwrap(), r2);
    assert_eq!(s.unit(&real.code).await.unwrap(), Some(real));
    assert_eq!(s.units().await.unwrap().len(), 5);
    let levels: Vec<Level> = s.units().await.unwrap().iter().map(|u| u.level).collect();
    assert_eq!(
        levels,
        [
            Level::District,
            Level::Street,
            Level::Community,
            Level::Grid,
            Level::Street
        ]
    );
}

fn code(s: &str) -> UnitCode {
    UnitCode::parse(s).expect("test codes are valid")
}

/// Two streets with a community each, a department, an entity in each street, and accounts.
async fn people(s: &dyn Store) {
    let mut tree = small_tree();
    tree.push(unit("440303002001", "新湖社区", None, true));
    s.import_units(&tree).await.unwrap();
    s.create_department(
        &Scope::system("test"),
        &Department {
            code: DeptCode::parse("440303D01").unwrap(),
            name: "城管局".into(),
        },
    )
    .await
    .unwrap();
    for (id, street) in [("e1", "440303001001"), ("e2", "440303002001")] {
        s.create_entity(
            &Scope::system("test"),
            &Entity {
                id: id.into(),
                name: format!("物业{id}"),
                kind: EntityKind::PropertyManager,
                unit: code(street),
                service_area: vec![code(street)],
                created_at: 1,
            },
        )
        .await
        .unwrap();
    }
    let accounts: [(&str, Org, Role); 7] = [
        ("district", Org::Unit(code("440303")), Role::Admin),
        ("street1", Org::Unit(code("440303001")), Role::Admin),
        ("street2", Org::Unit(code("440303002")), Role::Handler),
        (
            "community1",
            Org::Unit(code("440303001001")),
            Role::Inspector,
        ),
        (
            "dept",
            Org::Department(DeptCode::parse("440303D01").unwrap()),
            Role::Handler,
        ),
        (
            "member1",
            Org::Entity {
                id: "e1".into(),
                unit: code("440303001001"),
            },
            Role::EntityMember,
        ),
        ("resident", Org::Unit(code("440303")), Role::Resident),
    ];
    for (name, org, role) in accounts {
        s.create_account(
            &Scope::system("test"),
            &NewAccount {
                id: format!("id-{name}"),
                username: name.into(),
                display_name: name.to_uppercase(),
                org,
                roles: vec![role],
                password_hash: format!("hash-of-{name}"),
                demo_password: name == "district",
                created_at: 1_000,
            },
        )
        .await
        .unwrap();
    }
}

fn names(accounts: &[wanxiang_core::Account]) -> Vec<&str> {
    accounts.iter().map(|a| a.username.as_str()).collect()
}

/// Every account read is filtered by scope in the store, and writes outside the scope do nothing.
pub async fn accounts_are_seen_only_within_scope(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let cases: Vec<(Scope, Vec<&str>)> = vec![
        (
            Scope::system("test"),
            vec![
                "community1",
                "dept",
                "district",
                "member1",
                "resident",
                "street1",
                "street2",
            ],
        ),
        (
            Scope::Subtree(code("440303")),
            vec![
                "community1",
                "dept",
                "district",
                "member1",
                "resident",
                "street1",
                "street2",
            ],
        ),
        (
            Scope::Subtree(code("440303001")),
            vec!["community1", "member1", "street1"],
        ),
        (
            Scope::Subtree(code("440303001001")),
            vec!["community1", "member1"],
        ),
        (Scope::Subtree(code("440303002")), vec!["street2"]),
        (
            Scope::Department(DeptCode::parse("440303D01").unwrap()),
            vec!["dept"],
        ),
        (Scope::Entity("e1".into()), vec!["member1"]),
        (Scope::Own("id-resident".into()), vec!["resident"]),
    ];
    for (scope, expect) in &cases {
        assert_eq!(
            names(&s.accounts(scope).await.unwrap()),
            *expect,
            "{scope:?}"
        );
    }
    let street2 = Scope::Subtree(code("440303002"));
    assert_eq!(s.account(&street2, "id-street1").await.unwrap(), None);
    assert!(s.account(&street2, "id-street2").await.unwrap().is_some());
    let disable = AccountUpdate {
        disabled: Some(true),
        ..AccountUpdate::default()
    };
    assert_eq!(
        s.update_account(&street2, "id-street1", &disable, 2)
            .await
            .unwrap(),
        None
    );
    let system = Scope::system("test");
    assert!(
        !s.account(&system, "id-street1")
            .await
            .unwrap()
            .unwrap()
            .disabled,
        "nothing changed"
    );
    let rename = AccountUpdate {
        display_name: Some("新名字".into()),
        roles: Some(vec![Role::Handler, Role::Supervisor]),
        ..AccountUpdate::default()
    };
    let changed = s
        .update_account(&Scope::Subtree(code("440303")), "id-street1", &rename, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (changed.display_name.as_str(), changed.roles.clone()),
        ("新名字", vec![Role::Handler, Role::Supervisor])
    );
    assert_eq!(s.count_demo_passwords().await.unwrap(), 1);
    let (account, hash) = s.credentials("community1").await.unwrap().unwrap();
    assert_eq!(
        (account.org, hash.as_str()),
        (Org::Unit(code("440303001001")), "hash-of-community1")
    );
    assert!(s.credentials("nobody").await.unwrap().is_none());
}

/// A username is taken once.
pub async fn usernames_are_unique(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let again = NewAccount {
        id: "other".into(),
        username: "street1".into(),
        display_name: "x".into(),
        org: Org::Unit(code("440303001")),
        roles: vec![Role::Handler],
        password_hash: "h".into(),
        demo_password: false,
        created_at: 1,
    };
    assert!(matches!(
        s.create_account(&Scope::Subtree(code("440303")), &again)
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Beside or above the caller's unit, nothing is created.
    let beside = NewAccount {
        id: "x1".into(),
        username: "beside".into(),
        ..again.clone()
    };
    let err = s
        .create_account(&Scope::Subtree(code("440303002")), &beside)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::OutOfScope(_)), "{err}");
    let above = NewAccount {
        id: "x2".into(),
        username: "above".into(),
        org: Org::Unit(code("440303")),
        ..again.clone()
    };
    assert!(matches!(
        s.create_account(&Scope::Subtree(code("440303001")), &above)
            .await,
        Err(StoreError::OutOfScope(_))
    ));
    assert!(
        s.credentials("beside").await.unwrap().is_none()
            && s.credentials("above").await.unwrap().is_none()
    );
}

/// Sessions work until they expire or are revoked, and end when their account is disabled or
/// its password changes.
pub async fn sessions_expire_and_revoke(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let session = |hash: &str, account: &str| NewSession {
        token_hash: hash.into(),
        account_id: account.into(),
        csrf: format!("csrf-{hash}"),
        created_at: 1_000,
        expires_at: 5_000,
    };
    for (hash, account) in [
        ("a", "id-street1"),
        ("b", "id-street1"),
        ("c", "id-street2"),
    ] {
        s.create_session(&session(hash, account)).await.unwrap();
    }
    let live = s.session("a", 4_999).await.unwrap().unwrap();
    assert_eq!(
        (live.account.username.as_str(), live.csrf.as_str()),
        ("street1", "csrf-a")
    );
    assert!(s.session("a", 5_000).await.unwrap().is_none(), "expired");
    assert!(s.revoke_session("a", 2_000).await.unwrap());
    assert!(
        !s.revoke_session("a", 2_001).await.unwrap(),
        "already revoked"
    );
    assert!(s.session("a", 3_000).await.unwrap().is_none());
    let password = AccountUpdate {
        password: Some(("new".into(), false)),
        ..AccountUpdate::default()
    };
    s.update_account(
        &Scope::Own("id-street1".into()),
        "id-street1",
        &password,
        3_000,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        s.session("b", 3_001).await.unwrap().is_none(),
        "a password change ends sessions"
    );
    let disable = AccountUpdate {
        disabled: Some(true),
        ..AccountUpdate::default()
    };
    s.update_account(
        &Scope::Subtree(code("440303")),
        "id-street2",
        &disable,
        3_000,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        s.session("c", 3_001).await.unwrap().is_none(),
        "disabling ends sessions"
    );
    assert!(
        s.credentials("street2").await.unwrap().is_none(),
        "disabled accounts cannot log in"
    );
}

/// Tokens are found by hash, list without secrets, and stop working when revoked.
pub async fn api_tokens_are_hashed_listed_and_revoked(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let token = NewApiToken {
        id: "t1".into(),
        account_id: "id-dept".into(),
        name: "脚本".into(),
        token_hash: "h1".into(),
        created_at: 10,
    };
    s.create_api_token(&token).await.unwrap();
    assert_eq!(
        s.api_token_account("h1", 20)
            .await
            .unwrap()
            .unwrap()
            .username,
        "dept"
    );
    let listed = s.api_tokens("id-dept").await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].last_used_at, listed[0].revoked_at),
        (1, Some(20), None)
    );
    assert!(
        !s.revoke_api_token("id-street1", "t1", 30).await.unwrap(),
        "only the owner revokes"
    );
    assert!(s.revoke_api_token("id-dept", "t1", 30).await.unwrap());
    assert!(s.api_token_account("h1", 40).await.unwrap().is_none());
    assert_eq!(
        s.api_tokens("id-dept").await.unwrap()[0].revoked_at,
        Some(30)
    );
}

/// Entities and departments are listed by scope; an entity needs a known unit.
pub async fn entities_and_departments_are_scoped(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let ids = |v: Vec<Entity>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.entities(&Scope::Subtree(code("440303"))).await.unwrap()),
        ["e1", "e2"]
    );
    assert_eq!(
        ids(s
            .entities(&Scope::Subtree(code("440303002")))
            .await
            .unwrap()),
        ["e2"]
    );
    assert_eq!(
        ids(s.entities(&Scope::Entity("e1".into())).await.unwrap()),
        ["e1"]
    );
    assert!(
        s.entities(&Scope::Own("id-resident".into()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.entity(&Scope::Subtree(code("440303002")), "e1")
            .await
            .unwrap()
            .is_none()
    );
    let e1 = s
        .entity(&Scope::Subtree(code("440303001")), "e1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e1.kind, e1.service_area),
        (EntityKind::PropertyManager, vec![code("440303001001")])
    );
    let orphan = Entity {
        id: "e3".into(),
        name: "x".into(),
        kind: EntityKind::Enterprise,
        unit: code("440303099"),
        service_area: vec![],
        created_at: 1,
    };
    assert!(matches!(
        s.create_entity(&Scope::system("test"), &orphan).await,
        Err(StoreError::Conflict(_))
    ));
    // A street's admin cannot give an entity work in the next street.
    let reach = Entity {
        id: "e4".into(),
        unit: code("440303001001"),
        service_area: vec![code("440303002001")],
        ..orphan.clone()
    };
    assert!(matches!(
        s.create_entity(&Scope::Subtree(code("440303001")), &reach)
            .await,
        Err(StoreError::OutOfScope(_))
    ));
    let dept = Department {
        code: DeptCode::parse("440303D02").unwrap(),
        name: "水务局".into(),
    };
    assert!(matches!(
        s.create_department(&Scope::Subtree(code("440303001")), &dept)
            .await,
        Err(StoreError::OutOfScope(_))
    ));
    assert_eq!(
        s.departments(&Scope::Subtree(code("440303")))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.departments(&Scope::Subtree(code("440303001")))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.departments(&Scope::Department(DeptCode::parse("440303D01").unwrap()))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Audit entries are listed newest first within scope, and the database refuses to change them.
pub async fn the_audit_log_is_append_only_and_scoped(h: &dyn Harness) {
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    for (i, area) in ["440303001", "440303002", "440303001001"]
        .iter()
        .enumerate()
    {
        s.append_audit(&AuditEntry {
            at: i as i64,
            actor_id: Some("id-street1".into()),
            actor_name: "street1".into(),
            action: format!("action{i}"),
            target: None,
            detail: "d".into(),
            area: code(area),
            org: code(area).to_string(),
            client: Some("127.0.0.1".into()),
        })
        .await
        .unwrap();
    }
    let actions =
        |v: Vec<(i64, AuditEntry)>| v.into_iter().map(|(_, e)| e.action).collect::<Vec<_>>();
    assert_eq!(
        actions(
            s.audit(&Scope::Subtree(code("440303")), 10, None)
                .await
                .unwrap()
        ),
        ["action2", "action1", "action0"]
    );
    assert_eq!(
        actions(
            s.audit(&Scope::Subtree(code("440303001")), 10, None)
                .await
                .unwrap()
        ),
        ["action2", "action0"]
    );
    let page = s
        .audit(&Scope::Subtree(code("440303")), 1, None)
        .await
        .unwrap();
    let next = s
        .audit(&Scope::Subtree(code("440303")), 5, Some(page[0].0))
        .await
        .unwrap();
    assert_eq!(actions(next), ["action1", "action0"]);
    let (update, delete) = h.tamper_with_audit().await;
    assert!(
        update.is_err() && delete.is_err(),
        "the database let the audit log change"
    );
    assert_eq!(
        s.audit(&Scope::system("test"), 10, None)
            .await
            .unwrap()
            .len(),
        3
    );
}

fn sample_case(
    id: &str,
    area: &str,
    assignee: Option<&str>,
    reporter: Option<&str>,
    external: Option<&str>,
) -> wanxiang_core::case::CaseRecord {
    use wanxiang_core::case::{Case, CaseRecord, Channel, Stage};
    let mut lifecycle = Case::reported();
    lifecycle.stage = if assignee.is_some() {
        Stage::Dispatched
    } else {
        Stage::Registered
    };
    lifecycle.assignee = assignee.map(str::to_owned);
    CaseRecord {
        id: id.into(),
        channel: Channel::Hotline12345,
        external_id: external.map(str::to_owned),
        category: Some("E0509".into()),
        description: format!("占道经营 {id}"),
        lon: 114.106_123_456_789,
        lat: 22.546_987_654_321,
        area: code(area),
        reporter: reporter.map(str::to_owned),
        reporter_contact: Some("138****0000".into()),
        priority: wanxiang_core::category::Priority::Normal,
        lifecycle,
        due_at: Some(5_000),
        explanation: "grid → street".into(),
        supervision: wanxiang_core::case::Supervision::for_stage(1_000, Some(5_000)),
        version: 1,
        created_at: 1_000 + id.len() as i64,
        updated_at: 1_000,
    }
}

fn entry(
    seq: i64,
    from: wanxiang_core::case::Stage,
    to: wanxiang_core::case::Stage,
    command: &str,
) -> wanxiang_core::case::HistoryEntry {
    wanxiang_core::case::HistoryEntry {
        seq,
        at: seq * 10,
        actor_id: Some("id-street1".into()),
        actor: "street1".into(),
        from,
        to,
        command: command.into(),
        note: String::new(),
    }
}

/// Cases are stored once per external id, seen only within scope, and changed only by the
/// writer that read the latest version.
pub async fn cases_are_idempotent_scoped_and_versioned(h: &dyn Harness) {
    use wanxiang_core::case::Stage;
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    let a = sample_case(
        "case-a",
        "440303001001001",
        Some("440303001000"),
        Some("id-resident"),
        Some("12345-0001"),
    );
    let history = [
        entry(1, Stage::Reported, Stage::Reported, "report"),
        entry(2, Stage::Reported, Stage::Registered, "register"),
        entry(3, Stage::Registered, Stage::Dispatched, "dispatch"),
    ];
    assert_eq!(
        s.create_case(&a, &history).await.unwrap(),
        crate::CaseCreated::New
    );
    let again = sample_case("case-a2", "440303001001001", None, None, Some("12345-0001"));
    assert_eq!(
        s.create_case(&again, &[]).await.unwrap(),
        crate::CaseCreated::Existing("case-a".into())
    );
    let b = sample_case("case-bb", "440303002001", Some("440303D01"), None, None);
    s.create_case(&b, &[entry(1, Stage::Reported, Stage::Reported, "report")])
        .await
        .unwrap();

    let system = Scope::system("test");
    assert_eq!(
        s.case(&system, "case-a").await.unwrap().unwrap(),
        a,
        "read back exactly"
    );
    let stats = s.case_stats(&system, 0, 10_000).await.unwrap();
    assert_eq!(
        (stats.intake, stats.per_day.clone()),
        (2, vec![("1970-01-01".to_owned(), 2)]),
        "day in China Standard Time"
    );
    assert_eq!(
        stats.hotspots,
        [
            ("440303001001001".to_owned(), 1),
            ("440303002001".to_owned(), 1)
        ]
    );
    assert_eq!(
        s.case_stats(&Scope::Subtree(code("440303002")), 0, 10_000)
            .await
            .unwrap()
            .intake,
        1,
        "scoped"
    );
    assert_eq!(stats.by_channel, [("hotline_12345".to_owned(), 2)]);
    let by_street = s
        .case_stats_by_area(&Scope::Subtree(code("440303")), 9, 0, 10_000)
        .await
        .unwrap();
    assert_eq!(
        by_street
            .iter()
            .map(|a| (a.area.as_str(), a.intake, a.closed))
            .collect::<Vec<_>>(),
        [("440303001", 1, 0), ("440303002", 1, 0)],
        "grouped by street code, in code order"
    );
    assert_eq!(
        s.case_stats_by_area(&Scope::Subtree(code("440303002")), 12, 0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|a| a.area.as_str())
            .collect::<Vec<_>>(),
        ["440303002001"],
        "scoped, by community"
    );
    let open = |open| crate::CaseFilter {
        open: Some(open),
        ..crate::CaseFilter::default()
    };
    assert_eq!(
        s.cases(&system, &open(true)).await.unwrap().len(),
        2,
        "both are open"
    );
    assert_eq!(s.cases(&system, &open(false)).await.unwrap().len(), 0);
    let ids =
        |v: Vec<wanxiang_core::case::CaseRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let all = crate::CaseFilter::default();
    let cases: Vec<(Scope, Vec<&str>)> = vec![
        (Scope::Subtree(code("440303")), vec!["case-bb", "case-a"]),
        (Scope::Subtree(code("440303001")), vec!["case-a"]),
        (Scope::Subtree(code("440303001001")), vec!["case-a"]),
        (Scope::Subtree(code("440303002")), vec!["case-bb"]),
        (
            Scope::Department(DeptCode::parse("440303D01").unwrap()),
            vec!["case-bb"],
        ),
        (Scope::Entity("e1".into()), vec![]),
        (Scope::Own("id-resident".into()), vec!["case-a"]),
        (Scope::Own("id-other".into()), vec![]),
    ];
    for (scope, expect) in &cases {
        assert_eq!(
            ids(s.cases(scope, &all).await.unwrap()),
            *expect,
            "{scope:?}"
        );
    }
    let dispatched = crate::CaseFilter {
        stage: Some(Stage::Dispatched),
        assignee: Some("440303D01".into()),
        ..crate::CaseFilter::default()
    };
    assert_eq!(
        ids(s.cases(&system, &dispatched).await.unwrap()),
        ["case-bb"]
    );
    assert_eq!(
        s.case_history(&Scope::Subtree(code("440303002")), "case-a")
            .await
            .unwrap(),
        vec![],
        "history is scoped too"
    );
    assert_eq!(s.case_history(&system, "case-a").await.unwrap(), history);

    let mut accepted = a.clone();
    accepted.lifecycle.stage = Stage::Accepted;
    accepted.version = 2;
    let e4 = entry(4, Stage::Dispatched, Stage::Accepted, "accept");
    assert!(
        !s.update_case(&Scope::Subtree(code("440303002")), &accepted, &e4)
            .await
            .unwrap(),
        "outside scope"
    );
    assert!(
        s.update_case(&Scope::Subtree(code("440303001")), &accepted, &e4)
            .await
            .unwrap()
    );
    assert!(
        !s.update_case(
            &Scope::Subtree(code("440303001")),
            &accepted,
            &entry(5, Stage::Dispatched, Stage::Accepted, "accept")
        )
        .await
        .unwrap(),
        "a stale version loses"
    );
    let stored = s.case(&system, "case-a").await.unwrap().unwrap();
    assert_eq!(
        (stored.lifecycle.stage, stored.version),
        (Stage::Accepted, 2)
    );
    assert_eq!(s.case_history(&system, "case-a").await.unwrap().len(), 4);
}

/// The scheduler's questions: when is the next warning or deadline, and which cases need one now;
/// and notifications reach exactly their recipients.
pub async fn supervision_finds_what_falls_due_and_inboxes_reach_their_recipients(h: &dyn Harness) {
    use wanxiang_core::case::Stage;
    use wanxiang_core::inbox::{Notification, Recipient};
    let s = h.open().await.unwrap();
    people(s.as_ref()).await;
    assert_eq!(s.next_supervision_at().await.unwrap(), None);
    let a = sample_case(
        "case-a",
        "440303001001001",
        Some("440303001000"),
        None,
        None,
    ); // warn 4_200, due 5_000
    let mut b = sample_case("case-b", "440303002001", Some("440303002000"), None, None);
    b.due_at = Some(3_000);
    b.supervision = wanxiang_core::case::Supervision::for_stage(1_000, Some(3_000)); // warn 2_600
    let mut done = sample_case("case-c", "440303002001", None, None, None);
    done.lifecycle.stage = Stage::Closed;
    done.due_at = Some(10);
    for c in [&a, &b, &done] {
        s.create_case(c, &[]).await.unwrap();
    }
    assert_eq!(
        s.next_supervision_at().await.unwrap(),
        Some(2_600),
        "closed cases have no clock"
    );
    let system = Scope::system("supervision");
    let due = |now| {
        let s = s.clone();
        async move {
            s.cases_to_supervise(&system_scope(), now, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due(2_599).await, Vec::<String>::new());
    assert_eq!(due(3_000).await, ["case-b"]);
    assert_eq!(due(5_000).await, ["case-b", "case-a"]);
    assert_eq!(
        s.cases_to_supervise(&Scope::Subtree(code("440303001")), 5_000, 10)
            .await
            .unwrap()
            .len(),
        1,
        "scoped"
    );
    // Once marked, a case no longer needs the same alarm.
    let mut marked = b.clone();
    marked.supervision.warned = true;
    marked.supervision.overdue = true;
    marked.version = 2;
    assert!(
        s.update_case(
            &system,
            &marked,
            &entry(1, Stage::Dispatched, Stage::Dispatched, "overdue")
        )
        .await
        .unwrap()
    );
    assert_eq!(due(5_000).await, ["case-a"]);
    assert_eq!(s.next_supervision_at().await.unwrap(), Some(4_200));

    let note = |recipient: Recipient, kind: &str| Notification {
        id: 0,
        at: 7,
        recipient,
        case_id: Some("case-a".into()),
        kind: kind.into(),
        message: "m".into(),
    };
    s.notify(
        &[note(
            Recipient::Org {
                org: "440303001000".into(),
                role: Some(Role::Supervisor),
            },
            "escalated",
        )],
        false,
    )
    .await
    .unwrap();
    s.notify(
        &[note(
            Recipient::Org {
                org: "440303001000".into(),
                role: None,
            },
            "everyone_in_street1",
        )],
        false,
    )
    .await
    .unwrap();
    s.notify(
        &[note(Recipient::Account("id-resident".into()), "progress")],
        false,
    )
    .await
    .unwrap();
    let kinds = |username: &str| {
        let s = s.clone();
        let username = username.to_owned();
        async move {
            let (account, _) = s.credentials(&username).await.unwrap().unwrap();
            s.inbox(&account, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|n| n.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        kinds("street1").await,
        ["everyone_in_street1"],
        "an admin is not a supervisor"
    );
    assert_eq!(kinds("resident").await, ["progress"]);
    assert!(kinds("street2").await.is_empty());
    let mut sup = s.credentials("street1").await.unwrap().unwrap().0;
    sup.roles = vec![Role::Supervisor];
    assert_eq!(s.inbox(&sup, 10).await.unwrap().len(), 2);
}

fn system_scope() -> Scope {
    Scope::system("supervision")
}
