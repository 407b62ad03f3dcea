//! The enterprise service desk (企业服务 "五个一"): key enterprises each get a district leader, a
//! lead department, a lead official, a service team and a street contact. Their problems are
//! event-hub cases — with the hub's deadlines, supervision, escalation and rating — reported by
//! whoever raised them at the enterprise's place and waiting for a dispatcher with the lead
//! department named; the desk reports how many were solved.
//!
//! Who sees a key enterprise: district staff (admins, supervisors, leaders) all; the lead
//! department's staff and the street's staff theirs; the enterprise's legal representative their
//! own. Only district admins designate.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wanxiang_core::{Level, Org, Role, UnitCode};
use wanxiang_store::services::KeyEnterprise;

use crate::auth::Principal;
use crate::{AppError, AppState};

/// A key enterprise with its "五个一" and its problems so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyEnterpriseDto {
    /// Credit code.
    uscc: String,
    /// Name (legal-entity register).
    name: String,
    /// 挂点区领导.
    leader: String,
    /// 牵头部门 (code).
    lead_department: String,
    /// 牵头责任人.
    lead_official: String,
    /// 服务专班.
    team: String,
    /// 街道联络员.
    street_contact: String,
    /// The street serving it.
    street: String,
    /// Problems raised.
    problems: i64,
    /// Of them solved (closed, not rated unresolved).
    solved: i64,
    /// The problems' case ids, newest first.
    cases: Vec<String>,
}

/// The "五个一" of a key enterprise.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyEnterpriseInput {
    /// 挂点区领导.
    leader: String,
    /// 牵头部门: a department code (`440303D08`).
    lead_department: String,
    /// 牵头责任人.
    lead_official: String,
    /// 服务专班.
    team: String,
    /// 街道联络员.
    street_contact: String,
    /// The street serving it (`440303001`).
    street: String,
}

/// A problem an enterprise raises.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemInput {
    /// What the problem is (1 to 2,000 characters).
    description: String,
}

/// A raised problem: the event-hub case that tracks it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDto {
    /// The case id (follow it at `/api/v1/events/{id}`).
    case_id: String,
}

/// The desk's report.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeskReportDto {
    /// Key enterprises the caller sees.
    enterprises: usize,
    /// Problems raised.
    problems: i64,
    /// Closed.
    closed: i64,
    /// Solved: closed and not rated unresolved.
    solved: i64,
    /// solved / problems (0 with none).
    solve_rate: f64,
    /// Ever overdue.
    overdue: i64,
    /// Rated fairly satisfied or better / rated (0 with none rated).
    satisfaction_rate: f64,
    /// Per enterprise.
    lines: Vec<DeskLineDto>,
}

/// One enterprise in the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeskLineDto {
    /// Credit code.
    uscc: String,
    /// Problems raised.
    problems: i64,
    /// Closed.
    closed: i64,
    /// Solved.
    solved: i64,
    /// Ever overdue.
    overdue: i64,
    /// Rated.
    rated: i64,
    /// Rated fairly satisfied or better.
    satisfied: i64,
}

/// Whether the caller sees a key enterprise.
async fn sees(state: &AppState, p: &Principal, k: &KeyEnterprise) -> Result<bool, AppError> {
    Ok(match &p.account.org {
        _ if p.has(Role::Resident) => match state
            .store
            .services()
            .person_by_phone(&p.account.username)
            .await?
        {
            Some(person) => state
                .store
                .services()
                .enterprise(&k.uscc)
                .await?
                .is_some_and(|e| e.legal_rep == person.id),
            None => false,
        },
        Org::Department(d) => d.as_str() == k.lead_department,
        Org::Unit(u) if u.level() == Level::District => {
            p.has(Role::Admin) || p.has(Role::Supervisor) || p.has(Role::Leader)
        }
        Org::Unit(u) if u.level() == Level::Street => {
            UnitCode::parse(&k.street).is_ok_and(|s| s == *u)
        }
        _ => false,
    })
}

async fn visible_keys(state: &AppState, p: &Principal) -> Result<Vec<KeyEnterprise>, AppError> {
    let mut out = Vec::new();
    for k in state.store.services().key_enterprises().await? {
        if sees(state, p, &k).await? {
            out.push(k);
        }
    }
    Ok(out)
}

/// The key enterprises the caller sees, with their "五个一" and problems.
#[utoipa::path(get, path = "/api/v1/services/desk", tag = "services",
    responses((status = 200, body = Vec<KeyEnterpriseDto>)))]
pub(super) async fn list_desk(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<KeyEnterpriseDto>>, AppError> {
    let store = state.store.services();
    let report = store.desk_report().await?;
    let mut out = Vec::new();
    for k in visible_keys(&state, &p).await? {
        let line = report.iter().find(|l| l.uscc == k.uscc);
        out.push(KeyEnterpriseDto {
            name: store
                .enterprise(&k.uscc)
                .await?
                .map(|e| e.name)
                .unwrap_or_default(),
            problems: line.map_or(0, |l| l.problems),
            solved: line.map_or(0, |l| l.solved),
            cases: store.desk_problems(&k.uscc).await?,
            uscc: k.uscc,
            leader: k.leader,
            lead_department: k.lead_department,
            lead_official: k.lead_official,
            team: k.team,
            street_contact: k.street_contact,
            street: k.street,
        });
    }
    Ok(Json(out))
}

fn text(value: &str, field: &'static str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(AppError::field(
            "invalid_field",
            field,
            format!("须为 1 至 {max} 个字符 / 1 to {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

/// Designates a key enterprise and its "五个一", or changes them (district admins).
#[utoipa::path(put, path = "/api/v1/services/desk/{uscc}", tag = "services",
    request_body = KeyEnterpriseInput, params(("uscc" = String, Path, description = "Credit code")),
    responses((status = 200, body = KeyEnterpriseDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 403, body = crate::error::ErrorEnvelope), (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn put_desk(
    State(state): State<AppState>,
    p: Principal,
    Path(uscc): Path<String>,
    Json(input): Json<KeyEnterpriseInput>,
) -> Result<Json<KeyEnterpriseDto>, AppError> {
    let district_admin = matches!(&p.account.org, Org::Unit(u) if u.level() == Level::District)
        && p.has(Role::Admin);
    if !district_admin {
        return Err(AppError::Forbidden(
            "只有区级管理员可以确定重点企业 / only district admins designate key enterprises"
                .into(),
        ));
    }
    let store = state.store.services();
    let enterprise = store
        .enterprise(&uscc)
        .await?
        .ok_or_else(|| AppError::NotFound("法人库中没有这个企业 / no such enterprise".into()))?;
    let department = wanxiang_core::DeptCode::parse(&input.lead_department).ok_or_else(|| {
        AppError::field(
            "invalid_field",
            "lead_department",
            "须为部门代码，如 440303D08 / a department code such as 440303D08",
        )
    })?;
    let street = UnitCode::parse(&input.street)
        .ok()
        .filter(|u| u.level() == Level::Street)
        .ok_or_else(|| {
            AppError::field(
                "invalid_field",
                "street",
                "须为街道代码，如 440303001 / a street code such as 440303001",
            )
        })?;
    let k = KeyEnterprise {
        uscc: enterprise.uscc.clone(),
        leader: text(&input.leader, "leader", 100)?,
        lead_department: department.to_string(),
        lead_official: text(&input.lead_official, "lead_official", 100)?,
        team: text(&input.team, "team", 500)?,
        street_contact: text(&input.street_contact, "street_contact", 100)?,
        street: street.to_string(),
        updated_at: state.clock.now_ms(),
    };
    store.put_key_enterprise(&k).await?;
    crate::people::record_by(
        &state,
        &p,
        crate::people::Event {
            action: "key_enterprise_designated",
            target: Some(uscc.clone()),
            detail: format!("lead department {}", k.lead_department),
            org: &p.account.org,
        },
    )
    .await?;
    Ok(Json(KeyEnterpriseDto {
        name: enterprise.name,
        problems: 0,
        solved: 0,
        cases: store.desk_problems(&uscc).await?,
        uscc: k.uscc,
        leader: k.leader,
        lead_department: k.lead_department,
        lead_official: k.lead_official,
        team: k.team,
        street_contact: k.street_contact,
        street: k.street,
    }))
}

/// Raises a key enterprise's problem (its legal representative, its lead department's or its
/// street's staff): an event-hub case at the enterprise's place, urgent, waiting for a
/// dispatcher with the lead department named. Whoever raised it follows and rates it.
#[utoipa::path(post, path = "/api/v1/services/desk/{uscc}/problems", tag = "services",
    request_body = ProblemInput, params(("uscc" = String, Path, description = "Credit code")),
    responses((status = 201, body = ProblemDto), (status = 400, body = crate::error::ErrorEnvelope),
              (status = 404, body = crate::error::ErrorEnvelope)))]
pub(super) async fn raise_problem(
    State(state): State<AppState>,
    p: Principal,
    Path(uscc): Path<String>,
    Json(input): Json<ProblemInput>,
) -> Result<(axum::http::StatusCode, Json<ProblemDto>), AppError> {
    let store = state.store.services();
    let gone = || AppError::NotFound("没有这个重点企业 / no such key enterprise".into());
    let k = store
        .key_enterprises()
        .await?
        .into_iter()
        .find(|k| k.uscc == uscc)
        .ok_or_else(gone)?;
    if !sees(&state, &p, &k).await? {
        return Err(gone());
    }
    let description = text(&input.description, "description", 2000)?;
    let enterprise = store.enterprise(&uscc).await?.ok_or_else(gone)?;
    let atlas = crate::units::atlas(&state)?;
    let home = UnitCode::parse(&enterprise.community)
        .ok()
        .and_then(|c| atlas.unit(&c).cloned())
        .or_else(|| {
            UnitCode::parse(&k.street)
                .ok()
                .and_then(|c| atlas.unit(&c).cloned())
        })
        .filter(|u| u.boundary.is_some())
        .ok_or_else(|| {
            AppError::Unavailable(
                "企业所在地没有边界 / the enterprise's place has no boundary".into(),
            )
        })?;
    let seed = uscc
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
    let (lon, lat) = crate::sensing::demo::place_in(&atlas, &home, seed);
    let place = crate::events::place_of(&state, lon, lat).ok_or_else(|| {
        AppError::Unavailable("企业所在地不在本区 / the enterprise is outside the district".into())
    })??;
    let now = state.clock.now_ms();
    let report = crate::events::Report {
        channel: wanxiang_core::case::Channel::ResidentApp,
        description: format!("【企业服务·五个一】{}：{description}", enterprise.name)
            .chars()
            .take(crate::events::MAX_DESCRIPTION)
            .collect(),
        external_id: None,
        reporter_contact: None,
        lon,
        lat,
        place,
        category: None,
        classified: None,
        queue_note: format!(
            "重点企业「五个一」：请派往牵头部门 {}（牵头责任人 {}）/ a key enterprise's problem: send it to its lead department",
            k.lead_department, k.lead_official
        ),
        attachments: Vec::new(),
        priority: Some(wanxiang_core::category::Priority::High),
    };
    let new_case = crate::events::open_case(
        &state,
        Some(&p.account.id),
        &crate::events::actor(&p),
        &report,
        now,
    )
    .await?;
    let record = new_case.record.clone();
    let case_id = match crate::events::writer::write(&state, new_case, None).await? {
        crate::events::writer::Written::Existing(existing) => existing,
        _ => {
            crate::events::after_write(&state, &record, "created", now);
            record.id.clone()
        }
    };
    store
        .add_desk_problem(&case_id, &uscc, now, &p.account.id)
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(ProblemDto { case_id }),
    ))
}

/// How many problems the desk solved, for the key enterprises the caller sees.
#[utoipa::path(get, path = "/api/v1/services/desk/report", tag = "services",
    responses((status = 200, body = DeskReportDto)))]
pub(super) async fn desk_report(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<DeskReportDto>, AppError> {
    let keys = visible_keys(&state, &p).await?;
    let lines: Vec<DeskLineDto> = state
        .store
        .services()
        .desk_report()
        .await?
        .into_iter()
        .filter(|l| keys.iter().any(|k| k.uscc == l.uscc))
        .map(|l| DeskLineDto {
            uscc: l.uscc,
            problems: l.problems,
            closed: l.closed,
            solved: l.solved,
            overdue: l.overdue,
            rated: l.rated,
            satisfied: l.satisfied,
        })
        .collect();
    let sum = |f: fn(&DeskLineDto) -> i64| lines.iter().map(f).sum::<i64>();
    let (problems, solved, rated, satisfied) = (
        sum(|l| l.problems),
        sum(|l| l.solved),
        sum(|l| l.rated),
        sum(|l| l.satisfied),
    );
    let rate = |a: i64, b: i64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    Ok(Json(DeskReportDto {
        enterprises: keys.len(),
        problems,
        closed: sum(|l| l.closed),
        solved,
        solve_rate: rate(solved, problems),
        overdue: sum(|l| l.overdue),
        satisfaction_rate: rate(satisfied, rated),
        lines,
    }))
}
