use carnet_tests::{spawn_app, TestApp, User};
use serde_json::{json, Value};

const TOKEN: &str = "fcm-token-3f9a1c7e-very-secret";

async fn devices(app: &TestApp, user: &User) -> Vec<Value> {
    let list = app.get("/v1/devices", &user.token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["next_cursor"], Value::Null);
    list.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_device_is_registered_and_its_push_token_never_echoed() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let created = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "android", "name": "Pixel de Lise", "push_provider": "fcm", "push_token": TOKEN, "app_version": "1.4.2" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let d = &created.body;
    assert!(uuid::Uuid::parse_str(d["id"].as_str().unwrap()).is_ok());
    assert_eq!(d["platform"], "android");
    assert_eq!(d["name"], "Pixel de Lise");
    assert_eq!(d["push_provider"], "fcm");
    assert_eq!(d["has_push_token"], true);
    assert_eq!(d["app_version"], "1.4.2");
    assert_eq!(d["active"], true);
    assert!(!created.text.contains(TOKEN), "{}", created.text);
    assert!(d.get("push_token").is_none());
    let list = app.get("/v1/devices", &user.token).await;
    assert!(!list.text.contains(TOKEN));
    assert_eq!(list.body["items"], json!([d]));
    let path = format!("/v1/devices/{}", d["id"].as_str().unwrap());
    let renamed = app.patch(&path, &user.token, json!({ "name": "Pixel 9" })).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert!(!renamed.text.contains(TOKEN));
    assert_eq!(renamed.body["has_push_token"], true);
    let export = app.get("/v1/me/export", &user.token).await;
    assert_eq!(export.status, 200);
    assert!(!export.text.contains(TOKEN), "the export leaks the push token");
    // A device without push.
    let web = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "web", "name": "Navigateur" }),
        )
        .await;
    assert_eq!(web.status, 201, "{}", web.text);
    assert_eq!(web.body["has_push_token"], false);
    assert_eq!(web.body["push_provider"], Value::Null);
    assert_eq!(devices(&app, &user).await.len(), 2);
}

#[tokio::test]
async fn a_client_chosen_device_id_is_kept_and_cannot_be_reused() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let id = uuid::Uuid::now_v7().to_string();
    let created = app
        .post(
            "/v1/devices",
            &lise.token,
            json!({ "id": id, "platform": "ios", "name": "iPhone de Lise", "push_provider": "apns", "push_token": TOKEN }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["id"], id.as_str());
    app.post(
        "/v1/devices",
        &lise.token,
        json!({ "id": id, "platform": "ios", "name": "Again" }),
    )
    .await
    .assert_problem(409, "id_taken");
    let stolen = app
        .post(
            "/v1/devices",
            &nicolas.token,
            json!({ "id": id, "platform": "android", "name": "Hijack", "push_provider": "fcm", "push_token": "attacker" }),
        )
        .await;
    stolen.assert_problem(409, "id_taken");
    assert!(!stolen.text.contains("iPhone de Lise"));
    assert!(!stolen.text.contains(TOKEN));
    assert!(!stolen.text.contains(&lise.id));
    assert!(devices(&app, &nicolas).await.is_empty());
    let mine = devices(&app, &lise).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["name"], "iPhone de Lise");
    assert_eq!(mine[0]["platform"], "ios");
    assert_eq!(mine[0]["push_provider"], "apns");
}

#[tokio::test]
async fn device_validation_names_each_bad_field_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let bad = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "windows-phone", "name": "", "push_provider": "pigeon", "push_token": "t" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["name", "platform", "push_provider"]);
    let orphan = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "android", "name": "Pixel", "push_token": TOKEN }),
        )
        .await;
    orphan.assert_problem(422, "validation_failed");
    assert_eq!(orphan.error_fields(), ["push_provider"]);
    assert!(!orphan.text.contains(TOKEN));
    let long_version = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "android", "name": "Pixel", "app_version": "9".repeat(51) }),
        )
        .await;
    assert_eq!(long_version.error_fields(), ["app_version"]);
    app.post(
        "/v1/devices",
        &user.token,
        json!({ "platform": "android", "name": "Pixel", "colour": "blue" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert!(devices(&app, &user).await.is_empty());
}

#[tokio::test]
async fn a_turned_off_device_is_revived_by_a_new_push_token() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let d = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "android", "name": "Pixel", "push_provider": "fcm", "push_token": TOKEN }),
        )
        .await
        .body;
    let path = format!("/v1/devices/{}", d["id"].as_str().unwrap());
    let off = app.patch(&path, &user.token, json!({ "active": false })).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["active"], false);
    assert_eq!(off.body["has_push_token"], true);
    assert_eq!(devices(&app, &user).await[0]["active"], false);
    // A rename alone does not revive it.
    let renamed = app.patch(&path, &user.token, json!({ "name": "Pixel 9" })).await;
    assert_eq!(renamed.body["active"], false);
    let revived = app
        .patch(&path, &user.token, json!({ "push_token": "fcm-token-new" }))
        .await;
    assert_eq!(revived.status, 200, "{}", revived.text);
    assert_eq!(revived.body["active"], true);
    assert_eq!(revived.body["has_push_token"], true);
    assert!(!revived.text.contains("fcm-token-new"));
    assert_eq!(devices(&app, &user).await[0]["active"], true);
    // Clearing the token leaves a device without push.
    let cleared = app.patch(&path, &user.token, json!({ "push_token": null })).await;
    assert_eq!(cleared.body["has_push_token"], false);
    let bad = app
        .patch(
            &path,
            &user.token,
            json!({ "name": "Autre", "push_provider": "pigeon" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["push_provider"]);
    let now = devices(&app, &user).await;
    assert_eq!(now[0]["name"], "Pixel 9");
    assert_eq!(now[0]["push_provider"], "fcm");
}

#[tokio::test]
async fn a_deleted_device_is_gone() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let d = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "ios", "name": "iPhone" }),
        )
        .await
        .body;
    let path = format!("/v1/devices/{}", d["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, &user.token).await.status, 204);
    app.delete(&path, &user.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &user.token, json!({ "name": "x" }))
        .await
        .assert_problem(404, "not_found");
    assert!(devices(&app, &user).await.is_empty());
}

#[tokio::test]
async fn another_user_cannot_change_or_delete_my_device() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let d = app
        .post(
            "/v1/devices",
            &lise.token,
            json!({ "platform": "ios", "name": "iPhone de Lise", "push_provider": "apns", "push_token": TOKEN }),
        )
        .await
        .body;
    let path = format!("/v1/devices/{}", d["id"].as_str().unwrap());
    let changed = app
        .patch(
            &path,
            &nicolas.token,
            json!({ "push_provider": "webhook", "push_token": "https://attacker.example/hook" }),
        )
        .await;
    changed.assert_problem(404, "not_found");
    assert!(!changed.text.contains("iPhone de Lise"));
    app.patch(&path, &nicolas.token, json!({ "active": false }))
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, &nicolas.token)
        .await
        .assert_problem(404, "not_found");
    assert!(devices(&app, &nicolas).await.is_empty());
    let mine = devices(&app, &lise).await;
    assert_eq!(mine, [d]);
}

#[tokio::test]
async fn a_patch_cannot_leave_a_push_token_without_its_provider() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let web = app
        .post(
            "/v1/devices",
            &user.token,
            json!({ "platform": "web", "name": "Navigateur" }),
        )
        .await
        .body;
    let path = format!("/v1/devices/{}", web["id"].as_str().unwrap());
    let orphan = app
        .patch(&path, &user.token, json!({ "push_token": TOKEN }))
        .await;
    orphan.assert_problem(422, "validation_failed");
    assert_eq!(orphan.error_fields(), ["push_provider"]);
    assert_eq!(devices(&app, &user).await[0]["has_push_token"], false);
    let both = app
        .patch(
            &path,
            &user.token,
            json!({ "push_provider": "webhook", "push_token": TOKEN }),
        )
        .await;
    assert_eq!(both.status, 200, "{}", both.text);
    assert_eq!(both.body["has_push_token"], true);
    let unprovided = app
        .patch(&path, &user.token, json!({ "push_provider": null }))
        .await;
    unprovided.assert_problem(422, "validation_failed");
    assert_eq!(unprovided.error_fields(), ["push_provider"]);
    assert_eq!(devices(&app, &user).await[0]["push_provider"], "webhook");
    let off = app
        .patch(
            &path,
            &user.token,
            json!({ "push_provider": null, "push_token": null }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["has_push_token"], false);
    assert_eq!(off.body["push_provider"], Value::Null);
}
