use carnet_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn due_local_and_timezone_give_due_at_across_dst() {
    let app = spawn_app().await;
    let user = app
        .register_with("Lise", json!({ "timezone": "America/Montreal" }))
        .await;
    let winter = app
        .post("/v1/reminders", &user.token, json!({ "title": "Rappeler Nicolas", "due_local": "2026-11-24T09:00:00", "timezone": "America/Montreal" }))
        .await;
    assert_eq!(winter.status, 201, "{}", winter.text);
    assert_eq!(winter.body["due_at"], "2026-11-24T14:00:00Z");
    assert_eq!(winter.body["due_local"], "2026-11-24T09:00:00");
    assert_eq!(winter.body["timezone"], "America/Montreal");
    assert_eq!(winter.body["status"], "open");
    // The account's zone is the default.
    let summer = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "Lunch", "due_local": "2027-07-01T09:00" }),
        )
        .await;
    assert_eq!(summer.body["due_at"], "2027-07-01T13:00:00Z");
    assert_eq!(summer.body["timezone"], "America/Montreal");
}

#[tokio::test]
async fn nonexistent_local_times_and_unknown_zones_are_422_and_ambiguous_ones_take_the_first() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let gap = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-03-08T02:30:00", "timezone": "America/Montreal" }),
        )
        .await;
    gap.assert_problem(422, "validation_failed");
    assert_eq!(gap.body["errors"][0]["code"], "nonexistent_local_time");
    let zone = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-03-08T09:00:00", "timezone": "Mars/Olympus" }),
        )
        .await;
    assert_eq!(zone.body["errors"][0]["code"], "unknown_timezone");
    let offset = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-03-08T09:00:00+01:00", "timezone": "Europe/Paris" }),
        )
        .await;
    assert_eq!(offset.body["errors"][0]["code"], "invalid_local_time");
    let fold = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-11-01T01:30:00", "timezone": "America/Montreal" }),
        )
        .await;
    assert_eq!(fold.status, 201);
    assert_eq!(fold.body["due_at"], "2026-11-01T05:30:00Z");
    assert_eq!(
        app.get("/v1/reminders", &user.token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn changing_the_zone_keeps_the_wall_clock_time() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let r = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-12-01T09:00:00", "timezone": "Europe/Paris" }),
        )
        .await;
    assert_eq!(r.body["due_at"], "2026-12-01T08:00:00Z");
    let id = r.body["id"].as_str().unwrap();
    let moved = app
        .patch(
            &format!("/v1/reminders/{id}"),
            &user.token,
            json!({ "timezone": "America/Montreal" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["due_local"], "2026-12-01T09:00:00");
    assert_eq!(moved.body["due_at"], "2026-12-01T14:00:00Z");
}

#[tokio::test]
async fn snooze_complete_and_repeat() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let r = app
        .post("/v1/reminders", &user.token, json!({ "title": "Point mensuel", "due_local": "2026-01-31T09:00:00", "timezone": "Europe/Paris", "repeat": { "every": 1, "unit": "months" } }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let snoozed = app
        .post(
            &format!("/v1/reminders/{id}/snooze"),
            &user.token,
            json!({ "minutes": 30 }),
        )
        .await;
    assert_eq!(snoozed.status, 200, "{}", snoozed.text);
    assert!(snoozed.body["snoozed_until"].is_string());
    assert_eq!(snoozed.body["fires_at"], snoozed.body["snoozed_until"]);
    app.post(
        &format!("/v1/reminders/{id}/snooze"),
        &user.token,
        json!({ "until": "2020-01-01T00:00:00Z" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(&format!("/v1/reminders/{id}/snooze"), &user.token, json!({}))
        .await
        .assert_problem(422, "validation_failed");

    // Completing a repeating reminder moves it past now, keeping the day clamped per month.
    let done = app
        .post(&format!("/v1/reminders/{id}/complete"), &user.token, json!({}))
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "open");
    assert_eq!(done.body["snoozed_until"], Value::Null);
    let due_local = done.body["due_local"].as_str().unwrap();
    assert!(due_local.ends_with("T09:00:00"), "{due_local}");
    assert!(done.body["due_at"].as_str().unwrap() > chrono::Utc::now().to_rfc3339().as_str());

    // A one-off reminder is done for good, and cannot be snoozed afterwards.
    let once = app
        .post(
            "/v1/reminders",
            &user.token,
            json!({ "title": "x", "due_local": "2026-12-01T09:00:00", "timezone": "UTC" }),
        )
        .await;
    let once_id = once.body["id"].as_str().unwrap();
    let finished = app
        .post(
            &format!("/v1/reminders/{once_id}/complete"),
            &user.token,
            json!({}),
        )
        .await;
    assert_eq!(finished.body["status"], "done");
    assert!(finished.body["completed_at"].is_string());
    app.post(
        &format!("/v1/reminders/{once_id}/snooze"),
        &user.token,
        json!({ "minutes": 5 }),
    )
    .await
    .assert_problem(409, "reminder_closed");
    let open = app.get("/v1/reminders?status=open", &user.token).await;
    assert_eq!(open.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keep_in_touch_keeps_one_open_reminder_that_moves_with_interactions() {
    let app = spawn_app().await;
    let user = app
        .register_with("Lise", json!({ "timezone": "Europe/Paris", "locale": "fr-FR" }))
        .await;
    let c = app
        .contact(&user, json!({ "name": "Nicolas", "keep_in_touch_days": 90 }))
        .await;
    let id = c["id"].as_str().unwrap();
    let reminders = app
        .get(&format!("/v1/reminders?contact_id={id}"), &user.token)
        .await;
    let items = reminders.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["origin"], "keep_in_touch");
    assert_eq!(items[0]["title"], "Prendre des nouvelles de Nicolas");
    assert!(items[0]["due_local"].as_str().unwrap().ends_with("T09:00:00"));

    app.post(
        &format!("/v1/contacts/{id}/interactions"),
        &user.token,
        json!({ "kind": "meal", "occurred_at": "2027-01-10T12:00:00Z" }),
    )
    .await;
    let moved = app
        .get(&format!("/v1/reminders?contact_id={id}"), &user.token)
        .await;
    let items = moved.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "still one open reminder");
    assert_eq!(items[0]["due_local"], "2027-04-10T09:00:00");
    assert_eq!(items[0]["due_at"], "2027-04-10T07:00:00Z");

    // Dropping the cadence cancels it.
    app.patch(
        &format!("/v1/contacts/{id}"),
        &user.token,
        json!({ "keep_in_touch_days": null }),
    )
    .await;
    let open = app
        .get(&format!("/v1/reminders?contact_id={id}&status=open"), &user.token)
        .await;
    assert!(open.body["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn reminders_link_only_to_my_contacts_and_stay_mine() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let theirs = app.contact(&nicolas, json!({ "name": "Claire" })).await;
    let bad = app
        .post("/v1/reminders", &lise.token, json!({ "title": "x", "due_local": "2026-12-01T09:00:00", "timezone": "UTC", "contact_id": theirs["id"] }))
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.body["errors"][0]["code"], "unknown_contact");
    let mine = app
        .post(
            "/v1/reminders",
            &lise.token,
            json!({ "title": "secret title", "due_local": "2026-12-01T09:00:00", "timezone": "UTC" }),
        )
        .await;
    let path = format!("/v1/reminders/{}", mine.body["id"].as_str().unwrap());
    for answer in [
        app.get(&path, &nicolas.token).await,
        app.patch(&path, &nicolas.token, json!({ "title": "y" })).await,
        app.delete(&path, &nicolas.token).await,
        app.post(&format!("{path}/complete"), &nicolas.token, json!({}))
            .await,
        app.post(&format!("{path}/snooze"), &nicolas.token, json!({ "minutes": 5 }))
            .await,
    ] {
        answer.assert_problem(404, "not_found");
        assert!(!answer.text.contains("secret"));
    }
    assert_eq!(app.get(&path, &lise.token).await.body["status"], "open");
}
