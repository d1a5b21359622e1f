//! Black-box tests of Carnet over HTTP against a real PostgreSQL: one binary, a fresh
//! database per test cloned from a migrated template, tests in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bad_input;
mod calendar;
mod contacts;
mod devices;
mod errors;
mod events;
mod interactions;
mod interop;
mod me;
mod migrations;
mod operations;
mod organizer;
mod push;
mod reminders;
mod support;
mod sync;
mod write_path;
