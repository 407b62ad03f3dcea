//! The jurisdiction isolation test: every route of the OpenAPI document, tried as an account of
//! a sibling street, of a child community, of a social entity and as a resident, against records
//! of 桂园街道. Records outside the caller's scope answer 404 (their existence is not revealed) or
//! 403 (permitted to see, not to act), and no response body carries any of them.
//!
//! The test reads the routes from the running server's OpenAPI document, so a route added
//! without a rule here fails it. Runs on SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{Session, TestApp};
use serde_json::{Value, json};

/// What the victim jurisdiction (桂园街道) owns, and the strings that must never leak.
struct Victims {
    case: String,
    attachment: String,
    linked_report: String,
    warning: String,
    device: String,
    alarm: String,
    account: String,
    entity: String,
    token: String,
    token_secret: String,
    application: String,
    decision: String,
    certificate: String,
    bundle_application: String,
    key_enterprise: String,
    identity: String,
    markers: Vec<String>,
}

/// How a route must treat an account of another jurisdiction.
enum Rule {
    /// Public by design; the reason says why nothing of a jurisdiction is behind it.
    Public(&'static str),
    /// Acts on the caller's own records or lists what the caller's scope admits: any status, but
    /// nothing of the victims in the body.
    OwnOrScoped { path: String, body: Option<Value> },
    /// A never-ending stream: checked for status and type here; its per-scope filtering is tested
    /// in tests/events.rs (`the_stream_pushes_changes_in_scope_only`), where events can be ordered.
    Stream { path: String },
    /// Targets a victim record or writes into the victim jurisdiction: must answer one of
    /// `statuses`, with nothing of the victims in the body.
    Refused {
        path: String,
        body: Option<Value>,
        statuses: &'static [u16],
    },
}

fn rule(method: &str, path: &str, v: &Victims) -> Option<Rule> {
    use Rule::*;
    const GEOGRAPHY: &str = "administrative geography is public information (statistics bureau codes, published boundaries)";
    const OPS: &str = "operations endpoints carry no records";
    let r = match (method, path) {
        ("get", "/healthz") | ("get", "/readyz") | ("get", "/metrics") => Public(OPS),
        ("get", "/api/v1/units")
        | ("get", "/api/v1/units/{code}")
        | ("get", "/api/v1/boundaries") => Public(GEOGRAPHY),
        ("get", "/api/v1/locate") | ("post", "/api/v1/locate") => Public(GEOGRAPHY),
        ("post", "/api/v1/auth/login") | ("post", "/api/v1/auth/register") => {
            Public("authentication entry points")
        }
        ("get", "/api/v1/demo/accounts") => {
            Public("lists the demo accounts by design, in demo mode only")
        }
        ("get", "/api/v1/stream") => Stream { path: path.into() },
        // Counts of the caller's own jurisdiction; narrowing to another unit is refused
        // (tests/screen.rs).
        ("get", "/api/v1/stats") | ("get", "/api/v1/stats/units") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("get", "/api/v1/notifications") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("get", "/api/v1/categories") => {
            Public("the category tree and responsibility list are public")
        }
        ("get", "/api/v1/events") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("post", "/api/v1/events") => {
            // Another category than the victim's case: a report of the same problem at the same
            // place joins that case by design (its reporter follows it, with the other
            // residents' words withheld: tests/hub.rs).
            let (lon, lat) = common::point_in("440303001002");
            OwnOrScoped {
                path: path.into(),
                body: Some(
                    json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0101", "description": "attacker's own report"}),
                ),
            }
        }
        ("get", "/api/v1/events/{id}") => Refused {
            path: format!("/api/v1/events/{}", v.case),
            body: None,
            statuses: &[403, 404],
        },
        ("post", "/api/v1/events/{id}/actions") => Refused {
            path: format!("/api/v1/events/{}/actions", v.case),
            body: Some(json!({"action": "urge", "note": "attacker"})),
            statuses: &[403, 404],
        },
        ("get", "/api/v1/me") | ("get", "/api/v1/me/tokens") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("post", "/api/v1/me/tokens") => OwnOrScoped {
            path: path.into(),
            body: Some(json!({"name": "attacker"})),
        },
        ("post", "/api/v1/me/password") => OwnOrScoped {
            path: path.into(),
            body: Some(
                json!({"current_password": "not-my-password", "new_password": "whatever-123"}),
            ),
        },
        ("post", "/api/v1/auth/logout") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("get", "/api/v1/accounts")
        | ("get", "/api/v1/entities")
        | ("get", "/api/v1/departments")
        | ("get", "/api/v1/audit") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("get", "/api/v1/accounts/{id}") => Refused {
            path: format!("/api/v1/accounts/{}", v.account),
            body: None,
            statuses: &[403, 404],
        },
        ("patch", "/api/v1/accounts/{id}") => Refused {
            path: format!("/api/v1/accounts/{}", v.account),
            body: Some(json!({"disabled": true, "roles": ["admin"]})),
            statuses: &[403, 404],
        },
        ("post", "/api/v1/accounts") => Refused {
            path: path.into(),
            body: Some(
                json!({"username": "planted.by.attacker", "display_name": "x", "password": "password-123",
                              "org": {"unit": "440303001"}, "roles": ["admin"]}),
            ),
            statuses: &[403, 404],
        },
        ("get", "/api/v1/entities/{id}") => Refused {
            path: format!("/api/v1/entities/{}", v.entity),
            body: None,
            statuses: &[403, 404],
        },
        ("post", "/api/v1/entities") => Refused {
            path: path.into(),
            body: Some(
                json!({"name": "planted entity", "kind": "enterprise", "unit": "440303001", "service_area": ["440303001"]}),
            ),
            statuses: &[403, 404],
        },
        ("post", "/api/v1/departments") => Refused {
            path: path.into(),
            body: Some(json!({"code": "440303D99", "name": "planted department"})),
            statuses: &[403],
        },
        // Uploads take raw bytes; this JSON body is refused as a type, which is fine here.
        ("post", "/api/v1/attachments") => OwnOrScoped {
            path: path.into(),
            body: Some(json!({"not": "a photo"})),
        },
        ("get", "/api/v1/attachments/{id}") => Refused {
            path: format!("/api/v1/attachments/{}", v.attachment),
            body: None,
            statuses: &[404],
        },
        ("get", "/api/v1/events/{id}/reports") => Refused {
            path: format!("/api/v1/events/{}/reports", v.case),
            body: None,
            statuses: &[403, 404],
        },
        ("post", "/api/v1/events/{id}/reports/{report_id}/unlink") => Refused {
            path: format!(
                "/api/v1/events/{}/reports/{}/unlink",
                v.case, v.linked_report
            ),
            body: None,
            statuses: &[403, 404],
        },
        ("get", "/api/v1/warnings") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("get", "/api/v1/warnings/{id}") => Refused {
            path: format!("/api/v1/warnings/{}", v.warning),
            body: None,
            statuses: &[403, 404],
        },
        ("post", "/api/v1/warnings/{id}/close") | ("post", "/api/v1/warnings/{id}/supervise") => {
            Refused {
                path: path.replace("{id}", &v.warning),
                body: None,
                statuses: &[403, 404],
            }
        }
        // The webhook outbox spans the district: only its admins.
        ("get", "/api/v1/admin/deliveries") => Refused {
            path: path.into(),
            body: None,
            statuses: &[403],
        },
        ("post", "/api/v1/admin/deliveries/{id}/retry") => Refused {
            path: "/api/v1/admin/deliveries/1/retry".into(),
            body: None,
            statuses: &[403],
        },
        ("get", "/api/v1/device-types")
        | ("get", "/api/v1/devices")
        | ("get", "/api/v1/devices/summary")
        | ("get", "/api/v1/alarms") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("post", "/api/v1/devices") => {
            // A device planted in 桂木园社区, owned by 桂园街道.
            let (lon, lat) = common::point_in("440303001002");
            Refused {
                path: path.into(),
                body: Some(
                    json!({"type": "water_level", "name": "planted device", "location": {"lon": lon, "lat": lat}, "owner_unit": "440303001"}),
                ),
                statuses: &[403],
            }
        }
        ("get", "/api/v1/devices/{id}")
        | ("get", "/api/v1/devices/{id}/telemetry")
        | ("get", "/api/v1/devices/{id}/latest") => Refused {
            path: path.replace("{id}", &v.device),
            body: None,
            statuses: &[403, 404],
        },
        ("put", "/api/v1/devices/{id}/rules") => Refused {
            path: path.replace("{id}", &v.device),
            body: Some(json!([])),
            statuses: &[403, 404],
        },
        ("put", "/api/v1/devices/{id}/disabled") => Refused {
            path: path.replace("{id}", &v.device),
            body: Some(json!({"disabled": true})),
            statuses: &[403, 404],
        },
        ("post", "/api/v1/telemetry/{token}") | ("post", "/api/v1/telemetry") => Public(
            "devices authenticate with their own access token; a session gives no device's data",
        ),
        ("get", "/api/v1/alarms/{id}")
        | ("post", "/api/v1/alarms/{id}/acknowledge")
        | ("post", "/api/v1/alarms/{id}/clear") => Refused {
            path: path.replace("{id}", &v.alarm),
            body: None,
            statuses: &[403, 404],
        },
        // 一网通办: the catalogue is public; applications, decisions and certificates are their
        // applicant's and their department's (a district resident's application is the victim).
        ("get", "/api/v1/services/items")
        | ("get", "/api/v1/services/items/{code}")
        | ("get", "/api/v1/services/bundles")
        | ("get", "/api/v1/services/bundles/{code}") => {
            Public("the service catalogue is public, like every government's list of services")
        }
        ("get", "/api/v1/services/items/{code}/model")
        | ("get", "/api/v1/services/items/{code}/model/versions") => Refused {
            path: path.replace("{code}", "0500001001"),
            body: None,
            statuses: &[403],
        },
        ("put", "/api/v1/services/items/{code}/model") => Refused {
            path: path.replace("{code}", "0500001001"),
            body: Some(json!({"nodes": [], "edges": []})),
            statuses: &[403],
        },
        ("get", "/api/v1/services/applications")
        | ("get", "/api/v1/services/me")
        | ("get", "/api/v1/services/me/register-access") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("post", "/api/v1/services/applications") => OwnOrScoped {
            path: path.into(),
            body: Some(json!({"item": "0500012001", "form": {"disability_level": "一级"}})),
        },
        ("post", "/api/v1/services/bundles/{code}/applications") => OwnOrScoped {
            path: path.replace("{code}", "birth"),
            body: Some(json!({"form": {"mailing_address": "attacker"}})),
        },
        ("get", "/api/v1/services/bundle-applications/{id}") => Refused {
            path: path.replace("{id}", &v.bundle_application),
            body: None,
            statuses: &[404],
        },
        ("get", "/api/v1/services/applications/{id}") => Refused {
            path: path.replace("{id}", &v.application),
            body: None,
            statuses: &[404],
        },
        ("post", "/api/v1/services/applications/{id}/actions") => Refused {
            path: path.replace("{id}", &v.application),
            body: Some(json!({"action": "withdraw"})),
            statuses: &[404],
        },
        ("get", "/api/v1/services/decisions/{id}")
        | ("post", "/api/v1/services/decisions/{id}/replay") => Refused {
            path: path.replace("{id}", &v.decision),
            body: None,
            statuses: &[404],
        },
        ("get", "/api/v1/services/certificates/{id}") => Refused {
            path: path.replace("{id}", &v.certificate),
            body: None,
            statuses: &[404],
        },
        ("post", "/api/v1/services/certificates/{id}/revoke") => Refused {
            path: path.replace("{id}", &v.certificate),
            body: Some(json!({"reason": "attacker"})),
            statuses: &[403, 404],
        },
        ("get", "/api/v1/services/desk") | ("get", "/api/v1/services/desk/report") => OwnOrScoped {
            path: path.into(),
            body: None,
        },
        ("put", "/api/v1/services/desk/{uscc}") => Refused {
            path: path.replace("{uscc}", &v.key_enterprise),
            body: Some(
                json!({"leader": "a", "lead_department": "440303D01", "lead_official": "a",
                "team": "a", "street_contact": "a", "street": "440303002"}),
            ),
            statuses: &[403],
        },
        ("post", "/api/v1/services/desk/{uscc}/problems") => Refused {
            path: path.replace("{uscc}", &v.key_enterprise),
            body: Some(json!({"description": "attacker"})),
            statuses: &[404],
        },
        // The registers' internal API: departments' and the district's staff only (none of the
        // attackers), each look-up logged with its purpose.
        ("get", "/api/v1/registers/people/{id}")
        | ("get", "/api/v1/registers/licences/{holder}")
        | ("get", "/api/v1/registers/enterprises/{uscc}") => Refused {
            path: path
                .replace("{id}", &v.identity)
                .replace("{holder}", &v.identity)
                .replace("{uscc}", &v.key_enterprise)
                + "?purpose=attacker",
            body: None,
            statuses: &[403],
        },
        ("get", "/api/v1/registers/access") => Refused {
            path: format!("{path}?subject={}", v.identity),
            body: None,
            statuses: &[403],
        },
        ("post", "/api/v1/services/triggers/run") => Refused {
            path: path.into(),
            body: None,
            statuses: &[403],
        },
        ("delete", "/api/v1/me/tokens/{id}") => Refused {
            path: format!("/api/v1/me/tokens/{}", v.token),
            body: None,
            statuses: &[404],
        },
        _ => return None,
    };
    Some(r)
}

/// Creates the victims as 桂园街道's admin and the victim account itself.
async fn victims(app: &TestApp) -> Victims {
    let admin = app.login("guiyuan.admin").await;
    let (status, account) = app
        .call(Some(&admin), "POST", "/api/v1/accounts", Some(json!({
            "username": "victim.handler", "display_name": "桂园受害者甲", "password": "victim-password-1",
            "org": {"unit": "440303001"}, "roles": ["handler"]})))
        .await;
    assert_eq!(status, 201, "{account}");
    let (status, entity) = app
        .call(Some(&admin), "POST", "/api/v1/entities", Some(json!({
            "name": "桂园受害者物业（测试）", "kind": "property_manager", "unit": "440303001", "service_area": ["440303001"]})))
        .await;
    assert_eq!(status, 201, "{entity}");
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "victim.handler", "password": "victim-password-1"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let victim = Session {
        token: body["token"].as_str().unwrap().into(),
        csrf: String::new(),
        id: String::new(),
    };
    let (status, token) = app
        .call(
            Some(&victim),
            "POST",
            "/api/v1/me/tokens",
            Some(json!({"name": "victim token"})),
        )
        .await;
    assert_eq!(status, 201);
    // A resident's report located in 桂木园社区 of 桂园街道 (outside the child community 大塘龙),
    // dispatched to the street.
    let reporter = app.login("13800138001").await;
    let (lon, lat) = common::point_in("440303001002");
    let photo = app
        .client
        .post(app.url("/api/v1/attachments"))
        .bearer_auth(&reporter.token)
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\n victim photo".to_vec())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let attachment = photo["id"].as_str().unwrap().to_owned();
    let (status, case) = app
        .call(
            Some(&reporter),
            "POST",
            "/api/v1/events",
            Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0509",
            "description": "桂园受害者案件描述", "reporter_contact": "139-victim-contact",
            "attachments": [attachment]})),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let (status, linked) = app
        .call(
            Some(&reporter),
            "POST",
            "/api/v1/events",
            Some(json!({
            "channel": "resident_app", "location": {"lon": lon, "lat": lat}, "category": "E0509",
            "description": "桂园受害者重复上报", "reporter_contact": "139-victim-contact"})),
        )
        .await;
    assert_eq!((status, &linked["id"]), (201, &case["id"]), "{linked}");
    let linked_report = linked["linked_report_id"].as_str().unwrap().to_owned();
    // Four more stalls elsewhere in the street make a surge: a warning about 桂园街道.
    for i in 1..=4 {
        let (status, _) = app
            .call(
                Some(&reporter),
                "POST",
                "/api/v1/events",
                Some(json!({
                "channel": "resident_app", "location": {"lon": lon + 0.001 * f64::from(i), "lat": lat},
                "category": "E0509", "description": "桂园受害者案件描述"})),
            )
            .await;
        assert_eq!(status, 201);
    }
    // A water-level sensor of 桂园街道 in 桂木园社区, with an alarm.
    let (status, device) = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/devices",
            Some(json!({"type": "water_level", "name": "桂园受害者水位计", "location": {"lon": lon, "lat": lat}})),
        )
        .await;
    assert_eq!(status, 201, "{device}");
    let device_token = device["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            None,
            "POST",
            &format!("/api/v1/telemetry/{device_token}"),
            Some(json!({"level_cm": 20.0})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, alarms) = app.call(Some(&admin), "GET", "/api/v1/alarms", None).await;
    let alarm = alarms[0]["id"]
        .as_str()
        .expect("the alarm is raised")
        .to_owned();
    let supervisor = app.login("guiyuan.supervisor").await;
    let mut warning = String::new();
    for _ in 0..500 {
        let (_, list) = app
            .call(Some(&supervisor), "GET", "/api/v1/warnings", None)
            .await;
        if let Some(id) = list[0]["id"].as_str() {
            warning = id.to_owned();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!warning.is_empty(), "the surge warning was not raised");
    assert_eq!(case["assignee"], "440303001000", "{case}");
    // 一网通办: 王秀英's elderly allowance, offered without asking and approved in one tap.
    let district = app.login("district.admin").await;
    let (status, _) = app
        .call(
            Some(&district),
            "POST",
            "/api/v1/services/triggers/run",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let wang = app.login("13800138002").await;
    let (_, offers) = app
        .call(Some(&wang), "GET", "/api/v1/services/applications", None)
        .await;
    let application = offers[0]["id"].as_str().expect("an offer").to_owned();
    let (status, approved) = app
        .call(
            Some(&wang),
            "POST",
            &format!("/api/v1/services/applications/{application}/actions"),
            Some(json!({"action": "confirm"})),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let decision = approved["decision"].as_str().unwrap().to_owned();
    let certificate = approved["certificate"].as_str().unwrap().to_owned();
    // Her full identity number, from the signed body only she and the department see (her name
    // is public in the demo account list, so it is no marker).
    let (_, signed) = app
        .call(
            Some(&wang),
            "GET",
            &format!("/api/v1/services/certificates/{certificate}"),
            None,
        )
        .await;
    let body: Value = serde_json::from_str(signed["body"].as_str().unwrap()).unwrap();
    let identity = body["holder"].as_str().unwrap().to_owned();
    assert_eq!(identity.len(), 18);
    // 陈静's birth bundle.
    let chen = app.login("13800138003").await;
    let (status, bundle) = app
        .call(
            Some(&chen),
            "POST",
            "/api/v1/services/bundles/birth/applications",
            Some(json!({"form": {"mailing_address": "受害者地址"}})),
        )
        .await;
    assert_eq!(status, 201, "{bundle}");
    let bundle_application = bundle["id"].as_str().unwrap().to_owned();
    // 刘强's restaurant, a key enterprise served by 桂园街道, with a problem raised.
    let liu = app.login("13800138004").await;
    let (_, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    let key_enterprise = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Some(&district),
            "PUT",
            &format!("/api/v1/services/desk/{key_enterprise}"),
            Some(json!({"leader": "受害企业挂点领导", "lead_department": "440303D08", "lead_official": "受害企业牵头人",
                "team": "受害企业专班", "street_contact": "受害企业联络员", "street": "440303001"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .call(
            Some(&liu),
            "POST",
            &format!("/api/v1/services/desk/{key_enterprise}/problems"),
            Some(json!({"description": "受害企业的问题描述"})),
        )
        .await;
    assert_eq!(status, 201, "{problem}");
    let account_id = account["id"].as_str().unwrap().to_owned();
    let entity_id = entity["id"].as_str().unwrap().to_owned();
    let token_id = token["id"].as_str().unwrap().to_owned();
    let secret = token["token"].as_str().unwrap().to_owned();
    Victims {
        markers: vec![
            case["id"].as_str().unwrap().to_owned(),
            attachment.clone(),
            linked_report.clone(),
            "桂园受害者重复上报".into(),
            warning.clone(),
            "桂园受害者案件描述".into(),
            "139-victim-contact".into(),
            account_id.clone(),
            "victim.handler".into(),
            "桂园受害者甲".into(),
            entity_id.clone(),
            "桂园受害者物业".into(),
            token_id.clone(),
            "victim token".into(),
            secret.clone(),
            device["device"]["id"].as_str().unwrap().to_owned(),
            "桂园受害者水位计".into(),
            device_token,
            alarm.clone(),
            application.clone(),
            decision.clone(),
            certificate.clone(),
            identity.clone(),
            bundle_application.clone(),
            "受害者地址".into(),
            key_enterprise.clone(),
            "受害企业挂点领导".into(),
            "受害企业的问题描述".into(),
            problem["case_id"].as_str().unwrap().to_owned(),
        ],
        bundle_application,
        key_enterprise,
        identity,
        application,
        decision,
        certificate,
        device: device["device"]["id"].as_str().unwrap().to_owned(),
        alarm,
        case: case["id"].as_str().unwrap().to_owned(),
        attachment,
        linked_report,
        warning,
        account: account_id,
        entity: entity_id,
        token: token_id,
        token_secret: secret,
    }
}

async fn isolation(app: TestApp) {
    let v = victims(&app).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            routes.push((method.clone(), path.clone()));
        }
    }
    // Logging out ends the attacker's session, so it goes last.
    routes.sort_by_key(|(m, p)| (p == "/api/v1/auth/logout", m.clone(), p.clone()));
    let missing: Vec<String> = routes
        .iter()
        .filter(|(m, p)| rule(m, p, &v).is_none())
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an isolation rule (add one to tests/isolation.rs): {missing:?}"
    );

    let attackers = [
        "huangbei.admin",
        "datanglong.admin",
        "qingjie.member",
        "13800138000",
    ];
    let mut outcomes: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for attacker in attackers {
        let s = app.login(attacker).await;
        for (method, path) in &routes {
            let (call_path, body, statuses) = match rule(method, path, &v).unwrap() {
                Rule::Public(why) => {
                    assert!(!why.is_empty());
                    let concrete = path.replace("{code}", "440303001");
                    let body = (method == "post" && path == "/api/v1/locate")
                        .then(|| json!({"points": [[114.106, 22.546]]}));
                    (concrete, body, None)
                }
                Rule::OwnOrScoped { path, body } => (path, body, None),
                Rule::Stream { path } => {
                    let resp = app
                        .client
                        .get(app.url(&path))
                        .bearer_auth(&s.token)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200, "{attacker}: {path}");
                    outcomes.entry(format!("GET {path}")).or_default().push(200);
                    continue;
                }
                Rule::Refused {
                    path,
                    body,
                    statuses,
                } => (path, body, Some(statuses)),
            };
            if method == "post" && (path == "/api/v1/auth/login" || path == "/api/v1/auth/register")
            {
                continue; // Public entry points that take credentials, tested in tests/auth.rs.
            }
            let (status, answer) = app
                .call(Some(&s), &method.to_uppercase(), &call_path, body)
                .await;
            let text = answer.to_string();
            for marker in &v.markers {
                assert!(
                    !text.contains(marker.as_str()),
                    "{attacker}: {} {call_path} leaked {marker:?}: {text}",
                    method.to_uppercase()
                );
            }
            if let Some(allowed) = statuses {
                assert!(
                    allowed.contains(&status),
                    "{attacker}: {} {call_path} answered {status}, expected one of {allowed:?}: {text}",
                    method.to_uppercase()
                );
            }
            outcomes
                .entry(format!("{} {path}", method.to_uppercase()))
                .or_default()
                .push(status);
        }
    }
    // Open311 GeoReport v2 lives outside the OpenAPI document (it has its own specification), so
    // its routes are listed here by hand; every one is tried with each attacker's own api_key.
    const OPEN311: &[(&str, &str)] = &[
        ("GET", "/open311/v2/discovery.json"),
        ("GET", "/open311/v2/services.json"),
        ("GET", "/open311/v2/services/E0509.json"),
        ("GET", "/open311/v2/requests.json"),
        ("GET", "/open311/v2/requests/{victim}.json"),
        ("GET", "/open311/v2/tokens/{victim}.json"),
        ("POST", "/open311/v2/requests.json"),
    ];
    for attacker in attackers {
        let s = app.login(attacker).await;
        let (_, token) = app
            .call(
                Some(&s),
                "POST",
                "/api/v1/me/tokens",
                Some(json!({"name": "open311"})),
            )
            .await;
        let key = token["token"].as_str().unwrap().to_owned();
        for (method, path) in OPEN311 {
            let path = path.replace("{victim}", &v.case);
            let url = app.url(&format!("{path}?api_key={key}"));
            let resp = if *method == "POST" {
                // Another service than the victim's: the same problem at the same place would
                // join the victim's request by design (see the POST /api/v1/events rule).
                let (lon, lat) = common::point_in("440303001002");
                let form = [
                    ("api_key", key.clone()),
                    ("service_code", "E0101".into()),
                    ("lat", lat.to_string()),
                    ("long", lon.to_string()),
                    ("description", "attacker".into()),
                ];
                app.client
                    .post(app.url(&path))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            } else {
                app.client.get(url).send().await.unwrap()
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            for marker in &v.markers {
                assert!(
                    !text.contains(marker.as_str()),
                    "{attacker}: {method} {path} leaked {marker:?}: {text}"
                );
            }
            if path.contains(&v.case) {
                assert_eq!(status, 404, "{attacker}: {method} {path}: {text}");
            }
        }
    }

    // The printable certificate lives outside the OpenAPI document (it is a page): listed here.
    for attacker in attackers {
        let s = app.login(attacker).await;
        let resp = app
            .client
            .get(app.url(&format!("/certificates/{}/print", v.certificate)))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(
            status, 404,
            "{attacker}: the victim's certificate page: {text}"
        );
        for marker in &v.markers {
            assert!(
                !text.contains(marker.as_str()),
                "{attacker}: print page leaked {marker:?}"
            );
        }
    }
    // The victim's application and certificate are as she left them.
    let wang = app.login("13800138002").await;
    let (_, mine) = app
        .call(
            Some(&wang),
            "GET",
            &format!("/api/v1/services/certificates/{}", v.certificate),
            None,
        )
        .await;
    assert_eq!(mine["validity"], "valid", "{mine}");

    // Nothing the attackers tried took effect in 桂园.
    let admin = app.login("guiyuan.admin").await;
    let (_, accounts) = app
        .call(Some(&admin), "GET", "/api/v1/accounts", None)
        .await;
    let text = accounts.to_string();
    assert!(
        !text.contains("planted.by.attacker"),
        "an attacker created an account in 桂园"
    );
    let victim = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "victim.handler")
        .unwrap();
    assert_eq!(
        (victim["disabled"].as_bool(), victim["roles"].clone()),
        (Some(false), json!(["handler"]))
    );
    let (_, entities) = app
        .call(Some(&admin), "GET", "/api/v1/entities", None)
        .await;
    assert!(!entities.to_string().contains("planted entity"));
    let (_, device) = app
        .call(
            Some(&admin),
            "GET",
            &format!("/api/v1/devices/{}", v.device),
            None,
        )
        .await;
    assert_eq!(
        device["state"], "active",
        "an attacker changed 桂园's device: {device}"
    );
    let (_, alarm) = app
        .call(
            Some(&admin),
            "GET",
            &format!("/api/v1/alarms/{}", v.alarm),
            None,
        )
        .await;
    assert_eq!(
        alarm["status"], "active",
        "an attacker changed 桂园's alarm: {alarm}"
    );
    let token = Session {
        token: v.token_secret.clone(),
        csrf: String::new(),
        id: String::new(),
    };
    assert_eq!(
        app.call(Some(&token), "GET", "/api/v1/me", None).await.0,
        200,
        "the victim's token still works"
    );
    // The rules were really exercised: every route was called by every attacker.
    for (route, statuses) in &outcomes {
        assert_eq!(statuses.len(), attackers.len(), "{route}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn other_jurisdictions_see_nothing_on_sqlite() {
    isolation(common::spawn_app().await).await;
}

#[tokio::test]
async fn other_jurisdictions_see_nothing_on_postgres() {
    isolation(common::spawn_app_on_postgres("isolation").await).await;
}
