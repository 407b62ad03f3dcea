//! The sensing hub through its public edges: devices registered over HTTP, telemetry over HTTP
//! and MQTT (ThingsBoard's convention), alarms judged, escalated and cleared, and the case an
//! alarm opens in the event hub; inactivity alarms on the (manual) clock; alarm state across a
//! restart.

mod common;

use std::time::Duration;

use common::{
    Session, TestApp, eventually, open_stream, point_in, read_stream_until, spawn_app,
    spawn_app_with,
};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use wanxiang_api::clock::Clock;

/// Registers a device of `kind` in `community`; returns (id, token).
async fn register(app: &TestApp, who: &Session, kind: &str, community: &str) -> (String, String) {
    let p = point_in(community);
    let (status, body) = app
        .call(
            Some(who),
            "POST",
            "/api/v1/devices",
            Some(json!({"type": kind, "name": format!("测试{kind}"), "location": {"lon": p.0, "lat": p.1}, "installed_on": "2026-05-01"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["device"]["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn send(app: &TestApp, token: &str, payload: Value) -> (u16, Value) {
    app.call(
        None,
        "POST",
        &format!("/api/v1/telemetry/{token}"),
        Some(payload),
    )
    .await
}

#[tokio::test]
async fn a_water_level_alarm_opens_a_dispatched_case_escalates_and_clears() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let (device, token) = register(&app, &operator, "water_level", "440303001001").await;

    // Registration is checked.
    let p = point_in("440303001001");
    for (body, field) in [
        (
            json!({"type": "toaster", "name": "x", "location": {"lon": p.0, "lat": p.1}}),
            "type",
        ),
        (
            json!({"type": "water_level", "name": "x", "location": {"lon": 116.4, "lat": 39.9}}),
            "location",
        ),
        (
            json!({"type": "water_level", "name": "", "location": {"lon": p.0, "lat": p.1}}),
            "name",
        ),
    ] {
        let (status, err) = app
            .call(Some(&operator), "POST", "/api/v1/devices", Some(body))
            .await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    // Residents may not register devices.
    let resident = app.login("13800138000").await;
    let (status, _) = app
        .call(
            Some(&resident),
            "POST",
            "/api/v1/devices",
            Some(json!({"type": "water_level", "name": "x", "location": {"lon": p.0, "lat": p.1}})),
        )
        .await;
    assert_eq!(status, 403);

    let now = app.clock.now_ms();
    let (status, body) = send(
        &app,
        &token,
        json!({"ts": now - 2000, "values": {"level_cm": 5.0, "battery_pct": 90}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["readings"], 1);
    let (status, _) = send(&app, "not-a-token", json!({"level_cm": 1})).await;
    assert_eq!(status, 401);

    // 20 cm: yellow (≥ 15), which opens a case dispatched like any report of 内涝积水.
    let (status, _) = send(
        &app,
        &token,
        json!({"ts": now - 1000, "values": {"level_cm": 20.0}}),
    )
    .await;
    assert_eq!(status, 200);
    let alarms = eventually(&app, &operator, "/api/v1/alarms", |b| {
        b.as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["case_id"].is_string())
    })
    .await;
    let alarm = &alarms[0];
    assert_eq!(alarm["level"], "yellow");
    assert_eq!(alarm["rule"], "level_high");
    assert_eq!(alarm["device_id"], device);
    let alarm_id = alarm["id"].as_str().unwrap().to_owned();
    let case_id = alarm["case_id"].as_str().unwrap().to_owned();
    let (status, case) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/events/{case_id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{case}");
    assert_eq!(case["channel"], "sensor");
    assert_eq!(case["category"], "L0102");
    assert_eq!(case["stage"], "dispatched", "{case}");
    assert_eq!(case["assignee"], "440303D02", "{case}");
    // Yellow: normal priority (the category alone would make it urgent).
    assert_eq!(case["priority"], "normal", "{case}");
    // The alarm is attached to the case with its readings around it.
    let evidence = &case["sensor_alarms"][0];
    assert_eq!(evidence["alarm"]["id"], alarm_id.as_str(), "{case}");
    assert_eq!(
        (evidence["key"].as_str(), evidence["unit"].as_str()),
        (Some("level_cm"), Some("cm"))
    );
    let values: Vec<f64> = evidence["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [5.0, 20.0], "{evidence}");

    // 30 cm: orange; the case hears of it.
    send(
        &app,
        &token,
        json!({"ts": now, "values": {"level_cm": 30.0}}),
    )
    .await;
    let (_, alarm) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms/{alarm_id}"),
            None,
        )
        .await;
    assert_eq!(alarm["level"], "orange", "{alarm}");
    assert_eq!(alarm["peak"], "orange");
    assert_eq!(alarm["case_id"], case_id.as_str());
    // Escalation raises the case's priority (orange: high), in its history.
    let case = eventually(&app, &operator, &format!("/api/v1/events/{case_id}"), |c| {
        c["priority"] == "high"
    })
    .await;
    assert!(
        case["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "reprioritize"
                && e["note"].as_str().unwrap().contains("优先级由一般升为紧急")),
        "{case}"
    );

    // 14 cm is still within yellow's hysteresis (15 − 2); 5 cm clears.
    send(
        &app,
        &token,
        json!({"ts": now + 1, "values": {"level_cm": 14.0}}),
    )
    .await;
    send(
        &app,
        &token,
        json!({"ts": now + 2, "values": {"level_cm": 5.0}}),
    )
    .await;
    let (_, alarm) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms/{alarm_id}"),
            None,
        )
        .await;
    assert_eq!(alarm["status"], "cleared", "{alarm}");
    let actions: Vec<&str> = alarm["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "raised",
            "case_opened",
            "escalated",
            "deescalated",
            "cleared"
        ]
    );
    let (_, open) = app
        .call(Some(&operator), "GET", "/api/v1/alarms", None)
        .await;
    assert_eq!(open.as_array().unwrap().len(), 0);
    // The case's alarms, cleared ones included.
    let (_, of_case) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?case={case_id}&status=all"),
            None,
        )
        .await;
    assert_eq!(of_case.as_array().unwrap().len(), 1, "{of_case}");
    assert_eq!(of_case[0]["status"], "cleared");
    let (_, case) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/events/{case_id}"),
            None,
        )
        .await;
    let notes: Vec<&str> = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "alarm")
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(notes[2].contains("告警解除"), "{notes:?}");

    // Bad data is counted per device, and the good values beside it kept.
    let (status, body) = send(
        &app,
        &token,
        json!([{"ts": now + 3, "values": {"level_cm": 700, "battery_pct": 80, "colour": "red"}}, 7]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["readings"], 1);
    assert_eq!(
        body["refused"],
        json!({"out_of_range": 1, "unknown_key": 1, "malformed": 1})
    );
    let (_, dev) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/devices/{device}"),
            None,
        )
        .await;
    assert_eq!(dev["bad_values"], 3, "{dev}");
    assert_eq!(dev["state"], "active");

    // The series: raw, and aggregated.
    let (status, points) = app
        .call(
            Some(&operator),
            "GET",
            &format!(
                "/api/v1/devices/{device}/telemetry?key=level_cm&from={}&to={}",
                now - 10_000,
                now + 10
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{points}");
    let levels: Vec<f64> = points
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["values"]["level_cm"].as_f64().unwrap())
        .collect();
    assert_eq!(levels, [5.0, 20.0, 30.0, 14.0, 5.0]);
    let (_, max) = app
        .call(
            Some(&operator),
            "GET",
            &format!(
                "/api/v1/devices/{device}/telemetry?key=level_cm&agg=max&interval=3600&from={}&to={}",
                now - 10_000,
                now + 10
            ),
            None,
        )
        .await;
    // (Buckets fall on the hour, so the readings may straddle two.)
    let peak = max
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["values"]["level_cm"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(peak, 30.0, "{max}");
    // The same from the minute rollups, and the count over all buckets is every reading.
    let (_, counts) = app
        .call(
            Some(&operator),
            "GET",
            &format!(
                "/api/v1/devices/{device}/telemetry?key=level_cm&agg=count&interval=60&from={}&to={}",
                now - 10_000,
                now + 10
            ),
            None,
        )
        .await;
    let total: f64 = counts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["values"]["level_cm"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 5.0, "{counts}");
    let (_, latest) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/devices/{device}/latest"),
            None,
        )
        .await;
    assert_eq!(latest["values"]["battery_pct"]["value"], 80.0, "{latest}");
    assert_eq!(latest["values"]["level_cm"]["value"], 5.0);
    app.stop().await.unwrap();
}

async fn mqtt_addr(app: &TestApp) -> (String, u16) {
    let (_, ready) = app.get("/readyz").await;
    let addr: std::net::SocketAddr = ready["mqtt"].as_str().unwrap().parse().unwrap();
    (addr.ip().to_string(), addr.port())
}

/// Connects with `token` as the username; returns the client, its event loop and the CONNACK.
async fn connect(
    host: &str,
    port: u16,
    token: &str,
) -> (AsyncClient, rumqttc::EventLoop, ConnectReturnCode) {
    let mut options = MqttOptions::new(format!("test-{token}"), host, port);
    options.set_credentials(token, "");
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 64);
    let code = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return ack.code,
                Ok(_) => {}
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return code,
                Err(e) => panic!("connection failed: {e}"),
            }
        }
    })
    .await
    .expect("a CONNACK");
    (client, events, code)
}

#[tokio::test]
async fn devices_publish_over_mqtt_with_their_token_and_get_puback_once_stored() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let (device, token) = register(&app, &operator, "smoke", "440303002001").await;
    let (host, port) = mqtt_addr(&app).await;

    let (_, _, refused) = connect(&host, port, "wrong-token").await;
    assert_ne!(refused, ConnectReturnCode::Success);

    let (client, mut events, code) = connect(&host, port, &token).await;
    assert_eq!(code, ConnectReturnCode::Success);
    let now = app.clock.now_ms();
    let payloads = [
        json!({"ts": now - 3000, "values": {"smoke": 0, "temperature_c": 26.5, "battery_pct": 77}}),
        json!([{"ts": now - 2000, "values": {"temperature_c": 27.0}}, {"ts": now - 1000, "values": {"smoke": true}}]),
    ];
    for p in &payloads {
        client
            .publish(
                "v1/devices/me/telemetry",
                QoS::AtLeastOnce,
                false,
                p.to_string(),
            )
            .await
            .unwrap();
    }
    let mut acks = 0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while acks < payloads.len() {
            if let Event::Incoming(Packet::PubAck(_)) = events.poll().await.unwrap() {
                acks += 1;
            }
        }
    })
    .await
    .expect("every publish acknowledged");
    // Acknowledged means stored: the readings are there now.
    let (_, points) = app
        .call(
            Some(&operator),
            "GET",
            &format!(
                "/api/v1/devices/{device}/telemetry?from={}&to={}",
                now - 10_000,
                now + 1
            ),
            None,
        )
        .await;
    assert_eq!(points.as_array().unwrap().len(), 3, "{points}");
    // Smoke is red: a case for the emergency management department.
    let alarms = eventually(
        &app,
        &operator,
        &format!("/api/v1/alarms?device={device}"),
        |b| {
            b.as_array()
                .is_some_and(|l| l.len() == 1 && l[0]["case_id"].is_string())
        },
    )
    .await;
    assert_eq!(alarms[0]["level"], "red");
    assert_eq!(alarms[0]["rule"], "smoke");
    // An operator acknowledges, then clears it by hand.
    let id = alarms[0]["id"].as_str().unwrap();
    let (status, a) = app
        .call(
            Some(&operator),
            "POST",
            &format!("/api/v1/alarms/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(
        (status, a["status"].as_str()),
        (200, Some("acknowledged")),
        "{a}"
    );
    let (status, a) = app
        .call(
            Some(&operator),
            "POST",
            &format!("/api/v1/alarms/{id}/clear"),
            None,
        )
        .await;
    assert_eq!(
        (status, a["status"].as_str()),
        (200, Some("cleared")),
        "{a}"
    );
    let (status, _) = app
        .call(
            Some(&operator),
            "POST",
            &format!("/api/v1/alarms/{id}/clear"),
            None,
        )
        .await;
    assert_eq!(status, 409);
    client.disconnect().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_device_raises_an_inactivity_alarm_on_time() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let (device, token) = register(&app, &operator, "water_level", "440303001001").await;
    // The water-level type goes blue after 600 s without data.
    send(&app, &token, json!({"level_cm": 1.0})).await;
    app.clock.advance(599_000);
    // Nothing yet: a reading arriving now would still be in time.
    let (_, alarms) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={device}"),
            None,
        )
        .await;
    assert_eq!(alarms.as_array().unwrap().len(), 0, "{alarms}");
    app.clock.advance(2_000);
    let alarms = eventually(
        &app,
        &operator,
        &format!("/api/v1/alarms?device={device}"),
        |b| b.as_array().is_some_and(|l| l.len() == 1),
    )
    .await;
    assert_eq!(alarms[0]["rule"], "offline");
    assert_eq!(alarms[0]["level"], "blue");
    // Blue opens no case (the case level is yellow).
    assert!(alarms[0]["case_id"].is_null());
    let (_, dev) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/devices/{device}"),
            None,
        )
        .await;
    assert_eq!(dev["state"], "inactive", "{dev}");
    // Data again: cleared.
    send(&app, &token, json!({"level_cm": 1.0})).await;
    let (_, alarms) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={device}"),
            None,
        )
        .await;
    assert_eq!(alarms.as_array().unwrap().len(), 0, "{alarms}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_alarm_nobody_acknowledges_goes_up_a_level_on_time_and_raises_its_case() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let (device, token) = register(&app, &operator, "water_level", "440303001001").await;
    let path = format!("/api/v1/alarms?device={device}");
    let level_alarm = |b: &Value| -> Option<Value> {
        b.as_array()?
            .iter()
            .find(|a| a["rule"] == "level_high")
            .cloned()
    };
    send(&app, &token, json!({"level_cm": 20.0})).await;
    let alarms = eventually(&app, &operator, &path, |b| {
        level_alarm(b).is_some_and(|a| a["case_id"].is_string())
    })
    .await;
    let alarm = level_alarm(&alarms).unwrap();
    assert_eq!(alarm["level"], "yellow");
    let case_id = alarm["case_id"].as_str().unwrap().to_owned();

    // The default is an hour: a second short of it, nothing.
    app.clock.advance(3_599_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, alarms) = app.call(Some(&operator), "GET", &path, None).await;
    assert_eq!(level_alarm(&alarms).unwrap()["level"], "yellow");
    app.clock.advance(2_000);
    let alarms = eventually(&app, &operator, &path, |b| {
        level_alarm(b).is_some_and(|a| a["level"] == "orange")
    })
    .await;
    let alarm = level_alarm(&alarms).unwrap();
    assert_eq!(alarm["status"], "active");
    let id = alarm["id"].as_str().unwrap().to_owned();
    let (_, detail) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms/{id}"),
            None,
        )
        .await;
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "escalated", "{detail}");
    assert!(
        last["note"].as_str().unwrap().contains("无人确认"),
        "{last}"
    );
    eventually(&app, &operator, &format!("/api/v1/events/{case_id}"), |c| {
        c["priority"] == "high"
    })
    .await;

    // Acknowledged: no further escalation however long it stays.
    let (status, body) = app
        .call(
            Some(&operator),
            "POST",
            &format!("/api/v1/alarms/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.clock.advance(3 * 3_600_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, alarms) = app.call(Some(&operator), "GET", &path, None).await;
    let alarm = level_alarm(&alarms).unwrap();
    assert_eq!(
        (alarm["level"].as_str(), alarm["status"].as_str()),
        (Some("orange"), Some("acknowledged"))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn alarms_reach_the_streams_of_those_who_see_their_device_only() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let guiyuan = open_stream(&app, &app.login("guiyuan.admin").await).await;
    let mut huangbei = open_stream(&app, &app.login("huangbei.admin").await).await;
    let mut guiyuan = guiyuan;
    let (device, token) = register(&app, &operator, "water_level", "440303001001").await;
    send(&app, &token, json!({"level_cm": 20.0})).await;
    let seen = read_stream_until(&mut guiyuan, "\"kind\":\"case_opened\"").await;
    assert!(seen.contains("event: alarm"), "{seen}");
    assert!(seen.contains("\"kind\":\"raised\""), "{seen}");
    assert!(
        seen.contains(&format!("\"device_id\":\"{device}\"")),
        "{seen}"
    );
    assert!(seen.contains("\"level\":\"yellow\""), "{seen}");
    assert!(
        seen.contains("event: case"),
        "the alarm's case streams too: {seen}"
    );
    // An operator's acknowledgement streams as well.
    let (_, alarms) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={device}"),
            None,
        )
        .await;
    let id = alarms[0]["id"].as_str().unwrap();
    app.call(
        Some(&operator),
        "POST",
        &format!("/api/v1/alarms/{id}/acknowledge"),
        None,
    )
    .await;
    read_stream_until(&mut guiyuan, "\"kind\":\"acknowledged\"").await;

    // 黄贝 sees its own device's alarm, and (the stream keeps order) never saw 桂园's before it.
    let (other, token) = register(&app, &operator, "water_level", "440303002001").await;
    send(&app, &token, json!({"level_cm": 20.0})).await;
    let seen = read_stream_until(&mut huangbei, &other).await;
    assert!(!seen.contains(&device), "{seen}");
    drop((guiyuan, huangbei));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_device_registered_by_another_node_is_judged_before_it_ever_sends() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    // Another node (here: a second store on the same database) registers a water-level sensor.
    let other = wanxiang_store_sqlite::SqliteStore::open(app.db_path().to_str().unwrap())
        .await
        .unwrap();
    let p = point_in("440303001001");
    let now = app.clock.now_ms();
    use wanxiang_store::Store;
    other
        .create_device(
            &wanxiang_core::Scope::system("another node"),
            &wanxiang_store::NewDevice {
                record: wanxiang_store::DeviceRecord {
                    id: "dev-elsewhere".into(),
                    type_code: "water_level".into(),
                    name: "别的节点登记的积水点".into(),
                    lon: p.0,
                    lat: p.1,
                    area: wanxiang_core::UnitCode::parse("440303001001").unwrap(),
                    org: "440303D02".into(),
                    owner: None,
                    installed_on: None,
                    disabled: false,
                    rules: None,
                    last_seen: None,
                    bad_values: 0,
                    bad_by_reason: Vec::new(),
                    created_at: now,
                },
                token_hash: "not-a-real-token-hash".into(),
            },
        )
        .await
        .unwrap();
    // This node looks for changed devices every 30 s; the water-level type goes silent-blue
    // after 600 s without data, counted from registration.
    app.clock.advance(31_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.clock.advance(600_000);
    let alarms = eventually(
        &app,
        &operator,
        "/api/v1/alarms?device=dev-elsewhere",
        |b| b.as_array().is_some_and(|l| l.len() == 1),
    )
    .await;
    assert_eq!(alarms[0]["rule"], "offline", "{alarms}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn rule_overrides_are_validated_and_alarm_state_survives_a_restart() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let (device, token) = register(&app, &operator, "water_level", "440303001001").await;
    // A bad override is refused with the rule named.
    let (status, err) = app
        .call(
            Some(&operator),
            "PUT",
            &format!("/api/v1/devices/{device}/rules"),
            Some(json!([{"code": "deep", "name_zh": "深", "name_en": "Deep", "source": "value", "key": "depth", "op": "above", "steps": [["red", 1]]}])),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"].as_str().unwrap().contains("depth"),
        "{err}"
    );
    // Duration: 50 cm must hold for a minute before red.
    let (status, dev) = app
        .call(
            Some(&operator),
            "PUT",
            &format!("/api/v1/devices/{device}/rules"),
            Some(json!([{"code": "deep", "name_zh": "深", "name_en": "Deep", "source": "value", "key": "level_cm", "op": "above", "steps": [["yellow", 20], ["red", 50]], "hysteresis": 5, "for_secs": 60}])),
        )
        .await;
    assert_eq!(status, 200, "{dev}");
    assert_eq!(dev["rules"].as_array().unwrap().len(), 1);
    let t = app.clock.now_ms();
    send(
        &app,
        &token,
        json!({"ts": t - 120_000, "values": {"level_cm": 60.0}}),
    )
    .await;
    send(
        &app,
        &token,
        json!({"ts": t - 90_000, "values": {"level_cm": 60.0}}),
    )
    .await;
    let (_, alarms) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={device}"),
            None,
        )
        .await;
    assert_eq!(
        alarms.as_array().unwrap().len(),
        0,
        "30 s is not a minute: {alarms}"
    );

    // Restart: the condition's start time survives, so the next reading completes the minute.
    let config = app.config.clone();
    let data = app.stop_keeping_data().await;
    let app = spawn_app_with(|c| {
        *c = config.clone();
        c.storage.data_dir = data.path().to_path_buf();
    })
    .await;
    let operator = app.login("district.operator").await;
    send(
        &app,
        &token,
        json!({"ts": t - 60_000, "values": {"level_cm": 58.0}}),
    )
    .await;
    let alarms = eventually(
        &app,
        &operator,
        &format!("/api/v1/alarms?device={device}"),
        |b| b.as_array().is_some_and(|l| l.len() == 1),
    )
    .await;
    assert_eq!(alarms[0]["level"], "red", "{alarms}");
    let alarm_id = alarms[0]["id"].as_str().unwrap().to_owned();
    // And again across a restart: the alarm and its level stand; 47 cm is within hysteresis.
    // (This server's data directory is still `data`.)
    let config = app.config.clone();
    app.stop().await.unwrap();
    let app = spawn_app_with(|c| *c = config.clone()).await;
    let operator = app.login("district.operator").await;
    send(
        &app,
        &token,
        json!({"ts": t - 30_000, "values": {"level_cm": 47.0}}),
    )
    .await;
    let (_, alarms) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/alarms?device={device}"),
            None,
        )
        .await;
    assert_eq!(alarms.as_array().unwrap().len(), 1, "{alarms}");
    assert_eq!(alarms[0]["id"], alarm_id.as_str());
    assert_eq!(alarms[0]["level"], "red");
    drop(data);
    app.stop().await.unwrap();
}
