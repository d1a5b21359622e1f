use super::InvalidValue;

/// A tag: trimmed, inner spaces collapsed, lower-cased (so `?tag=` matches whatever case
/// was typed), 1 to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if value.is_empty() {
            return Err(InvalidValue::new("required", "a tag must not be empty"));
        }
        if value.chars().count() > 50 {
            return Err(InvalidValue::new(
                "too_long",
                "a tag must be at most 50 characters",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "invalid_characters",
                "a tag must not contain control characters",
            ));
        }
        Ok(Tag(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalises_tags() {
        assert_eq!(
            Tag::parse("  Réseautage   Montréal ").unwrap().as_ref(),
            "réseautage montréal"
        );
        assert!(Tag::parse(" ").is_err());
        assert!(Tag::parse(&"x".repeat(51)).is_err());
    }
}
