//! Open311 GeoReport v2 at `/open311/v2/`, in JSON and XML, so that ordinary GeoReport clients
//! report into and read from the event hub. Services are our minor categories; a request is a
//! case; `agency_responsible` is the organisation it was dispatched to; `expected_datetime` is
//! the current stage's due time.
//!
//! Keys: `api_key` is a personal API token (`wxp_…`) of the integration's account. POST needs one,
//! as the specification says; GET of requests needs one too, because requests are records of a
//! jurisdiction and the key's account decides which it may see. Discovery and services are public.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wanxiang_core::Scope;
use wanxiang_core::case::{CaseRecord, Channel, Stage};

use crate::AppState;
use crate::auth::{TOKEN_PREFIX, token_hash};
use crate::events::{Intake, LocationInput, NewEvent, Reporter, take_in};
use crate::people::iso;

/// Routes, mounted beside the JSON API (not part of its OpenAPI document, which describes
/// `/api/v1`; GeoReport v2 has its own specification).
pub(crate) fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    let mut r = axum::Router::new();
    for ext in ["json", "xml"] {
        r = r
            .route(&format!("/open311/v2/discovery.{ext}"), get(discovery))
            .route(&format!("/open311/v2/services.{ext}"), get(services))
            .route(
                &format!("/open311/v2/requests.{ext}"),
                get(list_requests).post(post_request),
            );
    }
    r.route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

fn format_of(path: &str) -> Format {
    if path.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    }
}

/// Splits `CODE.json` into the code and the format; `None` without a known extension.
fn split_file(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".json") {
        Some((stem, Format::Json))
    } else {
        file.strip_suffix(".xml").map(|stem| (stem, Format::Xml))
    }
}

/// Element names of array items in the XML form.
fn item_name(array: &str) -> &'static str {
    match array {
        "services" => "service",
        "service_requests" => "request",
        "errors" => "error",
        "endpoints" => "endpoint",
        "formats" => "format",
        "attributes" => "attribute",
        "values" => "value",
        _ => "item",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn xml_value(out: &mut String, name: &str, v: &Value) {
    match v {
        Value::Null => out.push_str(&format!("<{name}/>")),
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            for item in items {
                xml_value(out, item_name(name), item);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(map) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in map {
                xml_value(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

/// Renders a JSON value in the asked format; `root` names the XML root element.
fn render(status: StatusCode, format: Format, root: &str, v: Value) -> Response {
    match format {
        Format::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            v.to_string(),
        )
            .into_response(),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_value(&mut out, root, &v);
            (
                status,
                [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                out,
            )
                .into_response()
        }
    }
}

/// The GeoReport error form: `[{code, description}]`.
fn error(status: StatusCode, format: Format, description: impl Into<String>) -> Response {
    render(
        status,
        format,
        "errors",
        json!([{ "code": status.as_u16(), "description": description.into() }]),
    )
}

/// Optional per-service questions (`attribute[code]`), GeoReport's service definitions.
fn attributes(code: &str) -> Vec<Value> {
    match code {
        "L0102" | "E0407" => vec![json!({
            "variable": true, "code": "water_depth_cm", "datatype": "number", "required": false,
            "datatype_description": "估计积水深度（厘米）/ estimated depth in cm", "order": 1,
            "description": "积水深度 / water depth (cm)"
        })],
        "E0505" => vec![json!({
            "variable": true, "code": "plate_number", "datatype": "string", "required": false,
            "datatype_description": "车牌号 / licence plate", "order": 1, "description": "车牌号 / licence plate"
        })],
        _ => Vec::new(),
    }
}

async fn discovery(State(_): State<AppState>, uri: axum::http::Uri) -> Response {
    let format = format_of(uri.path());
    render(
        StatusCode::OK,
        format,
        "discovery",
        json!({
            "changeset": "2026-11-29T00:00:00Z",
            "contact": "万象城市操作系统 Wanxiang; see /api/v1/openapi.json",
            "key_service": "api_key is a personal API token: POST /api/v1/me/tokens",
            "endpoints": [{
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": "/open311/v2",
                "changeset": "2026-11-29T00:00:00Z",
                "type": "production",
                "formats": ["text/xml", "application/json"]
            }]
        }),
    )
}

async fn services(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let format = format_of(uri.path());
    let tree = &state.hub.categories;
    let list: Vec<Value> = tree
        .categories
        .values()
        .map(|c| {
            let group = tree
                .classes
                .get(&c.class)
                .map(|k| k.name_zh.clone())
                .unwrap_or_default();
            json!({
                "service_code": c.code,
                "service_name": c.name_zh,
                "description": format!("{} / {}", c.name_zh, c.name_en),
                "metadata": !attributes(&c.code).is_empty(),
                "type": "realtime",
                "keywords": c.name_en.to_lowercase(),
                "group": group,
            })
        })
        .collect();
    render(StatusCode::OK, format, "services", Value::Array(list))
}

async fn service_definition(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((code, format)) = split_file(&file) else {
        return error(StatusCode::NOT_FOUND, Format::Json, "use .json or .xml");
    };
    if state.hub.categories.get(code).is_none() {
        return error(StatusCode::NOT_FOUND, format, format!("no service {code}"));
    }
    render(
        StatusCode::OK,
        format,
        "service_definition",
        json!({ "service_code": code, "attributes": attributes(code) }),
    )
}

/// The account behind an `api_key`, with its scope.
async fn key_owner(
    state: &AppState,
    key: Option<&str>,
) -> Result<Option<(wanxiang_core::Account, Scope)>, wanxiang_store::StoreError> {
    let Some(key) = key.filter(|k| k.starts_with(TOKEN_PREFIX)) else {
        return Ok(None);
    };
    let account = state
        .store
        .api_token_account(&token_hash(key), state.clock.now_ms())
        .await?;
    Ok(account.map(|a| {
        let scope = Scope::of(&a.id, &a.org, &a.roles);
        (a, scope)
    }))
}

fn request_json(state: &AppState, c: &CaseRecord) -> Value {
    let open = c.lifecycle.stage.is_open();
    let history_note = match c.lifecycle.stage {
        Stage::Rejected => "不予立案 / not accepted as a case",
        Stage::Closed => "已结案 / closed",
        _ => c.lifecycle.stage.name_zh(),
    };
    json!({
        "service_request_id": c.id,
        "status": if open { "open" } else { "closed" },
        "status_notes": history_note,
        "service_name": c.category.as_deref().and_then(|x| state.hub.categories.get(x)).map(|x| x.name_zh.clone()),
        "service_code": c.category.clone().unwrap_or_default(),
        "description": c.description,
        "agency_responsible": c.lifecycle.assignee,
        "service_notice": c.explanation,
        "requested_datetime": iso(c.created_at),
        "updated_datetime": iso(c.updated_at),
        "expected_datetime": c.due_at.map(iso),
        "address": Value::Null,
        "address_id": Value::Null,
        "zipcode": Value::Null,
        "lat": c.lat,
        "long": c.lon,
        "media_url": Value::Null,
    })
}

fn parse_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

async fn list_requests(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let format = format_of(uri.path());
    let owner = match key_owner(&state, q.get("api_key").map(String::as_str)).await {
        Ok(Some(o)) => o,
        Ok(None) => return error(StatusCode::FORBIDDEN, format, "a valid api_key is required"),
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, format, "store unavailable"),
    };
    let list = |name: &str| -> Vec<String> {
        q.get(name)
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ids, codes, statuses) = (
        list("service_request_id"),
        list("service_code"),
        list("status"),
    );
    if statuses.iter().any(|s| s != "open" && s != "closed") {
        return error(
            StatusCode::BAD_REQUEST,
            format,
            "status must be open or closed",
        );
    }
    let mut bounds = [None, None];
    for (i, name) in ["start_date", "end_date"].iter().enumerate() {
        if let Some(v) = q.get(*name) {
            match parse_date(v) {
                Some(t) => bounds[i] = Some(t),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format,
                        format!("{name} must be an ISO 8601 date-time with zone"),
                    );
                }
            }
        }
    }
    // `None` when the value is not a whole number ≥ 1.
    let number = |name: &str, default: usize| -> Option<usize> {
        match q.get(name) {
            None => Some(default),
            Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1),
        }
    };
    let (page, page_size) = match (number("page", 1), number("page_size", 50)) {
        (Some(p), Some(s)) => (p, s.min(1000)),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format,
                "page and page_size must be whole numbers ≥ 1",
            );
        }
    };
    let (_, scope) = owner;
    let cases = match state
        .store
        .cases(
            &scope,
            &wanxiang_store::CaseFilter {
                limit: Some(1000),
                ..Default::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, format, "store unavailable"),
    };
    let now = state.clock.now_ms();
    // Without dates, the specification's default window: the last 90 days.
    let start = bounds[0].unwrap_or(if ids.is_empty() {
        now - 90 * 86_400_000
    } else {
        i64::MIN
    });
    let end = bounds[1].unwrap_or(i64::MAX);
    let selected: Vec<Value> = cases
        .iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .filter(|c| codes.is_empty() || c.category.as_ref().is_some_and(|x| codes.contains(x)))
        .filter(|c| {
            statuses.is_empty()
                || statuses
                    .iter()
                    .any(|s| (s == "open") == c.lifecycle.stage.is_open())
        })
        .filter(|c| c.created_at >= start && c.created_at <= end)
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|c| request_json(&state, c))
        .collect();
    render(
        StatusCode::OK,
        format,
        "service_requests",
        Value::Array(selected),
    )
}

async fn one_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((id, format)) = split_file(&file) else {
        return error(StatusCode::NOT_FOUND, Format::Json, "use .json or .xml");
    };
    let Ok(Some((_, scope))) = key_owner(&state, q.get("api_key").map(String::as_str)).await else {
        return error(StatusCode::FORBIDDEN, format, "a valid api_key is required");
    };
    match state.store.case(&scope, id).await {
        Ok(Some(c)) => render(
            StatusCode::OK,
            format,
            "service_requests",
            json!([request_json(&state, &c)]),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND, format, "no such service request"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, format, "store unavailable"),
    }
}

async fn token(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((token, format)) = split_file(&file) else {
        return error(StatusCode::NOT_FOUND, Format::Json, "use .json or .xml");
    };
    let Ok(Some((_, scope))) = key_owner(&state, q.get("api_key").map(String::as_str)).await else {
        return error(StatusCode::FORBIDDEN, format, "a valid api_key is required");
    };
    // Requests are created at once, so a token is the request's own id.
    match state.store.case(&scope, token).await {
        Ok(Some(c)) => render(
            StatusCode::OK,
            format,
            "service_requests",
            json!([{ "service_request_id": c.id, "token": token }]),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND, format, "no such token"),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, format, "store unavailable"),
    }
}

async fn post_request(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let format = format_of(uri.path());
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Ok(Some((account, _))) = key_owner(&state, get("api_key").as_deref()).await else {
        return error(StatusCode::FORBIDDEN, format, "a valid api_key is required");
    };
    if let Err(seconds) = state
        .throttle
        .rate_check(&format!("open311:{}", account.id))
    {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format,
            format!("too many requests; retry in {seconds} s"),
        );
    }
    let Some(code) = get("service_code") else {
        return error(StatusCode::BAD_REQUEST, format, "service_code is required");
    };
    if state.hub.categories.get(&code).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format,
            format!("unknown service_code {code}"),
        );
    }
    let coordinate = |name: &str| {
        get(name).map(|v| {
            v.parse::<f64>()
                .map_err(|_| format!("{name} is not a number"))
        })
    };
    let (lat, lon) = match (coordinate("lat"), coordinate("long")) {
        (Some(Ok(lat)), Some(Ok(lon))) => (lat, lon),
        (Some(Err(e)), _) | (_, Some(Err(e))) => return error(StatusCode::BAD_REQUEST, format, e),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format,
                "lat and long are required (address_string is not supported)",
            );
        }
    };
    let known: Vec<String> = attributes(&code)
        .iter()
        .filter_map(|a| a["code"].as_str().map(str::to_owned))
        .collect();
    let mut extra = Vec::new();
    for (k, v) in &fields {
        if let Some(attr) = k
            .strip_prefix("attribute[")
            .and_then(|r| r.strip_suffix(']'))
        {
            if !known.iter().any(|x| x == attr) {
                return error(
                    StatusCode::BAD_REQUEST,
                    format,
                    format!("service {code} has no attribute {attr}"),
                );
            }
            extra.push(format!("{attr}={v}"));
        }
    }
    let mut description = get("description").unwrap_or_default();
    if !extra.is_empty() {
        description = format!("{description} [{}]", extra.join(", "));
    }
    let contact = [
        get("first_name"),
        get("last_name"),
        get("phone"),
        get("email"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let event = NewEvent {
        channel: Channel::Open311.as_str().into(),
        location: LocationInput {
            lon,
            lat,
            crs: get("crs"),
        },
        category: Some(code),
        description,
        reporter_contact: (!contact.is_empty()).then(|| contact.chars().take(64).collect()),
        external_id: get("device_id")
            .zip(get("account_id"))
            .map(|(d, a)| format!("{d}:{a}"))
            .or(get("external_id")),
        attachments: None,
    };
    let reporter = Reporter {
        id: account.id.clone(),
        actor: format!("{} (open311)", account.username),
    };
    match take_in(&state, Some(&reporter), Channel::Open311, &event).await {
        Ok(Intake::New(c, ..)) => render(
            StatusCode::CREATED,
            format,
            "service_requests",
            json!([{ "service_request_id": c.id, "service_notice": c.explanation, "account_id": Value::Null }]),
        ),
        Ok(Intake::Linked { case, .. }) => render(
            StatusCode::CREATED,
            format,
            "service_requests",
            json!([{ "service_request_id": case.id, "service_notice": "与已有请求为同一问题，已合并 / merged with an existing request at the same place", "account_id": Value::Null }]),
        ),
        Ok(Intake::Existing(id)) => render(
            StatusCode::OK,
            format,
            "service_requests",
            json!([{ "service_request_id": id, "service_notice": Value::Null, "account_id": Value::Null }]),
        ),
        Err(e) => {
            let status = match &e {
                crate::AppError::Forbidden(_) => StatusCode::FORBIDDEN,
                crate::AppError::Unavailable(_) | crate::AppError::Store(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_REQUEST,
            };
            error(status, format, e.to_string())
        }
    }
}
