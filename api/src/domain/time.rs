use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

use super::InvalidValue;

/// An IANA time zone name (`America/Montreal`, `Europe/Paris`), checked against the tz
/// database compiled into `chrono-tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(Tz);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.trim()
            .parse::<Tz>()
            .map(TimeZone)
            .map_err(|_| InvalidValue::new("unknown_timezone", format!("{raw:?} is not an IANA time zone")))
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// What a wall-clock time means in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalResolution {
    /// The usual case: one instant.
    Exact(DateTime<Utc>),
    /// The clocks went back and the time occurs twice (the autumn change).
    Ambiguous {
        first: DateTime<Utc>,
        second: DateTime<Utc>,
    },
    /// The clocks went forward over it (the spring change): it never happens.
    Gap,
}

/// The instant a local date-time denotes in `zone`.
///
/// The rule, for times the user types: a time that occurs twice means its *first*
/// occurrence (09:00 comes once on the day, and a reminder should not wait an extra hour);
/// a time that does not exist is refused with `nonexistent_local_time`, so the user picks
/// one that does rather than Carnet guessing.
pub fn resolve_local(local: NaiveDateTime, zone: TimeZone) -> Result<DateTime<Utc>, InvalidValue> {
    match classify(local, zone) {
        LocalResolution::Exact(at) | LocalResolution::Ambiguous { first: at, .. } => Ok(at),
        LocalResolution::Gap => Err(InvalidValue::new(
            "nonexistent_local_time",
            format!(
                "{} does not exist in {} (the clocks skip it that day)",
                local.format("%Y-%m-%dT%H:%M:%S"),
                zone.name()
            ),
        )),
    }
}

/// When a keep-in-touch reminder falls: `days` after `anchor` (the last interaction, or
/// now), at 09:00 local time in the user's zone. Should 09:00 not exist that day, the first
/// instant after the gap is used.
pub fn keep_in_touch_due(anchor: DateTime<Utc>, days: i32, zone: TimeZone) -> (NaiveDateTime, DateTime<Utc>) {
    let date = anchor.with_timezone(&zone.0).date_naive() + chrono::Duration::days(i64::from(days));
    let local = date.and_hms_opt(9, 0, 0).unwrap_or_default();
    let at = match classify(local, zone) {
        LocalResolution::Exact(at) | LocalResolution::Ambiguous { first: at, .. } => at,
        LocalResolution::Gap => {
            let later = local + chrono::Duration::hours(1);
            match classify(later, zone) {
                LocalResolution::Exact(at) | LocalResolution::Ambiguous { first: at, .. } => at,
                LocalResolution::Gap => anchor + chrono::Duration::days(i64::from(days)),
            }
        }
    };
    (local, at)
}

pub fn classify(local: NaiveDateTime, zone: TimeZone) -> LocalResolution {
    match zone.0.from_local_datetime(&local) {
        LocalResult::Single(at) => LocalResolution::Exact(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => LocalResolution::Ambiguous {
            first: a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
            second: a.with_timezone(&Utc).max(b.with_timezone(&Utc)),
        },
        LocalResult::None => LocalResolution::Gap,
    }
}

/// The first occurrence of a reminder repeating every `every` `unit` (days, weeks, months)
/// from `local` that falls after `after`, as (local time, instant). Months keep the day of
/// the month, clamped to the month's last day; a computed time the clocks skip moves to the
/// same wall-clock time one hour later (the first instant after the gap); a time that
/// occurs twice means its first occurrence. `None` for an unknown unit.
pub fn next_repeat_after(
    local: NaiveDateTime,
    every: i32,
    unit: &str,
    zone: TimeZone,
    after: DateTime<Utc>,
) -> Option<(NaiveDateTime, DateTime<Utc>)> {
    let n = u32::try_from(every).ok().filter(|n| *n > 0)?;
    let mut current = local;
    // Step past `after`, so a reminder that fires late does not leave occurrences due.
    for _ in 0..100_000 {
        let next = match unit {
            "days" => current.checked_add_signed(chrono::Duration::days(i64::from(n))),
            "weeks" => current.checked_add_signed(chrono::Duration::weeks(i64::from(n))),
            "months" => {
                local.checked_add_months(chrono::Months::new(n.checked_mul(steps(local, current, n))?))
            }
            _ => None,
        }?;
        current = next;
        let at = match classify(next, zone) {
            LocalResolution::Exact(at) | LocalResolution::Ambiguous { first: at, .. } => at,
            LocalResolution::Gap => match classify(next + chrono::Duration::hours(1), zone) {
                LocalResolution::Exact(at) | LocalResolution::Ambiguous { first: at, .. } => at,
                LocalResolution::Gap => next.and_utc(),
            },
        };
        if at > after {
            return Some((next, at));
        }
    }
    None
}

/// How many periods of `n` months separate `current` from `start`, plus one: months are
/// always counted from the original date so 31 January stays the month's end after February.
fn steps(start: NaiveDateTime, current: NaiveDateTime, n: u32) -> u32 {
    use chrono::Datelike;
    let months = (current.year() - start.year()) * 12 + current.month() as i32 - start.month() as i32;
    (months.max(0) as u32) / n + 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn nine_in_montreal_stays_nine_across_dst() {
        let zone = TimeZone::parse("America/Montreal").unwrap();
        let winter = resolve_local(local("2026-11-24T09:00:00"), zone).unwrap();
        let summer = resolve_local(local("2026-07-24T09:00:00"), zone).unwrap();
        assert_eq!(winter.to_rfc3339(), "2026-11-24T14:00:00+00:00");
        assert_eq!(summer.to_rfc3339(), "2026-07-24T13:00:00+00:00");
    }

    #[test]
    fn the_spring_gap_is_refused_and_the_autumn_fold_takes_the_first() {
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        let gap = resolve_local(local("2026-03-29T02:30:00"), paris).unwrap_err();
        assert_eq!(gap.code, "nonexistent_local_time");
        let fold = resolve_local(local("2026-10-25T02:30:00"), paris).unwrap();
        assert_eq!(fold.to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn repeats_step_past_now_and_keep_nine_across_dst() {
        let montreal = TimeZone::parse("America/Montreal").unwrap();
        let now = "2026-11-10T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let (local, at) = next_repeat_after(local("2026-10-27T09:00:00"), 1, "weeks", montreal, now).unwrap();
        assert_eq!(local, super::tests::local("2026-11-10T09:00:00"));
        assert_eq!(at.to_rfc3339(), "2026-11-10T14:00:00+00:00");
        let (local, _) = next_repeat_after(
            super::tests::local("2026-01-31T09:00:00"),
            1,
            "months",
            montreal,
            "2026-03-01T00:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(local, super::tests::local("2026-03-31T09:00:00"));
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        let (local, at) = next_repeat_after(
            super::tests::local("2026-03-28T02:30:00"),
            1,
            "days",
            paris,
            "2026-03-28T12:00:00Z".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(local, super::tests::local("2026-03-29T02:30:00"));
        assert_eq!(at.to_rfc3339(), "2026-03-29T01:30:00+00:00");
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert_eq!(
            TimeZone::parse("Mars/Olympus").unwrap_err().code,
            "unknown_timezone"
        );
    }
}
