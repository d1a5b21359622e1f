use super::InvalidValue;

/// An email address: trimmed, one `@`, a dotted domain, no spaces, at most 254 bytes.
/// The domain is lower-cased; comparisons between addresses ignore case entirely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let invalid = || InvalidValue::new("invalid_email", format!("{value:?} is not an email address"));
        if value.is_empty() {
            return Err(InvalidValue::new("required", "must not be empty"));
        }
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used to compare addresses and find accounts.
    pub fn lowercase(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The key failed logins are counted under for an address as typed, valid or not: trimmed
/// and lower-cased (for a stored address, the same as [`Email::lowercase`]).
pub fn login_key(typed: &str) -> String {
    typed.trim().to_lowercase()
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_addresses() {
        assert_eq!(
            Email::parse(" Lise@Example.ORG ").unwrap().as_str(),
            "Lise@example.org"
        );
        assert!(Email::parse("nicolas.dupont+carnet@sub.exemple.fr").is_ok());
        assert!(Email::parse("élise@café.fr").is_ok());
    }

    #[test]
    fn refuses_malformed_ones() {
        for bad in [
            "",
            "lise",
            "lise@",
            "@example.org",
            "li se@example.org",
            "lise@example",
            "a@b..c",
            "a@@b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
