//! Wanxiang's HTTP API: routes, wire types (DTOs), the one error type and the OpenAPI document.
//!
//! Architecture invariant: only this crate knows HTTP and JSON shapes. Handlers convert wire
//! input into domain types by parsing (a bad coordinate never reaches the core), call the store or
//! the atlas, and convert domain results into DTOs. HTTP statuses are decided in [`error`] alone.
//! The router is built by [`router`] from an [`AppState`], so tests can drive it without a socket.

pub mod admin;
pub mod auth;
pub mod bus;
pub mod clock;
pub mod demo;
pub mod error;
pub mod events;
pub mod geography;
pub mod health;
mod home;
mod locate;
pub mod metered;
mod middleware;
mod open311;
pub mod people;
pub mod sensing;
pub mod services;
mod session;
mod units;
pub mod web;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use wanxiang_store::Store;

pub use error::AppError;
pub use geography::AtlasHandle;

/// Settings of the HTTP layer that come from configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// Whether the demo district is loaded; shown in `/readyz` so nobody mistakes a demo for
    /// production, and enables `/api/v1/demo/accounts`.
    pub demo: bool,
    /// How long a session lasts, in seconds.
    pub session_ttl_secs: u64,
    /// Mark the session cookie `Secure` (set when served over HTTPS, e.g. behind a TLS proxy).
    pub secure_cookies: bool,
    /// Login and registration attempts allowed per client address per minute.
    pub login_per_minute: u32,
    /// Lock-out after failed logins.
    pub lockout: auth::throttle::LockoutPolicy,
    /// Origins allowed to call the API from a browser (CORS); empty means none.
    pub cors_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client (`auth::client_addr`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Reports a resident account may send per minute (staff and integrations are not limited).
    pub resident_reports_per_minute: u32,
    /// The built web UI (`web/dist`) to serve at `/`, `/console` and `/m`; without one, `/` is a
    /// plain start page.
    pub web_dir: Option<std::path::PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            body_limit: 1024 * 1024,
            demo: false,
            session_ttl_secs: 12 * 3600,
            secure_cookies: false,
            login_per_minute: 30,
            lockout: auth::throttle::LockoutPolicy::default(),
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            resident_reports_per_minute: 20,
            web_dir: None,
        }
    }
}

/// What every handler can reach. Cloned for every request, so it is one shared pointer; a
/// field set through `DerefMut` (at start-up, or on a copy given another clock) changes that copy
/// only.
#[derive(Clone)]
pub struct AppState(Arc<AppStateFields>);

impl std::ops::Deref for AppState {
    type Target = AppStateFields;
    fn deref(&self) -> &AppStateFields {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut AppStateFields {
        Arc::make_mut(&mut self.0)
    }
}

/// The fields of [`AppState`].
#[derive(Clone)]
pub struct AppStateFields {
    /// The store, wrapped so that every call is timed for `/metrics`.
    pub store: Arc<dyn Store>,
    /// The in-memory geography, swapped whole when boundaries change.
    pub atlas: AtlasHandle,
    /// HTTP settings.
    pub config: ApiConfig,
    /// Login throttling, shared by all requests of this node.
    pub throttle: Arc<auth::throttle::Throttle>,
    /// The category tree and the working calendar the event hub decides with.
    pub hub: Arc<events::Hub>,
    /// The clock deadlines are measured by.
    pub clock: Arc<dyn clock::Clock>,
    /// Wakes the supervision loop when a case's deadlines change.
    pub wake: Arc<tokio::sync::Notify>,
    /// The time the supervision loop is sleeping until (`i64::MAX` for none), so writes wake it
    /// only when they need it sooner.
    pub next_supervision: Arc<std::sync::atomic::AtomicI64>,
    /// Every case change on this node, for the SSE streams (filtered per subscriber's scope).
    pub changes: tokio::sync::broadcast::Sender<events::Change>,
    /// The other nodes, once the bus connects (`bus::connect`); changes go out through
    /// `bus::publish`.
    pub remote: Arc<bus::Remote>,
    /// The node's group-commit intake writer, started on first use.
    pub intake: Arc<std::sync::OnceLock<events::IntakeWriter>>,
    /// The early-warning detector task's queue, started on first use.
    pub detector:
        Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<events::warnings::Observation>>>,
    /// Wakes the webhook worker when notifications were queued for it.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Wakes the change relay (`bus::relay`) when this node wrote case changes to the outbox.
    pub relay_wake: Arc<tokio::sync::Notify>,
    /// Set when the node begins to shut down: open SSE streams end, so the graceful shutdown does
    /// not wait on screens that never hang up.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Who recent tokens belong to, for a few seconds (cleared by any change on this node).
    pub auth_cache: Arc<auth::cache::AuthCache>,
    /// The social entities the dispatch rules consider, re-read every few seconds.
    pub entities: Arc<events::EntityCache>,
    /// The sensing hub: device types, the devices this node knows, the telemetry pipeline.
    pub sensing: Arc<sensing::Sensing>,
    /// 一网通办: the service catalogue and the compiled decision models.
    pub services: Arc<services::Services>,
}

impl AppState {
    /// State with a fresh throttle built from the configuration.
    pub fn new(store: Arc<dyn Store>, atlas: AtlasHandle, config: ApiConfig) -> AppState {
        let throttle = Arc::new(auth::throttle::Throttle::with_intake(
            config.lockout,
            config.login_per_minute,
            config.resident_reports_per_minute,
        ));
        AppState(Arc::new(AppStateFields {
            hub: Arc::new(events::Hub::default()),
            clock: Arc::new(clock::SystemClock),
            wake: Arc::new(tokio::sync::Notify::new()),
            next_supervision: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
            changes: tokio::sync::broadcast::channel(1024).0,
            remote: Arc::default(),
            intake: Arc::new(std::sync::OnceLock::new()),
            detector: Arc::new(std::sync::OnceLock::new()),
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            relay_wake: Arc::new(tokio::sync::Notify::new()),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
            auth_cache: Arc::new(auth::cache::AuthCache::default()),
            entities: Arc::new(events::EntityCache::default()),
            sensing: Arc::new(sensing::Sensing::default()),
            services: Arc::new(services::Services::default()),
            store,
            atlas,
            config,
            throttle,
        }))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wanxiang 万象 API",
        description = "万象城市操作系统 API / The API of Wanxiang, a city operating system. \
                       Errors always have the shape `{ \"error\": { \"code\", \"message\", \"field\"? } }`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "运维 / Health, readiness and metrics"),
        (name = "geography", description = "行政区划与定位 / Administrative units and location lookup"),
        (name = "accounts", description = "账号、组织与审计 / Accounts, organisations, sessions and the audit log"),
        (name = "events", description = "一网统管：事件受理、分拨与处置 / The event hub: intake, dispatch and the case lifecycle"),
        (name = "sensing", description = "物联感知：设备、遥测与告警 / The sensing hub: devices, telemetry and alarms"),
        (name = "services", description = "一网通办：事项、秒批、无感申办、证照 / One-stop services: the catalogue, instant approval, proactive offers, certificates"),
        (name = "demo", description = "演示 / Demo mode only"),
    )
)]
struct ApiDoc;

/// The routes with their OpenAPI descriptions, before state and middleware are attached.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .merge(units::routes())
        .merge(locate::routes())
        .merge(session::routes())
        .merge(admin::routes())
        .merge(demo::routes())
        .merge(events::routes())
        .merge(webhook::routes())
        .merge(sensing::routes())
        .merge(services::routes())
}

/// The OpenAPI 3 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// Only the operations endpoints (`/healthz`, `/readyz`, `/metrics`), for a node that does not
/// serve the API (an ingest or worker node of a cluster), so its load balancer checks still work.
pub fn ops_router(state: AppState) -> Router {
    health::prometheus();
    let body_limit = state.config.body_limit;
    let (router, _) = OpenApiRouter::<AppState>::new()
        .merge(health::routes())
        .split_for_parts();
    let router = router
        .fallback(|| async {
            AppError::NotFound("此节点不提供接口 / this node does not serve the API".into())
        })
        .with_state(state);
    middleware::apply(router, body_limit, &[])
}

/// Builds the complete application: routes, OpenAPI document, fallback and middleware.
pub fn router(state: AppState) -> Router {
    health::prometheus();
    let (router, api) = routes().split_for_parts();
    let api = Arc::new(api);
    let body_limit = state.config.body_limit;
    let cors = state.config.cors_origins.clone();
    let web = web::routes(state.config.web_dir.as_deref());
    let router = router
        .merge(open311::router())
        .merge(services::pages())
        .merge(web)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .fallback(|| async { AppError::NotFound("no such route / 没有这个接口".into()) })
        .with_state(state);
    middleware::apply(router, body_limit, &cors)
}
