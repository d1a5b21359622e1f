//! RFC 5545 content lines: escaping of TEXT values, parameter quoting, and folding at 75
//! octets with CRLF line ends.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, Utc};

/// Longest line, in octets, without its CRLF (RFC 5545 section 3.1).
pub const MAX_LINE_OCTETS: usize = 75;

/// Builds an iCalendar object line by line.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn begin(&mut self, component: &str) {
        self.raw("BEGIN", &[], component);
    }

    pub fn end(&mut self, component: &str) {
        self.raw("END", &[], component);
    }

    /// A property whose value is already in its wire form (a date-time, a number, an
    /// enumerated value such as `CONFIRMED`).
    pub fn raw(&mut self, name: &str, params: &[(&str, &str)], value: &str) {
        let mut line = String::with_capacity(name.len() + value.len() + 16);
        line.push_str(name);
        for (key, param) in params {
            line.push(';');
            line.push_str(key);
            line.push('=');
            push_param_value(&mut line, param);
        }
        line.push(':');
        line.push_str(value);
        fold_into(&mut self.out, &line);
    }

    /// A TEXT property, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &[], &escape_text(value));
    }

    /// A DATE-TIME in UTC (`19980119T070000Z`).
    pub fn utc(&mut self, name: &str, at: DateTime<Utc>) {
        self.raw(name, &[], &at.format("%Y%m%dT%H%M%SZ").to_string());
    }

    /// A DATE-TIME as a wall-clock time in the zone `tzid` (`DTSTART;TZID=…:19980119T020000`).
    pub fn local(&mut self, name: &str, tzid: &str, local: NaiveDateTime) {
        self.raw(name, &[("TZID", tzid)], &local_time(local));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// A wall-clock DATE-TIME without zone (`19980119T020000`).
pub fn local_time(local: NaiveDateTime) -> String {
    local.format("%Y%m%dT%H%M%S").to_string()
}

/// Escapes a TEXT value: backslash, semicolon, comma and line breaks (any of CRLF, CR or
/// LF becomes `\n`); other control characters, which TEXT cannot carry, are dropped.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when it holds `:`, `;` or `,`; a double quote, which a
/// parameter value cannot carry, is dropped, and so are control characters.
fn push_param_value(line: &mut String, value: &str) {
    let clean: String = value.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if clean.contains([':', ';', ',']) {
        let _ = write!(line, "\"{clean}\"");
    } else {
        line.push_str(&clean);
    }
}

/// Appends `line` folded: no physical line longer than 75 octets, each continuation
/// starting with one space, breaks only between UTF-8 characters. A piece never ends with
/// a space or tab when it can be helped, because some readers trim line ends before they
/// unfold and would lose it.
pub fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut budget = MAX_LINE_OCTETS;
    loop {
        if rest.len() <= budget {
            out.push_str(rest);
            out.push_str("\r\n");
            return;
        }
        let mut cut = budget;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let bytes = rest.as_bytes();
        let mut soft = cut;
        while soft > 0 && matches!(bytes[soft - 1], b' ' | b'\t') {
            soft -= 1;
        }
        // Before an ASCII space is always a character boundary.
        if soft > 0 {
            cut = soft;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space of a continuation line counts towards its 75 octets.
        budget = MAX_LINE_OCTETS - 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn unfold(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg\u{7}h\ti"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ngh\ti"
        );
    }

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let value = "é€😀 Réunion à l'Hôtel-de-Ville, ".repeat(20);
        let mut out = String::new();
        fold_into(&mut out, &format!("DESCRIPTION:{value}"));
        assert!(out.ends_with("\r\n"));
        let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(lines.len() > 10);
        for (i, line) in lines.iter().enumerate() {
            assert!(line.len() <= MAX_LINE_OCTETS, "{} octets: {line:?}", line.len());
            if i + 1 < lines.len() {
                assert!(!line.ends_with(' '), "a folded piece ends with a space: {line:?}");
            }
        }
        assert_eq!(unfold(&out), format!("DESCRIPTION:{value}\r\n"));
    }

    #[test]
    fn short_lines_stay_whole_and_params_are_quoted_when_needed() {
        let mut w = Writer::new();
        w.raw("X-TEST", &[("A", "plain"), ("B", "with:colon")], "v");
        assert_eq!(w.finish(), "X-TEST;A=plain;B=\"with:colon\":v\r\n");
    }
}
