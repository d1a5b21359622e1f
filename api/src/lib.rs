//! Carnet: the backend of a mobile companion for people who build their network in person.
//!
//! The crate is laid out by concern: [`config`] reads the environment once, [`startup`]
//! builds the HTTP application, [`routes`] holds one module per resource with thin handlers,
//! [`domain`] holds the parsed input types,
//! [`calendar`] renders the iCalendar feed, [`db`] owns every SQL query, [`auth`] the tokens
//! and the [`auth::AuthUser`] extractor, and [`error`] the one mapping from failures to
//! `application/problem+json` answers.

pub mod auth;
pub mod calendar;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod housekeeping;
pub mod http_layer;
pub mod input;
pub mod interop;
pub mod jobs;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod sync;
pub mod telemetry;
