//! Contacts: the people a user met.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{cursor, nullable, page_limit, Page, State};
use crate::auth::AuthUser;
use crate::db::contacts::{ContactChanges, ContactQuery, ContactRow, NewContact};
use crate::db::{self};
use crate::domain::contacts;
use crate::domain::{
    optional_text, parse_set, required_text, Email, InvalidValue, Limits, Link, Phone, Region, Tag,
};
use crate::error::{ApiError, FieldErrors};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_contacts)
        .service(create_contact)
        .service(get_contact)
        .service(patch_contact)
        .service(delete_contact);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub name: String,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub city: Option<String>,
    pub emails: Vec<String>,
    /// E.164.
    pub phones: Vec<String>,
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub how_we_met: String,
    pub met_at_event_id: Option<Uuid>,
    pub first_met_on: Option<NaiveDate>,
    /// What this person brought me.
    pub they_brought: String,
    /// What I can do for them.
    pub i_can_offer: String,
    pub met_in_person: bool,
    /// Follow-up cadence: an open reminder is kept this many days after the last interaction.
    pub keep_in_touch_days: Option<i32>,
    pub starred: bool,
    pub last_interaction_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub fn contact_view(row: ContactRow) -> ContactView {
    ContactView {
        id: row.id,
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
        met_at_event_id: row.met_at_event_id,
        first_met_on: row.first_met_on,
        they_brought: row.they_brought,
        i_can_offer: row.i_can_offer,
        met_in_person: row.met_in_person,
        keep_in_touch_days: row.keep_in_touch_days,
        starred: row.starred,
        last_interaction_at: row.last_interaction_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The fields of a contact a client may write. On create, `name` is required and what is
/// left out takes its default; on PATCH, what is left out stays and `null` clears.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Create only: a client-chosen id (UUIDv7 made offline), or none for a new one.
    #[serde(default)]
    pub id: Option<Uuid>,
    #[schema(example = "Lise Cardinal")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub organization: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub emails: Option<Option<Vec<String>>>,
    /// Normalised to E.164 with my region as the default country.
    #[serde(default, deserialize_with = "nullable")]
    pub phones: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub links: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub how_we_met: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub met_at_event_id: Option<Option<Uuid>>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "nullable")]
    pub first_met_on: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub they_brought: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub i_can_offer: Option<Option<String>>,
    pub met_in_person: Option<bool>,
    /// 1 to 3650 days, or null for no cadence.
    #[serde(default, deserialize_with = "nullable")]
    pub keep_in_touch_days: Option<Option<i32>>,
    pub starred: Option<bool>,
}

fn date(raw: &str) -> Result<NaiveDate, InvalidValue> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        InvalidValue::new(
            "invalid_date",
            format!("{raw:?} is not a date such as 2026-11-24"),
        )
    })
}

fn cadence(days: i32) -> Result<i32, InvalidValue> {
    if (1..=3650).contains(&days) {
        Ok(days)
    } else {
        Err(InvalidValue::new(
            "out_of_range",
            "must be between 1 and 3650 days",
        ))
    }
}

/// Parses the input into changes; the caller adds the errors' answer.
fn parse(input: ContactInput, region: Option<Region>, errors: &mut FieldErrors) -> ContactChanges {
    fn text(
        errors: &mut FieldErrors,
        field: &str,
        v: Option<Option<String>>,
        max: usize,
    ) -> Option<Option<String>> {
        match v? {
            None => Some(None),
            Some(s) => errors.check(field, optional_text(&s, max)),
        }
    }
    fn long(errors: &mut FieldErrors, field: &str, v: Option<Option<String>>) -> Option<String> {
        text(errors, field, v, Limits::LONG).map(Option::unwrap_or_default)
    }
    fn set<T: AsRef<str>>(
        errors: &mut FieldErrors,
        field: &str,
        v: Option<Option<Vec<String>>>,
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Option<Vec<String>> {
        let values = v?.unwrap_or_default();
        parse_set(errors, field, &values, 100, parse)
            .map(|v| v.iter().map(|x| x.as_ref().to_string()).collect())
    }
    ContactChanges {
        name: input
            .name
            .and_then(|n| errors.check("name", required_text(&n, Limits::NAME))),
        organization: text(errors, "organization", input.organization, Limits::SHORT),
        job_title: text(errors, "job_title", input.job_title, Limits::SHORT),
        city: text(errors, "city", input.city, Limits::SHORT),
        emails: set(errors, "emails", input.emails, |s| {
            Email::parse(s).map(|e| e.lowercase())
        }),
        phones: set(errors, "phones", input.phones, |s| Phone::parse(s, region)),
        links: set(errors, "links", input.links, Link::parse),
        tags: set(errors, "tags", input.tags, Tag::parse),
        notes: long(errors, "notes", input.notes),
        how_we_met: long(errors, "how_we_met", input.how_we_met),
        met_at_event_id: input.met_at_event_id,
        first_met_on: match input.first_met_on {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => errors.check("first_met_on", date(&d)).map(Some),
        },
        they_brought: long(errors, "they_brought", input.they_brought),
        i_can_offer: long(errors, "i_can_offer", input.i_can_offer),
        met_in_person: input.met_in_person,
        keep_in_touch_days: match input.keep_in_touch_days {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => errors.check("keep_in_touch_days", cadence(d)).map(Some),
        },
        starred: input.starred,
    }
}

/// The event named by `met_at_event_id` must be one I organise or attend.
fn check_event(conn: &mut PgConnection, owner: Uuid, event_id: Option<Option<Uuid>>) -> Result<(), ApiError> {
    if let Some(Some(event_id)) = event_id {
        match db::events::find_by_id_for_member(conn, owner, event_id) {
            Ok(_) => {}
            Err(diesel::result::Error::NotFound) => {
                return Err(ApiError::invalid(
                    "met_at_event_id",
                    InvalidValue::new("unknown_event", "no event of yours has this id"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// Words matched anywhere in name, organization, notes or tags (case-insensitive).
    pub q: Option<String>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
    /// Only contacts met at this event.
    pub event_id: Option<Uuid>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    pub limit: Option<i64>,
}

/// My contacts, a page at a time, in creation order.
#[utoipa::path(tag = "contacts", security(("bearer" = [])), params(ContactListQuery), responses(
    (status = 200, body = inline(Page<ContactView>)),
    (status = 400, body = crate::error::Problem),
))]
#[get("/contacts")]
async fn list_contacts(
    state: State,
    auth: AuthUser,
    query: web::Query<ContactListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let tag = match query.tag.as_deref() {
        Some(t) => Some(
            Tag::parse(t)
                .map_err(|e| ApiError::bad_request("invalid_tag", e.message))?
                .into_inner(),
        ),
        None => None,
    };
    let q = query.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "q must be at most 200 characters",
        ));
    }
    let filter = ContactQuery {
        q,
        tag,
        event_id: query.event_id,
        after: cursor::id(query.cursor.as_deref())?,
        limit,
    };
    let owner = auth.user_id;
    let rows = state
        .db
        .run(move |conn| Ok(db::contacts::list_by_owner(conn, owner, &filter)?))
        .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        limit,
        |r| cursor::of_id(&r.id),
        contact_view,
    )))
}

/// Adds a contact.
#[utoipa::path(tag = "contacts", security(("bearer" = [])), request_body = ContactInput, responses(
    (status = 201, body = ContactView),
    (status = 409, description = "The client-chosen id is taken", body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[post("/contacts")]
async fn create_contact(
    state: State,
    auth: AuthUser,
    body: web::Json<ContactInput>,
) -> Result<HttpResponse, ApiError> {
    let owner = auth.user_id;
    let row = state
        .db
        .transaction(move |conn| {
            let input = body.into_inner();
            let id = super::id_or_new(input.id);
            let mut errors = FieldErrors::new();
            if input.name.is_none() {
                errors.add("name", "required", "must not be empty");
            }
            let region = contacts::user_region(conn, owner)?;
            let c = parse(input, region, &mut errors);
            errors.into_result()?;
            check_event(conn, owner, c.met_at_event_id)?;
            let new = NewContact {
                id,
                owner_id: owner,
                name: c.name.unwrap_or_default(),
                organization: c.organization.flatten(),
                job_title: c.job_title.flatten(),
                city: c.city.flatten(),
                emails: c.emails.unwrap_or_default(),
                phones: c.phones.unwrap_or_default(),
                links: c.links.unwrap_or_default(),
                tags: c.tags.unwrap_or_default(),
                notes: c.notes.unwrap_or_default(),
                how_we_met: c.how_we_met.unwrap_or_default(),
                met_at_event_id: c.met_at_event_id.flatten(),
                first_met_on: c.first_met_on.flatten(),
                they_brought: c.they_brought.unwrap_or_default(),
                i_can_offer: c.i_can_offer.unwrap_or_default(),
                met_in_person: c.met_in_person.unwrap_or(false),
                keep_in_touch_days: c.keep_in_touch_days.flatten(),
                starred: c.starred.unwrap_or(false),
            };
            let row = db::contacts::create(conn, &new)?.ok_or_else(super::id_taken)?;
            if row.keep_in_touch_days.is_some() {
                contacts::refresh_keep_in_touch(conn, owner, &row)?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(contact_view(row)))
}

/// One contact.
#[utoipa::path(tag = "contacts", security(("bearer" = [])), responses(
    (status = 200, body = ContactView),
    (status = 404, body = crate::error::Problem),
))]
#[get("/contacts/{id}")]
async fn get_contact(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .run(move |conn| Ok(db::contacts::find_by_id_and_owner(conn, owner, id)?))
        .await?;
    Ok(HttpResponse::Ok().json(contact_view(row)))
}

/// Changes a contact: fields left out stay, `null` clears, a set field is replaced whole.
#[utoipa::path(tag = "contacts", security(("bearer" = [])), request_body = ContactInput, responses(
    (status = 200, body = ContactView),
    (status = 404, body = crate::error::Problem),
    (status = 422, body = crate::error::Problem),
))]
#[patch("/contacts/{id}")]
async fn patch_contact(
    state: State,
    auth: AuthUser,
    id: web::Path<Uuid>,
    body: web::Json<ContactInput>,
) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    let row = state
        .db
        .transaction(move |conn| {
            let input = body.into_inner();
            let mut errors = FieldErrors::new();
            if input.id.is_some_and(|given| given != id) {
                errors.add("id", "immutable", "the id of a contact cannot change");
            }
            // Not found before validation: another user's id must answer 404, not 422.
            db::contacts::find_by_id_and_owner(conn, owner, id)?;
            let region = contacts::user_region(conn, owner)?;
            let changes = parse(input, region, &mut errors);
            errors.into_result()?;
            check_event(conn, owner, changes.met_at_event_id)?;
            let cadence_changed = changes.keep_in_touch_days.is_some() || changes.name.is_some();
            let row = crate::domain::contacts::update(conn, owner, id, &changes)?;
            if cadence_changed {
                contacts::refresh_keep_in_touch(conn, owner, &row)?;
            }
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(contact_view(row)))
}

/// Deletes a contact with its interactions and reminders.
#[utoipa::path(tag = "contacts", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, body = crate::error::Problem),
))]
#[delete("/contacts/{id}")]
async fn delete_contact(state: State, auth: AuthUser, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let (owner, id) = (auth.user_id, id.into_inner());
    state
        .db
        .run(move |conn| Ok(db::contacts::delete(conn, owner, id)?))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
