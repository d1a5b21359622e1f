//! Offline-first sync over HTTP: phones pushing queued edits and pulling changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use carnet_tests::{spawn_app, spawn_app_with, TestApp, User};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A phone: its device id, its clock and its queue numbering.
pub(crate) struct Phone {
    token: String,
    pub(crate) device: String,
    node: String,
    next_id: AtomicU64,
    counter: AtomicU32,
}

impl Phone {
    pub(crate) async fn new(app: &TestApp, user: &User, name: &str) -> Phone {
        let answer = app
            .post(
                "/v1/devices",
                &user.token,
                json!({ "platform": "ios", "name": name }),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        let device = answer.body["id"].as_str().unwrap().to_string();
        Phone {
            token: user.token.clone(),
            node: device.replace('-', ""),
            device,
            next_id: AtomicU64::new(1),
            counter: AtomicU32::new(0),
        }
    }

    /// A stamp at `ms` on this phone's clock.
    pub(crate) fn stamp_at(&self, ms: u64) -> String {
        let counter = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{ms:015}-{counter:05}-{}", self.node)
    }

    pub(crate) fn mutation_at(&self, ms: u64, collection: &str, id: &str, op: &str, fields: Value) -> Value {
        let m = json!({
            "mutation_id": self.next_id.fetch_add(1, Ordering::SeqCst), "collection": collection, "id": id, "op": op,
            "hlc": self.stamp_at(ms), "fields": fields,
        });
        m
    }

    pub(crate) fn mutation(&self, collection: &str, id: &str, op: &str, fields: Value) -> Value {
        self.mutation_at(now_ms(), collection, id, op, fields)
    }

    /// Pushes one upsert of `fields` to record `id` of `collection`; answers its result.
    pub(crate) async fn upsert_one(&self, app: &TestApp, collection: &str, id: &str, fields: Value) -> Value {
        let answer = self
            .push(app, vec![self.mutation(collection, id, "upsert", fields)])
            .await;
        answer["results"][0].clone()
    }

    pub(crate) async fn push(&self, app: &TestApp, mutations: Vec<Value>) -> Value {
        let answer = app
            .post(
                "/v1/sync/push",
                &self.token,
                json!({ "device_id": self.device, "schema_version": 1, "mutations": mutations }),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    }

    pub(crate) async fn push_ok(&self, app: &TestApp, mutations: Vec<Value>) {
        let body = self.push(app, mutations).await;
        for r in body["results"].as_array().unwrap() {
            assert_eq!(r["status"], "applied", "{body}");
        }
    }

    pub(crate) async fn pull_page(&self, app: &TestApp, cursor: Option<&str>, limit: u32) -> Value {
        let mut path = format!("/v1/sync/pull?device_id={}&limit={limit}", self.device);
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let answer = app.get(&path, &self.token).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body
    }

    /// Pulls every page from `cursor`; answers the latest state per record and the cursor.
    pub(crate) async fn pull_all(
        &self,
        app: &TestApp,
        cursor: Option<String>,
    ) -> (HashMap<String, Value>, String) {
        let mut cursor = cursor;
        let mut records = HashMap::new();
        loop {
            let page = self.pull_page(app, cursor.as_deref(), 500).await;
            for change in page["changes"].as_array().unwrap() {
                records.insert(change["id"].as_str().unwrap().to_string(), change.clone());
            }
            cursor = Some(page["cursor"].as_str().unwrap().to_string());
            if page["has_more"] != true {
                return (records, cursor.unwrap());
            }
        }
    }
}

/// A fresh app, Lise registered on it, and her phone "iPhone".
async fn lise_with_her_iphone() -> (TestApp, User, Phone) {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    (app, lise, phone)
}

pub(crate) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut items: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    items.sort();
    items
}

#[tokio::test]
async fn two_phones_edit_offline_and_converge() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let a = Phone::new(&app, &lise, "iPhone").await;
    let b = Phone::new(&app, &lise, "iPad").await;
    let id = new_id();
    let t = now_ms() - 60_000;
    let create = a.mutation_at(
        t,
        "contacts",
        &id,
        "upsert",
        json!({
            "name": "Nicolas",
            "tags": { "add": ["apéro"], "remove": [] },
            "notes": { "base": "", "value": "Met at the apéro. Works on bikes." }
        }),
    );
    a.push_ok(&app, vec![create]).await;
    let (seen_b, _) = b.pull_all(&app, None).await;
    assert_eq!(seen_b[&id]["record"]["name"], "Nicolas");

    // Offline on both phones, then pushed.
    let edit_a = a.mutation_at(t + 1000, "contacts", &id, "upsert", json!({
        "name": "Nicolas Dupont",
        "city": "Lyon",
        "tags": { "add": ["vélo"], "remove": ["apéro"] },
        "notes": { "base": "Met at the apéro. Works on bikes.", "value": "Met at the apéro with Lise. Works on bikes." }
    }));
    let edit_b = b.mutation_at(t + 2000, "contacts", &id, "upsert", json!({
        "name": "Nico Dupont",
        "organization": "Vélo & Co",
        "tags": { "add": ["mentor"], "remove": [] },
        "notes": { "base": "Met at the apéro. Works on bikes.", "value": "Met at the apéro. Works on bikes. Call back in March." }
    }));
    b.push_ok(&app, vec![edit_b]).await;
    a.push_ok(&app, vec![edit_a]).await;

    let (seen_a, _) = a.pull_all(&app, None).await;
    let (seen_b, _) = b.pull_all(&app, None).await;
    let ra = &seen_a[&id];
    let rb = &seen_b[&id];
    assert_eq!(ra["record"], rb["record"]);
    assert_eq!(ra["stamps"], rb["stamps"]);
    let record = &ra["record"];
    // The later stamp wins the register, whatever the arrival order.
    assert_eq!(record["name"], "Nico Dupont");
    assert_eq!(record["city"], "Lyon");
    assert_eq!(record["organization"], "Vélo & Co");
    assert_eq!(sorted(&record["tags"]), vec!["mentor", "vélo"]);
    let notes = record["notes"].as_str().unwrap();
    assert!(notes.contains("with Lise"), "{notes}");
    assert!(notes.contains("Call back in March"), "{notes}");

    // The REST API shows the same state.
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Nico Dupont");
    assert_eq!(rest.body["notes"], record["notes"]);

    // The losing name is in the conflict history.
    let conflicts = app.get("/v1/sync/conflicts", &lise.token).await;
    assert_eq!(conflicts.status, 200);
    let items = conflicts.body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|c| c["field"] == "name" && c["lost"] == "Nicolas Dupont" && c["kind"] == "overwrite"),
        "{}",
        conflicts.text
    );
}

#[tokio::test]
async fn three_phones_pushing_in_opposite_orders_agree() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let t = now_ms() - 60_000;
    // The same edits, on two records, delivered in opposite orders.
    let mut finals = Vec::new();
    for order in [[0usize, 1, 2], [2, 1, 0]] {
        let phones = [
            Phone::new(&app, &lise, "a").await,
            Phone::new(&app, &lise, "b").await,
            Phone::new(&app, &lise, "c").await,
        ];
        let id = new_id();
        phones[0]
            .push_ok(
                &app,
                vec![phones[0].mutation_at(t, "contacts", &id, "upsert", json!({ "name": "Claire" }))]
                    .clone(),
            )
            .await;
        let edits = [
            json!({ "name": "Claire A", "tags": { "add": ["x", "y"], "remove": [] }, "starred": true }),
            json!({ "job_title": "CTO", "tags": { "add": ["z"], "remove": ["x"] }, "starred": false }),
            json!({ "name": "Claire C", "tags": { "add": ["x"], "remove": ["y"] }, "city": "Montréal" }),
        ];
        let mutations: Vec<Value> = edits
            .iter()
            .enumerate()
            .map(|(i, fields)| {
                phones[i].mutation_at(
                    t + 1000 * (i as u64 + 1),
                    "contacts",
                    &id,
                    "upsert",
                    fields.clone(),
                )
            })
            .collect();
        for i in order {
            phones[i].push_ok(&app, vec![mutations[i].clone()]).await;
        }
        let (seen, _) = phones[0].pull_all(&app, None).await;
        finals.push(seen[&id]["record"].clone());
    }
    assert_eq!(finals[0]["name"], finals[1]["name"]);
    assert_eq!(finals[0]["name"], "Claire C");
    assert_eq!(finals[0]["starred"], finals[1]["starred"]);
    assert_eq!(finals[0]["city"], finals[1]["city"]);
    assert_eq!(finals[0]["job_title"], "CTO");
    assert_eq!(sorted(&finals[0]["tags"]), sorted(&finals[1]["tags"]));
    assert_eq!(sorted(&finals[0]["tags"]), vec!["x", "z"]);
}

#[tokio::test]
async fn a_replayed_batch_is_acknowledged_and_not_applied_twice() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let a = Phone::new(&app, &lise, "iPhone").await;
    let id = new_id();
    let batch = vec![
        a.mutation(
            "contacts",
            &id,
            "upsert",
            json!({ "name": "Claire", "notes": { "base": "", "value": "Lunch" } }),
        ),
        a.mutation(
            "contacts",
            &id,
            "upsert",
            json!({ "notes": { "base": "Lunch", "value": "Lunch chez Magnan" } }),
        ),
    ];
    let first = a.push(&app, batch.clone()).await;
    assert_eq!(first["last_mutation_id"], 2);
    let again = a.push(&app, batch).await;
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(again["results"][1]["status"], "duplicate");
    assert_eq!(again["last_mutation_id"], 2);
    let contact = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(contact.body["notes"], "Lunch chez Magnan");
    let page = a.pull_page(&app, None, 100).await;
    assert_eq!(page["last_mutation_id"], 2);
}

#[tokio::test]
async fn another_users_record_id_is_rejected_and_left_alone() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let eve = app.register("Eve").await;
    let contact = app.contact(&lise, json!({ "name": "Nicolas" })).await;
    let id = contact["id"].as_str().unwrap();
    let phone = Phone::new(&app, &eve, "eve").await;
    let m = phone.mutation("contacts", id, "upsert", json!({ "name": "Hacked" }));
    let d = phone.mutation("contacts", id, "delete", json!({}));
    let answer = phone.push(&app, vec![m, d]).await;
    for r in answer["results"].as_array().unwrap() {
        assert_eq!(r["status"], "rejected");
        assert_eq!(r["error"]["code"], "record_unavailable");
        assert!(!r["error"].to_string().contains("Nicolas"));
    }
    // Consumed: the queue moves on.
    assert_eq!(answer["last_mutation_id"], 2);
    let still = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(still.body["name"], "Nicolas");
    let (seen, _) = phone.pull_all(&app, None).await;
    assert!(!seen.contains_key(id));
    // Another user's device cannot be named either.
    let lise_phone = Phone::new(&app, &lise, "lise").await;
    let answer = app
        .get(
            &format!("/v1/sync/pull?device_id={}", lise_phone.device),
            &eve.token,
        )
        .await;
    answer.assert_problem(404, "not_found");
}

#[tokio::test]
async fn rest_edits_reach_phones_and_merge_with_phone_edits() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let created = app
        .contact(
            &lise,
            json!({ "name": "Claire", "tags": ["réseau"], "city": "Lyon" }),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let (seen, cursor) = phone.pull_all(&app, None).await;
    assert_eq!(seen[&id]["record"]["name"], "Claire");
    assert_eq!(seen[&id]["record"]["tags"], json!(["réseau"]));

    // An edit the phone made offline *before* the REST edit loses the register to it.
    let before_rest = now_ms() - 5_000;
    let patched = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &lise.token,
            json!({ "name": "Claire Martin", "tags": ["réseau", "vip"] }),
        )
        .await;
    assert_eq!(patched.status, 200);
    let (seen, cursor) = phone.pull_all(&app, Some(cursor)).await;
    let change = &seen[&id];
    assert_eq!(change["record"]["name"], "Claire Martin");
    assert!(change["stamps"]["name"]
        .as_str()
        .unwrap()
        .ends_with(&"0".repeat(32)));
    let old = phone.mutation_at(
        before_rest,
        "contacts",
        &id,
        "upsert",
        json!({ "name": "Claire M.", "tags": { "add": ["lyon"], "remove": [] } }),
    );
    phone.push_ok(&app, vec![old]).await;
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Claire Martin");
    let mut tags = sorted(&rest.body["tags"]);
    tags.sort();
    assert_eq!(tags, vec!["lyon", "réseau", "vip"]);
    // A later phone edit wins.
    let newer = phone.mutation("contacts", &id, "upsert", json!({ "name": "Claire Martin-Roy" }));
    phone.push_ok(&app, vec![newer]).await;
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Claire Martin-Roy");
    // A REST delete reaches the phone as a tombstone.
    app.delete(&format!("/v1/contacts/{id}"), &lise.token).await;
    let (seen, _) = phone.pull_all(&app, Some(cursor)).await;
    assert_eq!(seen[&id]["deleted"], true);
}

#[tokio::test]
async fn a_device_clock_a_year_ahead_cannot_win() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let id = new_id();
    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &id, "upsert", json!({ "name": "Claire" }))],
        )
        .await;
    let year = 365 * 24 * 3600 * 1000;
    let ahead = phone.mutation_at(
        now_ms() + year,
        "contacts",
        &id,
        "upsert",
        json!({ "name": "From the future" }),
    );
    let answer = phone.push(&app, vec![ahead]).await;
    assert_eq!(answer["results"][0]["status"], "rejected");
    assert_eq!(answer["results"][0]["error"]["code"], "stamp_too_far_ahead");
    assert_eq!(answer["last_mutation_id"], 2);
    let normal = phone.mutation("contacts", &id, "upsert", json!({ "name": "Claire Martin" }));
    phone.push_ok(&app, vec![normal]).await;
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Claire Martin");
}

#[tokio::test]
async fn a_delete_concurrent_with_an_edit_keeps_the_edit_for_a_restore() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let a = Phone::new(&app, &lise, "a").await;
    let b = Phone::new(&app, &lise, "b").await;
    let id = new_id();
    let t = now_ms() - 30_000;
    a.push_ok(
        &app,
        vec![a.mutation_at(t, "contacts", &id, "upsert", json!({ "name": "Claire" }))],
    )
    .await;
    let delete = a.mutation_at(t + 2000, "contacts", &id, "delete", json!({}));
    let edit = b.mutation_at(t + 1000, "contacts", &id, "upsert", json!({ "city": "Québec" }));
    a.push_ok(&app, vec![delete]).await;
    b.push_ok(&app, vec![edit]).await;
    let gone = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(gone.status, 404);
    let (seen, _) = b.pull_all(&app, None).await;
    assert_eq!(seen[&id]["deleted"], true);
    let conflicts = app.get("/v1/sync/conflicts", &lise.token).await;
    assert!(
        conflicts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "delete_edit" && c["field"] == "city"),
        "{}",
        conflicts.text
    );
    let restore = b.mutation("contacts", &id, "restore", json!({}));
    b.push_ok(&app, vec![restore]).await;
    let back = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(back.status, 200);
    assert_eq!(back.body["city"], "Québec");
    assert_eq!(back.body["name"], "Claire");
}

#[tokio::test]
async fn unknown_fields_survive_and_old_schemas_are_refused() {
    // A field of a newer app, pushed under a schema version this server speaks.
    let (app, lise, phone) = lise_with_her_iphone().await;
    let id = new_id();
    let m = phone.mutation(
        "contacts",
        &id,
        "upsert",
        json!({ "name": "Claire", "pronouns": "elle" }),
    );
    let answer = app
        .post(
            "/v1/sync/push",
            &phone.token,
            json!({ "device_id": phone.device, "schema_version": 1, "mutations": [m] }),
        )
        .await;
    assert_eq!(answer.body["results"][0]["status"], "applied", "{}", answer.text);
    // A REST edit does not lose it.
    app.patch(
        &format!("/v1/contacts/{id}"),
        &lise.token,
        json!({ "city": "Lyon" }),
    )
    .await;
    let (seen, _) = phone.pull_all(&app, None).await;
    assert_eq!(seen[&id]["record"]["pronouns"], "elle");
    assert_eq!(seen[&id]["record"]["city"], "Lyon");

    let old = app
        .post(
            "/v1/sync/push",
            &phone.token,
            json!({ "device_id": phone.device, "schema_version": 0, "mutations": [] }),
        )
        .await;
    old.assert_problem(426, "unsupported_schema_version");
    let old_pull = app
        .get(
            &format!("/v1/sync/pull?device_id={}&schema_version=0", phone.device),
            &phone.token,
        )
        .await;
    old_pull.assert_problem(426, "unsupported_schema_version");
}

#[tokio::test]
async fn invalid_mutations_are_rejected_and_consumed() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let id = new_id();
    let batch = vec![
        phone.mutation("contacts", &id, "upsert", json!({ "city": "Lyon" })),
        phone.mutation(
            "contacts",
            &id,
            "upsert",
            json!({ "name": "Claire", "emails": { "add": ["not an email"], "remove": [] } }),
        ),
        phone.mutation("invoices", &id, "upsert", json!({})),
        phone.mutation(
            "contacts",
            &id,
            "upsert",
            json!({ "name": "Claire", "last_interaction_at": "2026-01-01T00:00:00Z" }),
        ),
        phone.mutation(
            "contacts",
            &id,
            "upsert",
            json!({ "name": "Claire", "phones": { "add": ["+1 514 555 0199"], "remove": [] } }),
        ),
    ];
    let answer = phone.push(&app, batch).await;
    let r = answer["results"].as_array().unwrap();
    assert_eq!(r[0]["status"], "rejected");
    assert_eq!(r[0]["error"]["code"], "validation_failed");
    assert_eq!(r[1]["error"]["code"], "validation_failed");
    assert_eq!(r[2]["error"]["code"], "unknown_collection");
    assert_eq!(r[3]["error"]["code"], "read_only");
    assert_eq!(r[4]["status"], "applied");
    assert_eq!(answer["last_mutation_id"], 5);
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["phones"], json!(["+15145550199"]));
    assert_eq!(rest.body["emails"], json!([]));
}

#[tokio::test]
async fn batch_and_body_limits_answer_clearly() {
    let app = spawn_app_with(&[("CARNET_SYNC_MAX_BATCH", "3")]).await;
    let lise = app.register("Lise").await;
    let phone = Phone::new(&app, &lise, "iPhone").await;
    let id = new_id();
    let too_many: Vec<Value> = (0..4)
        .map(|_| phone.mutation("contacts", &id, "upsert", json!({ "name": "x" })))
        .collect();
    let answer = app
        .post(
            "/v1/sync/push",
            &phone.token,
            json!({ "device_id": phone.device, "schema_version": 1, "mutations": too_many }),
        )
        .await;
    answer.assert_problem(422, "batch_too_large");
    let huge = "x".repeat(6 * 1024 * 1024);
    let answer = app
        .post(
            "/v1/sync/push",
            &phone.token,
            json!({ "device_id": phone.device, "schema_version": 1, "mutations": [], "padding": huge }),
        )
        .await;
    answer.assert_problem(413, "payload_too_large");
    // A large pull limit is capped rather than refused.
    let page = app
        .get(
            &format!("/v1/sync/pull?device_id={}&limit=100000", phone.device),
            &phone.token,
        )
        .await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn leaving_an_event_takes_it_out_of_my_scope() {
    let app = spawn_app().await;
    let organizer = app.register("Organizer").await;
    let guest = app.register("Guest").await;
    let event = app
        .post(
            "/v1/events",
            &organizer.token,
            json!({ "kind": "apero", "title": "Apéro du jeudi", "starts_at": "2026-12-03T18:00:00Z", "timezone": "Europe/Paris" }),
        )
        .await;
    assert_eq!(event.status, 201, "{}", event.text);
    let event_id = event.body["id"].as_str().unwrap().to_string();
    let code = event.body["join_code"].as_str().unwrap().to_string();
    // The guest registers (written straight to the table, as any other writer would: the
    // change feed catches it without its cooperation).
    let mut conn = app.db.connect();
    diesel::sql_query(
        "INSERT INTO attendances (id, event_id, user_id, checkin_code, share_profile) VALUES ($1, $2, $3, $4, true)",
    )
    .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(&event_id).unwrap())
    .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(&guest.id).unwrap())
    .bind::<diesel::sql_types::Text, _>(format!("{code}-{}", Uuid::new_v4().simple()))
    .execute(&mut conn)
    .unwrap();

    let phone = Phone::new(&app, &guest, "guest phone").await;
    let (seen, cursor) = phone.pull_all(&app, None).await;
    let ev = &seen[&event_id];
    assert_eq!(ev["deleted"], false);
    assert_eq!(ev["record"]["title"], "Apéro du jeudi");
    assert!(
        ev["record"].get("join_code").is_none(),
        "only the organizer sees the code"
    );
    let mine = seen
        .values()
        .find(|c| c["collection"] == "attendances" && c["record"]["user_id"] == guest.id.as_str())
        .expect("my attendance")
        .clone();
    let attendance_id = mine["id"].as_str().unwrap().to_string();

    // Read-only for a non-organizer.
    let edit = phone.mutation("events", &event_id, "upsert", json!({ "title": "Mine now" }));
    let answer = phone.push(&app, vec![edit]).await;
    assert_eq!(answer["results"][0]["error"]["code"], "read_only");

    // Leaving: my attendance cancelled from the phone.
    let leave = phone.mutation(
        "attendances",
        &attendance_id,
        "upsert",
        json!({ "status": "cancelled" }),
    );
    phone.push_ok(&app, vec![leave]).await;
    let (seen, _) = phone.pull_all(&app, Some(cursor)).await;
    assert_eq!(seen[&event_id]["deleted"], true, "{:?}", seen);
    assert_eq!(seen[&event_id]["record"], json!({}));
    // The organizer sees the cancellation.
    let org_phone = Phone::new(&app, &organizer, "organizer phone").await;
    let (seen, _) = org_phone.pull_all(&app, None).await;
    assert_eq!(seen[&attendance_id]["record"]["status"], "cancelled");
    assert!(seen[&event_id]["record"]["join_code"].is_string());
    let rename = org_phone.mutation(
        "events",
        &event_id,
        "upsert",
        json!({ "title": "Apéro du vendredi" }),
    );
    org_phone.push_ok(&app, vec![rename]).await;
    let rest = app.get(&format!("/v1/events/{event_id}"), &organizer.token).await;
    assert_eq!(rest.body["title"], "Apéro du vendredi");
}

#[tokio::test]
async fn a_change_committed_late_is_not_skipped() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let late = app.contact(&lise, json!({ "name": "Late" })).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let early = app.contact(&lise, json!({ "name": "Early" })).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, cursor) = phone.pull_all(&app, None).await;

    // A transaction writes a change and stays open.
    let url = app.db.url.clone();
    let id = Uuid::parse_str(&late).unwrap();
    let (written_tx, written_rx) = std::sync::mpsc::channel();
    let (commit_tx, commit_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(
                "UPDATE contacts SET name = 'Late but there', updated_at = now() WHERE id = $1",
            )
            .bind::<diesel::sql_types::Uuid, _>(id)
            .execute(conn)?;
            written_tx.send(()).unwrap();
            commit_rx.recv().unwrap();
            Ok(())
        })
        .unwrap();
    });
    written_rx.recv().unwrap();

    // Another change commits, and a pull moves past it.
    app.patch(
        &format!("/v1/contacts/{early}"),
        &lise.token,
        json!({ "name": "Early, edited" }),
    )
    .await;
    let (seen, cursor) = phone.pull_all(&app, Some(cursor)).await;
    assert_eq!(seen[&early]["record"]["name"], "Early, edited");
    // Not visible yet (the transaction is open).
    assert!(seen.get(&late).is_none_or(|c| c["record"]["name"] == "Late"));

    commit_tx.send(()).unwrap();
    holder.join().unwrap();
    // Pulls from that cursor deliver it. (Other tests share the PostgreSQL server and their
    // open transactions can hold the fence for a moment, so keep pulling from where the
    // last pull left off; a skipped change would never come.)
    let mut cursor = cursor;
    for _ in 0..500 {
        let (seen, next) = phone.pull_all(&app, Some(cursor)).await;
        if seen
            .get(&late)
            .is_some_and(|c| c["record"]["name"] == "Late but there")
        {
            return;
        }
        cursor = next;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the late change was never delivered");
}

#[tokio::test]
async fn writers_pushing_while_a_reader_pulls_small_pages_miss_nothing() {
    let app = spawn_app_with(&[("CARNET_DB_POOL_SIZE", "8"), ("CARNET_HTTP_WORKERS", "2")]).await;
    let lise = app.register("Lise").await;
    let reader = Phone::new(&app, &lise, "reader").await;
    let mut writers = Vec::new();
    for i in 0..4 {
        writers.push(Phone::new(&app, &lise, &format!("writer {i}")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut expected = HashMap::new();
    let mut tasks = Vec::new();
    for w in writers {
        let mut batches = Vec::new();
        for b in 0..8 {
            let mut batch = Vec::new();
            for k in 0..5 {
                let id = new_id();
                let name = format!("{} {b} {k}", w.device);
                expected.insert(id.clone(), name.clone());
                batch.push(w.mutation("contacts", &id, "upsert", json!({ "name": name })));
            }
            batches.push(batch);
        }
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for batch in batches {
                w.push_ok(&app, batch).await;
            }
        }));
    }
    let mut seen: HashMap<String, Value> = HashMap::new();
    let mut cursor: Option<String> = None;
    let complete = |seen: &HashMap<String, Value>| {
        expected
            .iter()
            .all(|(id, name)| seen.get(id).is_some_and(|r| r["name"] == json!(name)))
    };
    // Pull small pages while the writers push, then until everything arrived. A change the
    // cursor skipped would never arrive: the bound turns that into a failure.
    let mut pulls = 0;
    while !(tasks.iter().all(|t| t.is_finished()) && complete(&seen)) && pulls < 20_000 {
        let page = reader.pull_page(&app, cursor.as_deref(), 3).await;
        for c in page["changes"].as_array().unwrap() {
            seen.insert(c["id"].as_str().unwrap().to_string(), c["record"].clone());
        }
        cursor = Some(page["cursor"].as_str().unwrap().to_string());
        pulls += 1;
        if page["has_more"] != true {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (id, name) in &expected {
        assert_eq!(
            seen.get(id).map(|r| &r["name"]),
            Some(&json!(name)),
            "missed {id}"
        );
    }
}

#[tokio::test]
async fn an_expired_cursor_must_resync() {
    let (app, _, phone) = lise_with_her_iphone().await;
    let keep = new_id();
    let gone = new_id();
    phone
        .push_ok(
            &app,
            vec![
                phone.mutation("contacts", &keep, "upsert", json!({ "name": "Kept" })),
                phone.mutation("contacts", &gone, "upsert", json!({ "name": "Gone" })),
            ],
        )
        .await;
    let (_, old_cursor) = phone.pull_all(&app, None).await;
    phone
        .push_ok(&app, vec![phone.mutation("contacts", &gone, "delete", json!({}))])
        .await;
    // Time passes beyond the retention.
    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE sync_changes SET changed_at = now() - interval '100 days'")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "UPDATE contacts SET deleted_at = now() - interval '100 days' WHERE deleted_at IS NOT NULL",
    )
    .execute(&mut conn)
    .unwrap();
    let db = carnet::db::Db::connect(&app.db.url, 1).unwrap();
    // The job compacts only below the fence, which other tests' open transactions on the
    // same server can hold back for a moment: run it until it has moved the horizon.
    let mut answer = None;
    for _ in 0..200 {
        carnet::housekeeping::collect_sync_tombstones(&db, std::time::Duration::from_secs(90 * 86_400))
            .await
            .unwrap();
        let pulled = app
            .get(
                &format!("/v1/sync/pull?device_id={}&cursor={old_cursor}", phone.device),
                &phone.token,
            )
            .await;
        if pulled.status != 200 {
            answer = Some(pulled);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    answer
        .expect("the horizon never moved")
        .assert_problem(410, "cursor_expired");
    let (seen, _) = phone.pull_all(&app, None).await;
    assert_eq!(seen[&keep]["record"]["name"], "Kept");
    assert!(seen.get(&gone).is_none_or(|c| c["deleted"] == true));
}

#[tokio::test]
async fn waiting_returns_when_another_phone_pushes() {
    let app = spawn_app_with(&[("CARNET_SYNC_WAIT_SECS", "60"), ("CARNET_HTTP_WORKERS", "2")]).await;
    let lise = app.register("Lise").await;
    let waiter = Phone::new(&app, &lise, "waiting").await;
    let other = Phone::new(&app, &lise, "other").await;
    let (_, cursor) = waiter.pull_all(&app, None).await;
    let url = format!("/v1/sync/wait?device_id={}&cursor={cursor}", waiter.device);
    let wait = {
        let client = app.client.clone();
        let full = format!("{}{url}", app.address);
        let token = waiter.token.clone();
        tokio::spawn(async move { client.get(full).bearer_auth(token).send().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let id = new_id();
    other
        .push_ok(
            &app,
            vec![other.mutation("contacts", &id, "upsert", json!({ "name": "Claire" }))],
        )
        .await;
    let answer = TestApp::answer(wait.await.unwrap()).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["changed"], true);
    let (seen, _) = waiter.pull_all(&app, Some(cursor)).await;
    assert!(seen.contains_key(&id));
}

/// Starts a `GET /v1/sync/wait` in the background; answers when the wait ends.
fn start_wait(
    app: &TestApp,
    phone: &Phone,
    cursor: &str,
) -> tokio::task::JoinHandle<(reqwest::Response, std::time::Duration)> {
    let client = app.client.clone();
    let url = format!(
        "{}/v1/sync/wait?device_id={}&cursor={cursor}",
        app.address, phone.device
    );
    let token = phone.token.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let res = client.get(url).bearer_auth(token).send().await.unwrap();
        (res, started.elapsed())
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Backends of the app's sync listener on the test's database.
fn listener_backends(app: &TestApp) -> i64 {
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{}'",
        carnet::sync::listener::APPLICATION_NAME
    ))
    .get_result::<Count>(&mut app.db.connect())
    .unwrap()
    .n
}

#[tokio::test]
async fn a_change_committed_while_the_listener_reconnects_still_wakes_the_waiter() {
    let app = spawn_app_with(&[("CARNET_SYNC_WAIT_SECS", "20"), ("CARNET_HTTP_WORKERS", "2")]).await;
    let lise = app.register("Lise").await;
    let waiter = Phone::new(&app, &lise, "waiting").await;
    let other = Phone::new(&app, &lise, "other").await;
    let (_, cursor) = waiter.pull_all(&app, None).await;
    for _ in 0..100 {
        if listener_backends(&app) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listener_backends(&app), 1, "the sync listener is not connected");

    let wait = start_wait(&app, &waiter, &cursor);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The listener's connection dies; the push below commits before it is back (the
    // listener waits a second before reconnecting), so its notification reaches no one.
    app.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{}'",
        carnet::sync::listener::APPLICATION_NAME
    ));
    for _ in 0..100 {
        if listener_backends(&app) == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(listener_backends(&app), 0);
    let id = new_id();
    other
        .push_ok(
            &app,
            vec![other.mutation("contacts", &id, "upsert", json!({ "name": "Claire" }))],
        )
        .await;

    let (res, elapsed) = wait.await.unwrap();
    let answer = TestApp::answer(res).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["changed"], true, "after {elapsed:?}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "the waiter woke only after {elapsed:?}"
    );
    let (seen, _) = waiter.pull_all(&app, Some(cursor)).await;
    assert!(seen.contains_key(&id));
}

/// Whether a pull cursor has a window of rows that may still get late neighbours (a
/// transaction of another test was running during the pull): the next pull re-sends those.
fn has_window(cursor: &str) -> bool {
    use base64::Engine;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .unwrap();
    // settled.xid, settled.seq, sent.xid, sent.seq, then the first pull's snapshot.
    let parts: Vec<i64> = String::from_utf8(text)
        .unwrap()
        .split('.')
        .take(4)
        .map(|p| p.parse().unwrap())
        .collect();
    (parts[0], parts[1]) != (parts[2], parts[3])
}

#[tokio::test]
async fn a_wait_with_the_cursor_of_a_from_scratch_pull_waits_when_nothing_changed() {
    let app = spawn_app_with(&[("CARNET_SYNC_WAIT_SECS", "2"), ("CARNET_HTTP_WORKERS", "2")]).await;
    let lise = app.register("Lise").await;
    app.contact(&lise, json!({ "name": "Nicolas" })).await;
    let phone = Phone::new(&app, &lise, "new phone").await;
    for round in 0..3 {
        let (seen, mut cursor) = phone.pull_all(&app, None).await;
        assert!(!seen.is_empty());
        // Other tests' transactions can leave the cursor a window to re-send; a wait would
        // rightly send the phone to pull it. Pull until it is settled, as an app would.
        for _ in 0..50 {
            if !has_window(&cursor) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            cursor = phone.pull_all(&app, Some(cursor)).await.1;
        }
        let (res, elapsed) = start_wait(&app, &phone, &cursor).await.unwrap();
        let answer = TestApp::answer(res).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["changed"], false, "round {round}, after {elapsed:?}");
        assert!(elapsed >= std::time::Duration::from_millis(1500), "{elapsed:?}");
        // Indeed nothing: a pull from that cursor brings nothing new.
        let page = phone.pull_page(&app, Some(&cursor), 500).await;
        for change in page["changes"].as_array().unwrap() {
            assert_eq!(Some(change), seen.get(change["id"].as_str().unwrap()), "{page}");
        }
    }
}

#[tokio::test]
async fn conflicts_are_listed_newest_first_in_pages() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let a = Phone::new(&app, &lise, "a").await;
    let b = Phone::new(&app, &lise, "b").await;
    let id = new_id();
    let t = now_ms() - 60_000;
    a.push_ok(
        &app,
        vec![a.mutation_at(t, "contacts", &id, "upsert", json!({ "name": "v0" }))],
    )
    .await;
    for i in 1..=3u64 {
        let m = b.mutation_at(
            t + i * 1000,
            "contacts",
            &id,
            "upsert",
            json!({ "name": format!("b{i}") }),
        );
        b.push_ok(&app, vec![m]).await;
        let m = a.mutation_at(
            t + i * 1000 + 500,
            "contacts",
            &id,
            "upsert",
            json!({ "name": format!("a{i}") }),
        );
        a.push_ok(&app, vec![m]).await;
    }
    let first = app.get("/v1/sync/conflicts?limit=2", &lise.token).await;
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["lost"], "b3");
    assert!(items[0]["id"].as_i64() > items[1]["id"].as_i64());
    let next = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("/v1/sync/conflicts?limit=2&cursor={next}"), &lise.token)
        .await;
    assert!(second.body["items"][0]["id"].as_i64() < items[1]["id"].as_i64());
}

#[tokio::test]
async fn each_rest_edit_keeps_its_own_time_in_the_merge() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let created = app
        .contact(&lise, json!({ "name": "Claire", "city": "Lyon" }))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    // Offline, the phone renames the contact; later a REST edit changes only the city.
    let rename = phone.mutation_at(
        now_ms(),
        "contacts",
        &id,
        "upsert",
        json!({ "name": "Claire Martin" }),
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.patch(
        &format!("/v1/contacts/{id}"),
        &lise.token,
        json!({ "city": "Québec" }),
    )
    .await;
    phone.push_ok(&app, vec![rename]).await;
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    // The rename is later than the creation it replaces, and the REST edit did not touch it.
    assert_eq!(rest.body["name"], "Claire Martin");
    assert_eq!(rest.body["city"], "Québec");
}

#[tokio::test]
async fn replay_stamps_older_than_the_retention_are_forgotten() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let id = new_id();
    // A phone that stayed offline for 100 days (retention: 90) finally pushes its queue.
    let old = now_ms() - 100 * 24 * 3600 * 1000;
    phone
        .push_ok(
            &app,
            vec![phone.mutation_at(old, "contacts", &id, "upsert", json!({ "name": "Claire" }))],
        )
        .await;
    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &id, "upsert", json!({ "city": "Lyon" }))],
        )
        .await;

    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        sync_state: Value,
    }
    let mut conn = app.db.connect();
    let row: State = diesel::sql_query("SELECT sync_state::jsonb AS sync_state FROM contacts WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(Uuid::parse_str(&id).unwrap())
        .get_result(&mut conn)
        .unwrap();
    let applied = row.sync_state["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 1, "only the recent stamp is kept: {applied:?}");
    // The record keeps both edits.
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Claire");
    assert_eq!(rest.body["city"], "Lyon");
}

/// How many rows of `table` have no pull view (their merge state must be read).
fn rows_without_view(app: &TestApp, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db.connect();
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {table} WHERE sync_view IS NULL"
    ))
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

#[tokio::test]
async fn a_record_pulled_from_its_view_reads_as_one_reconciled_from_its_merge_state() {
    const TABLES: [&str; 6] = [
        "events",
        "contacts",
        "reminders",
        "interactions",
        "profile_cards",
        "attendances",
    ];
    let (app, lise, phone) = lise_with_her_iphone().await;
    let (event, contact, reminder, interaction) = (new_id(), new_id(), new_id(), new_id());
    phone
        .push_ok(
            &app,
            vec![
                phone.mutation(
                    "events",
                    &event,
                    "upsert",
                    json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-03T18:30:00Z",
                            "timezone": "Europe/Paris", "capacity": 30 }),
                ),
                phone.mutation(
                    "contacts",
                    &contact,
                    "upsert",
                    json!({
                        "name": "Claire", "organization": "Coop", "city": "Lyon", "starred": true,
                        "met_in_person": true, "keep_in_touch_days": 30, "first_met_on": "2026-11-20",
                        "met_at_event_id": event,
                        "tags": { "add": ["réseau", "vélo"], "remove": [] },
                        "emails": { "add": ["Claire@Example.org"], "remove": [] },
                        "phones": { "add": ["+33 6 12 34 56 78"], "remove": [] },
                        "links": { "add": ["https://example.org/claire"], "remove": [] },
                        "notes": { "base": "", "value": "Parle de \"vélo\" et de coopératives.\nÀ revoir." },
                        "pronouns": "elle"
                    }),
                ),
                phone.mutation(
                    "reminders",
                    &reminder,
                    "upsert",
                    json!({ "title": "Rappeler Claire", "contact_id": contact, "due_local": "2026-12-01T09:00:00",
                            "timezone": "Europe/Paris", "repeat_every": 2, "repeat_unit": "weeks" }),
                ),
                phone.mutation(
                    "interactions",
                    &interaction,
                    "upsert",
                    json!({ "contact_id": contact, "kind": "meal", "occurred_at": "2026-11-21T12:30:00+01:00" }),
                ),
                phone.mutation("profile", &lise.id, "upsert", json!({ "headline": "Fondatrice" })),
            ],
        )
        .await;
    let (first, _) = phone.pull_all(&app, None).await;
    let attendance = first
        .values()
        .find(|c| c["collection"] == "attendances")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .expect("the organizer's attendance");
    phone
        .push_ok(
            &app,
            vec![
                phone.mutation("interactions", &interaction, "delete", json!({})),
                phone.mutation(
                    "attendances",
                    &attendance,
                    "upsert",
                    json!({ "status": "checked_in" }),
                ),
            ],
        )
        .await;
    for table in TABLES {
        assert_eq!(
            rows_without_view(&app, table),
            0,
            "{table} rows written by push carry a view"
        );
    }
    let (from_views, _) = phone.pull_all(&app, None).await;
    assert_eq!(from_views[&attendance]["record"]["status"], "checked_in");
    assert_eq!(from_views[&contact]["record"]["pronouns"], "elle");
    assert_eq!(from_views[&interaction]["deleted"], true);

    for table in TABLES {
        app.sql(&format!("UPDATE {table} SET sync_view = NULL"));
    }
    let (from_states, _) = phone.pull_all(&app, None).await;
    assert_eq!(from_views.len(), from_states.len());
    for (id, change) in &from_views {
        assert_eq!(change, &from_states[id], "record {id}");
    }

    // A view not written by sync (by hand) is not trusted: the row is read in full.
    app.sql(&format!(
        "UPDATE contacts SET sync_view = '{{\"deleted\": true}}' WHERE id = '{contact}'"
    ));
    let (by_hand, _) = phone.pull_all(&app, None).await;
    assert_eq!(by_hand[&contact], from_states[&contact]);
}

#[tokio::test]
async fn a_write_outside_sync_clears_the_view_so_pull_reconciles_it() {
    let (app, _, phone) = lise_with_her_iphone().await;
    let id = new_id();
    phone
        .push_ok(
            &app,
            vec![phone.mutation(
                "contacts",
                &id,
                "upsert",
                json!({ "name": "Claire", "city": "Lyon" }),
            )],
        )
        .await;
    let (seen, cursor) = phone.pull_all(&app, None).await;
    let phone_stamp = seen[&id]["stamps"]["city"].as_str().unwrap().to_string();
    assert!(phone_stamp.ends_with(&phone.node));

    // A writer that knows nothing of sync (an import, a job, a DBA) changes a column.
    app.sql(&format!(
        "UPDATE contacts SET city = 'Paris', updated_at = now() WHERE id = '{id}'"
    ));
    assert_eq!(rows_without_view(&app, "contacts"), 1);
    let (seen, _) = phone.pull_all(&app, Some(cursor)).await;
    assert_eq!(seen[&id]["record"]["city"], "Paris");
    let stamp = seen[&id]["stamps"]["city"].as_str().unwrap();
    assert!(
        stamp.ends_with(&"0".repeat(32)),
        "a server edit, not the phone's stamp: {stamp}"
    );
    assert_eq!(seen[&id]["stamps"]["name"].as_str().unwrap(), phone_stamp);
}

/// A contact created then deleted, then a reminder that refers to it, in one batch.
fn created_deleted_then_referred(phone: &Phone, contact: &str, reminder: &str) -> Vec<Value> {
    vec![
        phone.mutation("contacts", contact, "upsert", json!({ "name": "Paul" })),
        phone.mutation("contacts", contact, "delete", json!({})),
        phone.mutation(
            "reminders",
            reminder,
            "upsert",
            json!({ "title": "Rappeler Paul", "contact_id": contact, "due_local": "2026-12-01T09:00:00",
                    "timezone": "Europe/Paris" }),
        ),
    ]
}

#[tokio::test]
async fn a_record_the_database_refuses_is_rejected_alone_and_the_rest_of_the_batch_applies() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let (claire, event, gone, reminder) = (new_id(), new_id(), new_id(), new_id());
    let body = phone
        .push(
            &app,
            vec![
                phone.mutation("contacts", &claire, "upsert", json!({ "name": "Claire" })),
                // Ends before it starts: only the database's check sees it.
                phone.mutation(
                    "events",
                    &event,
                    "upsert",
                    json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-03T18:30:00Z",
                            "ends_at": "2026-12-03T17:00:00Z", "timezone": "Europe/Paris" }),
                ),
                phone.mutation("contacts", &claire, "upsert", json!({ "city": "Lyon" })),
            ]
            .into_iter()
            .chain(created_deleted_then_referred(&phone, &gone, &reminder))
            .collect(),
        )
        .await;
    let statuses: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["applied", "rejected", "applied", "applied", "applied", "rejected"],
        "{body}"
    );
    assert_eq!(body["results"][1]["error"]["code"], "constraint_violated");
    assert_eq!(
        body["results"][5]["error"]["errors"][0]["code"], "unknown_reference",
        "{body}"
    );
    assert_eq!(body["last_mutation_id"], 6);

    let rest = app.get(&format!("/v1/contacts/{claire}"), &lise.token).await;
    assert_eq!(rest.body["name"], "Claire");
    assert_eq!(rest.body["city"], "Lyon");
    assert_eq!(
        app.get(&format!("/v1/events/{event}"), &lise.token).await.status,
        404
    );
    assert_eq!(
        app.get(&format!("/v1/contacts/{gone}"), &lise.token).await.status,
        404
    );
    let (seen, _) = phone.pull_all(&app, None).await;
    assert!(!seen.contains_key(&event));
    assert!(!seen.contains_key(&reminder));
    assert_eq!(seen[&gone]["deleted"], true);

    // The same reference in a batch the database accepts whole.
    let (other, later) = (new_id(), new_id());
    let body = phone
        .push(&app, created_deleted_then_referred(&phone, &other, &later))
        .await;
    assert_eq!(body["results"][1]["status"], "applied", "{body}");
    assert_eq!(
        body["results"][2]["error"]["errors"][0]["code"], "unknown_reference",
        "{body}"
    );
}

#[tokio::test]
async fn a_contact_deleted_by_a_phone_takes_its_interactions_and_reminders_with_it() {
    let (app, lise, phone) = lise_with_her_iphone().await;
    let (claire, lunch, call_back, other, other_lunch) = (new_id(), new_id(), new_id(), new_id(), new_id());
    let lunch_with = |id: &str, contact: &str| {
        phone.mutation(
            "interactions",
            id,
            "upsert",
            json!({ "contact_id": contact, "kind": "meal", "occurred_at": "2026-11-21T12:30:00Z" }),
        )
    };
    phone
        .push_ok(
            &app,
            vec![
                phone.mutation("contacts", &claire, "upsert", json!({ "name": "Claire" })),
                phone.mutation("contacts", &other, "upsert", json!({ "name": "Marc" })),
                lunch_with(&lunch, &claire),
                lunch_with(&other_lunch, &other),
                phone.mutation(
                    "reminders",
                    &call_back,
                    "upsert",
                    json!({ "title": "Rappeler Claire", "contact_id": claire, "due_local": "2026-12-01T09:00:00",
                            "timezone": "Europe/Paris" }),
                ),
            ],
        )
        .await;
    let (_, cursor) = phone.pull_all(&app, None).await;

    phone
        .push_ok(
            &app,
            vec![phone.mutation("contacts", &claire, "delete", json!({}))],
        )
        .await;
    let reminder = app.get(&format!("/v1/reminders/{call_back}"), &lise.token).await;
    assert_eq!(reminder.status, 404);
    let kept = app
        .get(&format!("/v1/contacts/{other}/interactions"), &lise.token)
        .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert!(kept.text.contains(&other_lunch), "{}", kept.text);
    let (seen, _) = phone.pull_all(&app, Some(cursor)).await;
    for id in [&claire, &lunch, &call_back] {
        assert_eq!(seen[id]["deleted"], true, "{id}");
    }
    // The other contact's lunch stays alive (a pull may send it again while another test's
    // transaction holds the cursor's window open, never as deleted).
    assert!(
        seen.get(&other_lunch).is_none_or(|c| c["deleted"] == false),
        "{:?}",
        seen.get(&other_lunch)
    );
}

#[tokio::test]
async fn each_page_names_the_next_in_a_link_header_until_the_last() {
    let (app, _, phone) = lise_with_her_iphone().await;
    let ids: Vec<String> = (0..5).map(|_| new_id()).collect();
    let mutations = ids
        .iter()
        .map(|id| phone.mutation("contacts", id, "upsert", json!({ "name": id })))
        .collect();
    phone.push_ok(&app, mutations).await;
    // Following the Link headers alone (as a client asking for the next page before it has
    // read this one would) walks the same pages as following the bodies' cursors.
    let mut path = format!(
        "/v1/sync/pull?device_id={}&limit=2&schema_version=1",
        phone.device
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let answer = app.get(&path, &phone.token).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        pages += 1;
        for c in answer.body["changes"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        let link = answer
            .headers
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        if answer.body["has_more"] != true {
            assert_eq!(link, None, "the last page names no next page");
            break;
        }
        let link = link.expect("a page with more after it names the next");
        let cursor = answer.body["cursor"].as_str().unwrap();
        assert_eq!(
            link,
            format!(
                "</v1/sync/pull?device_id={}&cursor={cursor}&limit=2&schema_version=1>; rel=\"next\"",
                phone.device
            )
        );
        path = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_string();
    }
    // The profile card and the five contacts, two a page: three pages, or more when
    // another test's transaction still runs and rows of the window are sent again.
    assert!(pages >= 3, "{pages} pages");
    for id in &ids {
        assert!(seen.contains(id), "{id} not pulled");
    }
}

#[tokio::test]
async fn merge_states_and_views_are_compressed_with_lz4_where_the_server_has_it() {
    #[derive(QueryableByName)]
    struct Flag {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        b: bool,
    }
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        compression: String,
    }
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        state: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        view: Option<String>,
    }
    let (app, _, phone) = lise_with_her_iphone().await;
    let id = new_id();
    // Notes long enough to take the row over PostgreSQL's 2 kB compression threshold.
    let notes = "Rencontrée au Jelly du jeudi, parle de coopératives et de vélo. ".repeat(60);
    phone
        .push_ok(
            &app,
            vec![phone.mutation(
                "contacts",
                &id,
                "upsert",
                json!({ "name": "Lise", "notes": { "base": "", "value": notes } }),
            )],
        )
        .await;
    let mut conn = app.db.connect();
    // A server built without lz4 does not list it among the compression methods.
    let has_lz4 = diesel::sql_query(
        "SELECT 'lz4' = ANY(enumvals) AS b FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .get_result::<Flag>(&mut conn)
    .unwrap()
    .b;
    let columns = diesel::sql_query(
        "SELECT c.relname::text AS table_name, a.attcompression::text AS compression \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         WHERE a.attname IN ('sync_state', 'sync_view') AND c.relkind = 'r' \
           AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    .load::<Column>(&mut conn)
    .unwrap();
    assert_eq!(columns.len(), 12, "six synced tables, two columns each");
    let expected = if has_lz4 { "l" } else { "" };
    for c in &columns {
        assert_eq!(c.compression, expected, "{}", c.table_name);
    }
    let stored = diesel::sql_query(format!(
        "SELECT pg_column_compression(sync_state) AS state, pg_column_compression(sync_view) AS view \
         FROM contacts WHERE id = '{id}'"
    ))
    .get_result::<Stored>(&mut conn)
    .unwrap();
    if has_lz4 {
        assert_eq!(stored.state.as_deref(), Some("lz4"));
        assert_eq!(stored.view.as_deref(), Some("lz4"));
    }
}

#[tokio::test]
async fn awkward_values_are_stored_exactly_by_batched_inserts_and_updates() {
    // Push writes a batch's values as text arrays cast to each column's type: quotes,
    // backslashes, commas, braces, the word NULL, newlines and non-ASCII text must come
    // back as sent, from pull and from the REST API alike.
    let (app, lise, phone) = lise_with_her_iphone().await;
    let id = new_id();
    let tags = ["a,b", "say \"hi\"", "back\\slash", "{x}", "null", "vélo"];
    let notes = "Line \"one\"\nback\\slash, {braces} and NULL\ttab";
    let created = json!({
        "name": "O'Brien \"Bob\" {x}",
        "tags": { "add": tags, "remove": [] },
        "notes": { "base": "", "value": notes },
        "keep_in_touch_days": 30,
        "first_met_on": "2026-11-20",
        "starred": true,
    });
    // Then an update of another shape: a column set, one cleared, a set element removed.
    let updated = json!({
        "city": "Montréal \\ \"QC\"",
        "keep_in_touch_days": null,
        "tags": { "add": ["x}y{"], "remove": ["{x}"] },
    });
    for fields in [created, updated] {
        phone
            .push_ok(&app, vec![phone.mutation("contacts", &id, "upsert", fields)])
            .await;
    }
    let other = Phone::new(&app, &lise, "iPad").await;
    let (seen, _) = other.pull_all(&app, None).await;
    let record = &seen[&id]["record"];
    let rest = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(rest.status, 200, "{}", rest.text);
    let mut want_tags: Vec<String> = ["a,b", "say \"hi\"", "back\\slash", "null", "vélo", "x}y{"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    want_tags.sort();
    for (source, r) in [("pull", record), ("REST", &rest.body)] {
        assert_eq!(r["name"], "O'Brien \"Bob\" {x}", "{source}: {r}");
        assert_eq!(sorted(&r["tags"]), want_tags, "{source}: {r}");
        assert_eq!(r["notes"], notes, "{source}: {r}");
        assert_eq!(r["city"], "Montréal \\ \"QC\"", "{source}: {r}");
        assert_eq!(r["keep_in_touch_days"], Value::Null, "{source}: {r}");
        assert_eq!(r["first_met_on"], "2026-11-20", "{source}: {r}");
        assert_eq!(r["starred"], true, "{source}: {r}");
    }
}

#[tokio::test]
async fn a_first_sync_holds_no_tombstone_for_a_record_the_device_never_had() {
    let app = spawn_app().await;
    let nico = app.register("Nico").await;
    let lise = app.register("Lise").await;
    let marc = app.register("Marc").await;
    let mut kept = Vec::new();
    for i in 0..4 {
        let c = app
            .contact(&lise, json!({ "name": format!("Contact {i}") }))
            .await;
        kept.push(c["id"].as_str().unwrap().to_string());
    }
    // Lise deleted a contact before her new phone existed; Marc, at Nico's apéro, withdrew
    // his consent to appear on the list.
    let gone = app.contact(&lise, json!({ "name": "Claire Martin" })).await;
    let gone = gone["id"].as_str().unwrap().to_string();
    app.delete(&format!("/v1/contacts/{gone}"), &lise.token).await;
    let e = app
        .post(
            "/v1/events",
            &nico.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-10T18:00:00Z" }),
        )
        .await
        .body;
    let event = e["id"].as_str().unwrap();
    crate::interop::join(&app, &nico, event, &lise, true).await;
    crate::interop::join(&app, &nico, event, &marc, true).await;
    let withdrawn = app
        .patch(
            &format!("/v1/events/{event}/attendance"),
            &marc.token,
            json!({ "share_profile": false }),
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);

    // The new phone's first sync, three records a page: nothing deleted, nothing out of scope.
    let phone = Phone::new(&app, &lise, "Pixel").await;
    let first = phone.pull_page(&app, None, 3).await;
    assert_eq!(first["has_more"], true);
    let had: Vec<String> = first["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    // One of the records it received is deleted while the first sync goes on: that one it
    // had, so its tombstone comes.
    let received = kept
        .iter()
        .find(|id| had.contains(id))
        .expect("a contact in the first page");
    app.delete(&format!("/v1/contacts/{received}"), &lise.token).await;
    let mut changes: Vec<Value> = first["changes"].as_array().unwrap().clone();
    let mut cursor = first["cursor"].as_str().unwrap().to_string();
    loop {
        let page = phone.pull_page(&app, Some(&cursor), 3).await;
        changes.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if page["has_more"] != true {
            break;
        }
    }
    let tombstones: Vec<&str> = changes
        .iter()
        .filter(|c| c["deleted"] == true)
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(tombstones, vec![received.as_str()], "{changes:?}");
    assert!(!changes.iter().any(|c| c["id"] == gone.as_str()));
    let marcs = changes
        .iter()
        .filter(|c| c["collection"] == "attendances" && c["record"]["user_id"] == marc.id.as_str());
    assert_eq!(marcs.count(), 0, "{changes:?}");

    // After the first sync, a record leaving reaches the phone as before.
    let other = kept.iter().find(|id| *id != received).unwrap();
    app.delete(&format!("/v1/contacts/{other}"), &lise.token).await;
    let (seen, _) = phone.pull_all(&app, Some(cursor)).await;
    assert_eq!(seen[other]["deleted"], true);

    // A cursor given out before this rule (four parts) still works and sends tombstones.
    use base64::Engine;
    let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("0.0.0.0");
    let page = phone.pull_page(&app, Some(&old), 1000).await;
    assert!(page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == gone.as_str()));
}
