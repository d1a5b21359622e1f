//! Reminder push jobs: due reminders become push jobs in PostgreSQL, delivered by workers.
//!
//! - [`scheduler`] turns each due occurrence of an open reminder into one job per active
//!   device (unique per occurrence and device) and moves repeating reminders on;
//! - [`queue`] claims jobs with `FOR UPDATE SKIP LOCKED` under a lease, and decides retries
//!   (exponential backoff with jitter, `Retry-After` honoured) and dead jobs;
//! - [`worker`] runs the loop: schedule, claim, send, record; it sleeps until the next
//!   known piece of work or the poll interval, and a `LISTEN carnet_push` connection wakes
//!   it early;
//! - [`providers`] sends: FCM, APNs, a signed webhook, or the log;
//! - [`readiness`] keeps each process's heartbeat (the providers it sends through) and
//!   finds the providers whose due jobs no live process can send.
//!
//! Delivery is at least once per (occurrence, device) and, short of a worker dying after
//! the provider accepted a push but before it recorded it, exactly once.

pub mod providers;
pub mod queue;
pub mod readiness;
pub mod scheduler;
pub mod worker;

pub use worker::{start, PushWorkers};
