//! 无感申办 / 反向办: the service finds the person. Triggers on dates and register events — a
//! 60th or 80th birthday, a licence granted, a licence about to expire — compute eligibility
//! with the item's own decision model, and offer a pre-filled application that the person
//! confirms with one action (or declines). Each offer has a key (item, person, qualifying event)
//! that the store keeps unique, so a person is offered a service once per event however many
//! passes or nodes run.

use std::time::Duration;

use serde_json::Map;
use wanxiang_core::service::{ApplicantKind, Item, Mode, State, Trigger};
use wanxiang_store::services::{ApplicationRecord, ApplicationStep, Enterprise, Person};

use super::{registers, today};
use crate::{AppError, AppState};

/// How far back a qualifying event still leads to an offer (a node that was down for a while
/// catches up; older events are left alone).
const LOOKBACK_DAYS: i64 = 30;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Candidates considered.
    pub considered: usize,
    /// Offers made.
    pub offered: usize,
    /// Candidates the rules found not eligible.
    pub not_eligible: usize,
    /// Candidates offered the item for the same event before.
    pub already_offered: usize,
}

/// A candidate: who, for which event.
struct Candidate {
    person: Person,
    enterprise: Option<Enterprise>,
    /// The qualifying event, as text (the birthday's date, the certificate's id).
    event: String,
    /// The offer key's subject: the person or the enterprise.
    subject: String,
}

/// Runs every proactive item's trigger once.
pub async fn run(state: &AppState) -> Result<Report, AppError> {
    let mut report = Report::default();
    let items: Vec<Item> = state
        .services
        .catalogue
        .items
        .values()
        .filter(|e| e.item.mode == Mode::Proactive)
        .map(|e| e.item.clone())
        .collect();
    for item in &items {
        let Some(trigger) = &item.trigger else {
            continue;
        };
        for c in candidates(state, item, trigger).await? {
            report.considered += 1;
            let key = trigger.offer_key(&item.code, &c.subject, &c.event);
            let store = state.store.services();
            if store.offer_exists(&key).await? {
                report.already_offered += 1;
                continue;
            }
            let now = state.clock.now_ms();
            let purpose = format!("offer:{}", item.code);
            let gathered = registers::gather(
                store,
                item,
                &registers::Subject {
                    person: c.person.clone(),
                    enterprise: c.enterprise.clone(),
                },
                &Map::new(),
                registers::Reader {
                    account: "system",
                    purpose: &purpose,
                    at: now,
                },
            )
            .await?;
            store.log_access(&gathered.accesses).await?;
            let version = store.model(item.code.as_str(), None).await?;
            let Some(version) = version else {
                continue;
            };
            let model = state
                .services
                .compiled(item, version.version, &version.model)?;
            let eligible = model
                .evaluate(&gathered.inputs)
                .map(|e| super::failures_of(&e.output).is_empty())
                .unwrap_or(false);
            if !eligible {
                report.not_eligible += 1;
                continue;
            }
            let account = match &c.person.phone {
                Some(phone) => store.account_of_phone(phone).await?,
                None => None,
            };
            let record = ApplicationRecord {
                id: uuid::Uuid::now_v7().to_string(),
                item: item.code.to_string(),
                department: item.department.to_string(),
                mode: item.mode.as_str().into(),
                state: State::Offered.as_str().into(),
                deciding: false,
                person: c.person.id.clone(),
                enterprise: c.enterprise.as_ref().map(|e| e.uscc.clone()),
                account,
                form: "{}".into(),
                offer_key: Some(key),
                bundle: None,
                created_at: now,
                updated_at: now,
                due_at: None,
                decision: None,
                certificate: None,
                rating: None,
                version: 0,
                overdue: false,
                countersign: item.countersign.as_ref().map(|d| d.to_string()),
                assignee: None,
            };
            let step = ApplicationStep {
                at: now,
                actor: "system".into(),
                role: "system".into(),
                action: "offer".into(),
                from: State::Offered.as_str().into(),
                to: State::Offered.as_str().into(),
                note: Some(format!("触发 / trigger: {}", describe(trigger, &c.event))),
            };
            if store.create_application(&record, &step).await? {
                report.offered += 1;
                super::tell(state, &record, item, now).await?;
            } else {
                report.already_offered += 1;
            }
        }
    }
    if report.offered > 0 {
        tracing::info!(
            offered = report.offered,
            considered = report.considered,
            "proactive services offered"
        );
    }
    Ok(report)
}

fn describe(trigger: &Trigger, event: &str) -> String {
    match trigger {
        Trigger::Birthday { age } => format!("{age} 周岁生日 {event} / {age}th birthday {event}"),
        Trigger::Birth => format!("出生登记 {event} / birth registered {event}"),
        Trigger::LicenceGranted { item } => {
            format!("取得证照 {item}（{event}） / licence {item} granted ({event})")
        }
        Trigger::LicenceExpiring { item, days } => format!(
            "证照 {item} 将在 {days} 日内到期（{event}） / licence {item} expires within {days} days ({event})"
        ),
    }
}

async fn candidates(
    state: &AppState,
    item: &Item,
    trigger: &Trigger,
) -> Result<Vec<Candidate>, AppError> {
    let store = state.store.services();
    let now = state.clock.now_ms();
    let day = today(now);
    let mut out = Vec::new();
    match trigger {
        Trigger::Birthday { age } => {
            // Born between (today − age years − lookback) and (today − age years).
            let years = chrono::Months::new(12 * age);
            let (Some(latest), Some(earliest)) = (
                day.checked_sub_months(years),
                (day - chrono::Duration::days(LOOKBACK_DAYS)).checked_sub_months(years),
            ) else {
                return Ok(out);
            };
            for person in store
                .people_born_between(&earliest.to_string(), &latest.to_string())
                .await?
            {
                let Ok(born) = chrono::NaiveDate::parse_from_str(&person.birth_date, "%Y-%m-%d")
                else {
                    continue;
                };
                let Some(birthday) = born.checked_add_months(years) else {
                    continue;
                };
                out.push(Candidate {
                    subject: person.id.clone(),
                    event: birthday.to_string(),
                    person,
                    enterprise: None,
                });
            }
        }
        Trigger::Birth => {
            for birth in store.births_since(now - LOOKBACK_DAYS * 86_400_000).await? {
                if let Some(person) = store.person(&birth.mother).await? {
                    out.push(Candidate {
                        subject: person.id.clone(),
                        event: birth.id.clone(),
                        person,
                        enterprise: None,
                    });
                }
            }
        }
        Trigger::LicenceGranted { item: granted } => {
            let since = now - LOOKBACK_DAYS * 86_400_000;
            for c in store.certificates_issued(granted, since).await? {
                if c.revoked_at.is_some() {
                    continue;
                }
                if let Some(candidate) = holder(state, item, &c.holder, &c.id).await? {
                    out.push(candidate);
                }
            }
        }
        Trigger::LicenceExpiring {
            item: expiring,
            days,
        } => {
            let until = day + chrono::Duration::days(i64::from(*days));
            for c in store
                .certificates_expiring(expiring, &day.to_string(), &until.to_string())
                .await?
            {
                if let Some(candidate) = holder(state, item, &c.holder, &c.id).await? {
                    out.push(candidate);
                }
            }
        }
    }
    Ok(out)
}

/// The candidate behind a certificate's holder: the person, or the enterprise and its legal
/// representative, as the item's applicant kind needs.
async fn holder(
    state: &AppState,
    item: &Item,
    holder: &str,
    event: &str,
) -> Result<Option<Candidate>, AppError> {
    let store = state.store.services();
    Ok(match item.applicant {
        ApplicantKind::Resident => store.person(holder).await?.map(|person| Candidate {
            subject: person.id.clone(),
            event: event.to_owned(),
            person,
            enterprise: None,
        }),
        ApplicantKind::Enterprise => match store.enterprise(holder).await? {
            Some(e) => store.person(&e.legal_rep).await?.map(|person| Candidate {
                subject: e.uscc.clone(),
                event: event.to_owned(),
                person,
                enterprise: Some(e),
            }),
            None => None,
        },
    })
}

/// Runs the triggers now and then every `every` until `stop`; a failed pass is logged and
/// retried at the next.
pub async fn run_loop(
    state: AppState,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = run(&state).await {
            tracing::warn!(error = ?e, "proactive service triggers failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
