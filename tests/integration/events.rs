use carnet_tests::{spawn_app, TestApp, User};
use serde_json::{json, Value};

/// Creates an event for `user` and answers its JSON.
async fn event(app: &TestApp, user: &User, body: Value) -> Value {
    let answer = app.post("/v1/events", &user.token, body).await;
    assert_eq!(answer.status, 201, "create event failed: {}", answer.text);
    answer.body
}

fn apero(title: &str, starts_at: &str) -> Value {
    json!({ "kind": "apero", "title": title, "starts_at": starts_at })
}

async fn event_titles(app: &TestApp, user: &User) -> Vec<String> {
    let list = app.get("/v1/events", &user.token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_event_is_created_with_a_readable_join_code_for_its_organizer() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let created = app
        .post(
            "/v1/events",
            &lise.token,
            json!({
                "kind": "jelly",
                "title": "  Jelly à la Halle ",
                "description": "Coworking ouvert",
                "venue": "La Halle",
                "city": "Lyon",
                "starts_at": "2026-12-03T08:30:00Z",
                "ends_at": "2026-12-03T17:00:00Z",
                "timezone": "Europe/Paris",
                "capacity": 12,
                "visibility": "unlisted",
                "attendee_list_visibility": "organizer"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let e = &created.body;
    assert_eq!(e["kind"], "jelly");
    assert_eq!(e["title"], "Jelly à la Halle");
    assert_eq!(e["description"], "Coworking ouvert");
    assert_eq!(e["starts_at"], "2026-12-03T08:30:00Z");
    assert_eq!(e["ends_at"], "2026-12-03T17:00:00Z");
    assert_eq!(e["timezone"], "Europe/Paris");
    assert_eq!(e["capacity"], 12);
    assert_eq!(e["visibility"], "unlisted");
    assert_eq!(e["attendee_list_visibility"], "organizer");
    assert_eq!(e["is_organizer"], true);
    assert_eq!(e["organizer_id"], lise.id.as_str());
    let code = e["join_code"].as_str().unwrap();
    assert_eq!(code.len(), 6, "{code}");
    assert!(
        code.chars()
            .all(|c| "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(c)),
        "join code {code:?} uses a character that can be misread"
    );
    let id = e["id"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/events/{id}"), &lise.token).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(&fetched.body, e);
}

#[tokio::test]
async fn join_codes_never_use_misreadable_characters() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let mut codes = std::collections::HashSet::new();
    for i in 0..20 {
        let e = event(&app, &lise, apero(&format!("Apéro {i}"), "2026-12-01T18:00:00Z")).await;
        let code = e["join_code"].as_str().unwrap().to_string();
        assert!(
            code.len() == 6
                && !code.contains(['0', 'O', '1', 'I'])
                && code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() && !c.is_ascii_lowercase()),
            "{code:?}"
        );
        codes.insert(code);
    }
    assert_eq!(codes.len(), 20, "join codes of open events are unique");
}

#[tokio::test]
async fn an_event_defaults_to_the_account_timezone_and_private_visibility() {
    let app = spawn_app().await;
    let user = app
        .register_with("Lise", json!({ "timezone": "America/Montreal" }))
        .await;
    let e = event(&app, &user, apero("Apéro", "2026-12-01T23:00:00Z")).await;
    assert_eq!(e["timezone"], "America/Montreal");
    assert_eq!(e["visibility"], "private");
    assert_eq!(e["attendee_list_visibility"], "attendees");
    assert_eq!(e["capacity"], Value::Null);
    assert_eq!(e["ends_at"], Value::Null);
}

#[tokio::test]
async fn event_validation_names_each_bad_field_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let answer = app
        .post(
            "/v1/events",
            &user.token,
            json!({
                "kind": "rave",
                "title": "   ",
                "timezone": "Mars/Olympus",
                "capacity": 0,
                "visibility": "everyone"
            }),
        )
        .await;
    answer.assert_problem(422, "validation_failed");
    let mut fields = answer.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["capacity", "kind", "starts_at", "timezone", "title", "visibility"]
    );
    let missing = app.post("/v1/events", &user.token, json!({})).await;
    missing.assert_problem(422, "validation_failed");
    let mut fields = missing.error_fields();
    fields.sort();
    assert_eq!(fields, ["kind", "starts_at", "title"]);
    let too_big = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "conference", "title": "x", "starts_at": "2026-12-01T09:00:00Z", "capacity": 100001 }),
        )
        .await;
    assert_eq!(too_big.error_fields(), ["capacity"]);
    let backwards = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-01T18:00:00Z", "ends_at": "2026-12-01T17:59:59Z" }),
        )
        .await;
    backwards.assert_problem(422, "validation_failed");
    assert_eq!(backwards.error_fields(), ["ends_at"]);
    assert_eq!(backwards.body["errors"][0]["code"], "before_start");
    let bad_date = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "demain soir" }),
        )
        .await;
    assert!(bad_date.status.is_client_error(), "{}", bad_date.text);
    assert!(event_titles(&app, &user).await.is_empty());
    // An event may end when it starts.
    let instant = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "apero", "title": "Flash", "starts_at": "2026-12-01T18:00:00Z", "ends_at": "2026-12-01T18:00:00Z" }),
        )
        .await;
    assert_eq!(instant.status, 201, "{}", instant.text);
}

#[tokio::test]
async fn the_list_shows_events_i_organise_soonest_first_page_by_page() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    for (title, at) in [
        ("C", "2026-12-03T18:00:00Z"),
        ("A", "2026-12-01T18:00:00Z"),
        ("E", "2027-01-15T18:00:00Z"),
        ("B", "2026-12-02T18:00:00Z"),
        ("D", "2026-12-04T18:00:00Z"),
    ] {
        event(&app, &lise, apero(title, at)).await;
    }
    event(&app, &nicolas, apero("Not Lise's", "2026-11-30T18:00:00Z")).await;
    let mut seen = Vec::new();
    let mut path = "/v1/events?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = app.get(&path, &lise.token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert_eq!(item["is_organizer"], true);
            assert!(item["join_code"].is_string());
            seen.push(item["title"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/events?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["A", "B", "C", "D", "E"]);
    assert_eq!(pages, 3);
    assert_eq!(event_titles(&app, &nicolas).await, ["Not Lise's"]);
    app.get("/v1/events?cursor=not-a-cursor", &lise.token)
        .await
        .assert_problem(400, "invalid_cursor");
}

#[tokio::test]
async fn patch_changes_only_named_fields_and_null_clears() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let e = event(
        &app,
        &user,
        json!({
            "kind": "round_table", "title": "Table ronde", "description": "Sur le financement",
            "venue": "Salle 2", "starts_at": "2026-12-01T18:00:00Z", "ends_at": "2026-12-01T20:00:00Z",
            "capacity": 20, "timezone": "Europe/Paris"
        }),
    )
    .await;
    let id = e["id"].as_str().unwrap();
    let path = format!("/v1/events/{id}");
    let patched = app
        .patch(
            &path,
            &user.token,
            json!({ "title": "Table ronde #2", "description": null, "capacity": null }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let p = &patched.body;
    assert_eq!(p["title"], "Table ronde #2");
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["capacity"], Value::Null);
    assert_eq!(p["venue"], "Salle 2");
    assert_eq!(p["kind"], "round_table");
    assert_eq!(p["starts_at"], e["starts_at"]);
    assert_eq!(p["ends_at"], e["ends_at"]);
    assert_eq!(p["timezone"], "Europe/Paris");
    assert_eq!(p["join_code"], e["join_code"]);
    assert_eq!(&app.get(&path, &user.token).await.body, p);
    // Moving the start past the stored end is refused, and nothing changes.
    let late = app
        .patch(
            &path,
            &user.token,
            json!({ "title": "Trop tard", "starts_at": "2026-12-01T21:00:00Z" }),
        )
        .await;
    late.assert_problem(422, "validation_failed");
    assert_eq!(late.body["errors"][0]["code"], "before_start");
    let bad = app
        .patch(&path, &user.token, json!({ "title": "Autre", "kind": "party" }))
        .await;
    assert_eq!(bad.error_fields(), ["kind"]);
    assert_eq!(app.get(&path, &user.token).await.body["title"], "Table ronde #2");
    let unknown = app
        .patch(&path, &user.token, json!({ "join_code": "AAAAAA" }))
        .await;
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(unknown.error_fields(), ["join_code"]);
}

#[tokio::test]
async fn a_deleted_event_is_gone() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let e = event(&app, &user, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let path = format!("/v1/events/{}", e["id"].as_str().unwrap());
    assert_eq!(app.delete(&path, &user.token).await.status, 204);
    app.get(&path, &user.token).await.assert_problem(404, "not_found");
    app.delete(&path, &user.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &user.token, json!({ "title": "x" }))
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{path}/attendees"), &user.token)
        .await
        .assert_problem(404, "not_found");
    assert!(event_titles(&app, &user).await.is_empty());
}

#[tokio::test]
async fn another_user_cannot_see_change_or_delete_my_event() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let e = event(&app, &lise, apero("Apéro privé", "2026-12-01T18:00:00Z")).await;
    let path = format!("/v1/events/{}", e["id"].as_str().unwrap());
    let seen = app.get(&path, &nicolas.token).await;
    seen.assert_problem(404, "not_found");
    assert!(!seen.text.contains("Apéro privé"));
    app.patch(&path, &nicolas.token, json!({ "title": "Hijack" }))
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, &nicolas.token)
        .await
        .assert_problem(404, "not_found");
    let attendees = app.get(&format!("{path}/attendees"), &nicolas.token).await;
    attendees.assert_problem(404, "not_found");
    app.post(
        &format!("{path}/attendees"),
        &nicolas.token,
        json!({ "name": "Intrus" }),
    )
    .await
    .assert_problem(404, "not_found");
    let mine = app.get(&path, &lise.token).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body, e);
    let list = app.get(&format!("{path}/attendees"), &lise.token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{}", list.text);
    assert!(!list.text.contains("Intrus"));
}

#[tokio::test]
async fn a_contact_can_be_met_at_my_event_but_not_at_someone_elses() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let mine = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let theirs = event(&app, &nicolas, apero("Colunch", "2026-12-02T12:00:00Z")).await;
    let (mine, theirs) = (mine["id"].as_str().unwrap(), theirs["id"].as_str().unwrap());
    let claire = app
        .contact(&lise, json!({ "name": "Claire", "met_at_event_id": mine }))
        .await;
    assert_eq!(claire["met_at_event_id"], mine);
    app.contact(&lise, json!({ "name": "Paul" })).await;
    let filtered = app
        .get(&format!("/v1/contacts?event_id={mine}"), &lise.token)
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.text);
    let items = filtered.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "Claire");
    let refused = app
        .post(
            "/v1/contacts",
            &lise.token,
            json!({ "name": "Marc", "met_at_event_id": theirs }),
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    assert_eq!(refused.error_fields(), ["met_at_event_id"]);
    assert_eq!(refused.body["errors"][0]["code"], "unknown_event");
    let moved = app
        .patch(
            &format!("/v1/contacts/{}", claire["id"].as_str().unwrap()),
            &lise.token,
            json!({ "met_at_event_id": theirs }),
        )
        .await;
    assert_eq!(moved.body["errors"][0]["code"], "unknown_event", "{}", moved.text);
    let all = app.get("/v1/contacts", &lise.token).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    let still = app
        .get(&format!("/v1/contacts?event_id={mine}"), &lise.token)
        .await;
    assert_eq!(still.body["items"][0]["name"], "Claire");
}

// Attendees

fn attendees_path(e: &Value) -> String {
    format!("/v1/events/{}/attendees", e["id"].as_str().unwrap())
}

async fn attendees(app: &TestApp, user: &User, e: &Value) -> Vec<Value> {
    let list = app.get(&attendees_path(e), &user.token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().clone()
}

async fn guest(app: &TestApp, user: &User, e: &Value, body: Value) -> Value {
    let answer = app.post(&attendees_path(e), &user.token, body).await;
    assert_eq!(answer.status, 201, "add guest failed: {}", answer.text);
    answer.body
}

#[tokio::test]
async fn the_organizer_is_listed_as_organizer() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let list = attendees(&app, &lise, &e).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["role"], "organizer");
    assert_eq!(list[0]["user_id"], lise.id.as_str());
    assert_eq!(list[0]["name"], "Lise");
    assert_eq!(list[0]["is_guest"], false);
    assert_eq!(list[0]["status"], "registered");
}

#[tokio::test]
async fn a_guest_is_added_with_the_email_the_organizer_entered() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let g = guest(
        &app,
        &lise,
        &e,
        json!({ "name": " Claire Martin ", "email": "Claire@Example.ORG", "role": "speaker" }),
    )
    .await;
    assert_eq!(g["name"], "Claire Martin");
    assert_eq!(g["is_guest"], true);
    assert_eq!(g["user_id"], Value::Null);
    // The domain is lower-cased; the local part is kept as typed.
    assert_eq!(g["email"], "Claire@example.org");
    assert_eq!(g["role"], "speaker");
    assert_eq!(g["status"], "registered");
    let plain = guest(&app, &lise, &e, json!({ "name": "Paul" })).await;
    assert_eq!(plain["role"], "attendee");
    assert_eq!(plain["email"], Value::Null);
    let list = attendees(&app, &lise, &e).await;
    let names: Vec<_> = list.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Lise", "Claire Martin", "Paul"]);
    assert_eq!(list[1]["email"], "Claire@example.org");
    assert_eq!(list[1]["id"], g["id"]);
}

#[tokio::test]
async fn a_bad_guest_is_refused_and_not_added() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let bad = app
        .post(
            &attendees_path(&e),
            &lise.token,
            json!({ "name": "", "email": "nope", "role": "organizer" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "name", "role"]);
    assert_eq!(attendees(&app, &lise, &e).await.len(), 1);
}

#[tokio::test]
async fn past_capacity_guests_are_waitlisted_and_the_organizer_takes_no_place() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(
        &app,
        &lise,
        json!({ "kind": "colunching", "title": "Colunch", "starts_at": "2026-12-01T12:00:00Z", "capacity": 2 }),
    )
    .await;
    let first = guest(&app, &lise, &e, json!({ "name": "Claire" })).await;
    let second = guest(&app, &lise, &e, json!({ "name": "Paul" })).await;
    let third = guest(&app, &lise, &e, json!({ "name": "Marc" })).await;
    assert_eq!(first["status"], "registered");
    assert_eq!(second["status"], "registered");
    assert_eq!(third["status"], "waitlisted");
    // A cancelled place goes to the first waitlisted guest.
    let path = format!("{}/{}", attendees_path(&e), first["id"].as_str().unwrap());
    let cancelled = app
        .patch(&path, &lise.token, json!({ "status": "cancelled" }))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let marc = attendees(&app, &lise, &e)
        .await
        .into_iter()
        .find(|a| a["name"] == "Marc")
        .unwrap();
    assert_eq!(marc["status"], "registered");
    let fourth = guest(&app, &lise, &e, json!({ "name": "Julie" })).await;
    assert_eq!(fourth["status"], "waitlisted");
    // Julie, now first in line, gets the next freed place.
    let second_path = format!("{}/{}", attendees_path(&e), second["id"].as_str().unwrap());
    app.patch(&second_path, &lise.token, json!({ "status": "cancelled" }))
        .await;
    let julie = attendees(&app, &lise, &e)
        .await
        .into_iter()
        .find(|a| a["name"] == "Julie")
        .unwrap();
    assert_eq!(julie["status"], "registered");
    let fifth = guest(&app, &lise, &e, json!({ "name": "Hugo" })).await;
    assert_eq!(fifth["status"], "waitlisted");
}

#[tokio::test]
async fn checking_in_sets_the_time_and_going_back_clears_it() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let g = guest(&app, &lise, &e, json!({ "name": "Claire" })).await;
    assert_eq!(g["checked_in_at"], Value::Null);
    let path = format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap());
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let checked = app
        .patch(&path, &lise.token, json!({ "status": "checked_in" }))
        .await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    assert_eq!(checked.body["status"], "checked_in");
    let at: chrono::DateTime<chrono::Utc> = checked.body["checked_in_at"].as_str().unwrap().parse().unwrap();
    assert!(at >= before && at <= chrono::Utc::now() + chrono::Duration::seconds(5));
    let listed = attendees(&app, &lise, &e).await;
    assert_eq!(listed[1]["status"], "checked_in");
    assert_eq!(listed[1]["checked_in_at"], checked.body["checked_in_at"]);
    // Checking in twice keeps the first time.
    let again = app
        .patch(&path, &lise.token, json!({ "status": "checked_in" }))
        .await;
    assert_eq!(again.body["checked_in_at"], checked.body["checked_in_at"]);
    let back = app
        .patch(&path, &lise.token, json!({ "status": "registered" }))
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.body["status"], "registered");
    assert_eq!(back.body["checked_in_at"], Value::Null);
    assert_eq!(attendees(&app, &lise, &e).await[1]["checked_in_at"], Value::Null);
}

#[tokio::test]
async fn a_bad_attendance_status_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let g = guest(&app, &lise, &e, json!({ "name": "Claire" })).await;
    let path = format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap());
    let bad = app
        .patch(
            &path,
            &lise.token,
            json!({ "status": "teleported", "name": "Claire B" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["status"]);
    let listed = attendees(&app, &lise, &e).await;
    assert_eq!(listed[1]["status"], "registered");
    assert_eq!(listed[1]["name"], "Claire");
}

#[tokio::test]
async fn the_organizers_attendance_cannot_be_removed_but_a_guest_can() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let g = guest(&app, &lise, &e, json!({ "name": "Claire" })).await;
    let list = attendees(&app, &lise, &e).await;
    let own = list[0]["id"].as_str().unwrap();
    app.delete(&format!("{}/{own}", attendees_path(&e)), &lise.token)
        .await
        .assert_problem(409, "organizer_attendance");
    let guest_path = format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap());
    assert_eq!(app.delete(&guest_path, &lise.token).await.status, 204);
    let after = attendees(&app, &lise, &e).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], own);
    app.delete(&guest_path, &lise.token)
        .await
        .assert_problem(404, "not_found");
    app.patch(&guest_path, &lise.token, json!({ "status": "checked_in" }))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn another_user_cannot_change_or_remove_an_attendance() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let e = event(&app, &lise, apero("Apéro", "2026-12-01T18:00:00Z")).await;
    let g = guest(
        &app,
        &lise,
        &e,
        json!({ "name": "Claire", "email": "claire@example.org" }),
    )
    .await;
    let path = format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap());
    let changed = app
        .patch(&path, &nicolas.token, json!({ "status": "cancelled" }))
        .await;
    changed.assert_problem(404, "not_found");
    assert!(!changed.text.contains("claire@example.org"));
    app.delete(&path, &nicolas.token)
        .await
        .assert_problem(404, "not_found");
    // Nor through an event of their own.
    let theirs = event(&app, &nicolas, apero("Autre", "2026-12-02T18:00:00Z")).await;
    let sideways = format!("{}/{}", attendees_path(&theirs), g["id"].as_str().unwrap());
    app.patch(&sideways, &nicolas.token, json!({ "status": "cancelled" }))
        .await
        .assert_problem(404, "not_found");
    app.delete(&sideways, &nicolas.token)
        .await
        .assert_problem(404, "not_found");
    let list = attendees(&app, &lise, &e).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["status"], "registered");
}

#[tokio::test]
async fn roles_cannot_route_around_the_organizers_attendance() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(
        &app,
        &lise,
        json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-01T18:00:00Z", "capacity": 1 }),
    )
    .await;
    let own = attendees(&app, &lise, &e).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own_path = format!("{}/{own}", attendees_path(&e));
    // Demoting the organizer would let their attendance be deleted.
    app.patch(&own_path, &lise.token, json!({ "role": "attendee" }))
        .await
        .assert_problem(409, "organizer_attendance");
    app.delete(&own_path, &lise.token)
        .await
        .assert_problem(409, "organizer_attendance");
    assert_eq!(attendees(&app, &lise, &e).await[0]["role"], "organizer");
    // A guest cannot be made organizer (and so stop taking a place).
    let g = guest(&app, &lise, &e, json!({ "name": "Claire" })).await;
    let promoted = app
        .patch(
            &format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap()),
            &lise.token,
            json!({ "role": "organizer" }),
        )
        .await;
    promoted.assert_problem(422, "validation_failed");
    assert_eq!(promoted.error_fields(), ["role"]);
    let host = app
        .patch(
            &format!("{}/{}", attendees_path(&e), g["id"].as_str().unwrap()),
            &lise.token,
            json!({ "role": "host" }),
        )
        .await;
    assert_eq!(host.status, 200, "{}", host.text);
    assert_eq!(host.body["role"], "host");
    let next = guest(&app, &lise, &e, json!({ "name": "Paul" })).await;
    assert_eq!(next["status"], "waitlisted");
}
