//! Organizer flows: joining by code, waitlist, consent, attendee list, check-in and the
//! exchange of cards between attendees.

use carnet_tests::{spawn_app, spawn_app_with, TestApp, User};
use serde_json::{json, Value};

async fn event(app: &TestApp, user: &User, body: Value) -> Value {
    let answer = app.post("/v1/events", &user.token, body).await;
    assert_eq!(answer.status, 201, "create event failed: {}", answer.text);
    answer.body
}

fn apero(extra: Value) -> Value {
    let mut body = json!({ "kind": "apero", "title": "Apéro du jeudi", "starts_at": "2026-12-03T18:00:00Z" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn code(e: &Value) -> &str {
    e["join_code"].as_str().unwrap()
}

async fn join(app: &TestApp, user: &User, code: &str) -> Value {
    let answer = app
        .post("/v1/events/join", &user.token, json!({ "code": code }))
        .await;
    assert!(
        answer.status == 201 || answer.status == 200,
        "join failed: {}",
        answer.text
    );
    answer.body
}

async fn my_attendance(app: &TestApp, user: &User, e: &Value) -> Value {
    let answer = app
        .get(&format!("/v1/events/{}/attendance", id(e)), &user.token)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

async fn set_attendance(app: &TestApp, user: &User, e: &Value, body: Value) -> Value {
    let answer = app
        .patch(&format!("/v1/events/{}/attendance", id(e)), &user.token, body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

/// The attendee list as `user` sees it (the answer, which may be a refusal).
async fn attendee_list(app: &TestApp, user: &User, e: &Value) -> carnet_tests::Answer {
    app.get(&format!("/v1/events/{}/attendees", id(e)), &user.token)
        .await
}

fn names(list: &carnet_tests::Answer) -> Vec<String> {
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// Statuses of the event's attendances by name, as the organizer sees them.
async fn statuses(app: &TestApp, organizer: &User, e: &Value) -> Vec<(String, String)> {
    let list = app
        .get(
            &format!("/v1/events/{}/attendees?limit=200", id(e)),
            &organizer.token,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["role"] != "organizer")
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of<'a>(all: &'a [(String, String)], name: &str) -> &'a str {
    &all.iter().find(|(n, _)| n == name).unwrap().1
}

/// How many items the first page of the list at `path` shows `user`.
async fn count_listed(app: &TestApp, path: &str, user: &User) -> usize {
    let list = app.get(path, &user.token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().len()
}

async fn set_card(app: &TestApp, user: &User, card: Value) {
    let answer = app.patch("/v1/me", &user.token, json!({ "card": card })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn joining_by_code_registers_me_once_and_shows_me_the_event_without_its_code() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let marc = app.register("Marc").await;
    let e = event(&app, &lise, apero(json!({}))).await;
    // Typed as people type it: lower case, a dash.
    let typed = format!("{}-{}", &code(&e)[..3], &code(&e)[3..]).to_lowercase();
    let first = app
        .post("/v1/events/join", &paul.token, json!({ "code": typed }))
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let a = &first.body;
    assert_eq!(a["event_id"], id(&e));
    assert_eq!(a["status"], "registered");
    assert_eq!(a["role"], "attendee");
    assert_eq!(a["share_profile"], false);
    let checkin = a["checkin_code"].as_str().unwrap();
    assert!(checkin.len() >= 8, "{checkin}");

    let again = app
        .post("/v1/events/join", &paul.token, json!({ "code": code(&e) }))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], a["id"]);
    assert_eq!(again.body["checkin_code"], checkin);
    assert_eq!(
        statuses(&app, &lise, &e).await,
        [("Paul".to_string(), "registered".to_string())]
    );
    assert_eq!(my_attendance(&app, &paul, &e).await["checkin_code"], checkin);

    // The attendee sees the event and lists it, but never its join code.
    let seen = app.get(&format!("/v1/events/{}", id(&e)), &paul.token).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    assert_eq!(seen.body["title"], "Apéro du jeudi");
    assert_eq!(seen.body["join_code"], Value::Null);
    assert_eq!(seen.body["is_organizer"], false);
    let listed = app.get("/v1/events", &paul.token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], id(&e));
    assert_eq!(listed.body["items"][0]["join_code"], Value::Null);
    assert!(!listed.text.contains(code(&e)));

    // Someone who did not join sees nothing of it.
    app.get(&format!("/v1/events/{}", id(&e)), &marc.token)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/v1/events/{}/attendance", id(&e)), &marc.token)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(count_listed(&app, "/v1/events", &marc).await, 0);
}

#[tokio::test]
async fn bad_and_unknown_join_codes_are_refused_clearly() {
    let app = spawn_app().await;
    let paul = app.register("Paul").await;
    for bad in ["", "ABC", "ABCDEFG", "O0I1AA", "ABC?EF"] {
        let answer = app
            .post("/v1/events/join", &paul.token, json!({ "code": bad }))
            .await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.body["errors"][0]["code"], "invalid_join_code", "{bad:?}");
    }
    let unknown = app
        .post("/v1/events/join", &paul.token, json!({ "code": "ZZZZZZ" }))
        .await;
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(unknown.error_fields(), ["code"]);
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_join_code");
    assert_eq!(count_listed(&app, "/v1/events", &paul).await, 0);
}

#[tokio::test]
async fn the_organizer_regenerates_the_join_code_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let claire = app.register("Claire").await;
    let e = event(&app, &lise, apero(json!({}))).await;
    let old = code(&e).to_string();
    join(&app, &paul, &old).await;
    let path = format!("/v1/events/{}/join_code", id(&e));
    // Attendees and strangers cannot change it.
    app.post(&path, &paul.token, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.post(&path, &claire.token, json!({}))
        .await
        .assert_problem(404, "not_found");
    let renewed = app.post(&path, &lise.token, json!({})).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text);
    let new = renewed.body["join_code"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(new.len(), 6);
    assert_eq!(
        app.get(&format!("/v1/events/{}", id(&e)), &lise.token).await.body["join_code"],
        new.as_str()
    );
    let stale = app
        .post("/v1/events/join", &claire.token, json!({ "code": old }))
        .await;
    assert_eq!(
        stale.body["errors"][0]["code"], "unknown_join_code",
        "{}",
        stale.text
    );
    let joined = app
        .post("/v1/events/join", &claire.token, json!({ "code": new }))
        .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    // Those who joined with the old code are still there.
    assert_eq!(my_attendance(&app, &paul, &e).await["status"], "registered");
}

#[tokio::test]
async fn guessing_join_codes_is_limited_per_user_and_per_address() {
    let app = spawn_app_with(&[
        ("CARNET_JOIN_MAX_FAILURES", "3"),
        ("CARNET_JOIN_MAX_FAILURES_PER_IP", "5"),
        ("CARNET_JOIN_WINDOW_SECS", "600"),
    ])
    .await;
    let lise = app.register("Lise").await;
    let mallory = app.register("Mallory").await;
    let eve = app.register("Eve").await;
    let paul = app.register("Paul").await;
    let e = event(&app, &lise, apero(json!({}))).await;
    for guess in ["ZZZZZA", "ZZZZZB", "ZZZZZC"] {
        let answer = app
            .post("/v1/events/join", &mallory.token, json!({ "code": guess }))
            .await;
        assert_eq!(
            answer.body["errors"][0]["code"], "unknown_join_code",
            "{}",
            answer.text
        );
    }
    let blocked = app
        .post("/v1/events/join", &mallory.token, json!({ "code": "ZZZZZD" }))
        .await;
    blocked.assert_problem(429, "rate_limited");
    let retry: u64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=601).contains(&retry), "{retry}");
    // Even the right code waits: otherwise guessing would go on.
    app.post("/v1/events/join", &mallory.token, json!({ "code": code(&e) }))
        .await
        .assert_problem(429, "rate_limited");
    assert_eq!(statuses(&app, &lise, &e).await, Vec::<(String, String)>::new());

    // Another user from the same address has their own allowance, until the address's runs out.
    for guess in ["ZZZZZE", "ZZZZZF"] {
        let answer = app
            .post("/v1/events/join", &eve.token, json!({ "code": guess }))
            .await;
        assert_eq!(
            answer.body["errors"][0]["code"], "unknown_join_code",
            "{}",
            answer.text
        );
    }
    app.post("/v1/events/join", &paul.token, json!({ "code": "ZZZZZG" }))
        .await
        .assert_problem(429, "rate_limited");
    app.post("/v1/events/join", &paul.token, json!({ "code": code(&e) }))
        .await
        .assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn past_capacity_people_wait_and_a_cancellation_promotes_the_first_in_line() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero(json!({ "capacity": 2 }))).await;
    let mut people = Vec::new();
    for name in ["Anna", "Bruno", "Chloé", "David", "Emma"] {
        let user = app.register(name).await;
        let a = join(&app, &user, code(&e)).await;
        people.push((user, a));
    }
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(status_of(&st, "Anna"), "registered");
    assert_eq!(status_of(&st, "Bruno"), "registered");
    assert_eq!(status_of(&st, "Chloé"), "waitlisted");
    assert_eq!(status_of(&st, "David"), "waitlisted");
    assert_eq!(status_of(&st, "Emma"), "waitlisted");
    // Joining again while waitlisted changes nothing.
    let again = join(&app, &people[3].0, code(&e)).await;
    assert_eq!(again["status"], "waitlisted");
    assert_eq!(again["id"], people[3].1["id"]);

    // Anna cancels: Chloé, first in line, gets the place.
    let cancelled = set_attendance(&app, &people[0].0, &e, json!({ "status": "cancelled" })).await;
    assert_eq!(cancelled["status"], "cancelled");
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(status_of(&st, "Chloé"), "registered");
    assert_eq!(status_of(&st, "David"), "waitlisted");
    // A cancelled attendee no longer sees the event.
    app.get(&format!("/v1/events/{}", id(&e)), &people[0].0.token)
        .await
        .assert_problem(404, "not_found");

    // The organizer cancels Bruno: David is next.
    let bruno = format!("/v1/events/{}/attendees/{}", id(&e), id(&people[1].1));
    let answer = app
        .patch(&bruno, &lise.token, json!({ "status": "cancelled" }))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(status_of(&st, "David"), "registered");
    assert_eq!(status_of(&st, "Emma"), "waitlisted");

    // Anna registers again: the event is full, she waits behind Emma.
    let back = set_attendance(&app, &people[0].0, &e, json!({ "status": "registered" })).await;
    assert_eq!(back["status"], "waitlisted");
    assert_eq!(back["id"], people[0].1["id"]);
    // The organizer removes David: Emma (waiting longer) gets the place, not Anna.
    let david = format!("/v1/events/{}/attendees/{}", id(&e), id(&people[3].1));
    assert_eq!(app.delete(&david, &lise.token).await.status, 204);
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(status_of(&st, "Emma"), "registered");
    assert_eq!(status_of(&st, "Anna"), "waitlisted");

    // One more place: Anna is promoted.
    let answer = app
        .patch(
            &format!("/v1/events/{}", id(&e)),
            &lise.token,
            json!({ "capacity": 3 }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        my_attendance(&app, &people[0].0, &e).await["status"],
        "registered"
    );

    // David, removed by the organizer, may join again: he comes back on the waitlist.
    let david_back = app
        .post("/v1/events/join", &people[3].0.token, json!({ "code": code(&e) }))
        .await;
    assert_eq!(david_back.status, 200, "{}", david_back.text);
    assert_eq!(david_back.body["status"], "waitlisted");
}

#[tokio::test]
async fn concurrent_joins_never_exceed_the_capacity() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero(json!({ "capacity": 3 }))).await;
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(app.register(&format!("Invité {i}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for user in &users {
        let (client, url, token, code) = (
            app.client.clone(),
            format!("{}/v1/events/join", app.address),
            user.token.clone(),
            code(&e).to_string(),
        );
        tasks.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap();
            TestApp::answer(res).await
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.unwrap());
    }
    assert!(answers.iter().all(|a| a.status == 201), "{answers:?}");
    let registered = answers
        .iter()
        .filter(|a| a.body["status"] == "registered")
        .count();
    assert_eq!(registered, 3);
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(st.len(), 12);
    assert_eq!(st.iter().filter(|(_, s)| s == "registered").count(), 3);
    assert_eq!(st.iter().filter(|(_, s)| s == "waitlisted").count(), 9);

    // Concurrent cancellations hand each freed place to exactly one waiting person.
    let mut holders = Vec::new();
    for user in users.iter() {
        if my_attendance(&app, user, &e).await["status"] == "registered" {
            holders.push(user);
        }
    }
    assert_eq!(holders.len(), 3);
    let mut cancels = tokio::task::JoinSet::new();
    for user in holders {
        {
            let (client, url, token) = (
                app.client.clone(),
                format!("{}/v1/events/{}/attendance", app.address, id(&e)),
                user.token.clone(),
            );
            cancels.spawn(async move {
                let res = client
                    .patch(url)
                    .bearer_auth(token)
                    .json(&json!({ "status": "cancelled" }))
                    .send()
                    .await
                    .unwrap();
                TestApp::answer(res).await
            });
        }
    }
    while let Some(answer) = cancels.join_next().await {
        assert_eq!(answer.unwrap().status, 200);
    }
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(st.iter().filter(|(_, s)| s == "cancelled").count(), 3);
    assert_eq!(st.iter().filter(|(_, s)| s == "registered").count(), 3);
    assert_eq!(st.iter().filter(|(_, s)| s == "waitlisted").count(), 6);
}

#[tokio::test]
async fn consent_is_recorded_with_its_time_and_can_be_withdrawn() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let anna = app.register("Anna").await;
    set_card(
        &app,
        &paul,
        json!({ "email": "paul@example.org", "organization": "Atelier Paul", "city": "Lyon" }),
    )
    .await;
    let e = event(&app, &lise, apero(json!({}))).await;
    join(&app, &paul, code(&e)).await;
    join(&app, &anna, code(&e)).await;

    // Before consent: the organizer sees Paul without details; Anna does not see him.
    let list = attendee_list(&app, &lise, &e).await;
    let paul_entry = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Paul")
        .unwrap()
        .clone();
    assert_eq!(paul_entry["share_profile"], false);
    assert_eq!(paul_entry["email"], Value::Null);
    assert!(!names(&attendee_list(&app, &anna, &e).await).contains(&"Paul".to_string()));

    let given = set_attendance(&app, &paul, &e, json!({ "share_profile": true })).await;
    assert_eq!(given["share_profile"], true);
    let given_at = given["share_profile_at"].as_str().unwrap().to_string();
    assert_eq!(
        given["checkin_code"],
        my_attendance(&app, &paul, &e).await["checkin_code"]
    );
    let seen = attendee_list(&app, &anna, &e).await;
    assert_eq!(names(&seen), ["Paul"]);
    assert_eq!(seen.body["items"][0]["email"], "paul@example.org");
    assert_eq!(seen.body["items"][0]["organization"], "Atelier Paul");
    let org = attendee_list(&app, &lise, &e).await;
    let paul_entry = org.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Paul")
        .unwrap()
        .clone();
    assert_eq!(paul_entry["email"], "paul@example.org");

    // Saying it again keeps the time of the decision.
    let same = set_attendance(&app, &paul, &e, json!({ "share_profile": true })).await;
    assert_eq!(same["share_profile_at"], given_at.as_str());

    let withdrawn = set_attendance(&app, &paul, &e, json!({ "share_profile": false })).await;
    assert_eq!(withdrawn["share_profile"], false);
    let withdrawn_at = withdrawn["share_profile_at"].as_str().unwrap();
    assert!(withdrawn_at >= given_at.as_str(), "{withdrawn_at} < {given_at}");
    assert!(names(&attendee_list(&app, &anna, &e).await).is_empty());
    let org = attendee_list(&app, &lise, &e).await;
    assert!(!org.text.contains("paul@example.org"), "{}", org.text);
    assert!(names(&org).contains(&"Paul".to_string()));

    // Bad values change nothing.
    let bad = app
        .patch(
            &format!("/v1/events/{}/attendance", id(&e)),
            &paul.token,
            json!({ "share_profile": true, "status": "checked_in" }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.error_fields(), ["status"]);
    assert_eq!(my_attendance(&app, &paul, &e).await["share_profile"], false);
}

#[tokio::test]
async fn only_members_see_the_attendee_list_and_only_when_the_organizer_allows_it() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let anna = app.register("Anna").await;
    let marc = app.register("Marc").await;
    let open = event(&app, &lise, apero(json!({}))).await;
    let closed = event(
        &app,
        &lise,
        apero(json!({ "attendee_list_visibility": "organizer" })),
    )
    .await;
    for e in [&open, &closed] {
        join(&app, &paul, code(e)).await;
        join(&app, &anna, code(e)).await;
        set_attendance(&app, &anna, e, json!({ "share_profile": true })).await;
    }
    assert_eq!(names(&attendee_list(&app, &paul, &open).await), ["Anna"]);
    attendee_list(&app, &paul, &closed)
        .await
        .assert_problem(404, "not_found");
    for e in [&open, &closed] {
        attendee_list(&app, &marc, e)
            .await
            .assert_problem(404, "not_found");
        assert_eq!(
            names(&attendee_list(&app, &lise, e).await),
            ["Lise", "Paul", "Anna"]
        );
    }
    // The organizer closes the list later: attendees lose it at once.
    app.patch(
        &format!("/v1/events/{}", id(&open)),
        &lise.token,
        json!({ "attendee_list_visibility": "organizer" }),
    )
    .await;
    attendee_list(&app, &paul, &open)
        .await
        .assert_problem(404, "not_found");
    // A cancelled attendee sees nothing any more.
    set_attendance(&app, &anna, &closed, json!({ "status": "cancelled" })).await;
    attendee_list(&app, &anna, &closed)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn the_organizer_checks_people_in_by_code_and_twice_is_harmless() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let anna = app.register("Anna").await;
    let marc = app.register("Marc").await;
    let e = event(&app, &lise, apero(json!({}))).await;
    let paul_code = join(&app, &paul, code(&e)).await["checkin_code"]
        .as_str()
        .unwrap()
        .to_string();
    let anna_code = join(&app, &anna, code(&e)).await["checkin_code"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1/events/{}/checkin", id(&e));

    // Attendees and strangers cannot check anyone in.
    for user in [&anna, &marc] {
        app.post(&path, &user.token, json!({ "code": paul_code }))
            .await
            .assert_problem(404, "not_found");
    }
    assert_eq!(my_attendance(&app, &paul, &e).await["status"], "registered");

    let first = app
        .post(&path, &lise.token, json!({ "code": paul_code.to_lowercase() }))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["name"], "Paul");
    assert_eq!(first.body["status"], "checked_in");
    assert_eq!(first.body["already_checked_in"], false);
    let at = first.body["checked_in_at"].as_str().unwrap().to_string();
    let second = app.post(&path, &lise.token, json!({ "code": paul_code })).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["already_checked_in"], true);
    assert_eq!(second.body["checked_in_at"], at.as_str());
    let mine = my_attendance(&app, &paul, &e).await;
    assert_eq!(mine["status"], "checked_in");
    assert_eq!(mine["checked_in_at"], at.as_str());

    let unknown = app
        .post(&path, &lise.token, json!({ "code": "NOPE234567" }))
        .await;
    unknown.assert_problem(422, "validation_failed");
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_checkin_code");
    // A code of another event's attendance is unknown here.
    let other = event(&app, &lise, apero(json!({ "title": "Autre" }))).await;
    let other_path = format!("/v1/events/{}/checkin", id(&other));
    let elsewhere = app
        .post(&other_path, &lise.token, json!({ "code": anna_code }))
        .await;
    assert_eq!(
        elsewhere.body["errors"][0]["code"], "unknown_checkin_code",
        "{}",
        elsewhere.text
    );

    // A cancelled attendance is refused clearly; a checked-in one cannot be cancelled.
    set_attendance(&app, &anna, &e, json!({ "status": "cancelled" })).await;
    app.post(&path, &lise.token, json!({ "code": anna_code }))
        .await
        .assert_problem(409, "attendance_cancelled");
    app.patch(
        &format!("/v1/events/{}/attendance", id(&e)),
        &paul.token,
        json!({ "status": "cancelled" }),
    )
    .await
    .assert_problem(409, "already_checked_in");
}

#[tokio::test]
async fn the_organizer_keeps_their_place_and_may_share_their_card() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero(json!({}))).await;
    let path = format!("/v1/events/{}/attendance", id(&e));
    app.patch(&path, &lise.token, json!({ "status": "cancelled" }))
        .await
        .assert_problem(409, "organizer_attendance");
    let mine = set_attendance(&app, &lise, &e, json!({ "share_profile": true })).await;
    assert_eq!(mine["role"], "organizer");
    assert_eq!(mine["status"], "registered");
    assert_eq!(mine["share_profile"], true);
    // Joining one's own event by its code answers the same attendance.
    let again = app
        .post("/v1/events/join", &lise.token, json!({ "code": code(&e) }))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], mine["id"]);
}

#[tokio::test]
async fn attendees_exchange_cards_into_contacts_linked_to_the_event() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let anna = app
        .register_with(
            "Anna Martin",
            json!({ "locale": "fr-FR", "timezone": "Europe/Paris" }),
        )
        .await;
    let marc = app.register("Marc").await;
    set_card(
        &app,
        &paul,
        json!({
            "headline": "Ébéniste",
            "organization": "Atelier Paul",
            "email": "Paul@Example.org",
            "phone": "+33 6 12 34 56 78",
            "links": ["https://paul.example.org"],
            "city": "Lyon"
        }),
    )
    .await;
    let e = event(
        &app,
        &lise,
        apero(json!({ "title": "Jelly de la Croix-Rousse", "starts_at": "2026-12-03T23:30:00Z", "timezone": "Asia/Tokyo" })),
    )
    .await;
    let paul_a = join(&app, &paul, code(&e)).await;
    join(&app, &anna, code(&e)).await;
    let path = format!("/v1/events/{}/exchange", id(&e));
    let body = json!({ "attendee_id": id(&paul_a) });

    // Paul has not consented yet.
    app.post(&path, &anna.token, body.clone())
        .await
        .assert_problem(404, "not_found");
    set_attendance(&app, &paul, &e, json!({ "share_profile": true })).await;

    let made = app.post(&path, &anna.token, body.clone()).await;
    assert_eq!(made.status, 201, "{}", made.text);
    let c = &made.body;
    assert_eq!(c["name"], "Paul");
    assert_eq!(c["organization"], "Atelier Paul");
    assert_eq!(c["job_title"], "Ébéniste");
    assert_eq!(c["city"], "Lyon");
    assert_eq!(c["emails"], json!(["paul@example.org"]));
    assert_eq!(c["phones"], json!(["+33612345678"]));
    assert_eq!(c["links"], json!(["https://paul.example.org/"]));
    assert_eq!(c["met_at_event_id"], id(&e));
    assert_eq!(c["met_in_person"], true);
    assert_eq!(
        c["first_met_on"], "2026-12-04",
        "the event's date where it takes place"
    );
    assert!(
        c["how_we_met"]
            .as_str()
            .unwrap()
            .contains("Jelly de la Croix-Rousse"),
        "{}",
        c["how_we_met"]
    );

    // Anna adds a note and an email of her own; Paul changes his card; a second exchange
    // updates the same contact and keeps what Anna added.
    let contact_path = format!("/v1/contacts/{}", id(c));
    let noted = app
        .patch(
            &contact_path,
            &anna.token,
            json!({ "notes": "Parle de bois", "emails": ["paul@example.org", "paul@atelier.example"] }),
        )
        .await;
    assert_eq!(noted.status, 200, "{}", noted.text);
    set_card(&app, &paul, json!({ "organization": "Atelier Paul & fils" })).await;
    let again = app.post(&path, &anna.token, body.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["id"], c["id"]);
    assert_eq!(again.body["organization"], "Atelier Paul & fils");
    assert_eq!(again.body["notes"], "Parle de bois");
    assert_eq!(
        again.body["emails"],
        json!(["paul@example.org", "paul@atelier.example"])
    );

    let met = app
        .get(&format!("/v1/contacts?event_id={}", id(&e)), &anna.token)
        .await;
    assert_eq!(met.status, 200, "{}", met.text);
    let items = met.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], c["id"]);
    assert_eq!(count_listed(&app, "/v1/contacts", &anna).await, 1);

    // Refusals: a stranger, myself, an unknown attendance, and nothing is created for them.
    app.post(&path, &marc.token, body.clone())
        .await
        .assert_problem(404, "not_found");
    app.post(&path, &paul.token, body.clone())
        .await
        .assert_problem(404, "not_found");
    app.post(
        &path,
        &anna.token,
        json!({ "attendee_id": "0192f1d2-0000-7000-8000-000000000000" }),
    )
    .await
    .assert_problem(404, "not_found");
    assert_eq!(count_listed(&app, "/v1/contacts", &marc).await, 0);

    // Withdrawn consent: no more exchanges.
    set_attendance(&app, &paul, &e, json!({ "share_profile": false })).await;
    app.post(&path, &lise.token, body.clone())
        .await
        .assert_problem(404, "not_found");
    assert_eq!(count_listed(&app, "/v1/contacts", &lise).await, 0);
}

#[tokio::test]
async fn only_attendees_holding_a_place_exchange_cards() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let paul = app.register("Paul").await;
    let anna = app.register("Anna").await;
    let e = event(&app, &lise, apero(json!({ "capacity": 1 }))).await;
    let paul_a = join(&app, &paul, code(&e)).await;
    set_attendance(&app, &paul, &e, json!({ "share_profile": true })).await;
    let anna_a = join(&app, &anna, code(&e)).await;
    assert_eq!(anna_a["status"], "waitlisted");
    let path = format!("/v1/events/{}/exchange", id(&e));
    app.post(&path, &anna.token, json!({ "attendee_id": id(&paul_a) }))
        .await
        .assert_problem(409, "not_attending");
    // The organizer attends their own event and may exchange.
    let made = app
        .post(&path, &lise.token, json!({ "attendee_id": id(&paul_a) }))
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    // A waitlisted attendee who consented cannot be added either.
    set_attendance(&app, &anna, &e, json!({ "share_profile": true })).await;
    app.post(&path, &lise.token, json!({ "attendee_id": id(&anna_a) }))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn parallel_guesses_cannot_slip_past_the_limit() {
    let app = spawn_app_with(&[("CARNET_JOIN_MAX_FAILURES", "3")]).await;
    let mallory = app.register("Mallory").await;
    let mut tasks = tokio::task::JoinSet::new();
    for last in "ABCDEFGHJK".chars() {
        let (client, url, token) = (
            app.client.clone(),
            format!("{}/v1/events/join", app.address),
            mallory.token.clone(),
        );
        tasks.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "code": format!("ZZZZZ{last}") }))
                .send()
                .await
                .unwrap();
            TestApp::answer(res).await.status.as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [422, 422, 422, 429, 429, 429, 429, 429, 429, 429]);
}

#[tokio::test]
async fn an_erased_account_frees_its_place_for_the_first_in_line() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, apero(json!({ "capacity": 1 }))).await;
    let anna = app.register("Anna").await;
    let bruno = app.register("Bruno").await;
    assert_eq!(join(&app, &anna, code(&e)).await["status"], "registered");
    assert_eq!(join(&app, &bruno, code(&e)).await["status"], "waitlisted");

    let answer = app.delete("/v1/me", &anna.token).await;
    assert_eq!(answer.status, 204, "{}", answer.text);

    assert_eq!(my_attendance(&app, &bruno, &e).await["status"], "registered");
    let st = statuses(&app, &lise, &e).await;
    assert_eq!(st, vec![("Bruno".to_string(), "registered".to_string())]);
}
