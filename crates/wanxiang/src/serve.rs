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
    }
    let atlas = AtlasHandle::default();
    reload(store.as_ref(), &atlas).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let reloader = tokio::spawn(reload_loop(
        store.clone(),
        atlas.clone(),
        Duration::from_secs(config.geo.reload_interval_secs.max(1)),
        stop_rx,
    ));

    let state = AppState {
        store,
        atlas,
        config: ApiConfig {
            body_limit: config.server.body_limit,
            demo: config.demo,
        },
    };
    let addr = listener.local_addr()?;
    tracing::info!(
        "万象已启动 / Wanxiang is up: open http://{addr}/ (API: http://{addr}/api/v1/openapi.json)"
    );
    if config.demo {
        tracing::info!(
            "demo mode / 演示模式: the demo district of Luohu (罗湖区) is loaded; its street, community and grid boundaries are synthetic"
        );
    }
    axum::serve(listener, wanxiang_api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    let _ = reloader.await;
    tracing::info!("stopped / 已停止");
    Ok(())
}

/// Loads the demo district into an empty store. A store that already has units is left alone, so
/// restarting a demo keeps what was done in it.
pub async fn seed_demo(store: &dyn Store) -> anyhow::Result<()> {
    if !store.units().await?.is_empty() {
        tracing::info!("demo district already present");
        return Ok(());
    }
    let units = tokio::task::spawn_blocking(wanxiang_geo::demo::luohu).await??;
    let revision = store.import_units(&units).await?;
    tracing::info!(
        units = units.len(),
        revision,
        "demo district of Luohu built and stored (synthetic boundaries)"
    );
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
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
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
