//! Contacts in and out of files: vCard or CSV import, vCard or CSV export.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::PgConnection;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::State;
use crate::auth::AuthUser;
use crate::db::contacts::{ContactChanges, ContactQuery, ContactRow, NewContact};
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::interop::merge::{normalise, Book, ContactData, Outcome};
use crate::interop::{self, sheet::Sheet, vcard, ContactDraft, FileKind, RecordError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources taking every method, so another method on these fixed paths is 405 with
    // their `Allow`, not a request for the contact of id "import".
    cfg.service(
        web::resource("/contacts/import")
            .route(web::post().to(import_contacts))
            .default_service(web::to(super::unmatched)),
    )
    .service(
        web::resource("/contacts/export")
            .route(web::get().to(export_contacts))
            .default_service(web::to(super::unmatched)),
    );
}

/// Rows fetched per query while an export streams: each query joins the remaining rows of
/// the event before taking a page, so pages are large enough to keep queries few, and small
/// enough (about a megabyte) to keep memory bounded.
pub(crate) const EXPORT_PAGE: i64 = 2_000;
/// At most this many per-record errors are listed in an import report.
const MAX_REPORTED_ERRORS: usize = 1_000;

/// Reads a request body of at most `limit` bytes; a larger one is 413.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("malformed_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("empty_file", "The file is empty."));
    }
    Ok(body)
}

pub(crate) fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// One record of an import that was skipped, or one of its values that was dropped.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportError {
    /// The card's position in the file (1 for the first), or the CSV line (the header is 1).
    pub record: usize,
    pub message: String,
}

/// What an import did. Importing the same file again creates and merges nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactImportReport {
    /// vcard or csv: how the file was read.
    pub format: &'static str,
    /// New contacts.
    pub created: usize,
    /// Records that added something to a contact already there (same email or phone).
    pub merged: usize,
    /// Records that added nothing (already present) or could not be used (see `errors`).
    pub skipped: usize,
    pub errors: Vec<ImportError>,
}

fn report_error(errors: &mut Vec<ImportError>, record: usize, message: String) {
    if errors.len() < MAX_REPORTED_ERRORS {
        errors.push(ImportError { record, message });
    }
}

/// An uploaded file's text (see [`interop::decode_text`]); one holding a NUL is refused
/// whole, naming where.
pub(crate) fn file_text(body: &[u8]) -> Result<String, ApiError> {
    let text = interop::decode_text(body);
    match interop::find_nul(&text) {
        None => Ok(text),
        Some((line, column)) => Err(ApiError::invalid(
            "file",
            crate::error::InvalidValue::new(
                "nul_character",
                format!("line {line}, column {column} holds a NUL character: the file is not text, or is damaged; nothing was imported"),
            ),
        )),
    }
}

pub(crate) fn unknown_headers(headers: Vec<String>) -> ApiError {
    ApiError::invalid(
        "file",
        crate::error::InvalidValue::new(
            "unknown_columns",
            format!(
                "no name or email column among the headers {headers:?} (expected e.g. name, first name, last name, email, prénom, nom, courriel)"
            ),
        ),
    )
}

fn data_of(row: ContactRow) -> (Uuid, ContactData) {
    (
        row.id,
        ContactData {
            name: row.name,
            organization: row.organization,
            job_title: row.job_title,
            city: row.city,
            emails: row.emails,
            phones: row.phones,
            links: row.links,
            tags: row.tags,
            notes: row.notes,
            how_we_met: row.how_we_met,
            first_met_on: row.first_met_on,
            they_brought: row.they_brought,
            i_can_offer: row.i_can_offer,
        },
    )
}

fn new_contact(owner: Uuid, c: ContactData) -> NewContact {
    NewContact {
        id: Uuid::now_v7(),
        owner_id: owner,
        name: c.name,
        organization: c.organization,
        job_title: c.job_title,
        city: c.city,
        emails: c.emails,
        phones: c.phones,
        links: c.links,
        tags: c.tags,
        notes: c.notes,
        how_we_met: c.how_we_met,
        met_at_event_id: None,
        first_met_on: c.first_met_on,
        they_brought: c.they_brought,
        i_can_offer: c.i_can_offer,
        met_in_person: false,
        keep_in_touch_days: None,
        starred: false,
    }
}

fn changes(c: ContactData) -> ContactChanges {
    ContactChanges {
        organization: Some(c.organization),
        job_title: Some(c.job_title),
        city: Some(c.city),
        emails: Some(c.emails),
        phones: Some(c.phones),
        links: Some(c.links),
        tags: Some(c.tags),
        notes: Some(c.notes),
        how_we_met: Some(c.how_we_met),
        first_met_on: Some(c.first_met_on),
        they_brought: Some(c.they_brought),
        i_can_offer: Some(c.i_can_offer),
        ..Default::default()
    }
}

/// Reads the file and merges it into the owner's contacts, in one transaction.
fn import(
    conn: &mut PgConnection,
    owner: Uuid,
    kind: FileKind,
    text: &str,
) -> Result<ContactImportReport, ApiError> {
    if kind == FileKind::Vcard && !text.trim().is_empty() && !vcard::holds_a_card(text) {
        return Err(ApiError::unprocessable(
            "not_a_vcard",
            "The body is sent as a vCard but holds no BEGIN:VCARD: send the content of a .vcf file, or a CSV file as text/csv.",
        ));
    }
    let drafts: Vec<Result<ContactDraft, RecordError>> = match kind {
        FileKind::Vcard => vcard::read(text),
        FileKind::Csv => interop::table::read(text)
            .map_err(|e| unknown_headers(e.0))?
            .into_iter()
            .map(|row| {
                let row = row?;
                interop::table::contact(&row).ok_or(RecordError {
                    record: row.line,
                    message: "the row has no name, company or email".into(),
                })
            })
            .collect(),
    };
    let mut report = ContactImportReport {
        format: match kind {
            FileKind::Vcard => "vcard",
            FileKind::Csv => "csv",
        },
        created: 0,
        merged: 0,
        skipped: 0,
        errors: Vec::new(),
    };
    db::contacts::lock_owner_for_import(conn, owner)?;
    let region = crate::domain::contacts::user_region(conn, owner)?;
    let existing = db::contacts::all_by_owner(conn, owner)?;
    let mut book = Book::new(existing.into_iter().map(data_of));
    for (i, draft) in drafts.into_iter().enumerate() {
        let draft = match draft {
            Ok(d) => d,
            Err(e) => {
                report.skipped += 1;
                report_error(&mut report.errors, e.record, e.message);
                continue;
            }
        };
        let (contact, dropped) = normalise(draft, region);
        for message in dropped {
            report_error(&mut report.errors, i + 1, format!("value left out: {message}"));
        }
        match contact {
            Ok(c) => match book.add(c) {
                Outcome::Created => report.created += 1,
                Outcome::Merged => report.merged += 1,
                Outcome::Unchanged => report.skipped += 1,
            },
            Err(message) => {
                report.skipped += 1;
                report_error(&mut report.errors, i + 1, message);
            }
        }
    }
    let mut new = Vec::new();
    for slot in book.slots.into_iter().filter(|s| s.changed) {
        match slot.existing {
            None => new.push(new_contact(owner, slot.data)),
            Some(id) => {
                crate::domain::contacts::update(conn, owner, id, &changes(slot.data))?;
            }
        }
    }
    db::contacts::create_many(conn, &new)?;
    Ok(report)
}

/// Imports contacts from a vCard file (2.1, 3.0 or 4.0, one or many cards) or a CSV file
/// (headers in English or French, `,` or `;`). The kind comes from the content type
/// (`text/vcard`, `text/csv`), else from the content. A contact already present (same
/// normalised email or phone) is merged, not duplicated: sets gain what they lack and
/// empty fields are filled, nothing is overwritten. Up to 20 MiB.
#[utoipa::path(post, path = "/contacts/import", tag = "contacts", security(("bearer" = [])),
    request_body(content = String, content_type = "text/vcard", description = "vCard or CSV file"),
    responses(
        (status = 200, body = ContactImportReport),
        (status = 400, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem),
        (status = 422, description = "A CSV file without a name or email column", body = crate::error::Problem),
    ))]
async fn import_contacts(
    state: State,
    auth: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, interop::IMPORT_LIMIT).await?;
    let content_type = content_type(&req).map(str::to_string);
    let owner = auth.user_id;
    let report = state
        .db
        .transaction(move |conn| {
            let text = file_text(&body)?;
            drop(body);
            let kind = interop::sniff(content_type.as_deref(), &text);
            import(conn, owner, kind, &text)
        })
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// An export's file format.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Vcard,
    Json,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactExportQuery {
    /// vcard (default) or csv.
    pub format: Option<ExportFormat>,
    /// With csv: 1 for the Excel variant (BOM, `;`, CRLF).
    pub excel: Option<u8>,
}

pub(crate) fn attachment(content_type: &str, filename: &str) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type.to_string()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

/// Streams `head`, then each page `fetch` answers rendered by `render`, then `tail`.
/// `fetch` takes the cursor of the previous page (none for the first) and answers the
/// rows with the next cursor (none after the last page), so memory stays bounded by one
/// page whatever the size of the export. `render` also gets how many rows went before.
pub(crate) fn paged<C, R, F, G>(
    db: Db,
    head: Vec<u8>,
    tail: Vec<u8>,
    fetch: F,
    render: G,
) -> impl Stream<Item = Result<web::Bytes, ApiError>>
where
    C: Send + 'static,
    R: Send + 'static,
    F: Fn(&mut PgConnection, Option<C>) -> Result<(Vec<R>, Option<C>), ApiError> + Send + Sync + 'static,
    G: Fn(Vec<R>, usize) -> Vec<u8> + 'static,
{
    enum Step<C> {
        Head,
        Page(Option<C>),
        Tail,
        Done,
    }
    let fetch = Arc::new(fetch);
    let render = Arc::new(render);
    let head = Some(head);
    let tail = Some(tail);
    futures_util::stream::unfold(
        (Step::Head, head, tail, 0usize),
        move |(step, mut head, mut tail, sent)| {
            let db = db.clone();
            let fetch = fetch.clone();
            let render = render.clone();
            async move {
                match step {
                    Step::Head => {
                        let bytes = head.take().unwrap_or_default();
                        Some((Ok(web::Bytes::from(bytes)), (Step::Page(None), head, tail, sent)))
                    }
                    Step::Page(cursor) => {
                        let page = db.run(move |conn| fetch(conn, cursor)).await;
                        match page {
                            Ok((rows, next)) => {
                                let n = rows.len();
                                let bytes = render(rows, sent);
                                let step = match next {
                                    Some(c) => Step::Page(Some(c)),
                                    None => Step::Tail,
                                };
                                Some((Ok(web::Bytes::from(bytes)), (step, head, tail, sent + n)))
                            }
                            Err(e) => {
                                // The status line is gone: the client sees a cut-off body.
                                tracing::error!(error = %e, rows_sent = sent, "export stopped");
                                Some((Err(e), (Step::Done, head, tail, sent)))
                            }
                        }
                    }
                    Step::Tail => {
                        let bytes = tail.take().unwrap_or_default();
                        Some((Ok(web::Bytes::from(bytes)), (Step::Done, head, tail, sent)))
                    }
                    Step::Done => None,
                }
            }
        },
    )
}

pub const CONTACT_COLUMNS: [&str; 13] = [
    "name",
    "organization",
    "job_title",
    "city",
    "emails",
    "phones",
    "links",
    "tags",
    "notes",
    "how_we_met",
    "first_met_on",
    "they_brought",
    "i_can_offer",
];

fn contact_cells(c: ContactRow) -> Vec<String> {
    vec![
        c.name,
        c.organization.unwrap_or_default(),
        c.job_title.unwrap_or_default(),
        c.city.unwrap_or_default(),
        c.emails.join(", "),
        c.phones.join(", "),
        c.links.join(", "),
        c.tags.join(", "),
        c.notes,
        c.how_we_met,
        c.first_met_on.map(|d| d.to_string()).unwrap_or_default(),
        c.they_brought,
        c.i_can_offer,
    ]
}

fn contact_card(c: &ContactRow) -> String {
    vcard::write(&vcard::CardFields {
        name: &c.name,
        organization: c.organization.as_deref(),
        job_title: c.job_title.as_deref(),
        city: c.city.as_deref(),
        emails: &c.emails,
        phones: &c.phones,
        links: &c.links,
        tags: &c.tags,
        notes: Some(&c.notes),
        how_we_met: Some(&c.how_we_met),
        first_met_on: c.first_met_on.map(|d| d.to_string()),
        they_brought: Some(&c.they_brought),
        i_can_offer: Some(&c.i_can_offer),
        uid: Some(format!("urn:uuid:{}", c.id)),
    })
}

/// All my contacts as one vCard 3.0 file (one card each) or a CSV file, streamed. Importing
/// the file back gives the same contacts.
#[utoipa::path(get, path = "/contacts/export", tag = "contacts", security(("bearer" = [])), params(ContactExportQuery), responses(
    (status = 200, description = "text/vcard or text/csv file", content_type = "text/vcard", body = String),
    (status = 400, body = crate::error::Problem),
))]
async fn export_contacts(
    state: State,
    auth: AuthUser,
    query: web::Query<ContactExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let fetch = move |conn: &mut PgConnection, after: Option<Uuid>| {
        let query = ContactQuery {
            after,
            limit: EXPORT_PAGE,
            ..Default::default()
        };
        let mut rows = db::contacts::list_by_owner(conn, owner, &query)?;
        let next = if rows.len() as i64 > EXPORT_PAGE {
            rows.truncate(EXPORT_PAGE as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok((rows, next))
    };
    match query.format.unwrap_or(ExportFormat::Vcard) {
        ExportFormat::Vcard => {
            let stream = paged(state.db.clone(), Vec::new(), Vec::new(), fetch, |rows, _| {
                rows.iter().map(contact_card).collect::<String>().into_bytes()
            });
            Ok(attachment("text/vcard; charset=utf-8", "contacts.vcf").streaming(stream))
        }
        ExportFormat::Csv => {
            let sheet = Sheet {
                excel: query.excel == Some(1),
            };
            let head = sheet.header(&CONTACT_COLUMNS);
            let stream = paged(state.db.clone(), head, Vec::new(), fetch, move |rows, _| {
                sheet.rows(rows.into_iter().map(contact_cells))
            });
            Ok(attachment("text/csv; charset=utf-8", "contacts.csv").streaming(stream))
        }
        ExportFormat::Json => Err(ApiError::bad_request(
            "invalid_format",
            "format must be vcard or csv (my contacts as JSON: GET /v1/me/export)",
        )),
    }
}
