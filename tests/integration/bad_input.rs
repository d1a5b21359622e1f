//! The standing bad-input corpus: inputs from the field and from fuzzing, each answered with
//! its documented status and problem code, storing nothing, the server answering after it.

use std::io::Write;

use carnet_tests::{spawn_app, TestApp};
use serde_json::{json, Value};

/// One request, written as bytes so that anything can be sent.
struct Case {
    name: &'static str,
    method: &'static str,
    target: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// The request carries the user's bearer token.
    auth: bool,
    status: u16,
    code: &'static str,
}

fn case(
    name: &'static str,
    method: &'static str,
    target: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method,
        target: target.into(),
        headers: Vec::new(),
        body: Vec::new(),
        auth: true,
        status,
        code,
    }
}

impl Case {
    fn json(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.headers.push(("content-type", "application/json".into()));
        self.body = body.into();
        self
    }

    fn typed(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Case {
        self.headers.push(("content-type", content_type.into()));
        self.body = body.into();
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }

    fn anonymous(mut self) -> Case {
        self.auth = false;
        self
    }

    fn bytes(&self, token: &str) -> Vec<u8> {
        let mut out = format!("{} ", self.method).into_bytes();
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\nhost: carnet.test\r\nconnection: close\r\n");
        if self.auth {
            out.extend_from_slice(format!("authorization: Bearer {token}\r\n").as_bytes());
        }
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("content-length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn nested(depth: usize) -> String {
    format!("{{\"name\":{}1{}}}", "[".repeat(depth), "]".repeat(depth))
}

/// Rows in every table a request could write to.
fn stored(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM contacts) + (SELECT count(*) FROM interactions) \
         + (SELECT count(*) FROM reminders) + (SELECT count(*) FROM events) \
         + (SELECT count(*) FROM attendances) + (SELECT count(*) FROM devices) \
         + (SELECT count(*) FROM sync_changes) + (SELECT count(*) FROM sync_conflicts) \
         + (SELECT count(*) FROM profile_cards WHERE headline IS NOT NULL) \
         + (SELECT count(*) FROM calendar_feeds) + (SELECT count(*) FROM push_jobs)",
    )
}

fn mutation(id: u64, fields: Value) -> Value {
    json!({
        "mutation_id": id, "collection": "contacts", "id": uuid::Uuid::now_v7().to_string(),
        "op": "upsert", "hlc": "001796000000000-00001-00000000000000000000000000000000", "fields": fields,
    })
}

#[tokio::test]
async fn every_bad_input_gets_its_problem_and_changes_nothing() {
    let app = spawn_app().await;
    let lise = app.register("Lise").await;
    let phone = super::sync::Phone::new(&app, &lise, "iPhone").await;
    let device = phone.device.clone();
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"not the server's secret, not at all");
        let claims = json!({ "sub": lise.id, "exp": 4_000_000_000u64, "iat": 1_700_000_000u64, "sid": uuid::Uuid::nil() });
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let contact = json!({ "name": "Claire" }).to_string();
    let long_name = "x".repeat(4_000_000);
    let many_fields: serde_json::Map<String, Value> =
        (0..50_000).map(|i| (format!("f{i}"), json!(1))).collect();
    let cases = vec![
        // Text the database cannot hold.
        case("NUL in a query", "GET", "/v1/contacts?q=a%00b", 422, "validation_failed"),
        case("NUL in a login email", "POST", "/v1/auth/login", 422, "validation_failed")
            .anonymous()
            .json(r#"{"email":"a\u0000@x.example","password":"secret secret"}"#),
        case("NUL in a JSON body", "POST", "/v1/contacts", 422, "validation_failed")
            .json(r#"{"name":"Cla\u0000ire"}"#),
        case("NUL in a gzip JSON body", "POST", "/v1/contacts", 422, "validation_failed")
            .json(gzip(br#"{"name":"Cla\u0000ire"}"#))
            .header("content-encoding", "gzip"),
        case("invalid UTF-8 in a query", "GET", "/v1/contacts?q=%FF%FE", 422, "validation_failed"),
        case("invalid UTF-8 in a body", "POST", "/v1/contacts", 400, "malformed_json")
            .json(b"{\"name\":\"\xff\xfe\"}".to_vec()),
        case("raw 0xFF bytes in the path", "GET", b"/v1/contacts/\xff\xfe".to_vec(), 400, "malformed_request"),
        case("NUL in the path", "GET", "/v1/contacts/a%00b", 400, "invalid_path"),
        // Sizes.
        case("a 10 KiB URL", "GET", format!("/v1/contacts?q={}", "a".repeat(10 * 1024)), 414, "uri_too_long"),
        case("a 100 KiB URL", "GET", format!("/v1/contacts?q={}", "a".repeat(100 * 1024)), 400, "malformed_request"),
        case("a 40 KiB header", "GET", "/v1/contacts", 431, "headers_too_large").header("x-big", "b".repeat(40 * 1024)),
        case("a 200 KiB header", "GET", "/v1/contacts", 431, "headers_too_large").header("x-big", "b".repeat(200 * 1024)),
        case("a 2 MiB body", "POST", "/v1/contacts", 413, "payload_too_large")
            .json(format!("{{\"name\":\"{}\"}}", "a".repeat(2 * 1024 * 1024))),
        case("a gzip bomb", "POST", "/v1/contacts", 413, "payload_too_large")
            .json(gzip(format!("{{\"name\":\"{}\"}}", "a".repeat(64 * 1024 * 1024)).as_bytes()))
            .header("content-encoding", "gzip"),
        case("JSON nested 10,000 deep for a text", "POST", "/v1/contacts", 422, "validation_failed").json(nested(10_000)),
        case("JSON nested 10,000 deep in a push", "POST", "/v1/sync/push", 400, "malformed_json").json(format!(
            r#"{{"device_id":"{device}","schema_version":1,"mutations":[{{"mutation_id":1,"collection":"contacts","id":"{}","op":"upsert","hlc":"x","fields":{}}}]}}"#,
            uuid::Uuid::now_v7(),
            nested(10_000)
        )),
        // Shapes.
        case("malformed JSON", "POST", "/v1/contacts", 400, "malformed_json").json("{\"name\":"),
        case("an array for the body", "POST", "/v1/contacts", 422, "validation_failed").json("[\"Claire\"]"),
        case("an array for the card", "PATCH", "/v1/me", 422, "validation_failed")
            .json(r#"{"card":["headline","org"]}"#),
        case("an instant without offset", "POST", "/v1/events", 422, "validation_failed")
            .json(r#"{"kind":"apero","title":"Apéro","starts_at":"2026-12-10T19:00"}"#),
        case("an unknown field", "POST", "/v1/contacts", 422, "validation_failed").json(r#"{"name":"C","nmae":"D"}"#),
        case("text/plain for JSON", "POST", "/v1/contacts", 415, "unsupported_media_type").typed("text/plain", contact.clone()),
        case("an unknown encoding", "POST", "/v1/contacts", 415, "unsupported_media_type")
            .json(contact.clone())
            .header("content-encoding", "br-unknown"),
        case("JSON sent as a vCard", "POST", "/v1/contacts/import", 422, "not_a_vcard").typed("text/vcard", "{}"),
        case("a NUL in a CSV import", "POST", "/v1/contacts/import", 422, "validation_failed")
            .typed("text/csv", "name,email\nClaire\0,claire@x.example\n"),
        case("a NUL in a vCard import", "POST", "/v1/contacts/import", 422, "validation_failed")
            .typed("text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cla\0ire\r\nEND:VCARD\r\n"),
        // Methods, paths, ids.
        case("TRACE", "TRACE", "/healthz", 405, "method_not_allowed"),
        case("a bad id", "GET", "/v1/contacts/not-a-uuid", 404, "not_found"),
        case("an unknown route", "GET", "/v1/nothing-here", 404, "not_found"),
        // Queries.
        case("a bad limit", "GET", "/v1/contacts?limit=lots", 400, "invalid_query"),
        case("a bad cursor", "GET", format!("/v1/sync/pull?device_id={device}&cursor=bm90LWEtY3Vyc29y"), 400, "invalid_cursor"),
        case("a device id that is not one", "GET", "/v1/sync/pull?device_id=pixel", 400, "invalid_query"),
        // Tokens.
        case("a forged token", "GET", "/v1/me", 401, "invalid_token").anonymous()
            .header("authorization", format!("Bearer {forged}")),
        case("a garbage token", "GET", "/v1/me", 401, "invalid_token").anonymous().header("authorization", "Bearer garbage"),
        case("a garbage refresh token", "POST", "/v1/auth/refresh", 401, "invalid_refresh_token")
            .anonymous()
            .json(r#"{"refresh_token":"garbage"}"#),
        // Sync pushes refused whole.
        case("a schema version that does not exist", "POST", "/v1/sync/push", 426, "unsupported_schema_version").json(
            json!({ "device_id": device, "schema_version": 99, "mutations": [] }).to_string(),
        ),
        case("1,001 mutations", "POST", "/v1/sync/push", 422, "batch_too_large").json(
            json!({ "device_id": device, "schema_version": 1,
                    "mutations": (1..=1001).map(|i| mutation(i, json!({ "name": "C" }))).collect::<Vec<_>>() })
            .to_string(),
        ),
    ];
    let mut before = stored(&app);
    let mut wrong = Vec::new();
    for case in &cases {
        let (head, body) = super::errors::raw_exchange(&app, &case.bytes(&lise.token)).await;
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let problem: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let json_problem = head
            .to_ascii_lowercase()
            .contains("content-type: application/problem+json");
        if status != case.status || problem["code"] != case.code || !json_problem {
            wrong.push(format!(
                "{}: {status} {} (want {} {}) {}",
                case.name,
                problem["code"],
                case.status,
                case.code,
                &body[..body.len().min(300)]
            ));
        }
        let now = stored(&app);
        if now != before {
            wrong.push(format!("{}: stored something", case.name));
            before = now;
        }
        assert_eq!(app.get("/healthz", "").await.status, 200, "after {}", case.name);
    }

    // Pushed mutations refused one by one: the batch is answered, nothing is stored, and the
    // device's queue moves past them.
    let stamped =
        |fields: Value| phone.mutation("contacts", &uuid::Uuid::now_v7().to_string(), "upsert", fields);
    let nul = stamped(json!({ "notes": { "base": "", "value": "a\u{0}b" } }));
    let long = stamped(json!({ "name": long_name }));
    let many = stamped(Value::Object(many_fields));
    let mut malformed_stamp = stamped(json!({ "name": "C" }));
    malformed_stamp["hlc"] = json!("yesterday");
    let mut huge_id = stamped(json!({ "name": "C" }));
    huge_id["mutation_id"] = json!(9_223_372_036_854_775_808u64);
    let refused = [
        ("a NUL in a text field", nul, "nul_character"),
        ("a 4,000,000-character value", long, "too_long"),
        ("50,000 fields the server does not know", many, "too_many_fields"),
        ("a malformed stamp", malformed_stamp, "malformed_stamp"),
        ("a mutation id past 2^53", huge_id, "invalid_mutation_id"),
    ];
    for (name, mutation, code) in refused {
        let answer = phone.push(&app, vec![mutation]).await;
        let result = &answer["results"][0];
        let error = &result["error"];
        if result["status"] != "rejected" || (error["code"] != code && error["errors"][0]["code"] != code) {
            wrong.push(format!(
                "push {name}: {}",
                &answer.to_string()[..answer.to_string().len().min(400)]
            ));
        }
        let now = stored(&app);
        if now != before {
            wrong.push(format!("push {name}: stored something"));
            before = now;
        }
    }
    // The queue moves on past them: the next edit applies.
    let next = phone.mutation(
        "contacts",
        &uuid::Uuid::now_v7().to_string(),
        "upsert",
        json!({ "name": "Claire" }),
    );
    let answer = phone.push(&app, vec![next]).await;
    assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
