//! The `wanxiang` binary as operators run it: `serve` with flags, logs and SIGTERM; `geo import`
//! into a running deployment; `geo locate` on a GIS user's files.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn wanxiang() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wanxiang"));
    // The tests' own environment must not leak configuration into the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("WANXIANG__") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    // A small demo (its simulator included) on a port of its own: tests run side by side, and
    // this machine may already have an MQTT broker on 1883.
    c.env("WANXIANG__SENSING__DEMO_DEVICES", "50");
    c.env("WANXIANG__SENSING__MQTT_LISTEN", "127.0.0.1:0");
    // A small generated history too: enough to show it runs, little work for the test machine.
    c.env("WANXIANG__EVENTS__DEMO_CASES", "50");
    c
}

#[tokio::test]
async fn serve_logs_json_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = wanxiang()
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server logs its address");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        lines.push(v.clone());
        let msg = v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(rest) = msg.split("open http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    let logged = |needle: &str| lines.iter().any(|l| l.to_string().contains(needle));
    assert!(
        logged(&dir.path().display().to_string()),
        "the log says where the data lives"
    );
    assert!(logged("demo"), "the log says this is the demo");

    let body: Value = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["units"].as_u64().map(|n| n > 800),
        Some(true),
        "{body}"
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "graceful exit after SIGTERM, got {status}"
    );
    let rest: Vec<String> = rx.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("shutdown signal received")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn serve_refuses_a_database_from_a_newer_binary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wanxiang.db");
    let store = wanxiang_store_sqlite::SqliteStore::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', TRUE, X'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
    let out = wanxiang()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer than this binary"), "{stderr}");
}

fn feature(code: &str, name: &str, geometry: &Value) -> Value {
    json!({"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry})
}

#[tokio::test]
async fn geo_import_reaches_a_running_server_and_bad_files_change_nothing() {
    let app = common::spawn_app().await;
    let url = format!("sqlite://{}", app.db_path().display());
    let (_, before) = app.get("/api/v1/units/440303001001").await;
    assert_eq!(before["synthetic"], true);

    // A bad file: one good feature, one self-intersecting, one with an unknown parent.
    let bowtie = json!({"type": "Polygon", "coordinates": [[[114.105, 22.545], [114.107, 22.547], [114.107, 22.545], [114.105, 22.547], [114.105, 22.545]]]});
    let bad = json!({"type": "FeatureCollection", "features": [
        feature("440303001001", "大塘龙社区", &before["boundary"]),
        feature("440303001002", "桂木园社区", &bowtie),
        feature("440303077001", "无名社区", &before["boundary"]),
    ]});
    let bad_path = app.dir.path().join("bad.geojson");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    let out = wanxiang()
        .args(["geo", "import", "--level", "community", "--database", &url])
        .arg(&bad_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("feature #1 (440303001002): invalid geometry"),
        "{stderr}"
    );
    assert!(
        stderr.contains("feature #2 (440303077001): unknown parent 440303077000"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(
        ready["geography_revision"], 1,
        "a refused file writes nothing"
    );

    // A good file: the community's boundary, now declared real.
    let good = json!({"type": "FeatureCollection", "features": [feature("440303001001", "大塘龙社区", &before["boundary"])]});
    let good_path = app.dir.path().join("good.geojson");
    std::fs::write(&good_path, good.to_string()).unwrap();
    let out = wanxiang()
        .args(["geo", "import", "--level", "community", "--database", &url])
        .arg(&good_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("imported 1 community units (revision 2)")
    );

    // The running server rebuilds its geography when it sees the new revision (checked every
    // second in tests); wait for that external effect, bounded.
    let mut after = Value::Null;
    for _ in 0..100 {
        after = app.get("/api/v1/units/440303001001").await.1;
        if after["synthetic"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after["synthetic"], false, "{after}");
    app.stop().await.unwrap();
}

#[test]
fn geo_locate_writes_matches_and_the_closing_line() {
    let dir = tempfile::tempdir().unwrap();
    let square = |x: f64| json!({"type": "Polygon", "coordinates": [[[x, 0.0], [x + 1.0, 0.0], [x + 1.0, 1.0], [x, 1.0], [x, 0.0]]]});
    let fc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "A"}, "geometry": square(0.0)},
        {"type": "Feature", "properties": {"code": "B"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
        {"type": "Feature", "properties": {"code": "C"}, "geometry": square(2.0)},
    ]});
    let boundaries = dir.path().join("b.geojson");
    std::fs::write(&boundaries, fc.to_string()).unwrap();
    let points = dir.path().join("p.csv");
    std::fs::write(&points, "lon,lat\n0.5,0.5\n1.5,0.5\n2.5,0.5\n").unwrap();
    let out_path = dir.path().join("out.csv");
    let out = wanxiang()
        .args(["geo", "locate", "--boundaries"])
        .arg(&boundaries)
        .arg("--points")
        .arg(&points)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("points=3 matched=2 seconds="), "{last}");
    assert!(last.contains(" points_per_s="), "{last}");
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "lon,lat,match\n0.5,0.5,0\n1.5,0.5,\n2.5,0.5,2\n"
    );

    // With --code-property the feature's code is written instead of its index.
    let out = wanxiang()
        .args(["geo", "locate", "--code-property", "code", "--boundaries"])
        .arg(&boundaries)
        .arg("--points")
        .arg(&points)
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "lon,lat,match\n0.5,0.5,A\n1.5,0.5,\n2.5,0.5,C\n"
    );

    // A row that is not a coordinate names its line.
    std::fs::write(&points, "0.5,0.5\nnot,a point\n").unwrap();
    let out = wanxiang()
        .args(["geo", "locate", "--boundaries"])
        .arg(&boundaries)
        .arg("--points")
        .arg(&points)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

#[tokio::test]
async fn events_import_takes_good_rows_reports_bad_ones_and_is_idempotent() {
    let app = common::spawn_app().await;
    let url = format!("sqlite://{}", app.db_path().display());
    let (lon, lat) = common::point_in("440303002001");
    let csv = format!(
        "external_id,lon,lat,crs,category,description,reporter_contact\n\
         H-001,{lon},{lat},wgs84,L0102,路口积水严重,13900000001\n\
         H-002,116.404,39.915,wgs84,L0102,不在罗湖,\n\
         H-003,{lon},{lat},,E9999,未知类别,\n\
         H-001,{lon},{lat},wgs84,L0102,重复的工单,13900000001\n"
    );
    let file = app.dir.path().join("hotline.csv");
    std::fs::write(&file, csv).unwrap();
    let out = wanxiang()
        .args(["events", "import", "--database", &url])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("rows=4 imported=1 duplicates=1 failed=2 linked=0"),
        "{stdout}"
    );
    assert!(
        stderr.contains("row 2 (H-002): outside_district"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row 3 (H-003): unknown_category (category)"),
        "{stderr}"
    );

    // JSONL, and the running server sees what was imported.
    let jsonl = format!(
        "{{\"external_id\":\"H-010\",\"location\":{{\"lon\":{lon},\"lat\":{lat}}},\"category\":\"E0509\",\"description\":\"占道经营\"}}\nnot json\n"
    );
    let file = app.dir.path().join("hotline.jsonl");
    std::fs::write(&file, jsonl).unwrap();
    let out = wanxiang()
        .args(["events", "import", "--database", &url])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("rows=2 imported=1 duplicates=0 failed=1 linked=0"),
        "{stdout}"
    );
    let dispatcher = app.login("district.dispatcher").await;
    let (_, list) = app
        .call(Some(&dispatcher), "GET", "/api/v1/events", None)
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["external_id"].as_str())
        .collect();
    assert!(ids.contains(&"H-001") && ids.contains(&"H-010"), "{ids:?}");
    let water = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["external_id"] == "H-001")
        .unwrap();
    assert_eq!(
        (water["channel"].as_str(), water["assignee"].as_str()),
        (Some("hotline_12345"), Some("440303D02"))
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn devices_import_registers_good_rows_writes_tokens_and_the_server_accepts_them() {
    let app = common::spawn_app().await;
    let url = format!("sqlite://{}", app.db_path().display());
    let (lon, lat) = common::point_in("440303002001");
    let csv = format!(
        "type,name,lon,lat,crs,owner_unit,installed_on,id\n\
         water_level,东门积水点1,{lon},{lat},wgs84,,2026-03-01,wl-001\n\
         smoke,东门烟感1,{lon},{lat},,,,\n\
         toaster,不明设备,{lon},{lat},,,,\n\
         manhole,北京井盖,116.404,39.915,,,,\n\
         manhole,重复编号,{lon},{lat},,,,wl-001\n"
    );
    let file = app.dir.path().join("devices.csv");
    std::fs::write(&file, csv).unwrap();
    let out = wanxiang()
        .args([
            "devices",
            "import",
            "--owner-unit",
            "440303002",
            "--database",
            &url,
        ])
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let tokens_path = app.dir.path().join("devices.tokens.csv");
    assert_eq!(
        stdout.lines().last().unwrap(),
        format!(
            "rows=5 registered=2 failed=3 tokens={}",
            tokens_path.display()
        )
    );
    assert!(stderr.contains("row 3: "), "{stderr}");
    assert!(stderr.contains("row 4: "), "{stderr}");
    assert!(
        stderr.contains("row 5: id wl-001 appears twice"),
        "{stderr}"
    );
    let tokens = std::fs::read_to_string(&tokens_path).unwrap();
    let lines: Vec<&str> = tokens.lines().collect();
    assert_eq!(lines.len(), 3, "{tokens}");
    assert!(lines[1].starts_with("wl-001,"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&tokens_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The running server takes telemetry from an imported device at once.
    let token = lines[1].split(',').nth(1).unwrap();
    let (status, body) = app
        .call(
            None,
            "POST",
            &format!("/api/v1/telemetry/{token}"),
            Some(json!({"level_cm": 3})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let operator = app.login("district.operator").await;
    let (_, devices) = app
        .call(Some(&operator), "GET", "/api/v1/devices", None)
        .await;
    let owners: Vec<&str> = devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["owner_unit"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["440303002", "440303002"], "{devices}");
    // Importing again: a row with an id already registered is refused; a row without an id is
    // another device.
    let out = wanxiang()
        .args([
            "devices",
            "import",
            "--owner-unit",
            "440303002",
            "--database",
            &url,
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("registered=1 failed=4"), "{stdout}");
    app.stop().await.unwrap();
}
