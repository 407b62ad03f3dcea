//! The rest of the event hub through HTTP: duplicate reports linked and unlinked, photos with
//! type and size checks, the webhook with retries and a dead-letter list, early warnings, the
//! paused clock of a suspended case, and 解决率 / p90 in the stats.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Session, TestApp, point_in, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

async fn report(app: &TestApp, who: &Session, body: Value) -> (u16, Value) {
    app.call(Some(who), "POST", "/api/v1/events", Some(body))
        .await
}

/// A case as `who` reads it.
async fn detail(app: &TestApp, who: &Session, id: &str) -> (u16, Value) {
    app.call(Some(who), "GET", &format!("/api/v1/events/{id}"), None)
        .await
}

async fn act(app: &TestApp, who: &Session, id: &str, body: Value) -> (u16, Value) {
    app.call(
        Some(who),
        "POST",
        &format!("/api/v1/events/{id}/actions"),
        Some(body),
    )
    .await
}

async fn upload(app: &TestApp, who: &Session, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v1/attachments?name=scene.png"))
        .bearer_auth(&who.token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A point `metres` east of another.
fn east(p: (f64, f64), metres: f64) -> (f64, f64) {
    (p.0 + metres / (111_320.0 * p.1.to_radians().cos()), p.1)
}

#[tokio::test]
async fn the_answer_to_a_linked_report_shows_the_case_only_as_far_as_the_caller_sees_it() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    // A case in 黄贝街道, then hotline reports of the same thing at the same place.
    let p = point_in("440303002001");
    let body = json!({"channel": "hotline_12345", "location": {"lon": p.0, "lat": p.1},
                      "category": "E0404", "description": "下水道堵塞"});
    let first = json!({"channel": "resident_app", "location": {"lon": p.0, "lat": p.1},
                       "category": "E0404", "description": "下水道堵塞"});
    let (status, case) = report(&app, &resident, first).await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap();
    // 桂园街道's dispatcher does not see 黄贝街道's cases: linked, but no history, attachments
    // or reports of a case it cannot read.
    let guiyuan = app.login("guiyuan.dispatcher").await;
    let (status, linked) = report(&app, &guiyuan, body.clone()).await;
    assert_eq!((status, linked["id"].as_str()), (201, Some(id)), "{linked}");
    assert!(linked["linked_report_id"].is_string(), "{linked}");
    assert_eq!(linked["history"], json!([]), "{linked}");
    assert_eq!(linked["linked_reports"], 0, "{linked}");
    let (status, _) = detail(&app, &guiyuan, id).await;
    assert_eq!(status, 404, "and a read of the case is refused");
    // The district's dispatcher sees it all: both links, the last its own.
    let district = app.login("district.dispatcher").await;
    let (status, linked) = report(&app, &district, body).await;
    assert_eq!((status, linked["id"].as_str()), (201, Some(id)), "{linked}");
    assert_eq!(linked["linked_reports"], 2, "{linked}");
    let history = linked["history"].as_array().unwrap();
    let actions: Vec<&str> = history
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report", "register", "dispatch", "link", "link"]);
    assert!(
        history[4]["actor"]
            .as_str()
            .unwrap()
            .contains("district.dispatcher"),
        "{linked}"
    );
    let (_, read) = detail(&app, &district, id).await;
    for key in ["history", "attachments", "linked_reports", "description"] {
        assert_eq!(linked[key], read[key], "{key}");
    }
}

#[tokio::test]
async fn the_answer_to_a_report_that_joins_a_long_case_shows_its_last_lines() {
    let app = spawn_app().await;
    let district = app.login("district.dispatcher").await;
    let p = point_in("440303001001");
    let body = json!({"channel": "hotline_12345", "location": {"lon": p.0, "lat": p.1},
                      "category": "E0404", "description": "下水道堵塞"});
    let (status, case) = report(&app, &district, body.clone()).await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap();
    let opened = case["history_total"].as_i64().unwrap();
    assert_eq!(opened, case["history"].as_array().unwrap().len() as i64);
    let mut linked = Value::Null;
    for _ in 0..12 {
        let (status, answer) = report(&app, &district, body.clone()).await;
        assert_eq!((status, answer["id"].as_str()), (201, Some(id)), "{answer}");
        linked = answer;
    }
    let (_, read) = detail(&app, &district, id).await;
    let all = read["history"].as_array().unwrap();
    assert_eq!(all.len() as i64, opened + 12, "{read}");
    assert_eq!(read["history_total"], all.len(), "{read}");
    assert_eq!(linked["history_total"], read["history_total"], "{linked}");
    assert_eq!(
        linked["history"].as_array().unwrap().as_slice(),
        &all[all.len() - 10..],
        "the last ten lines: {linked}"
    );
    assert_eq!(linked["linked_reports"], 12, "{linked}");
}

#[tokio::test]
async fn a_repeated_report_joins_the_open_case_and_staff_can_unlink_it() {
    let app = spawn_app().await;
    let first = app.login("13800138000").await;
    let second = app.login("13800138001").await;
    let p = point_in("440303001001");
    let body = |p: (f64, f64), category: &str, text: &str| json!({"channel": "resident_app", "location": {"lon": p.0, "lat": p.1}, "category": category, "description": text});
    let (status, case) = report(&app, &first, body(p, "E0404", "下水道堵塞")).await;
    assert_eq!(status, 201, "{case}");
    let id = case["id"].as_str().unwrap().to_owned();

    // 20 m away, same category, ten minutes later: linked, not a second case.
    app.clock.advance(10 * 60_000);
    let (status, linked) = report(
        &app,
        &second,
        body(east(p, 20.0), "E0404", "这里下水道又堵了"),
    )
    .await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["id"], id.as_str(), "{linked}");
    let report_id = linked["linked_report_id"].as_str().unwrap().to_owned();
    assert!((linked["duplicate_distance_m"].as_f64().unwrap() - 20.0).abs() < 1.0);
    assert_eq!(linked["linked_reports"], 1);
    // The answer is the case's detail as the link left it: what a read shows its reporter.
    let (_, read) = detail(&app, &second, &id).await;
    for key in [
        "history",
        "attachments",
        "linked_reports",
        "description",
        "stage",
    ] {
        assert_eq!(linked[key], read[key], "{key}: {linked} against {read}");
    }
    // Another category at the same place, or the same one 200 m away: cases of their own.
    let (_, other) = report(&app, &second, body(east(p, 20.0), "E0101", "路面有垃圾")).await;
    let (_, far) = report(
        &app,
        &second,
        body(east(p, 200.0), "E0404", "另一个下水道堵了"),
    )
    .await;
    assert!(other["id"] != id.as_str() && far["id"] != id.as_str() && other["id"] != far["id"]);

    // The second reporter follows the case and hears of its progress.
    let (status, seen) = detail(&app, &second, &id).await;
    assert_eq!(status, 200, "{seen}");
    let actions: Vec<&str> = seen["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report", "register", "dispatch", "link"]);
    assert_ne!(
        seen["description"], "下水道堵塞",
        "other residents' words are withheld"
    );
    assert_eq!(
        seen["history"][3]["note"]
            .as_str()
            .map(|n| n.contains("这里下水道又堵了")),
        Some(true),
        "but not one's own"
    );
    assert!(!seen.to_string().contains("13800138000"), "{seen}");
    let handler = app.login("datanglong.handler").await;
    for a in [
        json!({"action": "accept"}),
        json!({"action": "start"}),
        json!({"action": "handle", "note": "已疏通"}),
    ] {
        let (status, body) = act(&app, &handler, &id, a).await;
        assert_eq!(status, 200, "{body}");
    }
    for who in [&first, &second] {
        let (_, inbox) = app
            .call(Some(who), "GET", "/api/v1/notifications", None)
            .await;
        assert!(
            inbox
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["kind"] == "progress" && n["case_id"] == id.as_str()),
            "{inbox}"
        );
    }
    // Only the reporter rates: the case tells each resident which they are.
    for (who, mine) in [(&first, true), (&second, false)] {
        let (_, seen) = detail(&app, who, &id).await;
        assert_eq!(seen["reported_by_me"], mine, "{seen}");
    }
    // Residents cannot list linked reports or unlink; the dispatcher can.
    let (status, _) = app
        .call(
            Some(&second),
            "GET",
            &format!("/api/v1/events/{id}/reports"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    let dispatcher = app.login("guiyuan.dispatcher").await;
    let (status, reports) = app
        .call(
            Some(&dispatcher),
            "GET",
            &format!("/api/v1/events/{id}/reports"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{reports}");
    assert_eq!(reports[0]["id"], report_id.as_str());
    let unlink = format!("/api/v1/events/{id}/reports/{report_id}/unlink");
    let (status, _) = app.call(Some(&handler), "POST", &unlink, None).await;
    assert_eq!(status, 403, "handlers do not unlink");
    let (status, split) = app.call(Some(&dispatcher), "POST", &unlink, None).await;
    assert_eq!(status, 201, "{split}");
    assert_ne!(split["id"], id.as_str());
    assert_eq!(split["stage"], "dispatched");
    assert_eq!(split["description"], "这里下水道又堵了");
    let (status, again) = app.call(Some(&dispatcher), "POST", &unlink, None).await;
    assert_eq!(status, 409, "{again}");
    let (_, seen) = detail(&app, &first, &id).await;
    assert_eq!(seen["linked_reports"], 0);
    assert_eq!(
        seen["history"].as_array().unwrap().last().unwrap()["action"],
        "unlink"
    );
    // The second reporter now owns the split case and no longer sees the first.
    let (status, _) = app
        .call(
            Some(&second),
            "GET",
            &format!("/api/v1/events/{}", split["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = detail(&app, &second, &id).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn photos_are_checked_attached_and_served_to_who_may_see_the_case() {
    let app = spawn_app_with(|c| c.events.max_attachment_mb = 1).await;
    let resident = app.login("13800138000").await;
    let (status, photo) = upload(&app, &resident, "image/png", PNG.to_vec()).await;
    assert_eq!(status, 201, "{photo}");
    assert_eq!(
        (photo["content_type"].as_str(), photo["size"].as_u64()),
        (Some("image/png"), Some(PNG.len() as u64))
    );
    // Wrong type, lying type, too large, empty.
    for (content_type, bytes, status, code) in [
        (
            "text/html",
            b"<script>alert(1)</script>".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "image/png",
            b"MZ\x90\0 an executable".to_vec(),
            415,
            "unsupported_media_type",
        ),
        ("image/jpeg", PNG.to_vec(), 415, "unsupported_media_type"),
        (
            "image/png",
            [PNG, &vec![0u8; 1_100_000]].concat(),
            413,
            "attachment_too_large",
        ),
        ("image/png", Vec::new(), 400, "empty_attachment"),
    ] {
        let (got, body) = upload(&app, &resident, content_type, bytes).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{content_type}: {body}"
        );
    }
    let photo_id = photo["id"].as_str().unwrap().to_owned();
    let (lon, lat) = point_in("440303001001");
    let (status, case) = report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
        "category": "E0404", "description": "井盖破损，见照片", "attachments": [photo_id]}),
    )
    .await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(case["attachments"][0]["id"], photo_id.as_str());
    assert_eq!(case["attachments"][0]["history_seq"], 1);
    let id = case["id"].as_str().unwrap().to_owned();
    // An upload goes with one report only, and only its uploader's.
    let (status, body) = report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
        "category": "E0101", "description": "again", "attachments": [photo_id]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_attachment")),
        "{body}"
    );

    // The handler of the case sees it, byte for byte; another resident does not.
    let handler = app.login("datanglong.handler").await;
    let fetch = |s: &Session| {
        app.client
            .get(app.url(&format!("/api/v1/attachments/{photo_id}")))
            .bearer_auth(&s.token)
            .send()
    };
    let r = fetch(&handler).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let stranger = app.login("13800138001").await;
    assert_eq!(fetch(&stranger).await.unwrap().status(), 404);

    // The handler's result photo comes with the step.
    let (_, after) = upload(&app, &handler, "image/png", PNG.to_vec()).await;
    for a in [json!({"action": "accept"}), json!({"action": "start"})] {
        act(&app, &handler, &id, a).await;
    }
    let (status, handled) = act(
        &app,
        &handler,
        &id,
        json!({"action": "handle", "note": "已更换井盖", "attachments": [after["id"]]}),
    )
    .await;
    assert_eq!(status, 200, "{handled}");
    let seqs: Vec<i64> = handled["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["history_seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 6]);
    assert_eq!(handled["history"][5]["action"], "handle");
}

/// A webhook receiver that fails the first `fail` requests and records the rest.
async fn receiver(fail: usize) -> (String, Arc<Mutex<Vec<(String, Option<String>, Value)>>>) {
    use axum::http::HeaderMap;
    let got: Arc<Mutex<Vec<(String, Option<String>, Value)>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (store, calls) = (store.clone(), calls.clone());
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let sig = headers
                    .get("x-wanxiang-signature")
                    .map(|v| v.to_str().unwrap().to_owned());
                let expect = wanxiang_api::webhook::signature("s3cret", &body);
                store
                    .lock()
                    .unwrap()
                    .push((expect, sig, serde_json::from_slice(&body).unwrap()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Waits (bounded) until `check` holds, re-checking as the server works in the background.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn notifications_reach_the_webhook_signed_with_retries_and_a_dead_letter_list() {
    let (url, got) = receiver(1).await;
    let app = spawn_app_with(|c| {
        c.events.webhook_url = url.clone();
        c.events.webhook_secret = "s3cret".into();
        c.events.webhook_max_attempts = 2;
    })
    .await;
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001001");
    let (status, case) = report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
        "category": "E0404", "description": "下水道堵塞"}),
    )
    .await;
    assert_eq!(status, 201);
    let id = case["id"].as_str().unwrap().to_owned();
    // The first attempt fails (503); the retry is due 10 s later on the test's clock.
    let admin = app.login("district.admin").await;
    eventually("a failed first attempt", || async {
        let (_, list) = app
            .call(
                Some(&admin),
                "GET",
                "/api/v1/admin/deliveries?status=pending",
                None,
            )
            .await;
        list.as_array()
            .is_some_and(|l| l.iter().any(|d| d["attempts"] == 1))
    })
    .await;
    assert!(got.lock().unwrap().is_empty());
    app.clock.advance(11_000);
    eventually("the retry", || async { !got.lock().unwrap().is_empty() }).await;
    {
        let got = got.lock().unwrap();
        let (expect, sig, body) = &got[0];
        assert_eq!(
            sig.as_deref(),
            Some(expect.as_str()),
            "signed with the secret"
        );
        assert_eq!(
            (body["case_id"].as_str(), body["kind"].as_str()),
            (Some(id.as_str()), Some("dispatch"))
        );
        assert_eq!(
            (body["recipient_type"].as_str(), body["recipient"].as_str()),
            (Some("org"), Some("440303001001"))
        );
    }
    // Only district admins see the outbox.
    let street_admin = app.login("guiyuan.admin").await;
    let (status, _) = app
        .call(Some(&street_admin), "GET", "/api/v1/admin/deliveries", None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .call(
            Some(&admin),
            "GET",
            "/api/v1/admin/deliveries?status=lost",
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("status"))
    );
    drop(app);

    // A receiver that never answers 2xx: after two attempts the delivery is dead, listed, and
    // an admin can send it again.
    let (url, got) = receiver(usize::MAX).await;
    let app = spawn_app_with(|c| {
        c.events.webhook_url = url.clone();
        c.events.webhook_max_attempts = 2;
    })
    .await;
    let resident = app.login("13800138000").await;
    report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
        "category": "E0404", "description": "下水道堵塞"}),
    )
    .await;
    let admin = app.login("district.admin").await;
    eventually("a first failure", || async {
        let (_, list) = app
            .call(
                Some(&admin),
                "GET",
                "/api/v1/admin/deliveries?status=pending",
                None,
            )
            .await;
        list.as_array()
            .is_some_and(|l| l.iter().any(|d| d["attempts"] == 1))
    })
    .await;
    app.clock.advance(11_000);
    eventually("the dead letter", || async {
        let (_, list) = app
            .call(
                Some(&admin),
                "GET",
                "/api/v1/admin/deliveries?status=dead",
                None,
            )
            .await;
        list.as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let (_, dead) = app
        .call(
            Some(&admin),
            "GET",
            "/api/v1/admin/deliveries?status=dead",
            None,
        )
        .await;
    assert_eq!(dead[0]["attempts"], 2);
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("503"),
        "{dead}"
    );
    assert!(got.lock().unwrap().is_empty());
    let delivery = dead[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            Some(&admin),
            "POST",
            &format!("/api/v1/admin/deliveries/{delivery}/retry"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/admin/deliveries/999999/retry",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, audit) = app.call(Some(&admin), "GET", "/api/v1/audit", None).await;
    assert!(audit.to_string().contains("webhook_retry"), "{audit}");
}

async fn warnings_until(app: &TestApp, who: &Session, kind: &str) -> Value {
    let mut found = Value::Null;
    for _ in 0..500 {
        let (_, list) = app.call(Some(who), "GET", "/api/v1/warnings", None).await;
        if let Some(w) = list
            .as_array()
            .and_then(|l| l.iter().find(|w| w["kind"] == kind))
        {
            found = w.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!found.is_null(), "no {kind} warning");
    found
}

/// The detectors keep the cases they saw come in and load those reported before they started:
/// four reports before a restart and one after it are five at one place (a repeat) and five in
/// the street today (a surge; four are not enough for one).
#[tokio::test]
async fn detectors_count_the_reports_made_before_a_restart() {
    let app = spawn_app_with(|c| c.events.duplicate_radius_m = 0.0).await;
    let resident = app.login("13800138000").await;
    let p = point_in("440303001001");
    let send = |app: &TestApp, i: usize| {
        let body = json!({"channel": "resident_app", "location": {"lon": east(p, i as f64 * 5.0).0, "lat": p.1},
            "category": "E0404", "description": format!("下水道堵塞 {i}")});
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/events"),
            resident.token.clone(),
        );
        async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
    };
    for i in 0..4 {
        send(&app, i).await;
    }
    let supervisor = app.login("guiyuan.supervisor").await;
    let repeat = warnings_until(&app, &supervisor, "repeat").await;
    assert_eq!(repeat["evidence"].as_array().unwrap().len(), 4, "{repeat}");
    let config = app.config.clone();
    let data = app.stop_keeping_data().await;
    let app = spawn_app_with(|c| {
        *c = config.clone();
        c.storage.data_dir = data.path().to_path_buf();
    })
    .await;
    send(&app, 4).await;
    let supervisor = app.login("guiyuan.supervisor").await;
    let surge = warnings_until(&app, &supervisor, "surge").await;
    assert_eq!(surge["evidence"].as_array().unwrap().len(), 5, "{surge}");
    let mut repeat = Value::Null;
    for _ in 0..500 {
        repeat = warnings_until(&app, &supervisor, "repeat").await;
        if repeat["evidence"].as_array().unwrap().len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(repeat["evidence"].as_array().unwrap().len(), 5, "{repeat}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn warnings_rise_from_repeats_surges_corroboration_and_backlogs() {
    // Linking off, so that repeated reports at one place stay cases the detectors count.
    let app = spawn_app_with(|c| c.events.duplicate_radius_m = 0.0).await;
    let resident = app.login("13800138000").await;
    let p = point_in("440303001001");
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, case) = report(&app, &resident, json!({"channel": "resident_app",
            "location": {"lon": east(p, i as f64 * 5.0).0, "lat": p.1}, "category": "E0404", "description": format!("下水道堵塞 {i}")})).await;
        assert_eq!(status, 201, "{case}");
        ids.push(case["id"].as_str().unwrap().to_owned());
        app.clock.advance(60_000);
    }
    let supervisor = app.login("guiyuan.supervisor").await;
    let repeat = warnings_until(&app, &supervisor, "repeat").await;
    assert_eq!(
        repeat["level"], "yellow",
        "five reports at one place: {repeat}"
    );
    assert_eq!(repeat["evidence"].as_array().unwrap().len(), 5);
    let surge = warnings_until(&app, &supervisor, "surge").await;
    assert_eq!(
        (surge["area"].as_str(), surge["level"].as_str()),
        (Some("440303001000"), Some("orange")),
        "{surge}"
    );
    // Other streets' staff do not see them; residents see none.
    let other = app.login("huangbei.admin").await;
    let (_, list) = app
        .call(Some(&other), "GET", "/api/v1/warnings", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    let (status, _) = app
        .call(Some(&resident), "GET", "/api/v1/warnings", None)
        .await;
    assert_eq!(status, 403);

    // A supervisor opens a supervision case from the warning, once.
    let path = format!(
        "/api/v1/warnings/{}/supervise",
        repeat["id"].as_str().unwrap()
    );
    let (status, case) = app.call(Some(&supervisor), "POST", &path, None).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(case["stage"], "registered");
    assert!(
        case["description"]
            .as_str()
            .unwrap()
            .starts_with("【督办】")
    );
    let (status, _) = app.call(Some(&supervisor), "POST", &path, None).await;
    assert_eq!(status, 409);
    let (_, w) = app
        .call(
            Some(&supervisor),
            "GET",
            &format!("/api/v1/warnings/{}", repeat["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(w["case_id"], case["id"]);

    // Backlog: overdue cases pile up in one unit.
    app.clock.advance(40 * 86_400_000);
    app.clock.settle().await;
    let district_supervisor = app.login("district.supervisor").await;
    let backlog = warnings_until(&app, &district_supervisor, "backlog").await;
    assert_eq!(backlog["level"], "blue", "{backlog}");
    assert!(backlog["evidence"].as_array().unwrap().len() >= 5);
}

#[tokio::test]
async fn a_sensor_alarm_and_a_residents_report_are_one_case_with_a_cross_source_warning() {
    let app = spawn_app().await;
    let operator = app.login("district.operator").await;
    let resident = app.login("13800138000").await;
    let p = point_in("440303002001");
    let (status, alarm) = report(
        &app,
        &operator,
        json!({"channel": "sensor", "location": {"lon": p.0, "lat": p.1},
        "category": "L0102", "description": "内涝积水传感器告警：水位 32 cm"}),
    )
    .await;
    assert_eq!(status, 201, "{alarm}");
    app.clock.advance(20 * 60_000);
    // 80 m away: beyond the 50 m of two people's reports, within the 100 m of cross-source.
    let (status, joined) = report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": east(p, 80.0).0, "lat": p.1},
        "category": "L0102", "description": "路口积水很深"}),
    )
    .await;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(joined["id"], alarm["id"], "one case, not two");
    let supervisor = app.login("district.supervisor").await;
    let w = warnings_until(&app, &supervisor, "cross_source").await;
    assert_eq!(w["level"], "yellow");
    assert_eq!(w["evidence"][0], alarm["id"]);
}

#[tokio::test]
async fn a_suspended_case_gets_its_paused_time_back_and_ratings_feed_the_resolution_rate() {
    let app = spawn_app().await;
    let resident = app.login("13800138000").await;
    let (lon, lat) = point_in("440303001001");
    let (_, case) = report(
        &app,
        &resident,
        json!({"channel": "resident_app", "location": {"lon": lon, "lat": lat},
        "category": "E0404", "description": "下水道堵塞"}),
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    let handler = app.login("datanglong.handler").await;
    act(&app, &handler, &id, json!({"action": "accept"})).await;
    let (_, started) = act(&app, &handler, &id, json!({"action": "start"})).await;
    let due = |c: &Value| {
        chrono::DateTime::parse_from_rfc3339(c["due_at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let before = due(&started);
    let supervisor = app.login("guiyuan.supervisor").await;
    let (status, s) = act(
        &app,
        &supervisor,
        &id,
        json!({"action": "suspend", "reason": "等待管线单位"}),
    )
    .await;
    assert_eq!(
        (status, s["stage"].as_str()),
        (200, Some("suspended")),
        "{s}"
    );
    // A week suspended: five working days pass; none of it counts against the handler.
    app.clock.advance(7 * 86_400_000);
    app.clock.settle().await;
    let (status, resumed) = act(&app, &supervisor, &id, json!({"action": "resume"})).await;
    assert_eq!(
        (status, resumed["stage"].as_str()),
        (200, Some("in_progress")),
        "{resumed}"
    );
    assert_eq!(resumed["overdue"], false, "{resumed}");
    assert!(
        due(&resumed) >= before + 7 * 86_400_000 - 3 * 86_400_000,
        "due {} → {}",
        before,
        due(&resumed)
    );
    let history = resumed["history"].as_array().unwrap();
    assert!(
        history.iter().all(|h| h["action"] != "overdue"),
        "no overdue while suspended"
    );

    act(
        &app,
        &handler,
        &id,
        json!({"action": "handle", "note": "已疏通"}),
    )
    .await;
    let inspector = app.login("datanglong.inspector").await;
    act(
        &app,
        &inspector,
        &id,
        json!({"action": "verify", "pass": true, "note": "现场核实"}),
    )
    .await;
    let (status, rated) = act(
        &app,
        &resident,
        &id,
        json!({"action": "rate", "level": "satisfied", "resolved": true}),
    )
    .await;
    assert_eq!(
        (status, rated["resolved"].as_bool()),
        (200, Some(true)),
        "{rated}"
    );
    let admin = app.login("district.admin").await;
    let (_, stats) = app.call(Some(&admin), "GET", "/api/v1/stats", None).await;
    let indicator = |key: &str| {
        stats["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(indicator("resolution_rate"), 1.0, "{stats}");
    assert!(
        indicator("p90_handling_hours").as_f64().unwrap() >= 7.0 * 24.0,
        "{stats}"
    );
}

#[tokio::test]
async fn reports_of_one_thing_arriving_together_make_one_case() {
    let app = spawn_app().await;
    let dispatcher = app.login("district.dispatcher").await;
    let p = point_in("440303001001");
    let sends = (0..8).map(|i| {
        report(
            &app,
            &dispatcher,
            json!({"channel": "hotline_12345", "location": {"lon": east(p, f64::from(i)).0, "lat": p.1},
                   "category": "E0404", "description": format!("来电 {i}：下水道堵塞")}),
        )
    });
    let answers = futures_join_all(sends).await;
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|(status, c)| {
            assert_eq!(*status, 201, "{c}");
            c["id"].as_str().unwrap()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one case for eight calls: {ids:?}");
    let linked = answers
        .iter()
        .filter(|(_, c)| c["linked_report_id"].is_string())
        .count();
    assert_eq!(linked, 7);
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all of them together: each is an HTTP request that waits on the server.
    let results = std::sync::Mutex::new(Vec::new());
    let wrapped = set.into_iter().enumerate().map(|(i, f)| {
        let results = &results;
        async move {
            let v = f.await;
            results.lock().unwrap().push((i, v));
        }
    });
    let mut joined: Vec<_> = wrapped.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        joined.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if joined.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    drop(joined);
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    out.extend(results.into_iter().map(|(_, v)| v));
    out
}

#[tokio::test]
async fn warnings_reach_the_streams_of_the_units_they_concern() {
    let app = spawn_app_with(|c| c.events.duplicate_radius_m = 0.0).await;
    let open = |who: &Session| {
        app.client
            .get(app.url("/api/v1/stream"))
            .bearer_auth(&who.token)
            .send()
    };
    let street = app.login("guiyuan.supervisor").await;
    let other = app.login("huangbei.admin").await;
    let mut mine = open(&street).await.unwrap();
    let mut theirs = open(&other).await.unwrap();
    let resident = app.login("13800138000").await;
    let p = point_in("440303001001");
    for i in 0..5 {
        let (status, _) = report(
            &app,
            &resident,
            json!({"channel": "resident_app",
            "location": {"lon": east(p, f64::from(i) * 5.0).0, "lat": p.1}, "category": "E0404",
            "description": format!("下水道堵塞 {i}")}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let seen = common::read_stream_until(&mut mine, "event: warning").await;
    assert!(seen.contains("\"kind\":\"warning_new\""), "{seen}");
    // The other street's stream carried the readiness line only: nothing of these cases.
    let mut got = String::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_millis(500), theirs.chunk()).await
    {
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("event: ready"), "{got}");
    assert!(
        !got.contains("warning") && !got.contains("event: case"),
        "{got}"
    );
}
