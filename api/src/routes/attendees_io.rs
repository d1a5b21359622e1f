//! An event's attendees in and out of files, for its organizer only: guests imported from
//! a spreadsheet, the attendee list exported as CSV, vCard or JSON.

use std::collections::{HashMap, HashSet};

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::contacts_io::{
    attachment, content_type, file_text, paged, read_body, unknown_headers, ExportFormat, ImportError,
    EXPORT_PAGE,
};
use super::State;
use crate::auth::AuthUser;
use crate::db::attendances::{Added, AttendanceChanges, AttendeeRow, NewAttendance};
use crate::db::{self};
use crate::domain::{required_text, Email, Limits};
use crate::error::ApiError;
use crate::interop::table::{self, Column};
use crate::interop::{self, sheet::Sheet, vcard};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(import_attendees).service(export_attendees);
}

/// What a guest import did. Importing the same file again creates nothing new.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendeeImportReport {
    /// New guests (registered, or waitlisted past the capacity).
    pub created: usize,
    /// Of the new guests, those put on the waitlist.
    pub waitlisted: usize,
    /// Guests already there (same email) whose name changed.
    pub updated: usize,
    /// Rows already present unchanged, or that could not be used (see `errors`).
    pub skipped: usize,
    pub errors: Vec<ImportError>,
}

/// What the import knows of who attends: by lower-cased email, and guests without email by
/// lower-cased name.
struct Roster {
    by_email: HashMap<String, (Uuid, bool, String)>,
    names_without_email: HashSet<String>,
}

/// The sentinel that rolls a failed insert back to its savepoint (the transaction goes on).
const RETRY: &str = "retry_insert";

fn import(
    conn: &mut PgConnection,
    me: Uuid,
    event_id: Uuid,
    text: &str,
) -> Result<AttendeeImportReport, ApiError> {
    let event = db::events::lock_by_id_and_organizer(conn, me, event_id)?;
    let rows = table::read(text).map_err(|e| unknown_headers(e.0))?;
    let mut roster = Roster {
        by_email: HashMap::new(),
        names_without_email: HashSet::new(),
    };
    for r in db::attendances::roster(conn, event_id)? {
        let is_guest = r.user_id.is_none();
        match r.guest_email.or(r.user_email) {
            Some(email) => {
                roster.by_email.insert(
                    email.to_lowercase(),
                    (r.id, is_guest, r.guest_name.unwrap_or_default()),
                );
            }
            None => {
                roster
                    .names_without_email
                    .insert(r.guest_name.unwrap_or_default().to_lowercase());
            }
        }
    }
    let mut taken = db::attendances::count_taking_places(conn, event_id)?;
    let mut report = AttendeeImportReport {
        created: 0,
        waitlisted: 0,
        updated: 0,
        skipped: 0,
        errors: Vec::new(),
    };
    let skip = |report: &mut AttendeeImportReport, record: usize, message: String| {
        report.skipped += 1;
        if report.errors.len() < 1_000 {
            report.errors.push(ImportError { record, message });
        }
    };
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                skip(&mut report, e.record, e.message);
                continue;
            }
        };
        let email = match row.get(Column::Email).map(Email::parse).transpose() {
            Ok(e) => e.map(Email::into_inner),
            Err(e) => {
                skip(&mut report, row.line, format!("email: {}", e.message));
                continue;
            }
        };
        let Some(raw_name) = row.name().or_else(|| email.clone()) else {
            skip(&mut report, row.line, "the row has no name or email".into());
            continue;
        };
        let name = match required_text(&raw_name, Limits::NAME) {
            Ok(n) => n,
            Err(e) => {
                skip(&mut report, row.line, format!("name: {}", e.message));
                continue;
            }
        };
        if let Some(email) = &email {
            if let Some((id, is_guest, known)) = roster.by_email.get_mut(&email.to_lowercase()) {
                if *is_guest && *known != name {
                    db::attendances::update(
                        conn,
                        event_id,
                        *id,
                        &AttendanceChanges {
                            guest_name: Some(Some(name.clone())),
                            ..Default::default()
                        },
                    )?;
                    *known = name;
                    report.updated += 1;
                } else {
                    report.skipped += 1;
                }
                continue;
            }
        } else if !roster.names_without_email.insert(name.to_lowercase()) {
            report.skipped += 1;
            continue;
        }
        // As for a guest added by hand: past the capacity, the guest is waitlisted.
        let full = event.capacity.is_some_and(|c| taken >= i64::from(c));
        let mut created = None;
        for _ in 0..8 {
            let new = NewAttendance {
                id: Uuid::now_v7(),
                event_id,
                user_id: None,
                guest_name: Some(name.clone()),
                guest_email: email.clone(),
                status: if full { "waitlisted" } else { "registered" }.into(),
                role: "attendee".into(),
                share_profile: false,
                share_profile_at: None,
                checkin_code: crate::domain::new_checkin_code(),
            };
            let attempt = conn.transaction(|conn| match db::attendances::create(conn, &new)? {
                Added::Attendance(a) => Ok(Some(a)),
                Added::Duplicate => Ok(None),
                Added::CodeTaken => Err(ApiError::Conflict {
                    code: RETRY,
                    detail: String::new(),
                }),
            });
            match attempt {
                Ok(a) => {
                    created = Some(a);
                    break;
                }
                Err(ApiError::Conflict { code: RETRY, .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        match created.flatten() {
            Some(a) => {
                report.created += 1;
                if full {
                    report.waitlisted += 1;
                } else {
                    taken += 1;
                }
                if let Some(email) = email {
                    roster.by_email.insert(email.to_lowercase(), (a.id, true, name));
                }
            }
            None => report.skipped += 1,
        }
    }
    Ok(report)
}

/// Imports guests into an event I organise from a CSV file: headers as ticketing tools and
/// spreadsheets write them (full name, or first and last names; email; phone; company; in
/// English or French, any case, with or without accents), `,` or `;`, with or without BOM.
/// A guest with the same email is updated, not duplicated; a bad row is reported and the
/// others are imported. Past the capacity, guests are waitlisted. Up to 20 MiB.
#[utoipa::path(tag = "events", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "CSV file"),
    responses(
        (status = 200, body = AttendeeImportReport),
        (status = 404, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem),
        (status = 422, description = "No name or email column", body = crate::error::Problem),
    ))]
#[post("/events/{id}/attendees/import")]
async fn import_attendees(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    // Outsiders learn nothing, not even whether their file would have been read.
    state
        .db
        .run(move |conn| Ok(db::events::find_by_id_and_organizer(conn, me, event_id)?))
        .await?;
    let body = read_body(&req, payload, interop::IMPORT_LIMIT).await?;
    if interop::sniff(content_type(&req), "") == interop::FileKind::Vcard {
        return Err(ApiError::UnsupportedMediaType {
            detail: "Guests are imported from a CSV file.".into(),
        });
    }
    let report = state
        .db
        .transaction(move |conn| import(conn, me, event_id, &file_text(&body)?))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttendeeExportQuery {
    /// csv (default), vcard or json.
    pub format: Option<ExportFormat>,
    /// With csv: 1 for the Excel variant (BOM, `;`, CRLF).
    pub excel: Option<u8>,
}

/// An attendee in an export. Contact details appear only when the attendee consented to
/// share them (`share_profile`); the others appear by name only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAttendee {
    pub id: Uuid,
    pub name: String,
    pub is_guest: bool,
    pub status: String,
    pub role: String,
    /// Consent to appear with contact details.
    pub share_profile: bool,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
    pub headline: Option<String>,
    pub city: Option<String>,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// The one place where consent decides what an export shows.
fn exported(row: AttendeeRow) -> ExportedAttendee {
    let a = row.attendance;
    let is_guest = a.user_id.is_none();
    let consented = a.share_profile;
    let detail = |v: Option<String>| v.filter(|_| consented);
    ExportedAttendee {
        id: a.id,
        name: row.display_name.or(a.guest_name).unwrap_or_default(),
        is_guest,
        status: a.status,
        role: a.role,
        share_profile: consented,
        email: detail(if is_guest { a.guest_email } else { row.card_email }),
        phone: detail(row.card_phone),
        organization: detail(row.card_organization),
        headline: detail(row.card_headline),
        city: detail(row.card_city),
        checked_in_at: a.checked_in_at,
    }
}

pub const ATTENDEE_COLUMNS: [&str; 11] = [
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
    "checked_in_at",
];

fn attendee_cells(a: ExportedAttendee) -> Vec<String> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    vec![
        a.name,
        a.status,
        a.role,
        yes_no(a.is_guest),
        yes_no(a.share_profile),
        a.email.unwrap_or_default(),
        a.phone.unwrap_or_default(),
        a.organization.unwrap_or_default(),
        a.headline.unwrap_or_default(),
        a.city.unwrap_or_default(),
        a.checked_in_at
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
    ]
}

fn attendee_card(a: &ExportedAttendee) -> String {
    let emails: Vec<String> = a.email.iter().cloned().collect();
    let phones: Vec<String> = a.phone.iter().cloned().collect();
    vcard::write(&vcard::CardFields {
        name: &a.name,
        organization: a.organization.as_deref(),
        job_title: a.headline.as_deref(),
        city: a.city.as_deref(),
        emails: &emails,
        phones: &phones,
        uid: Some(format!("urn:uuid:{}", a.id)),
        ..Default::default()
    })
}

/// The attendee list of an event I organise, streamed: `format=csv` (RFC 4180, UTF-8;
/// with `excel=1` a BOM, `;` and CRLF), `format=vcard` (one card per attendee) or
/// `format=json` (`{"items": [...]}`). Contact details only for attendees who consented;
/// the consent is a column. Cells a spreadsheet would run as formulas are neutralised.
#[utoipa::path(tag = "events", security(("bearer" = [])), params(AttendeeExportQuery), responses(
    (status = 200, description = "text/csv, text/vcard or application/json", content_type = "text/csv", body = String),
    (status = 404, body = crate::error::Problem),
))]
#[get("/events/{id}/attendees/export")]
async fn export_attendees(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    query: web::Query<AttendeeExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let (me, event_id) = (auth.user_id, id.into_inner());
    state
        .db
        .run(move |conn| Ok(db::events::find_by_id_and_organizer(conn, me, event_id)?))
        .await?;
    let fetch = move |conn: &mut PgConnection, after: Option<(DateTime<Utc>, Uuid)>| {
        let mut rows = db::attendances::list_for_organizer(conn, me, event_id, after, EXPORT_PAGE)?;
        let next = if rows.len() as i64 > EXPORT_PAGE {
            rows.truncate(EXPORT_PAGE as usize);
            rows.last().map(|r| (r.attendance.created_at, r.attendance.id))
        } else {
            None
        };
        Ok((rows, next))
    };
    let db = state.db.clone();
    Ok(match query.format.unwrap_or(ExportFormat::Csv) {
        ExportFormat::Csv => {
            let sheet = Sheet {
                excel: query.excel == Some(1),
            };
            let head = sheet.header(&ATTENDEE_COLUMNS);
            let stream = paged(db, head, Vec::new(), fetch, move |rows, _| {
                sheet.rows(rows.into_iter().map(|r| attendee_cells(exported(r))))
            });
            attachment("text/csv; charset=utf-8", "attendees.csv").streaming(stream)
        }
        ExportFormat::Vcard => {
            let stream = paged(db, Vec::new(), Vec::new(), fetch, |rows, _| {
                rows.into_iter()
                    .map(|r| attendee_card(&exported(r)))
                    .collect::<String>()
                    .into_bytes()
            });
            attachment("text/vcard; charset=utf-8", "attendees.vcf").streaming(stream)
        }
        ExportFormat::Json => {
            let stream = paged(
                db,
                b"{\"items\":[".to_vec(),
                b"]}".to_vec(),
                fetch,
                |rows, before| {
                    let mut out = Vec::new();
                    for (i, row) in rows.into_iter().enumerate() {
                        if before + i > 0 {
                            out.push(b',');
                        }
                        // Serialising plain strings, ids and dates cannot fail.
                        let _ = serde_json::to_writer(&mut out, &exported(row));
                    }
                    out
                },
            );
            attachment("application/json", "attendees.json").streaming(stream)
        }
    })
}
