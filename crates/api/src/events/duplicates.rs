//! Duplicate reports (重复上报). A report of the same category as an open case, within
//! `events.duplicate_radius_m` of it and `events.duplicate_window_mins` after it, joins that case
//! instead of opening a second one: the case's history records the link, and the report's author
//! follows the case (sees it, gets its progress). A sensor alarm and people's reports of the
//! same thing are matched within the wider cross-source radius: one case, not two. Staff who
//! judge a link wrong unlink the report into a case of its own.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::Role;
use wanxiang_core::case::{Channel, HistoryEntry};
use wanxiang_core::inbox::{Notification, Recipient};
use wanxiang_core::warning::distance_m;
use wanxiang_store::{CaseMark, LinkedReport, NearQuery, NewCase, NewLink};

use super::{CaseDto, Report, actor, after_write, case_dto, open_case, place_of};
use crate::auth::Principal;
use crate::people::iso;
use crate::{AppError, AppState};

/// Whether a channel is a machine's (a sensor or a camera's AI) rather than a person's.
pub(crate) fn is_sensor(c: Channel) -> bool {
    matches!(c, Channel::Sensor | Channel::VideoAi)
}

/// What the intake writer needs to look for the open case a new report repeats.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// The report's category.
    pub category: String,
    /// Whether a machine sent it.
    pub sensor: bool,
    /// Radius between reports of the same kind of source (people and people, or machines).
    pub radius_m: f64,
    /// Radius between a machine's alarm and a person's report (cross-source).
    pub cross_radius_m: f64,
    /// Cases reported before this are too old to repeat.
    pub since: i64,
}

impl Probe {
    /// The probe for a report, or `None` when linking is off or the report has no category.
    pub fn of(state: &AppState, report: &Report, now: i64) -> Option<Probe> {
        let hub = &state.hub;
        let category = report.category.as_ref()?;
        if hub.duplicate_radius_m <= 0.0 || hub.duplicate_window_ms <= 0 {
            return None;
        }
        Some(Probe {
            category: category.code.clone(),
            sensor: is_sensor(report.channel),
            radius_m: hub.duplicate_radius_m,
            cross_radius_m: hub.thresholds.cross_radius_m.max(hub.duplicate_radius_m),
            since: now - hub.duplicate_window_ms,
        })
    }

    /// The boxes to search around a point: every case near enough to repeat it lies in one.
    /// A person's report repeats other people's within the duplicate radius but a machine's
    /// alarm within the wider cross-source radius: the narrow box for every case and the wide
    /// one for machines' only (their own index), rather than the wide box for all (four times
    /// the area). A machine's alarm repeats people's reports within the wide radius: one box.
    pub fn boxes(&self, lon: f64, lat: f64) -> Vec<NearQuery> {
        let square = |radius_m: f64, machines_only: bool| NearQuery {
            category: Some(self.category.clone()),
            open_only: true,
            machines_only,
            ..NearQuery::around(lon, lat, radius_m, self.since, 200)
        };
        if self.sensor || self.cross_radius_m <= self.radius_m {
            vec![square(self.cross_radius_m.max(self.radius_m), false)]
        } else {
            vec![
                square(self.radius_m, false),
                square(self.cross_radius_m, true),
            ]
        }
    }

    /// The nearest open case among `candidates` that a report at the point repeats, and how far
    /// it is: same category, recent enough, and within the radius for its kind of source.
    pub fn choose<'a>(
        &self,
        lon: f64,
        lat: f64,
        candidates: impl IntoIterator<Item = &'a CaseMark>,
    ) -> Option<(&'a CaseMark, f64)> {
        candidates
            .into_iter()
            .filter(|c| {
                c.category.as_deref() == Some(self.category.as_str())
                    && c.created_at >= self.since
                    && c.stage.is_open()
            })
            .map(|c| (c, distance_m((lon, lat), (c.lon, c.lat))))
            .filter(|(c, d)| {
                let radius = if is_sensor(c.channel) != self.sensor {
                    self.cross_radius_m
                } else {
                    self.radius_m
                };
                *d <= radius
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The link of a would-be case to the open case it repeats: the linked report, the case's
/// history line, and the reporter's notice.
pub(crate) fn link_of(new: &NewCase, primary: &CaseMark, distance: f64) -> NewLink {
    let r = &new.record;
    let first = new.history.first();
    let now = r.created_at;
    let id = uuid::Uuid::now_v7().to_string();
    let stage = primary.stage;
    let entry = HistoryEntry {
        seq: 0, // numbered by the store
        at: now,
        actor_id: r.reporter.clone(),
        actor: first.map_or_else(|| "system (import)".to_owned(), |h| h.actor.clone()),
        from: stage,
        to: stage,
        command: "link".into(),
        note: format!(
            "关联重复上报 {id}（{}，相距 {distance:.0} 米）：{} / duplicate report linked ({}, {distance:.0} m away)",
            r.channel.as_str(),
            r.description.chars().take(200).collect::<String>(),
            r.channel.as_str()
        ),
    };
    let notifications = r
        .reporter
        .iter()
        .map(|account| Notification {
            id: 0,
            at: now,
            recipient: Recipient::Account(account.clone()),
            case_id: Some(primary.id.clone()),
            kind: "linked".into(),
            message: format!(
                "你的上报与案件 {} 为同一问题，已并入该案件，处理进展会通知你 / your report repeats case {} and was linked to it; you will hear of its progress",
                primary.id, primary.id
            ),
        })
        .collect();
    NewLink {
        report: LinkedReport {
            id,
            case_id: primary.id.clone(),
            channel: r.channel,
            external_id: r.external_id.clone(),
            reporter: r.reporter.clone(),
            reporter_contact: r.reporter_contact.clone(),
            category: r.category.clone(),
            description: r.description.clone(),
            lon: r.lon,
            lat: r.lat,
            area: r.area.clone(),
            distance_m: distance,
            at: now,
            unlinked_at: None,
            unlinked_to: None,
        },
        entry,
        notifications,
        attachments: new.attachments.clone(),
    }
}

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reports))
        .routes(routes!(unlink))
}

/// A linked report on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedReportDto {
    /// The report's id.
    id: String,
    /// The case it is (or was) linked to.
    case_id: String,
    /// How it came in.
    channel: &'static str,
    /// The sender's number.
    external_id: Option<String>,
    /// Its category.
    category: Option<String>,
    /// What the reporter wrote.
    description: String,
    /// Where (WGS-84).
    lon: f64,
    /// Where (WGS-84).
    lat: f64,
    /// Metres from the case.
    distance_m: f64,
    /// When (RFC 3339).
    at: String,
    /// The reporter's contact; staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    reporter_contact: Option<String>,
    /// When it was unlinked (RFC 3339), if it was.
    unlinked_at: Option<String>,
    /// The case it became when unlinked.
    unlinked_to: Option<String>,
}

fn dto(r: &LinkedReport, staff: bool) -> LinkedReportDto {
    LinkedReportDto {
        id: r.id.clone(),
        case_id: r.case_id.clone(),
        channel: r.channel.as_str(),
        external_id: r.external_id.clone(),
        category: r.category.clone(),
        description: r.description.clone(),
        lon: r.lon,
        lat: r.lat,
        distance_m: (r.distance_m * 10.0).round() / 10.0,
        at: iso(r.at),
        reporter_contact: if staff {
            r.reporter_contact.clone()
        } else {
            None
        },
        unlinked_at: r.unlinked_at.map(iso),
        unlinked_to: r.unlinked_to.clone(),
    }
}

/// The reports linked to a case as its duplicates (staff of the case's jurisdiction).
#[utoipa::path(get, path = "/api/v1/events/{id}/reports", tag = "events",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, body = Vec<LinkedReportDto>),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
))]
async fn list_reports(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<LinkedReportDto>>, AppError> {
    if !super::is_staff(&p) {
        return Err(AppError::Forbidden(
            "只有工作人员可查看关联上报 / only staff see linked reports".into(),
        ));
    }
    if state.store.case(&p.scope, &id).await?.is_none() {
        return Err(AppError::NotFound("没有这个案件 / no such case".into()));
    }
    let reports = state.store.case_reports(&p.scope, &id).await?;
    Ok(Json(reports.iter().map(|r| dto(r, true)).collect()))
}

/// Unlinks a report that is not the same problem after all: it becomes a case of its own,
/// registered and dispatched like any report, and both cases' histories say so. Dispatchers and
/// supervisors of the case's jurisdiction.
#[utoipa::path(post, path = "/api/v1/events/{id}/reports/{report_id}/unlink", tag = "events",
    params(("id" = String, Path, description = "Case id"), ("report_id" = String, Path, description = "Linked report id")),
    responses(
        (status = 201, body = CaseDto, description = "The new case the report became"),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope),
        (status = 409, body = crate::error::ErrorEnvelope, description = "Unlinked already, or the case changed meanwhile"),
))]
async fn unlink(
    State(state): State<AppState>,
    p: Principal,
    Path((id, report_id)): Path<(String, String)>,
) -> Result<(axum::http::StatusCode, Json<CaseDto>), AppError> {
    p.require(&[Role::Dispatcher, Role::Supervisor])?;
    let primary = state
        .store
        .case(&p.scope, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("没有这个案件 / no such case".into()))?;
    let report = state
        .store
        .case_reports(&p.scope, &id)
        .await?
        .into_iter()
        .find(|r| r.id == report_id)
        .ok_or_else(|| AppError::NotFound("没有这个关联上报 / no such linked report".into()))?;
    if report.unlinked_at.is_some() {
        return Err(AppError::Conflict(
            "该上报已解除关联 / this report was unlinked already".into(),
        ));
    }
    let now = state.clock.now_ms();
    let place = place_of(&state, report.lon, report.lat).ok_or_else(|| {
        AppError::Conflict("上报位置已不在本区 / the report's place left the district".into())
    })??;
    let prepared = Report {
        channel: report.channel,
        description: report.description.clone(),
        external_id: report.external_id.clone(),
        reporter_contact: report.reporter_contact.clone(),
        lon: report.lon,
        lat: report.lat,
        place,
        category: report
            .category
            .as_deref()
            .and_then(|c| state.hub.categories.get(c))
            .cloned(),
        classified: None,
        queue_note: String::new(),
        attachments: Vec::new(),
        priority: None,
    };
    let who = format!(
        "{} (unlinked by {})",
        report.reporter.as_deref().unwrap_or("system (import)"),
        p.account.username
    );
    let mut split = open_case(&state, report.reporter.as_deref(), &who, &prepared, now).await?;
    split.record.created_at = report.at;
    if let Some(first) = split.history.first_mut() {
        first.note = format!(
            "{} — 由关联上报 {report_id} 解除关联而立 / split from linked report {report_id} of case {id}",
            report.channel.as_str()
        );
    }
    let mut updated = primary.clone();
    updated.version += 1;
    updated.updated_at = now;
    let stage = primary.lifecycle.stage;
    let entry = HistoryEntry {
        seq: 0,
        at: now,
        actor_id: Some(p.account.id.clone()),
        actor: actor(&p),
        from: stage,
        to: stage,
        command: "unlink".into(),
        note: format!(
            "解除关联上报 {report_id}，另立案件 {} / linked report unlinked into case {}",
            split.record.id, split.record.id
        ),
    };
    if !state
        .store
        .unlink_report(
            &p.scope,
            &report_id,
            &updated,
            &entry,
            &split,
            state.hub.webhook.is_some(),
        )
        .await?
    {
        return Err(AppError::Conflict(
            "案件已被他人修改，请刷新后重试 / the case changed meanwhile; reload and retry".into(),
        ));
    }
    after_write(&state, &updated, "unlink", now);
    // A case of its own now: the detectors count it as one.
    after_write(&state, &split.record, "created", now);
    let history = state.store.case_history(&p.scope, &split.record.id).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(case_dto(&state, &p, &split.record, Some(history), now)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_and_people_are_told_apart() {
        for (c, sensor) in [
            (Channel::Sensor, true),
            (Channel::VideoAi, true),
            (Channel::ResidentApp, false),
            (Channel::Hotline12345, false),
            (Channel::Inspector, false),
        ] {
            assert_eq!(is_sensor(c), sensor, "{c:?}");
        }
    }

    /// Every case a report may repeat lies in one of its boxes that lets its channel through,
    /// for people's reports and machines' alike; a person's wide box is for machines only.
    #[test]
    fn the_boxes_hold_every_case_a_report_may_repeat() {
        use wanxiang_core::case::Stage;
        let (lon, lat) = (114.1011, 22.5537);
        for sensor in [false, true] {
            let probe = Probe {
                category: "E0404".into(),
                sensor,
                radius_m: 50.0,
                cross_radius_m: 100.0,
                since: 0,
            };
            let boxes = probe.boxes(lon, lat);
            assert_eq!(boxes.len(), if sensor { 1 } else { 2 });
            if !sensor {
                assert!(!boxes[0].machines_only && boxes[1].machines_only);
                assert!(boxes[0].lat_max - boxes[0].lat_min < boxes[1].lat_max - boxes[1].lat_min);
            }
            let mut repeated = 0;
            // Candidates every 10 m over 300 × 300 m around the point, of both kinds of source.
            for (i, j, channel) in (-15..=15).flat_map(|i| {
                (-15..=15)
                    .flat_map(move |j| [(i, j, Channel::Hotline12345), (i, j, Channel::Sensor)])
            }) {
                let c = CaseMark {
                    id: format!("{i},{j}"),
                    channel,
                    category: Some("E0404".into()),
                    lon: lon + f64::from(i) * 10.0 / (111_320.0 * lat.to_radians().cos()),
                    lat: lat + f64::from(j) * 10.0 / 111_320.0,
                    area: "440303001001".into(),
                    created_at: 1,
                    stage: Stage::Dispatched,
                };
                if probe.choose(lon, lat, [&c]).is_none() {
                    continue;
                }
                repeated += 1;
                assert!(
                    boxes
                        .iter()
                        .any(|b| (is_sensor(c.channel) || !b.machines_only)
                            && (b.lon_min..=b.lon_max).contains(&c.lon)
                            && (b.lat_min..=b.lat_max).contains(&c.lat)),
                    "{} ({channel:?}) repeats a report (sensor: {sensor}) but is in no box",
                    c.id
                );
            }
            assert!(repeated > 100, "{repeated}");
        }
    }
}
