//! The real server on a free port, spoken to over HTTP: operations endpoints, the demo geography,
//! locate in three coordinate systems, and the error shape for bad input.

mod common;

use common::{spawn_app, spawn_app_with};
use geo::InteriorPoint;
use serde_json::{Value, json};
use wanxiang_core::Level;
use wanxiang_geo::Crs;

fn error_code(body: &Value) -> (&str, Option<&str>) {
    (
        body["error"]["code"].as_str().unwrap_or("<no code>"),
        body["error"]["field"].as_str(),
    )
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["backend"], "sqlite");
    assert_eq!(body["demo"], true);
    assert!(body["schema_version"].as_i64().unwrap() >= 1);
    app.get("/api/v1/units/440303001").await;
    // A write: how long it waited for SQLite's one write lock and held it, by operation.
    let district = app.login("district.dispatcher").await;
    let p = common::point_in("440303001001");
    let (status, case) = app
        .call(
            Some(&district),
            "POST",
            "/api/v1/events",
            Some(
                json!({"channel": "hotline_12345", "location": {"lon": p.0, "lat": p.1},
                        "category": "E0404", "description": "下水道堵塞"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"wanxiang_http_requests_total{method="GET",route="/api/v1/units/{code}",status="200"}"#,
        r#"wanxiang_http_request_duration_seconds_bucket{method="GET",route="/readyz""#,
        r#"wanxiang_store_query_seconds_bucket{op="ping",backend="sqlite",outcome="ok""#,
        r#"wanxiang_store_write_lock_wait_seconds_bucket{op="write_intake""#,
        r#"wanxiang_store_write_lock_held_seconds_bucket{op="write_intake""#,
    ] {
        assert!(
            metrics.contains(needle),
            "metrics lack {needle}:\n{metrics}"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn demo_tree_has_the_real_streets_and_communities() {
    let app = spawn_app().await;
    let (status, tree) = app.get("/api/v1/units").await;
    assert_eq!(status, 200);
    let district = &tree[0];
    assert_eq!(
        (district["code"].as_str(), district["name"].as_str()),
        (Some("440303000000"), Some("罗湖区"))
    );
    assert_eq!(district["synthetic"], false);
    let streets = district["children"].as_array().unwrap();
    let names: Vec<(&str, &str)> = streets
        .iter()
        .map(|s| (s["code"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("440303001000", "桂园街道"),
            ("440303002000", "黄贝街道"),
            ("440303003000", "东门街道"),
            ("440303004000", "翠竹街道"),
            ("440303005000", "南湖街道"),
            ("440303006000", "笋岗街道"),
            ("440303007000", "东湖街道"),
            ("440303008000", "莲塘街道"),
            ("440303009000", "东晓街道"),
            ("440303010000", "清水河街道"),
        ]
    );
    let communities: Vec<&Value> = streets
        .iter()
        .flat_map(|s| s["children"].as_array().unwrap())
        .collect();
    assert_eq!(communities.len(), 109);
    let grids: usize = communities
        .iter()
        .map(|c| c["children"].as_array().unwrap().len())
        .sum();
    assert!(grids >= 2 * 109, "every community has grids, got {grids}");
    assert!(
        communities
            .iter()
            .all(|c| c["synthetic"] == true && c["level_name"] == "社区")
    );
    // Depth limits the tree.
    let (_, shallow) = app.get("/api/v1/units?depth=1").await;
    assert!(
        shallow[0]["children"][0]["children"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, sub) = app.get("/api/v1/units?root=440303010&depth=1").await;
    assert_eq!(status, 200);
    assert_eq!(sub[0]["name"], "清水河街道");
    assert_eq!(sub[0]["children"].as_array().unwrap().len(), 8);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn one_unit_with_its_boundary() {
    let app = spawn_app().await;
    let (status, unit) = app.get("/api/v1/units/440303001001").await;
    assert_eq!(status, 200);
    assert_eq!(unit["name"], "大塘龙社区");
    assert_eq!(unit["level"], "community");
    assert_eq!(unit["parent"]["name"], "桂园街道");
    assert_eq!(unit["synthetic"], true);
    assert!(
        unit["children"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["code"].as_str().unwrap().starts_with("440303001001"))
    );
    let kind = unit["boundary"]["type"].as_str().unwrap();
    assert!(kind == "MultiPolygon", "{kind}");
    // Short codes are accepted; the answer carries the canonical code.
    let (status, street) = app.get("/api/v1/units/440303006").await;
    assert_eq!(
        (status, street["code"].as_str()),
        (200, Some("440303006000"))
    );
    let (status, body) = app.get("/api/v1/units/44x").await;
    assert_eq!(
        (status, error_code(&body)),
        (400, ("invalid_code", Some("code")))
    );
    let (status, body) = app.get("/api/v1/units/440303099").await;
    assert_eq!((status, error_code(&body)), (404, ("not_found", None)));
    let (status, body) = app.get("/api/v1/units?depth=-1").await;
    assert_eq!(
        (status, error_code(&body)),
        (400, ("invalid_depth", Some("depth")))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn locate_answers_the_same_grid_in_all_three_coordinate_systems() {
    let app = spawn_app().await;
    let units = wanxiang_geo::demo::luohu().unwrap();
    // Every tenth grid, at a point guaranteed inside it.
    for grid in units.iter().filter(|u| u.level == Level::Grid).step_by(10) {
        let p = grid.boundary.as_ref().unwrap().interior_point().unwrap();
        for crs in Crs::ALL {
            let (lon, lat) = crs.from_wgs84(p.x(), p.y());
            let (status, body) = app
                .get(&format!("/api/v1/locate?lon={lon}&lat={lat}&crs={crs}"))
                .await;
            assert_eq!(status, 200, "{crs} {body}");
            assert_eq!(
                body["grid"]["code"].as_str(),
                Some(grid.code.as_str()),
                "{crs}: {body}"
            );
            assert_eq!(
                body["community"]["code"].as_str(),
                grid.parent.as_ref().map(|c| c.as_str())
            );
            assert_eq!(body["district"]["name"], "罗湖区");
            assert!((body["wgs84"]["lon"].as_f64().unwrap() - p.x()).abs() < 1e-6);
        }
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn locate_rejects_bad_input_with_clear_errors() {
    let app = spawn_app().await;
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        ("lat=22.55", 400, "missing_coordinate", Some("lon")),
        ("lon=114.1", 400, "missing_coordinate", Some("lat")),
        ("lon=abc&lat=22.55", 400, "invalid_coordinate", Some("lon")),
        (
            "lon=114.1&lat=NaN",
            400,
            "coordinate_out_of_range",
            Some("lat"),
        ),
        (
            "lon=181&lat=22.55",
            400,
            "coordinate_out_of_range",
            Some("lon"),
        ),
        (
            "lon=114.1&lat=-91",
            400,
            "coordinate_out_of_range",
            Some("lat"),
        ),
        (
            "lon=114.1&lat=22.55&crs=epsg3857",
            400,
            "invalid_crs",
            Some("crs"),
        ),
        // Beijing, and Hong Kong just across the river from Luohu.
        ("lon=116.404&lat=39.915", 404, "outside_district", None),
        ("lon=114.17&lat=22.50", 404, "outside_district", None),
    ];
    for &(query, status, code, field) in cases {
        let (got, body) = app.get(&format!("/api/v1/locate?{query}")).await;
        assert_eq!(
            (got, error_code(&body)),
            (status, (code, field)),
            "{query}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(" / "),
            "Chinese and English: {body}"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn batch_locate_and_body_limits() {
    let app = spawn_app_with(|c| c.server.body_limit = 64 * 1024).await;
    let url = app.url("/api/v1/locate");
    let r = app
        .client
        .post(&url)
        .json(&json!({"points": [[114.106, 22.546], [116.4, 39.9]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["matched"], 1);
    assert_eq!(body["results"][0]["street"]["name"], "桂园街道");
    assert!(body["results"][1].is_null());

    let big: Vec<[f64; 2]> = vec![[114.1, 22.55]; 10_000];
    let r = app
        .client
        .post(&url)
        .json(&json!({ "points": big }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), ("payload_too_large", None));

    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "bad_request"
    );

    let r = app
        .client
        .post(&url)
        .json(&json!({"points": [[114.1, 95.0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        error_code(&r.json::<Value>().await.unwrap()),
        ("coordinate_out_of_range", Some("lat"))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_shape() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/v1/nothing-here").await;
    assert_eq!((status, error_code(&body)), (404, ("not_found", None)));
    let r = app
        .client
        .delete(app.url("/api/v1/units"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    assert_eq!(
        error_code(&r.json::<Value>().await.unwrap()),
        ("method_not_allowed", None)
    );
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: Vec<(String, Vec<String>)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, ops)| {
            (
                p.clone(),
                ops.as_object().unwrap().keys().cloned().collect(),
            )
        })
        .collect();
    // The full list of routes is owned by the isolation test, which must have a rule for each;
    // here: the geography and operations routes are documented, and every operation says what
    // it answers.
    for path in [
        "/api/v1/boundaries",
        "/api/v1/locate",
        "/api/v1/units",
        "/api/v1/units/{code}",
        "/healthz",
        "/metrics",
        "/readyz",
    ] {
        assert!(
            paths.iter().any(|(p, _)| p == path),
            "{path} is not documented"
        );
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
            assert!(
                op["description"].is_string() || op["summary"].is_string(),
                "{method} {path} has no description"
            );
        }
    }
    // Every documented GET path answers something other than the unknown-route 404.
    for (path, methods) in &paths {
        if methods.contains(&"get".to_string()) {
            let concrete = path.replace("{code}", "440303");
            let (_, body) = app.get(&concrete).await;
            assert_ne!(
                body["error"]["message"], "no such route / 没有这个接口",
                "{path}"
            );
        }
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_built_web_ui_the_start_page_is_served() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("万象"));
    assert!(page.contains("scripts/web"), "says how to build the web UI");
    app.stop().await.unwrap();
}

/// The same server on PostgreSQL, in a private schema of the test database.
#[tokio::test]
async fn the_demo_runs_on_postgres() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let app = common::spawn_app_on_postgres("server").await;
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["backend"], "postgres");
    let (status, body) = app.get("/api/v1/locate?lon=114.106&lat=22.546").await;
    assert_eq!(status, 200);
    assert_eq!(body["street"]["name"], "桂园街道");
    // Telemetry goes into the day-partitioned readings table and comes back.
    let operator = app.login("district.operator").await;
    let (status, dev) = app
        .call(
            Some(&operator),
            "POST",
            "/api/v1/devices",
            Some(json!({"type": "water_level", "name": "PG 积水点", "location": {"lon": 114.106, "lat": 22.546}})),
        )
        .await;
    assert_eq!(status, 201, "{dev}");
    let token = dev["token"].as_str().unwrap();
    let id = dev["device"]["id"].as_str().unwrap();
    let (status, sent) = app
        .call(
            None,
            "POST",
            &format!("/api/v1/telemetry/{token}"),
            Some(json!({"level_cm": 3.5})),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let (_, latest) = app
        .call(
            Some(&operator),
            "GET",
            &format!("/api/v1/devices/{id}/latest"),
            None,
        )
        .await;
    assert_eq!(latest["values"]["level_cm"]["value"], 3.5, "{latest}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn boundaries_layer_marks_synthetic_units_in_properties() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/v1/boundaries?level=community&within=440303005"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/geo+json");
    let fc: Value = r.json().await.unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 14, "南湖街道 has 14 communities");
    for f in features {
        assert_eq!(f["properties"]["synthetic"], true);
        assert_eq!(f["properties"]["parent"], "440303005000");
        assert_eq!(f["geometry"]["type"], "MultiPolygon");
    }
    let (_, district) = app.get("/api/v1/boundaries?level=district").await;
    assert_eq!(district["features"][0]["properties"]["synthetic"], false);
    let (status, body) = app.get("/api/v1/boundaries?level=province").await;
    assert_eq!(
        (status, error_code(&body)),
        (400, ("invalid_level", Some("level")))
    );
    app.stop().await.unwrap();
}

/// A request whose body is still arriving when the shutdown signal comes is finished and
/// answered before the server stops.
#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let body = r#"{"points": [[114.106, 22.546]]}"#;
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/locate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..10]).await.unwrap();
    conn.flush().await.unwrap();
    // The request is now in flight (headers read, body pending). Ask the server to stop.
    let addr = app.addr;
    let stopping = tokio::spawn(app.stop());
    // Shutdown has begun once the listener is closed: new connections are refused.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        refused,
        "the server kept accepting connections after the shutdown signal"
    );
    conn.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("桂园街道"), "{answer}");
    stopping.await.unwrap().unwrap();
}

/// Live streams end when the server begins to stop, so a screen that never hangs up does not
/// hold the shutdown (a node's SIGTERM) forever; the client sees the stream close.
#[tokio::test]
async fn shutdown_ends_open_live_streams() {
    let app = spawn_app().await;
    let who = app.login("district.supervisor").await;
    let mut stream = common::open_stream(&app, &who).await;
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("stopped with a live stream open")
        .unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream stayed open after the server stopped"
    );
}
