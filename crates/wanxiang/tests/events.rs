//! The event hub end to end through HTTP: a resident's report is dispatched by location and
//! category, handled, verified, rated; bad input gets clear errors; illegal steps get 409 with
//! the allowed ones; repeated hotline work orders are stored once.

mod common;

use common::{Session, point_in, read_stream_until, spawn_app};
use serde_json::{Value, json};
use wanxiang_geo::Crs;

async fn act(app: &common::TestApp, who: &Session, id: &str, body: Value) -> (u16, Value) {
    app.call(
        Some(who),
        "POST",
        &format!("/api/v1/events/{id}/actions"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn a_blocked_drain_goes_round_the_closed_loop() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    // The phone sends GCJ-02, as Chinese phones do.
    let (lon, lat) = point_in("440303001001");
    let (glon, glat) = Crs::Gcj02.from_wgs84(lon, lat);
    let (status, case) = app
        .call(Some(&resident), "POST", "/api/v1/events", Some(json!({
            "channel": "resident_app", "location": {"lon": glon, "lat": glat, "crs": "gcj02"}, "category": "E0404",
            "description": "小区门口下水道堵塞，污水外溢", "reporter_contact": "13800138000"})))
        .await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(
        (case["stage"].as_str(), case["assignee"].as_str()),
        (Some("dispatched"), Some("440303001001"))
    );
    let explanation = case["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("→ 大塘龙社区 because 下水道堵塞 (E0404) is community-level"),
        "{explanation}"
    );
    assert!(case["due_at"].is_string() && case["overdue"] == false);
    assert!(
        case["reporter_contact"].is_null(),
        "residents do not get contacts back"
    );
    let id = case["id"].as_str().unwrap().to_owned();

    let handler = app.login("datanglong.handler").await;
    let (_, mine) = app
        .call(
            Some(&handler),
            "GET",
            "/api/v1/events?assignee=mine&stage=dispatched",
            None,
        )
        .await;
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str()),
        "{mine}"
    );
    assert_eq!(
        mine[0]["reporter_contact"], "13800138000",
        "staff see the contact"
    );
    for (action, stage) in [
        (json!({"action": "accept"}), "accepted"),
        (json!({"action": "start"}), "in_progress"),
        (json!({"action": "handle", "note": "已疏通"}), "handled"),
    ] {
        let (status, body) = act(&app, &handler, &id, action).await;
        assert_eq!(
            (status, body["stage"].as_str()),
            (200, Some(stage)),
            "{body}"
        );
    }
    let inspector = app.login("datanglong.inspector").await;
    let (status, body) = act(
        &app,
        &inspector,
        &id,
        json!({"action": "verify", "pass": true, "note": "现场核实已通"}),
    )
    .await;
    assert_eq!((status, body["stage"].as_str()), (200, Some("closed")));
    assert_eq!(body["due_at"], Value::Null);

    // Only the reporter rates; a closed case cannot be started again.
    let (status, _) = act(
        &app,
        &handler,
        &id,
        json!({"action": "rate", "level": "satisfied"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = act(&app, &handler, &id, json!({"action": "start"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("illegal_transition"))
    );
    assert_eq!(body["error"]["allowed"], json!(["rate"]));
    let (status, body) = act(
        &app,
        &resident,
        &id,
        json!({"action": "rate", "level": "very_satisfied"}),
    )
    .await;
    assert_eq!(
        (status, body["rating"].as_str()),
        (200, Some("very_satisfied"))
    );

    let (_, full) = app
        .call(
            Some(&resident),
            "GET",
            &format!("/api/v1/events/{id}"),
            None,
        )
        .await;
    let steps: Vec<String> = full["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{}:{}",
                h["action"].as_str().unwrap(),
                h["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "report:reported",
            "register:registered",
            "dispatch:dispatched",
            "accept:accepted",
            "start:in_progress",
            "handle:handled",
            "verify:closed",
            "rate:closed"
        ]
    );
    assert!(
        full["history"][3]["actor"]
            .as_str()
            .unwrap()
            .starts_with("datanglong.handler (handler, 440303001001)")
    );

    // The community's figures show it; the street next door has nothing.
    let admin = app.login("datanglong.admin").await;
    let (status, stats) = app.call(Some(&admin), "GET", "/api/v1/stats", None).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["intake"], 1);
    let value = |key: &str| value_of(&stats, key);
    assert_eq!(
        (
            value("closure_rate"),
            value("closed_on_time_rate"),
            value("satisfaction_rate")
        ),
        (json!(1.0), json!(1.0), json!(1.0))
    );
    assert_eq!(value("rework_rate"), json!(0.0));
    assert_eq!(stats["by_category"], json!([["E0404", 1]]));
    let (_, other) = app
        .call(
            Some(&app.login("huangbei.admin").await),
            "GET",
            "/api/v1/stats",
            None,
        )
        .await;
    assert_eq!(
        (other["intake"].clone(), value_of(&other, "closure_rate")),
        (json!(0), Value::Null)
    );
    let district = app.login("district.admin").await;
    let (status, narrowed) = app
        .call(
            Some(&district),
            "GET",
            "/api/v1/stats?unit=440303001&from=2020-01-01",
            None,
        )
        .await;
    assert_eq!((status, narrowed["intake"].clone()), (200, json!(1)));
    let (status, _) = app
        .call(Some(&admin), "GET", "/api/v1/stats?unit=440303002", None)
        .await;
    assert_eq!(status, 404, "outside the community's jurisdiction");
    let (status, body) = app
        .call(Some(&admin), "GET", "/api/v1/stats?from=yesterday", None)
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("from"))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unsatisfied_reporters_send_cases_back_and_unclassified_reports_wait_for_a_dispatcher() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001002");
    let (status, case) = app
        .call(Some(&resident), "POST", "/api/v1/events", Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat}, "description": "这边有点情况，麻烦派人来看一下"})))
        .await;
    assert_eq!(
        (status, case["stage"].as_str()),
        (201, Some("registered")),
        "{case}"
    );
    let id = case["id"].as_str().unwrap().to_owned();
    let dispatcher = app.login("guiyuan.dispatcher").await;
    let (_, queue) = app
        .call(
            Some(&dispatcher),
            "GET",
            "/api/v1/events?stage=registered",
            None,
        )
        .await;
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str())
    );
    let (status, body) = act(
        &app,
        &dispatcher,
        &id,
        json!({"action": "dispatch", "to": "440303001000", "category": "E0509"}),
    )
    .await;
    assert_eq!(
        (status, body["stage"].as_str(), body["category"].as_str()),
        (200, Some("dispatched"), Some("E0509")),
        "{body}"
    );

    let handler = app.login("guiyuan.handler").await;
    for action in [
        json!({"action": "accept"}),
        json!({"action": "start"}),
        json!({"action": "handle", "note": "已劝离"}),
    ] {
        assert_eq!(act(&app, &handler, &id, action).await.0, 200);
    }
    let supervisor = app.login("guiyuan.supervisor").await;
    assert_eq!(
        act(
            &app,
            &supervisor,
            &id,
            json!({"action": "verify", "pass": true})
        )
        .await
        .0,
        200
    );
    let (status, body) = act(
        &app,
        &resident,
        &id,
        json!({"action": "rate", "level": "unsatisfied"}),
    )
    .await;
    assert_eq!(
        (status, body["stage"].as_str(), body["redos"].as_u64()),
        (200, Some("in_progress"), Some(1)),
        "{body}"
    );
    assert!(
        body["due_at"].is_string(),
        "the redo runs against a new limit"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_reports_get_clear_errors() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001001");
    let report = |extra: Value| {
        let mut body = json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": "下水道堵塞"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases: &[(Value, u16, &str, Option<&str>)] = &[
        (
            json!({"location": {"lon": 116.404, "lat": 39.915}}),
            400,
            "outside_district",
            Some("location"),
        ),
        (
            json!({"location": {"lon": lon, "lat": lat, "crs": "utm"}}),
            400,
            "invalid_crs",
            Some("location.crs"),
        ),
        (
            json!({"location": {"lon": lon, "lat": 91.0}}),
            400,
            "coordinate_out_of_range",
            Some("location"),
        ),
        (
            json!({"category": "E9999"}),
            400,
            "unknown_category",
            Some("category"),
        ),
        (
            json!({"description": "堵".repeat(4001)}),
            400,
            "invalid_description",
            Some("description"),
        ),
        (
            json!({"description": "   "}),
            400,
            "invalid_description",
            Some("description"),
        ),
        (
            json!({"channel": "carrier_pigeon"}),
            400,
            "invalid_channel",
            Some("channel"),
        ),
        (json!({"channel": "hotline_12345"}), 403, "forbidden", None),
    ];
    for (extra, status, code, field) in cases {
        let (got, body) = app
            .call(
                Some(&resident),
                "POST",
                "/api/v1/events",
                Some(report(extra.clone())),
            )
            .await;
        assert_eq!(
            (
                got,
                body["error"]["code"].as_str(),
                body["error"]["field"].as_str()
            ),
            (*status, Some(*code), *field),
            "{extra}"
        );
    }
    // Invalid UTF-8 in the body is refused by the JSON extractor.
    let r = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(&resident.token)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (status, _) = app
        .call(None, "POST", "/api/v1/events", Some(report(json!({}))))
        .await;
    assert_eq!(status, 401);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_hotline_work_order_sent_twice_is_one_case() {
    let app = spawn_app().await;
    let dispatcher = app.login("district.dispatcher").await;
    let (lon, lat) = point_in("440303002001");
    let order = json!({"channel": "hotline_12345", "external_id": "12345-20261129-0042", "location": {"lon": lon, "lat": lat},
                       "category": "L0102", "description": "路口内涝积水约二十厘米"});
    let (first, a) = app
        .call(
            Some(&dispatcher),
            "POST",
            "/api/v1/events",
            Some(order.clone()),
        )
        .await;
    let (second, b) = app
        .call(Some(&dispatcher), "POST", "/api/v1/events", Some(order))
        .await;
    assert_eq!((first, second), (201, 200));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(
        (a["assignee"].as_str(), a["priority"].as_str()),
        (Some("440303D02"), Some("urgent")),
        "内涝积水 goes to 水务"
    );
    let (_, list) = app
        .call(Some(&dispatcher), "GET", "/api/v1/events", None)
        .await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["external_id"] == "12345-20261129-0042")
            .count(),
        1
    );
    // The department sees it; the street next door does not.
    let (status, _) = app
        .call(
            Some(&app.login("chengguan.handler").await),
            "GET",
            &format!("/api/v1/events/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 404, "城管 is not 水务");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_deployment_replaces_the_responsibility_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("categories.tsv");
    std::fs::write(
        &file,
        "code\tparent\tname_zh\tname_en\tresponsible\tpriority\tdispatch\taccept\thandle\tverify\n\
         E04\t\t突发事件\tEmergencies\t\t\t\t\t\t\n\
         E0404\tE04\t下水道堵塞\tBlocked drain\tstreet\thigh\t30m\t30m\t4h\t2h\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let app = common::spawn_app_with(|c| c.events.categories_file = path).await;
    let (_, tree) = app.call(None, "GET", "/api/v1/categories", None).await;
    assert_eq!(tree.as_array().unwrap().len(), 1);
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001001");
    let (status, case) = app
        .call(Some(&resident), "POST", "/api/v1/events", Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": "下水道堵塞"})))
        .await;
    assert_eq!(
        (status, case["assignee"].as_str()),
        (201, Some("440303001000")),
        "now street-level: {case}"
    );
    let mut config = app.config.clone();
    app.stop().await.unwrap();

    std::fs::write(&file, "code\tparent\n").unwrap();
    config.events.categories_file = file.display().to_string();
    let err = wanxiang::serve::load_hub(&config).unwrap_err();
    assert!(format!("{err:#}").contains("categories line"), "{err:#}");
}

#[tokio::test]
async fn deadlines_warn_then_escalate_by_themselves() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001001");
    // 下水道堵塞 (E0404) is high priority: the community must accept within 30 min / 2 = 15 min.
    let (_, case) = app
        .call(Some(&resident), "POST", "/api/v1/events", Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": "下水道堵塞"})))
        .await;
    let id = case["id"].as_str().unwrap().to_owned();
    let minute = 60_000;
    let history = |app: &common::TestApp| {
        let id = id.clone();
        let token = resident.token.clone();
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/events/{id}"));
        async move {
            let body: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let actions: Vec<String> = body["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["action"].as_str().unwrap().to_owned())
                .collect();
            (actions, body)
        }
    };
    app.clock.advance(11 * minute);
    app.clock.settle().await;
    assert!(
        !history(&app).await.0.contains(&"warn".to_owned()),
        "not yet: the warning comes at 12 of 15 minutes"
    );
    app.clock.advance(2 * minute);
    app.clock.settle().await;
    let (actions, _) = history(&app).await;
    assert_eq!(
        actions.last().map(String::as_str),
        Some("warn"),
        "{actions:?}"
    );
    let handler = app.login("datanglong.handler").await;
    let (_, inbox) = app
        .call(Some(&handler), "GET", "/api/v1/notifications", None)
        .await;
    let kinds: Vec<&str> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"warning") && kinds.contains(&"dispatch"),
        "{kinds:?}"
    );

    app.clock.advance(3 * minute);
    app.clock.settle().await;
    let (actions, body) = history(&app).await;
    assert_eq!(
        actions.last().map(String::as_str),
        Some("overdue"),
        "{actions:?}"
    );
    assert_eq!(body["overdue"], true);
    assert!(
        body["history"].as_array().unwrap().last().unwrap()["note"]
            .as_str()
            .unwrap()
            .contains("440303001000"),
        "escalated to the street"
    );
    let supervisor = app.login("guiyuan.supervisor").await;
    let (_, inbox) = app
        .call(Some(&supervisor), "GET", "/api/v1/notifications", None)
        .await;
    assert_eq!(inbox[0]["kind"], "escalated", "{inbox}");
    let sibling = app.login("huangbei.admin").await;
    let (_, theirs) = app
        .call(Some(&sibling), "GET", "/api/v1/notifications", None)
        .await;
    assert!(!theirs.to_string().contains(id.as_str()));
    // It fired once: more time changes nothing.
    app.clock.advance(60 * minute);
    app.clock.settle().await;
    let (again, _) = history(&app).await;
    assert_eq!(again, actions);
    // The supervision pass is an audited system-scope action.
    let admin = app.login("district.admin").await;
    let (_, audit) = app
        .call(Some(&admin), "GET", "/api/v1/audit?limit=100", None)
        .await;
    assert!(audit.as_array().unwrap().iter().any(|e| {
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("system (supervision of deadlines)")
    }));
    app.stop().await.unwrap();
}

fn value_of(stats: &Value, key: &str) -> Value {
    stats["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap()["value"]
        .clone()
}

#[tokio::test]
async fn the_stream_pushes_changes_in_scope_only() {
    let app = spawn_app().await;
    let street = app.login("guiyuan.admin").await;
    let mut resp = app
        .client
        .get(app.url("/api/v1/stream"))
        .bearer_auth(&street.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    read_stream_until(&mut resp, "event: ready").await;

    let dispatcher = app.login("district.dispatcher").await;
    let report = |community: &str, text: &str| {
        let (lon, lat) = point_in(community);
        json!({"channel": "hotline_12345", "location": {"lon": lon, "lat": lat}, "category": "E0509", "description": text})
    };
    // First a case in 黄贝 (not the street's), then one in 桂园: the stream delivers in order, so
    // if the foreign case were let through it would appear before the street's own.
    let (_, foreign) = app
        .call(
            Some(&dispatcher),
            "POST",
            "/api/v1/events",
            Some(report("440303002001", "黄贝的案件")),
        )
        .await;
    let (_, own) = app
        .call(
            Some(&dispatcher),
            "POST",
            "/api/v1/events",
            Some(report("440303001002", "桂园的案件")),
        )
        .await;
    let seen = read_stream_until(&mut resp, own["id"].as_str().unwrap()).await;
    assert!(!seen.contains(foreign["id"].as_str().unwrap()), "{seen}");
    assert!(
        seen.contains("event: case") && seen.contains("\"kind\":\"created\""),
        "{seen}"
    );
    // Actions stream too.
    let handler = app.login("guiyuan.handler").await;
    let id = own["id"].as_str().unwrap();
    app.call(
        Some(&handler),
        "POST",
        &format!("/api/v1/events/{id}/actions"),
        Some(json!({"action": "accept"})),
    )
    .await;
    let seen = read_stream_until(&mut resp, "\"kind\":\"accept\"").await;
    assert!(seen.contains(id));
    drop(resp);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn residents_reports_are_rate_limited_staff_are_not() {
    let app = common::spawn_app_with(|c| c.auth.resident_reports_per_minute = 2).await;
    let (lon, lat) = point_in("440303001001");
    let body = json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": "下水道堵塞"});
    let resident = app.login("13800138000").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            app.call(
                Some(&resident),
                "POST",
                "/api/v1/events",
                Some(body.clone()),
            )
            .await
            .0,
        );
    }
    assert_eq!(statuses, [201, 201, 429]);
    let inspector = app.login("datanglong.inspector").await;
    let staff = json!({"channel": "inspector", "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": "巡查发现"});
    for _ in 0..3 {
        assert_eq!(
            app.call(
                Some(&inspector),
                "POST",
                "/api/v1/events",
                Some(staff.clone())
            )
            .await
            .0,
            201
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_free_text_report_about_a_blocked_drain_is_classified_and_dispatched() {
    let app = spawn_app().await;
    let resident = app.login("13800138001").await;
    let (lon, lat) = point_in("440303001001");
    let (status, case) = app
        .call(
            Some(&resident),
            "POST",
            "/api/v1/events",
            Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat},
            "description": "我们楼下的下水道又堵了，污水都漫到路上来了，味道很大"})),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(
        (
            case["category"].as_str(),
            case["stage"].as_str(),
            case["assignee"].as_str()
        ),
        (Some("E0404"), Some("dispatched"), Some("440303001001")),
        "{case}"
    );
    let explanation = case["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("自动分类为 下水道堵塞 (E0404)，置信度"),
        "{explanation}"
    );
    assert!(case.get("suggestions").is_none() || case["suggestions"].is_null());
    // … and goes round the whole loop into the figures.
    let id = case["id"].as_str().unwrap().to_owned();
    let handler = app.login("datanglong.handler").await;
    for action in [
        json!({"action": "accept"}),
        json!({"action": "start"}),
        json!({"action": "handle", "note": "已清淤疏通"}),
    ] {
        assert_eq!(act(&app, &handler, &id, action).await.0, 200);
    }
    let inspector = app.login("datanglong.inspector").await;
    assert_eq!(
        act(
            &app,
            &inspector,
            &id,
            json!({"action": "verify", "pass": true, "note": "已通"})
        )
        .await
        .0,
        200
    );
    let (status, rated) = act(
        &app,
        &resident,
        &id,
        json!({"action": "rate", "level": "satisfied"}),
    )
    .await;
    assert_eq!((status, rated["stage"].as_str()), (200, Some("closed")));
    let admin = app.login("datanglong.admin").await;
    let (_, stats) = app.call(Some(&admin), "GET", "/api/v1/stats", None).await;
    assert_eq!(
        (
            stats["intake"].clone(),
            value_of(&stats, "closure_rate"),
            value_of(&stats, "satisfaction_rate")
        ),
        (json!(1), json!(1.0), json!(1.0))
    );
    assert_eq!(stats["per_day"].as_array().unwrap().len(), 1, "{stats}");
    assert_eq!(
        stats["hotspots"][0][0].as_str(),
        case["location"]["unit"].as_str(),
        "the grid is the hotspot"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn work_for_a_social_entity_goes_to_the_one_serving_the_place() {
    let app = spawn_app().await;
    let inspector = app.login("datanglong.inspector").await;
    let (lon, lat) = point_in("440303001001");
    let (status, case) = app
        .call(Some(&inspector), "POST", "/api/v1/events", Some(json!({
            "channel": "inspector", "location": {"lon": lon, "lat": lat}, "category": "L0106", "description": "三楼楼道堆满纸箱"})))
        .await;
    assert_eq!(
        (status, case["assignee"].as_str()),
        (201, Some("entity:demo-wuye")),
        "{case}"
    );
    let id = case["id"].as_str().unwrap();
    // The property manager's member sees it and takes it on; the cleaning company does not see it.
    let member = app.login("wuye.member").await;
    let (status, body) = act(&app, &member, id, json!({"action": "accept"})).await;
    assert_eq!(
        (status, body["stage"].as_str()),
        (200, Some("accepted")),
        "{body}"
    );
    let other = app.login("qingjie.member").await;
    assert_eq!(
        app.call(Some(&other), "GET", &format!("/api/v1/events/{id}"), None)
            .await
            .0,
        404
    );
    app.stop().await.unwrap();
}
