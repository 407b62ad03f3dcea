//! Crash safety: the server is killed with SIGKILL while reports pour in; after a restart every
//! report that was answered 2xx is there with its full history and its deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

mod common;

/// Starts the binary on a data directory and returns it with its address.
fn start(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wanxiang"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data)
        .env_remove("RUST_LOG")
        .env("WANXIANG__AUTH__LOGIN_PER_MINUTE", "100000")
        // Every report goes to one point: here they must be cases, not linked duplicates.
        .env("WANXIANG__EVENTS__DUPLICATE_RADIUS_M", "0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server logs its address");
        if let Some(rest) = line.split("open http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    (child, addr)
}

async fn token(client: &reqwest::Client, addr: &str) -> String {
    let body: Value = client
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&json!({"username": "district.dispatcher", "password": "wanxiang-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_acknowledged_report_survives_sigkill() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(data.path());
    let client = reqwest::Client::new();
    let bearer = token(&client, &addr).await;
    let (lon, lat) = common::point_in("440303001001");

    // Eight writers send reports until the server dies; each remembers what was acknowledged.
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, addr, bearer) = (client.clone(), addr.clone(), bearer.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..10_000 {
                let body = json!({"channel": "hotline_12345", "external_id": format!("crash-{w}-{i}"),
                                  "location": {"lon": lon, "lat": lat}, "category": "E0404", "description": format!("报告 {w}-{i}")});
                match client.post(format!("http://{addr}/api/v1/events")).bearer_auth(&bearer).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = match r.json().await {
                            Ok(v) => v,
                            Err(_) => break, // Killed while sending the answer: not acknowledged.
                        };
                        acked.push(v["id"].as_str().unwrap().to_owned());
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    // Kill once a fair number are in, without waiting on time: poll the writers' progress by
    // asking the server how many it has.
    loop {
        let n = client
            .get(format!("http://{addr}/api/v1/stats?from=2000-01-01"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["intake"]
            .as_u64()
            .unwrap();
        if n >= 200 {
            break;
        }
        tokio::task::yield_now().await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    // Some answers die with the server; what matters is that there was real load.
    assert!(acked.len() >= 100, "only {} acknowledged", acked.len());

    let (mut child, addr) = start(data.path());
    let bearer = token(&client, &addr).await;
    for id in &acked {
        let case: Value = client
            .get(format!("http://{addr}/api/v1/events/{id}"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            case["id"].as_str(),
            Some(id.as_str()),
            "acknowledged case {id} was lost: {case}"
        );
        let steps: Vec<&str> = case["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["action"].as_str().unwrap())
            .collect();
        assert_eq!(steps, ["report", "register", "dispatch"], "{id}");
        assert!(case["due_at"].is_string(), "{id} lost its deadline");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}
