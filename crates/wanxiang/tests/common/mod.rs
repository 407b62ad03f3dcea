//! Shared test helpers: `spawn_app` starts the real server on port 0 with its own database.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::sync::oneshot;
use wanxiang::config::Config;

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client that keeps no state between requests.
    pub client: reqwest::Client,
    /// The data directory (SQLite file), removed when the app is dropped.
    pub dir: tempfile::TempDir,
    /// The configuration the server runs with.
    pub config: Config,
    /// The clock the event hub's deadlines run on; it moves only when a test advances it.
    pub clock: std::sync::Arc<wanxiang_api::clock::ManualClock>,
    /// Sends the shutdown signal.
    stop: Option<oneshot::Sender<()>>,
    /// The server task; joined on `stop`.
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A URL on the server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GETs a path and returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }

    /// Stops the server and hands back its data directory, for a test that restarts on it.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        let empty = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, empty)
    }

    /// The SQLite database path.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("wanxiang.db")
    }
}

/// Starts the demo server with `tweak` applied to its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        demo: true,
        ..Config::default()
    };
    config.storage.data_dir = dir.path().to_path_buf();
    config.geo.reload_interval_secs = 1;
    // Tests log in many times from one address; throttling has its own tests.
    config.auth.login_per_minute = 100_000;
    // Each test server gets its own MQTT port (`/readyz` says which).
    config.sensing.mqtt_listen = "127.0.0.1:0".into();
    // Demo sensors only where a test asks for them, and no built-in simulator driving them: a
    // test that wants telemetry sends it (or runs `wanxiang simulate` itself).
    config.sensing.demo_devices = 0;
    config.sensing.demo_simulator_rate = 0.0;
    // No generated case history: tests count the cases they make.
    config.events.demo_cases = 0;
    // No proactive offers behind a test's back: tests that want them run the triggers.
    config.services.trigger_interval_mins = 0;
    // No web UI unless a test builds one: the repository's web/dist may or may not be built.
    config.server.web_dir = dir.path().join("no-web-ui").display().to_string();
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let clock = std::sync::Arc::new(wanxiang_api::clock::ManualClock::new(
        wanxiang_api::auth::now_ms(),
    ));
    let task = tokio::spawn(wanxiang::serve::run_with_clock(
        config.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
        clock.clone(),
    ));
    let client = reqwest::Client::new();
    let app = TestApp {
        addr,
        client,
        dir,
        config,
        clock,
        stop: Some(stop),
        task: Some(task),
    };
    // The listener is bound before `run` starts, so this request waits in the accept queue until
    // the server serves, which it does only after migrating, seeding and loading the geography:
    // no polling, no sleeping.
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "not ready: {body}");
    app
}

/// Starts the demo server with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the demo server on PostgreSQL, in a fresh schema of the test database named after
/// `label` and this process (dropped first if an earlier run left it).
pub async fn spawn_app_on_postgres(label: &str) -> TestApp {
    let url = postgres_url(label).await;
    spawn_app_with(|c| c.storage.database_url = url).await
}

/// A fresh schema of the test database named after `label` and this process (dropped first if an
/// earlier run left it), as a database URL several servers can share.
pub async fn postgres_url(label: &str) -> String {
    let base = std::env::var("WANXIANG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("wx_{label}_{}", std::process::id());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL must be running (scripts/test starts it)");
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A logged-in account.
pub struct Session {
    /// The bearer token (also the cookie value).
    pub token: String,
    /// The CSRF token for cookie-authenticated writes.
    pub csrf: String,
    /// The account id.
    pub id: String,
}

impl TestApp {
    /// Logs in with the demo password.
    pub async fn login(&self, username: &str) -> Session {
        let r = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": wanxiang_api::demo::DEMO_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {username}");
        let body: serde_json::Value = r.json().await.unwrap();
        Session {
            token: body["token"].as_str().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            id: body["account"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Sends a request with a bearer token and an optional JSON body; returns status and body.
    pub async fn call(
        &self,
        session: Option<&Session>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, self.url(path));
        if let Some(s) = session {
            req = req.bearer_auth(&s.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }
}

/// A WGS-84 point inside the given community of the demo district (the interior point of its
/// first grid).
pub fn point_in(community: &str) -> (f64, f64) {
    use geo::InteriorPoint;
    let units = wanxiang_geo::demo::luohu().unwrap();
    let grid = units
        .iter()
        .find(|u| {
            u.parent.as_ref().is_some_and(|p| p.as_str() == community)
                && u.level == wanxiang_core::Level::Grid
        })
        .expect("the community has grids");
    let p = grid.boundary.as_ref().unwrap().interior_point().unwrap();
    (p.x(), p.y())
}

/// Polls `path` as `who` until `check` accepts its body (work done by another task after the
/// answer, such as the case an alarm opens); a guard, not a timing assumption.
pub async fn eventually(
    app: &TestApp,
    who: &Session,
    path: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..200 {
        let (status, body) = app.call(Some(who), "GET", path, None).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} never became as expected");
}

/// Opens `who`'s SSE stream (`/api/v1/stream`) and waits for its `ready`.
pub async fn open_stream(app: &TestApp, who: &Session) -> reqwest::Response {
    let mut resp = app
        .client
        .get(app.url("/api/v1/stream"))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    read_stream_until(&mut resp, "event: ready").await;
    resp
}

/// Reads a server-sent-events stream until `until` appears, within 30 s in all (keep-alives do
/// not extend it); returns everything read.
pub async fn read_stream_until(resp: &mut reqwest::Response, until: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !seen.contains(until) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {until:?} on the stream; saw {seen}"))
            .unwrap()
            .expect("the stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The NATS server the cluster tests use (`WANXIANG_TEST_NATS_URL`, else this machine's).
pub fn nats_url() -> String {
    std::env::var("WANXIANG_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Deletes the JetStream stream a test's nodes made for `prefix` (`WANXIANG_<prefix>`), so test
/// runs leave no streams behind on the machine's NATS.
pub async fn delete_stream(prefix: &str) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let _ = js
        .delete_stream(wanxiang_api::bus::stream_name(prefix))
        .await;
}

/// Starts a prepared `wanxiang serve` command (stderr piped here) and waits for it to log its
/// address ("open http://ADDR/"); returns the process and the address. Tests that kill the
/// server (SIGKILL) need it as a process of its own.
pub fn start_process(command: std::process::Command) -> (std::process::Child, String) {
    start_process_logged(command, None)
}

/// [`start_process`], appending everything the server logs to `log` (the server's JSON lines),
/// so that a failing test can say what the server saw.
pub fn start_process_logged(
    mut command: std::process::Command,
    log: Option<std::path::PathBuf>,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader, Write};
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut file = log.and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the server logs its address");
        if let Some(rest) = line.split("open http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    (child, addr)
}

/// `wanxiang serve --demo` on port 0 with JSON logs and its own data directory, as a process
/// (tests that kill the server need one), with what every such test wants: no login throttling,
/// no generated history, no demo sensors. Callers add their own settings, then `start_process`.
pub fn serve_command(data: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wanxiang"));
    // The tests' own environment must not leak configuration into the server.
    for (key, _) in std::env::vars() {
        if key.starts_with("WANXIANG__") {
            command.env_remove(key);
        }
    }
    command
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .arg("--data-dir")
        .arg(data)
        .env_remove("RUST_LOG")
        .env("WANXIANG__AUTH__LOGIN_PER_MINUTE", "100000")
        .env("WANXIANG__EVENTS__DEMO_CASES", "0")
        .env("WANXIANG__SENSING__DEMO_DEVICES", "0");
    command
}

/// Sends a request and reads its JSON answer.
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Logs a demo account in at a server's address; returns its bearer token.
pub async fn login_at(client: &reqwest::Client, addr: &str, username: &str) -> String {
    let body = json_of(
        client
            .post(format!("http://{addr}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": username, "password": "wanxiang-demo"})),
    )
    .await;
    body["token"].as_str().unwrap().to_owned()
}

/// A device-side client of an external MQTT broker; `acks` hears each PUBACK.
pub struct BrokerClient {
    /// The client.
    pub client: rumqttc::AsyncClient,
    acks: tokio::sync::mpsc::UnboundedReceiver<u16>,
}

/// Connects to the machine's broker (127.0.0.1:1883) as `id`.
pub async fn broker_client(id: &str, clean: bool) -> BrokerClient {
    use rumqttc::{Event, MqttOptions, Packet};
    let mut options = MqttOptions::new(id, "127.0.0.1", 1883);
    options.set_clean_session(clean);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 64);
    let (tx, acks) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(a))) => {
                    let _ = tx.send(a.pkid);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    BrokerClient { client, acks }
}

impl BrokerClient {
    /// Publishes at QoS 1 and waits for the broker's PUBACK.
    pub async fn send(&mut self, topic: &str, payload: serde_json::Value) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.to_string())
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), self.acks.recv())
            .await
            .expect("the broker acknowledged")
            .unwrap();
    }
}

/// Runs 一网通办's proactive triggers now as `who` (a district admin); the pass's report.
pub async fn run_service_triggers(app: &TestApp, who: &Session) -> serde_json::Value {
    let (status, report) = app
        .call(Some(who), "POST", "/api/v1/services/triggers/run", None)
        .await;
    assert_eq!(status, 200, "{report}");
    report
}
