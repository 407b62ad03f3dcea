//! `wanxiang simulate`: the demo district's published devices, driven over MQTT (or HTTP) as real
//! sensors would drive them, so the sensing hub can be shown and load-tested without hardware.
//!
//! Each device publishes ThingsBoard telemetry (`{"ts": ms, "values": {…}}`) about every
//! `devices / rate` seconds: plausible values on a bounded random walk, always inside the type's
//! range and below every alarm threshold, so in normal operation nothing alarms. A short script
//! of incidents (water rising at an underpass, a fire, a slope sliding in the rain, a building
//! tilting, devices going silent) makes the alarms, cases and escalations happen on cue.
//!
//! Four ways to connect: one MQTT connection per device with its own token (`Mode::Device`, as
//! in the field, bounded by the process's file descriptors), a few connections of the demo
//! gateway device that publish for all of them on the gateway topic (`Mode::Gateway`, for tens
//! of thousands of devices from one machine), a few plain clients of an external broker that
//! publish each device's messages on its own topic (`Mode::Broker`, for a cluster whose nodes
//! share the broker's subscription), or each device's messages posted to the HTTP device API by
//! a few workers on kept-alive connections (`Mode::Http`, as devices that cannot speak MQTT do).
//!
//! The value generators are pure functions of the device's state, the wall-clock time and the
//! script time, so the unit tests below run days of readings through the real alarm rules
//! without a server.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use rumqttc::{AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, Packet, QoS};
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use wanxiang_api::sensing::demo::{DEMO_GATEWAY_TOKEN, DemoDevice, INCIDENTS, demo_devices, mix};

/// ThingsBoard's topic for a device's own telemetry.
const TELEMETRY_TOPIC: &str = "v1/devices/me/telemetry";
/// ThingsBoard's topic on which a gateway publishes for the devices behind it.
const GATEWAY_TOPIC: &str = "v1/gateway/telemetry";
/// How often a gateway connection gathers its devices' due readings into one publish.
const TICK: Duration = Duration::from_millis(100);
/// The shortest pause between an HTTP worker's rounds, so a worker carrying thousands of devices
/// does not scan them all for every reading.
const HTTP_ROUND: Duration = Duration::from_millis(20);
/// How long the HTTP device API may take to answer a request (it answers once the readings are
/// durable) before its readings count as lost; also how long a stopping worker may wait for its
/// last answer.
const HTTP_TIMEOUT: Duration = DRAIN;
/// How often a gateway connection reports how many devices it carries.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often the progress line is printed.
const PROGRESS: Duration = Duration::from_secs(5);
/// How many connections may be in their handshake at once, so a large fleet does not flood the
/// server's accept queue.
const CONNECT_SLOTS: usize = 200;
/// The keep-alive each connection asks for.
const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// The largest publish a gateway connection builds; the server accepts up to 256 KiB.
const MAX_BATCH_BYTES: usize = 128 * 1024;
/// rumqttc's packet limit, above the batch size so a full batch always passes.
const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Publishes a connection may queue ahead of its event loop; beyond that, readings are dropped
/// (and counted), which is what an overloaded server looks like from here.
const REQUEST_QUEUE: usize = 64;
/// The first pause before reconnecting; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest pause between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a stopping connection waits for the acks of what it sent.
const DRAIN: Duration = Duration::from_secs(5);
/// The most messages per second one device may send: faster is no sensor, and would make one
/// device's batch unbounded.
const MAX_DEVICE_RATE: f64 = 100.0;
/// How far behind its schedule a device may fall before it skips ahead instead of catching up.
const MAX_LAG: Duration = Duration::from_secs(1);
/// The incident devices report at least this often (real time), as a sensor under watch does,
/// so each incident unfolds in detail however large the fleet.
const WATCHED_PERIOD: Duration = Duration::from_secs(2);
/// File descriptors kept free for everything else when one connection per device is opened.
const FD_RESERVE: u64 = 100;
/// Refused devices named one by one in the log; the rest are only counted.
const REFUSALS_LOGGED: u64 = 5;
/// Milliseconds in a day, for creeping trends.
const DAY_MS: f64 = 86_400_000.0;
/// SplitMix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Script time (seconds) at which water starts rising at the underpass (device 0).
const WATER_AT: f64 = 10.0;
/// Script time at which the shop's smoke detector (device 2) sees smoke.
const SMOKE_AT: f64 = 20.0;
/// Script time at which rain starts and the slope (device 1) accelerates.
const SLOPE_AT: f64 = 30.0;
/// Script time at which the building (device 3) starts to tilt.
const TILT_AT: f64 = 40.0;
/// Script time at which the ordinary devices [`SILENT`] stop publishing.
const SILENCE_AT: f64 = 50.0;
/// The devices that go silent: ten ordinary ones, past the incident devices.
const SILENT: std::ops::Range<usize> = 10..20;
/// Index of the water-level incident's device.
const WATER: usize = 0;
/// Index of the slope incident's device.
const SLOPE: usize = 1;
/// Index of the fire incident's device.
const SMOKE: usize = 2;
/// Index of the building-tilt incident's device.
const TILT: usize = 3;
/// How far back the slope's history reaches: the server's displacement-rate window.
const BACKFILL_SPAN_MS: i64 = 6 * 3600 * 1000;
/// The spacing of the slope's history, as an inclinometer logs it.
const BACKFILL_STEP_MS: i64 = 15 * 60 * 1000;
/// The slope's creep before the incident, mm/day: clearly moving, yet below the 2 mm/day blue
/// step, so only the rain makes it alarm.
const SLOPE_CREEP: f64 = 1.5;

/// What to simulate and how hard.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How many demo devices to drive: devices `0..devices` of the demo sequence, which the
    /// server registers at first start (`sensing.demo_devices`); more than it has are refused.
    pub devices: usize,
    /// Device messages per second across all devices; each device publishes about every
    /// `devices / rate` seconds, so this is the load the server sees.
    pub rate: f64,
    /// The server's MQTT device gateway, `mqtt://HOST:PORT` (not used by [`Mode::Http`], which
    /// carries the API's address).
    pub broker: String,
    /// One connection per device, a few gateway connections for all of them, or HTTP.
    pub mode: Mode,
    /// Stop after this many seconds of publishing; `None` runs until the shutdown signal.
    pub seconds: Option<u64>,
    /// Whether to run the scripted incidents; without them nothing should ever alarm.
    pub incidents: bool,
    /// How much faster than real time the incident script runs (1.0 is real time), so a test or
    /// a short demo sees the whole story; values and timestamps stay on the real clock.
    pub speed: f64,
    /// The QoS of every publish; at least once by default, as ThingsBoard devices do. Not used
    /// by [`Mode::Http`], where a 2xx answer is the acknowledgement.
    pub qos: Qos,
    /// Progress lines at debug level in the log instead of on stderr (the demo's simulator
    /// inside the server).
    pub quiet: bool,
}

impl Default for Options {
    /// The demo's defaults: 1,000 devices at 100 messages/s through four gateway connections to a
    /// local server, with the incidents in real time, until stopped.
    fn default() -> Self {
        Options {
            devices: 1000,
            rate: 100.0,
            broker: "mqtt://127.0.0.1:1883".into(),
            mode: Mode::Gateway { connections: 4 },
            seconds: None,
            incidents: true,
            speed: 1.0,
            qos: Qos::default(),
            quiet: false,
        }
    }
}

/// How the simulated devices reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// One MQTT connection per device, authenticated by the device's own token: the real thing,
    /// which costs a file descriptor per device.
    Device,
    /// `connections` connections of the demo gateway device (`DEMO_GATEWAY_TOKEN`), the devices
    /// shared among them, each batching its devices' due readings into one publish per tick on
    /// `v1/gateway/telemetry`: how a few connections carry tens of thousands of devices.
    Gateway {
        /// How many gateway connections, each with its own client id.
        connections: usize,
    },
    /// `connections` plain clients of an MQTT broker (Mosquitto, EMQX) that a cluster's nodes
    /// subscribe to (`sensing.mqtt_broker`), the devices shared among them, each device's message
    /// published on its own topic `v1/devices/{id}/telemetry` as device mode would; the broker
    /// acknowledges (PUBACK) on receipt, not when a node has stored it.
    Broker {
        /// How many connections, each with its own client id.
        connections: usize,
    },
    /// Each device message posted to `{api}/api/v1/telemetry/{token}` (ThingsBoard's HTTP device
    /// API) with the payload device mode would publish, by `workers` workers that share the
    /// devices, one request at a time each, on kept-alive connections; a 2xx answer means
    /// stored.
    Http {
        /// The server's HTTP API, `http://HOST:PORT` (a path prefix, as behind a proxy, is kept).
        api: String,
        /// How many requests may be in flight at once: the workers, each with its own share of
        /// the devices, so a device's messages arrive in order.
        workers: usize,
    },
}

/// The QoS of the simulator's publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Qos {
    /// Fire and forget: nothing is acknowledged, so `acked` stays zero.
    AtMostOnce,
    /// Acknowledged (PUBACK) once the server has stored the readings.
    #[default]
    AtLeastOnce,
    /// Acknowledged through PUBREC/PUBREL/PUBCOMP; counted at PUBCOMP.
    ExactlyOnce,
}

impl FromStr for Qos {
    type Err = anyhow::Error;

    /// `0`, `1`, `2`, or the names `at-most-once`, `at-least-once`, `exactly-once`.
    fn from_str(s: &str) -> anyhow::Result<Qos> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "0" | "at-most-once" => Ok(Qos::AtMostOnce),
            "1" | "at-least-once" => Ok(Qos::AtLeastOnce),
            "2" | "exactly-once" => Ok(Qos::ExactlyOnce),
            other => bail!("QoS 须为 0、1 或 2 / QoS must be 0, 1 or 2, not {other:?}"),
        }
    }
}

impl From<Qos> for QoS {
    fn from(q: Qos) -> QoS {
        match q {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

/// What a run did. Counts are of readings (device messages), not of MQTT publishes or HTTP
/// requests, so gateway, device and HTTP runs compare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Readings handed to a connection for publishing (or posted over HTTP).
    pub sent: u64,
    /// Readings whose publish the server acknowledged, i.e. stored (QoS 1 and 2), or whose HTTP
    /// request it answered with a 2xx.
    pub acked: u64,
    /// Readings not sent because their connection was down or its queue full.
    pub dropped: u64,
    /// Readings sent but unacknowledged when their connection dropped (the session is clean, so
    /// they are not resent), or whose HTTP request failed or was answered other than 2xx.
    pub lost: u64,
    /// MQTT publishes (or HTTP requests) made.
    pub publishes: u64,
    /// Devices (or gateway connections) whose CONNECT the server refused; over HTTP, devices
    /// whose token it refused (401 or 403), skipped from then on.
    pub refused: u64,
    /// How long devices published, from the end of the connection phase to the stop.
    pub elapsed: Duration,
}

impl Summary {
    /// Readings per second over the run.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    /// The closing line, `key=value` pairs as scripts parse them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent={} acked={} dropped={} lost={} publishes={} refused={} elapsed={:.1}s rate={:.0}/s",
            self.sent,
            self.acked,
            self.dropped,
            self.lost,
            self.publishes,
            self.refused,
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }
}

/// Splits `mqtt://HOST:PORT` (port 1883 if absent; `tcp://` and a bare `HOST[:PORT]` are taken
/// too) into host and port. IPv6 hosts are written in brackets, `mqtt://[::1]:1883`.
pub fn parse_broker(url: &str) -> anyhow::Result<(String, u16)> {
    let url = url.trim();
    let rest = match url.split_once("://") {
        Some(("mqtt" | "tcp", rest)) => rest,
        Some((scheme, _)) => bail!(
            "不支持的代理地址协议 {scheme:?} / unsupported broker scheme {scheme:?} in {url:?}: use mqtt://HOST:PORT (TLS and websockets are not supported)"
        ),
        None => url,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        bail!(
            "代理地址只能含主机和端口 / the broker address {url:?} may hold only a host and a port: mqtt://HOST:PORT"
        );
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| {
            anyhow!("代理地址缺少 ] / unclosed IPv6 bracket in the broker address {url:?}")
        })?;
        match after {
            "" => (host, None),
            p => match p.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => bail!("代理地址格式错误 / malformed broker address {url:?}"),
            },
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => bail!(
                "IPv6 地址须加方括号 / write an IPv6 broker host in brackets: mqtt://[{rest}]:1883"
            ),
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        bail!("代理地址缺少主机 / the broker address {url:?} names no host: mqtt://HOST:PORT");
    }
    let port = match port {
        None => 1883,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => bail!(
                "代理端口无效 / invalid broker port {p:?} in {url:?}: a number from 1 to 65535"
            ),
        },
    };
    Ok((host.to_owned(), port))
}

/// The server's HTTP API, as [`Mode::Http`] reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Api {
    /// The URL the request paths are appended to, without a trailing slash.
    base: String,
    /// Its host (an IPv6 address without brackets), for the reachability probe.
    host: String,
    /// Its port, for the reachability probe.
    port: u16,
}

/// Checks `http://HOST[:PORT][/PREFIX]` (port 80 if absent). Only plain `http://` is taken: the
/// simulator's HTTP client has no TLS.
fn parse_api(url: &str) -> anyhow::Result<Api> {
    let url = url.trim();
    if !url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    {
        bail!(
            "API 地址须以 http:// 开头 / the API address {url:?} must start with http:// (https is not supported): http://HOST:PORT"
        );
    }
    let parsed = reqwest::Url::parse(url)
        .with_context(|| format!("API 地址无效 / invalid API address {url:?}: http://HOST:PORT"))?;
    if !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        bail!(
            "API 地址只能含主机、端口和路径 / the API address {url:?} may hold only a host, a port and a path: http://HOST:PORT"
        );
    }
    let host = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            anyhow!("API 地址缺少主机 / the API address {url:?} names no host: http://HOST:PORT")
        })?;
    let port = match parsed.port_or_known_default() {
        Some(port) if port > 0 => port,
        _ => bail!("API 端口无效 / invalid port in the API address {url:?}"),
    };
    Ok(Api {
        base: parsed.as_str().trim_end_matches('/').to_owned(),
        host: host.to_owned(),
        port,
    })
}

/// Runs the simulation until `seconds` of publishing elapse or `shutdown` resolves, then lets
/// each connection collect its acks, disconnects and returns what happened. Prints a progress
/// line to stderr every 5 s (and, in device mode, the connection progress every second while
/// connecting); logs each incident as it starts. Fails early, with what to do, when the options
/// are unusable, the broker (or, over HTTP, the API) unreachable, the process's file-descriptor
/// limit too low for device mode, the gateway's token refused, or every device's token refused
/// over HTTP.
pub async fn run(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<Summary> {
    check(&opts)?;
    let api = match &opts.mode {
        Mode::Http { api, .. } => Some(parse_api(api)?),
        Mode::Device | Mode::Gateway { .. } | Mode::Broker { .. } => None,
    };
    let (host, port) = match &api {
        Some(api) => (api.host.clone(), api.port),
        None => parse_broker(&opts.broker)?,
    };
    if opts.mode == Mode::Device {
        check_open_files(opts.devices, open_files_limit())?;
    }
    // A clear error now beats thousands of connections retrying in silence.
    match timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_probe)) => {}
        Ok(Err(e)) => {
            return Err(e).with_context(|| match &api {
                Some(api) => format!(
                    "连不上 HTTP 接口 / cannot reach the HTTP API at {} (is `wanxiang serve` running there?)",
                    api.base
                ),
                None => format!("连不上 MQTT 代理 / cannot reach the MQTT broker at {host}:{port} (is `wanxiang serve` running with sensing.mqtt_listen?)"),
            });
        }
        Err(_) => match &api {
            Some(api) => bail!(
                "连接 HTTP 接口超时 / connecting to the HTTP API at {} timed out",
                api.base
            ),
            None => bail!(
                "连接 MQTT 代理超时 / connecting to the MQTT broker at {host}:{port} timed out"
            ),
        },
    }
    let interval = Duration::from_secs_f64(opts.devices as f64 / opts.rate);
    let sims: Vec<Sim> = demo_devices(opts.devices)
        .iter()
        .map(|d| Sim::new(d, opts.incidents, interval))
        .collect();
    let plans = plan(sims, &opts.mode);
    let http = match api {
        Some(api) => Some(Http::new(api.base, plans.len())?),
        None => None,
    };
    let gateway = matches!(opts.mode, Mode::Gateway { .. });
    let broker = matches!(opts.mode, Mode::Broker { .. });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (epoch_tx, epoch_rx) = watch::channel(None);
    let ctx = Arc::new(Ctx {
        host,
        port,
        qos: opts.qos.into(),
        gateway,
        broker,
        speed: opts.speed,
        stats: Stats::default(),
        stop: stop_rx,
        epoch: epoch_rx,
        slots: Semaphore::new(CONNECT_SLOTS),
        http,
    });
    let total = plans.len() as u64;
    let mut tasks = JoinSet::new();
    for p in plans {
        if ctx.http.is_some() {
            tasks.spawn(http_worker(p, ctx.clone()));
        } else {
            tasks.spawn(connection(p, ctx.clone()));
        }
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut epoch = None;
    let outcome = supervise(
        &opts,
        &ctx,
        total,
        &mut tasks,
        shutdown.as_mut(),
        &epoch_tx,
        &mut epoch,
    )
    .await;
    let elapsed = epoch.map_or(Duration::ZERO, |e: Instant| e.elapsed());
    let _ = stop_tx.send(true);
    // Every connection drains within DRAIN and then waits a few seconds for its event loop; past
    // that, the stragglers are aborted when the set is dropped.
    let all = async {
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Err(e)) => tracing::warn!(error = %e, "a connection failed while stopping"),
                Err(e) if e.is_panic() => tracing::error!(error = %e, "a connection task panicked"),
                _ => {}
            }
        }
    };
    let _ = timeout(DRAIN + Duration::from_secs(5), all).await;
    outcome?;
    Ok(ctx.stats.summary(elapsed))
}

/// Refuses options that cannot run, saying which and why.
fn check(opts: &Options) -> anyhow::Result<()> {
    if opts.devices == 0 {
        bail!("没有要模拟的设备 / nothing to simulate: --devices must be at least 1");
    }
    if !(opts.rate.is_finite() && opts.rate > 0.0) {
        bail!("速率须为正数 / --rate must be a positive number of messages per second");
    }
    if opts.rate > MAX_DEVICE_RATE * opts.devices as f64 {
        bail!(
            "每台设备每秒最多 {MAX_DEVICE_RATE} 条 / at most {MAX_DEVICE_RATE} messages per second per device: for --rate {} use at least {} --devices",
            opts.rate,
            (opts.rate / MAX_DEVICE_RATE).ceil()
        );
    }
    if !(opts.speed.is_finite() && opts.speed > 0.0) {
        bail!("剧本速度须为正数 / --speed must be positive (1 is real time)");
    }
    match &opts.mode {
        Mode::Gateway { connections: 0 } | Mode::Broker { connections: 0 } => {
            bail!(
                "网关与代理模式至少需要一个连接 / gateway and broker modes need at least one connection"
            )
        }
        Mode::Http { workers: 0, .. } => bail!(
            "HTTP 模式至少需要一个并发请求 / HTTP mode needs at least one worker (--connections)"
        ),
        Mode::Http { api, .. } => {
            parse_api(api)?;
        }
        Mode::Device | Mode::Gateway { .. } | Mode::Broker { .. } => {}
    }
    Ok(())
}

/// The soft limit on open files of this process, from `/proc/self/limits`; `None` where there is
/// no such file (not Linux) or no limit.
fn open_files_limit() -> Option<u64> {
    soft_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft "Max open files" limit in the text of a `/proc/<pid>/limits` file.
fn soft_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

/// Device mode opens a socket per device: refuses a fleet the descriptor limit cannot hold,
/// rather than failing thousands of connections halfway.
fn check_open_files(devices: usize, limit: Option<u64>) -> anyhow::Result<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    if devices as u64 + FD_RESERVE > limit {
        bail!(
            "设备模式每台设备一个连接，{devices} 台超出本进程可打开的文件数 {limit} / device mode opens one connection per device: {devices} devices need more than the {limit} open files this process may have (ulimit -n). Use --mode gateway (a few connections for all devices), fewer --devices (at most {}), or raise the limit (ulimit -n {}).",
            limit.saturating_sub(FD_RESERVE),
            devices as u64 + FD_RESERVE
        );
    }
    Ok(())
}

/// The run's two phases: connect everyone (printing progress in device mode), then publish until
/// the time is up or the shutdown signal, printing progress and logging incidents. Sets `epoch`
/// when publishing begins. A connection that fails for good (a refused gateway) ends the run.
async fn supervise(
    opts: &Options,
    ctx: &Ctx,
    total: u64,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    mut shutdown: std::pin::Pin<&mut (impl Future<Output = ()> + Send)>,
    epoch_tx: &watch::Sender<Option<Instant>>,
    epoch: &mut Option<Instant>,
) -> anyhow::Result<()> {
    let stats = &ctx.stats;
    let device_mode = opts.mode == Mode::Device;
    let mut next_note = Instant::now() + Duration::from_secs(1);
    while stats.settled.load(Ordering::Relaxed) < total {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            Some(joined) = tasks.join_next() => joined.context("a connection task failed")??,
            () = sleep(Duration::from_millis(50)) => {}
        }
        if device_mode && Instant::now() >= next_note {
            next_note += Duration::from_secs(1);
            eprintln!(
                "连接 / connecting: {}/{total} connected={} refused={}",
                stats.settled.load(Ordering::Relaxed),
                stats.connected.load(Ordering::Relaxed),
                stats.refused.load(Ordering::Relaxed),
            );
        }
    }
    let refused = stats.refused.load(Ordering::Relaxed);
    // Over HTTP nothing is refused before the first requests, made after this phase.
    if refused == total && ctx.http.is_none() {
        bail!(
            "全部 {total} 个连接被拒绝 / the server refused all {total} connections: does it run the demo (--demo) with at least {} demo devices (sensing.demo_devices)?",
            opts.devices
        );
    }
    if refused > REFUSALS_LOGGED {
        tracing::warn!(
            refused,
            "{refused} 台设备被拒绝（令牌无效），已跳过 / {refused} devices refused (unknown token) and skipped: the server may have fewer demo devices than --devices"
        );
    }

    let start = Instant::now();
    *epoch = Some(start);
    let _ = epoch_tx.send(Some(start));
    tracing::info!(
        devices = opts.devices,
        rate = opts.rate,
        connected = stats.connected.load(Ordering::Relaxed),
        "模拟开始 / simulation started"
    );
    let deadline = opts.seconds.map(|s| start + Duration::from_secs(s));
    let mut script: VecDeque<(Instant, String)> = if opts.incidents {
        incident_notes(opts.devices)
            .into_iter()
            .map(|(at, note)| (start + Duration::from_secs_f64(at / opts.speed), note))
            .collect()
    } else {
        VecDeque::new()
    };
    let mut next_progress = start + PROGRESS;
    let mut last = (start, 0);
    loop {
        let next_incident = script.front().map(|(at, _)| *at);
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = sleep_until(deadline.unwrap_or(start)), if deadline.is_some() => return Ok(()),
            () = sleep_until(next_incident.unwrap_or(start)), if next_incident.is_some() => {
                if let Some((_, note)) = script.pop_front() {
                    tracing::info!("{note}");
                }
            }
            () = sleep_until(next_progress) => {
                let now = Instant::now();
                let sent = stats.sent.load(Ordering::Relaxed);
                let rate = (sent - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
                last = (now, sent);
                next_progress += PROGRESS;
                if opts.quiet {
                    tracing::debug!("{}", stats.progress(rate));
                } else {
                    eprintln!("{}", stats.progress(rate));
                }
            }
            Some(joined) = tasks.join_next() => {
                joined.context("a connection task failed")??;
                if tasks.is_empty() && ctx.http.is_some() {
                    bail!(
                        "服务器拒绝了全部设备的令牌 / the server refused every device's token: does it run the demo (--demo) with at least {} demo devices (sensing.demo_devices)?",
                        opts.devices
                    );
                }
                if tasks.is_empty() {
                    bail!("所有连接都已结束 / every connection has ended (refused by the server)");
                }
            }
        }
    }
}

/// What the script logs, at which script second: only the incidents whose devices are simulated.
fn incident_notes(devices: usize) -> Vec<(f64, String)> {
    let name = |i: usize| INCIDENTS.get(i).map_or("", |(_, n)| *n);
    let mut notes = Vec::new();
    if devices > WATER {
        notes.push((WATER_AT, format!(
            "事件：{}（demo-{WATER:06}）水位开始上涨，约每 2 秒 1 厘米，至 45 厘米 / incident: water rising at the underpass demo-{WATER:06}, ~1 cm per 2 s up to 45 cm",
            name(WATER)
        )));
    }
    if devices > SMOKE {
        notes.push((SMOKE_AT, format!(
            "事件：{}（demo-{SMOKE:06}）报烟雾，温度升至 75 °C / incident: smoke at demo-{SMOKE:06}, temperature rising to 75 °C",
            name(SMOKE)
        )));
    }
    if devices > SLOPE {
        notes.push((SLOPE_AT, format!(
            "事件：暴雨，{}（demo-{SLOPE:06}）位移加速 / incident: heavy rain, slope demo-{SLOPE:06} accelerating",
            name(SLOPE)
        )));
    }
    if devices > TILT {
        notes.push((TILT_AT, format!(
            "事件：{}（demo-{TILT:06}）X 向倾角两分钟内由 0.02° 增至 0.25° / incident: building demo-{TILT:06} tilting, 0.02° to 0.25° over two minutes",
            name(TILT)
        )));
    }
    if devices > SILENT.start {
        let last = SILENT.end.min(devices) - 1;
        notes.push((SILENCE_AT, format!(
            "事件：demo-{:06}…demo-{last:06} 停止上报 / incident: devices demo-{:06}…demo-{last:06} going silent",
            SILENT.start, SILENT.start
        )));
    }
    notes
}

/// Counters shared by every connection.
#[derive(Debug, Default)]
struct Stats {
    /// See [`Summary::sent`].
    sent: AtomicU64,
    /// See [`Summary::acked`].
    acked: AtomicU64,
    /// See [`Summary::dropped`].
    dropped: AtomicU64,
    /// See [`Summary::lost`].
    lost: AtomicU64,
    /// See [`Summary::publishes`].
    publishes: AtomicU64,
    /// See [`Summary::refused`].
    refused: AtomicU64,
    /// Connections up right now.
    connected: AtomicU64,
    /// Connections whose first attempt has an outcome (up, refused or failed and retrying): the
    /// connection phase ends when every one has.
    settled: AtomicU64,
}

impl Stats {
    /// Adds to one counter; relaxed, as nothing is ordered by it.
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The progress line.
    fn progress(&self, rate: f64) -> String {
        let mut line = format!(
            "模拟 / simulate: sent={} acked={} rate={rate:.0}/s connected={}",
            self.sent.load(Ordering::Relaxed),
            self.acked.load(Ordering::Relaxed),
            self.connected.load(Ordering::Relaxed),
        );
        for (name, counter) in [
            ("dropped", &self.dropped),
            ("lost", &self.lost),
            ("refused", &self.refused),
        ] {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                line.push_str(&format!(" {name}={n}"));
            }
        }
        line
    }

    /// The counters as the run's summary.
    fn summary(&self, elapsed: Duration) -> Summary {
        Summary {
            sent: self.sent.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            publishes: self.publishes.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            elapsed,
        }
    }
}

/// What every connection task shares.
struct Ctx {
    /// The broker's host.
    host: String,
    /// The broker's port.
    port: u16,
    /// The QoS of publishes.
    qos: QoS,
    /// Whether connections are the gateway's (else one per device).
    gateway: bool,
    /// Whether connections are plain broker clients publishing for many devices on their own
    /// topics.
    broker: bool,
    /// The incident script's speed-up.
    speed: f64,
    /// The counters.
    stats: Stats,
    /// Turns true when publishing must stop.
    stop: watch::Receiver<bool>,
    /// When publishing began, the script's zero: set once every connection has tried.
    epoch: watch::Receiver<Option<Instant>>,
    /// Bounds the connections in their handshake.
    slots: Semaphore,
    /// In HTTP mode, the client the workers share and where it posts; `None` over MQTT.
    http: Option<Http>,
}

/// One connection's (or HTTP worker's) share of the fleet.
struct Plan {
    /// For the log: the device id, `gateway #n` or `http #n`.
    label: String,
    /// The MQTT client id, distinct per connection (empty over HTTP).
    client_id: String,
    /// The CONNECT username: the device's or the gateway's token (empty over HTTP, where each
    /// request carries its device's).
    token: String,
    /// The devices it publishes for (one in device mode).
    sims: Vec<Sim>,
    /// In gateway mode, when its first heartbeat is due after the epoch: the connections' are
    /// staggered so their readings of the gateway device do not share a timestamp.
    heartbeat_offset: Duration,
}

/// Shares the devices among connections: one each, or round-robin among the gateway's or the
/// HTTP workers (no more workers than devices, as an idle one would only wait).
fn plan(sims: Vec<Sim>, mode: &Mode) -> Vec<Plan> {
    let pid = std::process::id();
    match *mode {
        Mode::Device => sims
            .into_iter()
            .map(|s| Plan {
                label: s.id.clone(),
                client_id: format!("wanxiang-simulate-{pid}-{}", s.id),
                token: s.token.clone(),
                sims: vec![s],
                heartbeat_offset: Duration::ZERO,
            })
            .collect(),
        Mode::Gateway { connections } => {
            let mut plans: Vec<Plan> = (0..connections)
                .map(|i| Plan {
                    label: format!("gateway #{i}"),
                    client_id: format!("wanxiang-simulate-{pid}-gw{i}"),
                    token: DEMO_GATEWAY_TOKEN.to_owned(),
                    sims: Vec::new(),
                    heartbeat_offset: HEARTBEAT.mul_f64(i as f64 / connections as f64),
                })
                .collect();
            for (i, s) in sims.into_iter().enumerate() {
                plans[i % connections].sims.push(s);
            }
            plans
        }
        Mode::Broker { connections } => {
            let mut plans: Vec<Plan> = (0..connections)
                .map(|i| Plan {
                    label: format!("broker client #{i}"),
                    client_id: format!("wanxiang-simulate-{pid}-br{i}"),
                    token: String::new(),
                    sims: Vec::new(),
                    heartbeat_offset: Duration::ZERO,
                })
                .collect();
            for (i, s) in sims.into_iter().enumerate() {
                plans[i % connections].sims.push(s);
            }
            plans
        }
        Mode::Http { workers, .. } => {
            let workers = workers.min(sims.len()).max(1);
            let mut plans: Vec<Plan> = (0..workers)
                .map(|i| Plan {
                    label: format!("http #{i}"),
                    client_id: String::new(),
                    token: String::new(),
                    sims: Vec::new(),
                    heartbeat_offset: Duration::ZERO,
                })
                .collect();
            for (i, s) in sims.into_iter().enumerate() {
                plans[i % workers].sims.push(s);
            }
            plans
        }
    }
}

/// How a connection's first attempt went.
enum First {
    /// CONNACK accepted.
    Connected,
    /// CONNACK refused, with the server's code.
    Refused(ConnectReturnCode),
    /// The network failed; the event loop keeps retrying.
    Failed(String),
}

/// What one connection has in flight, shared by its publisher and its event loop, so acks are
/// counted in readings: a gateway publish carries many.
#[derive(Debug, Default)]
struct Tracker {
    /// Whether the connection is up; readings made while it is down are dropped.
    connected: bool,
    /// Readings per publish queued to the event loop, not yet written (oldest first: the event
    /// loop writes them in order).
    queued: VecDeque<u64>,
    /// Readings per written publish awaiting its ack, by packet id.
    inflight: HashMap<u16, u64>,
}

impl Tracker {
    /// A publish was queued carrying `readings`.
    fn queue(&mut self, readings: u64) {
        self.queued.push_back(readings);
    }

    /// The event loop wrote a publish with this packet id (0 for QoS 0, which awaits nothing). A
    /// packet id already in flight is a resend, not a new publish.
    fn written(&mut self, pkid: u16) {
        if pkid == 0 || self.inflight.contains_key(&pkid) {
            return;
        }
        if let Some(n) = self.queued.pop_front() {
            self.inflight.insert(pkid, n);
        }
    }

    /// The publish with this packet id is acknowledged: how many readings that stores.
    fn acked(&mut self, pkid: u16) -> u64 {
        self.inflight.remove(&pkid).unwrap_or(0)
    }

    /// The connection dropped: a clean session forgets everything unacknowledged. Returns how
    /// many readings that loses.
    fn reset(&mut self) -> u64 {
        let lost = self.queued.iter().sum::<u64>() + self.inflight.values().sum::<u64>();
        self.queued.clear();
        self.inflight.clear();
        lost
    }

    /// Whether nothing awaits an ack.
    fn idle(&self) -> bool {
        self.queued.is_empty() && self.inflight.is_empty()
    }
}

/// Locks a tracker; a poisoned lock (a panicked holder) still holds usable counts.
fn lock(tracker: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    tracker.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks a connection down, counting what it loses; returns whether it was up.
fn went_down(tracker: &Mutex<Tracker>, stats: &Stats) -> bool {
    let mut t = lock(tracker);
    let lost = t.reset();
    Stats::add(&stats.lost, lost);
    if t.connected {
        t.connected = false;
        stats.connected.fetch_sub(1, Ordering::Relaxed);
        true
    } else {
        false
    }
}

/// One connection, from its first CONNECT to its DISCONNECT: connects (in a handshake slot),
/// waits for the epoch, publishes its devices' readings until told to stop, waits for their acks
/// and disconnects. A refused device ends quietly (it is counted); a refused gateway is an error.
async fn connection(mut plan: Plan, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let mut stop = ctx.stop.clone();
    let permit = tokio::select! {
        permit = ctx.slots.acquire() => permit.context("the connection slots closed")?,
        _ = stop.wait_for(|s| *s) => return Ok(()),
    };
    let mut options = MqttOptions::new(plan.client_id.clone(), ctx.host.clone(), ctx.port);
    if !plan.token.is_empty() {
        options.set_credentials(plan.token.clone(), "");
    }
    options.set_keep_alive(KEEP_ALIVE);
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, events) = AsyncClient::new(options, REQUEST_QUEUE);
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let (first_tx, first_rx) = oneshot::channel();
    let mut driver = tokio::spawn(drive(
        events,
        tracker.clone(),
        ctx.clone(),
        plan.label.clone(),
        first_tx,
    ));
    let first = tokio::select! {
        first = first_rx => first.ok(),
        _ = stop.wait_for(|s| *s) => None,
    };
    drop(permit);
    match first {
        None => {
            finish(&client, driver).await;
            return Ok(());
        }
        Some(First::Refused(code)) => {
            let n = ctx.stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
            Stats::add(&ctx.stats.settled, 1);
            if ctx.gateway {
                bail!(
                    "服务器拒绝了演示网关的连接（{code:?}）/ the server refused the demo gateway's CONNECT ({code:?}): does it run the demo (--demo) with demo devices (sensing.demo_devices > 0), whose gateway token is {DEMO_GATEWAY_TOKEN}?"
                );
            }
            if n <= REFUSALS_LOGGED {
                tracing::warn!(
                    device = %plan.label,
                    ?code,
                    "设备 {} 的连接被拒绝（令牌无效？），跳过 / device {} refused ({code:?}): unknown or disabled token; skipped",
                    plan.label,
                    plan.label
                );
            }
            let _ = timeout(Duration::from_secs(1), &mut driver).await;
            driver.abort();
            return Ok(());
        }
        Some(First::Failed(error)) => {
            Stats::add(&ctx.stats.settled, 1);
            let level_note = "连接失败，稍后重试 / cannot connect yet; retrying with backoff";
            if ctx.gateway {
                tracing::warn!(connection = %plan.label, %error, "{level_note}");
            } else {
                tracing::debug!(connection = %plan.label, %error, "{level_note}");
            }
        }
        Some(First::Connected) => Stats::add(&ctx.stats.settled, 1),
    }

    let mut epoch_rx = ctx.epoch.clone();
    let epoch = tokio::select! {
        epoch = epoch_rx.wait_for(Option::is_some) => epoch.ok().and_then(|e| *e),
        _ = stop.wait_for(|s| *s) => None,
    };
    if let Some(epoch) = epoch {
        let publisher = Publisher {
            ctx: &ctx,
            client: &client,
            tracker: &tracker,
        };
        publisher.run(&mut plan, epoch, &mut stop).await;
    }

    // Wait for the acks of what was sent, while the connection lasts.
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline {
        {
            let t = lock(&tracker);
            if !t.connected || t.idle() {
                break;
            }
        }
        sleep(Duration::from_millis(20)).await;
    }
    finish(&client, driver).await;
    Ok(())
}

/// Says goodbye (DISCONNECT, after whatever is queued) and gives the event loop a moment to send
/// it; an event loop that cannot (reconnecting, say) is aborted.
async fn finish(client: &AsyncClient, mut driver: JoinHandle<()>) {
    let _ = client.try_disconnect();
    if timeout(Duration::from_secs(3), &mut driver).await.is_err() {
        driver.abort();
    }
}

/// Drives one connection's event loop: reports the first attempt's outcome, counts acks in
/// readings, reconnects with exponential backoff (with jitter, so a fleet does not reconnect in
/// step) when the connection drops, and ends after the DISCONNECT, when the client is gone, when
/// the server refuses the token, or when told to stop while disconnected.
async fn drive(
    mut events: EventLoop,
    tracker: Arc<Mutex<Tracker>>,
    ctx: Arc<Ctx>,
    label: String,
    first: oneshot::Sender<First>,
) {
    let stats = &ctx.stats;
    let mut first = Some(first);
    let mut backoff = BACKOFF_MIN;
    let seed = label
        .bytes()
        .fold(u64::from(std::process::id()), |h, b| mix(h ^ u64::from(b)));
    let mut rng = Rng(seed);
    let mut stop = ctx.stop.clone();
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = BACKOFF_MIN;
                {
                    let mut t = lock(&tracker);
                    if !t.connected {
                        t.connected = true;
                        Stats::add(&stats.connected, 1);
                    }
                }
                match first.take() {
                    Some(tx) => {
                        let _ = tx.send(First::Connected);
                    }
                    // A fleet of devices reconnecting would flood the log; the progress line
                    // counts them instead.
                    None if ctx.gateway => {
                        tracing::info!(connection = %label, "已重新连接 / reconnected");
                    }
                    None => tracing::debug!(connection = %label, "已重新连接 / reconnected"),
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => lock(&tracker).written(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) if ctx.qos == QoS::AtLeastOnce => {
                let n = lock(&tracker).acked(ack.pkid);
                Stats::add(&stats.acked, n);
            }
            Ok(Event::Incoming(Packet::PubComp(done))) if ctx.qos == QoS::ExactlyOnce => {
                let n = lock(&tracker).acked(done.pkid);
                Stats::add(&stats.acked, n);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(code)) => {
                went_down(&tracker, stats);
                match first.take() {
                    Some(tx) => {
                        let _ = tx.send(First::Refused(code));
                    }
                    None => tracing::warn!(
                        connection = %label,
                        ?code,
                        "重连被拒绝，放弃 / reconnection refused ({code:?}); giving up on this connection"
                    ),
                }
                break;
            }
            Err(ConnectionError::RequestsDone) => break,
            Err(error) => {
                let was_up = went_down(&tracker, stats);
                if let Some(tx) = first.take() {
                    let _ = tx.send(First::Failed(error.to_string()));
                } else if was_up && ctx.gateway {
                    tracing::warn!(connection = %label, %error, "连接断开，重连中 / connection dropped; reconnecting");
                } else if was_up {
                    tracing::debug!(connection = %label, %error, "连接断开，重连中 / connection dropped; reconnecting");
                }
                if *stop.borrow() {
                    break;
                }
                let pause = backoff.mul_f64(rng.range(0.75, 1.25));
                tokio::select! {
                    () = sleep(pause) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    went_down(&tracker, stats);
}

/// The publishing half of a connection.
struct Publisher<'a> {
    /// The run's shared state.
    ctx: &'a Ctx,
    /// Queues publishes to the event loop.
    client: &'a AsyncClient,
    /// What is in flight.
    tracker: &'a Mutex<Tracker>,
}

impl Publisher<'_> {
    /// Publishes the plan's devices' readings as they fall due until told to stop: in device
    /// mode, each reading as it is due; in gateway mode, every tick's due readings in one
    /// publish (split if large), and a heartbeat of the gateway's own.
    async fn run(&self, plan: &mut Plan, epoch: Instant, stop: &mut watch::Receiver<bool>) {
        for sim in &mut plan.sims {
            sim.schedule(epoch);
        }
        let mut next_tick = epoch;
        let mut heartbeat = epoch + plan.heartbeat_offset;
        let mut gateway_ts = 0;
        loop {
            let wake = if self.ctx.gateway {
                next_tick.min(heartbeat)
            } else if self.ctx.broker {
                next_tick
            } else {
                match plan.sims.first() {
                    Some(s) => s.next_due,
                    None => return,
                }
            };
            tokio::select! {
                () = sleep_until(wake) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let now = Instant::now();
            let now_ms = unix_ms();
            let due = gather(&mut plan.sims, epoch, now, now_ms, self.ctx.speed);
            if self.ctx.gateway {
                self.send_batches(plan, due);
                if now >= heartbeat {
                    heartbeat += HEARTBEAT;
                    gateway_ts = now_ms.max(gateway_ts + 1);
                    let payload =
                        json!({"ts": gateway_ts, "values": {"connected_devices": plan.sims.len()}});
                    self.send(TELEMETRY_TOPIC, payload.to_string(), 1);
                }
                next_tick = now + TICK;
            } else {
                for (i, readings, backfilled) in due {
                    let payload = message(&readings);
                    let n = readings.len() as u64;
                    let topic = match self.ctx.broker {
                        true => format!("v1/devices/{}/telemetry", plan.sims[i].id),
                        false => TELEMETRY_TOPIC.to_owned(),
                    };
                    if !self.send(&topic, payload.to_string(), n) && backfilled {
                        // The history must come before anything else of the device's.
                        plan.sims[i].backfill = true;
                    }
                }
                next_tick = now + TICK;
            }
        }
    }

    /// Sends a tick's due readings as `{"<device id>": [readings…], …}`, in publishes of at most
    /// [`MAX_BATCH_BYTES`]; a device's readings always travel together.
    fn send_batches(&self, plan: &mut Plan, due: Vec<(usize, Vec<Reading>, bool)>) {
        let mut body = String::new();
        let mut count = 0;
        let mut backfilled = Vec::new();
        for (i, readings, with_history) in due {
            let entry = format!(
                "{}:{}",
                Value::String(plan.sims[i].id.clone()),
                Value::Array(readings.iter().map(Reading::json).collect())
            );
            if !body.is_empty() && body.len() + entry.len() + 2 > MAX_BATCH_BYTES {
                self.flush(plan, &mut body, &mut count, &mut backfilled);
            }
            if !body.is_empty() {
                body.push(',');
            }
            body.push_str(&entry);
            count += readings.len() as u64;
            if with_history {
                backfilled.push(i);
            }
        }
        self.flush(plan, &mut body, &mut count, &mut backfilled);
    }

    /// Publishes the gathered batch, if any; a failed batch's devices keep their history due.
    fn flush(
        &self,
        plan: &mut Plan,
        body: &mut String,
        count: &mut u64,
        backfilled: &mut Vec<usize>,
    ) {
        if body.is_empty() {
            return;
        }
        let payload = format!("{{{body}}}");
        if !self.send(GATEWAY_TOPIC, payload, *count) {
            for &i in backfilled.iter() {
                plan.sims[i].backfill = true;
            }
        }
        body.clear();
        *count = 0;
        backfilled.clear();
    }

    /// Queues one publish carrying `readings` readings; false (and counted as dropped) when the
    /// connection is down or its queue full. The tracker stays locked until the publish is
    /// recorded, so the event loop cannot report it written before it is known.
    fn send(&self, topic: &str, payload: String, readings: u64) -> bool {
        let stats = &self.ctx.stats;
        let mut t = lock(self.tracker);
        if !t.connected {
            Stats::add(&stats.dropped, readings);
            return false;
        }
        match self.client.try_publish(topic, self.ctx.qos, false, payload) {
            Ok(()) => {
                if self.ctx.qos != QoS::AtMostOnce {
                    t.queue(readings);
                }
                Stats::add(&stats.sent, readings);
                Stats::add(&stats.publishes, 1);
                true
            }
            Err(error) => {
                tracing::debug!(%error, "publish queue full; readings dropped");
                Stats::add(&stats.dropped, readings);
                false
            }
        }
    }
}

/// The readings of `sims` due by `now` (`now_ms` on the wall clock): for each device that has
/// any, its index, its readings (oldest first, each stamped with the time it fell due, though
/// sent now) and whether they begin with its history. A silenced device's are skipped.
fn gather(
    sims: &mut [Sim],
    epoch: Instant,
    now: Instant,
    now_ms: i64,
    speed: f64,
) -> Vec<(usize, Vec<Reading>, bool)> {
    let script = (now - epoch).as_secs_f64() * speed;
    let mut due = Vec::new();
    for (i, sim) in sims.iter_mut().enumerate() {
        let mut readings = Vec::new();
        let mut backfilled = false;
        for lag in sim.due(now) {
            let at_ms = now_ms - lag.as_millis() as i64;
            let at_script = script - lag.as_secs_f64() * speed;
            if sim.silent(at_script) {
                continue;
            }
            if sim.backfill {
                backfilled = true;
                readings.extend(sim.history(at_ms));
            }
            readings.push(sim.reading(at_ms, at_script));
        }
        if !readings.is_empty() {
            due.push((i, readings, backfilled));
        }
    }
    due
}

/// One device's message: its reading, or an array when several are due at once.
fn message(readings: &[Reading]) -> Value {
    match readings {
        [one] => one.json(),
        many => Value::Array(many.iter().map(Reading::json).collect()),
    }
}

/// The HTTP mode's client, shared by its workers, and where it posts.
struct Http {
    /// One client for every worker: its pool keeps their connections alive between requests.
    client: reqwest::Client,
    /// The API's URL without a trailing slash; request paths are appended to it.
    base: String,
}

/// What became of one device message posted over HTTP.
#[derive(Debug)]
enum Answer {
    /// A 2xx: the readings are durable.
    Stored,
    /// 401 or 403: the server does not take the device's token (unknown, or the device is
    /// disabled), so posting more of its messages is pointless.
    Refused(u16),
    /// Any other status (429 when the device is throttled), with the start of the body: the
    /// readings are lost.
    Failed(u16, String),
    /// No answer (the network failed or the request timed out): the readings are lost.
    Unanswered(String),
}

impl Http {
    /// A client for `workers` workers, each keeping its connection alive between requests.
    fn new(base: String, workers: usize) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(workers)
            .pool_idle_timeout(KEEP_ALIVE)
            .connect_timeout(Duration::from_secs(5))
            .timeout(HTTP_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Http { client, base })
    }

    /// Posts one device message. The answer's body is always read to its end, so the connection
    /// goes back to the pool.
    async fn post(&self, token: &str, payload: String) -> Answer {
        let url = format!("{}/api/v1/telemetry/{token}", self.base);
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Unanswered(e.to_string()),
        };
        let status = response.status();
        let body = response.text().await;
        if status.is_success() {
            // The status alone says the readings are durable.
            return Answer::Stored;
        }
        match (status.as_u16(), body) {
            (code @ (401 | 403), Ok(_)) => Answer::Refused(code),
            (code, Ok(body)) => Answer::Failed(code, body.chars().take(200).collect()),
            (_, Err(e)) => Answer::Unanswered(e.to_string()),
        }
    }
}

/// One HTTP worker: waits for the epoch, then posts its devices' messages as they fall due, one
/// request at a time, each with the payload device mode would publish, until told to stop (a
/// request in flight then finishes, within [`HTTP_TIMEOUT`]). Each round gathers what is due,
/// at most every [`HTTP_ROUND`]. A device whose token is refused is counted and skipped from
/// then on; the worker ends when all of its devices are.
async fn http_worker(mut plan: Plan, ctx: Arc<Ctx>) -> anyhow::Result<()> {
    let http = ctx
        .http
        .as_ref()
        .context("an HTTP worker without an HTTP client")?;
    let stats = &ctx.stats;
    let mut stop = ctx.stop.clone();
    // There is no handshake: the probe reached the API, and the first request opens the
    // connection. The worker counts as connected while the API answers it.
    Stats::add(&stats.connected, 1);
    Stats::add(&stats.settled, 1);
    let mut up = true;
    // Whether the last answer other than a refusal or throttling was a failure, so a failing
    // server is logged once, not once per request.
    let mut failing = false;
    let mut epoch_rx = ctx.epoch.clone();
    let epoch = tokio::select! {
        epoch = epoch_rx.wait_for(Option::is_some) => epoch.ok().and_then(|e| *e),
        _ = stop.wait_for(|s| *s) => None,
    };
    if let Some(epoch) = epoch {
        for sim in &mut plan.sims {
            sim.schedule(epoch);
        }
        let mut round = epoch;
        'rounds: while let Some(next) = plan.sims.iter().map(|s| s.next_due).min() {
            tokio::select! {
                () = sleep_until(next.max(round + HTTP_ROUND)) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            round = Instant::now();
            let due = gather(&mut plan.sims, epoch, round, unix_ms(), ctx.speed);
            let mut refused = Vec::new();
            for (i, readings, backfilled) in due {
                if *stop.borrow() {
                    break 'rounds;
                }
                let sim = &mut plan.sims[i];
                let n = readings.len() as u64;
                Stats::add(&stats.sent, n);
                Stats::add(&stats.publishes, 1);
                let answer = http.post(&sim.token, message(&readings).to_string()).await;
                if let Answer::Stored = answer {
                    Stats::add(&stats.acked, n);
                } else {
                    Stats::add(&stats.lost, n);
                    if backfilled {
                        // The history must come before anything else of the device's.
                        sim.backfill = true;
                    }
                }
                if let Answer::Unanswered(error) = &answer {
                    if up {
                        up = false;
                        stats.connected.fetch_sub(1, Ordering::Relaxed);
                        tracing::warn!(worker = %plan.label, %error, "HTTP 接口无应答，读数丢失 / the HTTP API does not answer; readings are lost until it does");
                    }
                } else if !up {
                    up = true;
                    Stats::add(&stats.connected, 1);
                    tracing::info!(worker = %plan.label, "HTTP 接口已恢复应答 / the HTTP API answers again");
                }
                match answer {
                    Answer::Unanswered(_) => {}
                    Answer::Stored => failing = false,
                    Answer::Refused(status) => {
                        refused.push(i);
                        let n = stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
                        if n <= REFUSALS_LOGGED {
                            tracing::warn!(
                                device = %sim.id,
                                status,
                                "设备 {} 的令牌被拒绝（HTTP {status}），跳过 / device {} refused (HTTP {status}): unknown token or disabled device; skipped",
                                sim.id,
                                sim.id
                            );
                        }
                    }
                    // A throttled device is the server working as meant; the counts show it.
                    Answer::Failed(429, _) => {}
                    // The first failure of a run of them is enough in the log.
                    Answer::Failed(status, body) if !failing => {
                        failing = true;
                        tracing::warn!(worker = %plan.label, device = %sim.id, status, %body, "HTTP 遥测请求失败，读数丢失 / a telemetry request failed; its readings are lost");
                    }
                    Answer::Failed(status, body) => {
                        tracing::debug!(device = %sim.id, status, %body, "HTTP 遥测请求失败 / a telemetry request failed");
                    }
                }
            }
            // Highest index first, so the others keep theirs until removed.
            for i in refused.into_iter().rev() {
                plan.sims.remove(i);
            }
        }
    }
    if up {
        stats.connected.fetch_sub(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Now, in Unix milliseconds.
fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SplitMix64 over the demo sequence's mixer: small, fixed, and without a dependency.
#[derive(Debug, Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        let out = mix(self.0);
        self.0 = self.0.wrapping_add(GOLDEN);
        out
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// One step of a random walk kept inside [lo, hi]: a step past a bound is reflected back, and a
/// value that starts outside (after an incident) is brought inside.
fn walk(rng: &mut Rng, x: f64, lo: f64, hi: f64, step: f64) -> f64 {
    let y = x + rng.range(-step, step);
    let y = if y < lo {
        2.0 * lo - y
    } else if y > hi {
        2.0 * hi - y
    } else {
        y
    };
    y.clamp(lo, hi)
}

/// Three decimals: what a sensor reports, and shorter payloads.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The demo's device types, as far as the simulator knows how to fake them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `water_level`: depth at an underpass, dry in normal weather.
    WaterLevel,
    /// `slope`: an inclinometer on a hillside, creeping slowly.
    Slope,
    /// `smoke`: a shop's smoke and heat detector.
    Smoke,
    /// `building_tilt`: tilt and settlement of an old building.
    BuildingTilt,
    /// `manhole`: a cover that stays shut.
    Manhole,
    /// `air_quality`: a street station.
    AirQuality,
    /// `water_quality`: a river station.
    WaterQuality,
    /// `parking`: a car park's occupancy.
    Parking,
    /// `generic` (and anything unknown): one `value`.
    Generic,
}

impl Kind {
    /// The kind of a device type code; unknown codes are faked as generic.
    fn of(type_code: &str) -> Kind {
        match type_code {
            "water_level" => Kind::WaterLevel,
            "slope" => Kind::Slope,
            "smoke" => Kind::Smoke,
            "building_tilt" => Kind::BuildingTilt,
            "manhole" => Kind::Manhole,
            "air_quality" => Kind::AirQuality,
            "water_quality" => Kind::WaterQuality,
            "parking" => Kind::Parking,
            _ => Kind::Generic,
        }
    }

    /// Whether it runs on a battery and reports its charge.
    fn battery(self) -> bool {
        matches!(
            self,
            Kind::WaterLevel | Kind::Slope | Kind::Smoke | Kind::BuildingTilt | Kind::Manhole
        )
    }
}

/// One reading: its time and values.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    /// Unix ms.
    ts: i64,
    /// Key and value, in the order sent.
    values: Vec<(&'static str, f64)>,
}

impl Reading {
    /// `{"ts": ms, "values": {…}}`.
    fn json(&self) -> Value {
        let values: Map<String, Value> = self
            .values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(round3(*v))))
            .collect();
        json!({"ts": self.ts, "values": values})
    }
}

/// The water depth (cm) at the underpass while the incident runs, `None` before and after: from
/// 2 cm up by 1 cm per 2 s to 45 cm (past blue 10, yellow 15, orange 27, red 40), held 30 s, then
/// down at the same pace to dry.
fn flood(script: f64) -> Option<f64> {
    let d = script - WATER_AT;
    let rise = 86.0;
    let hold = rise + 30.0;
    let end = hold + 90.0;
    if d < 0.0 || d >= end {
        None
    } else if d < rise {
        Some(2.0 + d / 2.0)
    } else if d < hold {
        Some(45.0)
    } else {
        Some(45.0 - (d - hold) / 2.0)
    }
}

/// Smoke (0 or 1) and temperature (°C) at the shop while the fire runs, from the detector's
/// normal temperature `normal`: smoke and heat climbing to 75 °C within 8 s, for 20 s; then the
/// smoke clears and the heat falls back over 10 s.
fn fire(script: f64, normal: f64) -> Option<(f64, f64)> {
    let d = script - SMOKE_AT;
    if !(0.0..30.0).contains(&d) {
        None
    } else if d < 20.0 {
        Some((1.0, normal + (75.0 - normal) * (d / 8.0).min(1.0)))
    } else {
        Some((0.0, 75.0 - (75.0 - normal) * ((d - 20.0) / 10.0)))
    }
}

/// The slope's displacement (mm) beyond its creep: growing with the square of time for two
/// minutes (8 mm), then easing towards 12 mm. Over the server's 6-hour window the rate passes
/// 5 mm/day after ~40 s, 10 after ~60 s and 20 after ~90 s of script time.
fn slide(script: f64) -> f64 {
    let d = script - SLOPE_AT;
    if d <= 0.0 {
        0.0
    } else if d < 120.0 {
        8.0 * (d / 120.0).powi(2)
    } else {
        8.0 + 4.0 * (1.0 - (-(d - 120.0) / 120.0).exp())
    }
}

/// Whether it is raining on the slope: ten minutes of script from the slide's start.
fn raining(script: f64) -> bool {
    (SLOPE_AT..SLOPE_AT + 600.0).contains(&script)
}

/// The building's extra X tilt (°): 0.23° spread over two minutes, then kept.
fn lean(script: f64) -> f64 {
    0.23 * ((script - TILT_AT) / 120.0).clamp(0.0, 1.0)
}

/// One simulated device: what it is, its values' state and its schedule.
#[derive(Debug, Clone)]
struct Sim {
    /// Position in the demo sequence; the incident devices are the first.
    index: usize,
    /// Its id, `demo-000001`.
    id: String,
    /// Its token, for device mode.
    token: String,
    /// Its type.
    kind: Kind,
    /// Whether the incidents run.
    scripted: bool,
    /// Its own random sequence.
    rng: Rng,
    /// Random-walk states; what each holds depends on the kind (see [`Sim::reading`]).
    walk: [f64; 3],
    /// A constant of the device: base displacement or settlement (mm), car-park capacity.
    base: f64,
    /// How fast its displacement creeps, mm/day (slopes).
    creep: f64,
    /// Its battery charge (%) at its first reading.
    battery0: f64,
    /// Its first reading's time (Unix ms): slow trends are measured from here.
    start_ms: Option<i64>,
    /// Its newest reading's time, so times strictly increase.
    last_ts: i64,
    /// Readings made, so the battery is reported every tenth.
    made: u64,
    /// Whether its history (the slope incident's 6 hours) is still to be sent, first of all.
    backfill: bool,
    /// Its mean period.
    interval: Duration,
    /// When its next reading is due.
    next_due: Instant,
}

impl Sim {
    /// The demo device `d`, publishing about every `interval`, with its own fixed random
    /// sequence (so every run shows the same district) and the incidents if `scripted`.
    fn new(d: &DemoDevice, scripted: bool, interval: Duration) -> Sim {
        let kind = Kind::of(d.type_code);
        let mut rng = Rng(mix(d.index as u64 ^ 0x51_4D_55_4C));
        let incident = |i: usize| scripted && d.index == i;
        let walk = match kind {
            Kind::WaterLevel => [rng.range(0.0, 2.0), 0.0, 0.0],
            Kind::Slope => [rng.range(0.3, 1.0), rng.range(0.0, 1.0), 0.0],
            Kind::Smoke => [rng.range(25.0, 30.0), 0.0, 0.0],
            Kind::BuildingTilt if incident(TILT) => [0.02, rng.range(-0.02, 0.02), 0.0],
            Kind::BuildingTilt => [rng.range(-0.02, 0.02), rng.range(-0.02, 0.02), 0.0],
            Kind::Manhole => [rng.range(0.5, 2.0), 0.0, 0.0],
            Kind::AirQuality => [rng.range(40.0, 70.0), 0.0, 0.0],
            Kind::WaterQuality => [
                rng.range(7.0, 7.6),
                rng.range(5.5, 7.5),
                rng.range(7.0, 15.0),
            ],
            Kind::Parking => [rng.range(30.0, 80.0), 0.0, 0.0],
            Kind::Generic => [rng.range(45.0, 55.0), 0.0, 0.0],
        };
        let base = match kind {
            Kind::Slope => rng.range(5.0, 30.0),
            Kind::BuildingTilt => rng.range(1.0, 8.0),
            Kind::Parking => rng.range(50.0, 400.0).round(),
            _ => 0.0,
        };
        let creep = if incident(SLOPE) {
            SLOPE_CREEP
        } else {
            rng.range(0.3, 0.7)
        };
        let battery0 = rng.range(88.0, 97.0);
        let watched = [WATER, SLOPE, SMOKE, TILT].into_iter().any(incident);
        let interval = if watched {
            interval.min(WATCHED_PERIOD)
        } else {
            interval
        };
        Sim {
            index: d.index,
            id: d.id.clone(),
            token: d.token.clone(),
            kind,
            scripted,
            rng,
            walk,
            base,
            creep,
            battery0,
            start_ms: None,
            last_ts: 0,
            made: 0,
            backfill: incident(SLOPE) && kind == Kind::Slope,
            interval,
            next_due: Instant::now(),
        }
    }

    /// Sets the first reading's time: a fixed phase of the period (the golden-ratio sequence, so
    /// any number of devices spreads evenly), for even load from the first second.
    fn schedule(&mut self, epoch: Instant) {
        let phase = (self.index as f64 * 0.618_033_988_749_895).fract();
        self.next_due = epoch + self.interval.mul_f64(phase);
    }

    /// The readings due by `now`, as how long ago each fell due (oldest first), with the
    /// schedule moved past `now` by periods of ±20 % jitter. Several fall due at once when the
    /// period is shorter than a gateway tick; a device more than [`MAX_LAG`] behind (the machine
    /// was busy) skips ahead rather than bursting.
    fn due(&mut self, now: Instant) -> Vec<Duration> {
        if now.saturating_duration_since(self.next_due) > MAX_LAG {
            self.next_due = now;
        }
        let mut lags = Vec::new();
        while self.next_due <= now {
            lags.push(now - self.next_due);
            self.next_due += self.interval.mul_f64(self.rng.range(0.8, 1.2));
        }
        lags
    }

    /// Whether the script has silenced it.
    fn silent(&self, script: f64) -> bool {
        self.scripted && script >= SILENCE_AT && SILENT.contains(&self.index)
    }

    /// Its charge at `days` after its first reading: 0.5 % a day, never below 20 %.
    fn battery(&self, days: f64) -> f64 {
        (self.battery0 - 0.5 * days).max(20.0)
    }

    /// The slope's logged history before `now_ms`: 6 hours at 15-minute steps, oldest first, on
    /// the same creep as what follows, so the server's rate window is full from the start.
    fn history(&mut self, now_ms: i64) -> Vec<Reading> {
        self.backfill = false;
        let start = *self.start_ms.get_or_insert(now_ms);
        let steps = BACKFILL_SPAN_MS / BACKFILL_STEP_MS;
        let mut out = Vec::with_capacity(steps as usize);
        for k in (1..=steps).rev() {
            let ts = now_ms - k * BACKFILL_STEP_MS;
            let days = (ts - start) as f64 / DAY_MS;
            let displacement = self.base + self.creep * days + self.rng.range(-0.005, 0.005);
            let tilt = walk(&mut self.rng, self.walk[0], 0.2, 1.2, 0.01);
            self.walk[0] = tilt;
            let mut values = vec![
                ("displacement_mm", displacement),
                ("tilt_deg", tilt),
                ("rain_mm_h", 0.0),
            ];
            if k == steps {
                values.push(("battery_pct", self.battery(days.max(0.0))));
            }
            out.push(Reading { ts, values });
        }
        self.last_ts = self.last_ts.max(out.last().map_or(0, |r| r.ts));
        out
    }

    /// Its next reading at `now_ms` (Unix ms), `script` seconds into the incident script: the
    /// type's keys (the battery every tenth time), on their walks, or as an incident has them.
    fn reading(&mut self, now_ms: i64, script: f64) -> Reading {
        let ts = now_ms.max(self.last_ts + 1);
        self.last_ts = ts;
        let start = *self.start_ms.get_or_insert(ts);
        let days = (ts - start) as f64 / DAY_MS;
        let incident = |i: usize| self.scripted && self.index == i;
        let (at_water, at_slope, at_smoke, at_tilt) = (
            incident(WATER),
            incident(SLOPE),
            incident(SMOKE),
            incident(TILT),
        );
        let rng = &mut self.rng;
        let w = &mut self.walk;
        let mut values: Vec<(&'static str, f64)> = Vec::with_capacity(4);
        match self.kind {
            Kind::WaterLevel => {
                w[0] = walk(rng, w[0], 0.0, 3.0, 0.15);
                let level = at_water.then(|| flood(script)).flatten();
                values.push(("level_cm", level.unwrap_or(w[0])));
            }
            Kind::Slope => {
                let extra = if at_slope { slide(script) } else { 0.0 };
                let displacement = self.base + self.creep * days + extra + rng.range(-0.005, 0.005);
                w[0] = walk(rng, w[0], 0.2, 1.2, 0.01);
                w[1] = if at_slope && raining(script) {
                    walk(rng, w[1], 30.0, 60.0, 3.0)
                } else {
                    walk(rng, w[1], 0.0, 2.0, 0.2)
                };
                values.push(("displacement_mm", displacement));
                values.push(("tilt_deg", w[0] + extra * 0.03));
                values.push(("rain_mm_h", w[1]));
            }
            Kind::Smoke => {
                w[0] = walk(rng, w[0], 24.0, 32.0, 0.1);
                let burning = at_smoke.then(|| fire(script, w[0])).flatten();
                let (smoke, temperature) = burning.unwrap_or((0.0, w[0]));
                values.push(("smoke", smoke));
                values.push(("temperature_c", temperature));
            }
            Kind::BuildingTilt => {
                w[0] = if at_tilt {
                    walk(rng, w[0], 0.015, 0.025, 0.001)
                } else {
                    walk(rng, w[0], -0.04, 0.04, 0.002)
                };
                w[1] = walk(rng, w[1], -0.04, 0.04, 0.002);
                let x = w[0] + if at_tilt { lean(script) } else { 0.0 };
                values.push(("tilt_x_deg", x));
                values.push(("tilt_y_deg", w[1]));
                values.push(("settlement_mm", self.base + rng.range(-0.01, 0.01)));
            }
            Kind::Manhole => {
                w[0] = walk(rng, w[0], 0.3, 2.7, 0.05);
                values.push(("open", 0.0));
                values.push(("tilt_deg", w[0]));
            }
            Kind::AirQuality => {
                w[0] = walk(rng, w[0], 30.0, 80.0, 1.5);
                let pm25 = (w[0] * 0.5 + rng.range(-3.0, 3.0)).max(1.0);
                let pm10 = (w[0] * 0.9 + rng.range(-5.0, 5.0)).max(2.0);
                values.push(("aqi", w[0]));
                values.push(("pm25", pm25));
                values.push(("pm10", pm10));
            }
            Kind::WaterQuality => {
                w[0] = walk(rng, w[0], 6.8, 7.8, 0.02);
                w[1] = walk(rng, w[1], 5.0, 8.0, 0.05);
                w[2] = walk(rng, w[2], 5.0, 20.0, 0.3);
                values.push(("ph", w[0]));
                values.push(("do_mg_l", w[1]));
                values.push(("turbidity_ntu", w[2]));
            }
            Kind::Parking => {
                w[0] = walk(rng, w[0], 20.0, 90.0, 1.0);
                values.push(("occupancy_pct", w[0]));
                values.push(("free", (self.base * (1.0 - w[0] / 100.0)).round()));
            }
            Kind::Generic => {
                w[0] = walk(rng, w[0], 40.0, 60.0, 0.5);
                values.push(("value", w[0]));
            }
        }
        if self.kind.battery() && self.made.is_multiple_of(10) {
            values.push(("battery_pct", self.battery(days)));
        }
        self.made += 1;
        Reading { ts, values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wanxiang_api::sensing::types::{DEFAULT_DEVICE_TYPES, parse_types};
    use wanxiang_core::alarm::{DeviceType, Level, RuleState, Source};

    #[test]
    fn broker_addresses() {
        let ok = |s: &str| parse_broker(s).unwrap();
        assert_eq!(ok("mqtt://127.0.0.1:1883"), ("127.0.0.1".into(), 1883));
        assert_eq!(ok("mqtt://broker.example"), ("broker.example".into(), 1883));
        assert_eq!(ok("tcp://h:2000/"), ("h".into(), 2000));
        assert_eq!(ok("localhost:1884"), ("localhost".into(), 1884));
        assert_eq!(ok("mqtt://[::1]:1885"), ("::1".into(), 1885));
        assert_eq!(ok("mqtt://[::1]"), ("::1".into(), 1883));
        for (bad, says) in [
            ("mqtts://h:8883", "unsupported broker scheme"),
            ("ws://h", "unsupported broker scheme"),
            ("mqtt://", "no host"),
            ("mqtt://:1883", "no host"),
            ("mqtt://h:0", "invalid broker port"),
            ("mqtt://h:99999", "invalid broker port"),
            ("mqtt://h:x", "invalid broker port"),
            ("mqtt://h:1883/topic", "only a host and a port"),
            ("mqtt://user@h", "only a host and a port"),
            ("mqtt://::1:1883", "in brackets"),
            ("mqtt://[::1", "unclosed"),
        ] {
            let e = parse_broker(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn api_addresses() {
        let ok = |s: &str| {
            let api = parse_api(s).unwrap();
            (api.base, api.host, api.port)
        };
        let api = |base: &str, host: &str, port| (base.to_owned(), host.to_owned(), port);
        assert_eq!(
            ok("http://127.0.0.1:8080"),
            api("http://127.0.0.1:8080", "127.0.0.1", 8080)
        );
        assert_eq!(
            ok(" HTTP://Server.example/ "),
            api("http://server.example", "server.example", 80)
        );
        assert_eq!(
            ok("http://h:8080/wanxiang/"),
            api("http://h:8080/wanxiang", "h", 8080)
        );
        assert_eq!(
            ok("http://[::1]:8080"),
            api("http://[::1]:8080", "::1", 8080)
        );
        for (bad, says) in [
            ("https://h:8443", "must start with http://"),
            ("127.0.0.1:8080", "must start with http://"),
            ("mqtt://h:1883", "must start with http://"),
            ("http://", "invalid API address"),
            ("http://h:99999", "invalid API address"),
            ("http://h:0", "invalid port"),
            ("http://user@h:8080", "only a host, a port and a path"),
            ("http://h:8080/?x=1", "only a host, a port and a path"),
        ] {
            let e = format!("{:#}", parse_api(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn the_open_files_limit_bounds_device_mode() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        assert_eq!(
            soft_open_files(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
        assert_eq!(soft_open_files(""), None);
        assert!(check_open_files(924, Some(1024)).is_ok());
        let e = check_open_files(925, Some(1024)).unwrap_err().to_string();
        assert!(e.contains("--mode gateway") && e.contains("1024"), "{e}");
        assert!(check_open_files(1_000_000, None).is_ok());
    }

    #[test]
    fn options_are_checked() {
        let bad = [
            Options {
                devices: 0,
                ..Options::default()
            },
            Options {
                rate: 0.0,
                ..Options::default()
            },
            Options {
                speed: f64::NAN,
                ..Options::default()
            },
            Options {
                mode: Mode::Gateway { connections: 0 },
                ..Options::default()
            },
            Options {
                devices: 10,
                rate: 1001.0,
                ..Options::default()
            },
            Options {
                mode: Mode::Http {
                    api: "http://127.0.0.1:8080".into(),
                    workers: 0,
                },
                ..Options::default()
            },
            Options {
                mode: Mode::Http {
                    api: "https://127.0.0.1:8443".into(),
                    workers: 4,
                },
                ..Options::default()
            },
            Options {
                mode: Mode::Http {
                    api: String::new(),
                    workers: 4,
                },
                ..Options::default()
            },
        ];
        for o in bad {
            assert!(check(&o).is_err(), "{o:?}");
        }
        assert!(check(&Options::default()).is_ok());
        let http = Options {
            mode: Mode::Http {
                api: "http://127.0.0.1:8080".into(),
                workers: 4,
            },
            ..Options::default()
        };
        assert!(check(&http).is_ok());
        assert_eq!("1".parse::<Qos>().unwrap(), Qos::AtLeastOnce);
        assert_eq!("exactly_once".parse::<Qos>().unwrap(), Qos::ExactlyOnce);
        assert!("3".parse::<Qos>().is_err());
    }

    #[test]
    fn readings_fall_due_on_schedule_without_bursts() {
        let d = &demo_devices(30)[20];
        let mut sim = Sim::new(d, false, Duration::from_millis(30));
        let epoch = Instant::now();
        sim.schedule(epoch);
        // A gateway tick of 100 ms catches every reading due in it, each with its own lag.
        let mut n = sim.due(epoch + Duration::from_millis(100)).len();
        let mut t = epoch + Duration::from_millis(100);
        for _ in 0..99 {
            t += Duration::from_millis(100);
            let lags = sim.due(t);
            assert!(lags.windows(2).all(|w| w[0] > w[1]), "oldest first");
            assert!(lags.iter().all(|l| *l < Duration::from_millis(100)));
            n += lags.len();
        }
        assert!((300..=370).contains(&n), "~10 s at 30 ms: {n}");
        // Far behind, it skips ahead instead of bursting.
        let lags = sim.due(t + Duration::from_secs(60));
        assert!(lags.len() <= 1, "{lags:?}");
        // The incident devices report at least every 2 s, however large the fleet.
        let watched = Sim::new(&demo_devices(1)[0], true, Duration::from_secs(20));
        assert_eq!(watched.interval, WATCHED_PERIOD);
        let unwatched = Sim::new(&demo_devices(1)[0], false, Duration::from_secs(20));
        assert_eq!(unwatched.interval, Duration::from_secs(20));
    }

    #[test]
    fn acks_are_counted_in_readings() {
        let mut t = Tracker {
            connected: true,
            ..Tracker::default()
        };
        t.queue(3);
        t.queue(1);
        t.written(7);
        t.written(7); // A resend of 7 is not a new publish.
        t.written(8);
        assert_eq!(t.acked(8), 1);
        assert_eq!(t.acked(8), 0, "an ack counts once");
        t.queue(5);
        assert!(!t.idle());
        assert_eq!(t.reset(), 3 + 5, "what the dropped connection loses");
        assert!(t.idle());
        t.written(0); // QoS 0 awaits nothing.
        assert!(t.idle());
    }

    /// Feeds readings through a type's rules as the server does (value and rate rules; silence
    /// is the server clock's business) and records the highest level each rule reaches.
    struct Judge {
        ty: Arc<DeviceType>,
        states: Vec<RuleState>,
        peak: HashMap<String, Level>,
        /// Where each rule first reached each level, in script seconds.
        first: HashMap<(String, Level), f64>,
    }

    impl Judge {
        fn new(types: &HashMap<String, Arc<DeviceType>>, type_code: &str) -> Judge {
            let ty = types[type_code].clone();
            let states = vec![RuleState::default(); ty.rules.len()];
            Judge {
                ty,
                states,
                peak: HashMap::new(),
                first: HashMap::new(),
            }
        }

        fn feed(&mut self, r: &Reading, script: f64) {
            assert!(
                (1..=5).contains(&r.values.len()),
                "1–5 values: {:?}",
                r.values
            );
            for (k, v) in &r.values {
                let rounded = round3(*v);
                assert!(
                    self.ty.check(k, rounded).is_ok(),
                    "{}: {k}={v} outside the type's range",
                    self.ty.code
                );
            }
            for (rule, state) in self.ty.rules.iter().zip(&mut self.states) {
                if rule.source == Source::Silence {
                    continue;
                }
                let key = rule.source.key().unwrap_or_default();
                let Some(&(_, v)) = r.values.iter().find(|(k, _)| *k == key) else {
                    continue;
                };
                if let Some(x) = rule.observe(state, r.ts, round3(v)) {
                    rule.judge(state, r.ts, x);
                }
                if let Some(level) = state.active {
                    let peak = self.peak.entry(rule.code.clone()).or_insert(level);
                    *peak = (*peak).max(level);
                    self.first
                        .entry((rule.code.clone(), level))
                        .or_insert(script);
                }
            }
        }
    }

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn normal_values_stay_in_range_and_never_alarm() {
        // A day of readings once a minute from every kind of device, incidents off (and on, for
        // the ordinary devices): no value or rate rule may fire, no value may be refused.
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let devices = demo_devices(300);
        let mut kinds = std::collections::HashSet::new();
        for scripted in [false, true] {
            for d in &devices {
                if scripted && (d.index < INCIDENTS.len() || SILENT.contains(&d.index)) {
                    continue;
                }
                kinds.insert(d.type_code);
                let mut sim = Sim::new(d, scripted, Duration::from_secs(60));
                let mut judge = Judge::new(&types, d.type_code);
                for step in 0..1440 {
                    let r = sim.reading(T0 + step * 60_000, step as f64 * 60.0);
                    judge.feed(&r, step as f64 * 60.0);
                }
                assert!(
                    judge.peak.is_empty(),
                    "{} ({}) alarmed: {:?}",
                    d.id,
                    d.type_code,
                    judge.peak
                );
            }
        }
        assert_eq!(kinds.len(), 9, "every demo type is covered: {kinds:?}");
    }

    #[test]
    fn the_incidents_raise_their_alarms_on_cue() {
        // Real time (speed 1), a reading every 2 s for 20 minutes.
        let types = parse_types(DEFAULT_DEVICE_TYPES).unwrap();
        let devices = demo_devices(5);
        let mut peaks = HashMap::new();
        for d in &devices {
            let mut sim = Sim::new(d, true, Duration::from_secs(2));
            let mut judge = Judge::new(&types, d.type_code);
            if sim.backfill {
                let history = sim.history(T0);
                assert_eq!(history.len(), 24);
                assert!(
                    history.windows(2).all(|w| w[0].ts < w[1].ts),
                    "oldest first"
                );
                assert_eq!(history[0].ts, T0 - 6 * 3600 * 1000);
                for r in &history {
                    judge.feed(r, 0.0);
                }
                assert!(judge.peak.is_empty(), "the creep alone is below blue");
            }
            let mut last = 0;
            for step in 0..600 {
                let script = step as f64 * 2.0;
                let r = sim.reading(T0 + step * 2000, script);
                assert!(r.ts > last, "strictly increasing times");
                last = r.ts;
                judge.feed(&r, script);
            }
            let current: Vec<_> = judge
                .ty
                .rules
                .iter()
                .zip(&judge.states)
                .filter_map(|(rule, s)| s.active.map(|l| (rule.code.clone(), l)))
                .collect();
            peaks.insert(d.index, (judge.peak, judge.first, current));
        }
        // The underpass floods to red and dries out again.
        let (peak, first, now) = &peaks[&WATER];
        assert_eq!(peak["level_high"], Level::Red);
        let yellow = first[&("level_high".to_owned(), Level::Yellow)];
        assert!((30.0..50.0).contains(&yellow), "yellow at {yellow}");
        assert!(now.is_empty(), "cleared after the flood: {now:?}");
        // The shop burns (smoke red, heat red) and cools down.
        let (peak, _, now) = &peaks[&SMOKE];
        assert_eq!(peak["smoke"], Level::Red);
        assert_eq!(peak["heat"], Level::Red);
        assert!(now.is_empty(), "cleared after the fire: {now:?}");
        // The slope passes 5, 10 and 20 mm/day within about two minutes of the rain.
        let (peak, first, _) = &peaks[&SLOPE];
        assert_eq!(peak["displacement_rate"], Level::Red);
        if let Some(&blue) = first.get(&("displacement_rate".to_owned(), Level::Blue)) {
            assert!(blue >= SLOPE_AT, "blue before the rain, at {blue}");
        }
        for level in [Level::Yellow, Level::Orange, Level::Red] {
            let at = first[&("displacement_rate".to_owned(), level)];
            assert!(
                (SLOPE_AT..SLOPE_AT + 130.0).contains(&at),
                "{level:?} at {at}"
            );
        }
        assert!(!peak.contains_key("tilt"), "the slope's tilt stays small");
        // The building reaches orange (0.25° > 0.2°, held a minute) but not red (0.4°).
        let (peak, _, now) = &peaks[&TILT];
        assert_eq!(peak["tilt_x"], Level::Orange);
        assert_eq!(now.len(), 1, "and stays there: {now:?}");
        // The manhole has no incident.
        assert!(peaks[&4].0.is_empty());
    }

    #[test]
    fn the_script_goes_silent_and_logs_only_simulated_incidents() {
        let d = &demo_devices(12)[11];
        let sim = Sim::new(d, true, Duration::from_secs(1));
        assert!(!sim.silent(SILENCE_AT - 1.0));
        assert!(sim.silent(SILENCE_AT));
        let unscripted = Sim::new(d, false, Duration::from_secs(1));
        assert!(!unscripted.silent(1e6));
        assert_eq!(incident_notes(3).len(), 3, "water, smoke, slope");
        let all = incident_notes(30);
        assert_eq!(all.len(), 5);
        assert!(all[4].1.contains("demo-000010…demo-000019"), "{}", all[4].1);
        assert!(incident_notes(12)[4].1.contains("demo-000011 going silent"));
    }

    #[test]
    fn gateway_mode_shares_devices_round_robin() {
        let sims: Vec<Sim> = demo_devices(10)
            .iter()
            .map(|d| Sim::new(d, false, Duration::from_secs(1)))
            .collect();
        let plans = plan(sims.clone(), &Mode::Gateway { connections: 4 });
        assert_eq!(plans.len(), 4);
        let sizes: Vec<usize> = plans.iter().map(|p| p.sims.len()).collect();
        assert_eq!(sizes, [3, 3, 2, 2]);
        assert!(plans.iter().all(|p| p.token == DEMO_GATEWAY_TOKEN));
        let ids: std::collections::HashSet<_> = plans.iter().map(|p| &p.client_id).collect();
        assert_eq!(ids.len(), 4, "distinct client ids");
        let plans = plan(sims.clone(), &Mode::Device);
        assert_eq!(plans.len(), 10);
        assert_eq!(plans[3].token, "wxd_demo_000003");
        // HTTP workers share the devices the same way, and are never more than the devices.
        let http = |workers| Mode::Http {
            api: "http://127.0.0.1:8080".into(),
            workers,
        };
        let plans = plan(sims.clone(), &http(4));
        let sizes: Vec<usize> = plans.iter().map(|p| p.sims.len()).collect();
        assert_eq!(sizes, [3, 3, 2, 2]);
        assert_eq!(plans[1].sims[1].token, "wxd_demo_000005");
        assert_eq!(plan(sims, &http(50)).len(), 10);
    }

    #[test]
    fn a_device_message_is_one_reading_or_an_array() {
        let one = Reading {
            ts: T0,
            values: vec![("value", 1.23456)],
        };
        let two = Reading {
            ts: T0 + 1,
            values: vec![("value", 2.0)],
        };
        assert_eq!(
            message(std::slice::from_ref(&one)),
            json!({"ts": T0, "values": {"value": 1.235}})
        );
        assert_eq!(
            message(&[one, two]),
            json!([{"ts": T0, "values": {"value": 1.235}}, {"ts": T0 + 1, "values": {"value": 2.0}}])
        );
    }
}
