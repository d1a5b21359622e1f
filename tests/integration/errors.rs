use carnet_tests::spawn_app;
use diesel::RunQueryDsl;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let res = app
        .client
        .post(format!("{}/v1/contacts", app.address))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body("{\"name\": \"Nicolas\"")
        .send()
        .await
        .unwrap();
    carnet_tests::TestApp::answer(res)
        .await
        .assert_problem(400, "malformed_json");
    let wrong_type = app.post("/v1/contacts", &user.token, json!({ "name": 42 })).await;
    wrong_type.assert_problem(422, "validation_failed");
    assert_eq!(wrong_type.error_fields(), ["name"]);
    assert_eq!(wrong_type.body["errors"][0]["code"], "invalid_type");
    assert!(app.get("/v1/contacts", &user.token).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let res = app
        .client
        .post(format!("{}/v1/contacts", app.address))
        .bearer_auth(&user.token)
        .header("content-type", "text/plain")
        .body("{\"name\": \"Nicolas\"}")
        .send()
        .await
        .unwrap();
    carnet_tests::TestApp::answer(res)
        .await
        .assert_problem(415, "unsupported_media_type");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let big = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "N", "notes": "x".repeat(1024 * 1024 + 10) }),
        )
        .await;
    big.assert_problem(413, "payload_too_large");
    // Just under the limit is parsed (and then refused for the field's own limit).
    let long = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "N", "notes": "x".repeat(20_001) }),
        )
        .await;
    long.assert_problem(422, "validation_failed");
    assert_eq!(long.body["errors"][0]["code"], "too_long");
}

#[tokio::test]
async fn unknown_routes_and_bad_ids_are_problem_404() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    app.get("/v1/nothing-here", &user.token)
        .await
        .assert_problem(404, "not_found");
    app.get("/v1/contacts/not-a-uuid", &user.token)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_server_error_says_nothing_of_its_cause_and_carries_a_request_id() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let mut conn = app.db.connect();
    diesel::sql_query("ALTER TABLE devices RENAME TO devices_gone")
        .execute(&mut conn)
        .unwrap();
    let answer = app.get("/v1/devices", &user.token).await;
    answer.assert_problem(500, "internal");
    assert_eq!(answer.body["detail"], "An internal error occurred.");
    for leak in ["devices", "relation", "diesel", "SELECT", "postgres"] {
        assert!(
            !answer.text.contains(leak),
            "the body leaks {leak:?}: {}",
            answer.text
        );
    }
    let request_id = answer.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok());
}

#[tokio::test]
async fn a_given_request_id_is_echoed() {
    let app = spawn_app().await;
    let id = uuid::Uuid::now_v7().to_string();
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-request-id").unwrap().to_str().unwrap(), id);
}

#[tokio::test]
async fn nul_characters_in_queries_and_bodies_are_refused_with_their_field() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let search = app.get("/v1/contacts?q=a%00b", &user.token).await;
    search.assert_problem(422, "validation_failed");
    assert_eq!(search.error_fields(), ["q"]);
    assert_eq!(search.body["errors"][0]["code"], "nul_character");
    let latin1 = app.get("/v1/contacts?q=caf%E9", &user.token).await;
    latin1.assert_problem(422, "validation_failed");
    assert_eq!(latin1.body["errors"][0]["code"], "invalid_text");
    for path in ["/v1/contacts/a%00b", "/v1/contacts/caf%E9"] {
        app.get(path, &user.token)
            .await
            .assert_problem(400, "invalid_path");
    }

    let login = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": "a\u{0}@x.example", "password": "x" })),
        )
        .await;
    login.assert_problem(422, "validation_failed");
    assert_eq!(login.error_fields(), ["email"]);

    let contact = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "Nicolas", "tags": ["ok", "b\u{0}d"] }),
        )
        .await;
    contact.assert_problem(422, "validation_failed");
    assert_eq!(contact.error_fields(), ["tags[1]"]);
    assert!(app.get("/v1/contacts", &user.token).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // A backslash followed by "u0000" is text like any other.
    let fine = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "Nicolas", "notes": "\\u0000" }),
        )
        .await;
    assert_eq!(fine.status, 201, "{}", fine.text);
    assert_eq!(fine.body["notes"], "\\u0000");
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_422_naming_the_field_and_what_it_expects() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let event = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-10T19:00" }),
        )
        .await;
    event.assert_problem(422, "validation_failed");
    assert_eq!(event.error_fields(), ["starts_at"]);
    let message = event.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("RFC 3339") && message.contains("offset"),
        "{message}"
    );
    assert!(!message.contains("line 1"), "{message}");

    // A whole body that is an array is not read by position either.
    let array = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!([user.email, user.password])),
        )
        .await;
    array.assert_problem(422, "validation_failed");

    let missing = app
        .post("/v1/contacts", &user.token, json!({ "notes": "x" }))
        .await;
    missing.assert_problem(422, "validation_failed");
    assert_eq!(missing.error_fields(), ["name"]);
    assert_eq!(missing.body["errors"][0]["code"], "required");
}

#[tokio::test]
async fn unknown_methods_get_405_with_allow_as_a_problem() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let trace = app.request(reqwest::Method::TRACE, "/healthz", None, None).await;
    trace.assert_problem(405, "method_not_allowed");
    assert_eq!(trace.headers.get("allow").unwrap(), "GET");
    let put = app
        .request(reqwest::Method::PUT, "/v1/me", Some(&user.token), None)
        .await;
    put.assert_problem(405, "method_not_allowed");
    assert_eq!(put.headers.get("allow").unwrap(), "GET, PATCH, DELETE");
    let id = uuid::Uuid::now_v7();
    let post = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/contacts/{id}"),
            Some(&user.token),
            Some(json!({})),
        )
        .await;
    post.assert_problem(405, "method_not_allowed");
    // A fixed path beside a pattern that also matches it answers its own methods.
    for (method, path, allow) in [
        (reqwest::Method::PATCH, "/v1/events/join", "POST"),
        (reqwest::Method::OPTIONS, "/v1/events/join", "POST"),
        (reqwest::Method::PATCH, "/v1/contacts/import", "POST"),
        (reqwest::Method::PATCH, "/v1/contacts/export", "GET"),
    ] {
        let answer = app.request(method.clone(), path, Some(&user.token), None).await;
        answer.assert_problem(405, "method_not_allowed");
        assert_eq!(answer.headers.get("allow").unwrap(), allow, "{method} {path}");
    }
    // An unknown path stays 404.
    app.request(reqwest::Method::TRACE, "/nothing", None, None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn oversized_urls_and_headers_are_problems() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let long_url = app
        .get(&format!("/v1/contacts?q={}", "a".repeat(10 * 1024)), &user.token)
        .await;
    long_url.assert_problem(414, "uri_too_long");
    let res = app
        .client
        .get(format!("{}/v1/me", app.address))
        .bearer_auth(&user.token)
        .header("x-padding", "p".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    carnet_tests::TestApp::answer(res)
        .await
        .assert_problem(431, "headers_too_large");
    // The server still answers.
    assert_eq!(app.get("/v1/me", &user.token).await.status, 200);
}

/// Sends `request` as raw bytes and answers the head and the body (off the test's thread,
/// which also drives the server).
pub(crate) async fn raw_exchange(app: &carnet_tests::TestApp, request: &[u8]) -> (String, String) {
    let address = app.address.trim_start_matches("http://").to_string();
    let request = request.to_vec();
    tokio::task::spawn_blocking(move || raw_exchange_blocking(&address, &request))
        .await
        .unwrap()
}

fn raw_exchange_blocking(address: &str, request: &[u8]) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn the_http_layers_own_refusals_are_problems() {
    let app = spawn_app().await;
    let long_path = format!("/v1/contacts?q={}", "a".repeat(100 * 1024));
    for request in [
        b"GET /v1/contacts/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        format!("GET {long_path} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
    ] {
        let (head, body) = raw_exchange(&app, &request).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["code"], "malformed_request");
        assert_eq!(problem["status"], 400);
    }
    let (head, body) = raw_exchange(
        &app,
        format!(
            "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "b".repeat(200 * 1024)
        )
        .as_bytes(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "headers_too_large");
    // Still serving, keep-alive answers untouched.
    assert_eq!(
        app.request(reqwest::Method::GET, "/healthz", None, None)
            .await
            .status,
        200
    );
}
