//! Supervision of 一网通办's promised time limits: a scheduler that sleeps until the earliest
//! deadline of an application waiting for a decision (pending or under review), and when it
//! passes marks the application overdue — once, whichever node gets there first — with a line
//! in its history, telling the department's staff and, one level up as the event hub escalates,
//! the district's supervisors. The same loop finishes decisions a node left half-done: an
//! application submitted but not decided (its node stopped in between) is decided again after a
//! minute, so nothing submitted is lost.

use std::time::Duration;

use wanxiang_core::Role;
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_store::services::ApplicationStep;

use crate::{AppError, AppState};

/// How long an application may wait for the rules before another pass decides it.
const STUCK_MS: i64 = 60_000;

/// Decides applications whose node stopped between their submission and their decision. One
/// that cannot be decided by its rules (its model or its applicant's record missing) goes to
/// manual review saying why, so nothing waits for the rules for ever and one bad application
/// does not hold up the others.
pub async fn finish_decisions(state: &AppState, now: i64) -> Result<usize, AppError> {
    let store = state.store.services();
    let mut done = 0;
    for a in store.applications_deciding(now - STUCK_MS, 50).await? {
        let Some(item) = state.services.catalogue.item(&a.item).cloned() else {
            continue;
        };
        match super::decide(state, a.clone(), &item, "system").await {
            Ok(decided) => {
                done += 1;
                super::bundles::after_approval(state, decided).await?;
            }
            // Another node got there first.
            Err(AppError::Store(wanxiang_store::StoreError::Conflict(_))) => {}
            Err(e) => {
                tracing::warn!(application = %a.id, error = ?e, "not decidable by its rules; sent to review");
                let reason = format!(
                    "规则无法判定，转人工审查 / the rules could not decide it, sent to review: {e:?}"
                );
                if let Err(e) = super::conclude(state, a, &item, vec![reason], None, now).await {
                    tracing::warn!(error = ?e, "an undecidable application was not sent to review");
                }
            }
        }
    }
    Ok(done)
}

/// Marks what fell due by `now`; returns how many were marked by this call.
pub async fn overdue_pass(state: &AppState, now: i64) -> Result<usize, AppError> {
    let store = state.store.services();
    let mut marked = 0;
    for a in store.applications_overdue(now, 200).await? {
        let step = ApplicationStep {
            at: now,
            actor: "system".into(),
            role: "system".into(),
            action: "overdue".into(),
            from: a.state.clone(),
            to: a.state.clone(),
            note: Some("超过承诺时限 / past the promised time limit".into()),
        };
        if !store.mark_overdue(&a.id, &step).await? {
            continue;
        }
        marked += 1;
        let name = state
            .services
            .catalogue
            .item(&a.item)
            .map_or(a.item.clone(), |i| i.name_zh.clone());
        let message = format!(
            "「{name}」申请 {} 已超过承诺时限，请尽快办理 / application {} for {} is past its promised time limit",
            a.id, a.id, a.item
        );
        let district = a.department.get(..6).unwrap_or("440303").to_owned() + "000000";
        let notices = [
            Recipient::Org {
                org: a.department.clone(),
                role: None,
            },
            Recipient::Org {
                org: district,
                role: Some(Role::Supervisor),
            },
        ]
        .into_iter()
        .map(|recipient| Notification {
            id: 0,
            at: now,
            recipient,
            case_id: None,
            kind: "service_overdue".into(),
            message: message.clone(),
        })
        .collect::<Vec<_>>();
        state
            .store
            .notify(&notices, state.hub.webhook.is_some())
            .await?;
        if state.hub.webhook.is_some() {
            state.outbox_wake.notify_one();
        }
    }
    Ok(marked)
}

/// Runs [`overdue_pass`] whenever the earliest deadline falls due (looking at least every
/// minute, in case another node made an earlier one), until `stop`. On a manual clock (tests)
/// it also wakes whenever the clock moves.
pub async fn supervision_loop(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    const FLOOR: Duration = Duration::from_millis(20);
    const CEILING: Duration = Duration::from_secs(60);
    let mut ticks = state.clock.ticks();
    loop {
        let now = state.clock.now_ms();
        if let Err(e) = finish_decisions(&state, now).await {
            tracing::warn!(error = ?e, "finishing interrupted decisions failed; retrying");
        }
        match overdue_pass(&state, now).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = ?e, "service deadline pass failed; retrying"),
        }
        let next = state
            .store
            .services()
            .next_application_due()
            .await
            .ok()
            .flatten();
        let wait = match next {
            Some(t) => Duration::from_millis((t - state.clock.now_ms()).max(0) as u64)
                .clamp(FLOOR, CEILING),
            None => CEILING,
        };
        let clock_moved = async {
            match ticks.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = clock_moved => {}
            _ = stop.changed() => return,
        }
    }
}
