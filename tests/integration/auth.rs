use carnet_tests::{spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn register_answers_tokens_and_the_user() {
    let app = spawn_app().await;
    let answer = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({ "email": "Lise.Cardinal@Example.ORG", "password": "motdepasse-long", "display_name": "Lise Cardinal", "timezone": "America/Montreal", "locale": "fr-CA" })),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert!(answer.body["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(answer.body["refresh_token"].as_str().unwrap().len() >= 40);
    assert_eq!(answer.body["expires_in"], 900);
    assert_eq!(answer.body["user"]["email"], "Lise.Cardinal@example.org");
    assert_eq!(answer.body["user"]["timezone"], "America/Montreal");
    assert_eq!(answer.body["user"]["region"], "CA");
    let me = app
        .get("/v1/me", answer.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["display_name"], "Lise Cardinal");
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let app = spawn_app().await;
    let body = |email: &str| json!({ "email": email, "password": "motdepasse-long", "display_name": "Lise" });
    let first = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(body("lise@example.org")),
        )
        .await;
    assert_eq!(first.status, 201);
    let second = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(body("LISE@example.org")),
        )
        .await;
    second.assert_problem(409, "email_taken");
    let login = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": "Lise@EXAMPLE.org", "password": "motdepasse-long" })),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
}

#[tokio::test]
async fn register_reports_every_bad_field() {
    let app = spawn_app().await;
    let answer = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({ "email": "not-an-email", "password": "short", "display_name": " ", "timezone": "Mars/Olympus" })),
        )
        .await;
    answer.assert_problem(422, "validation_failed");
    let mut fields = answer.error_fields();
    fields.sort();
    assert_eq!(fields, ["display_name", "email", "password", "timezone"]);
}

#[tokio::test]
async fn login_failures_do_not_reveal_whether_the_email_exists() {
    let app = spawn_app().await;
    let user = app.register("Nicolas").await;
    let wrong_password = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": user.email, "password": "wrong password" })),
        )
        .await;
    let unknown = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": "nobody@example.org", "password": "wrong password" })),
        )
        .await;
    wrong_password.assert_problem(401, "invalid_credentials");
    unknown.assert_problem(401, "invalid_credentials");
    assert_eq!(wrong_password.body, unknown.body);
}

#[tokio::test]
async fn repeated_failures_are_throttled_for_known_and_unknown_emails() {
    let app = spawn_app_with(&[("CARNET_LOGIN_MAX_FAILURES", "3")]).await;
    let user = app.register("Nicolas").await;
    let attempt = |password: &str| {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": user.email, "password": password })),
        )
    };
    for _ in 0..3 {
        attempt("wrong password")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let throttled = attempt("wrong password").await;
    throttled.assert_problem(429, "rate_limited");
    assert!(throttled.headers.get("retry-after").is_some());
    // Even the right password waits: the limit is per account, not per guess.
    attempt(&user.password).await.assert_problem(429, "rate_limited");
    // An unknown email is throttled the same way, so throttling reveals nothing either.
    for _ in 0..3 {
        app.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": "ghost@example.org", "password": "x" })),
        )
        .await;
    }
    app.request(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({ "email": "ghost@example.org", "password": "x" })),
    )
    .await
    .assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    // No reuse grace: any second use of a rotated token is a replay.
    let app = spawn_app_with(&[("CARNET_REFRESH_REUSE_GRACE_SECS", "0")]).await;
    let user = app.register("Lise").await;
    let refresh = |token: &str| {
        app.request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": token })),
        )
    };

    let first = refresh(&user.refresh_token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_string();
    let access = first.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second_token, user.refresh_token);
    assert_eq!(app.get("/v1/me", &access).await.status, 200);

    // The first token was rotated: presenting it again is a replay.
    refresh(&user.refresh_token)
        .await
        .assert_problem(401, "refresh_token_reused");
    // The whole family is revoked: the newer refresh token and the access tokens too.
    refresh(&second_token)
        .await
        .assert_problem(401, "invalid_refresh_token");
    app.get("/v1/me", &access)
        .await
        .assert_problem(401, "session_revoked");
    app.get("/v1/me", &user.token)
        .await
        .assert_problem(401, "session_revoked");

    // Another login is another session, unaffected.
    let login = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": user.email, "password": user.password })),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(
        app.get("/v1/me", login.body["access_token"].as_str().unwrap())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_retried_refresh_gets_the_same_new_token_and_keeps_the_session() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let refresh = |token: &str| {
        app.request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": token })),
        )
    };

    let first = refresh(&user.refresh_token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_string();

    // The answer was lost in the metro: the phone retries with the token it still holds,
    // twice, and once more concurrently.
    for _ in 0..2 {
        let retry = refresh(&user.refresh_token).await;
        assert_eq!(retry.status, 200, "{}", retry.text);
        assert_eq!(retry.body["refresh_token"], second_token.as_str());
        let access = retry.body["access_token"].as_str().unwrap();
        assert_eq!(app.get("/v1/me", access).await.status, 200);
    }
    let (a, b) = tokio::join!(refresh(&user.refresh_token), refresh(&user.refresh_token));
    assert_eq!(
        (a.status.as_u16(), b.status.as_u16()),
        (200, 200),
        "{} / {}",
        a.text,
        b.text
    );
    assert_eq!(a.body["refresh_token"], second_token.as_str());
    assert_eq!(b.body["refresh_token"], second_token.as_str());
    assert_eq!(app.get("/v1/me", &user.token).await.status, 200);

    // The session goes on from the new token.
    let next = refresh(&second_token).await;
    assert_eq!(next.status, 200, "{}", next.text);
    let third_token = next.body["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(third_token, second_token);

    // The first token is now two rotations old: even within the grace, that is a replay.
    refresh(&user.refresh_token)
        .await
        .assert_problem(401, "refresh_token_reused");
    refresh(&third_token)
        .await
        .assert_problem(401, "invalid_refresh_token");
    app.get("/v1/me", next.body["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "session_revoked");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_after_the_grace_revokes_the_session() {
    let app = spawn_app_with(&[("CARNET_REFRESH_REUSE_GRACE_SECS", "1")]).await;
    let user = app.register("Lise").await;
    let refresh = |token: &str| {
        app.request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": token })),
        )
    };
    let first = refresh(&user.refresh_token).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second_token = first.body["refresh_token"].as_str().unwrap().to_string();

    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    refresh(&user.refresh_token)
        .await
        .assert_problem(401, "refresh_token_reused");
    refresh(&second_token)
        .await
        .assert_problem(401, "invalid_refresh_token");
    app.get("/v1/me", first.body["access_token"].as_str().unwrap())
        .await
        .assert_problem(401, "session_revoked");
}

#[tokio::test]
async fn unknown_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    app.request(
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": "made-up" })),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
}

#[tokio::test]
async fn logout_ends_the_session_only() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let other_session = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": user.email, "password": user.password })),
        )
        .await;
    let other_token = other_session.body["access_token"].as_str().unwrap();

    let out = app
        .request(Method::POST, "/v1/auth/logout", Some(&user.token), None)
        .await;
    assert_eq!(out.status, 204);
    app.get("/v1/me", &user.token)
        .await
        .assert_problem(401, "session_revoked");
    app.request(
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": user.refresh_token })),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    assert_eq!(app.get("/v1/me", other_token).await.status, 200);
}

#[tokio::test]
async fn missing_malformed_and_forged_tokens_get_401() {
    let app = spawn_app().await;
    app.request(Method::GET, "/v1/contacts", None, None)
        .await
        .assert_problem(401, "missing_token");
    app.get("/v1/contacts", "not-a-jwt")
        .await
        .assert_problem(401, "invalid_token");
    // Signed with another secret.
    let forged = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMWEyMDdiMy1hOWFjLTc0NWQtOWY1NC00MmUwNDM4MjgxZjMiLCJzaWQiOiIwMWEyMDdiMy1hOWJlLTcxZmYtYjllNi1lOWNiYTE5YjJlY2EiLCJpc3MiOiJjYXJuZXQiLCJhdWQiOiJjYXJuZXQtYXBpIiwiaWF0IjoxNzk1NDI1NTQ0LCJleHAiOjQ3OTU0MjY0NDR9.xU4iovd1IcE2kHe-Dxt_9IpUesGo9TaRnH4n1QcgE5I";
    app.get("/v1/contacts", forged)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let app = spawn_app_with(&[("CARNET_ACCESS_TOKEN_TTL_SECS", "1")]).await;
    let user = app.register("Lise").await;
    assert_eq!(app.get("/v1/me", &user.token).await.status, 200);
    // The validation allows 5 s of leeway for clock drift between servers.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    app.get("/v1/me", &user.token)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn deleting_the_account_invalidates_every_token_at_once() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let second = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": user.email, "password": user.password })),
        )
        .await;
    let second_token = second.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.delete("/v1/me", &user.token).await.status, 204);
    app.get("/v1/me", &user.token)
        .await
        .assert_problem(401, "session_revoked");
    app.get("/v1/me", &second_token)
        .await
        .assert_problem(401, "session_revoked");
    app.request(
        Method::POST,
        "/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": user.refresh_token })),
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    app.request(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({ "email": user.email, "password": user.password })),
    )
    .await
    .assert_problem(401, "invalid_credentials");
}
