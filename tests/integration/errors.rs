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
    wrong_type.assert_problem(400, "invalid_body");
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
