//! The private iCalendar feed, read back with an independent parser (the `ical` crate).

use std::io::BufReader;

use carnet_tests::{spawn_app_with, TestApp, User};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Text};
use ical::parser::ical::component::{IcalCalendar, IcalEvent, IcalTimeZone, IcalTimeZoneTransitionType};
use ical::property::Property;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PUBLIC_URL: &str = "https://carnet.example.org";

async fn app() -> TestApp {
    spawn_app_with(&[("CARNET_PUBLIC_URL", PUBLIC_URL)]).await
}

/// Creates (or rotates) the user's feed and answers the feed's path on the test server.
async fn create_feed(app: &TestApp, user: &User) -> String {
    let created = app.post("/v1/calendar/feed", &user.token, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let url = created.body["url"].as_str().unwrap();
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
        .to_string()
}

/// A feed answer with its raw bytes (the body must be UTF-8 as sent, not repaired).
struct Fetched {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Fetched {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.bytes).expect("the feed is not valid UTF-8")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

async fn fetch(app: &TestApp, path: &str, if_none_match: Option<&str>) -> Fetched {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let res = req.send().await.unwrap();
    Fetched {
        status: res.status(),
        headers: res.headers().clone(),
        bytes: res.bytes().await.unwrap().to_vec(),
    }
}

/// Fetches the feed, checks it is a well-formed 200, and parses it.
async fn calendar(app: &TestApp, path: &str) -> (Fetched, IcalCalendar) {
    let fetched = fetch(app, path, None).await;
    assert_eq!(fetched.status, 200, "{}", String::from_utf8_lossy(&fetched.bytes));
    assert_eq!(fetched.header("content-type"), "text/calendar; charset=utf-8");
    let parsed = parse(fetched.text());
    (fetched, parsed)
}

fn parse(text: &str) -> IcalCalendar {
    let mut parser = ical::IcalParser::new(BufReader::new(text.as_bytes()));
    let calendar = parser
        .next()
        .expect("no VCALENDAR")
        .unwrap_or_else(|e| panic!("unparsable feed: {e}\n{text}"));
    assert!(parser.next().is_none(), "more than one VCALENDAR");
    calendar
}

fn prop<'a>(props: &'a [Property], name: &str) -> Option<&'a Property> {
    props.iter().find(|p| p.name == name)
}

fn value<'a>(props: &'a [Property], name: &str) -> &'a str {
    prop(props, name)
        .and_then(|p| p.value.as_deref())
        .unwrap_or_else(|| panic!("no {name} in {props:?}"))
}

fn param<'a>(p: &'a Property, name: &str) -> Option<&'a str> {
    p.params
        .as_ref()?
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// Undoes RFC 5545 TEXT escaping (the parser keeps values as written).
fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every `,` `;` and `\\` of a TEXT value is escaped, and it holds no raw line break.
fn assert_escaped(raw: &str) {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => assert!(
                matches!(chars.next(), Some('\\' | ',' | ';' | 'n' | 'N')),
                "a lone backslash in {raw:?}"
            ),
            ',' | ';' | '\n' | '\r' => panic!("{c:?} is not escaped in {raw:?}"),
            _ => {}
        }
    }
}

fn text_of(props: &[Property], name: &str) -> String {
    unescape(value(props, name))
}

fn event_by_summary<'a>(cal: &'a IcalCalendar, summary: &str) -> &'a IcalEvent {
    cal.events
        .iter()
        .find(|e| text_of(&e.properties, "SUMMARY") == summary)
        .unwrap_or_else(|| panic!("no event {summary:?}"))
}

fn summaries(cal: &IcalCalendar) -> Vec<String> {
    let mut all: Vec<String> = cal
        .events
        .iter()
        .map(|e| text_of(&e.properties, "SUMMARY"))
        .collect();
    all.sort();
    all
}

fn local(raw: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(raw, "%Y%m%dT%H%M%S")
        .unwrap_or_else(|_| panic!("{raw:?} is not a local time"))
}

/// `+HHMM` or `-HHMM` in seconds.
fn offset_seconds(raw: &str) -> i64 {
    let sign = if raw.starts_with('-') { -1 } else { 1 };
    let digits = &raw[1..];
    let h: i64 = digits[0..2].parse().unwrap();
    let m: i64 = digits[2..4].parse().unwrap();
    sign * (h * 3600 + m * 60)
}

fn vtimezone<'a>(cal: &'a IcalCalendar, tzid: &str) -> &'a IcalTimeZone {
    let zones: Vec<&IcalTimeZone> = cal
        .timezones
        .iter()
        .filter(|z| value(&z.properties, "TZID") == tzid)
        .collect();
    assert_eq!(zones.len(), 1, "one VTIMEZONE for {tzid}");
    zones[0]
}

/// The offset a VTIMEZONE gives a wall-clock time: that of the latest observance whose onset
/// is not after it.
fn offset_at(zone: &IcalTimeZone, at: NaiveDateTime) -> i64 {
    let (_, offset) = zone
        .transitions
        .iter()
        .map(|t| {
            (
                local(value(&t.properties, "DTSTART")),
                offset_seconds(value(&t.properties, "TZOFFSETTO")),
            )
        })
        .filter(|(onset, _)| *onset <= at)
        .max_by_key(|(onset, _)| *onset)
        .unwrap_or_else(|| panic!("no observance of {zone:?} covers {at}"));
    offset
}

/// The instant a TZID'd DTSTART/DTEND denotes, using only the feed's own VTIMEZONE.
fn instant(cal: &IcalCalendar, event: &IcalEvent, name: &str) -> DateTime<Utc> {
    let p = prop(&event.properties, name).unwrap_or_else(|| panic!("no {name}"));
    let tzid = param(p, "TZID").unwrap_or_else(|| panic!("{name} has no TZID: {p:?}"));
    let wall = local(p.value.as_deref().unwrap());
    let offset = offset_at(vtimezone(cal, tzid), wall);
    (wall - chrono::Duration::seconds(offset)).and_utc()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn event(app: &TestApp, user: &User, body: Value) -> Value {
    let answer = app.post("/v1/events", &user.token, body).await;
    assert_eq!(answer.status, 201, "create event failed: {}", answer.text);
    answer.body
}

async fn reminder(app: &TestApp, user: &User, body: Value) -> Value {
    let answer = app.post("/v1/reminders", &user.token, body).await;
    assert_eq!(answer.status, 201, "create reminder failed: {}", answer.text);
    answer.body
}

/// Puts `user` on `event` with `status`, straight in the database: joining an event by code
/// is not an endpoint yet, and the feed only reads attendances.
fn attend(app: &TestApp, event: &Value, user: &User, status: &str) {
    let mut conn = app.db.connect();
    diesel::sql_query(
        "INSERT INTO attendances (id, event_id, user_id, status, role, checkin_code) \
         VALUES ($1::uuid, $2::uuid, $3::uuid, $4, 'attendee', $5)",
    )
    .bind::<Text, _>(Uuid::now_v7().to_string())
    .bind::<Text, _>(event["id"].as_str().unwrap())
    .bind::<Text, _>(&user.id)
    .bind::<Text, _>(status)
    .bind::<Text, _>(Uuid::new_v4().simple().to_string()[..10].to_uppercase())
    .execute(&mut conn)
    .unwrap();
}

#[tokio::test]
async fn a_feed_is_created_shown_once_rotated_and_revoked() {
    let app = app().await;
    let lise = app.register("Lise").await;

    let none = app.get("/v1/calendar/feed", &lise.token).await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(none.body["active"], false);
    let anonymous = app
        .request(reqwest::Method::POST, "/v1/calendar/feed", None, None)
        .await;
    assert_eq!(anonymous.status, 401);

    let created = app.post("/v1/calendar/feed", &lise.token, json!({})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.headers["cache-control"], "no-store");
    let url = created.body["url"].as_str().unwrap().to_string();
    let token = url
        .strip_prefix(&format!("{PUBLIC_URL}/calendar/"))
        .and_then(|rest| rest.strip_suffix(".ics"))
        .unwrap_or_else(|| panic!("unexpected feed URL {url}"))
        .to_string();
    assert!(token.len() >= 43, "a token of 256 bits: {token}");
    assert_eq!(
        created.body["webcal_url"],
        format!("webcal://carnet.example.org/calendar/{token}.ics")
    );
    let path = format!("/calendar/{token}.ics");

    // The status says a feed exists, never its URL.
    let status = app.get("/v1/calendar/feed", &lise.token).await;
    assert_eq!(status.body["active"], true);
    assert!(!status.text.contains(&token));

    // Only the token's digest is stored.
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = Bytea)]
        token_hash: Vec<u8>,
    }
    let stored: Vec<Stored> = diesel::sql_query("SELECT token_hash FROM calendar_feeds")
        .load(&mut app.db.connect())
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].token_hash, Sha256::digest(token.as_bytes()).to_vec());

    let (fetched, cal) = calendar(&app, &path).await;
    assert_eq!(value(&cal.properties, "VERSION"), "2.0");
    assert!(value(&cal.properties, "PRODID").contains("Carnet"));
    assert_eq!(value(&cal.properties, "CALSCALE"), "GREGORIAN");
    assert_eq!(text_of(&cal.properties, "X-WR-CALNAME"), "Carnet: Lise");
    assert!(!fetched.header("etag").is_empty());

    // Rotation: a new URL, and the old one is gone.
    let rotated = create_feed(&app, &lise).await;
    assert_ne!(rotated, path);
    let old = fetch(&app, &path, None).await;
    assert_eq!(old.status, 404);
    calendar(&app, &rotated).await;

    // Revocation: the URL answers exactly what an unknown one does.
    let revoked = app.delete("/v1/calendar/feed", &lise.token).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let gone = fetch(&app, &rotated, None).await;
    let unknown = fetch(&app, &format!("/calendar/{}.ics", "A".repeat(43)), None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(gone.header("content-type"), "application/problem+json");
    let code = |f: &Fetched| serde_json::from_slice::<Value>(&f.bytes).unwrap()["code"].clone();
    assert_eq!(code(&gone), code(&unknown));
    assert_eq!(code(&gone), "not_found");
    app.delete("/v1/calendar/feed", &lise.token)
        .await
        .assert_problem(404, "not_found");
    let status = app.get("/v1/calendar/feed", &lise.token).await;
    assert_eq!(status.body["active"], false);
    assert!(status.body["revoked_at"].is_string());

    // A new feed after revocation works, at yet another URL.
    let again = create_feed(&app, &lise).await;
    assert_ne!(again, rotated);
    calendar(&app, &again).await;
    assert_eq!(fetch(&app, &rotated, None).await.status, 404);
}

#[tokio::test]
async fn events_carry_tzid_and_a_vtimezone_right_on_both_sides_of_dst() {
    let app = app().await;
    let lise = app
        .register_with("Lise", json!({ "timezone": "America/Montreal" }))
        .await;
    let cases = [
        // (title, zone, starts_at, ends_at, local start, offset in force)
        (
            "Apéro d'été",
            "America/Montreal",
            "2026-07-01T22:00:00Z",
            Some("2026-07-02T00:00:00Z"),
            "20260701T180000",
            -4,
        ),
        (
            "Apéro d'hiver",
            "America/Montreal",
            "2026-12-03T23:00:00Z",
            None,
            "20261203T180000",
            -5,
        ),
        (
            "Veille du changement",
            "America/Montreal",
            "2026-03-07T23:00:00Z",
            None,
            "20260307T180000",
            -5,
        ),
        (
            "Lendemain du changement",
            "America/Montreal",
            "2026-03-08T22:00:00Z",
            None,
            "20260308T180000",
            -4,
        ),
        (
            "Jelly avant",
            "Europe/Paris",
            "2026-03-28T08:30:00Z",
            Some("2026-03-28T16:00:00Z"),
            "20260328T093000",
            1,
        ),
        (
            "Jelly après",
            "Europe/Paris",
            "2026-03-30T07:30:00Z",
            Some("2026-03-30T15:00:00Z"),
            "20260330T093000",
            2,
        ),
        (
            "Conférence",
            "Asia/Tokyo",
            "2026-07-10T01:00:00Z",
            Some("2026-07-10T09:00:00Z"),
            "20260710T100000",
            9,
        ),
    ];
    for (title, zone, starts_at, ends_at, _, _) in &cases {
        event(
            &app,
            &lise,
            json!({ "kind": "meetup", "title": title, "timezone": zone, "starts_at": starts_at, "ends_at": ends_at }),
        )
        .await;
    }
    let path = create_feed(&app, &lise).await;
    let (_, cal) = calendar(&app, &path).await;
    assert_eq!(cal.events.len(), cases.len());
    assert_eq!(value(&cal.properties, "X-WR-TIMEZONE"), "America/Montreal");

    for (title, zone, starts_at, ends_at, wall, hours) in &cases {
        let e = event_by_summary(&cal, title);
        let dtstart = prop(&e.properties, "DTSTART").unwrap();
        assert_eq!(param(dtstart, "TZID"), Some(*zone), "{title}");
        assert_eq!(dtstart.value.as_deref(), Some(*wall), "{title}");
        let zone_component = vtimezone(&cal, zone);
        assert_eq!(offset_at(zone_component, local(wall)), hours * 3600, "{title}");
        assert_eq!(instant(&cal, e, "DTSTART"), at(starts_at), "{title}");
        match ends_at {
            Some(end) => assert_eq!(instant(&cal, e, "DTEND"), at(end), "{title}"),
            None => assert!(prop(&e.properties, "DTEND").is_none()),
        }
    }

    // The DST changes themselves, as observances.
    let observances = |zone: &str| -> Vec<(IcalTimeZoneTransitionType, String, String, String)> {
        vtimezone(&cal, zone)
            .transitions
            .iter()
            .map(|t| {
                (
                    t.transition.clone(),
                    value(&t.properties, "DTSTART").to_string(),
                    value(&t.properties, "TZOFFSETFROM").to_string(),
                    value(&t.properties, "TZOFFSETTO").to_string(),
                )
            })
            .collect()
    };
    let is = |t: &IcalTimeZoneTransitionType, daylight: bool| {
        matches!(
            (t, daylight),
            (IcalTimeZoneTransitionType::DAYLIGHT, true) | (IcalTimeZoneTransitionType::STANDARD, false)
        )
    };
    let montreal = observances("America/Montreal");
    assert!(
        montreal
            .iter()
            .any(|(t, s, f, to)| is(t, true) && s == "20260308T020000" && f == "-0500" && to == "-0400"),
        "{montreal:?}"
    );
    assert!(
        montreal
            .iter()
            .any(|(t, s, f, to)| is(t, false) && s == "20261101T020000" && f == "-0400" && to == "-0500"),
        "{montreal:?}"
    );
    let paris = observances("Europe/Paris");
    assert!(
        paris
            .iter()
            .any(|(t, s, f, to)| is(t, true) && s == "20260329T020000" && f == "+0100" && to == "+0200"),
        "{paris:?}"
    );
    assert!(
        paris
            .iter()
            .any(|(t, s, f, to)| is(t, false) && s == "20261025T030000" && f == "+0200" && to == "+0100"),
        "{paris:?}"
    );
    // A zone without DST: one STANDARD observance.
    let tokyo = observances("Asia/Tokyo");
    assert_eq!(tokyo.len(), 1, "{tokyo:?}");
    assert!(is(&tokyo[0].0, false));
    assert_eq!((tokyo[0].2.as_str(), tokyo[0].3.as_str()), ("+0900", "+0900"));
    // Only the zones used.
    assert_eq!(cal.timezones.len(), 3);
}

#[tokio::test]
async fn open_reminders_come_with_an_alarm_and_done_or_cancelled_ones_do_not() {
    let app = app().await;
    let lise = app.register("Lise").await;
    let open = reminder(
        &app,
        &lise,
        json!({ "title": "Rappeler Nicolas", "notes": "Lui parler du Jelly, et du colunching", "due_local": "2026-11-24T09:00:00", "timezone": "Europe/Paris" }),
    )
    .await;
    let summer = reminder(
        &app,
        &lise,
        json!({ "title": "Écrire à Lise", "due_local": "2027-07-01T09:00", "timezone": "America/Montreal" }),
    )
    .await;
    let done = reminder(
        &app,
        &lise,
        json!({ "title": "Déjà fait", "due_local": "2026-11-25T09:00", "timezone": "Europe/Paris" }),
    )
    .await;
    let cancelled = reminder(
        &app,
        &lise,
        json!({ "title": "Annulé", "due_local": "2026-11-26T09:00", "timezone": "Europe/Paris" }),
    )
    .await;
    let deleted = reminder(
        &app,
        &lise,
        json!({ "title": "Supprimé", "due_local": "2026-11-27T09:00", "timezone": "Europe/Paris" }),
    )
    .await;
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post(
            &format!("/v1/reminders/{}/complete", id(&done)),
            &lise.token,
            json!({})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.patch(
            &format!("/v1/reminders/{}", id(&cancelled)),
            &lise.token,
            json!({ "status": "cancelled" })
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.delete(&format!("/v1/reminders/{}", id(&deleted)), &lise.token)
            .await
            .status,
        204
    );

    let path = create_feed(&app, &lise).await;
    let (_, cal) = calendar(&app, &path).await;
    assert_eq!(summaries(&cal), ["Rappeler Nicolas", "Écrire à Lise"]);

    let e = event_by_summary(&cal, "Rappeler Nicolas");
    assert_eq!(value(&e.properties, "UID"), format!("{}@carnet", id(&open)));
    let dtstart = prop(&e.properties, "DTSTART").unwrap();
    assert_eq!(param(dtstart, "TZID"), Some("Europe/Paris"));
    assert_eq!(dtstart.value.as_deref(), Some("20261124T090000"));
    assert_eq!(instant(&cal, e, "DTSTART"), at(open["due_at"].as_str().unwrap()));
    assert_eq!(
        text_of(&e.properties, "DESCRIPTION"),
        "Lui parler du Jelly, et du colunching"
    );
    assert_eq!(e.alarms.len(), 1);
    assert_eq!(value(&e.alarms[0].properties, "ACTION"), "DISPLAY");
    let trigger = value(&e.alarms[0].properties, "TRIGGER");
    assert!(matches!(trigger, "PT0S" | "-PT0S" | "PT0M"), "{trigger}");
    assert_eq!(
        text_of(&e.alarms[0].properties, "DESCRIPTION"),
        "Rappeler Nicolas"
    );

    let e = event_by_summary(&cal, "Écrire à Lise");
    assert_eq!(
        instant(&cal, e, "DTSTART"),
        at(summer["due_at"].as_str().unwrap())
    );
    assert_eq!(
        offset_at(vtimezone(&cal, "America/Montreal"), local("20270701T090000")),
        -4 * 3600
    );
}

#[tokio::test]
async fn the_feed_holds_my_events_and_never_another_users_data() {
    let app = app().await;
    let lise = app.register("Lise").await;
    let marc = app.register("Marc").await;
    let mine = event(
        &app,
        &lise,
        json!({ "kind": "apero", "title": "Apéro de Lise", "starts_at": "2026-12-01T18:00:00Z" }),
    )
    .await;
    let gone = event(
        &app,
        &lise,
        json!({ "kind": "apero", "title": "Apéro supprimé", "starts_at": "2026-12-02T18:00:00Z" }),
    )
    .await;
    let attended = event(
        &app,
        &marc,
        json!({ "kind": "jelly", "title": "Jelly de Marc", "starts_at": "2026-12-03T08:00:00Z" }),
    )
    .await;
    let dropped = event(
        &app,
        &marc,
        json!({ "kind": "colunching", "title": "Colunching annulé", "starts_at": "2026-12-04T11:00:00Z" }),
    )
    .await;
    let waiting = event(
        &app,
        &marc,
        json!({ "kind": "conference", "title": "Conférence complète", "starts_at": "2026-12-05T08:00:00Z" }),
    )
    .await;
    event(
        &app,
        &marc,
        json!({ "kind": "round_table", "title": "Table ronde de Marc", "starts_at": "2026-12-06T17:00:00Z" }),
    )
    .await;
    attend(&app, &attended, &lise, "registered");
    attend(&app, &dropped, &lise, "cancelled");
    attend(&app, &waiting, &lise, "waitlisted");
    let deleted = app
        .delete(
            &format!("/v1/events/{}", gone["id"].as_str().unwrap()),
            &lise.token,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    reminder(
        &app,
        &lise,
        json!({ "title": "Secret de Lise", "due_local": "2026-12-01T09:00", "timezone": "Europe/Paris" }),
    )
    .await;
    reminder(
        &app,
        &marc,
        json!({ "title": "Relancer Paul", "due_local": "2026-12-01T09:00", "timezone": "Europe/Paris" }),
    )
    .await;

    let lise_feed = create_feed(&app, &lise).await;
    let marc_feed = create_feed(&app, &marc).await;
    let (_, cal) = calendar(&app, &lise_feed).await;
    assert_eq!(
        summaries(&cal),
        [
            "Apéro de Lise",
            "Conférence complète",
            "Jelly de Marc",
            "Secret de Lise"
        ]
    );
    assert_eq!(
        value(&event_by_summary(&cal, "Apéro de Lise").properties, "UID"),
        format!("{}@carnet", mine["id"].as_str().unwrap())
    );
    assert_eq!(
        value(&event_by_summary(&cal, "Jelly de Marc").properties, "STATUS"),
        "CONFIRMED"
    );
    assert_eq!(
        value(
            &event_by_summary(&cal, "Conférence complète").properties,
            "STATUS"
        ),
        "TENTATIVE"
    );

    let (fetched, cal) = calendar(&app, &marc_feed).await;
    assert_eq!(
        summaries(&cal),
        [
            "Colunching annulé",
            "Conférence complète",
            "Jelly de Marc",
            "Relancer Paul",
            "Table ronde de Marc"
        ]
    );
    let text = fetched.text();
    assert!(
        !text.contains("Lise") && !text.contains(mine["id"].as_str().unwrap()),
        "{text}"
    );
}

#[tokio::test]
async fn uids_are_stable_and_an_unchanged_feed_answers_304() {
    let app = app().await;
    let lise = app.register("Lise").await;
    event(
        &app,
        &lise,
        json!({ "kind": "apero", "title": "Apéro", "starts_at": "2026-12-01T18:00:00Z" }),
    )
    .await;
    let r = reminder(
        &app,
        &lise,
        json!({ "title": "Rappeler Nicolas", "due_local": "2026-12-01T09:00", "timezone": "Europe/Paris" }),
    )
    .await;
    let path = create_feed(&app, &lise).await;

    let (first, cal1) = calendar(&app, &path).await;
    let (second, cal2) = calendar(&app, &path).await;
    let uids = |cal: &IcalCalendar| -> Vec<String> {
        let mut u: Vec<String> = cal
            .events
            .iter()
            .map(|e| value(&e.properties, "UID").to_string())
            .collect();
        u.sort();
        u
    };
    assert_eq!(uids(&cal1).len(), 2);
    assert_eq!(uids(&cal1), uids(&cal2));
    assert_eq!(first.bytes, second.bytes);
    let etag = first.header("etag").to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(second.header("etag"), etag);
    assert!(!first.header("last-modified").is_empty());
    assert!(first.header("cache-control").contains("private"));

    let not_modified = fetch(&app, &path, Some(&etag)).await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.bytes.is_empty());
    assert_eq!(not_modified.header("etag"), etag);
    let weak = fetch(&app, &path, Some(&format!("W/{etag}, \"other\""))).await;
    assert_eq!(weak.status, 304);
    assert_eq!(fetch(&app, &path, Some("\"other\"")).await.status, 200);

    // A change gives a new tag; the record keeps its UID.
    let id = r["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/reminders/{id}"),
            &lise.token,
            json!({ "title": "Rappeler Nicolas B." }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let changed = fetch(&app, &path, Some(&etag)).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), etag);
    let cal3 = parse(changed.text());
    assert_eq!(uids(&cal3), uids(&cal1));
    assert!(summaries(&cal3).contains(&"Rappeler Nicolas B.".to_string()));
}

#[tokio::test]
async fn long_utf8_text_is_escaped_and_folded_without_splitting_characters() {
    let app = app().await;
    let lise = app.register("Lise").await;
    let title =
        "Apéro; réseau, \\ «Jelly» 😀 日本語のタイトル et encore quelques mots pour dépasser la ligne";
    let description = format!(
        "Première ligne, avec virgule; point-virgule et \\ barre.\nDeuxième ligne: émojis 🎉🥂 et kanji 東京.\n{}",
        "Réunion à l'Hôtel-de-Ville — café ☕ offert. ".repeat(12).trim_end()
    );
    event(
        &app,
        &lise,
        json!({
            "kind": "apero",
            "title": title,
            "description": description,
            "venue": "Café «Le Zinc», salle 2",
            "address": "12, rue de la Paix; 2e étage",
            "city": "Montréal",
            "starts_at": "2026-12-01T23:00:00Z",
            "timezone": "America/Montreal"
        }),
    )
    .await;
    let path = create_feed(&app, &lise).await;
    let (fetched, cal) = calendar(&app, &path).await;

    // Every physical line is CRLF-terminated, at most 75 octets, and valid UTF-8 alone.
    let bytes = &fetched.bytes;
    assert!(bytes.ends_with(b"\r\n"));
    let lf = bytes.iter().filter(|b| **b == b'\n').count();
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
    assert_eq!(lf, crlf, "a bare LF");
    let mut folded = 0;
    for line in bytes[..bytes.len() - 2].split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(
            line.len() <= 75,
            "{} octets: {:?}",
            line.len(),
            String::from_utf8_lossy(line)
        );
        assert!(
            std::str::from_utf8(line).is_ok(),
            "a character split across a fold"
        );
        if line.starts_with(b" ") {
            folded += 1;
        }
    }
    assert!(
        folded >= 10,
        "long values are folded ({folded} continuation lines)"
    );
    let text = fetched.text();
    assert!(text.contains("\\;") && text.contains("\\,") && text.contains("\\\\") && text.contains("\\n"));

    let e = event_by_summary(&cal, title);
    for name in ["SUMMARY", "DESCRIPTION", "LOCATION"] {
        assert_escaped(value(&e.properties, name));
    }
    assert_eq!(text_of(&e.properties, "DESCRIPTION"), description);
    assert_eq!(
        text_of(&e.properties, "LOCATION"),
        "Café «Le Zinc», salle 2, 12, rue de la Paix; 2e étage, Montréal"
    );
}

#[tokio::test]
async fn the_feed_lives_outside_v1_and_answers_head() {
    let app = app().await;
    let lise = app.register("Lise").await;
    let path = create_feed(&app, &lise).await;
    assert!(path.starts_with("/calendar/") && path.ends_with(".ics"));
    assert_eq!(fetch(&app, &format!("/v1{path}"), None).await.status, 404);
    // A malformed name is just not found.
    assert_eq!(fetch(&app, "/calendar/feed", None).await.status, 404);
    assert_eq!(
        fetch(&app, &path.replace(".ics", ".ical"), None).await.status,
        404
    );
    // HEAD answers like GET, without a body.
    let head = app
        .client
        .head(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().get("etag").is_some());
}

#[tokio::test]
async fn the_feed_routes_are_documented() {
    let app = app().await;
    let doc = app
        .request(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    let paths = doc.body["paths"].as_object().unwrap();
    for method in ["post", "get", "delete"] {
        assert!(
            paths["/v1/calendar/feed"].get(method).is_some(),
            "{method} /v1/calendar/feed is not documented"
        );
    }
    let feed = &paths["/calendar/{token}.ics"]["get"];
    assert!(feed.is_object(), "{:?}", paths.keys().collect::<Vec<_>>());
    let params: Vec<&str> = feed["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["token"]);
    assert!(
        feed["responses"]["200"]["content"]["text/calendar"].is_object(),
        "{feed}"
    );
    assert!(!paths.contains_key("/v1/calendar/{token}.ics"));
    assert!(doc.body["components"]["schemas"]["CalendarFeedCreated"].is_object());
}
