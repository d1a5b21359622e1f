use carnet_tests::{spawn_app, TestApp, User};
use reqwest::Method;
use serde_json::{json, Value};

async fn me(app: &TestApp, user: &User) -> Value {
    let answer = app.get("/v1/me", &user.token).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn me_shows_my_account_and_an_empty_card() {
    let app = spawn_app().await;
    let user = app
        .register_with(
            "Lise Cardinal",
            json!({ "timezone": "America/Montreal", "locale": "fr-CA" }),
        )
        .await;
    let m = me(&app, &user).await;
    assert_eq!(m["id"], user.id.as_str());
    assert_eq!(m["email"], user.email.as_str());
    assert_eq!(m["display_name"], "Lise Cardinal");
    assert_eq!(m["timezone"], "America/Montreal");
    assert_eq!(m["locale"], "fr-CA");
    assert_eq!(m["region"], "CA");
    assert_eq!(
        m["card"],
        json!({ "headline": null, "organization": null, "email": null, "phone": null, "links": [], "city": null })
    );
    assert!(m.get("password").is_none() && m.get("password_hash").is_none());
    let anonymous = app.request(Method::GET, "/v1/me", None, None).await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn patch_me_sets_settings_and_a_normalised_card() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let patched = app
        .patch(
            "/v1/me",
            &user.token,
            json!({
                "display_name": " Lise C. ",
                "timezone": "Europe/Paris",
                "locale": "fr_FR",
                "region": "FR",
                "card": {
                    "headline": "Fondatrice",
                    "organization": "Coopérative du Coin",
                    "email": "Lise@Example.ORG",
                    "phone": "06 12 34 56 78",
                    "links": ["linkedin.com/in/lise", "https://lise.example.org/blog"],
                    "city": "Lyon"
                }
            }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let m = &patched.body;
    assert_eq!(m["display_name"], "Lise C.");
    assert_eq!(m["timezone"], "Europe/Paris");
    assert_eq!(m["locale"], "fr-FR");
    assert_eq!(m["region"], "FR");
    assert_eq!(m["email"], user.email.as_str());
    let card = &m["card"];
    assert_eq!(card["headline"], "Fondatrice");
    assert_eq!(card["organization"], "Coopérative du Coin");
    assert_eq!(card["email"], "Lise@example.org");
    assert_eq!(card["phone"], "+33612345678");
    assert_eq!(
        card["links"],
        json!(["https://linkedin.com/in/lise", "https://lise.example.org/blog"])
    );
    assert_eq!(card["city"], "Lyon");
    assert_eq!(&me(&app, &user).await, m);
}

#[tokio::test]
async fn a_partial_card_patch_keeps_the_other_fields_and_null_clears() {
    let app = spawn_app().await;
    let user = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    let first = app
        .patch(
            "/v1/me",
            &user.token,
            json!({ "card": { "headline": "Fondatrice", "organization": "Coop", "phone": "+33 6 12 34 56 78", "links": ["lise.example.org/a"], "city": "Lyon" } }),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = app
        .patch(
            "/v1/me",
            &user.token,
            json!({ "card": { "city": "Paris", "organization": null } }),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    let card = &second.body["card"];
    assert_eq!(card["city"], "Paris");
    assert_eq!(card["organization"], Value::Null);
    assert_eq!(card["headline"], "Fondatrice");
    assert_eq!(card["phone"], "+33612345678");
    assert_eq!(card["links"], json!(["https://lise.example.org/a"]));
    // A patch without a card leaves the card alone.
    let third = app
        .patch("/v1/me", &user.token, json!({ "display_name": "Lise B" }))
        .await;
    assert_eq!(&third.body["card"], card);
    let cleared = app
        .patch(
            "/v1/me",
            &user.token,
            json!({ "card": { "phone": null, "links": null, "headline": null } }),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    let card = &cleared.body["card"];
    assert_eq!(card["phone"], Value::Null);
    assert_eq!(card["links"], json!([]));
    assert_eq!(card["headline"], Value::Null);
    assert_eq!(card["city"], "Paris");
    assert_eq!(cleared.body["display_name"], "Lise B");
    let region_cleared = app.patch("/v1/me", &user.token, json!({ "region": null })).await;
    assert_eq!(region_cleared.body["region"], Value::Null);
}

#[tokio::test]
async fn a_bad_patch_names_each_field_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    app.patch(
        "/v1/me",
        &user.token,
        json!({ "card": { "city": "Lyon", "email": "lise@example.org" } }),
    )
    .await;
    let before = me(&app, &user).await;
    let bad = app
        .patch(
            "/v1/me",
            &user.token,
            json!({
                "display_name": "Changed",
                "timezone": "Mars/Olympus",
                "region": "ZZ",
                "card": { "city": "Paris", "email": "not-an-email", "phone": "12", "links": ["javascript:alert(1)"] }
            }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["card.email", "card.links[0]", "card.phone", "region", "timezone"]
    );
    assert_eq!(me(&app, &user).await, before);
    app.patch("/v1/me", &user.token, json!({ "display_name": "" }))
        .await
        .assert_problem(422, "validation_failed");
    for (body, field) in [
        (json!({ "nickname": "Lili" }), "nickname"),
        (json!({ "card": { "twitter": "@lise" } }), "card.twitter"),
        (json!({ "email": "other@example.org" }), "email"),
        // Not filled by position.
        (json!({ "card": ["headline", "org"] }), "card"),
    ] {
        let answer = app.patch("/v1/me", &user.token, body).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), [field], "{}", answer.text);
    }
    assert_eq!(me(&app, &user).await, before);
}

#[tokio::test]
async fn a_phone_without_country_code_is_read_in_my_region() {
    let app = spawn_app().await;
    let user = app.register("Lise").await; // locale "en": no region
    let refused = app
        .patch(
            "/v1/me",
            &user.token,
            json!({ "card": { "phone": "06 12 34 56 78" } }),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["card.phone"]);
    let montreal = app
        .patch(
            "/v1/me",
            &user.token,
            json!({ "region": "ca", "card": { "phone": "(514) 555-0199" } }),
        )
        .await;
    assert_eq!(montreal.status, 200, "{}", montreal.text);
    assert_eq!(montreal.body["region"], "CA");
    assert_eq!(montreal.body["card"]["phone"], "+15145550199");
}

#[tokio::test]
async fn the_export_holds_everything_i_own_and_nothing_of_others() {
    let app = spawn_app().await;
    let lise = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    let nicolas = app.register("Nicolas").await;
    app.patch(
        "/v1/me",
        &lise.token,
        json!({ "card": { "headline": "Fondatrice", "phone": "06 12 34 56 78" } }),
    )
    .await;
    let device = app
        .post(
            "/v1/devices",
            &lise.token,
            json!({ "platform": "android", "name": "Pixel" }),
        )
        .await
        .body;
    let contact = app.contact(&lise, json!({ "name": "Claire" })).await;
    let interaction = app
        .post(
            &format!("/v1/contacts/{}/interactions", contact["id"].as_str().unwrap()),
            &lise.token,
            json!({ "kind": "meal", "occurred_at": "2026-11-20T12:30:00Z" }),
        )
        .await;
    assert_eq!(interaction.status, 201, "{}", interaction.text);
    let reminder = app
        .post(
            "/v1/reminders",
            &lise.token,
            json!({ "title": "Rappeler Claire", "due_local": "2026-12-01T09:00:00", "timezone": "Europe/Paris" }),
        )
        .await;
    assert_eq!(reminder.status, 201, "{}", reminder.text);
    let event = app
        .post(
            "/v1/events",
            &lise.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-01T18:00:00Z" }),
        )
        .await
        .body;
    let attendees = app
        .get(
            &format!("/v1/events/{}/attendees", event["id"].as_str().unwrap()),
            &lise.token,
        )
        .await;
    let attendance = attendees.body["items"][0]["id"].as_str().unwrap().to_string();
    // Nicolas's data, which must not appear.
    app.post(
        "/v1/devices",
        &nicolas.token,
        json!({ "platform": "ios", "name": "iPhone de Nicolas" }),
    )
    .await;
    app.contact(&nicolas, json!({ "name": "Secret de Nicolas" }))
        .await;
    app.post(
        "/v1/events",
        &nicolas.token,
        json!({ "kind": "jelly", "title": "Jelly de Nicolas", "starts_at": "2026-12-02T08:00:00Z" }),
    )
    .await;

    let export = app.get("/v1/me/export", &lise.token).await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert!(export
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("attachment")));
    let x = &export.body;
    assert_eq!(x["user"]["id"], lise.id.as_str());
    assert_eq!(x["user"]["email"], lise.email.as_str());
    assert_eq!(x["user"]["card"]["headline"], "Fondatrice");
    assert_eq!(x["user"]["card"]["phone"], "+33612345678");
    assert_eq!(ids(&x["devices"]), [device["id"].as_str().unwrap()]);
    assert_eq!(ids(&x["contacts"]), [contact["id"].as_str().unwrap()]);
    assert_eq!(
        ids(&x["interactions"]),
        [interaction.body["id"].as_str().unwrap()]
    );
    assert_eq!(ids(&x["reminders"]), [reminder.body["id"].as_str().unwrap()]);
    assert_eq!(ids(&x["events"]), [event["id"].as_str().unwrap()]);
    assert_eq!(x["events"][0]["join_code"], event["join_code"]);
    assert_eq!(ids(&x["attendances"]), [attendance.as_str()]);
    assert_eq!(x["attendances"][0]["role"], "organizer");
    for theirs in ["Nicolas", nicolas.id.as_str(), nicolas.email.as_str()] {
        assert!(!export.text.contains(theirs), "the export shows {theirs}");
    }
    assert!(!export.text.contains("password"));
}

#[tokio::test]
async fn erasing_my_account_frees_my_email_and_spares_others() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    app.contact(&lise, json!({ "name": "Claire" })).await;
    app.post(
        "/v1/devices",
        &lise.token,
        json!({ "platform": "ios", "name": "iPhone" }),
    )
    .await;
    app.post(
        "/v1/events",
        &lise.token,
        json!({ "kind": "apero", "title": "Apéro de Lise", "starts_at": "2026-12-01T18:00:00Z" }),
    )
    .await;
    let their_contact = app.contact(&nicolas, json!({ "name": "Paul" })).await;
    let their_event = app
        .post(
            "/v1/events",
            &nicolas.token,
            json!({ "kind": "jelly", "title": "Jelly", "starts_at": "2026-12-02T08:00:00Z" }),
        )
        .await
        .body;
    let before = app.get("/v1/me/export", &nicolas.token).await.body;

    assert_eq!(app.delete("/v1/me", &lise.token).await.status, 204);
    // Her tokens stop working.
    assert_eq!(app.get("/v1/me", &lise.token).await.status, 401);
    assert_eq!(app.get("/v1/contacts", &lise.token).await.status, 401);
    let refreshed = app
        .request(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": lise.refresh_token })),
        )
        .await;
    assert_eq!(refreshed.status, 401, "{}", refreshed.text);
    let login = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": lise.email, "password": lise.password })),
        )
        .await;
    assert_eq!(login.status, 401, "{}", login.text);
    // The email is free again, for a new and empty account.
    let again = app
        .request(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({ "email": lise.email, "password": lise.password, "display_name": "Lise again" })),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_ne!(again.body["user"]["id"], lise.id.as_str());
    let token = again.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/contacts", token).await.body["items"], json!([]));
    assert_eq!(app.get("/v1/events", token).await.body["items"], json!([]));
    assert_eq!(app.get("/v1/devices", token).await.body["items"], json!([]));
    // Nicolas keeps everything.
    let after = app.get("/v1/me/export", &nicolas.token).await.body;
    for key in [
        "user",
        "devices",
        "contacts",
        "interactions",
        "reminders",
        "events",
        "attendances",
    ] {
        assert_eq!(after[key], before[key], "{key} changed");
    }
    assert_eq!(
        app.get(
            &format!("/v1/contacts/{}", their_contact["id"].as_str().unwrap()),
            &nicolas.token
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.get(
            &format!("/v1/events/{}", their_event["id"].as_str().unwrap()),
            &nicolas.token
        )
        .await
        .status,
        200
    );
}

/// Lise with something in every table that can hold her data: records over REST and sync, a
/// conflict, a push delivered to her phone, a calendar feed, a failed login, a place at
/// Nicolas's event. Answers the values that must leave with her account.
async fn lise_everywhere(app: &TestApp, nicolas: &User) -> (User, Vec<String>) {
    let lise = app
        .register_with(
            "Lisandre Quintavalle",
            json!({ "timezone": "Europe/Paris", "locale": "fr-FR" }),
        )
        .await;
    let card = app
        .patch(
            "/v1/me",
            &lise.token,
            json!({ "card": { "headline": "Fondatrice Zéphyrine", "phone": "06 12 34 56 78" } }),
        )
        .await;
    assert_eq!(card.status, 200, "{}", card.text);
    crate::push::device(app, &lise, "fcm", "tok-lisandre-0001").await;
    let contact = app
        .contact(
            &lise,
            json!({ "name": "Claire Ombeline", "emails": ["claire@ombeline.example"] }),
        )
        .await;
    let contact_id = contact["id"].as_str().unwrap().to_string();
    let logged = app
        .post(
            &format!("/v1/contacts/{contact_id}/interactions"),
            &lise.token,
            json!({ "kind": "meal", "occurred_at": "2026-11-20T12:30:00Z", "notes": "Déjeuner Ombeline" }),
        )
        .await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    let due = app
        .post(
            "/v1/reminders",
            &lise.token,
            json!({ "title": "Rappeler Ombeline", "due_local": "2026-01-15T09:00:00", "contact_id": contact_id }),
        )
        .await;
    assert_eq!(due.status, 201, "{}", due.text);
    let event = app
        .post(
            "/v1/events",
            &lise.token,
            json!({ "kind": "apero", "title": "Apéro Quintavalle", "starts_at": "2026-12-10T18:00:00Z" }),
        )
        .await;
    assert_eq!(event.status, 201, "{}", event.text);
    let theirs = app
        .post(
            "/v1/events",
            &nicolas.token,
            json!({ "kind": "jelly", "title": "Jelly", "starts_at": "2026-12-11T08:00:00Z" }),
        )
        .await
        .body;
    let joined = app
        .post(
            "/v1/events/join",
            &lise.token,
            json!({ "code": theirs["join_code"] }),
        )
        .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let feed = app.post("/v1/calendar/feed", &lise.token, json!({})).await;
    assert!(feed.status.is_success(), "{}", feed.text);
    // An offline edit that loses to a later one from her other phone: a conflict holding
    // her value.
    let phone = crate::sync::Phone::new(app, &lise, "iPhone de Lisandre").await;
    let tablet = crate::sync::Phone::new(app, &lise, "iPad de Lisandre").await;
    let now = crate::sync::now_ms();
    let kept = json!({ "headline": "Kept Héliodore" });
    phone
        .push_ok(
            app,
            vec![phone.mutation_at(now, "contacts", &contact_id, "upsert", kept)],
        )
        .await;
    let lost = json!({ "headline": "Lost Héliodore" });
    tablet
        .push_ok(
            app,
            vec![tablet.mutation_at(now - 60_000, "contacts", &contact_id, "upsert", lost)],
        )
        .await;
    phone.pull_all(app, None).await;
    let failed = app
        .request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({ "email": lise.email, "password": "not her password" })),
        )
        .await;
    assert_eq!(failed.status, 401, "{}", failed.text);
    // The worker pushes the due reminder to her phone (the log provider in development).
    crate::push::wait_until("her reminder is pushed", || {
        app.scalar("SELECT count(*) FROM push_jobs WHERE status = 'delivered'") > 0
    })
    .await;
    let values = [
        lise.id.as_str(),
        &lise.email,
        "Quintavalle",
        "Zéphyrine",
        "33612345678",
        "Ombeline",
        "Héliodore",
        "tok-lisandre",
        "Lisandre",
    ];
    (lise.clone(), values.iter().map(|v| v.to_string()).collect())
}

#[tokio::test]
async fn the_export_holds_conflicts_pushes_sessions_and_the_calendar_feed() {
    let app = carnet_tests::spawn_app_with(&[
        ("CARNET_PUSH_WORKERS", "1"),
        ("CARNET_PUSH_POLL_INTERVAL_MS", "100"),
    ])
    .await;
    let nicolas = app.register("Nicolas").await;
    let (lise, _) = lise_everywhere(&app, &nicolas).await;
    let export = app.get("/v1/me/export", &lise.token).await;
    assert_eq!(export.status, 200, "{}", export.text);
    let x = &export.body;
    let conflicts = x["conflicts"].as_array().unwrap();
    assert!(
        conflicts
            .iter()
            .any(|c| c["lost"] == "Lost Héliodore" && c["kept"] == "Kept Héliodore"),
        "{conflicts:?}"
    );
    let pushes = x["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["status"], "delivered");
    assert_eq!(pushes[0]["payload"]["title"], "Rappeler Ombeline");
    let sessions = x["sessions"].as_array().unwrap();
    assert!(!sessions.is_empty());
    assert!(sessions
        .iter()
        .all(|s| s["created_at"].is_string() && s.get("token_hash").is_none()));
    assert_eq!(x["calendar_feed"]["active"], true);
    // No secret: no password hash, token digest, refresh token or feed token.
    for secret in ["password", "token_hash", "argon2", &lise.refresh_token] {
        assert!(!export.text.contains(secret), "the export shows {secret}");
    }
}

#[tokio::test]
async fn erasing_my_account_leaves_no_row_naming_me_in_any_table() {
    let app = carnet_tests::spawn_app_with(&[
        ("CARNET_PUSH_WORKERS", "1"),
        ("CARNET_PUSH_POLL_INTERVAL_MS", "100"),
    ])
    .await;
    let nicolas = app.register("Nicolas").await;
    let (lise, values) = lise_everywhere(&app, &nicolas).await;
    let before = app.rows_mentioning(&values);
    for table in [
        "users",
        "sync_changes",
        "sync_conflicts",
        "push_jobs",
        "login_failures",
        "calendar_feeds",
        "sessions",
        "devices",
        "attendances",
    ] {
        assert!(
            before.iter().any(|(t, _, _)| t == table),
            "the set-up put nothing of hers in {table}: {before:?}"
        );
    }
    assert_eq!(app.delete("/v1/me", &lise.token).await.status, 204);
    let after = app.rows_mentioning(&values);
    assert!(after.is_empty(), "rows still naming her: {after:?}");
    // Nicolas keeps his event.
    let list = app.get("/v1/events", &nicolas.token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}
