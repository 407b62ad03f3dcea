//! Crash safety: the server is killed with SIGKILL while reports pour in, or while devices
//! publish at QoS 1; after a restart every report that was answered 2xx is there with its full
//! history and its deadline, every acknowledged reading is stored once, and the open alarms are
//! as they were.

use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

mod common;

/// Starts the binary on a data directory and returns it with its address.
fn start(data: &std::path::Path) -> (Child, String) {
    let mut command = common::serve_command(data);
    command
        // Every report goes to one point: here they must be cases, not linked duplicates.
        .env("WANXIANG__EVENTS__DUPLICATE_RADIUS_M", "0")
        .env("WANXIANG__SENSING__MQTT_LISTEN", "127.0.0.1:0");
    common::start_process(command)
}

async fn token(client: &reqwest::Client, addr: &str) -> String {
    login(client, addr, "district.dispatcher").await
}

async fn login(client: &reqwest::Client, addr: &str, username: &str) -> String {
    common::login_at(client, addr, username).await
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

async fn get(client: &reqwest::Client, addr: &str, bearer: &str, path: &str) -> Value {
    common::json_of(
        client
            .get(format!("http://{addr}{path}"))
            .bearer_auth(bearer),
    )
    .await
}

/// Open alarms as (id, level, status), sorted.
async fn open_alarms(
    client: &reqwest::Client,
    addr: &str,
    bearer: &str,
) -> Vec<(String, String, String)> {
    let list = get(client, addr, bearer, "/api/v1/alarms?limit=1000").await;
    let mut out: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_owned();
            (s("id"), s("level"), s("status"))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_acknowledged_reading_survives_sigkill_once_and_alarms_stand() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    let data = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(data.path());
    let client = reqwest::Client::new();
    let operator = login(&client, &addr, "district.operator").await;
    let ready = get(&client, &addr, &operator, "/readyz").await;
    let mqtt: std::net::SocketAddr = ready["mqtt"].as_str().unwrap().parse().unwrap();
    let (lon, lat) = common::point_in("440303001001");
    let mut devices = Vec::new();
    for (i, kind) in std::iter::repeat_n("generic", 12)
        .chain(["water_level"])
        .enumerate()
    {
        let body: Value = client
            .post(format!("http://{addr}/api/v1/devices"))
            .bearer_auth(&operator)
            .json(&json!({"type": kind, "name": format!("crash-{i}"), "location": {"lon": lon, "lat": lat}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        devices.push((
            body["device"]["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        ));
    }
    // The water-level sensor raises an alarm (yellow, which opens a case), then falls quiet.
    let (water_id, water_token) = devices.pop().unwrap();
    let r = client
        .post(format!("http://{addr}/api/v1/telemetry/{water_token}"))
        .json(&json!({"level_cm": 20.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut before = Vec::new();
    for _ in 0..400 {
        let list = get(
            &client,
            &addr,
            &operator,
            &format!("/api/v1/alarms?device={water_id}"),
        )
        .await;
        if list[0]["case_id"].is_string() {
            before = open_alarms(&client, &addr, &operator).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(before.len(), 1, "the alarm and its case: {before:?}");

    // Twelve devices publish at QoS 1, one message in flight each, until the server dies; each
    // remembers the timestamps that were acknowledged.
    let base = wanxiang_api::auth::now_ms();
    let mut publishers = Vec::new();
    for (n, (_, token)) in devices.iter().enumerate() {
        let token = token.clone();
        publishers.push(tokio::spawn(async move {
            let mut options =
                MqttOptions::new(format!("crash-{n}"), mqtt.ip().to_string(), mqtt.port());
            options.set_credentials(token, "");
            let (client, mut events) = AsyncClient::new(options, 16);
            let mut acked = Vec::new();
            for i in 0..100_000i64 {
                let ts = base + i;
                let payload = json!({"ts": ts, "values": {"value": i}}).to_string();
                if client
                    .publish("v1/devices/me/telemetry", QoS::AtLeastOnce, false, payload)
                    .await
                    .is_err()
                {
                    break;
                }
                let acknowledged = loop {
                    match events.poll().await {
                        Ok(Event::Incoming(Packet::PubAck(_))) => break true,
                        Ok(_) => {}
                        Err(_) => break false,
                    }
                };
                if !acknowledged {
                    break;
                }
                acked.push(ts);
            }
            acked
        }));
    }
    // Kill once a fair number are stored (the server's own count), without waiting on time.
    loop {
        let mut stored = 0;
        for (id, _) in &devices[..2] {
            let body = get(
                &client,
                &addr,
                &operator,
                &format!(
                    "/api/v1/devices/{id}/telemetry?from={base}&to={}&limit=10000",
                    base + 100_000
                ),
            )
            .await;
            stored += body.as_array().map_or(0, Vec::len);
        }
        if stored >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let mut acked = Vec::new();
    for p in publishers {
        acked.push(p.await.unwrap());
    }
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(total >= 200, "only {total} acknowledged");

    let (mut child, addr) = start(data.path());
    let operator = login(&client, &addr, "district.operator").await;
    for ((id, _), acked) in devices.iter().zip(&acked) {
        let body = get(
            &client,
            &addr,
            &operator,
            &format!(
                "/api/v1/devices/{id}/telemetry?from={base}&to={}&limit=10000",
                base + 100_000
            ),
        )
        .await;
        let stored: Vec<i64> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["ts_ms"].as_i64().unwrap())
            .collect();
        // Stored once each (the series is by time, so a duplicate would show twice) …
        let mut unique = stored.clone();
        unique.dedup();
        assert_eq!(unique.len(), stored.len(), "{id} has duplicates");
        // … and every acknowledged one is there (at most one more, whose PUBACK died with the
        // server, may be stored too).
        for ts in acked {
            assert!(
                stored.binary_search(ts).is_ok(),
                "{id}: acknowledged reading {ts} lost"
            );
        }
        assert!(
            stored.len() <= acked.len() + 1,
            "{id}: {} stored, {} acknowledged",
            stored.len(),
            acked.len()
        );
    }
    assert_eq!(open_alarms(&client, &addr, &operator).await, before);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}
