//! Accounts and authentication through the real server: login, sessions, tokens, CSRF,
//! lock-out, registration, account administration, the audit log and the demo-password rule.

mod common;

use common::{spawn_app, spawn_app_with};
use serde_json::{Value, json};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn login_me_and_logout() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "Guiyuan.Handler", "password": "wanxiang-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("wx_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "no TLS here, so no Secure flag: {cookie}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["account"]["username"], "guiyuan.handler");
    let token = body["token"].as_str().unwrap().to_owned();
    let session = common::Session {
        token,
        csrf: String::new(),
        id: String::new(),
    };

    let (status, me) = app.call(Some(&session), "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["org"]["id"], "440303001000");
    assert_eq!(me["org"]["name"], "桂园街道");
    assert_eq!(me["roles"], json!(["handler"]));
    assert_eq!(me["roles_zh"], json!(["处置人员"]));
    assert_eq!(me["scope"]["kind"], "subtree");
    assert_eq!(me["demo_password"], true);

    let (status, _) = app
        .call(Some(&session), "POST", "/api/v1/auth/logout", None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = app.call(Some(&session), "GET", "/api/v1/me", None).await;
    assert_eq!(
        (status, code(&body)),
        (401, "unauthenticated"),
        "a revoked session no longer works"
    );
    let (status, body) = app.call(None, "GET", "/api/v1/me", None).await;
    assert_eq!((status, code(&body)), (401, "unauthenticated"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same_and_lock_out() {
    let app = spawn_app_with(|c| {
        c.auth.lockout_free_failures = 3;
        c.auth.lockout_base_secs = 600;
    })
    .await;
    let attempt = |user: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.call(
                None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": user, "password": password})),
            )
            .await
        }
    };
    let wrong = attempt("guiyuan.admin", "nope-nope").await;
    let unknown = attempt("no.such.user", "nope-nope").await;
    assert_eq!(
        wrong, unknown,
        "no difference reveals whether an account exists"
    );
    assert_eq!((wrong.0, code(&wrong.1)), (401, "invalid_credentials"));
    // The address has now failed twice; the third failure locks it (and the username).
    let third = attempt("guiyuan.admin", "nope-nope").await;
    assert_eq!(third.0, 401);
    let locked = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "guiyuan.admin", "password": "wanxiang-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        locked.status(),
        429,
        "even the right password waits out the lock"
    );
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&retry), "retry after {retry}");
    let unknown_locked = attempt("no.such.user", "nope-nope").await;
    assert_eq!(
        unknown_locked.0, 429,
        "unknown users are locked the same way"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.auth.login_per_minute = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (s, _) = app
            .call(
                None,
                "POST",
                "/api/v1/auth/login",
                Some(json!({"username": "x.y", "password": "whatever1"})),
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    app.stop().await.unwrap();
}

/// Behind a load balancer every client arrives from the balancer's address: with it among
/// `auth.trusted_proxies`, throttling counts each client by the address the balancer forwards;
/// without it, a forwarded address is ignored (a client cannot pick its own).
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_by_its_own_address() {
    let attempt = |app: &common::TestApp, from: &str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"username": "x.y", "password": "whatever1"}))
            .send()
    };
    let behind = spawn_app_with(|c| {
        c.auth.login_per_minute = 3;
        c.auth.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut statuses = Vec::new();
    for from in ["203.0.113.7"; 4] {
        statuses.push(attempt(&behind, from).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429], "one client, over its limit");
    let other = attempt(&behind, "203.0.113.8").await.unwrap();
    assert_eq!(
        other.status(),
        401,
        "another client behind the same balancer"
    );
    behind.stop().await.unwrap();

    let direct = spawn_app_with(|c| c.auth.login_per_minute = 3).await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let from = format!("203.0.113.{n}");
        statuses.push(attempt(&direct, &from).await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "forged addresses do not help"
    );
    direct.stop().await.unwrap();
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token() {
    let app = spawn_app().await;
    let s = app.login("district.admin").await;
    let cookie = format!("wx_session={}", s.token);
    let post = |csrf: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/me/tokens"))
            .header("cookie", &cookie)
            .json(&json!({"name": "ci"}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let r = post(None).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(&r.json().await.unwrap()), "csrf_failed");
    assert_eq!(post(Some("guess")).await.unwrap().status(), 403);
    assert_eq!(post(Some(&s.csrf)).await.unwrap().status(), 201);
    // Reads with the cookie need no token; bearer writes need none either.
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = app
        .call(
            Some(&s),
            "POST",
            "/api/v1/me/tokens",
            Some(json!({"name": "bearer"})),
        )
        .await;
    assert_eq!(status, 201);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn personal_tokens_work_until_revoked() {
    let app = spawn_app().await;
    let s = app.login("chengguan.handler").await;
    let (status, created) = app
        .call(
            Some(&s),
            "POST",
            "/api/v1/me/tokens",
            Some(json!({"name": "12345 对接"})),
        )
        .await;
    assert_eq!(status, 201);
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("wxp_"));
    let token = common::Session {
        token: secret,
        csrf: String::new(),
        id: String::new(),
    };
    let (status, me) = app.call(Some(&token), "GET", "/api/v1/me", None).await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("chengguan.handler"))
    );
    assert_eq!(me["scope"]["kind"], "department");
    let (_, listed) = app.call(Some(&s), "GET", "/api/v1/me/tokens", None).await;
    assert_eq!(listed[0]["name"], "12345 对接");
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(
        !listed.to_string().contains(token.token.as_str()),
        "listings never show the secret"
    );
    let id = created["id"].as_str().unwrap();
    let other = app.login("guiyuan.admin").await;
    let (status, _) = app
        .call(
            Some(&other),
            "DELETE",
            &format!("/api/v1/me/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404, "nobody else can revoke it");
    let (status, _) = app
        .call(Some(&s), "DELETE", &format!("/api/v1/me/tokens/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.call(Some(&token), "GET", "/api/v1/me", None).await;
    assert_eq!(status, 401, "a revoked token stops working");
    let (status, _) = app
        .call(Some(&s), "DELETE", &format!("/api/v1/me/tokens/{id}"), None)
        .await;
    assert_eq!(status, 404);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn residents_register_and_see_only_their_own() {
    let app = spawn_app().await;
    let register = |body: Value| app.call(None, "POST", "/api/v1/auth/register", Some(body));
    let cases: &[(Value, u16, &str)] = &[
        (
            json!({"username": "13912345678", "password": "a-good-password"}),
            201,
            "",
        ),
        (
            json!({"username": "13912345678", "password": "a-good-password"}),
            409,
            "conflict",
        ),
        (
            json!({"username": "wang@example.cn", "password": "a-good-password", "display_name": "王五"}),
            201,
            "",
        ),
        (
            json!({"username": "12345", "password": "a-good-password"}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "13912345679", "password": "short"}),
            400,
            "invalid_password",
        ),
    ];
    for (body, status, err) in cases {
        let (got, answer) = register(body.clone()).await;
        assert_eq!(got, *status, "{body}: {answer}");
        if !err.is_empty() {
            assert_eq!(code(&answer), *err);
        }
    }
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "13912345678", "password": "a-good-password"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["account"]["scope"]["kind"], "own");
    assert_eq!(body["account"]["roles"], json!(["resident"]));
    let s = common::Session {
        token: body["token"].as_str().unwrap().into(),
        csrf: String::new(),
        id: String::new(),
    };
    let (status, _) = app.call(Some(&s), "GET", "/api/v1/accounts", None).await;
    assert_eq!(status, 403);
    let (status, entities) = app.call(Some(&s), "GET", "/api/v1/entities", None).await;
    assert_eq!((status, entities), (200, json!([])));
    // The registration shows up in the district's audit log as a system-scope action.
    let admin = app.login("district.admin").await;
    let (_, audit) = app
        .call(Some(&admin), "GET", "/api/v1/audit?limit=50", None)
        .await;
    let reg = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account_registered")
        .unwrap();
    assert!(
        reg["detail"]
            .as_str()
            .unwrap()
            .contains("system (resident self-registration)"),
        "{reg}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn admins_manage_their_subtree_only() {
    let app = spawn_app().await;
    let admin = app.login("guiyuan.admin").await;
    let new = |username: &str, org: Value| json!({"username": username, "display_name": "新同事", "password": "initial-pass-1", "org": org, "roles": ["inspector"]});
    let (status, created) = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/accounts",
            Some(new("dtl.inspector2", json!({"unit": "440303001001"}))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let cases: &[(Value, u16, &str)] = &[
        (
            new("beside", json!({"unit": "440303002"})),
            403,
            "forbidden",
        ),
        (new("above", json!({"unit": "440303"})), 403, "forbidden"),
        (
            new("dept", json!({"department": "440303D01"})),
            404,
            "not_found",
        ),
        (
            new("dtl.inspector2", json!({"unit": "440303001001"})),
            409,
            "conflict",
        ),
        (
            new("Bad Name", json!({"unit": "440303001001"})),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "r", "display_name": "x", "password": "initial-pass-1", "org": {"unit": "440303001"}, "roles": ["resident"]}),
            400,
            "invalid_username",
        ),
        (
            json!({"username": "rr.rr", "display_name": "x", "password": "initial-pass-1", "org": {"unit": "440303001"}, "roles": ["resident"]}),
            400,
            "invalid_roles",
        ),
    ];
    for (body, status, err) in cases {
        let (got, answer) = app
            .call(Some(&admin), "POST", "/api/v1/accounts", Some(body.clone()))
            .await;
        assert_eq!((got, code(&answer)), (*status, *err), "{body}");
    }
    // The new account logs in with its own password.
    let (status, _) = app
        .call(
            None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "dtl.inspector2", "password": "initial-pass-1"})),
        )
        .await;
    assert_eq!(status, 200);
    // A non-admin cannot manage accounts.
    let handler = app.login("guiyuan.handler").await;
    let (status, _) = app
        .call(
            Some(&handler),
            "POST",
            "/api/v1/accounts",
            Some(new("x.y.z", json!({"unit": "440303001001"}))),
        )
        .await;
    assert_eq!(status, 403);
    // Disabling an account ends its sessions and its logins.
    let victim = app.login("datanglong.handler").await;
    let (status, _) = app
        .call(
            Some(&admin),
            "PATCH",
            &format!("/api/v1/accounts/{}", victim.id),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.call(Some(&victim), "GET", "/api/v1/me", None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call(
            None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": "datanglong.handler", "password": "wanxiang-demo"})),
        )
        .await;
    assert_eq!(status, 401);
    // The audit log of the street shows what its admin did; the sibling street's does not.
    let (_, audit) = app.call(Some(&admin), "GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"account_created") && actions.contains(&"account_updated"),
        "{actions:?}"
    );
    let sibling = app.login("huangbei.admin").await;
    let (_, theirs) = app.call(Some(&sibling), "GET", "/api/v1/audit", None).await;
    assert!(!theirs.to_string().contains("dtl.inspector2"), "{theirs}");
    // No route edits the audit log.
    let (status, _) = app
        .call(Some(&admin), "DELETE", "/api/v1/audit", None)
        .await;
    assert_eq!(status, 405);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn password_change_ends_sessions_and_clears_the_demo_flag() {
    let app = spawn_app().await;
    let s = app.login("district.leader").await;
    let other = app.login("district.leader").await;
    let (status, body) = app
        .call(
            Some(&s),
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": "wrong-one", "new_password": "a-new-password"})),
        )
        .await;
    assert_eq!((status, code(&body)), (401, "invalid_credentials"));
    let (status, _) = app
        .call(
            Some(&s),
            "POST",
            "/api/v1/me/password",
            Some(json!({"current_password": "wanxiang-demo", "new_password": "a-new-password"})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        app.call(Some(&other), "GET", "/api/v1/me", None).await.0,
        401
    );
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "district.leader", "password": "a-new-password"}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["account"]["demo_password"], false);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn outside_demo_mode_demo_passwords_refuse_the_start_and_the_listing_is_gone() {
    let app = spawn_app().await;
    let (status, list) = app.call(None, "GET", "/api/v1/demo/accounts", None).await;
    assert_eq!(status, 200);
    assert!(
        list["open311_api_key"]
            .as_str()
            .unwrap()
            .starts_with("wxp_")
    );
    let list = list["accounts"].as_array().unwrap().clone();
    assert!(list.len() >= 18);
    assert!(list.iter().all(|a| a["password"] == "wanxiang-demo"));
    let mut config = app.config.clone();
    let _data = app.stop_keeping_data().await;
    config.demo = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Bounded, so that a server that wrongly starts fails the test instead of hanging it.
    let run = wanxiang::serve::run(config, listener, std::future::pending());
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the server must refuse to start")
        .unwrap_err();
    assert!(err.to_string().contains("demo password"), "{err}");

    let fresh = spawn_app_with(|c| c.demo = false).await;
    let (status, body) = fresh.call(None, "GET", "/api/v1/demo/accounts", None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    fresh.stop().await.unwrap();
}

#[tokio::test]
async fn cors_is_closed_unless_configured() {
    let preflight = |app: &common::TestApp, origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let closed = spawn_app().await;
    let r = preflight(&closed, "https://screen.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    closed.stop().await.unwrap();

    let open =
        spawn_app_with(|c| c.auth.cors_origins = vec!["https://screen.example".into()]).await;
    let r = preflight(&open, "https://screen.example").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://screen.example"
    );
    assert_eq!(r.headers()["access-control-allow-credentials"], "true");
    let r = preflight(&open, "https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    open.stop().await.unwrap();
}
