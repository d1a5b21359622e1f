//! The development provider: writes the push to the log and calls it delivered.

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::{Outcome, Provider, Push};

pub struct Log;

impl Provider for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, push: Push<'a>) -> BoxFuture<'a, Outcome> {
        tracing::info!(
            job_id = push.job_id,
            device_id = %push.device_id,
            title = push.text("title"),
            body = push.text("body"),
            "push (log provider: nothing sent)"
        );
        async { Outcome::Delivered }.boxed()
    }
}
