//! Several nodes as one cluster: servers sharing one PostgreSQL database and linked through NATS
//! (`bus.url`). A change made on one node reaches the live streams of the others, once; a node's
//! own changes are not echoed back to it. Uses the machine's NATS (127.0.0.1:4222, started by
//! scripts/test; `WANXIANG_TEST_NATS_URL` for another) on subjects of this test run only.

mod common;

use common::{TestApp, open_stream, point_in, postgres_url, read_stream_until, spawn_app_with};
use serde_json::json;

/// One test's cluster: a fresh PostgreSQL schema, and NATS subjects and a stream of its own.
struct Cluster {
    database: String,
    prefix: String,
}

impl Cluster {
    async fn new(label: &str) -> Cluster {
        Cluster {
            database: postgres_url(label).await,
            prefix: format!("wx{label}{}", std::process::id()),
        }
    }

    /// A node doing all the work.
    async fn node(&self) -> TestApp {
        self.node_with_roles("api,ingest,worker").await
    }

    async fn node_with_roles(&self, roles: &str) -> TestApp {
        let roles = roles.to_owned();
        let nats = common::nats_url();
        let (database, prefix) = (self.database.clone(), self.prefix.clone());
        spawn_app_with(move |c| {
            c.storage.database_url = database;
            c.bus.url = nats;
            c.bus.subject_prefix = prefix;
            c.server.roles = roles;
        })
        .await
    }

    /// Stops the nodes, then deletes the cluster's stream from NATS.
    async fn stop(self, nodes: Vec<TestApp>) {
        for node in nodes {
            node.stop().await.unwrap();
        }
        common::delete_stream(&self.prefix).await;
    }
}

async fn report(app: &TestApp, who: &common::Session, text: &str) -> String {
    report_as(app, who, "E0404", text).await
}

/// A report of `category` at the same place as every other: a different category opens a case of
/// its own (the same one would be linked to the open case as its duplicate).
async fn report_as(app: &TestApp, who: &common::Session, category: &str, text: &str) -> String {
    let (lon, lat) = point_in("440303001001");
    let (status, case) = app
        .call(
            Some(who),
            "POST",
            "/api/v1/events",
            Some(
                json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
                        "category": category, "description": text}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    case["id"].as_str().unwrap().to_owned()
}

/// The actions of a case's history, oldest first, as `who` reads them on `app`.
async fn history(app: &TestApp, who: &common::Session, id: &str) -> Vec<String> {
    let (status, case) = app
        .call(Some(who), "GET", &format!("/api/v1/events/{id}"), None)
        .await;
    assert_eq!(status, 200, "{case}");
    case["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_change_on_one_node_reaches_the_streams_of_the_others_once() {
    let cluster = Cluster::new("cluster").await;
    let a = cluster.node().await;
    let b = cluster.node().await;

    let supervisor = b.login("district.supervisor").await;
    let mut on_b = open_stream(&b, &supervisor).await;
    let resident = a.login("13800138000").await;
    let from_a = report(&a, &resident, "下水道堵塞（节点 A）").await;
    // A report made on B itself, after A's: B's stream shows it once, not echoed back by NATS.
    let other = b.login("13800138001").await;
    let (lon, lat) = point_in("440303002001");
    let (status, case) = b
        .call(
            Some(&other),
            "POST",
            "/api/v1/events",
            Some(
                json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
                        "category": "E0101", "description": "路面有垃圾（节点 B）"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let from_b = case["id"].as_str().unwrap().to_owned();

    let mut seen = read_stream_until(&mut on_b, &from_a).await;
    seen.push_str(&read_stream_until(&mut on_b, &from_b).await);
    // One more change, from A, as a marker: everything before it has arrived.
    let marker = report_as(&a, &resident, "C0101", "井盖缺失（节点 A，标记）").await;
    seen.push_str(&read_stream_until(&mut on_b, &marker).await);
    let events = |id: &str| {
        seen.lines()
            .filter(|l| l.starts_with("data:") && l.contains(id) && l.contains("\"created\""))
            .count()
    };
    assert_eq!(events(&from_a), 1, "A's report reached B once: {seen}");
    assert_eq!(
        events(&from_b),
        1,
        "B's own report once, not echoed: {seen}"
    );
    assert!(seen.contains("event: case"), "{seen}");

    // Both nodes read the same store.
    let (status, on_a) = a
        .call(
            Some(&resident),
            "GET",
            &format!("/api/v1/events/{from_a}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{on_a}");
    let (status, _) = b
        .call(
            Some(&resident),
            "GET",
            &format!("/api/v1/events/{from_a}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    drop(on_b);
    cluster.stop(vec![b, a]).await;
}

#[tokio::test]
async fn a_deadline_that_falls_due_fires_once_across_nodes() {
    let cluster = Cluster::new("deadline").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let resident = a.login("13800138000").await;
    // 下水道堵塞 (E0404) is high priority: the community must accept within 15 minutes.
    let id = report(&a, &resident, "下水道堵塞，无人签收").await;
    let minute = 60_000;
    // Both nodes' supervision sees it fall due, at the same time, against the same database.
    for step in [13, 10] {
        a.clock.advance(step * minute);
        b.clock.advance(step * minute);
        tokio::join!(a.clock.settle(), b.clock.settle());
    }
    let actions = history(&b, &resident, &id).await;
    let count = |what: &str| actions.iter().filter(|a| *a == what).count();
    assert_eq!(
        (count("warn"), count("overdue")),
        (1, 1),
        "warned once and escalated once: {actions:?}"
    );
    let supervisor = a.login("guiyuan.supervisor").await;
    let (_, inbox) = a
        .call(Some(&supervisor), "GET", "/api/v1/notifications", None)
        .await;
    let escalations = inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "escalated" && n["case_id"] == id.as_str())
        .count();
    assert_eq!(escalations, 1, "one escalation notice: {inbox}");
    cluster.stop(vec![b, a]).await;
}

#[tokio::test]
async fn roles_split_the_work_an_api_node_leaves_deadlines_to_a_worker_node() {
    let cluster = Cluster::new("roles").await;
    let api = cluster.node_with_roles("api,ingest").await;
    let worker = cluster.node_with_roles("worker").await;

    // The worker node serves only the operations endpoints; its readiness shows its link.
    let (status, ready) = worker.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["bus"], "connected", "{ready}");
    let (status, _) = worker.get("/api/v1/units").await;
    assert_eq!(status, 404, "no API on a worker node");
    let (status, _) = worker.get("/metrics").await;
    assert_eq!(status, 200);

    let resident = api.login("13800138000").await;
    let id = report(&api, &resident, "下水道堵塞，等待签收").await;
    // Past the yellow warning (12 of 15 minutes): only the worker node's supervision can fire it.
    api.clock.advance(13 * 60_000);
    worker.clock.advance(13 * 60_000);
    worker.clock.settle().await;
    let actions = history(&api, &resident, &id).await;
    assert_eq!(
        actions.last().map(String::as_str),
        Some("warn"),
        "{actions:?}"
    );
    cluster.stop(vec![worker, api]).await;
}

#[tokio::test]
async fn a_change_whose_writer_died_before_publishing_reaches_the_streams_once() {
    let cluster = Cluster::new("outbox").await;
    let a = cluster.node().await;
    let supervisor = a.login("district.supervisor").await;
    let resident = a.login("13800138000").await;
    let id = report(&a, &resident, "下水道堵塞（写入后节点失联）").await;
    let mut on_a = open_stream(&a, &supervisor).await;

    // What a node killed between its commit and its publish leaves behind: a history line in
    // the store and in the change outbox, told to nobody. A live node's relay finds it.
    let pool = sqlx::PgPool::connect(&cluster.database).await.unwrap();
    let at = wanxiang_api::auth::now_ms();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO case_history (case_id, seq, at, actor_id, actor_name, from_stage, to_stage, command, note)
         SELECT case_id, MAX(seq) + 1, $2, NULL, 'system (test)', 'dispatched', 'dispatched', 'urge', '节点失联前写入'
         FROM case_history WHERE case_id = $1 GROUP BY case_id",
    )
    .bind(&id)
    .bind(at)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO change_outbox (case_id, seq) SELECT case_id, MAX(seq) FROM case_history WHERE case_id = $1 GROUP BY case_id",
    )
    .bind(&id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let seen = read_stream_until(&mut on_a, "\"urge\"").await;
    assert!(seen.contains(&id), "{seen}");
    outbox_drained(&pool).await;

    // A relay that published it but died before forgetting it: the line comes back to the outbox
    // and is published again under the same message id, which JetStream drops.
    sqlx::query(
        "INSERT INTO change_outbox (case_id, seq) SELECT case_id, MAX(seq) FROM case_history WHERE case_id = $1 GROUP BY case_id",
    )
    .bind(&id)
    .execute(&pool)
    .await
    .unwrap();
    outbox_drained(&pool).await;
    let marker = report_as(&a, &resident, "C0101", "井盖缺失（标记）").await;
    let rest = read_stream_until(&mut on_a, &marker).await;
    assert!(
        !rest.contains("\"urge\""),
        "published twice, seen twice: {rest}"
    );
    drop(on_a);
    cluster.stop(vec![a]).await;
}

/// Waits until every relay has forgotten what it published.
async fn outbox_drained(pool: &sqlx::PgPool) {
    let waited = std::time::Instant::now();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM change_outbox")
            .fetch_one(pool)
            .await
            .unwrap();
        if left == 0 {
            return;
        }
        assert!(
            waited.elapsed().as_secs() < 20,
            "the outbox was not relayed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// One PostgreSQL node without a bus: its case changes still reach its own streams, through the
/// change outbox and its relay, once each, and the outbox empties.
#[tokio::test]
async fn a_single_postgres_node_streams_its_changes_through_the_outbox() {
    let app = common::spawn_app_on_postgres("onenode").await;
    let supervisor = app.login("district.supervisor").await;
    let mut stream = open_stream(&app, &supervisor).await;
    let resident = app.login("13800138000").await;
    let first = report(&app, &resident, "下水道堵塞（单节点）").await;
    let second = report_as(&app, &resident, "C0101", "井盖缺失（单节点，标记）").await;
    assert_ne!(first, second);
    let seen = read_stream_until(&mut stream, &second).await;
    let created = |id: &str| {
        seen.lines()
            .filter(|l| l.starts_with("data:") && l.contains(id) && l.contains("\"created\""))
            .count()
    };
    assert_eq!((created(&first), created(&second)), (1, 1), "{seen}");
    let pool = sqlx::PgPool::connect(&app.config.storage.database_url)
        .await
        .unwrap();
    outbox_drained(&pool).await;
    drop(stream);
    app.stop().await.unwrap();
}

/// 一网通办 on two nodes: the proactive triggers run on both at once, and each person is offered
/// a service once; a review deadline passing is marked, and told, once.
#[tokio::test]
async fn services_offers_and_overdue_notices_happen_once_across_nodes() {
    let cluster = Cluster::new("services").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let admin_a = a.login("district.admin").await;
    let admin_b = b.login("district.admin").await;
    let (ra, rb) = tokio::join!(
        common::run_service_triggers(&a, &admin_a),
        common::run_service_triggers(&b, &admin_b)
    );
    let offered = ra["offered"].as_u64().unwrap() + rb["offered"].as_u64().unwrap();
    let wang = b.login("13800138002").await;
    let (_, list) = b
        .call(Some(&wang), "GET", "/api/v1/services/applications", None)
        .await;
    let elderly = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["item"] == "0500001001")
        .count();
    assert_eq!(
        elderly, 1,
        "one offer whichever node made it: {ra} {rb} {list}"
    );
    // Every offer made was counted by exactly one node.
    let admin_offers = {
        let (_, all) = a
            .call(
                Some(&admin_a),
                "GET",
                "/api/v1/services/applications?state=offered&limit=1000",
                None,
            )
            .await;
        all.as_array().unwrap().len() as u64
    };
    assert_eq!(offered, admin_offers, "{ra} {rb}");

    // A review nobody takes up passes its deadline on both nodes' clocks: marked and told once.
    let zhang = a.login("13800138000").await;
    let (status, app_) = a
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": "0500012001", "form": {"disability_level": "三级"}})),
        )
        .await;
    assert_eq!(status, 201, "{app_}");
    let id = app_["id"].as_str().unwrap().to_owned();
    a.clock.advance(40 * 86_400_000);
    b.clock.advance(40 * 86_400_000);
    let reviewer = b.login("minzheng.reviewer").await;
    common::eventually(
        &b,
        &reviewer,
        &format!("/api/v1/services/applications/{id}"),
        |x| x["overdue"] == true,
    )
    .await;
    // Both nodes' loops woke with their clocks; the store lets only one of them mark it.
    let (_, x) = a
        .call(
            Some(&zhang),
            "GET",
            &format!("/api/v1/services/applications/{id}"),
            None,
        )
        .await;
    let overdue_lines = x["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "overdue")
        .count();
    assert_eq!(overdue_lines, 1, "{x}");
    let (_, inbox) = a
        .call(Some(&reviewer), "GET", "/api/v1/notifications", None)
        .await;
    assert_eq!(
        inbox.to_string().matches("service_overdue").count(),
        1,
        "{inbox}"
    );
    cluster.stop(vec![a, b]).await;
}

/// A sensor alarm raised on one node reaches the live stream of another through the alarm
/// outbox and the bus (at least once, JetStream dropping repeats by `alarm:<id>:<seq>`).
/// Registers a water-level sensor in 440303001002 on `node`: its id and token.
async fn water_level(node: &TestApp, who: &common::Session, name: &str) -> (String, String) {
    let (lon, lat) = point_in("440303001002");
    let (status, device) = node
        .call(
            Some(who),
            "POST",
            "/api/v1/devices",
            Some(
                json!({"type": "water_level", "name": name, "location": {"lon": lon, "lat": lat}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{device}");
    (
        device["device"]["id"].as_str().unwrap().to_owned(),
        device["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_alarm_raised_on_one_node_reaches_the_stream_of_another() {
    let cluster = Cluster::new("alarms").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let watcher = b.login("district.admin").await;
    let mut stream = open_stream(&b, &watcher).await;
    let operator = a.login("district.admin").await;
    let (id, token) = water_level(&a, &operator, "集群告警测试水位计").await;
    let (status, body) = a
        .call(
            None,
            "POST",
            &format!("/api/v1/telemetry/{token}"),
            Some(json!({"level_cm": 20.0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = read_stream_until(&mut stream, "event: alarm").await;
    assert!(seen.contains("\"kind\":\"raised\""), "{seen}");
    assert!(seen.contains(&id), "{seen}");
    cluster.stop(vec![a, b]).await;
}

/// A broker's shared subscription hands a device's messages to the ingesting nodes in turn: the
/// readings of one water-level sensor arrive at two nodes alternately, and its alarm is judged as
/// if one node had seen them all — one alarm raised, escalated and cleared, never a second one
/// raised beside it — and an operator on the other node acts on it.
#[tokio::test]
async fn a_devices_readings_taken_by_two_nodes_in_turn_make_one_alarm() {
    let cluster = Cluster::new("affinity").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let operator = a.login("district.admin").await;
    let operator_b = b.login("district.admin").await;
    let (id, token) = water_level(&a, &operator, "轮流接收测试水位计").await;
    let t0 = chrono::Utc::now().timestamp_millis() - 60_000;
    // blue on a, yellow on b, cleared on a, raised anew on b, then orange on a.
    let levels = [12.0, 20.0, 2.0, 12.0, 30.0];
    for (i, level) in levels.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let (status, body) = node
            .call(
                None,
                "POST",
                &format!("/api/v1/telemetry/{token}"),
                Some(json!({"ts": t0 + i as i64 * 1_000, "values": {"level_cm": level}})),
            )
            .await;
        assert_eq!(status, 200, "reading {i} on node {}: {body}", i % 2);
    }
    let (status, all) = b
        .call(
            Some(&operator_b),
            "GET",
            &format!("/api/v1/alarms?device={id}&status=all"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{all}");
    let mut alarms = all.as_array().unwrap().clone();
    alarms.sort_by_key(|x| x["raised_at"].as_str().map(str::to_owned));
    assert_eq!(alarms.len(), 2, "{all}");
    assert_eq!(alarms[0]["status"], "cleared", "{all}");
    assert_eq!(alarms[0]["peak"], "yellow", "{all}");
    assert_eq!(alarms[1]["status"], "active", "{all}");
    assert_eq!(alarms[1]["level"], "orange", "{all}");
    let actions = |x: &serde_json::Value| -> Vec<String> {
        x["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .filter(|a| a != "case_opened")
            .collect()
    };
    let first = alarms[0]["id"].as_str().unwrap();
    let (_, first) = a
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms/{first}"),
            None,
        )
        .await;
    assert_eq!(
        actions(&first),
        ["raised", "escalated", "cleared"],
        "{first}"
    );
    // The standing alarm was raised on b and escalated on a; a (which did not raise it) and b
    // (which has not seen its escalation) act on it in turn.
    let second = alarms[1]["id"].as_str().unwrap();
    let (status, acked) = a
        .call(
            Some(&operator),
            "POST",
            &format!("/api/v1/alarms/{second}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(
        (status, acked["status"].as_str()),
        (200, Some("acknowledged")),
        "{acked}"
    );
    let (status, cleared) = b
        .call(
            Some(&operator_b),
            "POST",
            &format!("/api/v1/alarms/{second}/clear"),
            None,
        )
        .await;
    assert_eq!(
        (status, cleared["status"].as_str()),
        (200, Some("cleared")),
        "{cleared}"
    );
    assert_eq!(
        actions(&cleared),
        ["raised", "escalated", "acknowledged", "cleared"],
        "{cleared}"
    );
    cluster.stop(vec![a, b]).await;
}

/// Two nodes judge the same device at the same moment: one commit wins, the other finds the
/// device's state moved on, catches up and judges again. Every reading is stored once and the
/// standing condition makes one alarm, raised once.
#[tokio::test]
async fn concurrent_readings_of_one_device_at_two_nodes_raise_one_alarm() {
    let cluster = Cluster::new("race").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let operator = a.login("district.admin").await;
    let (id, token) = water_level(&a, &operator, "并发接收测试水位计").await;
    let t0 = chrono::Utc::now().timestamp_millis() - 60_000;
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            let (client, url) = (
                node.client.clone(),
                node.url(&format!("/api/v1/telemetry/{token}")),
            );
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({"ts": t0 + i, "values": {"level_cm": 12.0}}))
                    .send()
                    .await
                    .unwrap();
                (i, r.status().as_u16(), r.text().await.unwrap())
            })
        })
        .collect();
    for send in sends {
        let (i, status, body) = send.await.unwrap();
        assert_eq!(status, 200, "reading {i}: {body}");
    }
    let (_, stored) = b
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/devices/{id}/telemetry?from={t0}&to={}", t0 + 40),
            None,
        )
        .await;
    assert_eq!(stored.as_array().map(Vec::len), Some(40), "{stored}");
    let (_, all) = b
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={id}&status=all"),
            None,
        )
        .await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    let alarm = all[0]["id"].as_str().unwrap();
    let (_, alarm) = a
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms/{alarm}"),
            None,
        )
        .await;
    let raised = alarm["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "raised")
        .count();
    assert_eq!(raised, 1, "{alarm}");
    cluster.stop(vec![a, b]).await;
}

/// A device heard only by node b is not silent to node a: before a's inactivity timer fires, a
/// catches up with what b stored. Once the device really falls silent, both nodes' timers are
/// due and one inactivity alarm is raised, once.
#[tokio::test]
async fn a_device_heard_by_one_node_is_not_silent_to_another() {
    let cluster = Cluster::new("silence").await;
    let a = cluster.node().await;
    let b = cluster.node().await;
    let operator = a.login("district.admin").await;
    let mut tokens = Vec::new();
    for name in ["只向 b 发送的水位计", "只向 a 发送的水位计"] {
        tokens.push(water_level(&a, &operator, name).await);
    }
    let send = |node: &TestApp, token: &str| {
        let (client, url) = (
            node.client.clone(),
            node.url(&format!("/api/v1/telemetry/{token}")),
        );
        async move {
            // A node whose pipeline is stuck (two nodes raising the same alarm) never answers.
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                client.post(url).json(&json!({"level_cm": 1.0})).send(),
            )
            .await
            .expect("the reading is answered")
            .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        }
    };
    let advance = |ms: i64| {
        a.clock.advance(ms);
        b.clock.advance(ms);
    };
    let ((heard, heard_token), (_, probe_token)) = (&tokens[0], &tokens[1]);
    // The water-level type goes silent-blue after 600 s without data.
    send(&b, heard_token).await;
    advance(400_000);
    send(&b, heard_token).await;
    advance(400_000);
    // 800 s after registration, 400 s after b last heard it: a's timer for it came due, and a
    // reading a takes after that shows the timer pass is over.
    send(&a, probe_token).await;
    let path = format!("/api/v1/alarms?device={heard}&status=all");
    let (_, alarms) = a.call(Some(&operator), "GET", &path, None).await;
    assert_eq!(alarms.as_array().map(Vec::len), Some(0), "{alarms}");
    // 700 s after b last heard it: silent on every node, one alarm.
    advance(300_000);
    let alarms = common::eventually(&b, &operator, &path, |l| {
        l.as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    assert_eq!(alarms[0]["rule"], "offline", "{alarms}");
    send(&a, probe_token).await;
    send(&b, probe_token).await;
    let (_, alarms) = a.call(Some(&operator), "GET", &path, None).await;
    assert_eq!(alarms.as_array().map(Vec::len), Some(1), "{alarms}");
    cluster.stop(vec![a, b]).await;
}

/// A NATS server of the test's own (on a free port, JetStream on disk in `dir`), so it can be
/// stopped and started again without disturbing the machine's. Stopped when dropped, so a failing
/// test leaves no server behind.
struct OwnNats(std::process::Child);

impl OwnNats {
    fn start(port: u16, dir: &std::path::Path) -> OwnNats {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new("/usr/sbin/nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("nats-server (scripts/test installs it)");
        // nats-server says when it listens; the rest of its log is drained so it never blocks.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("Server is ready"));
        std::thread::spawn(move || lines.for_each(drop));
        let server = OwnNats(child);
        assert!(ready, "nats-server did not start on {port}");
        server
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// NATS stops while a node keeps taking reports: the nodes serve and store on, the changes wait
/// in the outbox, and once NATS is back (its stream on disk) they reach the other node's stream.
#[tokio::test]
async fn changes_made_while_nats_is_down_arrive_once_it_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = tempfile::tempdir().unwrap();
    let nats = OwnNats::start(port, store.path());
    let url = format!("nats://127.0.0.1:{port}");
    let database = postgres_url("natsrestart").await;
    let node = |url: String, database: String| {
        spawn_app_with(move |c| {
            c.storage.database_url = database;
            c.bus.url = url;
            c.bus.subject_prefix = "natsrestart".into();
        })
    };
    let a = node(url.clone(), database.clone()).await;
    let b = node(url.clone(), database.clone()).await;
    let supervisor = b.login("district.supervisor").await;
    let mut on_b = open_stream(&b, &supervisor).await;
    let resident = a.login("13800138000").await;
    let before = report(&a, &resident, "下水道堵塞（NATS 停止前）").await;
    read_stream_until(&mut on_b, &before).await;

    drop(nats);
    // A keeps taking reports while the bus is away.
    let during = report_as(&a, &resident, "C0101", "井盖缺失（NATS 停止期间）").await;
    let (_, ready) = a.get("/readyz").await;
    assert_eq!(ready["status"], "ready", "{ready}");

    let _nats = OwnNats::start(port, store.path());
    let seen = read_stream_until(&mut on_b, &during).await;
    assert!(seen.contains("\"created\""), "{seen}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
