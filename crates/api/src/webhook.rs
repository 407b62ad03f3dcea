//! The notification webhook: every notification is also POSTed, as JSON, to a configured
//! receiver (an SMS or WeChat gateway). Deliveries sit in an outbox written in the same
//! transaction as the notification, so none is lost on a crash; a worker sends them at least
//! once, retrying with exponential back-off, and after `events.webhook_max_attempts` failures a
//! delivery is dead: listed for admins, who can send it again. Receivers should treat the
//! `X-Wanxiang-Delivery` header as an idempotency key.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::inbox::Recipient;
use wanxiang_core::{Role, Scope};
use wanxiang_store::{Delivery, DeliveryOutcome, DeliveryStatus};

use crate::auth::Principal;
use crate::events::Webhook;
use crate::people::iso;
use crate::{AppError, AppState};

/// The first retry waits this long; each further one twice as long …
const FIRST_RETRY_MS: i64 = 10_000;
/// … up to this.
const LONGEST_RETRY_MS: i64 = 3_600_000;
/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries one worker claims at a time …
const CLAIM_BATCH: u32 = 20;
/// … for longer than sending all of them can take.
const CLAIM_MS: i64 = 5 * 60_000;

/// When the attempt after `attempts` failed ones is due, or `None` when there is none left.
pub fn retry_at(now: i64, attempts: u32, max_attempts: u32) -> Option<i64> {
    (attempts < max_attempts).then(|| {
        let wait = FIRST_RETRY_MS
            .saturating_mul(1i64 << (attempts.saturating_sub(1)).min(20))
            .min(LONGEST_RETRY_MS);
        now + wait
    })
}

/// The body a receiver gets.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// The delivery's id (the same on every retry: an idempotency key).
    delivery_id: i64,
    /// The notification's id.
    notification_id: i64,
    /// When it was sent (RFC 3339).
    at: String,
    /// `account` or `org`.
    recipient_type: &'static str,
    /// The account id or organisation key.
    recipient: String,
    /// For an organisation: only holders of this role.
    recipient_role: Option<&'static str>,
    /// The case, if any.
    case_id: Option<String>,
    /// `dispatch`, `warning`, `overdue`, `escalated`, `progress`, `early_warning` …
    kind: String,
    /// The text, Chinese / English.
    message: String,
}

fn body(d: &Delivery) -> WebhookBody {
    let n = &d.notification;
    let (recipient_type, recipient, recipient_role) = match &n.recipient {
        Recipient::Account(a) => ("account", a.clone(), None),
        Recipient::Org { org, role } => ("org", org.clone(), role.map(|r| r.as_str())),
    };
    WebhookBody {
        delivery_id: d.id,
        notification_id: n.id,
        at: iso(n.at),
        recipient_type,
        recipient,
        recipient_role,
        case_id: n.case_id.clone(),
        kind: n.kind.clone(),
        message: n.message.clone(),
    }
}

/// `sha256=<hex>` of the body under the secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// One attempt.
async fn send(client: &reqwest::Client, hook: &Webhook, d: &Delivery) -> Result<(), String> {
    let payload = serde_json::to_vec(&body(d)).map_err(|e| e.to_string())?;
    let mut request = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Wanxiang-Delivery", d.id.to_string());
    if !hook.secret.is_empty() {
        request = request.header("X-Wanxiang-Signature", signature(&hook.secret, &payload));
    }
    let response = request
        .body(payload)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered {status}"))
    }
}

/// Sends what is due at `now`; returns how many deliveries it attempted.
pub async fn deliver_due(
    state: &AppState,
    client: &reqwest::Client,
    hook: &Webhook,
    now: i64,
) -> Result<usize, AppError> {
    // Claimed for this worker (other nodes' workers skip them) for longer than the batch can
    // take to send; what a dead worker claimed is sent again when the claim runs out.
    let due = state
        .store
        .claim_deliveries(now, now + CLAIM_MS, CLAIM_BATCH)
        .await?;
    for d in &due {
        let outcome = match send(client, hook, d).await {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(error) => {
                tracing::warn!(delivery = d.id, attempt = d.attempts + 1, %error, "webhook delivery failed");
                DeliveryOutcome::Failed {
                    retry_at: retry_at(now, d.attempts + 1, hook.max_attempts),
                    error,
                }
            }
        };
        let status = match &outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed {
                retry_at: Some(_), ..
            } => "retry",
            DeliveryOutcome::Failed { retry_at: None, .. } => "dead",
        };
        metrics::counter!("wanxiang_webhook_deliveries_total", "outcome" => status).increment(1);
        state.store.record_delivery(d.id, &outcome, now).await?;
    }
    Ok(due.len())
}

/// The webhook worker: sends due deliveries, then sleeps until the next one is due, a
/// notification is queued, or a manual clock moves. Stops when `stop` turns true. Does nothing
/// without a configured webhook.
pub async fn webhook_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(hook) = state.hub.webhook.clone() else {
        return;
    };
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; webhook disabled");
            return;
        }
    };
    let changed = state.clock.changed();
    loop {
        let now = state.clock.now_ms();
        match deliver_due(&state, &client, &hook, now).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook pass failed"),
        }
        let next = state.store.next_delivery_at().await.ok().flatten();
        let wait = next.map_or(Duration::from_secs(300), |t| {
            Duration::from_millis((t - state.clock.now_ms()).clamp(20, 300_000) as u64)
        });
        let clock_moved = async {
            match &changed {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = state.outbox_wake.notified() => {}
            _ = clock_moved => {}
            _ = stop.changed() => return,
        }
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry))
}

/// A delivery on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    /// Id.
    id: i64,
    /// `pending`, `delivered` or `dead`.
    status: &'static str,
    /// Attempts made.
    attempts: u32,
    /// When the next attempt is due (RFC 3339).
    next_at: String,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// What is delivered.
    body: WebhookBody,
    /// Queued (RFC 3339).
    created_at: String,
    /// Last attempted (RFC 3339).
    updated_at: String,
}

fn dto(d: &Delivery) -> DeliveryDto {
    DeliveryDto {
        id: d.id,
        status: d.status.as_str(),
        attempts: d.attempts,
        next_at: iso(d.next_at),
        last_error: d.last_error.clone(),
        body: body(d),
        created_at: iso(d.created_at),
        updated_at: iso(d.updated_at),
    }
}

/// The outbox spans every unit: only a district's (or the system's) admins see it.
fn district_admin(p: &Principal) -> Result<(), AppError> {
    let district = match &p.scope {
        Scope::System { .. } => true,
        Scope::Subtree(unit) => unit.level() == wanxiang_core::Level::District,
        _ => false,
    };
    p.require(&[Role::Admin])?;
    if district {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "只有区级管理员可以查看推送记录 / only district admins see webhook deliveries".into(),
        ))
    }
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// `pending`, `delivered` or `dead` (the dead-letter list); all when absent.
    status: Option<String>,
    /// At most this many (1-1000, default 100).
    limit: Option<u32>,
}

/// Webhook deliveries, newest first; `?status=dead` is the dead-letter list (district admins).
#[utoipa::path(get, path = "/api/v1/admin/deliveries", tag = "admin", params(DeliveryQuery), responses(
    (status = 200, body = Vec<DeliveryDto>),
    (status = 400, body = crate::error::ErrorEnvelope),
    (status = 401, body = crate::error::ErrorEnvelope),
    (status = 403, body = crate::error::ErrorEnvelope),
))]
async fn list(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<DeliveryDto>>, AppError> {
    district_admin(&p)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            AppError::field(
                "invalid_status",
                "status",
                format!("status 须为 pending、delivered 或 dead / status is pending, delivered or dead, not {s:?}"),
            )
        })?),
    };
    let list = state
        .store
        .deliveries(status, q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    Ok(Json(list.iter().map(dto).collect()))
}

/// Sends a dead delivery again (its attempts start over), recorded in the audit log.
#[utoipa::path(post, path = "/api/v1/admin/deliveries/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 200, description = "Queued again"),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope, description = "No dead delivery with this id"),
))]
async fn retry(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, AppError> {
    district_admin(&p)?;
    let now = state.clock.now_ms();
    if !state.store.retry_delivery(id, now).await? {
        return Err(AppError::NotFound(
            "没有这个失败的推送 / no dead delivery with this id".into(),
        ));
    }
    crate::people::record_by(
        &state,
        &p,
        crate::people::Event {
            action: "webhook_retry",
            target: Some(id.to_string()),
            detail: format!("dead webhook delivery {id} queued again"),
            org: &p.account.org,
        },
    )
    .await?;
    state.outbox_wake.notify_one();
    Ok(Json(serde_json::json!({ "id": id, "status": "pending" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_then_stop() {
        let at = |n| retry_at(0, n, 5);
        assert_eq!(
            [at(1), at(2), at(3), at(4), at(5)],
            [Some(10_000), Some(20_000), Some(40_000), Some(80_000), None]
        );
        assert_eq!(retry_at(0, 30, 99), Some(LONGEST_RETRY_MS));
    }

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
