//! The router driven with `oneshot`, without a socket: the error shape and readiness before the
//! geography is loaded.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use wanxiang_api::{ApiConfig, AppState, AtlasHandle, router};
use wanxiang_store_sqlite::SqliteStore;

async fn state(dir: &tempfile::TempDir) -> AppState {
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    AppState::new(
        Arc::new(store),
        AtlasHandle::default(),
        ApiConfig::default(),
    )
}

async fn call(state: AppState, method: &str, uri: &str) -> (StatusCode, Value) {
    let response = router(state)
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn not_ready_until_the_geography_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (status, body) = call(state(&dir).await, "GET", "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, body) = call(
        state(&dir).await,
        "GET",
        "/api/v1/locate?lon=114.1&lat=22.5",
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn every_error_has_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        ("GET", "/nowhere", StatusCode::NOT_FOUND, "not_found"),
        (
            "PUT",
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "POST",
            "/api/v1/locate",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for &(method, uri, status, code) in cases {
        let (got, body) = call(state(&dir).await, method, uri).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {uri}: {body}"
        );
        assert!(body["error"]["message"].is_string());
    }
}
