//! `wanxiang simulate` against a real server: the demo gateway drives the scripted incidents
//! into alarms and cases; devices on their own connections get every reading acknowledged, and
//! their normal values raise no alarm at all; over HTTP every acknowledged reading is stored and
//! the incidents alarm too; devices the server does not know are refused and skipped.

mod common;

use std::time::Duration;

use common::{Session, TestApp, spawn_app_with};
use serde_json::Value;
use wanxiang::simulate::{self, Mode, Options, Qos, Summary};

/// The server's MQTT gateway as a broker URL.
async fn broker(app: &TestApp) -> String {
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let addr = ready["mqtt"].as_str().expect("the MQTT gateway listens");
    format!("mqtt://{addr}")
}

/// Every alarm, open and cleared.
async fn all_alarms(app: &TestApp, who: &Session) -> Vec<Value> {
    let mut all = Vec::new();
    for status in ["open", "cleared"] {
        let path = format!("/api/v1/alarms?status={status}&limit=1000");
        let (code, body) = app.call(Some(who), "GET", &path, None).await;
        assert_eq!(code, 200, "{body}");
        all.extend(body.as_array().cloned().unwrap_or_default());
    }
    all
}

/// The demo devices as the server lists them (with their refused-value counts).
async fn devices(app: &TestApp, who: &Session) -> Vec<Value> {
    let (code, body) = app
        .call(Some(who), "GET", "/api/v1/devices?limit=1000", None)
        .await;
    assert_eq!(code, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

fn level_rank(level: &str) -> u8 {
    match level {
        "blue" => 1,
        "yellow" => 2,
        "orange" => 3,
        "red" => 4,
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_drives_the_incidents_into_alarms_and_cases() {
    let app = spawn_app_with(|c| c.sensing.demo_devices = 30).await;
    let operator = app.login("district.operator").await;
    let options = Options {
        devices: 30,
        rate: 60.0,
        broker: broker(&app).await,
        mode: Mode::Gateway { connections: 3 },
        seconds: Some(8),
        incidents: true,
        speed: 10.0,
        qos: Qos::AtLeastOnce,
        quiet: false,
    };
    // ~8 s at 60/s, the slope's 24-reading history and the gateways' heartbeats.
    let summary = run_without_loss(options, 300..=700).await;
    assert!(summary.elapsed >= Duration::from_secs(8), "{summary}");

    // The underpass flooded past yellow (at script 36 s, real 3.6 s): an alarm with a case.
    let mut water = Value::Null;
    // Generous: the case is opened after the alarm's commit, and CI runs tests side by side.
    for _ in 0..300 {
        let (code, body) = app
            .call(
                Some(&operator),
                "GET",
                "/api/v1/alarms?device=demo-000000",
                None,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        if let Some(a) = body.as_array().and_then(|l| {
            l.iter()
                .find(|a| a["rule"] == "level_high" && a["case_id"].is_string())
        }) {
            water = a.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(water.is_object(), "no water-level alarm with a case");
    let peak = water["peak"].as_str().unwrap_or_default();
    assert!(level_rank(peak) >= level_rank("yellow"), "{water}");

    // Only the incident devices alarmed: the smoke detector (red) and the slope among them.
    let alarms = all_alarms(&app, &operator).await;
    for a in &alarms {
        let device = a["device_id"].as_str().unwrap_or_default();
        assert!(
            ["demo-000000", "demo-000001", "demo-000002", "demo-000003"].contains(&device),
            "an ordinary device alarmed: {a}"
        );
    }
    assert!(
        alarms
            .iter()
            .any(|a| a["device_id"] == "demo-000002" && a["rule"] == "smoke" && a["peak"] == "red"),
        "the fire raised a red smoke alarm: {alarms:?}"
    );
    // The slope's 6-hour history filled the rate window, so the rain's acceleration alarmed
    // within the run (yellow passes at ~40 s of script, 4 s here).
    assert!(
        alarms
            .iter()
            .any(|a| a["device_id"] == "demo-000001" && a["rule"] == "displacement_rate"),
        "the slope's displacement rate alarmed: {alarms:?}"
    );

    // Devices have readings, all of them good.
    let (code, latest) = app
        .call(
            Some(&operator),
            "GET",
            "/api/v1/devices/demo-000007/latest",
            None,
        )
        .await;
    assert_eq!(code, 200, "{latest}");
    assert!(
        latest["values"].as_object().is_some_and(|v| !v.is_empty()),
        "{latest}"
    );
    let listed = devices(&app, &operator).await;
    let demo: Vec<&Value> = listed
        .iter()
        .filter(|d| d["id"].as_str().is_some_and(|id| id.starts_with("demo-0")))
        .collect();
    assert_eq!(demo.len(), 30);
    for d in &demo {
        assert_eq!(d["bad_values"], 0, "{d}");
        assert!(d["last_seen"].is_string(), "never heard from: {d}");
    }
    let gateway = listed
        .iter()
        .find(|d| d["id"] == "demo-gateway")
        .expect("the demo gateway");
    assert!(gateway["last_seen"].is_string(), "no heartbeat: {gateway}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_on_their_own_connections_are_acked_and_never_alarm() {
    // The server knows 10 demo devices; the simulator tries 12, so the last two are refused.
    let app = spawn_app_with(|c| c.sensing.demo_devices = 10).await;
    let operator = app.login("district.operator").await;
    let options = Options {
        devices: 12,
        rate: 24.0,
        broker: broker(&app).await,
        mode: Mode::Device,
        seconds: Some(3),
        incidents: false,
        speed: 1.0,
        qos: Qos::AtLeastOnce,
        quiet: false,
    };
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        simulate::run(options, std::future::pending()),
    )
    .await
    .expect("the run stops after its seconds")
    .expect("the run succeeds");
    assert_eq!(summary.refused, 2, "{summary}");
    assert!(
        summary.sent >= 30,
        "~2 readings/s from 10 devices: {summary}"
    );
    assert_eq!(summary.acked, summary.sent, "{summary}");
    assert_eq!(summary.dropped + summary.lost, 0, "{summary}");

    // Normal values raise nothing, open or cleared (inactivity needs the server clock to move,
    // which it does not here).
    let alarms = all_alarms(&app, &operator).await;
    assert!(alarms.is_empty(), "{alarms:?}");
    let listed = devices(&app, &operator).await;
    let heard = listed
        .iter()
        .filter(|d| d["id"].as_str().is_some_and(|id| id.starts_with("demo-0")))
        .filter(|d| d["last_seen"].is_string())
        .count();
    assert_eq!(heard, 10, "{listed:?}");
    assert!(listed.iter().all(|d| d["bad_values"] == 0), "{listed:?}");

    // A run that stops on its shutdown signal, before its time, still returns its summary.
    let options = Options {
        devices: 3,
        rate: 30.0,
        broker: broker(&app).await,
        mode: Mode::Device,
        seconds: None,
        incidents: false,
        speed: 1.0,
        qos: Qos::AtLeastOnce,
        quiet: false,
    };
    let summary = simulate::run(options, tokio::time::sleep(Duration::from_secs(1)))
        .await
        .unwrap();
    assert!(
        summary.sent > 0 && summary.acked == summary.sent,
        "{summary}"
    );
    assert!(summary.elapsed < Duration::from_secs(3), "{summary}");

    // A broker that is not there is a clear error, not a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = simulate::run(
        Options {
            broker: format!("mqtt://127.0.0.1:{port}"),
            ..Options::default()
        },
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("cannot reach the MQTT broker"),
        "{err:#}"
    );
    app.stop().await.unwrap();
}

/// Runs the simulator to the end of its seconds and checks that it sent about the expected
/// number of readings (`sent`), every one acknowledged, none refused, dropped or lost.
async fn run_without_loss(options: Options, sent: std::ops::RangeInclusive<u64>) -> Summary {
    let summary = tokio::time::timeout(
        Duration::from_secs(30),
        simulate::run(options, std::future::pending()),
    )
    .await
    .expect("the run stops after its seconds")
    .expect("the run succeeds");
    assert!(
        sent.contains(&summary.sent),
        "about the asked rate: {summary}"
    );
    assert_eq!(
        summary.acked, summary.sent,
        "every reading stored: {summary}"
    );
    assert_eq!(
        summary.refused + summary.dropped + summary.lost,
        0,
        "{summary}"
    );
    summary
}

#[tokio::test]
async fn a_server_without_the_demo_gateway_refuses_it_clearly() {
    let app = spawn_app_with(|c| c.sensing.demo_devices = 0).await;
    let options = Options {
        devices: 5,
        rate: 5.0,
        broker: broker(&app).await,
        mode: Mode::Gateway { connections: 2 },
        seconds: Some(5),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let err = simulate::run(options, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("refused the demo gateway"),
        "{err:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "failed early");
    app.stop().await.unwrap();
}

/// How many raw readings the server holds for the first `n` demo devices, of any time.
async fn stored_readings(app: &TestApp, who: &Session, n: usize) -> usize {
    let mut stored = 0;
    for i in 0..n {
        let path =
            format!("/api/v1/devices/demo-{i:06}/telemetry?from=0&to=4102444800000&limit=10000");
        let (code, body) = app.call(Some(who), "GET", &path, None).await;
        assert_eq!(code, 200, "{body}");
        stored += body.as_array().map_or(0, Vec::len);
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_every_acknowledged_reading_is_stored_and_the_incidents_alarm() {
    // The server's own demo simulator is off, so every reading and alarm here is the run's.
    let app = spawn_app_with(|c| {
        c.sensing.demo_devices = 30;
        c.sensing.demo_simulator_rate = 0.0;
    })
    .await;
    let operator = app.login("district.operator").await;
    // The demo district may come with some history of its own.
    let before = stored_readings(&app, &operator, 30).await;
    let options = Options {
        devices: 30,
        rate: 60.0,
        mode: Mode::Http {
            api: app.url(""),
            workers: 3,
        },
        seconds: Some(6),
        incidents: true,
        speed: 10.0,
        ..Options::default()
    };
    // ~6 s at 60/s and the slope's 24-reading history, less the devices gone silent at 5 s.
    let summary = run_without_loss(options, 250..=500).await;
    assert!(
        summary.publishes < summary.sent,
        "the history went in one request: {summary}"
    );
    assert!(summary.elapsed >= Duration::from_secs(6), "{summary}");

    // A 200 means durable: the server holds exactly the acknowledged readings, all of them good.
    let stored = stored_readings(&app, &operator, 30).await - before;
    assert_eq!(stored as u64, summary.acked, "{summary}");
    let listed = devices(&app, &operator).await;
    let demo: Vec<&Value> = listed
        .iter()
        .filter(|d| d["id"].as_str().is_some_and(|id| id.starts_with("demo-0")))
        .collect();
    assert_eq!(demo.len(), 30);
    for d in &demo {
        assert_eq!(d["bad_values"], 0, "{d}");
        assert!(d["last_seen"].is_string(), "never heard from: {d}");
    }

    // The script ran as over MQTT: the underpass flooded past yellow (script 36 s, real 3.6 s)
    // and the shop's smoke detector went red; no ordinary device alarmed.
    let mut water = Value::Null;
    for _ in 0..100 {
        let alarms = all_alarms(&app, &operator).await;
        if let Some(a) = alarms
            .iter()
            .find(|a| a["device_id"] == "demo-000000" && a["rule"] == "level_high")
        {
            water = a.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(water.is_object(), "no water-level alarm");
    let peak = water["peak"].as_str().unwrap_or_default();
    assert!(level_rank(peak) >= level_rank("yellow"), "{water}");
    let alarms = all_alarms(&app, &operator).await;
    assert!(
        alarms
            .iter()
            .any(|a| a["device_id"] == "demo-000002" && a["rule"] == "smoke" && a["peak"] == "red"),
        "the fire raised a red smoke alarm: {alarms:?}"
    );
    for a in &alarms {
        let device = a["device_id"].as_str().unwrap_or_default();
        assert!(
            ["demo-000000", "demo-000001", "demo-000002", "demo-000003"].contains(&device),
            "an ordinary device alarmed: {a}"
        );
    }

    // Devices the server does not know are answered 401 once, counted, and skipped from then on.
    let options = Options {
        devices: 32,
        rate: 32.0,
        mode: Mode::Http {
            api: app.url("/"),
            workers: 2,
        },
        seconds: Some(3),
        incidents: false,
        ..Options::default()
    };
    let summary = simulate::run(options, std::future::pending())
        .await
        .unwrap();
    assert_eq!(summary.refused, 2, "{summary}");
    assert_eq!(summary.lost, 2, "each one's first message: {summary}");
    assert_eq!(summary.acked + summary.lost, summary.sent, "{summary}");
    assert!(
        summary.acked >= 60,
        "~1 reading/s from 30 devices: {summary}"
    );

    // An API that is not there, or not plain HTTP, is a clear error, not a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    for (api, says) in [
        (
            format!("http://127.0.0.1:{port}"),
            "cannot reach the HTTP API",
        ),
        (format!("https://{}", app.addr), "must start with http://"),
    ] {
        let options = Options {
            mode: Mode::Http { api, workers: 4 },
            ..Options::default()
        };
        let err = simulate::run(options, std::future::pending())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_server_without_the_demo_devices_refuses_their_tokens_clearly() {
    let app = spawn_app_with(|c| c.sensing.demo_devices = 0).await;
    let options = Options {
        devices: 5,
        rate: 5.0,
        mode: Mode::Http {
            api: app.url(""),
            workers: 2,
        },
        seconds: Some(5),
        ..Options::default()
    };
    let started = std::time::Instant::now();
    let err = simulate::run(options, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("refused every device's token"),
        "{err:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "failed early");
    app.stop().await.unwrap();
}
