//! Operations endpoints: `/healthz` (the process is up), `/readyz` (it can serve: store reachable,
//! migrations done, geography loaded) and `/metrics` (Prometheus text).

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppError, AppState};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process-wide Prometheus recorder. `metrics` has one global recorder per process, so every
/// router in the process (tests start several) shares it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        // Sizes, not seconds: how many reports one intake commit carried.
        let batch_sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("buckets are not empty")
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("wanxiang_intake_batch_size".into()),
                &batch_sizes,
            )
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // If something else installed a recorder first, our handle still renders (empty) text.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How often the recorder's histograms are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds the recorder's pending histogram samples into their buckets every [`UPKEEP_EVERY`]
/// until `stop` turns. A recorder built without the exporter's own listener keeps every sample
/// recorded until a scrape renders them: without this, a node nobody scrapes would hold a few
/// values per request forever (tens of megabytes an hour at a busy intake), and every scrape
/// after a quiet spell would fold them all at once.
pub async fn upkeep_loop(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPKEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => prometheus().run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// `/healthz` answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    status: &'static str,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `/readyz` answer.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    backend: &'static str,
    /// The newest migration applied.
    schema_version: i64,
    /// The units revision the in-memory geography was built from.
    geography_revision: i64,
    /// How many units are loaded.
    units: usize,
    /// Whether this is the demo district.
    demo: bool,
    /// Where the MQTT device gateway listens, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt: Option<String>,
    /// The link to the other nodes (NATS), when the node has one: `connected`, `connecting` or
    /// `disconnected`. A node without its link still serves (case changes wait in the change
    /// outbox), so this does not make it unready.
    #[serde(skip_serializing_if = "Option::is_none")]
    bus: Option<&'static str>,
}

/// Readiness: the store answers, migrations are done and the geography is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Ready),
    (status = 503, description = "Not ready; the error says why", body = crate::error::ErrorEnvelope)
))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, AppError> {
    let unavailable = |what: String| AppError::Unavailable(what);
    state
        .store
        .ping()
        .await
        .map_err(|e| unavailable(format!("存储不可用 / store unreachable: {e}")))?;
    let schema_version = state
        .store
        .schema_version()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let (Some(revision), Some(atlas)) = (state.atlas.revision(), state.atlas.current()) else {
        return Err(unavailable(
            "地理数据尚未加载 / geography not loaded yet".into(),
        ));
    };
    Ok(Json(Ready {
        status: "ready",
        backend: state.store.backend().as_str(),
        schema_version,
        geography_revision: revision,
        units: atlas.units().len(),
        demo: state.config.demo,
        mqtt: state.sensing.mqtt_addr.get().map(|a| a.to_string()),
        bus: crate::bus::status(&state),
    }))
}

/// Prometheus metrics: `wanxiang_http_requests_total{method,route,status}`,
/// `wanxiang_http_request_duration_seconds{method,route}`,
/// `wanxiang_store_query_seconds{op,backend,outcome}` and, on SQLite,
/// `wanxiang_store_write_lock_wait_seconds{op}` and `wanxiang_store_write_lock_held_seconds{op}`.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition format", content_type = "text/plain")
))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
}
