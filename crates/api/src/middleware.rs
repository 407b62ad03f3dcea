//! Middleware shared by every route: request metrics, tracing, body limits, security headers and
//! the reshaping of framework errors into the one error shape.

use std::time::Instant;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::error_response;

/// Attaches the middleware to a router; the last layer added runs first.
pub(crate) fn apply(router: Router, body_limit: usize) -> Router {
    router
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyLimitLayer::new(body_limit))
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
        .layer(from_fn(record_metrics))
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

/// Counts requests and measures their latency by route template (never by raw path, which would
/// let clients create unbounded label values).
async fn record_metrics(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("wanxiang_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("wanxiang_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
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
