//! The OpenAPI 3.1 document, generated from the handlers' annotations, served at
//! `/openapi.json`, with Swagger UI at `/docs` served from assets compiled into the binary
//! (no CDN, so it works offline).

use actix_web::{get, http::header, web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Carnet API",
        description = "The backend of Carnet, the mobile companion for people who build their network in person. \
            Errors are application/problem+json (RFC 9457) with a stable `code`.",
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::health::metrics,
        routes::auth::register,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::me::get_me,
        routes::me::patch_me,
        routes::me::export_me,
        routes::me::delete_me,
        routes::devices::list_devices,
        routes::devices::create_device,
        routes::devices::patch_device,
        routes::devices::delete_device,
        routes::contacts::list_contacts,
        routes::contacts::create_contact,
        routes::contacts::get_contact,
        routes::contacts::patch_contact,
        routes::contacts::delete_contact,
        routes::contacts_io::import_contacts,
        routes::contacts_io::export_contacts,
        routes::interactions::list_interactions,
        routes::interactions::create_interaction,
        routes::interactions::patch_interaction,
        routes::interactions::delete_interaction,
        routes::reminders::list_reminders,
        routes::reminders::create_reminder,
        routes::reminders::get_reminder,
        routes::reminders::patch_reminder,
        routes::reminders::delete_reminder,
        routes::reminders::complete_reminder,
        routes::reminders::snooze_reminder,
        routes::events::list_events,
        routes::events::create_event,
        routes::events::get_event,
        routes::events::patch_event,
        routes::events::delete_event,
        routes::attendees::list_attendees,
        routes::attendees::add_attendee,
        routes::attendees::patch_attendee,
        routes::attendees::delete_attendee,
        routes::sync::push_changes,
        routes::sync::pull_changes,
        routes::sync::list_conflicts,
        routes::sync::wait_for_changes,
        routes::calendar::create_feed,
        routes::calendar::get_feed,
        routes::calendar::delete_feed,
        routes::calendar::calendar_feed,
        routes::events::regenerate_join_code,
        routes::attendance::join_event,
        routes::attendance::get_my_attendance,
        routes::attendance::patch_my_attendance,
        routes::attendance::check_in,
        routes::attendance::exchange,
        routes::attendees_io::import_attendees,
        routes::attendees_io::export_attendees,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth, &VersionPrefix),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "me", description = "My account, profile card, export and erasure"),
        (name = "devices", description = "My phones"),
        (name = "contacts", description = "People I met"),
        (name = "interactions", description = "Calls, texts, lunches"),
        (name = "reminders", description = "Follow-ups"),
        (name = "events", description = "Events and their attendees"),
        (name = "sync", description = "Offline-first sync: push, pull, conflicts, wait"),
        (name = "calendar", description = "My private iCalendar feed"),
        (name = "operations", description = "Health and metrics"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The resource routes are mounted under `/v1`; operations routes are at the root.
struct VersionPrefix;

impl Modify for VersionPrefix {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = std::mem::take(&mut openapi.paths.paths);
        openapi.paths.paths = paths
            .into_iter()
            .map(|(path, item)| match path.as_str() {
                "/healthz" | "/readyz" | "/metrics" => (path, item),
                _ if path.starts_with("/calendar/") && path.ends_with(".ics") => (path, item),
                _ => (format!("/v1{path}"), item),
            })
            .collect();
    }
}

/// The methods of each documented path, as an `Allow` header lists them (`GET, PATCH`),
/// keyed by the path's pattern (`/v1/contacts/{id}`): the answer to a method a path does
/// not take comes from the same document clients generate their code from.
pub fn allowed_methods() -> std::collections::HashMap<String, String> {
    ApiDoc::openapi()
        .paths
        .paths
        .into_iter()
        .map(|(path, item)| {
            let methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("HEAD", item.head.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
                ("OPTIONS", item.options.is_some()),
            ]
            .into_iter()
            .filter(|(_, has)| *has)
            .map(|(method, _)| method)
            .collect();
            (path, methods.join(", "))
        })
        .collect()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(docs_redirect)
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}

#[get("/docs")]
async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}
