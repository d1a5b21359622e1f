//! File formats people already use: vCard (2.1, 3.0, 4.0) and CSV, read and written.
//!
//! Pure conversions, no I/O and no database: readers turn an uploaded file into drafts
//! (one per card or row, or a per-record error, never an abort of the whole file), writers
//! turn rows into the bytes of one record at a time so exports can be streamed.
//! - [`vcard`]: reading with the `calcard` parser (folding, quoted-printable, charsets,
//!   escapes, groups, bare 2.1 types), writing vCard 3.0 with its writer.
//! - [`table`]: CSV reading with the `csv` crate: separator and BOM detection, header
//!   matching in English and French, case- and accent-insensitively.
//! - [`sheet`]: CSV writing, RFC 4180 or the Excel variant, with formula neutralisation.
//! - [`merge`]: how an imported contact is merged into one already there.

pub mod merge;
pub mod sheet;
pub mod table;
pub mod vcard;

/// Imports are read whole; a larger body is refused with 413.
pub const IMPORT_LIMIT: usize = 20 * 1024 * 1024;

/// A contact as read from a file, before the user's rules (E.164 phones, lower-cased
/// emails, tag shape) are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDraft {
    pub name: Option<String>,
    pub organization: Option<String>,
    pub job_title: Option<String>,
    pub city: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub links: Vec<String>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub how_we_met: Option<String>,
    pub first_met_on: Option<String>,
    pub they_brought: Option<String>,
    pub i_can_offer: Option<String>,
}

/// One record of a file that could not be used, or a value of it that was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// 1-based: the card's position in the file, or the CSV line (the header is line 1).
    pub record: usize,
    pub message: String,
}

/// The text of an uploaded file: a UTF-8 BOM is dropped; a file with a UTF-16 BOM (as
/// Outlook and Excel's "Unicode text" write) is read as UTF-16; other bytes that are not
/// UTF-8 are read as Windows-1252 (the superset of ISO-8859-1 that old exports really use).
pub fn decode_text(bytes: &[u8]) -> String {
    for (bom, encoding) in [
        (&b"\xFF\xFE"[..], encoding_rs::UTF_16LE),
        (&b"\xFE\xFF"[..], encoding_rs::UTF_16BE),
    ] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            return encoding.decode_without_bom_handling(rest).0.into_owned();
        }
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Where the first NUL character of a text is, as (line, column), both from 1. No field
/// may hold one: a file holding one is binary or damaged, so it is refused whole, with the
/// place, rather than read in part.
pub fn find_nul(text: &str) -> Option<(usize, usize)> {
    let at = text.find('\0')?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

/// What an uploaded file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Vcard,
    Csv,
}

/// The kind of file from its content type, else from its first bytes.
pub fn sniff(content_type: Option<&str>, text: &str) -> FileKind {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "text/vcard" | "text/x-vcard" | "text/directory" | "application/vcard" => FileKind::Vcard,
        "text/csv" | "application/csv" | "text/comma-separated-values" | "application/vnd.ms-excel" => {
            FileKind::Csv
        }
        _ => {
            let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if start.len() >= 11 && start[..11].eq_ignore_ascii_case("BEGIN:VCARD") {
                FileKind::Vcard
            } else {
                FileKind::Csv
            }
        }
    }
}

/// Lower-cases and strips accents and everything but letters and digits, so that
/// `Prénom`, `PRENOM` and `pré-nom` compare equal.
pub fn fold_key(raw: &str) -> String {
    raw.chars()
        .flat_map(char::to_lowercase)
        .map(strip_accent)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn latin1_bytes_are_read() {
        assert_eq!(decode_text(b"Caf\xe9"), "Café");
        assert_eq!(decode_text("\u{feff}Café".as_bytes()), "Café");
    }

    #[test]
    fn files_are_sniffed() {
        assert_eq!(sniff(None, "\u{feff}\r\nbegin:vcard\r\n"), FileKind::Vcard);
        assert_eq!(
            sniff(Some("text/csv; charset=utf-8"), "BEGIN:VCARD"),
            FileKind::Csv
        );
        assert_eq!(
            sniff(Some("application/octet-stream"), "name,email\n"),
            FileKind::Csv
        );
    }

    #[test]
    fn keys_fold_case_and_accents() {
        assert_eq!(fold_key(" Prénom "), "prenom");
        assert_eq!(fold_key("E-MAIL"), "email");
        assert_eq!(fold_key("Société"), "societe");
    }
}
