use carnet_tests::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn a_contact_round_trips_with_normalised_fields() {
    let app = spawn_app().await;
    let user = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    let created = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({
                "name": "  Nicolas Dupont ",
                "organization": "Coopérative du Coin",
                "job_title": "Fondateur",
                "city": "Lyon",
                "emails": ["Nicolas@Example.ORG", "nicolas@example.org"],
                "phones": ["06 12 34 56 78", "+1 514 555 0199"],
                "links": ["linkedin.com/in/nicolas"],
                "tags": ["Réseautage", "réseautage", " apéro "],
                "notes": "Lunch chez Magnan\nParle de son projet",
                "how_we_met": "Apéro des indépendants",
                "first_met_on": "2026-11-20",
                "they_brought": "Une intro à sa banque",
                "i_can_offer": "Relire son pitch",
                "met_in_person": true,
                "starred": true
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let c = &created.body;
    assert_eq!(c["name"], "Nicolas Dupont");
    assert_eq!(c["emails"], json!(["nicolas@example.org"]));
    assert_eq!(c["phones"], json!(["+33612345678", "+15145550199"]));
    assert_eq!(c["links"], json!(["https://linkedin.com/in/nicolas"]));
    assert_eq!(c["tags"], json!(["réseautage", "apéro"]));
    assert_eq!(c["notes"], "Lunch chez Magnan\nParle de son projet");
    assert_eq!(c["first_met_on"], "2026-11-20");
    assert_eq!(c["met_in_person"], true);
    let id = c["id"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/contacts/{id}"), &user.token).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(&fetched.body, c);
}

#[tokio::test]
async fn a_client_chosen_id_is_kept_and_cannot_be_reused() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let id = uuid::Uuid::now_v7().to_string();
    let created = app
        .post("/v1/contacts", &lise.token, json!({ "id": id, "name": "Claire" }))
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["id"], id.as_str());
    app.post(
        "/v1/contacts",
        &lise.token,
        json!({ "id": id, "name": "Claire bis" }),
    )
    .await
    .assert_problem(409, "id_taken");
    // Another user reusing the id learns nothing and changes nothing.
    let stolen = app
        .post(
            "/v1/contacts",
            &nicolas.token,
            json!({ "id": id, "name": "Hijack" }),
        )
        .await;
    stolen.assert_problem(409, "id_taken");
    assert!(!stolen.text.contains("Claire"));
    let still = app.get(&format!("/v1/contacts/{id}"), &lise.token).await;
    assert_eq!(still.body["name"], "Claire");
}

#[tokio::test]
async fn validation_names_each_bad_field_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let answer = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({
                "name": "",
                "emails": ["ok@example.org", "nope"],
                "phones": ["12"],
                "links": ["javascript:alert(1)"],
                "first_met_on": "yesterday",
                "keep_in_touch_days": 0,
                "organization": "x".repeat(201)
            }),
        )
        .await;
    answer.assert_problem(422, "validation_failed");
    let mut fields = answer.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "emails[1]",
            "first_met_on",
            "keep_in_touch_days",
            "links[0]",
            "name",
            "organization",
            "phones[0]"
        ]
    );
    let list = app.get("/v1/contacts", &user.token).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn phones_without_country_code_need_a_region() {
    let app = spawn_app().await;
    let user = app.register("Lise").await; // locale "en": no region
    let answer = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "N", "phones": ["06 12 34 56 78"] }),
        )
        .await;
    answer.assert_problem(422, "validation_failed");
    assert_eq!(answer.body["errors"][0]["code"], "invalid_phone");
    assert_eq!(
        app.patch("/v1/me", &user.token, json!({ "region": "fr" }))
            .await
            .status,
        200
    );
    let ok = app
        .post(
            "/v1/contacts",
            &user.token,
            json!({ "name": "N", "phones": ["06 12 34 56 78"] }),
        )
        .await;
    assert_eq!(ok.body["phones"], json!(["+33612345678"]));
}

#[tokio::test]
async fn patch_changes_only_what_it_names_and_null_clears() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let c = app
        .contact(&user, json!({ "name": "Nicolas", "organization": "Coop", "city": "Lyon", "tags": ["a"], "starred": true }))
        .await;
    let id = c["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &user.token,
            json!({ "organization": null, "tags": ["b", "c"], "starred": false }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["organization"], Value::Null);
    assert_eq!(patched.body["city"], "Lyon");
    assert_eq!(patched.body["tags"], json!(["b", "c"]));
    assert_eq!(patched.body["starred"], false);
    assert_eq!(patched.body["name"], "Nicolas");
    // A bad patch changes nothing.
    app.patch(
        &format!("/v1/contacts/{id}"),
        &user.token,
        json!({ "city": "Paris", "emails": ["bad"] }),
    )
    .await
    .assert_problem(422, "validation_failed");
    assert_eq!(
        app.get(&format!("/v1/contacts/{id}"), &user.token).await.body["city"],
        "Lyon"
    );
    // Unknown fields are refused rather than silently dropped.
    app.patch(
        &format!("/v1/contacts/{id}"),
        &user.token,
        json!({ "nmae": "typo" }),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn search_covers_name_organization_notes_and_tags() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    app.contact(
        &user,
        json!({ "name": "Nicolas Dupont", "organization": "Boulangerie" }),
    )
    .await;
    app.contact(
        &user,
        json!({ "name": "Claire", "notes": "rencontrée au Jelly de la Halle" }),
    )
    .await;
    app.contact(&user, json!({ "name": "Marc", "tags": ["investisseur"] }))
        .await;
    app.contact(&user, json!({ "name": "Zoé", "organization": "100% Coop_" }))
        .await;
    let names = |answer: carnet_tests::Answer| -> Vec<String> {
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(app.get("/v1/contacts?q=dupont", &user.token).await),
        ["Nicolas Dupont"]
    );
    assert_eq!(
        names(app.get("/v1/contacts?q=BOULANG", &user.token).await),
        ["Nicolas Dupont"]
    );
    assert_eq!(
        names(app.get("/v1/contacts?q=jelly", &user.token).await),
        ["Claire"]
    );
    assert_eq!(
        names(app.get("/v1/contacts?q=invest", &user.token).await),
        ["Marc"]
    );
    // % and _ match literally.
    assert_eq!(
        names(app.get("/v1/contacts?q=100%25", &user.token).await),
        ["Zoé"]
    );
    assert!(names(app.get("/v1/contacts?q=%25%25%25", &user.token).await).is_empty());
    assert_eq!(
        names(app.get("/v1/contacts?tag=Investisseur", &user.token).await),
        ["Marc"]
    );
}

#[tokio::test]
async fn pagination_walks_every_contact_once() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    for i in 0..23 {
        app.contact(&user, json!({ "name": format!("Contact {i:02}") }))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/contacts?limit=10&cursor={c}"),
            None => "/v1/contacts?limit=10".into(),
        };
        let page = app.get(&path, &user.token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for c in page.body["items"].as_array().unwrap() {
            seen.push(c["name"].as_str().unwrap().to_string());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..23).map(|i| format!("Contact {i:02}")).collect();
    assert_eq!(seen, expected);
    app.get("/v1/contacts?limit=0", &user.token)
        .await
        .assert_problem(400, "invalid_limit");
    app.get("/v1/contacts?limit=201", &user.token)
        .await
        .assert_problem(400, "invalid_limit");
    app.get("/v1/contacts?cursor=garbage!", &user.token)
        .await
        .assert_problem(400, "invalid_cursor");
}

#[tokio::test]
async fn another_users_contact_is_not_found_and_untouched() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let c = app
        .contact(&lise, json!({ "name": "Claire", "notes": "secret" }))
        .await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().unwrap());
    for answer in [
        app.get(&path, &nicolas.token).await,
        app.patch(&path, &nicolas.token, json!({ "name": "Hacked" }))
            .await,
        app.delete(&path, &nicolas.token).await,
        app.get(&format!("{path}/interactions"), &nicolas.token).await,
        app.post(
            &format!("{path}/interactions"),
            &nicolas.token,
            json!({ "kind": "call" }),
        )
        .await,
    ] {
        answer.assert_problem(404, "not_found");
        assert!(!answer.text.contains("secret"));
    }
    // Even an invalid patch answers 404, not a validation error that would confirm the id.
    app.patch(&path, &nicolas.token, json!({ "name": "" }))
        .await
        .assert_problem(404, "not_found");
    assert!(app.get("/v1/contacts", &nicolas.token).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let still = app.get(&path, &lise.token).await;
    assert_eq!(still.body["name"], "Claire");
    assert_eq!(still.body["notes"], "secret");
}

#[tokio::test]
async fn deleting_a_contact_hides_it_with_its_interactions_and_reminders() {
    let app = spawn_app().await;
    let user = app.register("Lise").await;
    let c = app
        .contact(&user, json!({ "name": "Nicolas", "keep_in_touch_days": 30 }))
        .await;
    let id = c["id"].as_str().unwrap();
    let i = app
        .post(
            &format!("/v1/contacts/{id}/interactions"),
            &user.token,
            json!({ "kind": "call" }),
        )
        .await;
    assert_eq!(i.status, 201);
    assert_eq!(
        app.get("/v1/reminders", &user.token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.delete(&format!("/v1/contacts/{id}"), &user.token)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/contacts/{id}"), &user.token)
        .await
        .assert_problem(404, "not_found");
    app.delete(&format!("/v1/contacts/{id}"), &user.token)
        .await
        .assert_problem(404, "not_found");
    let iid = i.body["id"].as_str().unwrap();
    app.patch(
        &format!("/v1/interactions/{iid}"),
        &user.token,
        json!({ "notes": "x" }),
    )
    .await
    .assert_problem(404, "not_found");
    assert!(app.get("/v1/reminders", &user.token).await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}
