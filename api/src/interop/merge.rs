//! How imported contacts meet the ones already there.
//!
//! A draft read from a file is first put through the same rules as a contact typed in the
//! app (lower-cased emails, E.164 phones in the user's region, web links, tags); a value that
//! fails them is dropped and reported, and the rest of the card is kept. Then each contact is
//! matched, by any normalised email or phone, against the user's contacts and the ones the
//! same file created before it.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::ContactDraft;
use crate::domain::{optional_text, required_text, Email, Limits, Link, Phone, Region, Tag};
use crate::error::InvalidValue;

/// At most this many values per set, as for a contact typed in the app.
const MAX_SET: usize = 100;

/// The fields of a contact an import can write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactData {
    pub name: String,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub city: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub notes: String,
    pub how_we_met: String,
    pub first_met_on: Option<NaiveDate>,
    pub they_brought: String,
    pub i_can_offer: String,
}

fn push_unique(set: &mut Vec<String>, value: String) -> bool {
    if set.len() >= MAX_SET || set.iter().any(|v| v.eq_ignore_ascii_case(&value)) {
        return false;
    }
    set.push(value);
    true
}

/// Applies the contact rules to a draft; `Err` when no usable name is left. The second
/// value lists what was dropped.
pub fn normalise(draft: ContactDraft, region: Option<Region>) -> (Result<ContactData, String>, Vec<String>) {
    let mut dropped = Vec::new();
    let mut text = |field: &str, v: Option<String>, max: usize| -> Option<String> {
        match optional_text(v.as_deref().unwrap_or(""), max) {
            Ok(v) => v,
            Err(e) => {
                dropped.push(format!("{field}: {}", e.message));
                None
            }
        }
    };
    let organization = text("organization", draft.organization, Limits::SHORT);
    let job_title = text("job_title", draft.job_title, Limits::SHORT);
    let city = text("city", draft.city, Limits::SHORT);
    let notes = text("notes", draft.notes, Limits::LONG).unwrap_or_default();
    let how_we_met = text("how_we_met", draft.how_we_met, Limits::LONG).unwrap_or_default();
    let they_brought = text("they_brought", draft.they_brought, Limits::LONG).unwrap_or_default();
    let i_can_offer = text("i_can_offer", draft.i_can_offer, Limits::LONG).unwrap_or_default();
    let mut set = |field: &str, values: Vec<String>, parse: &dyn Fn(&str) -> Result<String, InvalidValue>| {
        let mut out = Vec::new();
        for raw in values {
            match parse(&raw) {
                Ok(v) => {
                    push_unique(&mut out, v);
                }
                Err(e) => dropped.push(format!("{field}: {}", e.message)),
            }
        }
        out
    };
    let emails = set("emails", draft.emails, &|s| {
        Email::parse(s).map(|e| e.lowercase())
    });
    let phones = set("phones", draft.phones, &|s| {
        Phone::parse(s, region).map(Phone::into_inner)
    });
    let links = set("links", draft.links, &|s| Link::parse(s).map(Link::into_inner));
    let tags = set("tags", draft.tags, &|s| Tag::parse(s).map(Tag::into_inner));
    let first_met_on =
        draft
            .first_met_on
            .and_then(|d| match NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    dropped.push(format!("first_met_on: {d:?} is not a date such as 2026-11-24"));
                    None
                }
            });
    // A name too long for Carnet is cut rather than losing the whole card.
    let name = draft
        .name
        .map(|n| n.trim().chars().take(Limits::NAME).collect::<String>())
        .unwrap_or_default();
    let name = required_text(&name, Limits::NAME).map_err(|e| format!("name: {}", e.message));
    (
        name.map(|name| ContactData {
            name,
            organization,
            job_title,
            city,
            emails,
            phones,
            links,
            tags,
            notes,
            how_we_met,
            first_met_on,
            they_brought,
            i_can_offer,
        }),
        dropped,
    )
}

impl ContactData {
    /// Merges `other` into `self`: sets (emails, phones, links, tags) gain the values they
    /// lack; a text field or date is filled only when empty. What the user already wrote is
    /// never overwritten, so importing the same file twice changes nothing the second time.
    /// Answers whether anything changed.
    pub fn absorb(&mut self, other: &ContactData) -> bool {
        let mut changed = false;
        for (mine, theirs) in [
            (&mut self.emails, &other.emails),
            (&mut self.phones, &other.phones),
            (&mut self.links, &other.links),
            (&mut self.tags, &other.tags),
        ] {
            for v in theirs {
                changed |= push_unique(mine, v.clone());
            }
        }
        for (mine, theirs) in [
            (&mut self.organization, &other.organization),
            (&mut self.job_title, &other.job_title),
            (&mut self.city, &other.city),
        ] {
            if mine.is_none() && theirs.is_some() {
                *mine = theirs.clone();
                changed = true;
            }
        }
        for (mine, theirs) in [
            (&mut self.notes, &other.notes),
            (&mut self.how_we_met, &other.how_we_met),
            (&mut self.they_brought, &other.they_brought),
            (&mut self.i_can_offer, &other.i_can_offer),
        ] {
            if mine.is_empty() && !theirs.is_empty() {
                mine.clone_from(theirs);
                changed = true;
            }
        }
        if self.first_met_on.is_none() && other.first_met_on.is_some() {
            self.first_met_on = other.first_met_on;
            changed = true;
        }
        changed
    }

    fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.emails
            .iter()
            .map(|e| format!("e:{}", e.to_lowercase()))
            .chain(self.phones.iter().map(|p| format!("p:{p}")))
    }
}

/// What happened to one imported contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Merged,
    Unchanged,
}

/// A contact the import leaves behind, and whether it must be written.
#[derive(Debug)]
pub struct Slot<Id> {
    /// `None` for a contact this import creates.
    pub existing: Option<Id>,
    pub data: ContactData,
    pub changed: bool,
}

/// The user's contacts, found by normalised email or phone, with the ones an import adds.
#[derive(Debug)]
pub struct Book<Id> {
    pub slots: Vec<Slot<Id>>,
    by_key: HashMap<String, usize>,
}

impl<Id> Book<Id> {
    pub fn new(existing: impl IntoIterator<Item = (Id, ContactData)>) -> Self {
        let mut book = Book {
            slots: Vec::new(),
            by_key: HashMap::new(),
        };
        for (id, data) in existing {
            book.insert(Some(id), data, false);
        }
        book
    }

    fn insert(&mut self, existing: Option<Id>, data: ContactData, changed: bool) -> usize {
        let i = self.slots.len();
        for key in data.keys() {
            self.by_key.entry(key).or_insert(i);
        }
        self.slots.push(Slot {
            existing,
            data,
            changed,
        });
        i
    }

    /// Adds an imported contact: merged into the first contact sharing an email or a phone,
    /// else created.
    pub fn add(&mut self, data: ContactData) -> Outcome {
        let found = data.keys().find_map(|k| self.by_key.get(&k).copied());
        match found {
            Some(i) => {
                let slot = &mut self.slots[i];
                if !slot.data.absorb(&data) {
                    return Outcome::Unchanged;
                }
                slot.changed = true;
                let keys: Vec<String> = slot.data.keys().collect();
                for key in keys {
                    self.by_key.entry(key).or_insert(i);
                }
                Outcome::Merged
            }
            None => {
                self.insert(None, data, true);
                Outcome::Created
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn data(name: &str, emails: &[&str], phones: &[&str]) -> ContactData {
        ContactData {
            name: name.into(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            phones: phones.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn same_email_or_phone_merges_and_twice_changes_nothing() {
        let mut book = Book::new([(1, data("Lise", &["lise@example.org"], &[]))]);
        let mut more = data("Lise C.", &["LISE@example.org"], &["+33612345678"]);
        more.city = Some("Lyon".into());
        assert_eq!(book.add(more.clone()), Outcome::Merged);
        assert_eq!(book.add(more), Outcome::Unchanged);
        assert_eq!(book.add(data("Lise", &[], &["+33612345678"])), Outcome::Unchanged);
        assert_eq!(
            book.add(data("Nicolas", &[], &["+33611111111"])),
            Outcome::Created
        );
        assert_eq!(book.slots.len(), 2);
        assert_eq!(book.slots[0].data.name, "Lise");
        assert_eq!(book.slots[0].data.city.as_deref(), Some("Lyon"));
    }

    #[test]
    fn bad_values_are_dropped_not_the_card() {
        let fr = Region::parse("FR").ok();
        let (c, dropped) = normalise(
            ContactDraft {
                name: Some(" Lise ".into()),
                emails: vec!["not-an-email".into(), "Lise@Example.org".into()],
                phones: vec!["06 12 34 56 78".into(), "12".into()],
                ..Default::default()
            },
            fr,
        );
        let c = c.unwrap();
        assert_eq!(c.emails, vec!["lise@example.org"]);
        assert_eq!(c.phones, vec!["+33612345678"]);
        assert_eq!(dropped.len(), 2);
    }
}
