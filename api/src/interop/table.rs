//! CSV reading: contacts and event guests from spreadsheets and ticketing tools.
//!
//! The separator (`,`, `;` or tab) is the one the header line uses most; headers are
//! matched in English and French, ignoring case, accents, spaces and punctuation
//! (`Prénom`, `FIRST NAME`, `first_name`, `E-mail Address`, `Courriel`, `Société`…). Several
//! columns may feed one field (`Email 1`, `Email 2`). A row that cannot be read is reported
//! with its line and the others go on.

use super::{fold_key, ContactDraft, RecordError};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    FullName,
    FirstName,
    LastName,
    Email,
    Phone,
    Company,
    JobTitle,
    City,
    Tags,
    Notes,
    Links,
    HowWeMet,
    FirstMetOn,
    TheyBrought,
    ICanOffer,
}

/// The column a header names, if Carnet knows it.
pub fn column(header: &str) -> Option<Column> {
    use Column::*;
    let key = fold_key(header);
    let k = key.as_str();
    let has = |parts: &[&str]| parts.iter().any(|p| k.contains(p));
    // Exact names first: they settle what the looser rules below would confuse.
    let exact = match k {
        "name" | "fullname" | "nomcomplet" | "displayname" | "attendeename" | "participant"
        | "contactname" | "nometprenom" | "prenometnom" | "nomprenom" | "prenomnom" | "identite"
        | "guest" | "invite" => Some(FullName),
        "nom" | "nomdefamille" | "surname" | "last" => Some(LastName),
        "first" | "prenom" => Some(FirstName),
        "title" | "jobtitle" | "poste" | "fonction" | "position" | "titre" | "role" => Some(JobTitle),
        "city" | "ville" | "localite" | "town" | "commune" => Some(City),
        "tags" | "tag" | "categories" | "category" | "etiquettes" | "labels" | "groups" => Some(Tags),
        "notes" | "note" | "comment" | "comments" | "commentaire" | "commentaires" | "remarques" => {
            Some(Notes)
        }
        "links" | "link" | "website" | "url" | "site" | "siteweb" | "linkedin" | "liens" => Some(Links),
        "howwemet" | "rencontre" | "commentonsestrencontres" => Some(HowWeMet),
        "firstmeton" => Some(FirstMetOn),
        "theybrought" => Some(TheyBrought),
        "icanoffer" => Some(ICanOffer),
        "org" | "organization" | "organisation" | "company" | "societe" | "entreprise" | "employer"
        | "structure" | "employeur" => Some(Company),
        _ => None,
    };
    if exact.is_some() {
        return exact;
    }
    if has(&["type", "label", "libelle"]) {
        return None;
    }
    if has(&["firstname", "givenname", "prenom"]) {
        Some(FirstName)
    } else if has(&["lastname", "surname", "familyname", "nomdefamille"]) {
        Some(LastName)
    } else if has(&["fullname", "nomcomplet", "displayname"]) {
        Some(FullName)
    } else if has(&["email", "mail", "courriel"]) {
        Some(Email)
    } else if has(&["phone", "telephone", "mobile", "portable", "cell", "gsm"]) || k == "tel" {
        Some(Phone)
    } else if has(&["company", "organi", "societe", "entreprise", "employer"]) {
        Some(Company)
    } else if has(&["jobtitle", "poste", "fonction"]) {
        Some(JobTitle)
    } else {
        None
    }
}

/// The separator the header line uses most (outside quotes).
fn separator(text: &str) -> u8 {
    let line = text.lines().next().unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (sep, n) in counts.iter_mut() {
                if *sep == b {
                    *n += 1;
                }
            }
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map(|(sep, _)| *sep)
        .unwrap_or(b',')
}

/// A cell as typed: trimmed, and without the apostrophe a formula-neutralised export put
/// before `=`, `+`, `-` or `@`.
fn cell(raw: &str) -> &str {
    let v = raw.trim();
    match v.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => v,
    }
}

/// One data row: the recognised cells, by column.
#[derive(Debug, Default)]
pub struct Row {
    /// The line of the file the row starts on.
    pub line: usize,
    cells: Vec<(Column, String)>,
}

impl Row {
    /// The first non-empty cell of this kind.
    pub fn get(&self, column: Column) -> Option<&str> {
        self.cells
            .iter()
            .find(|(c, v)| *c == column && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of this kind: cells may hold several, separated by `,`, `;` or lines.
    pub fn all(&self, column: Column) -> Vec<String> {
        self.cells
            .iter()
            .filter(|(c, _)| *c == column)
            .flat_map(|(_, v)| v.split([',', ';', '\n']))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The person's name: full name, else first and last names joined.
    pub fn name(&self) -> Option<String> {
        if let Some(full) = self.get(Column::FullName) {
            return Some(full.to_string());
        }
        let parts: Vec<&str> = [Column::FirstName, Column::LastName]
            .iter()
            .filter_map(|c| self.get(*c))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(|(_, v)| v.is_empty())
    }
}

/// A file whose header names no column Carnet can use.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownHeaders(pub Vec<String>);

/// Reads a CSV text (BOM already removed): each data row, or an error naming its line.
/// Blank rows are left out.
pub fn read(text: &str) -> Result<Vec<Result<Row, RecordError>>, UnknownHeaders> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(text))
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim().to_string()).collect(),
        Err(_) => return Err(UnknownHeaders(Vec::new())),
    };
    let mut columns: Vec<Option<Column>> = headers.iter().map(|h| column(h)).collect();
    let has = |cols: &[Option<Column>], c: Column| cols.contains(&Some(c));
    // A lone `Nom` column is the whole name, not the family name.
    if has(&columns, Column::LastName)
        && !has(&columns, Column::FirstName)
        && !has(&columns, Column::FullName)
    {
        for c in columns.iter_mut() {
            if *c == Some(Column::LastName) {
                *c = Some(Column::FullName);
            }
        }
    }
    let usable = [
        Column::FullName,
        Column::FirstName,
        Column::LastName,
        Column::Email,
    ];
    if !usable.iter().any(|c| has(&columns, *c)) {
        return Err(UnknownHeaders(headers));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                // The reader counts lines from 0 at the start of a record.
                let line = record.position().map(|p| p.line() as usize + 1).unwrap_or(0);
                let row = Row {
                    line,
                    cells: record
                        .iter()
                        .zip(&columns)
                        .filter_map(|(v, c)| c.map(|c| (c, cell(v).to_string())))
                        .collect(),
                };
                if !row.is_empty() {
                    rows.push(Ok(row));
                }
            }
            Err(e) => rows.push(Err(RecordError {
                record: e.position().map(|p| p.line() as usize + 1).unwrap_or(0),
                message: format!("unreadable row: {e}"),
            })),
        }
    }
    Ok(rows)
}

/// A contact from a row; `None` when nothing names the person.
pub fn contact(row: &Row) -> Option<ContactDraft> {
    let text = |c| row.get(c).map(str::to_string);
    let emails = row.all(Column::Email);
    let name = row
        .name()
        .or_else(|| text(Column::Company))
        .or_else(|| emails.first().cloned())?;
    Some(ContactDraft {
        name: Some(name),
        organization: text(Column::Company),
        job_title: text(Column::JobTitle),
        city: text(Column::City),
        emails,
        phones: row.all(Column::Phone),
        links: row.all(Column::Links),
        tags: row.all(Column::Tags),
        notes: text(Column::Notes),
        how_we_met: text(Column::HowWeMet),
        first_met_on: text(Column::FirstMetOn),
        they_brought: text(Column::TheyBrought),
        i_can_offer: text(Column::ICanOffer),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_in_english_and_french() {
        use Column::*;
        for (h, c) in [
            ("Prénom", FirstName),
            ("FIRST NAME", FirstName),
            ("first_name", FirstName),
            ("Attendee first name", FirstName),
            ("Nom de famille", LastName),
            ("Last Name", LastName),
            ("E-mail Address", Email),
            ("Adresse e-mail", Email),
            ("Courriel", Email),
            ("Téléphone portable", Phone),
            ("Mobile Phone", Phone),
            ("Société", Company),
            ("Company", Company),
            ("Nom complet", FullName),
        ] {
            assert_eq!(column(h), Some(c), "{h}");
        }
        assert_eq!(column("E-mail 1 - Type"), None);
        assert_eq!(column("Order #"), None);
    }

    #[test]
    fn semicolons_quotes_and_lines() {
        let rows =
            read("Prénom;Nom;Courriel\r\nLise;\"Car;dinal\";lise@example.org\r\n;;\r\nNicolas;Dupont;\r\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        let lise = rows[0].as_ref().unwrap();
        assert_eq!(lise.name().as_deref(), Some("Lise Car;dinal"));
        assert_eq!(lise.get(Column::Email), Some("lise@example.org"));
        assert_eq!(rows[0].as_ref().unwrap().line, 2, "{rows:?}");
        assert_eq!(rows[1].as_ref().unwrap().line, 4, "{rows:?}");
    }

    #[test]
    fn a_lone_nom_is_the_full_name() {
        let rows = read("Nom,Email\nLise Cardinal,lise@example.org\n").unwrap();
        assert_eq!(rows[0].as_ref().unwrap().name().as_deref(), Some("Lise Cardinal"));
        assert!(read("foo,bar\n1,2\n").is_err());
    }
}
