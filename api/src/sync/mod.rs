//! Offline-first sync, the phone's adapter over the domain layer: [`push`] merges a device's
//! queued edits under the rules of [`crate::domain`], [`pull`] reads the change feed,
//! [`listener`] wakes the long polls. The synced collections themselves, their merge state
//! and how edits made outside sync join it are declared once in [`crate::domain::synced`].

pub mod listener;
pub mod pull;
pub mod push;
