use carnet_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn logging_interactions_moves_last_interaction_at() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let c = app.contact(&user, json!({ "name": "Nicolas" })).await;
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["last_interaction_at"], Value::Null);
    let path = format!("/v1/contacts/{id}/interactions");
    let lunch = app
        .post(
            &path,
            &user.token,
            json!({ "kind": "meal", "occurred_at": "2026-11-20T12:30:00Z", "notes": "Chez Magnan" }),
        )
        .await;
    assert_eq!(lunch.status, 201, "{}", lunch.text);
    let call = app
        .post(
            &path,
            &user.token,
            json!({ "kind": "call", "occurred_at": "2026-11-22T09:00:00Z" }),
        )
        .await;
    assert_eq!(call.status, 201);
    let contact = app.get(&format!("/v1/contacts/{id}"), &user.token).await;
    assert_eq!(contact.body["last_interaction_at"], "2026-11-22T09:00:00Z");

    let list = app.get(&path, &user.token).await;
    let kinds: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call", "meal"]);

    // Deleting the latest moves it back; editing moves it again.
    let call_id = call.body["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/interactions/{call_id}"), &user.token)
            .await
            .status,
        204
    );
    let contact = app.get(&format!("/v1/contacts/{id}"), &user.token).await;
    assert_eq!(contact.body["last_interaction_at"], "2026-11-20T12:30:00Z");
    let lunch_id = lunch.body["id"].as_str().unwrap();
    let moved = app
        .patch(
            &format!("/v1/interactions/{lunch_id}"),
            &user.token,
            json!({ "occurred_at": "2026-11-21T12:30:00Z" }),
        )
        .await;
    assert_eq!(moved.status, 200);
    assert_eq!(moved.body["notes"], "Chez Magnan");
    let contact = app.get(&format!("/v1/contacts/{id}"), &user.token).await;
    assert_eq!(contact.body["last_interaction_at"], "2026-11-21T12:30:00Z");
}

#[tokio::test]
async fn interactions_validate_kind_and_event() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let c = app.contact(&user, json!({ "name": "Nicolas" })).await;
    let path = format!("/v1/contacts/{}/interactions", c["id"].as_str().unwrap());
    let bad = app.post(&path, &user.token, json!({ "kind": "telepathy" })).await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["kind"]);
    let missing = app.post(&path, &user.token, json!({})).await;
    assert_eq!(missing.error_fields(), ["kind"]);
    let unknown_event = app
        .post(
            &path,
            &user.token,
            json!({ "kind": "meeting", "event_id": uuid::Uuid::now_v7() }),
        )
        .await;
    unknown_event.assert_problem(422, "validation_failed");
    assert_eq!(unknown_event.body["errors"][0]["code"], "unknown_event");
    assert!(app.get(&path, &user.token).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn another_users_interaction_is_not_found() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let c = app.contact(&lise, json!({ "name": "Claire" })).await;
    let i = app
        .post(
            &format!("/v1/contacts/{}/interactions", c["id"].as_str().unwrap()),
            &lise.token,
            json!({ "kind": "sms", "notes": "hello" }),
        )
        .await;
    let path = format!("/v1/interactions/{}", i.body["id"].as_str().unwrap());
    app.patch(&path, &nicolas.token, json!({ "notes": "overwritten" }))
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, &nicolas.token)
        .await
        .assert_problem(404, "not_found");
    let list = app
        .get(
            &format!("/v1/contacts/{}/interactions", c["id"].as_str().unwrap()),
            &lise.token,
        )
        .await;
    assert_eq!(list.body["items"][0]["notes"], "hello");
}
