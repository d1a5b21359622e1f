//! The iCalendar feed (RFC 5545) of a user's events and open reminders: pure rendering,
//! rows in and text out (no I/O, no clock), so the same data always gives the same bytes
//! and the feed's entity tag only changes when its content does.
//!
//! - Events carry DTSTART/DTEND as wall-clock times with `TZID` in the event's zone, and the
//!   feed a VTIMEZONE for each zone used (see [`timezone`]).
//! - Open reminders are VEVENTs (not VTODOs, which most calendar apps ignore) at their due
//!   local time in their zone, lasting [`REMINDER_MINUTES`], transparent to free/busy, with a
//!   DISPLAY alarm at the start.
//! - UIDs are `<id>@carnet`, stable across fetches; DTSTAMP and LAST-MODIFIED are the
//!   record's last change (for a feed without METHOD, DTSTAMP is when the information was
//!   last revised), CREATED its creation.

pub mod timezone;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use writer::Writer;

pub const PRODID: &str = "-//Carnet//Carnet calendar feed 1.0//EN";

/// How long a reminder's block lasts in a calendar.
pub const REMINDER_MINUTES: i64 = 15;

/// How often calendar apps are asked to refresh the feed.
pub const REFRESH_INTERVAL: &str = "PT1H";

/// The feed of one user.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The calendar's name in calendar apps.
    pub name: String,
    /// The user's own zone (`X-WR-TIMEZONE`), when valid.
    pub timezone: Option<String>,
    pub events: Vec<Event>,
    pub reminders: Vec<Reminder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Organised, registered or checked in.
    Confirmed,
    /// On the waitlist.
    Tentative,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// IANA zone the event happens in.
    pub timezone: String,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Reminder {
    pub id: Uuid,
    pub title: String,
    pub notes: String,
    pub due_local: NaiveDateTime,
    pub timezone: String,
    /// The instant `due_local` denotes; used as is when the zone is unknown.
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where an event takes place: venue, address and city, the empty ones left out.
pub fn location(event: &Event) -> Option<String> {
    let parts: Vec<&str> = [&event.venue, &event.address, &event.city]
        .into_iter()
        .filter_map(|p| p.as_deref().map(str::trim).filter(|p| !p.is_empty()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn zone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// The stable UID of a record.
pub fn uid(id: Uuid) -> String {
    format!("{id}@carnet")
}

/// Renders the feed as an iCalendar object (CRLF line ends, folded lines).
pub fn render(feed: &Feed) -> String {
    // The zones used, with the years their VTIMEZONE must describe.
    let mut zones: BTreeMap<&'static str, (Tz, BTreeSet<i32>)> = BTreeMap::new();
    let mut note = |name: &str, instants: &[DateTime<Utc>]| {
        if let Some(tz) = zone(name) {
            let years = &mut zones.entry(tz.name()).or_insert_with(|| (tz, BTreeSet::new())).1;
            for at in instants {
                timezone::years_around(*at, years);
            }
        }
    };
    for event in &feed.events {
        let mut instants = vec![event.starts_at];
        instants.extend(event.ends_at);
        note(&event.timezone, &instants);
    }
    for reminder in &feed.reminders {
        note(
            &reminder.timezone,
            &[
                reminder.due_at,
                reminder.due_at + Duration::minutes(REMINDER_MINUTES),
            ],
        );
    }

    let mut w = Writer::new();
    w.begin("VCALENDAR");
    w.raw("VERSION", &[], "2.0");
    w.raw("PRODID", &[], PRODID);
    w.raw("CALSCALE", &[], "GREGORIAN");
    w.text("X-WR-CALNAME", &feed.name);
    w.text("NAME", &feed.name);
    if let Some(tz) = feed.timezone.as_deref().and_then(zone) {
        w.raw("X-WR-TIMEZONE", &[], tz.name());
    }
    w.raw("REFRESH-INTERVAL", &[("VALUE", "DURATION")], REFRESH_INTERVAL);
    w.raw("X-PUBLISHED-TTL", &[], REFRESH_INTERVAL);
    for (tz, years) in zones.values() {
        timezone::write_vtimezone(&mut w, *tz, years);
    }
    for event in &feed.events {
        write_event(&mut w, event);
    }
    for reminder in &feed.reminders {
        write_reminder(&mut w, reminder);
    }
    w.end("VCALENDAR");
    w.finish()
}

/// DTSTART/DTEND as wall-clock time in `zone`, or in UTC when the zone is unknown.
fn instant(w: &mut Writer, name: &str, zone_name: &str, at: DateTime<Utc>) {
    match zone(zone_name) {
        Some(tz) => w.local(name, tz.name(), at.with_timezone(&tz).naive_local()),
        None => w.utc(name, at),
    }
}

fn write_stamps(w: &mut Writer, id: Uuid, created_at: DateTime<Utc>, updated_at: DateTime<Utc>) {
    w.raw("UID", &[], &uid(id));
    w.utc("DTSTAMP", updated_at);
    w.utc("CREATED", created_at);
    w.utc("LAST-MODIFIED", updated_at);
}

fn write_event(w: &mut Writer, event: &Event) {
    w.begin("VEVENT");
    write_stamps(w, event.id, event.created_at, event.updated_at);
    instant(w, "DTSTART", &event.timezone, event.starts_at);
    if let Some(ends_at) = event.ends_at {
        instant(w, "DTEND", &event.timezone, ends_at);
    }
    w.text("SUMMARY", &event.title);
    if let Some(location) = location(event) {
        w.text("LOCATION", &location);
    }
    if let Some(description) = event.description.as_deref().filter(|d| !d.trim().is_empty()) {
        w.text("DESCRIPTION", description);
    }
    let status = match event.status {
        EventStatus::Confirmed => "CONFIRMED",
        EventStatus::Tentative => "TENTATIVE",
    };
    w.raw("STATUS", &[], status);
    w.raw("TRANSP", &[], "OPAQUE");
    w.end("VEVENT");
}

fn write_reminder(w: &mut Writer, reminder: &Reminder) {
    w.begin("VEVENT");
    write_stamps(w, reminder.id, reminder.created_at, reminder.updated_at);
    match zone(&reminder.timezone) {
        Some(tz) => {
            w.local("DTSTART", tz.name(), reminder.due_local);
        }
        None => w.utc("DTSTART", reminder.due_at),
    }
    w.raw("DURATION", &[], &format!("PT{REMINDER_MINUTES}M"));
    w.text("SUMMARY", &reminder.title);
    if !reminder.notes.trim().is_empty() {
        w.text("DESCRIPTION", &reminder.notes);
    }
    w.raw("CATEGORIES", &[], "REMINDER");
    w.raw("TRANSP", &[], "TRANSPARENT");
    w.begin("VALARM");
    w.raw("ACTION", &[], "DISPLAY");
    w.text("DESCRIPTION", &reminder.title);
    w.raw("TRIGGER", &[], "PT0S");
    w.end("VALARM");
    w.end("VEVENT");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn feed() -> Feed {
        Feed {
            name: "Carnet: Lise".into(),
            timezone: Some("America/Montreal".into()),
            events: vec![Event {
                id: Uuid::nil(),
                title: "Apéro, réseau; \"Jelly\"".into(),
                description: Some("Ligne 1\nLigne 2".into()),
                venue: Some("Le Bar".into()),
                address: Some("1 rue X".into()),
                city: Some("Montréal".into()),
                starts_at: at("2026-07-01T22:00:00Z"),
                ends_at: Some(at("2026-07-02T00:00:00Z")),
                timezone: "America/Montreal".into(),
                status: EventStatus::Confirmed,
                created_at: at("2026-06-01T10:00:00Z"),
                updated_at: at("2026-06-02T10:00:00Z"),
            }],
            reminders: vec![Reminder {
                id: Uuid::max(),
                title: "Rappeler Nicolas".into(),
                notes: String::new(),
                due_local: NaiveDateTime::parse_from_str("2026-11-24T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap(),
                timezone: "Europe/Paris".into(),
                due_at: at("2026-11-24T08:00:00Z"),
                created_at: at("2026-06-01T10:00:00Z"),
                updated_at: at("2026-06-01T10:00:00Z"),
            }],
        }
    }

    #[test]
    fn the_same_rows_give_the_same_bytes() {
        assert_eq!(render(&feed()), render(&feed()));
    }

    #[test]
    fn events_and_reminders_use_wall_clock_times_with_tzid() {
        let text = render(&feed());
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"), "{text}");
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(
            text.contains("DTSTART;TZID=America/Montreal:20260701T180000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("DTEND;TZID=America/Montreal:20260701T200000\r\n"),
            "{text}"
        );
        assert!(
            text.contains("DTSTART;TZID=Europe/Paris:20261124T090000\r\n"),
            "{text}"
        );
        assert!(text.contains("TZID:America/Montreal\r\n") && text.contains("TZID:Europe/Paris\r\n"));
        assert!(
            text.contains("SUMMARY:Apéro\\, réseau\\; \"Jelly\"\r\n"),
            "{text}"
        );
        assert!(text.contains("LOCATION:Le Bar\\, 1 rue X\\, Montréal\r\n"));
        assert!(text.contains("DESCRIPTION:Ligne 1\\nLigne 2\r\n"));
        assert!(text.contains("BEGIN:VALARM\r\nACTION:DISPLAY\r\n"));
    }

    #[test]
    fn an_unknown_zone_falls_back_to_utc() {
        let mut f = feed();
        f.events[0].timezone = "Mars/Olympus".into();
        let text = render(&f);
        assert!(text.contains("DTSTART:20260701T220000Z\r\n"), "{text}");
        assert!(!text.contains("TZID:Mars"));
    }
}
