//! The one error type of the API and the one place where errors become HTTP statuses.
//!
//! Every error leaves the server as `{ "error": { "code", "message", "field"? } }`. Messages are
//! Chinese first with English beside it, because the people reading them are both.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wanxiang_store::StoreError;

/// The error body's inner object.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `invalid_coordinate`, `outside_district`.
    pub code: String,
    /// A human-readable message, Chinese first, then English.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For an illegal case transition (409): the actions the case allows now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum AppError {
    /// The request is malformed; `field` names the culprit.
    BadRequest {
        /// Stable error code.
        code: &'static str,
        /// Message, Chinese / English.
        message: String,
        /// The offending field, if any.
        field: Option<&'static str>,
    },
    /// The thing asked for does not exist (or is not the caller's to know about).
    NotFound(String),
    /// A point lies outside every unit of the district.
    OutsideDistrict(String),
    /// The service cannot answer now (store down, geography not loaded).
    Unavailable(String),
    /// No valid session or token.
    Unauthenticated(String),
    /// Credentials did not match (the same answer for unknown users and wrong passwords).
    InvalidCredentials,
    /// Authenticated, allowed to see, not allowed to do.
    Forbidden(String),
    /// A cookie-authenticated write without the session's CSRF token.
    Csrf,
    /// Too many attempts; retry after this many seconds.
    TooManyRequests(u64),
    /// The request conflicts with existing data (a taken username).
    Conflict(String),
    /// A case action its stage does not allow; lists the allowed ones.
    IllegalTransition {
        /// Message, Chinese / English.
        message: String,
        /// Allowed action names.
        allowed: Vec<String>,
    },
    /// An upload is larger than allowed.
    TooLarge(String),
    /// An upload's type is not accepted, or its bytes are not what its type says.
    UnsupportedMediaType(String),
    /// A storage error.
    Store(StoreError),
}

impl AppError {
    /// A 400 for one field.
    pub fn field(code: &'static str, field: &'static str, message: impl Into<String>) -> AppError {
        AppError::BadRequest {
            code,
            message: message.into(),
            field: Some(field),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

/// Builds an error response; also used by the middleware that reshapes framework errors.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: String,
    field: Option<&str>,
) -> Response {
    let body = ErrorEnvelope {
        error: ErrorBody {
            code: code.to_owned(),
            message,
            field: field.map(str::to_owned),
            allowed: None,
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::BadRequest {
                code,
                message,
                field,
            } => error_response(StatusCode::BAD_REQUEST, code, message, field),
            AppError::NotFound(message) => {
                error_response(StatusCode::NOT_FOUND, "not_found", message, None)
            }
            AppError::OutsideDistrict(message) => {
                error_response(StatusCode::NOT_FOUND, "outside_district", message, None)
            }
            AppError::Unavailable(message) => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                message,
                None,
            ),
            AppError::Unauthenticated(message) => {
                error_response(StatusCode::UNAUTHORIZED, "unauthenticated", message, None)
            }
            AppError::InvalidCredentials => error_response(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "用户名或密码错误 / wrong username or password".into(),
                None,
            ),
            AppError::Forbidden(message) => {
                error_response(StatusCode::FORBIDDEN, "forbidden", message, None)
            }
            AppError::Csrf => error_response(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "缺少或错误的 X-CSRF-Token / missing or wrong X-CSRF-Token header".into(),
                None,
            ),
            AppError::TooManyRequests(seconds) => {
                let mut r = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!(
                        "尝试过于频繁，请 {seconds} 秒后再试 / too many attempts, retry in {seconds} s"
                    ),
                    None,
                );
                r.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, seconds.into());
                r
            }
            AppError::Conflict(message) => {
                error_response(StatusCode::CONFLICT, "conflict", message, None)
            }
            AppError::TooLarge(message) => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment_too_large",
                message,
                Some("attachment"),
            ),
            AppError::UnsupportedMediaType(message) => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
                Some("attachment"),
            ),
            AppError::IllegalTransition { message, allowed } => {
                let body = ErrorEnvelope {
                    error: ErrorBody {
                        code: "illegal_transition".into(),
                        message,
                        field: None,
                        allowed: Some(allowed),
                    },
                };
                (StatusCode::CONFLICT, Json(body)).into_response()
            }
            AppError::Store(StoreError::OutOfScope(detail)) => {
                tracing::info!(%detail, "write outside jurisdiction refused");
                error_response(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "超出管辖范围 / outside your jurisdiction".into(),
                    None,
                )
            }
            AppError::Store(StoreError::Conflict(detail)) => {
                error_response(StatusCode::CONFLICT, "conflict", detail, None)
            }
            AppError::Store(e) => {
                // Store details (SQL, file paths) stay in the log; clients get a plain message.
                tracing::error!(error = %e, "store error");
                let (status, code) = match e {
                    StoreError::Unavailable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                    }
                    StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                };
                error_response(status, code, "服务内部错误 / internal error".into(), None)
            }
        }
    }
}

impl std::fmt::Display for AppError {
    /// The error as one line for command-line tools: `code (field): message`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::BadRequest {
                code,
                message,
                field: Some(field),
            } => write!(f, "{code} ({field}): {message}"),
            AppError::BadRequest {
                code,
                message,
                field: None,
            } => write!(f, "{code}: {message}"),
            AppError::NotFound(m) => write!(f, "not_found: {m}"),
            AppError::OutsideDistrict(m) => write!(f, "outside_district: {m}"),
            AppError::Unavailable(m) => write!(f, "unavailable: {m}"),
            AppError::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            AppError::InvalidCredentials => write!(f, "invalid_credentials"),
            AppError::Forbidden(m) => write!(f, "forbidden: {m}"),
            AppError::Csrf => write!(f, "csrf_failed"),
            AppError::TooManyRequests(s) => write!(f, "too_many_requests: retry in {s} s"),
            AppError::Conflict(m) => write!(f, "conflict: {m}"),
            AppError::IllegalTransition { message, .. } => {
                write!(f, "illegal_transition: {message}")
            }
            AppError::TooLarge(m) => write!(f, "attachment_too_large: {m}"),
            AppError::UnsupportedMediaType(m) => write!(f, "unsupported_media_type: {m}"),
            AppError::Store(e) => write!(f, "store: {e}"),
        }
    }
}
