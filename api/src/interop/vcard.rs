//! vCard reading (2.1, 3.0, 4.0) and writing (3.0).
//!
//! Reading uses the `calcard` parser, which unfolds lines (CRLF or LF, space or tab),
//! decodes `QUOTED-PRINTABLE` (soft line breaks included) and `BASE64`, applies `CHARSET`
//! (ISO-8859-1 and the others), unescapes `\,` `\;` `\n`, splits `item1.` groups and reads
//! bare 2.1 types (`TEL;CELL;VOICE:`). On top of it this module decides what a Carnet
//! contact takes from a card.

use std::collections::HashMap;

use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty, VCardType,
    VCardValue, VCardVersion,
};
use calcard::{Entry, Parser};

use super::{ContactDraft, RecordError};

/// Carnet's own fields, so that an export imports back whole.
const X_HOW_WE_MET: &str = "X-CARNET-HOW-WE-MET";
const X_THEY_BROUGHT: &str = "X-CARNET-THEY-BROUGHT";
const X_I_CAN_OFFER: &str = "X-CARNET-I-CAN-OFFER";
const X_FIRST_MET_ON: &str = "X-CARNET-FIRST-MET-ON";

/// Whether `text` holds a card at all (a `BEGIN:VCARD`, in any case, anywhere), so that
/// something else sent as a vCard (JSON by mistake, say) is refused rather than read as
/// an empty address book.
pub fn holds_a_card(text: &str) -> bool {
    text.as_bytes()
        .windows(11)
        .any(|w| w.eq_ignore_ascii_case(b"BEGIN:VCARD"))
}

/// Reads every card of `text`: one draft per card, or an error naming the card.
pub fn read(text: &str) -> Vec<Result<ContactDraft, RecordError>> {
    let mut out = Vec::new();
    let mut parser = Parser::new(text);
    loop {
        let record = out.len() + 1;
        match parser.entry() {
            Entry::VCard(card) => out.push(draft(&card).ok_or_else(|| RecordError {
                record,
                message: "the card has no name, organization or email".into(),
            })),
            Entry::Eof => break,
            Entry::ICalendar(_) => out.push(Err(RecordError {
                record,
                message: "a calendar, not a contact card".into(),
            })),
            Entry::UnterminatedComponent(_) => {
                out.push(Err(RecordError {
                    record,
                    message: "the card has no END:VCARD".into(),
                }));
                break;
            }
            Entry::TooManyComponents => {
                out.push(Err(RecordError {
                    record,
                    message: "too many nested components".into(),
                }));
                break;
            }
            // Stray lines between cards are not cards: nothing to report.
            _ => {}
        }
    }
    out
}

fn text_of(value: &VCardValue) -> Option<String> {
    match value {
        VCardValue::Component(parts) => Some(parts.join(", ")),
        VCardValue::Binary(_) => None,
        other => other.as_text().map(str::to_string),
    }
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
}

fn first_text(entry: &VCardEntry) -> Option<String> {
    entry.values.iter().find_map(text_of)
}

fn component(entry: &VCardEntry, i: usize) -> Option<String> {
    entry.values.get(i).and_then(text_of)
}

/// `mailto:`, `tel:`, `x-apple:` and the like prefix some values.
fn strip_scheme<'a>(value: &'a str, schemes: &[&str]) -> &'a str {
    for scheme in schemes {
        if value.len() > scheme.len() && value[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return value[scheme.len()..].trim();
        }
    }
    value
}

fn name_is(entry: &VCardEntry, name: &str) -> bool {
    matches!(&entry.name, VCardProperty::Other(n) if n.eq_ignore_ascii_case(name))
}

/// The `TYPE` values of a property, lower-cased, in every spelling (`TYPE=CELL,VOICE`,
/// `type=CELL;type=pref`, bare `CELL`, `PREF=1`).
pub fn types(entry: &VCardEntry) -> Vec<String> {
    let mut out = Vec::new();
    for p in &entry.params {
        match (&p.name, &p.value) {
            (VCardParameterName::Type, value) => {
                if let Some(t) = value.as_text() {
                    out.extend(t.split(',').map(|t| t.trim().to_ascii_lowercase()));
                }
            }
            (VCardParameterName::Pref, _) => out.push("pref".into()),
            (VCardParameterName::Other(name), VCardParameterValue::Null) => {
                out.push(name.to_ascii_lowercase())
            }
            _ => {}
        }
    }
    out
}

fn param_text(entry: &VCardEntry, name: &str) -> Option<String> {
    entry.params.iter().find_map(|p| match &p.name {
        VCardParameterName::Other(n) if n.eq_ignore_ascii_case(name) => p.value.as_text().map(str::to_string),
        _ => None,
    })
}

/// A social profile as a web link: the value when it is one, else a link built from the
/// `x-user` name for the networks Carnet knows.
fn social_link(entry: &VCardEntry) -> Option<String> {
    let value = first_text(entry).map(|v| strip_scheme(&v, &["x-apple:"]).to_string());
    if let Some(v) = &value {
        if v.contains('.') && !v.contains(' ') {
            return Some(v.clone());
        }
    }
    let user = param_text(entry, "x-user").or(value)?;
    let user = user.trim_start_matches('@');
    let kind = types(entry);
    let base = if kind.iter().any(|t| t == "twitter" || t == "x") {
        "https://x.com/"
    } else if kind.iter().any(|t| t == "linkedin") {
        "https://www.linkedin.com/in/"
    } else if kind.iter().any(|t| t == "facebook") {
        "https://www.facebook.com/"
    } else {
        return None;
    };
    Some(format!("{base}{user}"))
}

/// A name from `N` (family; given; additional; prefixes; suffixes).
fn name_from_n(entry: &VCardEntry) -> Option<String> {
    let parts = [3, 1, 2, 0, 4]
        .iter()
        .filter_map(|&i| component(entry, i))
        .collect::<Vec<_>>();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn push_line(notes: &mut Option<String>, line: String) {
    match notes {
        Some(n) if !n.is_empty() => {
            n.push('\n');
            n.push_str(&line);
        }
        _ => *notes = Some(line),
    }
}

/// What a Carnet contact takes from a card; `None` when nothing names the person.
fn draft(card: &VCard) -> Option<ContactDraft> {
    // `item1.X-ABLabel:LinkedIn` labels the other properties of group `item1`.
    let labels: HashMap<String, String> = card
        .entries
        .iter()
        .filter(|e| name_is(e, "X-ABLABEL"))
        .filter_map(|e| {
            Some((
                e.group.as_ref()?.to_ascii_lowercase(),
                first_text(e)?.to_lowercase(),
            ))
        })
        .collect();
    let mut d = ContactDraft::default();
    let mut n_name = None;
    let mut messaging = Vec::new();
    for e in &card.entries {
        let label = e.group.as_ref().and_then(|g| labels.get(&g.to_ascii_lowercase()));
        match &e.name {
            VCardProperty::Fn => d.name = d.name.take().or_else(|| first_text(e)),
            VCardProperty::N => n_name = n_name.or_else(|| name_from_n(e)),
            VCardProperty::Org => {
                let parts: Vec<String> = e.values.iter().filter_map(text_of).collect();
                if d.organization.is_none() && !parts.is_empty() {
                    d.organization = Some(parts.join(", "));
                }
            }
            VCardProperty::Title => d.job_title = d.job_title.take().or_else(|| first_text(e)),
            VCardProperty::Adr => d.city = d.city.take().or_else(|| component(e, 3)),
            VCardProperty::Tel => {
                if let Some(v) = first_text(e) {
                    d.phones.push(strip_scheme(&v, &["tel:"]).to_string());
                }
            }
            VCardProperty::Email => {
                if let Some(v) = first_text(e) {
                    d.emails.push(strip_scheme(&v, &["mailto:"]).to_string());
                }
            }
            VCardProperty::Url => {
                if let Some(v) = e.values.first().and_then(|v| v.clone().into_uri()) {
                    d.links.push(v.trim().to_string());
                }
            }
            VCardProperty::Impp => {
                if let Some(v) = e.values.first().and_then(|v| v.clone().into_uri()) {
                    let v = v.trim().to_string();
                    if v.starts_with("http://") || v.starts_with("https://") {
                        d.links.push(v);
                    } else if !v.is_empty() {
                        messaging.push(v);
                    }
                }
            }
            VCardProperty::Categories => d.tags.extend(e.values.iter().filter_map(text_of)),
            VCardProperty::Note => {
                if let Some(v) = first_text(e) {
                    push_line(&mut d.notes, v);
                }
            }
            VCardProperty::Other(_) if name_is(e, "X-SOCIALPROFILE") => {
                if let Some(link) = social_link(e) {
                    d.links.push(link);
                }
            }
            VCardProperty::Other(_) if name_is(e, X_HOW_WE_MET) => d.how_we_met = first_text(e),
            VCardProperty::Other(_) if name_is(e, X_THEY_BROUGHT) => d.they_brought = first_text(e),
            VCardProperty::Other(_) if name_is(e, X_I_CAN_OFFER) => d.i_can_offer = first_text(e),
            VCardProperty::Other(_) if name_is(e, X_FIRST_MET_ON) => d.first_met_on = first_text(e),
            VCardProperty::Other(_) if !name_is(e, "X-ABLABEL") => {
                // A grouped value labelled as a web profile (`item2.X-CUSTOM` + `LinkedIn`).
                let is_web = label.is_some_and(|l| {
                    [
                        "linkedin", "twitter", "facebook", "blog", "site", "web", "homepage",
                    ]
                    .iter()
                    .any(|w| l.contains(w))
                });
                if is_web {
                    if let Some(v) = first_text(e) {
                        d.links.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    if !messaging.is_empty() {
        push_line(&mut d.notes, format!("IM: {}", messaging.join(", ")));
    }
    d.name = d
        .name
        .or(n_name)
        .or_else(|| d.organization.clone())
        .or_else(|| d.emails.first().cloned());
    d.name.is_some().then_some(d)
}

/// A contact as Carnet holds it, for writing.
#[derive(Debug, Default)]
pub struct CardFields<'a> {
    pub name: &'a str,
    pub organization: Option<&'a str>,
    pub job_title: Option<&'a str>,
    pub city: Option<&'a str>,
    pub emails: &'a [String],
    pub phones: &'a [String],
    pub links: &'a [String],
    pub tags: &'a [String],
    pub notes: Option<&'a str>,
    pub how_we_met: Option<&'a str>,
    pub first_met_on: Option<String>,
    pub they_brought: Option<&'a str>,
    pub i_can_offer: Option<&'a str>,
    pub uid: Option<String>,
}

fn entry(name: VCardProperty, value: &str) -> VCardEntry {
    VCardEntry::new(name).with_value(value.to_string())
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// One vCard 3.0 (`BEGIN:VCARD` to `END:VCARD`, CRLF, folded at 75 octets).
pub fn write(fields: &CardFields<'_>) -> String {
    let mut entries = Vec::new();
    entries.push(entry(VCardProperty::Fn, fields.name));
    // N is required in 3.0: the last word as the family name, the rest as given names.
    let (given, family) = match fields.name.trim().rsplit_once(' ') {
        Some((given, family)) => (given.trim(), family),
        None => ("", fields.name.trim()),
    };
    entries.push(VCardEntry::new(VCardProperty::N).with_values(vec![
        VCardValue::Text(family.to_string()),
        VCardValue::Text(given.to_string()),
        VCardValue::Text(String::new()),
        VCardValue::Text(String::new()),
        VCardValue::Text(String::new()),
    ]));
    if let Some(org) = nonempty(fields.organization) {
        entries.push(entry(VCardProperty::Org, org));
    }
    if let Some(title) = nonempty(fields.job_title) {
        entries.push(entry(VCardProperty::Title, title));
    }
    for email in fields.emails {
        entries.push(
            entry(VCardProperty::Email, email)
                .with_param(VCardParameter::typ(VCardParameterValue::Text("INTERNET".into()))),
        );
    }
    for phone in fields.phones {
        entries.push(entry(VCardProperty::Tel, phone).with_param(VCardParameter::typ(VCardType::Voice)));
    }
    if let Some(city) = nonempty(fields.city) {
        entries.push(
            VCardEntry::new(VCardProperty::Adr).with_values(
                ["", "", "", city, "", "", ""]
                    .iter()
                    .map(|s| VCardValue::Text(s.to_string()))
                    .collect(),
            ),
        );
    }
    for link in fields.links {
        entries.push(entry(VCardProperty::Url, link));
    }
    if !fields.tags.is_empty() {
        entries.push(
            VCardEntry::new(VCardProperty::Categories)
                .with_values(fields.tags.iter().map(|t| VCardValue::Text(t.clone())).collect()),
        );
    }
    if let Some(notes) = nonempty(fields.notes) {
        entries.push(entry(VCardProperty::Note, notes));
    }
    let extra = [
        (X_HOW_WE_MET, fields.how_we_met),
        (X_FIRST_MET_ON, fields.first_met_on.as_deref()),
        (X_THEY_BROUGHT, fields.they_brought),
        (X_I_CAN_OFFER, fields.i_can_offer),
    ];
    for (name, value) in extra {
        if let Some(value) = nonempty(value) {
            entries.push(entry(VCardProperty::Other(name.into()), value));
        }
    }
    if let Some(uid) = &fields.uid {
        entries.push(entry(VCardProperty::Uid, uid));
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = VCard { entries }.write_to(&mut out, VCardVersion::V3_0);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn one(text: &str) -> ContactDraft {
        let mut all = read(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0).unwrap()
    }

    #[test]
    fn quoted_printable_latin1_and_soft_breaks() {
        let d = one(concat!(
            "BEGIN:VCARD\r\nVERSION:2.1\r\n",
            "N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:Cardinal;L=E9a\r\n",
            "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Rencontr=C3=A9e =C3=A0 l'ap=C3=A9=\r\n",
            "ro\r\n",
            "TEL;CELL;VOICE:06 12 34 56 78\r\n",
            "END:VCARD\r\n"
        ));
        assert_eq!(d.name.as_deref(), Some("Léa Cardinal"));
        assert_eq!(d.notes.as_deref(), Some("Rencontrée à l'apéro"));
        assert_eq!(d.phones, vec!["06 12 34 56 78"]);
    }

    #[test]
    fn folding_escapes_groups_and_social_profiles() {
        let d = one(concat!(
            "BEGIN:VCARD\nVERSION:3.0\nFN:Nicolas\n  Dupont\n",
            "ORG:Coop\\, du Coin;Ventes\n",
            "item1.URL:https://blog.example.org\nitem1.X-ABLabel:_$!<HomePage>!$_\n",
            "X-SOCIALPROFILE;type=twitter;x-user=nico:x-apple:nico\n",
            "CATEGORIES:Apéro,Réseau\n",
            "ADR;TYPE=WORK:;;1 rue X;Lyon;;69001;France\n",
            "END:VCARD\n"
        ));
        assert_eq!(d.name.as_deref(), Some("Nicolas Dupont"));
        assert_eq!(d.organization.as_deref(), Some("Coop, du Coin, Ventes"));
        assert_eq!(d.links, vec!["https://blog.example.org", "https://x.com/nico"]);
        assert_eq!(d.tags, vec!["Apéro", "Réseau"]);
        assert_eq!(d.city.as_deref(), Some("Lyon"));
    }

    #[test]
    fn written_cards_read_back() {
        let emails = vec!["lise@example.org".to_string()];
        let tags = vec!["a, b".to_string(), "c".to_string()];
        let text = write(&CardFields {
            name: "Lise Cardinal",
            organization: Some("Coop; du Coin"),
            emails: &emails,
            tags: &tags,
            notes: Some("line one\nline two, with; marks"),
            ..Default::default()
        });
        let d = one(&text);
        assert_eq!(d.name.as_deref(), Some("Lise Cardinal"));
        assert_eq!(d.organization.as_deref(), Some("Coop; du Coin"));
        assert_eq!(d.notes.as_deref(), Some("line one\nline two, with; marks"));
        assert_eq!(d.emails, emails);
        assert_eq!(d.tags, tags);
    }
}
