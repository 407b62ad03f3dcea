//! `wanxiang bench telemetry`: end-to-end MQTT throughput, side by side with a plain broker.
//!
//! Many clients publish device messages (one device, one timestamp, four values) at QoS 1 with a
//! window of unacknowledged publishes each. Against Wanxiang's gateway a PUBACK means the reading
//! is committed and its rules judged, so acknowledged messages per second is the end-to-end
//! figure. Against the baseline broker (Mosquitto) the same clients publish the same messages to
//! `bench/<n>/telemetry` and one subscriber counts what the broker forwards: the raw broker is the
//! physical limit we compare with. Both runs use this same load generator, one after the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::QoS;
use wanxiang_api::sensing::demo::demo_devices;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wanxiang's MQTT gateway, `mqtt://host:port`.
    pub target: Option<String>,
    /// A plain broker to compare with, `mqtt://host:port`.
    pub baseline: Option<String>,
    /// Publishing clients (each a demo slope sensor against Wanxiang).
    pub clients: usize,
    /// Unacknowledged publishes each client keeps in flight.
    pub inflight: u16,
    /// How long each run lasts.
    pub seconds: u64,
}

/// One run's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    /// What was measured.
    pub label: String,
    /// Messages acknowledged (Wanxiang) or forwarded to the subscriber (baseline).
    pub messages: u64,
    /// Over this time.
    pub elapsed: Duration,
    /// Publish → PUBACK latency, median, in ms.
    pub p50_ms: f64,
    /// Publish → PUBACK latency, 99th percentile, in ms.
    pub p99_ms: f64,
}

impl Figures {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    /// The line scripts parse.
    pub fn line(&self) -> String {
        format!(
            "{} messages={} seconds={:.1} rate={:.0}/s ack_p50_ms={:.1} ack_p99_ms={:.1}",
            self.label,
            self.messages,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.p50_ms,
            self.p99_ms
        )
    }
}

/// Splits `mqtt://host:port`.
fn host_port(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .ok_or_else(|| anyhow::anyhow!("{url:?}: expected mqtt://HOST:PORT"))?;
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    Ok((host.to_owned(), port.trim_end_matches('/').parse()?))
}

/// The demo slope sensors' tokens: their four values never alarm at the levels sent here.
fn slope_tokens(n: usize) -> Vec<String> {
    demo_devices(200_000)
        .into_iter()
        .filter(|d| d.type_code == "slope" && d.index >= 5)
        .take(n)
        .map(|d| d.token)
        .collect()
}

/// Runs the configured comparisons, printing a line per run.
pub async fn telemetry(opts: &Options) -> anyhow::Result<Vec<Figures>> {
    let mut out = Vec::new();
    if let Some(target) = &opts.target {
        let tokens = slope_tokens(opts.clients);
        if tokens.len() < opts.clients {
            anyhow::bail!(
                "only {} demo slope sensors; register more demo devices (sensing.demo_devices)",
                tokens.len()
            );
        }
        let f = run(target, opts, Some(tokens), "wanxiang").await?;
        println!("{}", f.line());
        out.push(f);
    }
    if let Some(baseline) = &opts.baseline {
        let f = run(baseline, opts, None, "baseline").await?;
        println!("{}", f.line());
        out.push(f);
    }
    if let [ours, base] = out.as_slice() {
        println!("ratio={:.2}", ours.rate() / base.rate());
    }
    Ok(out)
}

/// One run: `tokens` set means Wanxiang (username = token, the device topic); `None` means the
/// baseline broker with a counting subscriber.
async fn run(
    url: &str,
    opts: &Options,
    tokens: Option<Vec<String>>,
    label: &str,
) -> anyhow::Result<Figures> {
    let (host, port) = host_port(url)?;
    let forwarded = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    let subscriber = if tokens.is_none() {
        Some(subscribe(&host, port, forwarded.clone(), stop.clone()).await?)
    } else {
        None
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(opts.seconds);
    for n in 0..opts.clients {
        let (host, topic, user) = match &tokens {
            Some(t) => (
                host.clone(),
                "v1/devices/me/telemetry".to_owned(),
                Some(t[n].clone()),
            ),
            None => (host.clone(), format!("bench/{n}/telemetry"), None),
        };
        let acked = acked.clone();
        let inflight = opts.inflight;
        tasks.push(tokio::spawn(async move {
            publisher(n, host, port, user, topic, inflight, deadline, acked, None).await
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = subscriber {
        // Let the subscriber drain what the broker still holds for it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = s.await;
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let messages = if tokens.is_some() {
        acked.load(Ordering::Relaxed)
    } else {
        forwarded.load(Ordering::Relaxed)
    };
    Ok(Figures {
        label: label.to_owned(),
        messages,
        elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}

/// The baseline's subscriber: `bench/#` at QoS 0, counting the PUBLISH packets the broker
/// forwards; returns once subscribed, counting on in a task until `stop`.
async fn subscribe(
    host: &str,
    port: u16,
    count: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use rumqttc::mqttbytes::v4::{Connect, Packet as Wire, Subscribe};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect((host, port)).await?;
    let mut out = bytes::BytesMut::new();
    let mut connect = Connect::new(format!("wx-bench-sub-{}", std::process::id()));
    connect.keep_alive = 60;
    connect.write(&mut out)?;
    let mut sub = Subscribe::new("bench/#", QoS::AtMostOnce);
    sub.pkid = 1;
    sub.write(&mut out)?;
    stream.write_all(&out).await?;
    let mut input = bytes::BytesMut::with_capacity(1 << 20);
    // Wait for the SUBACK so nothing published before it is missed.
    'subscribed: loop {
        if stream.read_buf(&mut input).await? == 0 {
            anyhow::bail!("the baseline broker closed the subscriber");
        }
        loop {
            match Wire::read(&mut input, 1 << 20) {
                Ok(Wire::SubAck(_)) => break 'subscribed,
                Ok(_) => {}
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => break,
                Err(e) => anyhow::bail!("subscriber: {e:?}"),
            }
        }
    }
    Ok(tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), stream.read_buf(&mut input))
                .await
            {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Err(_) => continue,
                Ok(Ok(_)) => {}
            }
            loop {
                match Wire::read(&mut input, 1 << 20) {
                    Ok(Wire::Publish(_)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
    }))
}

/// One client: keeps `inflight` QoS 1 publishes outstanding until the deadline; returns the
/// publish → PUBACK latencies (ms). It speaks MQTT over the socket itself (rumqttc's codec,
/// packets encoded in batches) so the load generator costs little beside the server it loads.
#[allow(clippy::too_many_arguments)]
async fn publisher(
    n: usize,
    host: String,
    port: u16,
    user: Option<String>,
    topic: String,
    inflight: u16,
    deadline: Instant,
    acked: Arc<AtomicU64>,
    pace: Option<f64>,
) -> anyhow::Result<Vec<f64>> {
    use rumqttc::mqttbytes::v4::{Connect, Login, Packet as Wire, Publish};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    stream.set_nodelay(true)?;
    let mut connect = Connect::new(format!("wx-bench-{n}-{}", std::process::id()));
    connect.keep_alive = 60;
    connect.login = user.map(|u| Login::new(u, ""));
    let mut out = bytes::BytesMut::new();
    connect.write(&mut out)?;
    stream.write_all(&out).await?;
    out.clear();
    let mut input = bytes::BytesMut::with_capacity(1 << 16);
    loop {
        match Wire::read(&mut input, 1 << 20) {
            Ok(Wire::ConnAck(ack))
                if ack.code == rumqttc::mqttbytes::v4::ConnectReturnCode::Success =>
            {
                break;
            }
            Ok(other) => anyhow::bail!("client {n}: refused: {other:?}"),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {
                if stream.read_buf(&mut input).await? == 0 {
                    anyhow::bail!("client {n}: closed before CONNACK");
                }
            }
            Err(e) => anyhow::bail!("client {n}: {e:?}"),
        }
    }
    let base_ts = wanxiang_api::auth::now_ms();
    let start = Instant::now();
    let mut last_ts = 0i64;
    let mut seq: i64 = 0;
    let mut sent_at: Vec<Option<Instant>> = vec![None; 65_536];
    let mut outstanding = 0usize;
    let mut next_pkid: u16 = 1;
    let mut latencies = Vec::new();
    let (mut rd, mut wr) = stream.into_split();
    loop {
        let open = Instant::now() < deadline;
        if open {
            // Paced clients send only as many as their rate allows by now.
            let allowed = pace.map_or(i64::MAX, |r| (start.elapsed().as_secs_f64() * r) as i64);
            while outstanding < inflight as usize && seq < allowed {
                seq += 1;
                // Distinct, increasing and never ahead of the clock: each message is a reading
                // the server keeps (a resent timestamp would be stored once, a future one refused).
                last_ts = (base_ts + start.elapsed().as_millis() as i64).max(last_ts + 1);
                let payload = format!(
                    "{{\"ts\":{},\"values\":{{\"displacement_mm\":{:.3},\"tilt_deg\":0.4,\"rain_mm_h\":0,\"battery_pct\":88}}}}",
                    last_ts,
                    12.0 + (seq % 7) as f64 * 0.001
                );
                let mut p = Publish::new(topic.as_str(), QoS::AtLeastOnce, payload);
                p.pkid = next_pkid;
                sent_at[next_pkid as usize] = Some(Instant::now());
                next_pkid = next_pkid.checked_add(1).unwrap_or(1);
                p.write(&mut out)?;
                outstanding += 1;
            }
            if !out.is_empty() {
                wr.write_all(&out).await?;
                out.clear();
            }
        } else if outstanding == 0 {
            break;
        }
        let mut wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(2);
        if pace.is_some() && open {
            wait = wait.min(Duration::from_millis(2));
        }
        match tokio::time::timeout(wait, rd.read_buf(&mut input)).await {
            Err(_) if pace.is_some() && Instant::now() < deadline => continue,
            Err(_) | Ok(Ok(0)) => break,
            Ok(Err(e)) => anyhow::bail!("client {n}: {e}"),
            Ok(Ok(_)) => {}
        }
        loop {
            match Wire::read(&mut input, 1 << 20) {
                Ok(Wire::PubAck(ack)) => {
                    if let Some(t) = sent_at[ack.pkid as usize].take() {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                        outstanding -= 1;
                        if Instant::now() <= deadline {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(_) => {}
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => break,
                Err(e) => anyhow::bail!("client {n}: {e:?}"),
            }
        }
    }
    let _ = wr.shutdown().await;
    Ok(latencies)
}

/// What the alarm-latency run needs.
#[derive(Debug, Clone)]
pub struct AlarmOptions {
    /// Wanxiang's MQTT gateway, `mqtt://host:port`.
    pub target: String,
    /// Its HTTP API, `http://host:port` (for the SSE stream of case changes).
    pub api: String,
    /// Background readings per second while probing.
    pub rate: f64,
    /// How many alarms to time.
    pub probes: usize,
}

/// Times alarms from publish to dispatched case under a background load: each probe is a demo
/// water-level sensor (a different one each time, so each alarm opens its own case) publishing
/// 20 cm (yellow, which opens a case), timed until the case's `created` event with stage
/// `dispatched` arrives on the SSE stream of a district dispatcher.
pub async fn alarm(opts: &AlarmOptions) -> anyhow::Result<Figures> {
    let (host, port) = host_port(&opts.target)?;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", opts.api))
        .json(&serde_json::json!({"username": "district.dispatcher", "password": wanxiang_api::demo::DEMO_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bearer = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login gave no token: {login}"))?
        .to_owned();
    let mut stream = http
        .get(format!("{}/api/v1/stream", opts.api))
        .bearer_auth(&bearer)
        .send()
        .await?
        .error_for_status()?;
    // Background load: paced clients of slope sensors, as in the throughput run.
    let clients = 20usize;
    let tokens = slope_tokens(clients);
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(3600);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for (n, token) in tokens.into_iter().enumerate() {
        let (host, acked) = (host.clone(), acked.clone());
        let pace = opts.rate / clients as f64;
        load.push(tokio::spawn(async move {
            publisher(
                n,
                host,
                port,
                Some(token),
                "v1/devices/me/telemetry".into(),
                100,
                deadline,
                acked,
                Some(pace),
            )
            .await
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let load_start = (Instant::now(), acked.load(Ordering::Relaxed));
    let probes: Vec<_> = demo_devices(200_000)
        .into_iter()
        .filter(|d| d.type_code == "water_level" && d.index >= 5)
        .take(opts.probes)
        .collect();
    let mut latencies = Vec::new();
    let mut buffer = String::new();
    for probe in &probes {
        let sent = Instant::now();
        let r = http
            .post(format!("{}/api/v1/telemetry/{}", opts.api, probe.token))
            .json(&serde_json::json!({"level_cm": 20.0}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "probe {} refused: {}",
            probe.id,
            r.status()
        );
        // The next case event is this probe's (one probe at a time).
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let Some(chunk) = stream.chunk().await? else {
                    anyhow::bail!("the stream ended");
                };
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    // A new case dispatched, or (when an open water case lies within the
                    // duplicate radius) the alarm linked to that dispatched case.
                    let created = event.contains("\"kind\":\"created\"")
                        && event.contains("\"stage\":\"dispatched\"");
                    let linked = event.contains("\"kind\":\"link\"");
                    if event.contains("event: case") && (created || linked) {
                        return Ok(sent.elapsed());
                    }
                }
            }
        })
        .await;
        match found {
            Ok(Ok(t)) => latencies.push(t.as_secs_f64() * 1000.0),
            Ok(Err(e)) => return Err(e),
            Err(_) => anyhow::bail!("no dispatched case for probe {} within 10 s", probe.id),
        }
        // Back to dry, so the sensor's alarm clears and a later run can raise it again.
        http.post(format!("{}/api/v1/telemetry/{}", opts.api, probe.token))
            .json(&serde_json::json!({"level_cm": 0.0}))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let background = (acked.load(Ordering::Relaxed) - load_start.1) as f64
        / load_start.0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.abort();
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    let f = Figures {
        label: format!(
            "alarm background_rate={background:.0}/s probes={}",
            latencies.len()
        ),
        messages: latencies.len() as u64,
        elapsed: Duration::from_secs_f64(latencies.iter().sum::<f64>() / 1000.0),
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    };
    println!(
        "{} publish_to_dispatched_p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        f.label,
        f.p50_ms,
        f.p99_ms,
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    Ok(f)
}
