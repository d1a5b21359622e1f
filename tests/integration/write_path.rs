//! One write path: a phone's pushed edit obeys every rule a REST edit obeys (validation,
//! who may set which status, side effects), and a push holding a bad value rejects that
//! mutation alone.

use carnet_tests::{spawn_app, TestApp, User};
use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::sync::{new_id, Phone};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not an instant: {v}"))
        .parse()
        .unwrap()
}

/// The results of a push, by position.
fn results(answer: &Value) -> &Vec<Value> {
    answer["results"].as_array().unwrap()
}

/// The open keep-in-touch reminder of a contact, if any.
async fn keep_in_touch(app: &TestApp, user: &User, contact: &str) -> Option<Value> {
    let answer = app.get("/v1/reminders?limit=200", &user.token).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["contact_id"] == contact && r["origin"] == "keep_in_touch" && r["status"] == "open")
        .cloned()
}

#[tokio::test]
async fn an_interaction_logged_offline_moves_last_contact_and_keep_in_touch_as_over_rest() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let by_rest = id(&app
        .contact(&lise, json!({ "name": "Nicolas Roy", "keep_in_touch_days": 30 }))
        .await);
    let by_push = id(&app
        .contact(&lise, json!({ "name": "Nicolas Roy", "keep_in_touch_days": 30 }))
        .await);
    let at = "2026-11-20T12:30:00Z";
    let logged = app
        .post(
            &format!("/v1/contacts/{by_rest}/interactions"),
            &lise.token,
            json!({ "kind": "meal", "occurred_at": at }),
        )
        .await;
    assert_eq!(logged.status, 201, "{}", logged.text);
    let lunch = new_id();
    phone
        .push_ok(
            &app,
            vec![phone.mutation(
                "interactions",
                &lunch,
                "upsert",
                json!({ "contact_id": by_push, "kind": "meal", "occurred_at": at }),
            )],
        )
        .await;

    let rest_reminder = keep_in_touch(&app, &lise, &by_rest).await.unwrap();
    let push_reminder = keep_in_touch(&app, &lise, &by_push).await.unwrap();
    for contact in [&by_rest, &by_push] {
        let c = app.get(&format!("/v1/contacts/{contact}"), &lise.token).await;
        assert_eq!(
            instant(&c.body["last_interaction_at"]),
            instant(&json!(at)),
            "{}",
            c.text
        );
    }
    assert_eq!(push_reminder["due_local"], rest_reminder["due_local"]);
    assert_eq!(push_reminder["due_at"], rest_reminder["due_at"]);
    // Thirty days after the lunch, at the morning hour keep-in-touch reminders take.
    assert!(
        push_reminder["due_local"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-20T"),
        "{push_reminder}"
    );

    // Deleting the lunch from the phone takes the last contact back, as a REST delete does.
    phone
        .push_ok(
            &app,
            vec![phone.mutation("interactions", &lunch, "delete", json!({}))],
        )
        .await;
    let c = app.get(&format!("/v1/contacts/{by_push}"), &lise.token).await;
    assert!(c.body["last_interaction_at"].is_null(), "{}", c.text);
}

#[tokio::test]
async fn a_cadence_set_from_a_phone_keeps_a_reminder_as_over_rest() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let contact = new_id();
    phone
        .push_ok(
            &app,
            vec![phone.mutation(
                "contacts",
                &contact,
                "upsert",
                json!({ "name": "Awa Diallo", "keep_in_touch_days": 14 }),
            )],
        )
        .await;
    let reminder = keep_in_touch(&app, &lise, &contact)
        .await
        .expect("a keep-in-touch reminder");
    assert_eq!(reminder["title"], "Keep in touch with Awa Diallo");
    phone
        .push_ok(
            &app,
            vec![phone.mutation(
                "contacts",
                &contact,
                "upsert",
                json!({ "keep_in_touch_days": null }),
            )],
        )
        .await;
    assert!(keep_in_touch(&app, &lise, &contact).await.is_none());
}

async fn join(app: &TestApp, user: &User, code: &str) -> Value {
    let answer = app
        .post("/v1/events/join", &user.token, json!({ "code": code }))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body
}

async fn my_status(app: &TestApp, user: &User, event: &str) -> Value {
    let answer = app
        .get(&format!("/v1/events/{event}/attendance"), &user.token)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

#[tokio::test]
async fn a_phone_cannot_give_itself_a_place_nor_check_itself_in() {
    let app = spawn_app().await;
    let organizer = app.register("Olivia").await;
    let (xavier, yasmine) = (app.register("Xavier").await, app.register("Yasmine").await);
    let created = app
        .post(
            "/v1/events",
            &organizer.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-10T18:00:00Z", "capacity": 1 }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let event = id(&created.body);
    let code = created.body["join_code"].as_str().unwrap().to_string();
    let x = join(&app, &xavier, &code).await;
    let y = join(&app, &yasmine, &code).await;
    assert_eq!(
        (x["status"].as_str(), y["status"].as_str()),
        (Some("registered"), Some("waitlisted"))
    );

    // Asking for a place while waitlisted changes nothing, over REST as from the phone.
    let y_phone = Phone::new(&app, &yasmine, "Pixel").await;
    let asked = y_phone
        .upsert_one(&app, "attendances", &id(&y), json!({ "status": "registered" }))
        .await;
    assert_eq!(asked["status"], "applied", "{asked}");
    assert_eq!(my_status(&app, &yasmine, &event).await["status"], "waitlisted");

    // Checking oneself in is refused with the same problem as over REST.
    let rest = app
        .patch(
            &format!("/v1/events/{event}/attendance"),
            &yasmine.token,
            json!({ "status": "checked_in" }),
        )
        .await;
    rest.assert_problem(422, "validation_failed");
    let pushed = y_phone
        .upsert_one(&app, "attendances", &id(&y), json!({ "status": "checked_in" }))
        .await;
    assert_eq!(pushed["status"], "rejected", "{pushed}");
    assert_eq!(pushed["error"]["code"], rest.body["code"]);
    assert_eq!(pushed["error"]["errors"], rest.body["errors"]);
    let mine = my_status(&app, &yasmine, &event).await;
    assert_eq!(mine["status"], "waitlisted");
    assert!(mine["checked_in_at"].is_null());

    // Xavier cancels from his phone: his place goes to Yasmine, as a REST cancel does.
    let x_phone = Phone::new(&app, &xavier, "iPhone").await;
    x_phone
        .push_ok(
            &app,
            vec![x_phone.mutation("attendances", &id(&x), "upsert", json!({ "status": "cancelled" }))],
        )
        .await;
    assert_eq!(my_status(&app, &xavier, &event).await["status"], "cancelled");
    assert_eq!(my_status(&app, &yasmine, &event).await["status"], "registered");

    // He asks again: the event is full, so he waits.
    x_phone
        .push_ok(
            &app,
            vec![x_phone.mutation(
                "attendances",
                &id(&x),
                "upsert",
                json!({ "status": "registered" }),
            )],
        )
        .await;
    assert_eq!(my_status(&app, &xavier, &event).await["status"], "waitlisted");

    // The organizer checks Yasmine in from the door's phone: the time is recorded.
    let door = Phone::new(&app, &organizer, "Door").await;
    door.push_ok(
        &app,
        vec![door.mutation(
            "attendances",
            &id(&y),
            "upsert",
            json!({ "status": "checked_in" }),
        )],
    )
    .await;
    let mine = my_status(&app, &yasmine, &event).await;
    assert_eq!(mine["status"], "checked_in");
    assert!(instant(&mine["checked_in_at"]) <= Utc::now());
    // And a checked-in attendance cannot be cancelled by its attendee, from any path.
    let cancel = y_phone
        .upsert_one(&app, "attendances", &id(&y), json!({ "status": "cancelled" }))
        .await;
    assert_eq!(cancel["error"]["code"], "already_checked_in", "{cancel}");
}

#[tokio::test]
async fn a_bad_value_is_rejected_alone_and_the_queue_moves_on() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let (bad, good, later) = (new_id(), new_id(), new_id());
    let answer = phone
        .push(
            &app,
            vec![
                phone.mutation(
                    "contacts",
                    &bad,
                    "upsert",
                    json!({ "name": "Nul", "notes": { "base": "", "value": "a\u{0}b" } }),
                ),
                phone.mutation("contacts", &good, "upsert", json!({ "name": "Lise Cardinal" })),
                phone.mutation(
                    "contacts",
                    &bad,
                    "upsert",
                    json!({ "name": "Nul", "notes": { "base": "a\u{0}", "value": "ab" } }),
                ),
            ],
        )
        .await;
    let r = results(&answer);
    assert_eq!(r[0]["status"], "rejected", "{answer}");
    assert_eq!(r[0]["error"]["errors"][0]["field"], "notes");
    assert_eq!(r[0]["error"]["errors"][0]["code"], "nul_character");
    assert_eq!(r[1]["status"], "applied", "{answer}");
    // A NUL in the merge base, which is never stored, is refused for its mutation too.
    assert_eq!(r[2]["status"], "rejected", "{answer}");
    assert_eq!(r[2]["error"]["errors"][0]["field"], "notes.base");
    assert_eq!(r[2]["error"]["errors"][0]["code"], "nul_character");
    // The same value over REST is refused with the same code.
    let rest = app
        .post(
            "/v1/contacts",
            &lise.token,
            json!({ "name": "Nul", "notes": "a\u{0}b" }),
        )
        .await;
    rest.assert_problem(422, "validation_failed");
    assert_eq!(rest.body["errors"][0]["field"], "notes");
    assert_eq!(rest.body["errors"][0]["code"], "nul_character");
    // The next push goes through: nothing is wedged.
    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &later, "upsert", json!({ "name": "Awa" }))],
        )
        .await;
    assert_eq!(
        app.get(&format!("/v1/contacts/{bad}"), &lise.token).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/v1/contacts/{later}"), &lise.token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn mutation_ids_beyond_what_a_javascript_client_holds_are_rejected() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let with_id = |n: Value| {
        let mut m = phone.mutation("contacts", &new_id(), "upsert", json!({ "name": "Awa" }));
        m["mutation_id"] = n;
        m
    };
    let answer = phone
        .push(
            &app,
            vec![
                with_id(json!(9_223_372_036_854_775_808u64)),
                with_id(json!(0)),
                with_id(json!(9_007_199_254_740_993u64)),
                with_id(json!(5)),
            ],
        )
        .await;
    let statuses: Vec<&str> = results(&answer)
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["rejected", "rejected", "rejected", "applied"],
        "{answer}"
    );
    assert_eq!(results(&answer)[0]["error"]["code"], "invalid_mutation_id");
    assert_eq!(answer["last_mutation_id"], 5);
    // The device's later ids still apply, up to 2^53.
    let answer = phone
        .push(
            &app,
            vec![with_id(json!(6)), with_id(json!(9_007_199_254_740_992u64))],
        )
        .await;
    let statuses: Vec<&str> = results(&answer)
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["applied", "applied"], "{answer}");
}

#[tokio::test]
async fn fields_the_server_does_not_know_are_bounded() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let mut many = serde_json::Map::new();
    many.insert("name".into(), json!("Awa"));
    for i in 0..50_000 {
        many.insert(format!("x{i}"), json!(1));
    }
    let (huge, crowded, fine, nul) = (new_id(), new_id(), new_id(), new_id());
    let answer = phone
        .push(
            &app,
            vec![
                phone.mutation(
                    "contacts",
                    &huge,
                    "upsert",
                    json!({ "name": "Awa", "pronouns": "é".repeat(2_000_000) }),
                ),
                phone.mutation("contacts", &crowded, "upsert", Value::Object(many)),
                phone.mutation(
                    "contacts",
                    &fine,
                    "upsert",
                    json!({ "name": "Awa", "pronouns": "elle" }),
                ),
                phone.mutation(
                    "contacts",
                    &nul,
                    "upsert",
                    json!({ "name": "Awa", "pronouns": "a\u{0}" }),
                ),
            ],
        )
        .await;
    let r = results(&answer);
    assert_eq!(r[0]["status"], "rejected", "{}", r[0]);
    assert_eq!(r[0]["error"]["errors"][0]["code"], "too_long");
    assert_eq!(r[1]["status"], "rejected");
    assert!(
        r[1]["error"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "too_many_fields"),
        "{}",
        r[1]["error"]
    );
    assert_eq!(r[2]["status"], "applied", "{}", r[2]);
    assert_eq!(r[3]["status"], "rejected", "{}", r[3]);
    let (records, _) = phone.pull_all(&app, None).await;
    assert_eq!(records[&fine]["record"]["pronouns"], "elle");
    assert!(!records.contains_key(&huge) && !records.contains_key(&crowded));

    // Bounded per record too: fields added one push at a time stop at the limit.
    let mutations = (0..40)
        .map(|i| phone.mutation("contacts", &fine, "upsert", json!({ format!("extra_{i}"): i })))
        .collect();
    let answer = phone.push(&app, mutations).await;
    let rejected = results(&answer)
        .iter()
        .filter(|r| r["status"] == "rejected")
        .count();
    assert_eq!(rejected, 40 - 31, "{answer}");
}

#[tokio::test]
async fn schema_versions_newer_than_the_server_are_refused_like_older_ones() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    for version in [0, 2, 99, 1_000_000] {
        let answer = app
            .post(
                "/v1/sync/push",
                &lise.token,
                json!({ "device_id": phone.device, "schema_version": version, "mutations": [] }),
            )
            .await;
        answer.assert_problem(426, "unsupported_schema_version");
        let pull = app
            .get(
                &format!(
                    "/v1/sync/pull?device_id={}&schema_version={version}",
                    phone.device
                ),
                &lise.token,
            )
            .await;
        pull.assert_problem(426, "unsupported_schema_version");
    }
}

#[tokio::test]
async fn a_repeat_is_bounded_alike_over_rest_and_push() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let body = |every: i64| {
        json!({ "title": "Appeler Nicolas", "due_local": "2026-12-24T09:00:00", "timezone": "America/Montreal",
                "repeat": { "every": every, "unit": "days" } })
    };
    app.post("/v1/reminders", &lise.token, body(366))
        .await
        .assert_problem(422, "validation_failed");
    assert_eq!(
        app.post("/v1/reminders", &lise.token, body(365)).await.status,
        201
    );
    let pushed = |every: i64| {
        phone.mutation(
            "reminders",
            &new_id(),
            "upsert",
            json!({ "title": "Appeler Nicolas", "due_local": "2026-12-24T09:00:00", "timezone": "America/Montreal",
                    "repeat_every": every, "repeat_unit": "days" }),
        )
    };
    let answer = phone.push(&app, vec![pushed(366), pushed(365)]).await;
    let r = results(&answer);
    assert_eq!(r[0]["status"], "rejected", "{answer}");
    assert_eq!(r[0]["error"]["errors"][0]["field"], "repeat_every");
    assert_eq!(r[1]["status"], "applied", "{answer}");
}

#[tokio::test]
async fn a_monthly_reminder_of_the_31st_completed_late_comes_back_at_a_month_end() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let created = app
        .post(
            "/v1/reminders",
            &lise.token,
            json!({ "title": "Relancer Lise", "due_local": "2026-01-31T09:00:00", "timezone": "Europe/Paris",
                    "repeat": { "every": 1, "unit": "months" } }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let done = app
        .post(
            &format!("/v1/reminders/{}/complete", id(&created.body)),
            &lise.token,
            json!({}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["status"], "open");
    let local =
        NaiveDateTime::parse_from_str(done.body["due_local"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S").unwrap();
    // Counted from 31 January: the last day of its month, not the 28th carried along.
    assert_eq!((local + chrono::Duration::days(1)).day(), 1, "{}", done.text);
    assert!(instant(&done.body["due_at"]) > Utc::now());
}

/// The REST view of a record with the fields that name it or its time of writing left out.
fn comparable(mut view: Value) -> Value {
    for key in ["id", "created_at", "updated_at", "join_code", "checkin_code"] {
        view.as_object_mut().unwrap().remove(key);
    }
    view
}

#[tokio::test]
async fn the_same_records_made_over_rest_and_pushed_read_back_the_same() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;

    let event = json!({ "kind": "jelly", "title": "Jelly du mardi", "venue": "La Cantine", "city": "Nantes",
                        "starts_at": "2026-12-08T09:00:00Z", "ends_at": "2026-12-08T17:00:00Z",
                        "timezone": "Europe/Paris", "capacity": 12, "visibility": "unlisted" });
    let rest_event = app.post("/v1/events", &lise.token, event.clone()).await;
    assert_eq!(rest_event.status, 201, "{}", rest_event.text);
    let pushed_event = new_id();
    phone
        .push_ok(
            &app,
            vec![phone.mutation("events", &pushed_event, "upsert", event)],
        )
        .await;
    let read = app.get(&format!("/v1/events/{pushed_event}"), &lise.token).await;
    assert_eq!(comparable(read.body), comparable(rest_event.body));

    let contact = |event: &str| {
        json!({ "name": "Nicolas Roy", "organization": "Coop Vélo", "job_title": "Fondateur", "city": "Nantes",
                "emails": ["Nicolas@Example.org"], "phones": ["+33 6 12 34 56 78"],
                "links": ["https://example.org/nicolas"], "tags": ["vélo", "réseau"],
                "notes": "Rencontré au Jelly.\nÀ rappeler.", "how_we_met": "Jelly", "met_at_event_id": event,
                "first_met_on": "2026-12-08", "they_brought": "Un contact chez Magnan", "i_can_offer": "Relire son site",
                "met_in_person": true, "starred": true })
    };
    let rest_contact = app
        .post("/v1/contacts", &lise.token, contact(&pushed_event))
        .await;
    assert_eq!(rest_contact.status, 201, "{}", rest_contact.text);
    let pushed_contact = new_id();
    let mut fields = contact(&pushed_event);
    for set in ["emails", "phones", "links", "tags"] {
        fields[set] = json!({ "add": fields[set].clone(), "remove": [] });
    }
    for text in ["notes", "how_we_met", "they_brought", "i_can_offer"] {
        fields[text] = json!({ "base": "", "value": fields[text].clone() });
    }
    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &pushed_contact, "upsert", fields)],
        )
        .await;
    let read = app
        .get(&format!("/v1/contacts/{pushed_contact}"), &lise.token)
        .await;
    assert_eq!(
        sorted_sets(comparable(read.body), &["tags"]),
        sorted_sets(comparable(rest_contact.body), &["tags"])
    );

    let reminder = json!({ "title": "Rappeler Nicolas", "notes": "Pour le site", "due_local": "2026-12-15T09:00:00",
                           "timezone": "America/Montreal", "contact_id": pushed_contact });
    let mut rest_body = reminder.clone();
    rest_body["repeat"] = json!({ "every": 2, "unit": "weeks" });
    let rest_reminder = app.post("/v1/reminders", &lise.token, rest_body).await;
    assert_eq!(rest_reminder.status, 201, "{}", rest_reminder.text);
    let pushed_reminder = new_id();
    let mut fields = reminder;
    fields["notes"] = json!({ "base": "", "value": "Pour le site" });
    fields["repeat_every"] = json!(2);
    fields["repeat_unit"] = json!("weeks");
    phone
        .push_ok(
            &app,
            vec![phone.mutation("reminders", &pushed_reminder, "upsert", fields)],
        )
        .await;
    let read = app
        .get(&format!("/v1/reminders/{pushed_reminder}"), &lise.token)
        .await;
    assert_eq!(comparable(read.body), comparable(rest_reminder.body));
}

/// A small deterministic generator: the seed comes from `CARNET_TEST_SEED` (printed), so a
/// failing sequence can be replayed.
struct Draw(u64);

impl Draw {
    fn seeded() -> Draw {
        let seed = std::env::var("CARNET_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(1) as u64);
        println!("CARNET_TEST_SEED={seed}");
        Draw(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

#[tokio::test]
async fn random_rest_and_push_sequences_keep_every_invariant() {
    let mut draw = Draw::seeded();
    let app = spawn_app().await;
    let organizer = app.register("Olivia").await;
    let door = Phone::new(&app, &organizer, "Door").await;
    let created = app
        .post(
            "/v1/events",
            &organizer.token,
            json!({ "kind": "colunching", "title": "Colunching", "starts_at": "2026-12-11T12:00:00Z", "capacity": 2 }),
        )
        .await;
    let event = id(&created.body);
    let code = created.body["join_code"].as_str().unwrap().to_string();
    let mut people = Vec::new();
    for name in ["Awa", "Bruno", "Chloé", "Driss"] {
        let user = app.register(name).await;
        let phone = Phone::new(&app, &user, "Phone").await;
        let attendance = id(&join(&app, &user, &code).await);
        people.push((user, phone, attendance));
    }
    let lise = &people[0];
    let contact = id(&app
        .contact(&lise.0, json!({ "name": "Nicolas", "keep_in_touch_days": 10 }))
        .await);
    let mut occurred = Vec::new();
    let mut held = 2;

    for step in 0..40 {
        let (user, phone, attendance) = &people[draw.below(4) as usize];
        let by_push = draw.below(2) == 0;
        match draw.below(5) {
            0 | 1 => {
                let status = ["cancelled", "registered", "checked_in"][draw.below(3) as usize];
                if by_push {
                    let m = phone.mutation("attendances", attendance, "upsert", json!({ "status": status }));
                    phone.push(&app, vec![m]).await;
                } else {
                    app.patch(
                        &format!("/v1/events/{event}/attendance"),
                        &user.token,
                        json!({ "status": status }),
                    )
                    .await;
                }
            }
            2 => {
                let capacity = 1 + draw.below(3);
                if by_push {
                    let m = door.mutation("events", &event, "upsert", json!({ "capacity": capacity }));
                    door.push_ok(&app, vec![m]).await;
                } else {
                    let a = app
                        .patch(
                            &format!("/v1/events/{event}"),
                            &organizer.token,
                            json!({ "capacity": capacity }),
                        )
                        .await;
                    assert_eq!(a.status, 200, "{}", a.text);
                }
            }
            _ => {
                let at = format!("2026-11-{:02}T12:00:00Z", 1 + draw.below(28));
                occurred.push(at.parse::<DateTime<Utc>>().unwrap());
                let (lise_user, lise_phone, _) = lise;
                if by_push {
                    let m = lise_phone.mutation(
                        "interactions",
                        &new_id(),
                        "upsert",
                        json!({ "contact_id": contact, "kind": "call", "occurred_at": at }),
                    );
                    lise_phone.push_ok(&app, vec![m]).await;
                } else {
                    let a = app
                        .post(
                            &format!("/v1/contacts/{contact}/interactions"),
                            &lise_user.token,
                            json!({ "kind": "call", "occurred_at": at }),
                        )
                        .await;
                    assert_eq!(a.status, 201, "{}", a.text);
                }
            }
        }

        // The invariants, whichever path each step took.
        let e = app
            .get(&format!("/v1/events/{event}"), &organizer.token)
            .await
            .body;
        let capacity = e["capacity"].as_u64().unwrap();
        let list = app
            .get(
                &format!("/v1/events/{event}/attendees?limit=50"),
                &organizer.token,
            )
            .await
            .body;
        let attendees: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["role"] != "organizer")
            .collect();
        let holding = attendees
            .iter()
            .filter(|a| a["status"] == "registered" || a["status"] == "checked_in")
            .count() as u64;
        let waiting = attendees.iter().any(|a| a["status"] == "waitlisted");
        // Lowering the capacity sends nobody away, but nobody takes a place past it.
        assert!(
            holding <= capacity.max(held),
            "step {step}: {holding} places taken of {capacity}: {list}"
        );
        held = holding;
        assert!(
            !waiting || holding >= capacity,
            "step {step}: a free place while someone waits: {list}"
        );
        assert!(
            attendees.iter().all(|a| a["status"] != "checked_in"),
            "step {step}: an attendee checked in without the organizer: {list}"
        );
        let c = app
            .get(&format!("/v1/contacts/{contact}"), &lise.0.token)
            .await
            .body;
        let latest = occurred.iter().max();
        assert_eq!(
            c["last_interaction_at"]
                .as_str()
                .map(|s| s.parse::<DateTime<Utc>>().unwrap())
                .as_ref(),
            latest,
            "step {step}"
        );
        let all = app.get("/v1/reminders?limit=200", &lise.0.token).await.body;
        let open = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["contact_id"] == contact && r["origin"] == "keep_in_touch" && r["status"] == "open")
            .count();
        assert_eq!(open, 1, "step {step}: {all}");
    }
}

/// A set's items in a stable order (a set has none).
fn sorted_sets(mut view: Value, sets: &[&str]) -> Value {
    for set in sets {
        if let Some(items) = view[*set].as_array() {
            let mut items = items.clone();
            items.sort_by_key(|v| v.to_string());
            view[*set] = Value::Array(items);
        }
    }
    view
}

#[tokio::test]
async fn a_profile_card_written_over_rest_or_pushed_reads_back_the_same() {
    let app = spawn_app().await;
    let (lise, awa) = (app.register("Lise").await, app.register("Awa").await);
    for user in [&lise, &awa] {
        let set = app.patch("/v1/me", &user.token, json!({ "region": "FR" })).await;
        assert_eq!(set.status, 200, "{}", set.text);
    }
    let card = json!({ "headline": "Fondatrice", "organization": "Coopérative du Coin",
                       "email": "Lise@Example.ORG", "phone": "06 12 34 56 78", "city": "Lyon",
                       "links": ["linkedin.com/in/lise", "https://lise.example.org/blog"] });
    let rest = app
        .patch("/v1/me", &lise.token, json!({ "card": card.clone() }))
        .await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    let phone = Phone::new(&app, &awa, "Pixel").await;
    let mut fields = card.clone();
    fields["links"] = json!({ "add": card["links"].clone(), "remove": [] });
    phone
        .push_ok(&app, vec![phone.mutation("profile", &awa.id, "upsert", fields)])
        .await;
    let pushed = app.get("/v1/me", &awa.token).await;
    assert_eq!(
        sorted_sets(pushed.body["card"].clone(), &["links"]),
        sorted_sets(rest.body["card"].clone(), &["links"])
    );
    // A value REST refuses is refused by push with the same code and field.
    let bad = app
        .patch(
            "/v1/me",
            &lise.token,
            json!({ "card": { "email": "pas une adresse" } }),
        )
        .await;
    bad.assert_problem(422, "validation_failed");
    let r = phone
        .upsert_one(&app, "profile", &awa.id, json!({ "email": "pas une adresse" }))
        .await;
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["error"]["errors"][0]["code"], bad.body["errors"][0]["code"]);
    assert_eq!(r["error"]["errors"][0]["field"], "email");
    assert!(
        bad.body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .ends_with("email"),
        "{}",
        bad.text
    );
}

#[tokio::test]
async fn an_update_and_a_delete_have_the_same_effects_over_rest_and_push() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let mut made = Vec::new();
    for _ in 0..2 {
        let c = app.contact(&lise, json!({ "name": "Nicolas Roy" })).await;
        let logged = app
            .post(
                &format!("/v1/contacts/{}/interactions", id(&c)),
                &lise.token,
                json!({ "kind": "meal", "occurred_at": "2026-11-20T12:30:00Z" }),
            )
            .await;
        assert_eq!(logged.status, 201, "{}", logged.text);
        made.push((id(&c), id(&logged.body)));
    }
    let [(over_rest, rest_lunch), (pushed, pushed_lunch)] = [made[0].clone(), made[1].clone()];

    // The same update: a cadence (a keep-in-touch reminder follows), a city, a star.
    let change = json!({ "city": "Lyon", "starred": true, "keep_in_touch_days": 30 });
    let patched = app
        .patch(&format!("/v1/contacts/{over_rest}"), &lise.token, change.clone())
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    phone
        .push_ok(&app, vec![phone.mutation("contacts", &pushed, "upsert", change)])
        .await;
    let read = app.get(&format!("/v1/contacts/{pushed}"), &lise.token).await;
    assert_eq!(comparable(read.body), comparable(patched.body));
    let (rest_reminder, pushed_reminder) = (
        keep_in_touch(&app, &lise, &over_rest)
            .await
            .expect("a keep-in-touch reminder over REST"),
        keep_in_touch(&app, &lise, &pushed)
            .await
            .expect("a keep-in-touch reminder from the push"),
    );
    let reminder_view = |mut r: Value| {
        r.as_object_mut().unwrap().remove("contact_id");
        comparable(r)
    };
    assert_eq!(reminder_view(pushed_reminder), reminder_view(rest_reminder));

    // The same delete: the contact goes, its interactions and reminders with it.
    let deleted = app
        .delete(&format!("/v1/contacts/{over_rest}"), &lise.token)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &pushed, "delete", json!({}))],
        )
        .await;
    for (contact, lunch) in [(&over_rest, &rest_lunch), (&pushed, &pushed_lunch)] {
        assert_eq!(
            app.get(&format!("/v1/contacts/{contact}"), &lise.token)
                .await
                .status,
            404
        );
        let edit = app
            .patch(
                &format!("/v1/interactions/{lunch}"),
                &lise.token,
                json!({ "notes": "x" }),
            )
            .await;
        assert_eq!(edit.status, 404, "{lunch}: {}", edit.text);
        assert!(
            keep_in_touch(&app, &lise, contact).await.is_none(),
            "{contact} kept its reminder"
        );
    }
    // Both read back as tombstones on a second device.
    let other = Phone::new(&app, &lise, "iPad").await;
    let (records, _) = other.pull_all(&app, None).await;
    for contact in [&over_rest, &pushed] {
        assert!(
            records.get(contact).is_none_or(|r| r["deleted"] == true),
            "{contact}: {:?}",
            records.get(contact)
        );
    }
}
