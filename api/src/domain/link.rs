use super::InvalidValue;

/// A web link (blog, LinkedIn, X/Twitter, Facebook, site): an absolute `http(s)` URL with a
/// host. A bare `linkedin.com/in/lise` is read as `https://linkedin.com/in/lise`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link(String);

impl Link {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(InvalidValue::new("required", "must not be empty"));
        }
        if value.len() > 2_000 {
            return Err(InvalidValue::new("too_long", "must be at most 2000 characters"));
        }
        let with_scheme = if value.contains("://") {
            value.to_string()
        } else {
            format!("https://{value}")
        };
        let url = url::Url::parse(&with_scheme)
            .map_err(|_| InvalidValue::new("invalid_url", format!("{value:?} is not a web address")))?;
        let host_ok = url
            .host_str()
            .is_some_and(|h| h.contains('.') || h == "localhost");
        if !matches!(url.scheme(), "http" | "https") || !host_ok {
            return Err(InvalidValue::new(
                "invalid_url",
                format!("{value:?} is not an http(s) address"),
            ));
        }
        Ok(Link(url.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Link {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_links_with_or_without_scheme() {
        assert_eq!(
            Link::parse("linkedin.com/in/lise").unwrap().as_ref(),
            "https://linkedin.com/in/lise"
        );
        assert_eq!(
            Link::parse("http://blog.example.org/").unwrap().as_ref(),
            "http://blog.example.org/"
        );
    }

    #[test]
    fn refuses_other_schemes_and_junk() {
        for bad in [
            "javascript:alert(1)",
            "ftp://example.org",
            "not a link",
            "https://",
        ] {
            assert!(Link::parse(bad).is_err(), "{bad}");
        }
    }
}
