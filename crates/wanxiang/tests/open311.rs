//! Open311 GeoReport v2 as an ordinary client uses it: discovery, services, posting a request
//! form-encoded with an api_key, reading it back in JSON and XML, and the error form. JSON answers
//! are checked against the community's JSON Schemas in `shared/open311-schemas`.

mod common;

use common::{point_in, spawn_app};
use serde_json::Value;
use wanxiang_api::demo::DEMO_OPEN311_KEY;

fn schema(name: &str) -> Value {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/open311-schemas");
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

/// Checks the subset of JSON Schema these schemas use: required keys, types (with anyOf null),
/// enums and maxLength, on each item of an array.
fn check_items(items: &Value, item_schema: &Value, what: &str) {
    let array = items
        .as_array()
        .unwrap_or_else(|| panic!("{what}: not an array: {items}"));
    assert!(!array.is_empty(), "{what}: empty");
    for item in array {
        for key in item_schema["required"].as_array().into_iter().flatten() {
            assert!(
                item.get(key.as_str().unwrap()).is_some(),
                "{what}: missing {key} in {item}"
            );
        }
        for (key, rule) in item_schema["properties"].as_object().unwrap() {
            let Some(v) = item.get(key) else { continue };
            let alternatives: Vec<&Value> = match rule.get("anyOf") {
                Some(any) => any.as_array().unwrap().iter().collect(),
                None => vec![rule],
            };
            let ok = alternatives.iter().any(|alt| {
                let type_ok = match alt["type"].as_str() {
                    Some("string") => v.is_string(),
                    Some("boolean") => v.is_boolean(),
                    Some("number") => v.is_number(),
                    Some("null") => v.is_null(),
                    Some("array") => v.is_array(),
                    Some("object") => v.is_object(),
                    _ => true,
                };
                let enum_ok = alt
                    .get("enum")
                    .is_none_or(|e| e.as_array().unwrap().contains(v));
                let len_ok = alt.get("maxLength").is_none_or(|m| {
                    v.as_str()
                        .is_none_or(|s| s.chars().count() as u64 <= m.as_u64().unwrap())
                });
                type_ok && enum_ok && len_ok
            });
            assert!(ok, "{what}: {key} = {v} breaks {rule}");
        }
    }
}

#[tokio::test]
async fn a_georeport_client_reports_and_follows_a_request() {
    let app = spawn_app().await;
    let get = |path: String| {
        let client = app.client.clone();
        let url = app.url(&path);
        async move {
            let r = client.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
            (status, ctype, r.text().await.unwrap())
        }
    };
    let (status, ctype, body) = get("/open311/v2/discovery.xml".into()).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/xml"));
    assert!(
        body.contains("<discovery>") && body.contains("<format>application/json</format>"),
        "{body}"
    );

    let (_, _, services) = get("/open311/v2/services.json".into()).await;
    let services: Value = serde_json::from_str(&services).unwrap();
    check_items(&services, &schema("service.json"), "services");
    let flood = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "L0102")
        .unwrap();
    assert_eq!(
        (flood["service_name"].as_str(), flood["metadata"].as_bool()),
        (Some("内涝积水"), Some(true))
    );
    let (_, _, def) = get("/open311/v2/services/L0102.json".into()).await;
    let def: Value = serde_json::from_str(&def).unwrap();
    check_items(
        &Value::Array(vec![def.clone()]),
        &schema("service-definition.json"),
        "definition",
    );
    assert_eq!(def["attributes"][0]["code"], "water_depth_cm");
    let (_, _, xml) = get("/open311/v2/services.xml".into()).await;
    assert!(
        xml.starts_with("<?xml") && xml.contains("<services><service><service_code>"),
        "{}",
        &xml[..200]
    );

    // POST, form-encoded, as the specification has it.
    let (lon, lat) = point_in("440303002001");
    let form = [
        ("api_key", DEMO_OPEN311_KEY.to_owned()),
        ("service_code", "L0102".to_owned()),
        ("lat", lat.to_string()),
        ("long", lon.to_string()),
        ("description", "地下通道积水，行人无法通过".to_owned()),
        ("attribute[water_depth_cm]", "30".to_owned()),
        ("phone", "13700000000".to_owned()),
    ];
    let r = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, _, one) = get(format!(
        "/open311/v2/requests/{id}.json?api_key={DEMO_OPEN311_KEY}"
    ))
    .await;
    assert_eq!(status, 200);
    let one: Value = serde_json::from_str(&one).unwrap();
    check_items(&one, &schema("request.json"), "request");
    let r = &one[0];
    assert_eq!(
        (r["status"].as_str(), r["agency_responsible"].as_str()),
        (Some("open"), Some("440303D02"))
    );
    assert!(r["expected_datetime"].as_str().unwrap().ends_with('Z'));
    assert!(
        r["description"]
            .as_str()
            .unwrap()
            .contains("water_depth_cm=30")
    );
    assert!(
        r.get("phone").is_none() && !one.to_string().contains("13700000000"),
        "contacts stay private"
    );

    let (_, ctype, xml) = get(format!(
        "/open311/v2/requests/{id}.xml?api_key={DEMO_OPEN311_KEY}"
    ))
    .await;
    assert!(ctype.starts_with("text/xml"));
    assert!(
        xml.contains(&format!(
            "<service_requests><request><service_request_id>{id}</service_request_id>"
        )),
        "{xml}"
    );
    let (_, _, list) = get(format!(
        "/open311/v2/requests.json?api_key={DEMO_OPEN311_KEY}&service_code=L0102&status=open"
    ))
    .await;
    assert!(list.contains(&id));
    let (_, _, closed) = get(format!(
        "/open311/v2/requests.json?api_key={DEMO_OPEN311_KEY}&status=closed"
    ))
    .await;
    assert_eq!(closed, "[]");
    let (_, _, tok) = get(format!(
        "/open311/v2/tokens/{id}.json?api_key={DEMO_OPEN311_KEY}"
    ))
    .await;
    assert!(tok.contains(&id));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn errors_take_the_georeport_form() {
    let app = spawn_app().await;
    let (lon, lat) = point_in("440303002001");
    let post = |fields: Vec<(&'static str, String)>, ext: &'static str| {
        let client = app.client.clone();
        let url = app.url(&format!("/open311/v2/requests.{ext}"));
        async move {
            let r = client.post(url).form(&fields).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let key = || ("api_key", DEMO_OPEN311_KEY.to_owned());
    let base = |code: &str| {
        vec![
            ("service_code", code.to_owned()),
            ("lat", lat.to_string()),
            ("long", lon.to_string()),
            ("description", "x".to_owned()),
        ]
    };
    let cases: Vec<(Vec<(&'static str, String)>, u16)> = vec![
        (base("L0102"), 403),
        (
            [vec![("api_key", "wxp_wrong".to_owned())], base("L0102")].concat(),
            403,
        ),
        ([vec![key()], base("X9999")].concat(), 400),
        (
            [
                vec![key()],
                vec![
                    ("service_code", "L0102".to_owned()),
                    ("description", "no place".to_owned()),
                ],
            ]
            .concat(),
            400,
        ),
        (
            [
                vec![key()],
                base("L0102"),
                vec![("attribute[color]", "red".to_owned())],
            ]
            .concat(),
            400,
        ),
        (
            [
                vec![key()],
                vec![
                    ("service_code", "L0102".to_owned()),
                    ("lat", "39.9".to_owned()),
                    ("long", "116.4".to_owned()),
                    ("description", "北京".to_owned()),
                ],
            ]
            .concat(),
            400,
        ),
    ];
    for (fields, status) in cases {
        let (got, body) = post(fields.clone(), "json").await;
        assert_eq!(got, status, "{fields:?}: {body}");
        let errors: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            errors[0]["code"].as_u64(),
            Some(u64::from(status)),
            "{body}"
        );
        assert!(errors[0]["description"].is_string());
    }
    let (status, xml) = post(base("L0102"), "xml").await;
    assert_eq!(status, 403);
    assert!(
        xml.contains("<errors><error><code>403</code><description>"),
        "{xml}"
    );
    let r = app
        .client
        .get(app.url(&format!(
            "/open311/v2/requests.json?api_key={DEMO_OPEN311_KEY}&status=pending"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .get(app.url(&format!(
            "/open311/v2/requests/nope.json?api_key={DEMO_OPEN311_KEY}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app
        .client
        .get(app.url("/open311/v2/requests.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "requests are records of a jurisdiction: a key is needed"
    );
    app.stop().await.unwrap();
}
