//! The server's lifecycle: open the store, seed the demo, load the geography, serve HTTP until a
//! shutdown signal, then drain in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wanxiang_api::metered::MeteredStore;
use wanxiang_api::{ApiConfig, AppState, AtlasHandle};
use wanxiang_geo::Atlas;
use wanxiang_store::Store;

use crate::config::{Config, redact};
use crate::storage;

/// Runs the server on a bound listener until `shutdown` completes. The caller binds (port 0 in
/// tests) and owns the signal, as in mini-redis.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with_clock(
        config,
        listener,
        shutdown,
        Arc::new(wanxiang_api::clock::SystemClock),
    )
    .await
}

/// [`run`] with the clock deadlines are measured by (tests pass a manual one).
pub async fn run_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn wanxiang_api::clock::Clock>,
) -> anyhow::Result<()> {
    let url = config.database_url();
    tracing::info!(data_dir = %config.storage.data_dir.display(), database = %redact(&url), "opening store / 打开存储");
    let store: Arc<dyn Store> = Arc::new(MeteredStore::new(storage::open(&config).await?));
    let schema_version = store.schema_version().await?;
    tracing::info!(
        backend = store.backend().as_str(),
        schema_version,
        "store ready, migrations applied"
    );

    if config.demo {
        seed_demo(store.as_ref()).await?;
    } else {
        let demo_passwords = store.count_demo_passwords().await?;
        if demo_passwords > 0 {
            anyhow::bail!(
                "refusing to start: {demo_passwords} account(s) still have the published demo password. \
                 Start with --demo, change or disable those accounts (PATCH /api/v1/accounts/{{id}}), then restart. \
                 / 仍有 {demo_passwords} 个账号使用演示密码，拒绝以生产模式启动"
            );
        }
    }
    let atlas = AtlasHandle::default();
    reload(store.as_ref(), &atlas).await?;
    if config.demo
        && let Some(current) = atlas.current()
    {
        let now = clock.now_ms();
        let added = wanxiang_api::sensing::demo::seed(
            store.as_ref(),
            &current,
            config.sensing.demo_devices,
            now,
        )
        .await?;
        if added > 0 {
            tracing::info!(
                added,
                "demo sensors registered (DEMO content) / 演示传感器已登记"
            );
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let reloader = tokio::spawn(reload_loop(
        store.clone(),
        atlas.clone(),
        Duration::from_secs(config.geo.reload_interval_secs.max(1)),
        stop_rx.clone(),
    ));

    let auth = &config.auth;
    let api_config = ApiConfig {
        body_limit: config.server.body_limit,
        demo: config.demo,
        session_ttl_secs: auth.session_ttl_secs,
        secure_cookies: auth.secure_cookies,
        login_per_minute: auth.login_per_minute,
        lockout: wanxiang_api::auth::throttle::LockoutPolicy {
            free_failures: auth.lockout_free_failures,
            base_ms: auth.lockout_base_secs as i64 * 1000,
            max_ms: auth.lockout_max_secs as i64 * 1000,
        },
        cors_origins: auth.cors_origins.clone(),
        trusted_proxies: auth
            .trusted_proxies
            .iter()
            .map(|p| {
                p.trim().parse::<std::net::IpAddr>().with_context(|| {
                    format!("auth.trusted_proxies: {p:?} is not an IP address / 不是 IP 地址")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        resident_reports_per_minute: auth.resident_reports_per_minute,
        web_dir: web_dir(&config.server.web_dir),
    };
    let mut state = AppState::new(store, atlas, api_config);
    state.hub = load_hub(&config)?;
    state.sensing = load_sensing(&config)?;
    state.clock = clock;
    state.services = load_services(&config)?;
    // 一网通办: the shipped decision models become version 1 where none is stored; the demo's
    // registers are generated on the first start.
    let stored = wanxiang_api::services::ensure_models(&state).await?;
    if stored > 0 {
        tracing::info!(
            stored,
            "decision models stored from the catalogue / 决策模型已入库"
        );
    }
    if config.demo {
        let communities: Vec<String> = state
            .store
            .units()
            .await?
            .into_iter()
            .filter(|u| u.level == wanxiang_core::Level::Community)
            .map(|u| u.code.to_string())
            .collect();
        let people = wanxiang_api::services::demo::seed(
            state.store.services(),
            &communities,
            state.clock.now_ms(),
        )
        .await?;
        if people > 0 {
            tracing::info!(
                people,
                "demo registers generated (DEMO content) / 演示共享库已生成"
            );
        }
    }
    let roles =
        crate::config::Roles::parse(&config.server.roles).map_err(|e| anyhow::anyhow!(e))?;
    tracing::info!(
        api = roles.api,
        ingest = roles.ingest,
        worker = roles.worker,
        "node roles / 节点角色"
    );
    // The timed work: deadlines, webhook deliveries, retention and the demo's history.
    let mut workers = vec![tokio::spawn(wanxiang_api::health::upkeep_loop(
        stop_rx.clone(),
    ))];
    if roles.worker {
        if config.demo && config.events.demo_cases > 0 {
            spawn_demo_history(&state, config.events.demo_cases).await?;
        }
        workers.push(tokio::spawn(wanxiang_api::events::supervision_loop(
            state.clone(),
            stop_rx.clone(),
        )));
        workers.push(tokio::spawn(wanxiang_api::webhook::webhook_loop(
            state.clone(),
            stop_rx.clone(),
        )));
        workers.push(tokio::spawn(
            wanxiang_api::services::supervision::supervision_loop(state.clone(), stop_rx.clone()),
        ));
        if config.services.trigger_interval_mins > 0 {
            workers.push(tokio::spawn(wanxiang_api::services::triggers::run_loop(
                state.clone(),
                Duration::from_secs(config.services.trigger_interval_mins * 60),
                stop_rx.clone(),
            )));
        }
        workers.push(tokio::spawn(housekeeping(
            state.clone(),
            Retention {
                readings_days: config.sensing.retention_days,
                accepted_past_days: config.sensing.max_past_days,
                minute_days: config.sensing.rollup_minute_days,
                hour_days: config.sensing.rollup_hour_days,
            },
            stop_rx.clone(),
        )));
    }
    state.sensing.load_all(&state).await?;
    wanxiang_api::sensing::start(&state);
    let gateway = match roles.ingest.then(|| bind_mqtt(&config)) {
        None => None,
        Some(bound) => match bound.await? {
            None => None,
            Some(mqtt) => {
                let mqtt_addr = mqtt.local_addr()?;
                let _ = state.sensing.mqtt_addr.set(mqtt_addr);
                tracing::info!(
                    "MQTT 设备接入 / MQTT device gateway: mqtt://{mqtt_addr} (username = device access token, topic v1/devices/me/telemetry)"
                );
                let sink = Arc::new(wanxiang_api::sensing::gateway::DeviceSink {
                    state: state.clone(),
                });
                if config.demo
                    && config.sensing.demo_devices > 0
                    && config.sensing.demo_simulator_rate > 0.0
                {
                    spawn_demo_simulator(&config, mqtt_addr, stop_rx.clone());
                }
                let mut stop = stop_rx.clone();
                Some(tokio::spawn(wanxiang_mqtt::serve(
                    mqtt,
                    sink,
                    wanxiang_mqtt::Settings::default(),
                    async move {
                        let _ = stop.changed().await;
                    },
                )))
            }
        },
    };
    let url = config.bus.url.trim();
    // Unique per process (a listen address and a pid may repeat across containers), so a node
    // skips its own changes when they come back.
    let node = format!("{}/{}", listener.local_addr()?, uuid::Uuid::now_v7());
    let bus = wanxiang_api::bus::start(
        &state,
        url,
        config.bus.subject_prefix.trim(),
        node,
        stop_rx.clone(),
    )
    .await
    .with_context(|| format!("connecting to the bus at {url}"))?;
    if !url.is_empty() {
        tracing::info!(
            url,
            "linked to the other nodes through NATS / 已通过 NATS 连接集群"
        );
    }
    let subscription = match roles.ingest {
        true => broker_subscription(&config, &listener)?,
        false => None,
    };
    let subscriber = subscription.map(|sub| {
        tokio::spawn(wanxiang_api::sensing::subscriber::run(
            state.clone(),
            sub,
            stop_rx.clone(),
        ))
    });
    let addr = listener.local_addr()?;
    tracing::info!(
        "万象已启动 / Wanxiang is up: open http://{addr}/ (API: http://{addr}/api/v1/openapi.json)"
    );
    if config.demo {
        tracing::info!(
            "demo mode / 演示模式: the demo district of Luohu (罗湖区) is loaded; its street, community and grid boundaries are synthetic"
        );
        let names: Vec<String> = wanxiang_api::demo::accounts()
            .iter()
            .map(|a| {
                let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
                format!("{} ({})", a.username, roles.join(","))
            })
            .collect();
        tracing::info!(
            "demo accounts / 演示账号, password / 密码 \"{}\": {} — listed at http://{addr}/api/v1/demo/accounts",
            wanxiang_api::demo::DEMO_PASSWORD,
            names.join(", ")
        );
        tracing::info!(
            "Open311 GeoReport v2 / 开放接口: http://{addr}/open311/v2/discovery.json, demo api_key {}",
            wanxiang_api::demo::DEMO_OPEN311_KEY
        );
    }
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        let _ = closing.send(true);
    };
    let app = if roles.api {
        wanxiang_api::router(state)
    } else {
        wanxiang_api::ops_router(state)
    }
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    let _ = reloader.await;
    for worker in workers {
        let _ = worker.await;
    }
    if let Some(subscriber) = subscriber {
        let _ = subscriber.await;
    }
    if let Some(bus) = bus {
        let _ = bus.await;
    }
    if let Some(gateway) = gateway {
        let _ = gateway.await;
    }
    tracing::info!("stopped / 已停止");
    Ok(())
}

/// On a demo's first start (no cases yet), generates the last month's cases in the background
/// (labelled 演示数据), logging progress; the server serves meanwhile.
async fn spawn_demo_history(state: &AppState, count: usize) -> anyhow::Result<()> {
    let any = state
        .store
        .cases(
            &wanxiang_core::Scope::system("demo history check"),
            &wanxiang_store::CaseFilter {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await?;
    if !any.is_empty() {
        return Ok(());
    }
    let state = state.clone();
    tokio::spawn(async move {
        let opts = crate::seed_cmd::Options {
            count,
            days: 30,
            closed: 0.9,
            seed: 1,
            label: crate::seed_cmd::DEMO,
        };
        tracing::info!(
            count,
            "generating the demo's last 30 days of cases (DEMO data) / 正在生成演示案件"
        );
        let step = (count / 5).max(1);
        let progress = |done: usize| {
            if done.is_multiple_of(step) && done > 0 && done < count {
                tracing::info!(done, count, "demo cases / 演示案件");
            }
        };
        match crate::seed_cmd::seed_into(&state, &opts, progress).await {
            Ok(s) => tracing::info!(
                cases = s.cases,
                closed = s.closed,
                "demo cases generated (DEMO data) / 演示案件已生成"
            ),
            Err(e) => tracing::warn!(error = %e, "demo cases not generated"),
        }
    });
    Ok(())
}

/// The demo's built-in simulator: the demo sensors publish through the MQTT gateway (as any
/// device would), with the scripted incidents — water rising, smoke, a slope creeping faster,
/// a building tilting, devices falling silent — so alarms open cases within the first minutes.
fn spawn_demo_simulator(
    config: &Config,
    mqtt: std::net::SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let opts = crate::simulate::Options {
        devices: config.sensing.demo_devices,
        rate: config.sensing.demo_simulator_rate,
        broker: format!("mqtt://{mqtt}"),
        mode: crate::simulate::Mode::Gateway { connections: 4 },
        seconds: None,
        incidents: true,
        speed: 1.0,
        qos: crate::simulate::Qos::AtLeastOnce,
        quiet: true,
    };
    tracing::info!(
        devices = opts.devices,
        rate = opts.rate,
        "demo simulator started (DEMO data; sensing.demo_simulator_rate = 0 turns it off) / 演示传感器模拟已启动"
    );
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.changed().await;
        };
        match crate::simulate::run(opts, stopped).await {
            Ok(summary) => tracing::info!("demo simulator stopped: {summary}"),
            Err(e) => tracing::warn!(error = %e, "demo simulator stopped"),
        }
    });
}

/// Binds the MQTT device gateway's listener; with `--demo`, a taken port moves on to the next
/// free one (machines that already run Mosquitto on 1883).
async fn bind_mqtt(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    let text = config.sensing.mqtt_listen.trim();
    if text.is_empty() || text == "off" {
        return Ok(None);
    }
    let addr: std::net::SocketAddr = text
        .parse()
        .with_context(|| format!("sensing.mqtt_listen {text:?} is not an address"))?;
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(Some(l)),
        Err(e) if config.demo && e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
            for port in addr.port().saturating_add(1)..addr.port().saturating_add(100) {
                if let Ok(l) = TcpListener::bind((addr.ip(), port)).await {
                    tracing::warn!(
                        "MQTT port {} is taken; using {port} / MQTT 端口被占用，改用 {port}",
                        addr.port()
                    );
                    return Ok(Some(l));
                }
            }
            anyhow::bail!("no free MQTT port near {addr}")
        }
        Err(e) => Err(anyhow::anyhow!("cannot listen for MQTT on {addr}: {e}")),
    }
}

/// The external broker to subscribe to, if configured. Without a client id, the node's is
/// `wanxiang-{host name}-{HTTP port}`: stable across restarts, different per node.
fn broker_subscription(
    config: &Config,
    listener: &TcpListener,
) -> anyhow::Result<Option<wanxiang_api::sensing::subscriber::Subscription>> {
    let s = &config.sensing;
    let url = s.mqtt_broker.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let client_id = match s.mqtt_client_id.trim() {
        "" => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "node".into());
            format!("wanxiang-{}-{}", host.trim(), listener.local_addr()?.port())
        }
        id => id.to_owned(),
    };
    wanxiang_api::sensing::subscriber::Subscription::parse(url, &client_id, s.mqtt_group.trim())
        .map(Some)
        .map_err(|e| anyhow::anyhow!("sensing.mqtt_broker: {e}"))
}

/// The sensing hub from the configuration: the device types and the alarm settings.
/// The service catalogue: the shipped demo one, or `services.catalogue_file` with its decision
/// models in `models/` beside it. A catalogue that does not check stops the start.
pub fn load_services(config: &Config) -> anyhow::Result<Arc<wanxiang_api::services::Services>> {
    use wanxiang_api::services::{Catalogue, Services};
    let file = config.services.catalogue_file.trim();
    if file.is_empty() {
        return Ok(Arc::new(Services::default()));
    }
    let path = std::path::Path::new(file);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading services.catalogue_file {file}"))?;
    let models = path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("models");
    let catalogue = Catalogue::parse(&text, |name| {
        // Model names are plain file names: nothing outside the models directory is read.
        if name.contains('/') || name.contains('\\') || name.starts_with('.') {
            return None;
        }
        std::fs::read_to_string(models.join(name)).ok()
    })
    .map_err(|e| anyhow::anyhow!("service catalogue {file}: {e}"))?;
    Ok(Arc::new(Services::new(catalogue)))
}

pub fn load_sensing(config: &Config) -> anyhow::Result<Arc<wanxiang_api::sensing::Sensing>> {
    use wanxiang_api::sensing::{Sensing, types};
    let s = &config.sensing;
    let text = if s.types_file.trim().is_empty() {
        types::DEFAULT_DEVICE_TYPES.to_owned()
    } else {
        std::fs::read_to_string(&s.types_file)
            .with_context(|| format!("reading sensing.types_file {}", s.types_file))?
    };
    let parsed = types::parse_types(&text).map_err(|e| anyhow::anyhow!("device types: {e}"))?;
    let mut sensing = Sensing::new(parsed);
    sensing.case_level =
        wanxiang_core::alarm::Level::parse(s.case_level.trim()).ok_or_else(|| {
            anyhow::anyhow!(
                "sensing.case_level is blue, yellow, orange or red, not {:?}",
                s.case_level
            )
        })?;
    sensing.window.max_future_ms = s.max_future_secs as i64 * 1000;
    sensing.window.max_past_ms = s.max_past_days as i64 * 86_400_000;
    sensing.flood_limit = s.flood_limit_per_minute;
    sensing.unattended_ms = s.escalate_unacknowledged_mins as i64 * 60_000;
    Ok(Arc::new(sensing))
}

/// How long telemetry is kept, in days (0: forever).
#[derive(Debug, Clone, Copy)]
struct Retention {
    readings_days: u64,
    /// How far back readings are accepted: their partitions must exist.
    accepted_past_days: u64,
    minute_days: u64,
    hour_days: u64,
}

/// Hourly chores: deletes uploads that were never attached to a report within a day, and
/// telemetry past its retention.
async fn housekeeping(
    state: wanxiang_api::AppState,
    retention: Retention,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let day_ago = state.clock.now_ms() - 24 * 3_600_000;
        match state.store.purge_loose_attachments(day_ago).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "deleted uploads never attached to a report"),
            Err(e) => tracing::warn!(error = %e, "purging loose uploads failed"),
        }
        match purge_telemetry(&state, retention).await {
            Ok([0, 0, 0]) => {}
            Ok([readings, minutes, hours]) => tracing::info!(
                readings,
                minute_rollups = minutes,
                hour_rollups = hours,
                ?retention,
                "telemetry past retention deleted"
            ),
            Err(e) => tracing::warn!(error = %e, "deleting old telemetry failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Deletes raw readings, 1-minute and 1-hour rollups past their retention, 500 devices per
/// transaction so telemetry commits wait only briefly between them; returns how many of each.
async fn purge_telemetry(
    state: &wanxiang_api::AppState,
    retention: Retention,
) -> Result<[u64; 3], wanxiang_store::StoreError> {
    let now = state.clock.now_ms();
    let before = |days: u64| (days > 0).then(|| now - days as i64 * 86_400_000);
    let (readings, minutes, hours) = (
        before(retention.readings_days),
        before(retention.minute_days),
        before(retention.hour_days),
    );
    // Daily partitions (PostgreSQL) from the oldest day a reading is accepted for to two days
    // ahead; whole days past retention are dropped.
    let (created, dropped) = state
        .store
        .maintain_readings(
            now - (retention.accepted_past_days as i64 + 1) * 86_400_000,
            now + 3 * 86_400_000,
            readings,
        )
        .await?;
    if created + dropped > 0 {
        tracing::info!(created, dropped, "readings partitions maintained");
    }
    let mut deleted = [0; 3];
    if readings.is_none() && minutes.is_none() && hours.is_none() {
        return Ok(deleted);
    }
    let scope = wanxiang_core::Scope::system("retention");
    let mut after = None;
    loop {
        let page = state
            .store
            .devices(
                &scope,
                &wanxiang_store::DeviceFilter {
                    after: after.clone(),
                    limit: 500,
                    ..Default::default()
                },
            )
            .await?;
        let Some(last) = page.last() else {
            return Ok(deleted);
        };
        after = Some(last.id.clone());
        let ids: Vec<String> = page.into_iter().map(|d| d.id).collect();
        if let Some(before) = readings {
            deleted[0] += state.store.purge_readings(&ids, before).await?;
        }
        if let Some(before) = minutes {
            deleted[1] += state.store.purge_rollups(&ids, 60, before).await?;
        }
        if let Some(before) = hours {
            deleted[2] += state.store.purge_rollups(&ids, 3600, before).await?;
        }
    }
}

/// Reads the category list and holiday calendar the configuration names (or the built-ins).
pub fn load_hub(config: &Config) -> anyhow::Result<std::sync::Arc<wanxiang_api::events::Hub>> {
    let read = |path: &str, what: &str| -> anyhow::Result<Option<String>> {
        if path.trim().is_empty() {
            return Ok(None);
        }
        std::fs::read_to_string(path)
            .map(Some)
            .with_context(|| format!("reading the {what} file {path}"))
    };
    let categories = read(&config.events.categories_file, "categories")?;
    let holidays = read(&config.events.holidays_file, "holidays")?;
    let mut hub = wanxiang_api::events::hub_from(categories.as_deref(), holidays.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let confidence = config.events.auto_dispatch_confidence;
    if !(0.0..=1.0).contains(&confidence) {
        anyhow::bail!("events.auto_dispatch_confidence must be between 0 and 1, not {confidence}");
    }
    let e = &config.events;
    if !(e.duplicate_radius_m.is_finite() && e.duplicate_radius_m >= 0.0) {
        anyhow::bail!("events.duplicate_radius_m must be 0 or more metres");
    }
    if e.max_attachment_mb == 0
        || e.max_attachment_mb as usize * (1 << 20)
            > wanxiang_api::events::attachments::UPLOAD_CEILING
    {
        anyhow::bail!(
            "events.max_attachment_mb must be between 1 and {}",
            wanxiang_api::events::attachments::UPLOAD_CEILING >> 20
        );
    }
    let webhook = match e.webhook_url.trim() {
        "" => None,
        url if url.starts_with("http://") => Some(wanxiang_api::events::Webhook {
            url: url.to_owned(),
            secret: e.webhook_secret.clone(),
            max_attempts: e.webhook_max_attempts.max(1),
        }),
        url => anyhow::bail!(
            "events.webhook_url must be an http:// URL (put a TLS gateway or proxy in front of an https receiver), not {url:?}"
        ),
    };
    let h = std::sync::Arc::make_mut(&mut hub);
    h.auto_dispatch_confidence = confidence;
    h.duplicate_radius_m = e.duplicate_radius_m;
    h.duplicate_window_ms = (e.duplicate_window_mins * 60_000) as i64;
    h.max_attachment_bytes = e.max_attachment_mb as usize * (1 << 20);
    h.max_attachments = e.max_attachments;
    h.webhook = webhook;
    tracing::info!(
        categories = hub.categories.categories.len(),
        holidays = hub.calendar.holidays.len(),
        source = if categories.is_some() {
            config.events.categories_file.as_str()
        } else {
            "built-in demo list"
        },
        "event categories loaded"
    );
    Ok(hub)
}

/// Loads the demo district into an empty store. A store that already has units is left alone, so
/// restarting a demo keeps what was done in it.
pub async fn seed_demo(store: &dyn Store) -> anyhow::Result<()> {
    if !store.units().await?.is_empty() {
        tracing::info!("demo district already present");
        return seed_demo_people(store).await;
    }
    let units = tokio::task::spawn_blocking(wanxiang_geo::demo::luohu).await??;
    let revision = store.import_units(&units).await?;
    tracing::info!(
        units = units.len(),
        revision,
        "demo district of Luohu built and stored (synthetic boundaries)"
    );
    seed_demo_people(store).await
}

/// Adds whatever demo departments, entities and accounts are missing.
async fn seed_demo_people(store: &dyn Store) -> anyhow::Result<()> {
    let created = wanxiang_api::demo::seed(store).await?;
    if created > 0 {
        tracing::info!(
            created,
            "demo departments, social entities and accounts created"
        );
    }
    Ok(())
}

/// Rebuilds the atlas from the store if the units revision moved.
async fn reload(store: &dyn Store, atlas: &AtlasHandle) -> anyhow::Result<bool> {
    let revision = store.units_revision().await?;
    if atlas.revision() == Some(revision) {
        return Ok(false);
    }
    let units = store.units().await?;
    let count = units.len();
    // Preparing thousands of polygons is CPU work; keep it off the request threads.
    let built = tokio::task::spawn_blocking(move || Atlas::new(units)).await?;
    let [d, s, c, g] = built.counts();
    atlas.replace(revision, built);
    tracing::info!(
        units = count,
        districts = d,
        streets = s,
        communities = c,
        grids = g,
        revision,
        "geography loaded"
    );
    Ok(true)
}

async fn reload_loop(
    store: Arc<dyn Store>,
    atlas: AtlasHandle,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = reload(store.as_ref(), &atlas).await {
                    tracing::warn!(error = %e, "could not check for new boundaries; keeping the current geography");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    // The SIGTERM handler is installed here, before the server starts, not when the returned
    // future is first polled: a SIGTERM that arrives early must still stop the server gracefully.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown signal received; finishing in-flight requests / 正在停止");
    }
}

/// The built web UI to serve: the configured directory, else `./web/dist`, else the `web/dist` of
/// the source tree this binary was built from (so `cargo run` works from any directory).
fn web_dir(configured: &str) -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if !configured.is_empty() {
        let dir = PathBuf::from(configured);
        if !wanxiang_api::web::is_built(&dir) {
            tracing::warn!(dir = %dir.display(), "server.web_dir holds no built web UI (index.html); serving the start page");
            return None;
        }
        return Some(dir);
    }
    let candidates = [
        PathBuf::from("web/dist"),
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/dist")),
    ];
    let found = wanxiang_api::web::find(&candidates);
    match &found {
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the web UI / 提供网页界面"),
        None => tracing::warn!(
            "no built web UI (web/dist): run scripts/web; serving the start page / 网页界面未构建"
        ),
    }
    found
}
