//! VTIMEZONE components computed from the tz database compiled into `chrono-tz`.
//!
//! Rather than recurrence rules (which the tz database does not state), each component lists
//! the actual offset changes of the years the feed covers, one STANDARD or DAYLIGHT
//! observance per change, after an opening observance giving the offset in force at the
//! start of the first of those years. A zone without changes in those years (no DST, say)
//! gets that single STANDARD observance.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone as _, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

use super::writer::{local_time, Writer};

/// Years outside this range are not described (no event of a real calendar lies there),
/// which bounds the work a feed can ask for.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// The offset in force at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observance {
    /// Seconds east of UTC, DST included.
    pub offset: i32,
    pub dst: bool,
    pub name: Option<String>,
}

/// An offset change: from `at` on, `to` replaces `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub from: Observance,
    pub to: Observance,
}

fn observance(tz: Tz, at: DateTime<Utc>) -> Observance {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc());
    Observance {
        offset: offset.fix().local_minus_utc(),
        dst: !offset.dst_offset().is_zero(),
        name: offset.abbreviation().map(str::to_owned),
    }
}

fn new_year(year: i32) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The first instant in `(lo, hi]` where the observance is `target`, knowing it is so at
/// `hi` and not at `lo`.
fn change_between(tz: Tz, lo: DateTime<Utc>, hi: DateTime<Utc>, before: &Observance) -> DateTime<Utc> {
    // Changes fall on whole seconds: bisect over Unix seconds.
    let (mut lo, mut hi) = (lo.timestamp(), hi.timestamp());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match DateTime::from_timestamp(mid, 0) {
            Some(at) if observance(tz, at) == *before => lo = mid,
            _ => hi = mid,
        }
    }
    DateTime::from_timestamp(hi, 0).unwrap_or_default()
}

/// The observance in force at the start of the first year of `years` and the changes in
/// the (UTC) calendar years listed, in order. Between two runs of consecutive years, a
/// change of offset appears as a transition at the start of the later run.
pub fn transitions(tz: Tz, years: &BTreeSet<i32>) -> Option<(DateTime<Utc>, Observance, Vec<Transition>)> {
    let years: Vec<i32> = years.iter().copied().filter(|y| YEARS.contains(y)).collect();
    let first_start = new_year(*years.first()?)?;
    let base = observance(tz, first_start);
    let mut changes = Vec::new();
    let mut previous_end: Option<Observance> = None;
    let mut i = 0;
    while i < years.len() {
        let mut j = i;
        while j + 1 < years.len() && years[j + 1] == years[j] + 1 {
            j += 1;
        }
        let (Some(start), Some(end)) = (new_year(years[i]), new_year(years[j] + 1)) else {
            break;
        };
        let mut state = observance(tz, start);
        if let Some(before) = previous_end.take() {
            if before != state {
                changes.push(Transition {
                    at: start,
                    from: before,
                    to: state.clone(),
                });
            }
        }
        // The tz database has no two changes within a day of each other in the years
        // calendars use, so a daily step finds each change, then a bisection its second.
        let mut t = start;
        while t < end {
            let next = t + Duration::days(1);
            let after = observance(tz, next);
            if after != state {
                let at = change_between(tz, t, next, &state);
                changes.push(Transition {
                    at,
                    from: state,
                    to: after.clone(),
                });
                state = after;
            }
            t = next;
        }
        previous_end = Some(state);
        i = j + 1;
    }
    Some((first_start, base, changes))
}

/// `+HHMM`, or `+HHMMSS` for the odd historical offset; UTC is `+0000` (RFC 5545 forbids
/// `-0000`).
pub fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s / 60) % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

fn write_observance(w: &mut Writer, onset_local: &str, from: &Observance, to: &Observance) {
    let kind = if to.dst { "DAYLIGHT" } else { "STANDARD" };
    w.begin(kind);
    w.raw("DTSTART", &[], onset_local);
    w.raw("TZOFFSETFROM", &[], &utc_offset(from.offset));
    w.raw("TZOFFSETTO", &[], &utc_offset(to.offset));
    if let Some(name) = &to.name {
        w.text("TZNAME", name);
    }
    w.end(kind);
}

/// Writes the VTIMEZONE of `tz` for the (UTC) calendar years listed.
pub fn write_vtimezone(w: &mut Writer, tz: Tz, years: &BTreeSet<i32>) {
    let Some((start, base, changes)) = transitions(tz, years) else {
        return;
    };
    w.begin("VTIMEZONE");
    w.raw("TZID", &[], tz.name());
    w.raw("X-LIC-LOCATION", &[], tz.name());
    let onset =
        |at: DateTime<Utc>, offset: i32| local_time(at.naive_utc() + Duration::seconds(offset.into()));
    write_observance(w, &onset(start, base.offset), &base, &base);
    for change in &changes {
        // An onset is the wall-clock time just before the change (RFC 5545 3.6.5).
        write_observance(w, &onset(change.at, change.from.offset), &change.from, &change.to);
    }
    w.end("VTIMEZONE");
}

/// The years an instant needs described: its own and the one before, whose last change
/// may still be in force.
pub fn years_around(at: DateTime<Utc>, years: &mut BTreeSet<i32>) {
    years.insert(at.year() - 1);
    years.insert(at.year());
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn years(list: &[i32]) -> BTreeSet<i32> {
        list.iter().copied().collect()
    }

    #[test]
    fn montreal_changes_at_two_in_the_morning_local() {
        let (_, base, changes) = transitions(chrono_tz::America::Montreal, &years(&[2026])).unwrap();
        assert_eq!((base.offset, base.dst), (-5 * 3600, false));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].at.to_rfc3339(), "2026-03-08T07:00:00+00:00");
        assert_eq!((changes[0].to.offset, changes[0].to.dst), (-4 * 3600, true));
        assert_eq!(changes[1].at.to_rfc3339(), "2026-11-01T06:00:00+00:00");
        assert_eq!(changes[1].to.offset, -5 * 3600);
    }

    #[test]
    fn a_zone_without_dst_has_one_standard_observance() {
        let mut w = Writer::new();
        write_vtimezone(&mut w, chrono_tz::Asia::Tokyo, &years(&[2025, 2026]));
        let text = w.finish();
        assert_eq!(text.matches("BEGIN:STANDARD").count(), 1, "{text}");
        assert!(!text.contains("DAYLIGHT"));
        assert!(
            text.contains("TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\n"),
            "{text}"
        );
    }

    #[test]
    fn a_change_between_two_runs_of_years_starts_the_later_run() {
        // São Paulo kept DST until February 2019: summer time at the end of 2018, none in 2024.
        let (_, _, changes) =
            transitions(chrono_tz::America::Sao_Paulo, &years(&[2017, 2018, 2024])).unwrap();
        let last = changes.last().unwrap();
        assert_eq!(last.at.to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!((last.from.offset, last.from.dst), (-2 * 3600, true));
        assert_eq!((last.to.offset, last.to.dst), (-3 * 3600, false));
        assert!(changes.iter().all(|c| c.at.year() <= 2018 || c == last));
    }

    #[test]
    fn offsets_are_formatted_per_rfc_5545() {
        assert_eq!(utc_offset(0), "+0000");
        assert_eq!(utc_offset(-5 * 3600), "-0500");
        assert_eq!(utc_offset(5 * 3600 + 45 * 60), "+0545");
        assert_eq!(utc_offset(-(4 * 3600 + 56 * 60 + 2)), "-045602");
    }
}
