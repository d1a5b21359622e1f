//! The domain layer: parsed values and the product's rules.
//!
//! - Parsed input types (`Email`, `Phone`, `Link`, `Tag`, texts, time zones): once a value has
//!   one of these types it is valid, so nothing unchecked reaches the database. Each `parse`
//!   returns [`InvalidValue`] with a stable code.
//! - One module per entity whose rules both the REST API and sync push obey
//!   ([`attendances`], [`contacts`], [`reminders`], and the closed lists in [`choices`]):
//!   who may change what, limits, and side effects (last contact, keep-in-touch, waitlist,
//!   check-in). Routes and sync call these; these call the data layer (`crate::db`), never
//!   the other way round.

pub mod attendances;
pub mod choices;
mod code;
pub mod contacts;
mod email;
pub mod events;
mod link;
mod phone;
pub mod profile;
pub mod reminders;
pub mod synced;
mod tags;
mod text;
mod time;

pub use code::{new_checkin_code, new_join_code, CODE_ALPHABET, JOIN_CODE_LEN};
pub use email::{login_key, Email};
pub use link::Link;
pub use phone::{Phone, Region};
pub use tags::Tag;
pub use text::{check_long_text, nul_paths, optional_text, required_text, Limits};
pub use time::{keep_in_touch_due, next_repeat_after, resolve_local, LocalResolution, TimeZone};

pub use crate::error::InvalidValue;

/// Parses every element of `values`, naming a failing element `field[i]`, and drops
/// duplicates by the element's normalised form (the first spelling is kept).
pub fn parse_set<T, F>(
    errors: &mut crate::error::FieldErrors,
    field: &str,
    values: &[String],
    max_len: usize,
    parse: F,
) -> Option<Vec<T>>
where
    T: AsRef<str>,
    F: Fn(&str) -> Result<T, InvalidValue>,
{
    if values.len() > max_len {
        errors.add(field, "too_many", format!("at most {max_len} values"));
        return None;
    }
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    let mut ok = true;
    for (i, raw) in values.iter().enumerate() {
        match parse(raw) {
            Ok(v) => {
                if !out
                    .iter()
                    .any(|seen| seen.as_ref().eq_ignore_ascii_case(v.as_ref()))
                {
                    out.push(v);
                }
            }
            Err(e) => {
                ok = false;
                errors.add(format!("{field}[{i}]"), e.code, e.message);
            }
        }
    }
    ok.then_some(out)
}
