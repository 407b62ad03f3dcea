//! 一网通办 end to end, through HTTP against the demo server: the 80-year-old offered the
//! elderly allowance without asking and approved in one tap; the restaurant refused at once with
//! the failing rule named, corrected and approved; decisions replayed; models edited, validated
//! and versioned; manual review with correction; certificates signed, verified and revoked.

mod common;

use common::{Session, TestApp, spawn_app, spawn_app_on_postgres};
use serde_json::{Value, json};

const ELDERLY: &str = "0500001001";
const FOOD: &str = "0100007001";
const DISABILITY: &str = "0500012001";

async fn run_triggers(app: &TestApp) -> Value {
    let admin = app.login("district.admin").await;
    common::run_service_triggers(app, &admin).await
}

async fn offer_of(app: &TestApp, who: &Session, item: &str) -> Value {
    let (status, list) = app
        .call(Some(who), "GET", "/api/v1/services/applications", None)
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["item"] == item)
        .cloned()
        .unwrap_or_else(|| panic!("no application of {item}: {list}"))
}

/// POSTs a JSON body as `who`; status and JSON answer.
async fn post(app: &TestApp, who: &Session, path: &str, body: Value) -> (u16, Value) {
    app.call(Some(who), "POST", path, Some(body)).await
}

fn actions(app: &Value) -> Vec<String> {
    app["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["action"].as_str().unwrap(),
                s["to"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn an_eighty_year_old_is_offered_the_elderly_allowance_and_gets_it_in_one_tap() {
    let app = spawn_app().await;
    // Test servers run no triggers by themselves: this pass makes the offer.
    let first = run_triggers(&app).await;
    assert!(first["offered"].as_u64().unwrap() >= 1, "{first}");
    let again = run_triggers(&app).await;
    assert_eq!(
        again["offered"], 0,
        "offers are made once per event: {again}"
    );

    let wang = app.login("13800138002").await;
    let offer = offer_of(&app, &wang, ELDERLY).await;
    assert_eq!(offer["state"], "offered", "{offer}");
    assert_eq!(offer["allowed"], json!(["confirm", "decline"]));
    let (_, inbox) = app
        .call(Some(&wang), "GET", "/api/v1/notifications", None)
        .await;
    assert!(inbox.to_string().contains("service_offered"), "{inbox}");
    // Only one offer however many passes ran.
    let (_, list) = app
        .call(Some(&wang), "GET", "/api/v1/services/applications", None)
        .await;
    let offers = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["item"] == ELDERLY)
        .count();
    assert_eq!(offers, 1, "{list}");

    // One tap.
    let id = offer["id"].as_str().unwrap();
    let (status, done) = app
        .call(
            Some(&wang),
            "POST",
            &format!("/api/v1/services/applications/{id}/actions"),
            Some(json!({"action": "confirm"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "approved", "{done}");
    assert_eq!(
        actions(&done),
        [
            "create:offered",
            "offer:offered",
            "confirm:pending",
            "decide:approved"
        ][1..]
            .to_vec()
    );
    let certificate = done["certificate"]
        .as_str()
        .expect("a certificate")
        .to_owned();
    let decision = done["decision"].as_str().unwrap().to_owned();

    // The decision record: inputs from the registers (never asked), the version, the trace.
    let (status, d) = app
        .call(
            Some(&wang),
            "GET",
            &format!("/api/v1/services/decisions/{decision}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["approved"], true);
    assert_eq!(d["model_version"], 1);
    assert_eq!(d["inputs"]["applicant"]["age"], 80, "{d}");
    assert_eq!(d["inputs"]["applicant"]["hukou_in_district"], true);
    assert!(d["trace"].to_string().contains("rule_age"), "{d}");
    let (status, r) = app
        .call(
            Some(&wang),
            "POST",
            &format!("/api/v1/services/decisions/{decision}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (r["same"].clone(), r["approved"].clone()),
        (json!(true), json!(true)),
        "{r}"
    );

    // The certificate verifies publicly, with the holder masked.
    let (status, c) = app
        .call(
            Some(&wang),
            "GET",
            &format!("/api/v1/services/certificates/{certificate}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["validity"], "valid");
    assert_eq!(c["holder_name"], "王秀英");
    let (status, v) = app
        .call(
            None,
            "GET",
            &format!("/verify/{certificate}?format=json"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["validity"], "valid", "{v}");
    assert_eq!(v["holder_name"], "王**");
    let page = app
        .client
        .get(app.url(&format!("/verify/{certificate}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("有效 / valid") && !page.contains("王秀英"),
        "{page}"
    );
    let print = app
        .client
        .get(app.url(&format!("/certificates/{certificate}/print")))
        .bearer_auth(&wang.token)
        .send()
        .await
        .unwrap();
    assert_eq!(print.status(), 200);
    let print = print.text().await.unwrap();
    assert!(
        print.contains("<svg") && print.contains("王秀英"),
        "{print}"
    );

    // What the registers said about her, and why.
    let (_, log) = app
        .call(
            Some(&wang),
            "GET",
            "/api/v1/services/me/register-access",
            None,
        )
        .await;
    let purposes = log.to_string();
    assert!(
        purposes.contains("offer:0500001001") && purposes.contains(&format!("application:{id}")),
        "{log}"
    );

    // Another resident sees none of it.
    let li = app.login("13800138001").await;
    for path in [
        format!("/api/v1/services/applications/{id}"),
        format!("/api/v1/services/decisions/{decision}"),
        format!("/api/v1/services/certificates/{certificate}"),
    ] {
        let (status, _) = app.call(Some(&li), "GET", &path, None).await;
        assert_eq!(status, 404, "{path}");
    }

    // The department revokes it; verification says so.
    let reviewer = app.login("minzheng.reviewer").await;
    let (status, body) = app
        .call(
            Some(&reviewer),
            "POST",
            &format!("/api/v1/services/certificates/{certificate}/revoke"),
            Some(json!({"reason": "测试撤销"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, v) = app
        .call(
            None,
            "GET",
            &format!("/verify/{certificate}?format=json"),
            None,
        )
        .await;
    assert_eq!(v["validity"], "revoked", "{v}");
    app.stop().await.unwrap();
}

async fn restaurant(app: &TestApp) {
    let liu = app.login("13800138004").await;
    let (status, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    assert_eq!(status, 200, "{me}");
    let uscc = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    // The form asks only what no register holds.
    let (_, item) = app
        .call(None, "GET", &format!("/api/v1/services/items/{FOOD}"), None)
        .await;
    let asked: Vec<&str> = item["form"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        asked,
        [
            "form.premises_area",
            "form.health_certificates",
            "form.premises_address"
        ]
    );
    let (status, e) = app
        .call(
            Some(&liu),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": FOOD, "enterprise": uscc, "form": {"credit": "good"}})),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (400, json!("unknown_field")),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("registers"),
        "{e}"
    );

    let form = |area: f64| json!({"premises_area": area, "health_certificates": 2, "premises_address": "罗湖区东门北路1号（演示）"});
    let (status, refused) = app
        .call(
            Some(&liu),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": FOOD, "enterprise": uscc, "form": form(15.0)})),
        )
        .await;
    assert_eq!(status, 201, "{refused}");
    assert_eq!(refused["state"], "pending", "{refused}");
    assert_eq!(
        refused["failures"],
        json!(["经营场所面积须不少于20平方米 / the premises must be at least 20 m²"])
    );
    assert!(refused["certificate"].is_null());
    let id = refused["id"].as_str().unwrap();
    let first_decision = refused["decision"].as_str().unwrap().to_owned();

    // A register's fact cannot be slipped in with the correction either.
    let act = |body: Value| {
        let path = format!("/api/v1/services/applications/{id}/actions");
        let s = &liu;
        async move { app.call(Some(s), "POST", &path, Some(body)).await }
    };
    let (status, _) = act(json!({"action": "approve"})).await;
    assert_eq!(status, 403, "an applicant does not approve");
    let (status, passed) = act(json!({"action": "submit", "form": form(32.0)})).await;
    assert_eq!(status, 200, "{passed}");
    assert_eq!(passed["state"], "approved", "{passed}");
    assert_eq!(passed["failures"], json!([]));
    assert!(passed["certificate"].is_string());
    assert_eq!(
        actions(&passed),
        [
            "create:draft",
            "submit:pending",
            "decide:pending",
            "submit:pending",
            "decide:approved"
        ]
    );
    let (status, e) = act(json!({"action": "submit"})).await;
    assert_eq!(
        (status, e["error"]["allowed"].clone()),
        (409, json!(["rate"])),
        "{e}"
    );
    // The refusal replays to the same result.
    let (_, r) = app
        .call(
            Some(&liu),
            "POST",
            &format!("/api/v1/services/decisions/{first_decision}/replay"),
            None,
        )
        .await;
    assert_eq!(
        (r["same"].clone(), r["approved"].clone()),
        (json!(true), json!(false)),
        "{r}"
    );
    // Someone else's enterprise is not theirs to apply for.
    let zhang = app.login("13800138000").await;
    let (status, _) = app
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": FOOD, "enterprise": uscc, "form": form(40.0)})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_restaurant_is_refused_at_once_with_the_rule_named_corrects_and_passes() {
    let app = spawn_app().await;
    restaurant(&app).await;
    // 一网通办's store calls are timed like the rest.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("wanxiang_store_query_seconds")
            && metrics.contains("op=\"update_application\""),
        "{metrics}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_restaurant_story_on_postgres() {
    let app = spawn_app_on_postgres("services").await;
    restaurant(&app).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn models_are_validated_versioned_and_edited_only_by_their_admins() {
    let app = spawn_app().await;
    let admin = app.login("minzheng.admin").await;
    let path = format!("/api/v1/services/items/{ELDERLY}/model");
    let (status, m) = app.call(Some(&admin), "GET", &path, None).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        (m["version"].clone(), m["author"].clone()),
        (json!(1), json!("catalogue"))
    );
    let model = m["model"].clone();

    // Scripting is refused; so is a rule reading data the item does not have.
    let mut scripted = model.clone();
    scripted["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "js", "type": "functionNode", "name": "script", "content": {"source": "export const handler = () => ({})"}}));
    let (status, e) = app.call(Some(&admin), "PUT", &path, Some(scripted)).await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (400, json!("invalid_model")),
        "{e}"
    );
    let stranger = serde_json::from_str::<Value>(
        &model
            .to_string()
            .replace("applicant.already_receiving", "applicant.shoe_size"),
    )
    .unwrap();
    let (status, e) = app.call(Some(&admin), "PUT", &path, Some(stranger)).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shoe_size"),
        "{e}"
    );

    // A reviewer (not an admin) and another department may not edit it.
    for who in ["minzheng.reviewer", "shijian.reviewer", "guiyuan.admin"] {
        let s = app.login(who).await;
        let (status, _) = app.call(Some(&s), "PUT", &path, Some(model.clone())).await;
        assert_eq!(status, 403, "{who}");
    }
    let other = app.login("shijian.reviewer").await;
    let (status, _) = app.call(Some(&other), "GET", &path, None).await;
    assert_eq!(status, 403);

    // A valid change is version 2, in force from now on; version 1 stays readable.
    let stricter =
        serde_json::from_str::<Value>(&model.to_string().replace("null, < 80", "null, < 85"))
            .unwrap();
    let (status, saved) = app.call(Some(&admin), "PUT", &path, Some(stricter)).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    let (_, versions) = app
        .call(Some(&admin), "GET", &format!("{path}/versions"), None)
        .await;
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(versions[0]["author_name"], "民政局管理员（演示）");
    // An edit started from version 1 no longer saves; version 1 is still readable.
    let (status, e) = app
        .call(
            Some(&admin),
            "PUT",
            &format!("{path}?base=1"),
            Some(model.clone()),
        )
        .await;
    assert_eq!(status, 409, "{e}");
    let (_, v1) = app
        .call(Some(&admin), "GET", &format!("{path}?version=1"), None)
        .await;
    assert_eq!(v1["model"], model);
    // Under version 2 the 80-year-old is no longer offered (the same rules decide eligibility).
    let report = run_triggers(&app).await;
    let wang = app.login("13800138002").await;
    let (_, list) = app
        .call(Some(&wang), "GET", "/api/v1/services/applications", None)
        .await;
    let offered_now = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["item"] == ELDERLY)
        .count();
    assert_eq!(offered_now, 0, "{report}");
    assert!(report["not_eligible"].as_u64().unwrap() >= 1, "{report}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn manual_review_with_correction_and_the_roles_it_takes() {
    let app = spawn_app().await;
    let zhang = app.login("13800138000").await;
    let (status, a) = app
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": DISABILITY, "form": {"disability_level": "五级"}})),
        )
        .await;
    assert_eq!(status, 400, "a choice outside the list: {a}");
    let (status, a) = app
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": DISABILITY, "form": {"disability_level": "三级"}})),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["state"], "pending");
    assert!(a["due_at"].is_string(), "the promised deadline runs: {a}");
    let id = a["id"].as_str().unwrap().to_owned();
    let reviewer = app.login("minzheng.reviewer").await;
    let other = app.login("shijian.reviewer").await;
    // Nobody takes it up within its promised 15 working days: it is marked overdue once, and the
    // department and the district's supervisors are told.
    app.clock.advance(40 * 86_400_000);
    common::eventually(
        &app,
        &reviewer,
        &format!("/api/v1/services/applications/{id}"),
        |a| a["overdue"] == true,
    )
    .await;
    let supervisor = app.login("district.supervisor").await;
    for who in [&reviewer, &supervisor] {
        let (_, inbox) = app
            .call(Some(who), "GET", "/api/v1/notifications", None)
            .await;
        let n = inbox.to_string().matches("service_overdue").count();
        assert_eq!(n, 1, "{inbox}");
    }
    let (_, a) = app
        .call(
            Some(&zhang),
            "GET",
            &format!("/api/v1/services/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(
        actions(&a),
        ["create:draft", "submit:pending", "overdue:pending"]
    );
    let path = format!("/api/v1/services/applications/{id}/actions");
    macro_rules! act {
        ($who:expr, $body:expr $(,)?) => {
            post(&app, $who, &path, $body)
        };
    }
    assert_eq!(act!(&zhang, json!({"action": "accept"})).await.0, 403);
    assert_eq!(act!(&other, json!({"action": "accept"})).await.0, 404);
    let (status, r) = act!(&reviewer, json!({"action": "accept"})).await;
    assert_eq!((status, r["state"].clone()), (200, json!("review")), "{r}");
    let (status, e) = act!(&reviewer, json!({"action": "return"})).await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("note")),
        "{e}"
    );
    let (status, r) = act!(
        &reviewer,
        json!({"action": "return", "note": "请补充残疾人证照片"}),
    )
    .await;
    assert_eq!(
        (status, r["state"].clone()),
        (200, json!("correction")),
        "{r}"
    );
    let (_, inbox) = app
        .call(Some(&zhang), "GET", "/api/v1/notifications", None)
        .await;
    assert!(inbox.to_string().contains("service_correction"), "{inbox}");
    let (status, r) = act!(
        &zhang,
        json!({"action": "submit", "form": {"disability_level": "二级"}}),
    )
    .await;
    assert_eq!((status, r["state"].clone()), (200, json!("pending")), "{r}");
    assert_eq!(r["form"]["disability_level"], "二级");
    act!(&reviewer, json!({"action": "accept"})).await;
    let (status, r) = act!(&reviewer, json!({"action": "approve"})).await;
    assert_eq!(
        (status, r["state"].clone()),
        (200, json!("approved")),
        "{r}"
    );
    assert_eq!(
        actions(&r),
        [
            "create:draft",
            "submit:pending",
            "overdue:pending",
            "accept:review",
            "return:correction",
            "submit:pending",
            "accept:review",
            "approve:approved"
        ]
    );
    // 好差评: the applicant rates it once; a bad rating opens a follow-up case in the event hub.
    assert_eq!(
        act!(&reviewer, json!({"action": "rate", "level": "satisfied"}))
            .await
            .0,
        403
    );
    let (status, e) = act!(&zhang, json!({"action": "rate", "level": "so-so"})).await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("level")),
        "{e}"
    );
    let (status, rated) = act!(
        &zhang,
        json!({"action": "rate", "level": "unsatisfied", "note": "等了太久"}),
    )
    .await;
    assert_eq!(status, 200, "{rated}");
    let note = rated["history"].as_array().unwrap().last().unwrap()["note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.starts_with("不满意：等了太久；差评回访案件 / follow-up case "),
        "{note}"
    );
    let case_id = note.rsplit(' ').next().unwrap().to_owned();
    let (status, case) = app
        .call(
            Some(&zhang),
            "GET",
            &format!("/api/v1/events/{case_id}"),
            None,
        )
        .await;
    assert_eq!(
        status, 200,
        "the applicant follows the follow-up case: {case}"
    );
    assert!(
        case["description"]
            .as_str()
            .unwrap()
            .contains("【好差评回访】"),
        "{case}"
    );
    assert_eq!(
        case["stage"], "registered",
        "waiting for a dispatcher: {case}"
    );
    let (status, e) = act!(&zhang, json!({"action": "rate", "level": "very_satisfied"})).await;
    assert_eq!(
        (status, e["error"]["allowed"].clone()),
        (409, json!([])),
        "once: {e}"
    );

    // The department lists it; another department does not.
    let (_, mine) = app
        .call(
            Some(&reviewer),
            "GET",
            "/api/v1/services/applications",
            None,
        )
        .await;
    assert!(mine.to_string().contains(&id));
    let (_, theirs) = app
        .call(Some(&other), "GET", "/api/v1/services/applications", None)
        .await;
    assert!(!theirs.to_string().contains(&id));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_new_parent_completes_the_birth_bundle_in_one_form() {
    let app = spawn_app().await;
    let chen = app.login("13800138003").await;
    let (status, bundle) = app
        .call(None, "GET", "/api/v1/services/bundles/birth", None)
        .await;
    assert_eq!(status, 200, "{bundle}");
    // Four items, one form: each field asked once.
    assert_eq!(bundle["items"].as_array().unwrap().len(), 4);
    let asked: Vec<&str> = bundle["form"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        asked,
        ["form.mailing_address"],
        "the child's name is in the birth register"
    );

    // An incomplete form stores nothing.
    let (status, e) = app
        .call(
            Some(&chen),
            "POST",
            "/api/v1/services/bundles/birth/applications",
            Some(json!({"form": {}})),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].clone()),
        (400, json!("missing_field")),
        "{e}"
    );
    let (_, none) = app
        .call(Some(&chen), "GET", "/api/v1/services/applications", None)
        .await;
    assert_eq!(
        none,
        json!([]),
        "no triggers ran yet, and the bad form stored nothing"
    );

    // The registered birth also offered her the maternity allowance, without asking.
    run_triggers(&app).await;
    let offer = offer_of(&app, &chen, "0500018001").await;
    assert_eq!(offer["state"], "offered", "{offer}");

    let (status, done) = app
        .call(
            Some(&chen),
            "POST",
            "/api/v1/services/bundles/birth/applications",
            Some(json!({"form": {"mailing_address": "罗湖区桂园路1号（演示）"}})),
        )
        .await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(done["state"], "approved", "{done}");
    let members = done["members"].as_array().unwrap();
    assert_eq!(members.len(), 4);
    for m in members {
        assert_eq!(m["state"], "approved", "{m}");
        assert!(m["certificate"].is_string(), "{m}");
        let (_, d) = app
            .call(
                Some(&chen),
                "GET",
                &format!(
                    "/api/v1/services/decisions/{}",
                    m["decision"].as_str().unwrap()
                ),
                None,
            )
            .await;
        assert_eq!(
            d["inputs"]["birth"]["child_name"], "陈小雨",
            "from the register: {d}"
        );
    }
    // Each department decided its own item.
    let departments: Vec<&str> = members
        .iter()
        .map(|m| m["department"].as_str().unwrap())
        .collect();
    assert_eq!(
        departments,
        ["440303D09", "440303D11", "440303D10", "440303D12"]
    );
    let id = done["id"].as_str().unwrap();
    let (status, again) = app
        .call(
            Some(&chen),
            "GET",
            &format!("/api/v1/services/bundle-applications/{id}"),
            None,
        )
        .await;
    assert_eq!((status, again["state"].clone()), (200, json!("approved")));
    let li = app.login("13800138001").await;
    let (status, _) = app
        .call(
            Some(&li),
            "GET",
            &format!("/api/v1/services/bundle-applications/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn opening_a_restaurant_in_one_form_registers_the_business_and_its_licences() {
    let app = spawn_app().await;
    let zhang = app.login("13800138000").await;
    let (_, me) = app
        .call(Some(&zhang), "GET", "/api/v1/services/me", None)
        .await;
    assert_eq!(me["enterprises"], json!([]), "{me}");
    let form = json!({
        "business_name": "张三小吃店（演示）", "business_scope": "餐饮服务",
        "premises_address": "罗湖区东门中路2号（演示）", "premises_area": 25, "health_certificates": 1,
        "sign_width_m": 4, "sign_height_m": 1, "illuminated": false
    });
    let (status, done) = app
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/bundles/restaurant/applications",
            Some(json!({ "form": form })),
        )
        .await;
    assert_eq!(status, 201, "{done}");
    let members = done["members"].as_array().unwrap();
    let summary: Vec<(String, String)> = members
        .iter()
        .map(|m| {
            (
                m["item"].as_str().unwrap().into(),
                m["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("0100008001".to_string(), "approved".to_string()),
            ("0100007001".into(), "approved".into()),
            ("0100009001".into(), "approved".into())
        ],
        "{done}"
    );
    assert_eq!(done["state"], "approved");
    // The business licence registered the enterprise the later licences were issued to.
    let (_, me) = app
        .call(Some(&zhang), "GET", "/api/v1/services/me", None)
        .await;
    let uscc = me["enterprises"][0]["uscc"]
        .as_str()
        .expect("a new enterprise")
        .to_owned();
    assert_eq!(me["enterprises"][0]["name"], "张三小吃店（演示）");
    assert_eq!(members[1]["enterprise"], uscc.as_str());
    assert_eq!(members[2]["enterprise"], uscc.as_str());
    // The shared field was asked once and reached both items.
    assert_eq!(
        members[0]["form"]["premises_address"],
        members[1]["form"]["premises_address"]
    );

    // A licence granted: the seal registration is offered without asking.
    let report = run_triggers(&app).await;
    assert!(report["offered"].as_u64().unwrap() >= 1, "{report}");
    offer_of(&app, &zhang, "1000022001").await;

    // A shop whose scope has no catering: its food licence is not approved at once, and says why.
    let li = app.login("13800138001").await;
    let mut retail = form.clone();
    retail["business_name"] = json!("李四便利店（演示）");
    retail["business_scope"] = json!("日用百货零售");
    let (status, partly) = app
        .call(
            Some(&li),
            "POST",
            "/api/v1/services/bundles/restaurant/applications",
            Some(json!({ "form": retail })),
        )
        .await;
    assert_eq!(status, 201, "{partly}");
    assert_eq!(partly["state"], "in_progress");
    assert_eq!(
        partly["members"][1]["failures"],
        json!(["营业执照经营范围须含餐饮服务 / the business scope must include catering"])
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_enterprise_desk_tracks_a_key_enterprises_problem_to_solved() {
    let app = spawn_app().await;
    let liu = app.login("13800138004").await;
    let (_, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    let uscc = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    let five = json!({"leader": "区领导甲（演示）", "lead_department": "440303D08", "lead_official": "市场监管局乙（演示）",
        "team": "市场监管、城管、街道专班（演示）", "street_contact": "桂园街道丙（演示）", "street": "440303001"});
    // Only district admins designate.
    let reviewer = app.login("shijian.reviewer").await;
    let path = format!("/api/v1/services/desk/{uscc}");
    let (status, _) = app
        .call(Some(&reviewer), "PUT", &path, Some(five.clone()))
        .await;
    assert_eq!(status, 403);
    let admin = app.login("district.admin").await;
    let mut bad = five.clone();
    bad["street"] = json!("440303001001");
    let (status, e) = app.call(Some(&admin), "PUT", &path, Some(bad)).await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("street")),
        "{e}"
    );
    let (status, k) = app.call(Some(&admin), "PUT", &path, Some(five)).await;
    assert_eq!(status, 200, "{k}");

    // The owner raises a problem: a case, urgent, waiting for a dispatcher with the lead department named.
    let (status, p) = app
        .call(
            Some(&liu),
            "POST",
            &format!("{path}/problems"),
            Some(json!({"description": "门前道路施工围挡影响经营，希望协调缩短工期"})),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    let case = p["case_id"].as_str().unwrap().to_owned();
    // Who sees the key enterprise: its lead department and street, not another department.
    for (who, sees) in [
        ("shijian.reviewer", true),
        ("guiyuan.admin", true),
        ("chengguan.handler", false),
        ("huangbei.admin", false),
        ("13800138000", false),
    ] {
        let s = app.login(who).await;
        let (_, list) = app
            .call(Some(&s), "GET", "/api/v1/services/desk", None)
            .await;
        assert_eq!(list.to_string().contains(&uscc), sees, "{who}: {list}");
        let (status, _) = app
            .call(
                Some(&s),
                "POST",
                &format!("{path}/problems"),
                Some(json!({"description": "x"})),
            )
            .await;
        assert_eq!(status == 201, sees, "{who} raising a problem");
    }

    // The hub takes it from there: dispatched to the lead department, handled, verified, rated.
    let path = format!("/api/v1/events/{case}/actions");
    macro_rules! act {
        ($who:expr, $body:expr $(,)?) => {
            post(&app, $who, &path, $body)
        };
    }
    let dispatcher = app.login("district.dispatcher").await;
    let (status, c) = act!(
        &dispatcher,
        json!({"action": "dispatch", "to": "440303D08"}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    for action in [
        json!({"action": "accept"}),
        json!({"action": "start"}),
        json!({"action": "handle", "note": "已协调施工方缩短工期（演示）"}),
    ] {
        let (status, c) = act!(&reviewer, action).await;
        assert_eq!(status, 200, "{c}");
    }
    let supervisor = app.login("district.supervisor").await;
    let (status, c) = act!(&supervisor, json!({"action": "verify", "pass": true})).await;
    assert_eq!((status, c["stage"].clone()), (200, json!("closed")), "{c}");
    let (status, c) = act!(
        &liu,
        json!({"action": "rate", "level": "satisfied", "resolved": true}),
    )
    .await;
    assert_eq!(status, 200, "{c}");

    let (_, report) = app
        .call(Some(&admin), "GET", "/api/v1/services/desk/report", None)
        .await;
    assert_eq!(report["enterprises"], 1, "{report}");
    // Three problems: the owner's, the lead department's and the street's; one solved.
    assert_eq!(
        (
            report["problems"].clone(),
            report["solved"].clone(),
            report["satisfaction_rate"].clone()
        ),
        (json!(3), json!(1), json!(1.0)),
        "{report}"
    );
    let (_, theirs) = app
        .call(Some(&liu), "GET", "/api/v1/services/desk", None)
        .await;
    assert_eq!(theirs[0]["solved"], 1, "{theirs}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_countersigned_item_is_approved_by_both_departments() {
    let app = spawn_app().await;
    let liu = app.login("13800138004").await;
    let (_, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    let uscc = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    let (status, a) = app
        .call(
            Some(&liu),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": "0100014001", "enterprise": uscc,
                "form": {"site_address": "罗湖区翠竹路工地（演示）", "volume_m3": 300}})),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["countersign"], "440303D03");
    let id = a["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/services/applications/{id}/actions");
    let chengguan = app.login("chengguan.handler").await;
    let zhujian = app.login("zhujian.reviewer").await;
    // Both departments see it; the countersigning one acts only in its turn.
    let (status, _) = app
        .call(
            Some(&zhujian),
            "GET",
            &format!("/api/v1/services/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            Some(&zhujian),
            "POST",
            &path,
            Some(json!({"action": "accept"})),
        )
        .await;
    assert_eq!(status, 403);
    for action in ["accept", "approve"] {
        let (status, r) = app
            .call(
                Some(&chengguan),
                "POST",
                &path,
                Some(json!({"action": action})),
            )
            .await;
        assert_eq!(status, 200, "{r}");
    }
    let (_, r) = app
        .call(
            Some(&liu),
            "GET",
            &format!("/api/v1/services/applications/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (r["state"].clone(), r["certificate"].clone()),
        (json!("countersign"), Value::Null)
    );
    let (status, _) = app
        .call(
            Some(&chengguan),
            "POST",
            &path,
            Some(json!({"action": "approve"})),
        )
        .await;
    assert_eq!(
        status, 403,
        "the first department does not countersign for the second"
    );
    let (_, listed) = app
        .call(
            Some(&zhujian),
            "GET",
            "/api/v1/services/applications?state=countersign",
            None,
        )
        .await;
    assert!(listed.to_string().contains(&id), "{listed}");
    let (status, r) = app
        .call(
            Some(&zhujian),
            "POST",
            &path,
            Some(json!({"action": "approve"})),
        )
        .await;
    assert_eq!(
        (status, r["state"].clone()),
        (200, json!("approved")),
        "{r}"
    );
    assert!(r["certificate"].is_string());
    assert_eq!(
        actions(&r),
        [
            "create:draft",
            "submit:pending",
            "accept:review",
            "approve:countersign",
            "approve:approved"
        ]
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reviewer_delegates_an_application_to_a_colleague() {
    let app = spawn_app().await;
    // A second reviewer of 区民政局.
    let admin = app.login("minzheng.admin").await;
    let (status, created) = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/accounts",
            Some(json!({"username": "minzheng.reviewer2", "display_name": "民政局审批人员二（测试）",
                "password": "reviewer-password-2", "org": {"department": "440303D07"}, "roles": ["handler"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let login = |username: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            Session {
                token: body["token"].as_str().unwrap().into(),
                csrf: String::new(),
                id: body["account"]["id"].as_str().unwrap().into(),
            }
        }
    };
    let second = login("minzheng.reviewer2", "reviewer-password-2").await;
    let first = app.login("minzheng.reviewer").await;
    let zhang = app.login("13800138000").await;
    let (_, a) = app
        .call(
            Some(&zhang),
            "POST",
            "/api/v1/services/applications",
            Some(json!({"item": DISABILITY, "form": {"disability_level": "三级"}})),
        )
        .await;
    let path = format!(
        "/api/v1/services/applications/{}/actions",
        a["id"].as_str().unwrap()
    );
    // Only to a reviewer of the same department.
    let (status, e) = app
        .call(
            Some(&first),
            "POST",
            &path,
            Some(json!({"action": "delegate", "to": "shijian.reviewer"})),
        )
        .await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("to")),
        "{e}"
    );
    let (status, d) = app
        .call(
            Some(&first),
            "POST",
            &path,
            Some(json!({"action": "delegate", "to": "minzheng.reviewer2"})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["assignee"], second.id.as_str());
    // Now only the delegate (and the department's admins) act on it.
    let (status, _) = app
        .call(
            Some(&first),
            "POST",
            &path,
            Some(json!({"action": "accept"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, r) = app
        .call(
            Some(&second),
            "POST",
            &path,
            Some(json!({"action": "accept"})),
        )
        .await;
    assert_eq!((status, r["state"].clone()), (200, json!("review")), "{r}");
    let (status, r) = app
        .call(
            Some(&admin),
            "POST",
            &path,
            Some(json!({"action": "approve"})),
        )
        .await;
    assert_eq!(
        (status, r["state"].clone()),
        (200, json!("approved")),
        "{r}"
    );
    assert!(actions(&r).contains(&"delegate:pending".to_string()), "{r}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_submission_whose_node_stopped_before_the_decision_is_decided_later() {
    let app = spawn_app().await;
    let liu = app.login("13800138004").await;
    let (_, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    let uscc = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    // What a node leaves behind when it dies between storing a submission and deciding it: an
    // application waiting for the rules (written here straight into the store).
    let store = wanxiang_store_sqlite::SqliteStore::open(app.db_path().to_str().unwrap())
        .await
        .unwrap();
    use wanxiang_api::clock::Clock;
    let now = app.clock.now_ms();
    let person = store_person_of(&store, "13800138004").await;
    let record = wanxiang_store::services::ApplicationRecord {
        id: "stuck-application".into(),
        item: FOOD.into(),
        department: "440303D08".into(),
        mode: "instant".into(),
        state: "pending".into(),
        deciding: true,
        person,
        enterprise: Some(uscc),
        account: Some(liu.id.clone()),
        form: json!({"premises_area": 40, "health_certificates": 3, "premises_address": "x"})
            .to_string(),
        offer_key: None,
        bundle: None,
        created_at: now,
        updated_at: now,
        due_at: None,
        decision: None,
        certificate: None,
        rating: None,
        version: 0,
        overdue: false,
        countersign: None,
        assignee: None,
    };
    use wanxiang_store::Store;
    let step = wanxiang_store::services::ApplicationStep {
        at: now,
        actor: liu.id.clone(),
        role: "applicant".into(),
        action: "submit".into(),
        from: "draft".into(),
        to: "pending".into(),
        note: None,
    };
    assert!(
        store
            .services()
            .create_application(&record, &step)
            .await
            .unwrap()
    );
    // And one that cannot be decided by its rules (its applicant is not in the register): it
    // must go to review saying why, not wait for ever nor hold up the other.
    let orphan = wanxiang_store::services::ApplicationRecord {
        id: "orphan-application".into(),
        person: "not-in-the-register".into(),
        ..record.clone()
    };
    assert!(
        store
            .services()
            .create_application(&orphan, &step)
            .await
            .unwrap()
    );
    // A minute later a worker decides it.
    app.clock.advance(61_000);
    let done = common::eventually(
        &app,
        &liu,
        "/api/v1/services/applications/stuck-application",
        |a| a["state"] == "approved",
    )
    .await;
    assert!(done["certificate"].is_string(), "{done}");
    let admin = app.login("district.admin").await;
    let sent = common::eventually(
        &app,
        &admin,
        "/api/v1/services/applications/orphan-application",
        |a| a["state"] == "pending",
    )
    .await;
    assert!(
        sent["history"].to_string().contains("规则无法判定"),
        "{sent}"
    );
    app.stop().await.unwrap();
}

async fn store_person_of(store: &wanxiang_store_sqlite::SqliteStore, phone: &str) -> String {
    use wanxiang_store::Store;
    store
        .services()
        .person_by_phone(phone)
        .await
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn register_look_ups_need_a_purpose_and_are_logged() {
    let app = spawn_app().await;
    let liu = app.login("13800138004").await;
    let (_, me) = app
        .call(Some(&liu), "GET", "/api/v1/services/me", None)
        .await;
    let uscc = me["enterprises"][0]["uscc"].as_str().unwrap().to_owned();
    let reviewer = app.login("shijian.reviewer").await;
    let path = format!("/api/v1/registers/enterprises/{uscc}");
    let (status, e) = app.call(Some(&reviewer), "GET", &path, None).await;
    assert_eq!(
        (status, e["error"]["field"].clone()),
        (400, json!("purpose")),
        "{e}"
    );
    let (status, r) = app
        .call(
            Some(&reviewer),
            "GET",
            &format!("{path}?purpose=review:food-licence"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["record"]["credit"], "good");
    let holder = r["record"]["legal_rep"].as_str().unwrap().to_owned();
    let (status, person) = app
        .call(
            Some(&reviewer),
            "GET",
            &format!("/api/v1/registers/people/{holder}?purpose=review:food-licence"),
            None,
        )
        .await;
    assert_eq!(
        (status, person["record"]["name"].clone()),
        (200, json!("刘强")),
        "{person}"
    );
    // Residents and streets do not look up the registers.
    for who in ["13800138000", "guiyuan.admin"] {
        let s = app.login(who).await;
        let (status, _) = app
            .call(Some(&s), "GET", &format!("{path}?purpose=curious"), None)
            .await;
        assert_eq!(status, 403, "{who}");
    }
    // The log: who looked, and why; the person sees it too.
    let admin = app.login("district.admin").await;
    let (status, log) = app
        .call(
            Some(&admin),
            "GET",
            &format!("/api/v1/registers/access?subject={uscc}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(log[0]["purpose"], "review:food-licence", "{log}");
    assert_eq!(log[0]["account"], reviewer.id.as_str());
    let (_, mine) = app
        .call(
            Some(&liu),
            "GET",
            "/api/v1/services/me/register-access",
            None,
        )
        .await;
    assert!(mine.to_string().contains("review:food-licence"), "{mine}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_licence_about_to_expire_offers_its_renewal_once() {
    let app = spawn_app().await;
    restaurant(&app).await; // 刘强's restaurant now holds a food licence, valid five years.
    let liu = app.login("13800138004").await;
    let report = run_triggers(&app).await;
    let (_, list) = app
        .call(Some(&liu), "GET", "/api/v1/services/applications", None)
        .await;
    assert!(
        !list.to_string().contains("0100021001"),
        "not yet: {report} {list}"
    );
    // Five years less a month later, the renewal is offered to the enterprise, once.
    app.clock.advance((5 * 365 - 30) * 86_400_000);
    run_triggers(&app).await;
    let offer = offer_of(&app, &liu, "0100021001").await;
    assert_eq!(offer["state"], "offered", "{offer}");
    assert!(offer["enterprise"].is_string());
    let again = run_triggers(&app).await;
    let (_, list) = app
        .call(Some(&liu), "GET", "/api/v1/services/applications", None)
        .await;
    let renewals = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["item"] == "0100021001")
        .count();
    assert_eq!(renewals, 1, "{again}");
    // One tap: its rules see the licence it holds and its credit.
    let (status, done) = app
        .call(
            Some(&liu),
            "POST",
            &format!(
                "/api/v1/services/applications/{}/actions",
                offer["id"].as_str().unwrap()
            ),
            Some(json!({"action": "confirm"})),
        )
        .await;
    assert_eq!(
        (status, done["state"].clone()),
        (200, json!("approved")),
        "{done}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_deployment_replaces_the_catalogue_with_its_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("models")).unwrap();
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/data/services/models/elderly_allowance.json"
    );
    std::fs::copy(shipped, dir.path().join("models/allowance.json")).unwrap();
    let item = r#"
[[item]]
code = "0500001001"
name_zh = "高龄津贴申领"
name_en = "Elderly allowance"
department = "440303D07"
legal_basis = "《中华人民共和国老年人权益保障法》第三十三条"
applicant = "resident"
mode = "instant"
time_limit_days = 5
model = "allowance.json"
fields = [
  { key = "applicant.age", zh = "年龄", en = "Age", kind = "number", source = "person.age" },
  { key = "applicant.hukou_in_district", zh = "本区户籍", en = "Hukou", kind = "bool", source = "person.hukou_in_district" },
  { key = "applicant.already_receiving", zh = "已领取", en = "Receiving", kind = "bool", source = "person.receives_elderly_allowance" },
  { key = "applicant.bank_card", zh = "社保卡", en = "Card", kind = "bool", source = "person.has_social_security_card" },
]
"#;
    let file = dir.path().join("catalogue.toml");
    std::fs::write(&file, item).unwrap();
    let path = file.display().to_string();
    let app = common::spawn_app_with(|c| c.services.catalogue_file = path).await;
    let (_, items) = app.call(None, "GET", "/api/v1/services/items", None).await;
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0]["demo"], false,
        "a deployment's own items are not demo content"
    );
    app.stop().await.unwrap();

    // A model that reads what the item does not have stops the start, saying why.
    std::fs::write(&file, item.replace("applicant.bank_card", "applicant.card")).unwrap();
    let mut config = wanxiang::config::Config::default();
    config.services.catalogue_file = file.display().to_string();
    let err = wanxiang::serve::load_services(&config)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("applicant.bank_card"), "{err}");
}
