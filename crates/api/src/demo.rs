//! Demo content for accounts: departments, social entities and one account per role and level,
//! all with one published password, and the route that lists them (demo mode only).
//!
//! Everything here is labelled demo content. Outside demo mode the server refuses to start while
//! any account still has the demo password.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wanxiang_core::{
    Department, DeptCode, Entity, EntityKind, NewAccount, Org, Role, Scope, UnitCode,
};
use wanxiang_store::{Store, StoreError};

use crate::auth::{now_ms, password};
use crate::{AppError, AppState};

/// The password of every demo account. Printed at start and listed by `/api/v1/demo/accounts`.
pub const DEMO_PASSWORD: &str = "wanxiang-demo";

/// The demo Open311 `api_key`: a personal API token of `district.dispatcher`, fixed so that it
/// can be printed and listed. Only demo mode creates it.
pub const DEMO_OPEN311_KEY: &str = "wxp_demo-open311-key-not-for-production";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(demo_accounts))
}

fn code(s: &str) -> UnitCode {
    UnitCode::parse(s).expect("demo codes are valid")
}

/// The demo departments (labelled as such).
pub fn departments() -> Vec<Department> {
    [
        ("440303D01", "区城市管理和综合执法局（演示）"),
        ("440303D02", "区水务局（演示）"),
        ("440303D03", "区住房和建设局（演示）"),
        ("440303D04", "区交通运输局（演示）"),
        ("440303D05", "区生态环境局（演示）"),
        ("440303D06", "区应急管理局（演示）"),
        ("440303D07", "区民政局（演示）"),
        ("440303D08", "区市场监督管理局（演示）"),
        ("440303D09", "区卫生健康局（演示）"),
        ("440303D10", "区医疗保障局（演示）"),
        ("440303D11", "公安罗湖分局（演示）"),
        ("440303D12", "区人力资源局（演示）"),
        ("440303D13", "区教育局（演示）"),
    ]
    .into_iter()
    .map(|(c, n)| Department {
        code: DeptCode::parse(c).expect("valid"),
        name: n.into(),
    })
    .collect()
}

/// The demo social entities, with fixed ids so that seeding is idempotent.
pub fn entities() -> Vec<Entity> {
    vec![
        Entity {
            id: "demo-wuye".into(),
            name: "罗湖示范物业服务有限公司（演示）".into(),
            kind: EntityKind::PropertyManager,
            unit: code("440303001001"),
            service_area: vec![code("440303001001"), code("440303001002")],
            created_at: 0,
        },
        Entity {
            id: "demo-qingjie".into(),
            name: "深罗环境清洁服务有限公司（演示）".into(),
            kind: EntityKind::Enterprise,
            unit: code("440303002"),
            service_area: vec![code("440303002")],
            created_at: 0,
        },
        Entity {
            id: "demo-zhiyuan".into(),
            name: "东门志愿服务队（演示）".into(),
            kind: EntityKind::VolunteerTeam,
            unit: code("440303003"),
            service_area: vec![code("440303003")],
            created_at: 0,
        },
    ]
}

/// One demo account.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// Login name.
    pub username: &'static str,
    /// Display name.
    pub display_name: &'static str,
    /// Organisation.
    pub org: Org,
    /// Roles.
    pub roles: Vec<Role>,
}

/// The demo accounts: one per role and level, plus siblings for trying the jurisdiction rules.
pub fn accounts() -> Vec<DemoAccount> {
    let unit = |c: &str| Org::Unit(code(c));
    let dept = |c: &str| Org::Department(DeptCode::parse(c).expect("valid"));
    let entity = |id: &str, u: &str| Org::Entity {
        id: id.into(),
        unit: code(u),
    };
    let a = |username, display_name, org, roles: &[Role]| DemoAccount {
        username,
        display_name,
        org,
        roles: roles.to_vec(),
    };
    vec![
        a(
            "district.admin",
            "区管理员（演示）",
            unit("440303"),
            &[Role::Admin],
        ),
        a(
            "district.dispatcher",
            "区分拨员（演示）",
            unit("440303"),
            &[Role::Dispatcher],
        ),
        a(
            "district.supervisor",
            "区督办（演示）",
            unit("440303"),
            &[Role::Supervisor],
        ),
        a(
            "district.leader",
            "区领导（演示）",
            unit("440303"),
            &[Role::Leader],
        ),
        a(
            "district.operator",
            "区设备运维（演示）",
            unit("440303"),
            &[Role::Operator],
        ),
        a(
            "guiyuan.admin",
            "桂园街道管理员（演示）",
            unit("440303001"),
            &[Role::Admin],
        ),
        a(
            "guiyuan.dispatcher",
            "桂园街道分拨员（演示）",
            unit("440303001"),
            &[Role::Dispatcher],
        ),
        a(
            "guiyuan.handler",
            "桂园街道处置人员（演示）",
            unit("440303001"),
            &[Role::Handler],
        ),
        a(
            "guiyuan.supervisor",
            "桂园街道督办（演示）",
            unit("440303001"),
            &[Role::Supervisor],
        ),
        a(
            "huangbei.admin",
            "黄贝街道管理员（演示）",
            unit("440303002"),
            &[Role::Admin],
        ),
        a(
            "huangbei.handler",
            "黄贝街道处置人员（演示）",
            unit("440303002"),
            &[Role::Handler],
        ),
        a(
            "datanglong.admin",
            "大塘龙社区管理员（演示）",
            unit("440303001001"),
            &[Role::Admin],
        ),
        a(
            "datanglong.handler",
            "大塘龙社区处置人员（演示）",
            unit("440303001001"),
            &[Role::Handler],
        ),
        a(
            "datanglong.inspector",
            "大塘龙社区网格员（演示）",
            unit("440303001001"),
            &[Role::Inspector],
        ),
        a(
            "chengguan.admin",
            "城管局管理员（演示）",
            dept("440303D01"),
            &[Role::Admin],
        ),
        a(
            "chengguan.handler",
            "城管局处置人员（演示）",
            dept("440303D01"),
            &[Role::Handler],
        ),
        a(
            "wuye.member",
            "示范物业员工（演示）",
            entity("demo-wuye", "440303001001"),
            &[Role::EntityMember],
        ),
        a(
            "qingjie.member",
            "清洁公司员工（演示）",
            entity("demo-qingjie", "440303002"),
            &[Role::EntityMember],
        ),
        a(
            "13800138000",
            "居民张三（演示）",
            unit("440303"),
            &[Role::Resident],
        ),
        a(
            "13800138001",
            "居民李四（演示）",
            unit("440303"),
            &[Role::Resident],
        ),
        a(
            "13800138002",
            "居民王秀英（演示，刚满80周岁）",
            unit("440303"),
            &[Role::Resident],
        ),
        a(
            "13800138003",
            "居民陈静（演示，新生儿母亲）",
            unit("440303"),
            &[Role::Resident],
        ),
        a(
            "13800138004",
            "居民刘强（演示，餐饮店经营者）",
            unit("440303"),
            &[Role::Resident],
        ),
        a(
            "minzheng.admin",
            "民政局管理员（演示）",
            dept("440303D07"),
            &[Role::Admin],
        ),
        a(
            "minzheng.reviewer",
            "民政局审批人员（演示）",
            dept("440303D07"),
            &[Role::Handler],
        ),
        a(
            "shijian.reviewer",
            "市场监管局审批人员（演示）",
            dept("440303D08"),
            &[Role::Handler],
        ),
        a(
            "zhujian.reviewer",
            "住房和建设局审批人员（演示，会签）",
            dept("440303D03"),
            &[Role::Handler],
        ),
    ]
}

fn ignore_conflict(r: Result<(), StoreError>) -> Result<bool, StoreError> {
    match r {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates whatever demo departments, entities and accounts are missing; returns how many
/// records were created. Uses an explicit system scope, recorded in the audit log.
pub async fn seed(store: &dyn Store) -> Result<usize, StoreError> {
    let scope = Scope::system("demo seeding");
    let mut created = 0;
    for d in departments() {
        created += usize::from(ignore_conflict(store.create_department(&scope, &d).await)?);
    }
    for mut e in entities() {
        e.created_at = now_ms();
        created += usize::from(ignore_conflict(store.create_entity(&scope, &e).await)?);
    }
    // One hash for all demo accounts: the password is public anyway, and hashing twenty times
    // would only slow every demo start.
    let hash = password::hash_async(DEMO_PASSWORD.to_owned()).await;
    for a in accounts() {
        let new = NewAccount {
            id: uuid::Uuid::now_v7().to_string(),
            username: a.username.into(),
            display_name: a.display_name.into(),
            org: a.org.clone(),
            roles: a.roles.clone(),
            password_hash: hash.clone(),
            demo_password: true,
            created_at: now_ms(),
        };
        created += usize::from(ignore_conflict(
            store.create_account(&scope, &new).await.map(|_| ()),
        )?);
    }
    // The demo Open311 key, for GeoReport clients trying the demo.
    let key_hash = crate::auth::token_hash(DEMO_OPEN311_KEY);
    if store
        .api_token_account(&key_hash, now_ms())
        .await?
        .is_none()
        && let Some((dispatcher, _)) = store.credentials("district.dispatcher").await?
    {
        store
            .create_api_token(&wanxiang_store::NewApiToken {
                id: uuid::Uuid::now_v7().to_string(),
                account_id: dispatcher.id,
                name: "Open311 demo api_key".into(),
                token_hash: key_hash,
                created_at: now_ms(),
            })
            .await?;
        created += 1;
    }
    if created > 0 {
        let district = code("440303");
        store
            .append_audit(&wanxiang_core::AuditEntry {
                at: now_ms(),
                actor_id: None,
                actor_name: "system".into(),
                action: "system_scope".into(),
                target: None,
                detail: format!(
                    "{}: created {created} demo departments, entities and accounts",
                    scope.describe()
                ),
                org: district.to_string(),
                area: district,
                client: None,
            })
            .await?;
    }
    Ok(created)
}

/// A demo account as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoAccountDto {
    /// Login name.
    username: &'static str,
    /// Display name.
    display_name: &'static str,
    /// The unit, department or entity it belongs to.
    org: String,
    /// Roles.
    roles: Vec<&'static str>,
    /// The demo password.
    password: &'static str,
}

/// The demo accounts, their password and the demo Open311 api_key.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemoListing {
    /// One per role and level.
    accounts: Vec<DemoAccountDto>,
    /// The `api_key` for `/open311/v2/` (a personal token of `district.dispatcher`).
    open311_api_key: &'static str,
}

/// The demo accounts and their password. Exists only in demo mode (404 otherwise).
#[utoipa::path(get, path = "/api/v1/demo/accounts", tag = "demo", responses(
    (status = 200, body = DemoListing),
    (status = 404, body = crate::error::ErrorEnvelope, description = "Not in demo mode"),
))]
async fn demo_accounts(State(state): State<AppState>) -> Result<Json<DemoListing>, AppError> {
    if !state.config.demo {
        return Err(AppError::NotFound("no such route / 没有这个接口".into()));
    }
    let accounts = accounts()
        .into_iter()
        .map(|a| DemoAccountDto {
            username: a.username,
            display_name: a.display_name,
            org: a.org.key(),
            roles: a.roles.iter().map(|r| r.as_str()).collect(),
            password: DEMO_PASSWORD,
        })
        .collect();
    Ok(Json(DemoListing {
        accounts,
        open311_api_key: DEMO_OPEN311_KEY,
    }))
}
