//! File formats: vCard and CSV imports and exports of contacts and attendees.

use carnet_tests::{spawn_app, TestApp, User};
use serde_json::{json, Value};

const VCARD: Option<&str> = Some("text/vcard");
const CSV: Option<&str> = Some("text/csv");

async fn all_contacts(app: &TestApp, user: &User) -> Vec<Value> {
    let list = app.get("/v1/contacts?limit=200", &user.token).await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().clone()
}

fn by_name<'a>(contacts: &'a [Value], name: &str) -> &'a Value {
    contacts
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no contact named {name:?} in {contacts:#?}"))
}

/// Base64 photo data folded the way phones write it.
fn folded_photo(len: usize) -> String {
    let data = "/9j/4AAQSkZJRgABAQ".repeat(len / 18 + 1);
    let mut out = String::from("PHOTO;ENCODING=b;TYPE=JPEG:");
    for (i, chunk) in data.as_bytes()[..len].chunks(74).enumerate() {
        if i > 0 {
            out.push_str("\r\n ");
        }
        out.push_str(std::str::from_utf8(chunk).unwrap());
    }
    out.push_str("\r\n");
    out
}

/// A corpus of cards as phones and address books really write them, one quirk or more each.
fn corpus() -> Vec<u8> {
    let mut text = String::from("\u{feff}");
    // vCard 2.1 from an old Android: quoted-printable with soft line breaks, ISO-8859-1,
    // no FN (the name comes from N), bare types.
    text.push_str(concat!(
        "BEGIN:VCARD\r\n",
        "VERSION:2.1\r\n",
        "N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:Cardinal;L=E9a;;;\r\n",
        "TEL;CELL;VOICE:06 12 34 56 78\r\n",
        "TEL;WORK:+33 4 72 00 00 00\r\n",
        "EMAIL;INTERNET;PREF:Lea.Cardinal@Example.ORG\r\n",
        "NOTE;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:Rencontr=E9e =E0 l'ap=E9ro du jeudi, =\r\n",
        "tr=E8s sympa\r\n",
        "END:VCARD\r\n",
    ));
    // vCard 3.0 from an iPhone: folded lines (space and tab), escapes, typed TEL/EMAIL in
    // every spelling, item groups with X-ABLabel, social profiles, IMPP, categories, ORG
    // components, ADR, and a large inline photo.
    text.push_str(concat!(
        "BEGIN:VCARD\r\n",
        "VERSION:3.0\r\n",
        "PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n",
        "N:Dupont;Nicolas;;;\r\n",
        "FN:Nicolas\r\n",
        "  Dupont\r\n",
        "ORG:Coopérative du Coin;Ventes\r\n",
        "TITLE:Fondateur\\, gérant\r\n",
        "TEL;TYPE=CELL,VOICE:+1 (514) 555-0199\r\n",
        "TEL;type=HOME;type=pref:04 78 00 00 00\r\n",
        "EMAIL;type=INTERNET;type=WORK;type=pref:nicolas@coop.example\r\n",
        "item1.EMAIL;type=INTERNET:nico@perso.example\r\n",
        "item1.X-ABLabel:_$!<Other>!$_\r\n",
        "item2.URL;type=pref:https://blog.nicolas.example\r\n",
        "item2.X-ABLabel:_$!<HomePage>!$_\r\n",
        "item3.X-CUSTOM:linkedin.com/in/nicolas-dupont\r\n",
        "item3.X-ABLabel:LinkedIn\r\n",
        "X-SOCIALPROFILE;type=twitter;x-user=nicodupont:x-apple:nicodupont\r\n",
        "IMPP;X-SERVICE-TYPE=Skype;type=HOME:skype:nico.dupont\r\n",
        "CATEGORIES:Apéro,Réseau\\, Lyon,Clients\r\n",
        "ADR;type=WORK;type=pref:;;12 rue de la Ré\r\n",
        "\tpublique;Lyon;;69002;France\r\n",
        "NOTE:Première ligne\\nDeuxième ligne\\; avec\\, ponctuation\r\n",
    ));
    text.push_str(&folded_photo(400_000));
    text.push_str("END:VCARD\r\n");
    // vCard 4.0: URI values, PREF parameter, LF line ends and lower-case names.
    text.push_str(concat!(
        "BEGIN:VCARD\n",
        "VERSION:4.0\n",
        "fn:Claire Martin\n",
        "tel;value=uri;type=\"cell,voice\";pref=1:tel:+33-6-98-76-54-32\n",
        "email;pref=1:claire@example.org\n",
        "org:Atelier Martin\n",
        "adr;type=home:;;;Montréal;QC;;Canada\n",
        "end:VCARD\n",
    ));
    // A card with nothing that names anyone: skipped and reported.
    text.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:?\r\nEND:VCARD\r\n");
    // A bad phone number: dropped and reported, the card is kept.
    text.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Paul\r\nTEL:12\r\nEND:VCARD\r\n");
    text.into_bytes()
}

#[tokio::test]
async fn a_vcard_corpus_with_every_quirk_is_imported() {
    let app = spawn_app().await;
    let lise = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    let report = app
        .send_file("/v1/contacts/import", &lise.token, None, corpus())
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["format"], "vcard");
    assert_eq!(report.body["created"], 4, "{}", report.text);
    assert_eq!(report.body["merged"], 0);
    assert_eq!(report.body["skipped"], 1);
    let errors = report.body["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["record"] == 4), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e["record"] == 5 && e["message"].as_str().unwrap().contains("phones")),
        "{errors:?}"
    );

    let contacts = all_contacts(&app, &lise).await;
    assert_eq!(contacts.len(), 4);
    let lea = by_name(&contacts, "Léa Cardinal");
    assert_eq!(lea["phones"], json!(["+33612345678", "+33472000000"]));
    assert_eq!(lea["emails"], json!(["lea.cardinal@example.org"]));
    assert_eq!(lea["notes"], "Rencontrée à l'apéro du jeudi, très sympa");

    let nicolas = by_name(&contacts, "Nicolas Dupont");
    assert_eq!(nicolas["organization"], "Coopérative du Coin, Ventes");
    assert_eq!(nicolas["job_title"], "Fondateur, gérant");
    assert_eq!(nicolas["city"], "Lyon");
    assert_eq!(nicolas["phones"], json!(["+15145550199", "+33478000000"]));
    assert_eq!(
        nicolas["emails"],
        json!(["nicolas@coop.example", "nico@perso.example"])
    );
    assert_eq!(
        nicolas["links"],
        json!([
            "https://blog.nicolas.example/",
            "https://linkedin.com/in/nicolas-dupont",
            "https://x.com/nicodupont"
        ])
    );
    assert_eq!(nicolas["tags"], json!(["apéro", "réseau, lyon", "clients"]));
    assert_eq!(
        nicolas["notes"],
        "Première ligne\nDeuxième ligne; avec, ponctuation\nIM: skype:nico.dupont"
    );

    let claire = by_name(&contacts, "Claire Martin");
    assert_eq!(claire["phones"], json!(["+33698765432"]));
    assert_eq!(claire["city"], "Montréal");
    assert_eq!(claire["organization"], "Atelier Martin");
    assert_eq!(by_name(&contacts, "Paul")["phones"], json!([]));
}

#[tokio::test]
async fn many_cards_in_one_file_and_reimport_changes_nothing() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let mut file = String::new();
    for i in 0..150 {
        file.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Personne {i}\r\nEMAIL:p{i}@example.org\r\nEND:VCARD\r\n"
        ));
    }
    let first = app
        .send_file(
            "/v1/contacts/import",
            &lise.token,
            VCARD,
            file.clone().into_bytes(),
        )
        .await;
    assert_eq!(first.body["created"], 150, "{}", first.text);
    let before = all_contacts(&app, &lise).await;
    let again = app
        .send_file("/v1/contacts/import", &lise.token, VCARD, file.into_bytes())
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(
        (
            &again.body["created"],
            &again.body["merged"],
            &again.body["skipped"]
        ),
        (&json!(0), &json!(0), &json!(150))
    );
    assert_eq!(all_contacts(&app, &lise).await, before);
}

#[tokio::test]
async fn a_known_email_or_phone_merges_instead_of_duplicating() {
    let app = spawn_app().await;
    let lise = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    let claire = app
        .contact(
            &lise,
            json!({ "name": "Claire M.", "emails": ["claire@example.org"], "notes": "Mes notes", "tags": ["amie"] }),
        )
        .await;
    let paul = app
        .contact(&lise, json!({ "name": "Paul", "phones": ["06 11 22 33 44"] }))
        .await;
    let file = concat!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Claire Martin\r\nEMAIL:CLAIRE@Example.org\r\n",
        "TEL:+33 6 98 76 54 32\r\nORG:Atelier\r\nNOTE:Autre note\r\nCATEGORIES:Client\r\nEND:VCARD\r\n",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Paul Durand\r\nTEL;CELL:+33611223344\r\nEND:VCARD\r\n",
        // Same person twice in one file: one contact.
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoé\r\nEMAIL:zoe@example.org\r\nEND:VCARD\r\n",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoé B.\r\nEMAIL:zoe@example.org\r\nTITLE:CTO\r\nEND:VCARD\r\n",
    );
    let report = app
        .send_file(
            "/v1/contacts/import",
            &lise.token,
            VCARD,
            file.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["created"], 1, "{}", report.text);
    assert_eq!(report.body["merged"], 2);
    assert_eq!(report.body["skipped"], 1);
    let contacts = all_contacts(&app, &lise).await;
    assert_eq!(contacts.len(), 3);
    let merged = app
        .get(
            &format!("/v1/contacts/{}", claire["id"].as_str().unwrap()),
            &lise.token,
        )
        .await
        .body;
    // The user's own words stay; what was missing is added.
    assert_eq!(merged["name"], "Claire M.");
    assert_eq!(merged["notes"], "Mes notes");
    assert_eq!(merged["organization"], "Atelier");
    assert_eq!(merged["phones"], json!(["+33698765432"]));
    assert_eq!(merged["tags"], json!(["amie", "client"]));
    assert_eq!(by_name(&contacts, "Paul")["id"], paul["id"]);
    assert_eq!(by_name(&contacts, "Zoé")["job_title"], "CTO");

    let again = app
        .send_file(
            "/v1/contacts/import",
            &lise.token,
            VCARD,
            file.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(
        (&again.body["created"], &again.body["merged"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(all_contacts(&app, &lise).await, contacts);
}

fn comparable(mut contacts: Vec<Value>) -> Vec<Value> {
    for c in contacts.iter_mut() {
        let o = c.as_object_mut().unwrap();
        for k in ["id", "created_at", "updated_at"] {
            o.remove(k);
        }
    }
    contacts.sort_by_key(|c| c["name"].as_str().unwrap().to_string());
    contacts
}

async fn rich_contacts(app: &TestApp, user: &User) {
    app.contact(
        user,
        json!({
            "name": "Lise Cardinal",
            "organization": "Coop; du \"Coin\", Lyon",
            "job_title": "Fondatrice",
            "city": "Lyon",
            "emails": ["lise@example.org", "l.cardinal@coop.example"],
            "phones": ["+33612345678", "+15145550199"],
            "links": ["https://linkedin.com/in/lise", "https://blog.example.org/"],
            "tags": ["apéro", "réseau"],
            "notes": "Ligne 1\nLigne 2, avec; ponctuation et \\ barre",
            "how_we_met": "Apéro des indépendants",
            "first_met_on": "2026-11-20",
            "they_brought": "Une intro",
            "i_can_offer": "Relire son pitch"
        }),
    )
    .await;
    app.contact(user, json!({ "name": "=Formule", "notes": "-moins" }))
        .await;
    app.contact(user, json!({ "name": "Paul" })).await;
}

#[tokio::test]
async fn a_vcard_export_imports_back_to_the_same_contacts() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    rich_contacts(&app, &lise).await;
    let export = app
        .get_bytes("/v1/contacts/export?format=vcard", &lise.token)
        .await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "text/vcard; charset=utf-8");
    let text = String::from_utf8(export.bytes).unwrap();
    assert_eq!(text.matches("BEGIN:VCARD\r\n").count(), 3);
    assert!(text.lines().all(|l| l.len() <= 75), "lines are folded");

    let nicolas = app.register("Nicolas").await;
    let report = app
        .send_file("/v1/contacts/import", &nicolas.token, None, text.into_bytes())
        .await;
    assert_eq!(report.body["created"], 3, "{}", report.text);
    assert_eq!(report.body["errors"], json!([]));
    assert_eq!(
        comparable(all_contacts(&app, &nicolas).await),
        comparable(all_contacts(&app, &lise).await)
    );
}

#[tokio::test]
async fn a_csv_export_imports_back_to_the_same_contacts() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    rich_contacts(&app, &lise).await;
    for path in [
        "/v1/contacts/export?format=csv",
        "/v1/contacts/export?format=csv&excel=1",
    ] {
        let export = app.get_bytes(path, &lise.token).await;
        assert_eq!(export.status, 200);
        let text = String::from_utf8(export.bytes.clone()).unwrap();
        assert!(text.contains("'=Formule"), "{text}");
        let nicolas = app.register("Nicolas").await;
        let report = app
            .send_file("/v1/contacts/import", &nicolas.token, CSV, export.bytes)
            .await;
        assert_eq!(report.body["format"], "csv");
        assert_eq!(report.body["created"], 3, "{}", report.text);
        assert_eq!(
            comparable(all_contacts(&app, &nicolas).await),
            comparable(all_contacts(&app, &lise).await),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_spreadsheet_of_contacts_in_latin1_is_imported() {
    let app = spawn_app().await;
    let lise = app.register_with("Lise", json!({ "locale": "fr-FR" })).await;
    // Windows-1252 bytes, as an old Excel saves "CSV (séparateur : point-virgule)".
    let mut file = b"Pr\xe9nom;Nom;Soci\xe9t\xe9;T\xe9l\xe9phone mobile;Adresse e-mail\r\n".to_vec();
    file.extend_from_slice(b"L\xe9a;Cardinal;Caf\xe9 du Coin;06 12 34 56 78;lea@example.org\r\n");
    file.extend_from_slice(b";;;;\r\n");
    let report = app
        .send_file("/v1/contacts/import", &lise.token, None, file)
        .await;
    assert_eq!(report.body["created"], 1, "{}", report.text);
    let contacts = all_contacts(&app, &lise).await;
    assert_eq!(contacts[0]["name"], "Léa Cardinal");
    assert_eq!(contacts[0]["organization"], "Café du Coin");
    assert_eq!(contacts[0]["phones"], json!(["+33612345678"]));

    let unknown = app
        .send_file(
            "/v1/contacts/import",
            &lise.token,
            CSV,
            b"foo,bar\n1,2\n".to_vec(),
        )
        .await;
    unknown.assert_problem(422, "validation_failed");
    app.send_file("/v1/contacts/import", &lise.token, CSV, b"  \n".to_vec())
        .await
        .assert_problem(400, "empty_file");
}

#[tokio::test]
async fn an_import_over_20_mib_is_refused() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let big = vec![b'a'; 20 * 1024 * 1024 + 1];
    app.send_file("/v1/contacts/import", &lise.token, VCARD, big)
        .await
        .assert_problem(413, "payload_too_large");
    assert!(all_contacts(&app, &lise).await.is_empty());
}

// Attendees.

async fn event(app: &TestApp, user: &User, capacity: Option<u32>) -> String {
    let answer = app
        .post(
            "/v1/events",
            &user.token,
            json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-03T18:00:00Z", "capacity": capacity }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.body["id"].as_str().unwrap().to_string()
}

/// `user` joins the event with its code, and consents to share their card or not.
pub(crate) async fn join(app: &TestApp, organizer: &User, event: &str, user: &User, consent: bool) {
    let code = app
        .get(&format!("/v1/events/{event}"), &organizer.token)
        .await
        .body["join_code"]
        .clone();
    let joined = app
        .post("/v1/events/join", &user.token, json!({ "code": code }))
        .await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let patched = app
        .patch(
            &format!("/v1/events/{event}/attendance"),
            &user.token,
            json!({ "share_profile": consent }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
}

async fn attendees(app: &TestApp, user: &User, event: &str) -> Vec<Value> {
    let list = app
        .get(&format!("/v1/events/{event}/attendees?limit=200"), &user.token)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn guests_are_imported_from_french_and_english_spreadsheets() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, None).await;
    let path = format!("/v1/events/{e}/attendees/import");
    // French, BOM, semicolons, accents and case in headers, a quoted separator, bad rows.
    let fr = "\u{feff}PRÉNOM;nom;Courriel;Téléphone;Société\r\n\
              Léa;Cardinal;lea@example.org;06 12 34 56 78;\"Coop; du Coin\"\r\n\
              Paul;Martin;pas-un-email;;\r\n\
              ;;;;\r\n\
              ;;;0611223344;Sans nom\r\n\
              Zoé;;;;\r\n";
    let report = app
        .send_file(&path, &lise.token, CSV, fr.as_bytes().to_vec())
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.body["created"], 2, "{}", report.text);
    assert_eq!(report.body["skipped"], 2);
    let lines: Vec<i64> = report.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 5]);

    // English, as a ticketing tool exports it, with commas; Léa again under another name.
    let en = "Order #,First Name,Last Name,Email Address,Mobile Phone,Company,Ticket Type\n\
              1001,Léa,Cardinal-Martin,LEA@example.org,,Coop,General\n\
              1002,Nicolas,Dupont,nicolas@example.org,+33 6 00 00 00 00,,VIP\n";
    let report = app
        .send_file(&path, &lise.token, None, en.as_bytes().to_vec())
        .await;
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(
        (
            &report.body["created"],
            &report.body["updated"],
            &report.body["skipped"]
        ),
        (&json!(1), &json!(1), &json!(0)),
        "{}",
        report.text
    );
    let list = attendees(&app, &lise, &e).await;
    let names: Vec<&str> = list.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec!["Lise", "Léa Cardinal-Martin", "Zoé", "Nicolas Dupont"]
    );
    assert_eq!(list[1]["email"], "lea@example.org");

    // The same files again: nothing new.
    for (file, ct) in [(fr, CSV), (en, None)] {
        let again = app
            .send_file(&path, &lise.token, ct, file.as_bytes().to_vec())
            .await;
        assert_eq!(again.body["created"], 0, "{}", again.text);
    }
    let again = app
        .send_file(&path, &lise.token, None, en.as_bytes().to_vec())
        .await;
    assert_eq!(again.body["updated"], 0);
    assert_eq!(attendees(&app, &lise, &e).await.len(), 4);
}

#[tokio::test]
async fn imported_guests_past_the_capacity_are_waitlisted() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, Some(2)).await;
    let file = "Full name,Email\nA,a@example.org\nB,b@example.org\nC,c@example.org\n";
    let report = app
        .send_file(
            &format!("/v1/events/{e}/attendees/import"),
            &lise.token,
            CSV,
            file.into(),
        )
        .await;
    assert_eq!(report.body["created"], 3, "{}", report.text);
    assert_eq!(report.body["waitlisted"], 1);
    let statuses: Vec<(String, String)> = attendees(&app, &lise, &e)
        .await
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().into(),
                a["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("C".into(), "waitlisted".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("B".into(), "registered".into())),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn only_the_organizer_imports_or_exports_attendees() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let e = event(&app, &lise, None).await;
    join(&app, &lise, &e, &nicolas, true).await;
    let file = b"name,email\nIntrus,intrus@example.org\n".to_vec();
    for user in [&nicolas, &app.register("Claire").await] {
        app.send_file(
            &format!("/v1/events/{e}/attendees/import"),
            &user.token,
            CSV,
            file.clone(),
        )
        .await
        .assert_problem(404, "not_found");
        for format in ["csv", "vcard", "json"] {
            app.get(
                &format!("/v1/events/{e}/attendees/export?format={format}"),
                &user.token,
            )
            .await
            .assert_problem(404, "not_found");
        }
    }
    let anonymous = app
        .client
        .get(format!("{}/v1/events/{e}/attendees/export", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(attendees(&app, &lise, &e).await.len(), 2);
}

/// An event with Lise organizing, Nicolas attending with consent and a filled profile card,
/// Claire attending without consent, and guests whose names would be formulas or need quotes.
async fn event_with_attendees(app: &TestApp) -> (User, User, String) {
    let lise = app.register("Lise").await;
    let nicolas = app.register("Nicolas").await;
    let claire = app.register("Claire").await;
    for (user, phone) in [(&nicolas, "+33612345678"), (&claire, "+33698765432")] {
        let card = app
            .patch(
                "/v1/me",
                &user.token,
                json!({ "card": { "email": format!("card.{}", user.email), "phone": phone, "organization": "Coop", "headline": "-Fondateur", "city": "Lyon" } }),
            )
            .await;
        assert_eq!(card.status, 200, "{}", card.text);
    }
    let e = event(app, &lise, None).await;
    join(app, &lise, &e, &nicolas, true).await;
    join(app, &lise, &e, &claire, false).await;
    for name in [
        "=HYPERLINK(\"http://evil.example\")",
        "Martin, \"Paulo\"",
        "@SUM(A1)",
        "+33 trick",
    ] {
        let g = app
            .post(
                &format!("/v1/events/{e}/attendees"),
                &lise.token,
                json!({ "name": name, "email": "guest@example.org" }),
            )
            .await;
        assert_eq!(g.status, 201, "{}", g.text);
    }
    (lise, nicolas, e)
}

fn csv_records(text: &str, separator: u8) -> Vec<Vec<String>> {
    // An independent reading: the header and each record, split by hand per RFC 4180.
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, c) if c as u32 == separator as u32 => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR without LF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, '\n') => panic!("bare LF ends a record"),
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "the file ends with CRLF");
    records
}

#[tokio::test]
async fn the_csv_export_quotes_neutralises_and_respects_consent() {
    let app = spawn_app().await;
    let (lise, nicolas, e) = event_with_attendees(&app).await;
    let export = app
        .get_bytes(
            &format!("/v1/events/{e}/attendees/export?format=csv"),
            &lise.token,
        )
        .await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "text/csv; charset=utf-8");
    assert!(export.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(!export.bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(export.bytes).unwrap();
    assert!(text.contains("\"Martin, \"\"Paulo\"\"\""), "{text}");
    let records = csv_records(&text, b',');
    assert_eq!(
        records[0],
        vec![
            "name",
            "status",
            "role",
            "guest",
            "consent",
            "email",
            "phone",
            "organization",
            "headline",
            "city",
            "checked_in_at"
        ]
    );
    assert_eq!(records.len(), 1 + 7);
    let row = |name: &str| records.iter().find(|r| r[0] == name).unwrap().clone();
    let nico = row("Nicolas");
    assert_eq!(nico[4], "yes");
    assert_eq!(nico[5], format!("card.{}", nicolas.email));
    assert_eq!(nico[6], "'+33612345678");
    assert_eq!(nico[8], "'-Fondateur");
    let claire = row("Claire");
    assert_eq!(claire[4], "no");
    assert!(claire[5..10].iter().all(String::is_empty), "{claire:?}");
    // Guests have not consented: by name only.
    assert_eq!(row("Martin, \"Paulo\"")[5], "");
    for formula in ["=HYPERLINK(\"http://evil.example\")", "@SUM(A1)", "+33 trick"] {
        assert!(
            records.iter().any(|r| r[0] == format!("'{formula}")),
            "{formula} not neutralised: {records:?}"
        );
        assert!(!records.iter().any(|r| r[0] == formula));
    }

    // Consent withdrawn: the next export shows Nicolas by name only.
    let withdrawn = app
        .patch(
            &format!("/v1/events/{e}/attendance"),
            &nicolas.token,
            json!({ "share_profile": false }),
        )
        .await;
    assert_eq!(withdrawn.status, 200, "{}", withdrawn.text);
    let text = String::from_utf8(
        app.get_bytes(
            &format!("/v1/events/{e}/attendees/export?format=csv"),
            &lise.token,
        )
        .await
        .bytes,
    )
    .unwrap();
    let nico = csv_records(&text, b',')
        .into_iter()
        .find(|r| r[0] == "Nicolas")
        .unwrap();
    assert_eq!(nico[4], "no");
    assert!(nico[5..10].iter().all(String::is_empty), "{nico:?}");
}

#[tokio::test]
async fn the_excel_variant_has_a_bom_semicolons_and_crlf() {
    let app = spawn_app().await;
    let (lise, _, e) = event_with_attendees(&app).await;
    let export = app
        .get_bytes(
            &format!("/v1/events/{e}/attendees/export?format=csv&excel=1"),
            &lise.token,
        )
        .await;
    assert_eq!(export.status, 200);
    assert!(export
        .bytes
        .starts_with(b"\xEF\xBB\xBFname;status;role;guest;consent;email;"));
    let text = std::str::from_utf8(&export.bytes[3..]).unwrap();
    assert_eq!(text.matches("\r\n").count(), text.matches('\n').count());
    let records = csv_records(text, b';');
    assert_eq!(records.len(), 8);
    assert!(records.iter().all(|r| r.len() == 11));
    assert!(records.iter().any(|r| r[0] == "Martin, \"Paulo\""));
}

#[tokio::test]
async fn vcard_and_json_exports_list_everyone_with_consented_details_only() {
    let app = spawn_app().await;
    let (lise, nicolas, e) = event_with_attendees(&app).await;
    let vcf = app
        .get_bytes(
            &format!("/v1/events/{e}/attendees/export?format=vcard"),
            &lise.token,
        )
        .await;
    assert_eq!(vcf.status, 200);
    assert_eq!(vcf.headers["content-type"], "text/vcard; charset=utf-8");
    let text = String::from_utf8(vcf.bytes).unwrap();
    assert_eq!(text.matches("BEGIN:VCARD").count(), 7);
    assert_eq!(text.matches("END:VCARD").count(), 7);
    assert!(text.contains(&format!("card.{}", nicolas.email)));
    assert!(text.contains("+33612345678"));
    assert!(!text.contains("+33698765432"), "Claire did not consent");
    assert!(!text.contains("guest@example.org"));

    let json = app
        .get(
            &format!("/v1/events/{e}/attendees/export?format=json"),
            &lise.token,
        )
        .await;
    assert_eq!(json.status, 200, "{}", json.text);
    let items = json.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    let nico = items.iter().find(|a| a["name"] == "Nicolas").unwrap();
    assert_eq!(nico["share_profile"], true);
    assert_eq!(nico["phone"], "+33612345678");
    let claire = items.iter().find(|a| a["name"] == "Claire").unwrap();
    assert_eq!(claire["share_profile"], false);
    assert_eq!(claire["email"], Value::Null);
    assert_eq!(claire["phone"], Value::Null);

    app.get(
        &format!("/v1/events/{e}/attendees/export?format=pdf"),
        &lise.token,
    )
    .await
    .assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn a_large_export_streams_every_page() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let e = event(&app, &lise, None).await;
    app.sql(&format!(
        "INSERT INTO attendances (id, event_id, guest_name, guest_email, status, role, checkin_code, created_at) \
         SELECT gen_random_uuid(), '{e}', 'Invité ' || n, 'g' || n || '@example.org', 'registered', 'attendee', \
                'G' || lpad(n::text, 9, '0'), now() + n * interval '1 microsecond' \
         FROM generate_series(1, 4321) AS n"
    ));
    let json = app
        .get(
            &format!("/v1/events/{e}/attendees/export?format=json"),
            &lise.token,
        )
        .await;
    let items = json.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4322);
    assert_eq!(items[4321]["name"], "Invité 4321");
    let csv = app
        .get_bytes(
            &format!("/v1/events/{e}/attendees/export?format=csv"),
            &lise.token,
        )
        .await;
    assert_eq!(
        csv_records(std::str::from_utf8(&csv.bytes).unwrap(), b',').len(),
        4323
    );
}
