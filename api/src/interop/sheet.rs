//! CSV writing, a few rows at a time so exports stream.
//!
//! Plain CSV is RFC 4180 (comma, CRLF, fields quoted when they hold a separator, a quote
//! or a line break), UTF-8 without BOM. The Excel variant adds a BOM and uses `;`, which
//! Excel in a French locale expects. Either way a cell a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is neutralised with a
//! leading apostrophe, which spreadsheets show as text; the readers in [`super::table`]
//! take it off again.

/// The two CSV dialects of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sheet {
    pub excel: bool,
}

pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The cell as a spreadsheet will show it, never as a formula.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

impl Sheet {
    fn writer<'a>(&self, out: &'a mut Vec<u8>) -> csv::Writer<&'a mut Vec<u8>> {
        csv::WriterBuilder::new()
            .delimiter(if self.excel { b';' } else { b',' })
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .flexible(true)
            .from_writer(out)
    }

    /// The start of the file: the BOM for Excel, then the header line.
    pub fn header(&self, columns: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.excel {
            out.extend_from_slice(UTF8_BOM);
        }
        out.extend(self.rows(std::iter::once(columns.iter().map(|c| c.to_string()).collect())));
        out
    }

    /// Rows of cells, neutralised and quoted.
    pub fn rows(&self, rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut writer = self.writer(&mut out);
            for row in rows {
                // Writing into memory only fails on I/O, which a Vec does not have.
                let _ = writer.write_record(row.iter().map(|c| neutralise(c).into_owned()));
            }
            let _ = writer.flush();
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc4180_quoting_and_neutralisation() {
        let sheet = Sheet { excel: false };
        let out = sheet.rows(vec![vec![
            "Lise \"LC\" Cardinal".into(),
            "a,b".into(),
            "=1+2".into(),
            "two\nlines".into(),
        ]]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"Lise \"\"LC\"\" Cardinal\",\"a,b\",'=1+2,\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn excel_variant_has_bom_and_semicolons() {
        let sheet = Sheet { excel: true };
        let out = sheet.header(&["name", "email"]);
        assert_eq!(out, b"\xEF\xBB\xBFname;email\r\n");
        assert_eq!(
            sheet.rows(vec![vec!["a;b".into(), "@x".into()]]),
            b"\"a;b\";'@x\r\n"
        );
    }
}
