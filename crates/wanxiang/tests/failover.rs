//! The cluster's failure test (issue 7): three nodes of the real binary on different ports share
//! one PostgreSQL database, one NATS server (JetStream) and one Mosquitto. Devices publish their
//! readings through Mosquitto, which splits them between the nodes (shared subscription), while
//! reports arrive over HTTP at all three; one node is killed with SIGKILL in the middle and
//! started again. Afterwards every acknowledged reading and report is stored exactly once, no
//! case was dispatched twice, every deadline that fell due fired exactly once, and the live
//! stream of a node that stayed up saw every change.
//!
//! Uses the machine's services (started by scripts/test): PostgreSQL (`WANXIANG_TEST_DATABASE_URL`),
//! NATS (`WANXIANG_TEST_NATS_URL`) and Mosquitto at 127.0.0.1:1883, on a schema, subjects, a
//! stream and a shared-subscription group of this run only.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// A category whose accept stage falls due one minute after dispatch (the shortest limit the
/// list can say), so deadlines fall due while the test watches.
const QUICK: &str = "T0101";

/// Demo sensors `wanxiang simulate --mode broker` drives through Mosquitto during the load.
const SIMULATED: usize = 200;

/// One node: a process of the binary, killed when dropped, so a failing run leaves no server
/// behind.
struct Node {
    child: Child,
    addr: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How every node of this run is configured (the same, bar its data directory and MQTT id).
/// Declared before its nodes, so that they are killed before it cleans up.
struct Cluster {
    database: String,
    nats: String,
    prefix: String,
    categories: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids = (0..3).map(|n| self.client_id(n)).collect();
        let prefix = self.prefix.clone();
        // On a thread of its own: the test's runtime cannot be blocked on from inside it.
        let _ = std::thread::spawn(move || Cluster::forget(prefix, ids)).join();
    }
}

impl Cluster {
    async fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let shipped = include_str!("../../core/data/categories.tsv");
        let categories = dir.path().join("categories.tsv");
        std::fs::write(
            &categories,
            format!(
                "{shipped}T01\t\t测试类\tTest class\t\t\t\t\t\t\n\
                 {QUICK}\tT01\t一分钟签收测试\tOne-minute accept (test)\tcommunity\tnormal\t1m\t1m\t4h\t2h\n"
            ),
        )
        .unwrap();
        let pid = std::process::id();
        Cluster {
            database: common::postgres_url("failover").await,
            nats: common::nats_url(),
            prefix: format!("wxfailover{pid}"),
            categories,
            _dir: dir,
        }
    }

    /// Forgets this run's stream on NATS and its nodes' persistent sessions at the broker (a
    /// clean-session connect under each node's id discards them). Run when the cluster is
    /// dropped, after its nodes, so a failed assertion leaves nothing behind either.
    fn forget(prefix: String, ids: Vec<String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to clean up with");
        runtime.block_on(async move {
            common::delete_stream(&prefix).await;
            for id in ids {
                let gone = common::broker_client(&id, true).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = gone.client.disconnect().await;
            }
        });
    }

    fn client_id(&self, n: usize) -> String {
        format!("{}-node{n}", self.prefix)
    }

    /// Starts node `n` and waits for it to serve. The first registers the demo sensors the
    /// simulator drives.
    fn start(&self, n: usize, data: &std::path::Path) -> Node {
        let demo_devices = if n == 0 { SIMULATED } else { 0 };
        let mut command = common::serve_command(data);
        command
            .arg("--database")
            .arg(&self.database)
            .env("WANXIANG__EVENTS__DUPLICATE_RADIUS_M", "0")
            .env("WANXIANG__EVENTS__CATEGORIES_FILE", &self.categories)
            .env("WANXIANG__SENSING__DEMO_DEVICES", demo_devices.to_string())
            .env("WANXIANG__SENSING__DEMO_SIMULATOR_RATE", "0")
            .env("WANXIANG__SENSING__MQTT_LISTEN", "off")
            .env("WANXIANG__SENSING__MQTT_BROKER", "mqtt://127.0.0.1:1883")
            .env("WANXIANG__SENSING__MQTT_CLIENT_ID", self.client_id(n))
            .env("WANXIANG__SENSING__MQTT_GROUP", &self.prefix)
            .env("WANXIANG__BUS__URL", &self.nats)
            .env("WANXIANG__BUS__SUBJECT_PREFIX", &self.prefix);
        let (child, addr) = common::start_process_logged(command, Some(data.join("node.log")));
        Node { child, addr }
    }
}

/// The warnings and errors the nodes logged (each node's log is `node.log` in its data
/// directory), for a failure's message.
fn warnings_of(data: &[tempfile::TempDir]) -> String {
    let mut out = String::new();
    for (n, d) in data.iter().enumerate() {
        let log = std::fs::read_to_string(d.path().join("node.log")).unwrap_or_default();
        for line in log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            out.push_str(&format!("node{n}: {line}\n"));
        }
    }
    out
}

fn signal(node: &mut Node, signal: nix::sys::signal::Signal) {
    signal_child(&node.child, signal);
}

fn signal_child(child: &Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
}

async fn login(client: &reqwest::Client, addr: &str, username: &str) -> String {
    common::login_at(client, addr, username).await
}

/// Where the nodes answer now (a restarted node comes back on a new port).
type Addresses = Arc<Mutex<Vec<String>>>;

/// Sends one report like a client behind a load balancer: to its usual node first, and when that
/// fails (refused, killed mid-answer, timed out) again, with the same work-order number, to the
/// next node, until one acknowledges it. Returns the case id.
async fn report(
    client: &reqwest::Client,
    nodes: &Addresses,
    home: usize,
    bearer: &str,
    body: &Value,
) -> String {
    for attempt in 0..60 {
        let addr = {
            let nodes = nodes.lock().unwrap();
            nodes[(home + attempt) % nodes.len()].clone()
        };
        let sent = client
            .post(format!("http://{addr}/api/v1/events"))
            .bearer_auth(bearer)
            .json(body)
            .send()
            .await;
        if let Ok(r) = sent
            && r.status().is_success()
            && let Ok(v) = r.json::<Value>().await
        {
            return v["id"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no node took {body}");
}

#[tokio::test]
async fn three_nodes_lose_and_repeat_nothing_when_one_is_killed() {
    let cluster = Cluster::new().await;
    let data: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // The first node migrates and seeds the demo accounts; the others join it.
    let mut nodes = vec![cluster.start(0, data[0].path())];
    nodes.push(cluster.start(1, data[1].path()));
    nodes.push(cluster.start(2, data[2].path()));
    let addresses: Addresses = Arc::new(Mutex::new(nodes.iter().map(|n| n.addr.clone()).collect()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let survivor = nodes[0].addr.clone();
    // Sessions live in the database: a token from one node works at all of them.
    let dispatcher = login(&client, &survivor, "district.dispatcher").await;
    let operator = login(&client, &survivor, "district.operator").await;
    let supervisor = login(&client, &survivor, "district.supervisor").await;

    // The live stream of the node that stays up, read until the end.
    let mut stream = client
        .get(format!("http://{survivor}/api/v1/stream"))
        .bearer_auth(&supervisor)
        .timeout(Duration::from_secs(3600))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = stream.chunk().await {
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };

    // Devices, registered on one node; the broker hands their readings to any of the three.
    let (lon, lat) = common::point_in("440303001001");
    let mut devices = Vec::new();
    for i in 0..6 {
        let body = common::json_of(
            client
                .post(format!("http://{survivor}/api/v1/devices"))
                .bearer_auth(&operator)
                .json(&json!({"type": "generic", "name": format!("failover-{i}"), "location": {"lon": lon, "lat": lat}})),
        )
        .await;
        devices.push(body["device"]["id"].as_str().unwrap().to_owned());
    }
    // The broker drops what no node subscribes to yet: wait until a reading lands (its
    // timestamps are outside the ones counted below).
    let warm = wanxiang_api::auth::now_ms() - 60_000;
    let mut probe = common::broker_client(&format!("{}-probe", cluster.prefix), true).await;
    let mut landed = false;
    for i in 0..200 {
        probe
            .send(
                &format!("v1/devices/{}/telemetry", devices[0]),
                json!({"ts": warm + i, "values": {"value": 1}}),
            )
            .await;
        let latest = common::json_of(
            client
                .get(format!(
                    "http://{survivor}/api/v1/devices/{}/latest",
                    devices[0]
                ))
                .bearer_auth(&operator),
        )
        .await;
        if latest["values"]["value"].is_object() {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(landed, "no reading came through the broker");

    // The simulator: the demo sensors publish through Mosquitto (QoS 1) all through the load.
    let mut simulator = Command::new(env!("CARGO_BIN_EXE_wanxiang"))
        .args([
            "simulate",
            "--mode",
            "broker",
            "--broker",
            "mqtt://127.0.0.1:1883",
        ])
        .args([
            "--devices",
            &SIMULATED.to_string(),
            "--rate",
            "100",
            "--connections",
            "2",
        ])
        .arg("--no-incidents")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked_reports = Arc::new(AtomicUsize::new(0));
    // Devices publish at QoS 1, one message in flight each, until told to stop; each keeps the
    // timestamps the broker acknowledged.
    let base = wanxiang_api::auth::now_ms();
    let mut publishers = Vec::new();
    for (n, device) in devices.iter().enumerate() {
        let (device, stop, prefix) = (device.clone(), stop.clone(), cluster.prefix.clone());
        publishers.push(tokio::spawn(async move {
            let mut side = common::broker_client(&format!("{prefix}-dev{n}"), true).await;
            let mut acked = Vec::new();
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let ts = base + i;
                side.send(
                    &format!("v1/devices/{device}/telemetry"),
                    json!({"ts": ts, "values": {"value": i}}),
                )
                .await;
                acked.push(ts);
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (device, acked)
        }));
    }
    // Reports at all three nodes: three writers per node, half of them in the one-minute category.
    let mut writers = Vec::new();
    for w in 0..9 {
        let (client, nodes, bearer, stop, count) = (
            client.clone(),
            addresses.clone(),
            dispatcher.clone(),
            stop.clone(),
            acked_reports.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let category = if i % 2 == 0 { QUICK } else { "E0404" };
                let external = format!("failover-{w}-{i}");
                let body = json!({"channel": "hotline_12345", "external_id": external,
                                  "location": {"lon": lon, "lat": lat}, "category": category,
                                  "description": format!("三节点测试 {w}-{i}")});
                let id = report(&client, &nodes, w % 3, &bearer, &body).await;
                count.fetch_add(1, Ordering::Relaxed);
                acked.push((external, id, category));
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked
        }));
    }
    let reached = |n: usize| {
        let count = acked_reports.clone();
        async move {
            while count.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Killed in the middle of the load …
    reached(150).await;
    signal(&mut nodes[2], nix::sys::signal::Signal::SIGKILL);
    nodes[2].child.wait().unwrap();
    reached(300).await;
    // … and started again (same data directory and MQTT session), while the load goes on.
    let back = cluster.start(2, data[2].path());
    addresses.lock().unwrap()[2] = back.addr.clone();
    nodes[2] = back;
    let at_restart = acked_reports.load(Ordering::Relaxed);
    reached(at_restart + 150).await;
    stop.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    for w in writers {
        reports.extend(w.await.unwrap());
    }
    let mut readings = Vec::new();
    for p in publishers {
        readings.push(p.await.unwrap());
    }
    let last_report = wanxiang_api::auth::now_ms();
    signal_child(&simulator, nix::sys::signal::Signal::SIGTERM);
    let mut summary = String::new();
    std::io::Read::read_to_string(simulator.stdout.as_mut().unwrap(), &mut summary).unwrap();
    assert!(simulator.wait().unwrap().success(), "{summary}");
    let field = |key: &str| -> i64 {
        summary
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in the simulator's summary {summary:?}"))
            .parse()
            .unwrap()
    };
    let (simulated_sent, simulated_acked) = (field("sent"), field("acked"));
    assert!(
        simulated_acked > 0,
        "the simulator published nothing: {summary}"
    );

    let pool = sqlx::PgPool::connect(&cluster.database).await.unwrap();

    // Every acknowledged report is one case, dispatched once, with its deadline.
    let ids: BTreeSet<&str> = reports.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(
        ids.len(),
        reports.len(),
        "two reports answered with one case"
    );
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT external_id, id FROM cases WHERE external_id LIKE 'failover-%'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let by_external: BTreeMap<&str, &str> = stored
        .iter()
        .map(|(e, id)| (e.as_str(), id.as_str()))
        .collect();
    assert_eq!(by_external.len(), stored.len(), "a work order stored twice");
    for (external, id, _) in &reports {
        assert_eq!(
            by_external.get(external.as_str()),
            Some(&id.as_str()),
            "acknowledged report {external} is not its case"
        );
    }
    let twice: Vec<(String, i64)> = sqlx::query_as(
        "SELECT case_id, COUNT(*) FROM case_history WHERE command = 'dispatch' GROUP BY case_id HAVING COUNT(*) <> 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(twice.is_empty(), "dispatched more than once: {twice:?}");

    // Every acknowledged reading is stored, once: and counted once in the rollups. A reading
    // the broker had handed to the killed node comes back only when that node's session
    // reconnects, and is stored by its first batches: waited for, as the simulator's are below.
    for (device, acked) in &readings {
        let waited = std::time::Instant::now();
        let stored = loop {
            let stored: Vec<(i64,)> = sqlx::query_as(
                "SELECT ts FROM readings WHERE device_id = $1 AND ts >= $2 ORDER BY ts",
            )
            .bind(device)
            .bind(base)
            .fetch_all(&pool)
            .await
            .unwrap();
            let stored: Vec<i64> = stored.into_iter().map(|(t,)| t).collect();
            let complete = acked.iter().all(|ts| stored.binary_search(ts).is_ok());
            if complete || waited.elapsed() > Duration::from_secs(30) {
                break stored;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        for ts in acked {
            assert!(
                stored.binary_search(ts).is_ok(),
                "{device}: acknowledged reading {ts} lost ({} of {} stored); the nodes' warnings:\n{}",
                stored.len(),
                acked.len(),
                warnings_of(&data)
            );
        }
        let counted: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(count), 0)::BIGINT FROM rollups WHERE device_id = $1 AND key = 'value' AND width = 60 AND bucket >= $2",
        )
        .bind(device)
        .bind(base - base % 60_000)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            counted as usize,
            stored.len(),
            "{device}: a resent reading counted twice"
        );
    }

    // What the simulator's devices published: every reading the broker acknowledged is stored
    // (the nodes drain their share of the broker's queue), none twice, counted once.
    let waited = std::time::Instant::now();
    let simulated_stored = loop {
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM readings WHERE device_id LIKE 'demo-%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if stored >= simulated_acked || waited.elapsed() > Duration::from_secs(30) {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        (simulated_acked..=simulated_sent).contains(&simulated_stored),
        "the simulator's readings: {simulated_stored} stored, {summary}"
    );
    // A minute's rollup of a key never counts more readings than the device stored that minute.
    let overcounted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM rollups r WHERE r.device_id LIKE 'demo-%' AND r.width = 60
           AND r.count > (SELECT COUNT(*) FROM readings x WHERE x.device_id = r.device_id
                          AND x.ts >= r.bucket AND x.ts < r.bucket + 60000)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        overcounted, 0,
        "a simulated reading counted twice in the rollups"
    );

    // Deadlines: the one-minute cases fall due (warning at 48 s, overdue at 60 s) with all
    // three nodes watching; each fires once.
    let quick: Vec<&str> = reports
        .iter()
        .filter(|(_, _, c)| *c == QUICK)
        .map(|(_, id, _)| id.as_str())
        .collect();
    let due_by = last_report + 60_000;
    let fired = loop {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT h.case_id, h.command, COUNT(*) FROM case_history h JOIN cases c ON c.id = h.case_id
             WHERE c.category = $1 AND h.command IN ('warn', 'overdue') GROUP BY h.case_id, h.command",
        )
        .bind(QUICK)
        .fetch_all(&pool)
        .await
        .unwrap();
        let overdue = rows.iter().filter(|(_, c, _)| c == "overdue").count();
        if overdue >= quick.len() {
            break rows;
        }
        assert!(
            wanxiang_api::auth::now_ms() < due_by + 30_000,
            "{overdue} of {} deadlines fired",
            quick.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (case, command, n) in &fired {
        assert_eq!(*n, 1, "{case}: {command} fired {n} times");
    }
    for id in &quick {
        for command in ["warn", "overdue"] {
            assert!(
                fired.iter().any(|(c, k, _)| c == id && k == command),
                "{id}: no {command}"
            );
        }
    }

    // The stream of the node that stayed up saw every change: each case created, each one-minute
    // case warned and escalated (changes made on the killed node included), each once.
    let counts = |text: &str| {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for line in text.lines().filter_map(|l| l.strip_prefix("data:")) {
            let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
                continue;
            };
            if let (Some(id), Some(kind)) = (v["id"].as_str(), v["kind"].as_str()) {
                *counts.entry((id.to_owned(), kind.to_owned())).or_default() += 1;
            }
        }
        counts
    };
    let waited = std::time::Instant::now();
    let counts = loop {
        let counts = counts(&seen.lock().unwrap());
        let missing = quick
            .iter()
            .filter(|id| !counts.contains_key(&(id.to_string(), "overdue".to_owned())))
            .count();
        if missing == 0 || waited.elapsed() > Duration::from_secs(30) {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let count = |id: &str, kind: &str| counts.get(&(id.to_owned(), kind.to_owned())).copied();
    for (_, id, category) in &reports {
        assert_eq!(count(id, "created"), Some(1), "{id} created, on the stream");
        if *category == QUICK {
            assert_eq!(count(id, "warn"), Some(1), "{id} warned, on the stream");
            assert_eq!(count(id, "overdue"), Some(1), "{id} overdue, on the stream");
        }
    }

    let readings_acked: usize = readings.iter().map(|(_, a)| a.len()).sum();
    eprintln!(
        "three nodes, one killed and restarted: {} reports acknowledged ({} with one-minute deadlines, each warned and escalated once), {readings_acked} readings acknowledged and stored once, simulator {simulated_acked} acknowledged / {simulated_stored} stored, {} stream events seen on the surviving node",
        reports.len(),
        quick.len(),
        counts.values().sum::<usize>()
    );
    reader.abort();
    let _ = reader.await;
    // A node stops on SIGTERM even with live streams open (they end when it begins to stop).
    for node in &mut nodes {
        signal(node, nix::sys::signal::Signal::SIGTERM);
        assert!(node.child.wait().unwrap().success());
    }
    // Dropping the cluster (after the nodes) leaves no stream on NATS and no session at the
    // broker.
}
