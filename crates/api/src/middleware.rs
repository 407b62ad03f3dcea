//! Middleware shared by every route: request metrics, tracing, body limits, security headers and
//! the reshaping of framework errors into the one error shape.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::error_response;

/// Attaches the middleware to a router; the last layer added runs first.
pub(crate) fn apply(router: Router, body_limit: usize, cors_origins: &[String]) -> Router {
    let router = router
        .layer(DefaultBodyLimit::max(body_limit))
        // The hard ceiling must let uploads through; every extractor still holds other routes
        // to `body_limit` (DefaultBodyLimit), and the upload route raises its own.
        .layer(RequestBodyLimitLayer::new(
            body_limit.max(crate::events::attachments::UPLOAD_CEILING),
        ))
        .layer(from_fn(reshape_errors))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(from_fn_with_state(
            Arc::new(HttpMetrics::default()),
            record_metrics,
        ));
    // CORS is closed unless origins are configured: browsers then refuse cross-origin calls.
    let router = match cors(cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| {
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "服务内部错误 / internal error".into(),
                None,
            )
        }))
}

fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderValue::from_static("x-csrf-token")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap(),
            ]),
    )
}

/// The request metrics' handles, by route template, method and status: each looked up in the
/// recorder once, not built from label strings on every request.
#[derive(Debug, Default)]
struct HttpMetrics {
    routes: RwLock<HashMap<String, Vec<RouteMetrics>>>,
}

/// One route and method's handles.
#[derive(Debug)]
struct RouteMetrics {
    method: Method,
    duration: metrics::Histogram,
    /// The request counter of each status seen so far.
    by_status: Vec<(u16, metrics::Counter)>,
}

impl HttpMetrics {
    /// Counts one request and records its duration.
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        {
            let routes = self.routes.read().expect("not poisoned");
            let known = routes
                .get(route)
                .and_then(|r| r.iter().find(|m| m.method == method))
                .and_then(|m| {
                    let counter = m.by_status.iter().find(|(s, _)| *s == status)?;
                    Some((&counter.1, &m.duration))
                });
            if let Some((counter, duration)) = known {
                counter.increment(1);
                duration.record(seconds);
                return;
            }
        }
        let mut routes = self.routes.write().expect("not poisoned");
        let methods = routes.entry(route.to_owned()).or_default();
        let at = match methods.iter().position(|m| m.method == method) {
            Some(at) => at,
            None => {
                methods.push(RouteMetrics {
                    method: method.clone(),
                    duration: metrics::histogram!("wanxiang_http_request_duration_seconds", "method" => method.to_string(), "route" => route.to_owned()),
                    by_status: Vec::new(),
                });
                methods.len() - 1
            }
        };
        let m = &mut methods[at];
        if !m.by_status.iter().any(|(s, _)| *s == status) {
            m.by_status.push((
                status,
                metrics::counter!("wanxiang_http_requests_total", "method" => method.to_string(), "route" => route.to_owned(), "status" => status.to_string()),
            ));
        }
        let counter = &m
            .by_status
            .iter()
            .find(|(s, _)| *s == status)
            .expect("just added")
            .1;
        counter.increment(1);
        m.duration.record(seconds);
    }
}

/// Counts requests and measures their latency by route template (never by raw path, which would
/// let clients create unbounded label values).
async fn record_metrics(
    axum::extract::State(metrics): axum::extract::State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics.record(
        &method,
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// Turns any error response that is not already our JSON shape (axum's extractor rejections, the
/// body limit's 413, 405 for a wrong method) into `{ "error": { "code", "message" } }`.
async fn reshape_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Framework messages are short; the cap keeps a misbehaving body from being buffered whole.
    let detail = to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, zh) = match status {
        StatusCode::NOT_FOUND => ("not_found", "找不到"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "不支持此请求方法"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "请求体过大"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "不支持的内容类型"),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "请求体格式不正确"),
        StatusCode::BAD_REQUEST => ("bad_request", "请求不正确"),
        s if s.is_server_error() => ("internal", "服务内部错误"),
        _ => ("error", "请求失败"),
    };
    let english = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let mut reshaped = error_response(status, code, format!("{zh} / {english}"), None);
    // Keep headers such as `Allow` on a 405.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            reshaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    reshaped
}
