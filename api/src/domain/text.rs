use serde_json::Value;

use super::InvalidValue;

/// Length limits, in characters, for the free-text fields.
pub struct Limits;

impl Limits {
    pub const NAME: usize = 200;
    pub const SHORT: usize = 200;
    pub const TITLE: usize = 300;
    pub const LONG: usize = 20_000;
}

/// A trimmed, non-empty text of at most `max` characters without control characters
/// (line breaks allowed only when `multiline`).
pub fn required_text(raw: &str, max: usize) -> Result<String, InvalidValue> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidValue::new("required", "must not be empty"));
    }
    check(value, max, false)?;
    Ok(value.to_string())
}

/// Like [`required_text`], but empty becomes `None`; long texts keep their line breaks.
pub fn optional_text(raw: &str, max: usize) -> Result<Option<String>, InvalidValue> {
    let multiline = max >= Limits::LONG;
    let value = if multiline { raw.trim_end() } else { raw.trim() };
    if value.trim().is_empty() {
        return Ok(None);
    }
    check(value, max, multiline)?;
    Ok(Some(value.to_string()))
}

/// Checks a long free text as it is kept, untrimmed (sync merges it three-way, so its exact
/// characters matter): at most [`Limits::LONG`] characters, line breaks and tabs but no other
/// control characters (a NUL could not even be stored).
pub fn check_long_text(value: &str) -> Result<(), InvalidValue> {
    check(value, Limits::LONG, true)
}

fn check(value: &str, max: usize, multiline: bool) -> Result<(), InvalidValue> {
    if value.chars().count() > max {
        return Err(InvalidValue::new(
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r'));
    if value.chars().any(bad) {
        return Err(InvalidValue::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Where a JSON value holds a NUL character (in a string or a key), as field paths
/// (`card.links[1]`); PostgreSQL can store NUL in no text or JSON value.
pub fn nul_paths(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    // Every pushed mutation passes here: paths are only built for a value that holds a NUL.
    if has_nul(value) {
        find_nul(value, String::new(), &mut found);
    }
    found
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || has_nul(item)),
        _ => false,
    }
}

fn find_nul(value: &Value, path: String, found: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains('\0') => found.push(path),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                find_nul(item, format!("{path}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.contains('\0') {
                    found.push(field.clone());
                }
                find_nul(item, field, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(required_text("  Lise Cardinal ", 200).unwrap(), "Lise Cardinal");
        assert_eq!(required_text("   ", 200).unwrap_err().code, "required");
        assert_eq!(required_text(&"é".repeat(201), 200).unwrap_err().code, "too_long");
        assert!(required_text(&"é".repeat(200), 200).is_ok());
        assert_eq!(
            required_text("a\u{0}b", 200).unwrap_err().code,
            "invalid_characters"
        );
    }

    #[test]
    fn long_texts_keep_lines() {
        assert_eq!(
            optional_text("Lunch\nchez Magnan\n", Limits::LONG)
                .unwrap()
                .as_deref(),
            Some("Lunch\nchez Magnan")
        );
        assert_eq!(optional_text("  ", Limits::LONG).unwrap(), None);
        assert!(optional_text("a\nb", Limits::SHORT).is_err());
    }
}
