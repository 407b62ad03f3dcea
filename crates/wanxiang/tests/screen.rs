//! What the web UI reads and how it is served: the built pages and assets, and the aggregate
//! endpoints the one screen is drawn from (rankings by unit, intake by channel, open cases, device
//! health), each scoped to the caller like every other read.

mod common;

use common::{Session, TestApp, point_in, spawn_app, spawn_app_with};
use serde_json::{Value, json};

async fn report(
    app: &TestApp,
    who: &Session,
    channel: &str,
    community: &str,
    text: &str,
) -> String {
    let (lon, lat) = point_in(community);
    let (status, case) = app
        .call(
            Some(who),
            "POST",
            "/api/v1/events",
            Some(
                json!({"channel": channel, "location": {"lon": lon, "lat": lat},
                        "category": "E0404", "description": text}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    case["id"].as_str().unwrap().to_owned()
}

async fn summary(app: &TestApp, who: &Session) -> Value {
    let (status, body) = app
        .call(Some(who), "GET", "/api/v1/devices/summary", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn unit<'a>(units: &'a Value, name: &str) -> &'a Value {
    units["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {units}"))
}

#[tokio::test]
async fn rankings_channels_and_open_cases_are_scoped_figures() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    let dispatcher = app.login("district.dispatcher").await;
    report(
        &app,
        &resident,
        "resident_app",
        "440303001001",
        "下水道堵塞",
    )
    .await;
    report(
        &app,
        &dispatcher,
        "hotline_12345",
        "440303001002",
        "来电：下水道堵塞",
    )
    .await;
    report(
        &app,
        &dispatcher,
        "hotline_12345",
        "440303002001",
        "来电：井盖缺失",
    )
    .await;

    let leader = app.login("district.leader").await;
    let (status, streets) = app
        .call(Some(&leader), "GET", "/api/v1/stats/units", None)
        .await;
    assert_eq!(status, 200, "{streets}");
    assert_eq!(streets["units"].as_array().unwrap().len(), 10, "{streets}");
    assert_eq!(unit(&streets, "桂园街道")["intake"], 2);
    assert_eq!(unit(&streets, "黄贝街道")["intake"], 1);
    assert_eq!(unit(&streets, "东门街道")["intake"], 0);
    assert_eq!(unit(&streets, "东门街道")["closure_rate"], Value::Null);
    assert_eq!(unit(&streets, "桂园街道")["closure_rate"], 0.0);

    // A street's staff rank its communities, and cannot rank outside their street.
    let street = app.login("guiyuan.admin").await;
    let (_, communities) = app
        .call(Some(&street), "GET", "/api/v1/stats/units", None)
        .await;
    assert_eq!(
        unit(&communities, "大塘龙社区")["intake"],
        1,
        "{communities}"
    );
    assert_eq!(unit(&communities, "桂木园社区")["intake"], 1);
    let (status, _) = app
        .call(
            Some(&street),
            "GET",
            "/api/v1/stats/units?unit=440303002000",
            None,
        )
        .await;
    assert_eq!(status, 404, "another street is not in its jurisdiction");
    let (status, body) = app
        .call(Some(&resident), "GET", "/api/v1/stats/units", None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );

    let (_, stats) = app.call(Some(&leader), "GET", "/api/v1/stats", None).await;
    assert_eq!(
        stats["by_channel"],
        json!([["hotline_12345", 2], ["resident_app", 1]]),
        "{stats}"
    );

    let (_, open) = app
        .call(Some(&leader), "GET", "/api/v1/events?status=open", None)
        .await;
    assert_eq!(open.as_array().unwrap().len(), 3, "{open}");
    let (_, closed) = app
        .call(Some(&leader), "GET", "/api/v1/events?status=closed", None)
        .await;
    assert_eq!(closed, json!([]));
    let (status, body) = app
        .call(Some(&leader), "GET", "/api/v1/events?status=done", None)
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("status")),
        "{body}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn device_health_counts_devices_by_state_within_the_jurisdiction() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let before = summary(&app, &operator).await;
    let mut tokens = Vec::new();
    for community in ["440303001001", "440303002001"] {
        let p = point_in(community);
        let (status, body) = app
            .call(
                Some(&operator),
                "POST",
                "/api/v1/devices",
                Some(json!({"type": "water_level", "name": "积水监测", "location": {"lon": p.0, "lat": p.1}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let (status, body) = app
        .call(
            None,
            "POST",
            &format!("/api/v1/telemetry/{}", tokens[0]),
            Some(json!({"level_cm": 3})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = summary(&app, &operator).await;
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert_eq!(n(&after, "total"), n(&before, "total") + 2, "{after}");
    assert_eq!(n(&after, "active"), n(&before, "active") + 1, "{after}");
    assert_eq!(n(&after, "inactive"), n(&before, "inactive") + 1, "{after}");
    let water = after["by_type"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type_code"] == "water_level")
        .unwrap();
    assert_eq!(
        (water["name"].as_str(), water["active"].as_u64()),
        (Some("内涝积水监测仪"), Some(1)),
        "{water}"
    );

    // A street sees only its own devices.
    let street = app.login("huangbei.admin").await;
    let theirs = summary(&app, &street).await;
    assert_eq!(n(&theirs, "total"), 1, "{theirs}");
    assert_eq!(n(&theirs, "active"), 0);
    let resident = app.login("13800138000").await;
    let (status, _) = app
        .call(Some(&resident), "GET", "/api/v1/devices/summary", None)
        .await;
    assert_eq!(status, 403);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_built_web_ui_is_served_with_its_assets() {
    let web = tempfile::tempdir().unwrap();
    for (file, title) in [
        ("index.html", "一屏可视"),
        ("console.html", "工作台"),
        ("m.html", "随手拍"),
    ] {
        std::fs::write(
            web.path().join(file),
            format!("<!doctype html><title>{title}</title>"),
        )
        .unwrap();
    }
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/screen-abc123.js"), "console.log(1)").unwrap();
    let dir = web.path().display().to_string();
    let app = spawn_app_with(|c| c.server.web_dir = dir).await;
    for (path, title) in [("/", "一屏可视"), ("/console", "工作台"), ("/m", "随手拍")] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(r.text().await.unwrap().contains(title), "{path}");
    }
    let r = app
        .client
        .get(app.url("/assets/screen-abc123.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let r = app
        .client
        .get(app.url("/assets/missing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .get(app.url("/assets/../index.html"))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200, "no way out of the assets directory");
    app.stop().await.unwrap();
}
