//! The queue's decisions: how long to wait before a retry, and what an attempt's outcome
//! does to its job. The SQL is in [`crate::db::push_jobs`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::providers::Outcome;
use crate::config::PushSettings;
use crate::db::push_jobs::JobEnd;

/// The longest `Retry-After` honoured.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(86_400);

/// The delay before attempt `attempts + 1`: `base * 2^(attempts - 1)`, capped at `max`, then
/// scaled by a random factor in [0.5, 1] so jobs failed together do not retry together. A
/// provider's `Retry-After` is a floor, honoured up to a day even beyond `max`.
pub fn backoff(settings: &PushSettings, attempts: i32, retry_after: Option<Duration>) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let raw = settings
        .backoff_base
        .checked_mul(1u32 << exponent)
        .unwrap_or(settings.backoff_max)
        .min(settings.backoff_max);
    let jittered = raw.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    match retry_after {
        Some(after) => jittered.max(after.min(RETRY_AFTER_MAX)),
        None => jittered,
    }
}

/// What the queue records for an attempt that ended with `outcome`, the job having had
/// `attempts` attempts (this one included).
pub fn job_end(settings: &PushSettings, outcome: &Outcome, attempts: i32, now: DateTime<Utc>) -> JobEnd {
    match outcome {
        Outcome::Delivered => JobEnd::Delivered,
        Outcome::Retry { error, .. } if attempts >= settings.max_attempts => JobEnd::Dead {
            error: format!("after {attempts} attempts: {error}"),
        },
        Outcome::Retry { error, retry_after } => {
            let wait = backoff(settings, attempts, *retry_after);
            JobEnd::Retry {
                at: now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1)),
                error: error.clone(),
            }
        }
        Outcome::InvalidToken { error } => JobEnd::Dropped { error: error.clone() },
        Outcome::Failed { error } => JobEnd::Dead { error: error.clone() },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> PushSettings {
        crate::config::Settings::from_lookup(|_| None).unwrap().push
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let s = settings();
        for attempts in 1..=6 {
            let full = s.backoff_base * (1 << (attempts - 1));
            let d = backoff(&s, attempts, None);
            assert!(d <= full && d >= full / 2, "attempt {attempts}: {d:?}");
        }
        assert!(backoff(&s, 40, None) <= s.backoff_max);
    }

    #[test]
    fn retry_after_is_a_floor_and_the_last_attempt_is_dead() {
        let s = settings();
        let d = backoff(&s, 1, Some(Duration::from_secs(120)));
        assert!(d >= Duration::from_secs(120));
        let retry = Outcome::Retry {
            error: "503".into(),
            retry_after: None,
        };
        assert!(matches!(
            job_end(&s, &retry, s.max_attempts, Utc::now()),
            JobEnd::Dead { .. }
        ));
        assert!(matches!(job_end(&s, &retry, 1, Utc::now()), JobEnd::Retry { .. }));
    }
}
