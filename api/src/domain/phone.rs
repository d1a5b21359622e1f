use phonenumber::country::Id as CountryId;

use super::InvalidValue;

/// A user's default region for phone numbers written without a country code (ISO 3166 alpha-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(CountryId);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        raw.trim()
            .to_ascii_uppercase()
            .parse::<CountryId>()
            .map(Region)
            .map_err(|_| {
                InvalidValue::new(
                    "invalid_region",
                    format!("{raw:?} is not a two-letter country code"),
                )
            })
    }

    /// The region of a locale such as `fr-CA` or `en_GB`, if it names one.
    pub fn from_locale(locale: &str) -> Option<Self> {
        let region = locale.split(['-', '_']).nth(1)?;
        (region.len() == 2).then(|| Region::parse(region).ok()).flatten()
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

/// A phone number normalised to E.164 (`+15145550123`), parsed with the `phonenumber`
/// crate (a port of libphonenumber's metadata): a number without a country code is read in
/// the user's region; one that is not a valid number for its country is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str, region: Option<Region>) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(InvalidValue::new("required", "must not be empty"));
        }
        let invalid = |why: &str| InvalidValue::new("invalid_phone", format!("{value:?} {why}"));
        let number = phonenumber::parse(region.map(|r| r.0), value).map_err(|_| {
            if region.is_none() && !value.starts_with('+') {
                invalid("has no country code (start it with + or set your region)")
            } else {
                invalid("is not a phone number")
            }
        })?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid("is not a valid phone number"));
        }
        Ok(Phone(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_e164_with_the_users_region() {
        let fr = Region::parse("fr").unwrap();
        let ca = Region::parse("CA").unwrap();
        assert_eq!(
            Phone::parse("06 12 34 56 78", Some(fr)).unwrap().as_str(),
            "+33612345678"
        );
        assert_eq!(
            Phone::parse("(514) 555-0199", Some(ca)).unwrap().as_str(),
            "+15145550199"
        );
        assert_eq!(
            Phone::parse("+33 6 12 34 56 78", None).unwrap().as_str(),
            "+33612345678"
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert_eq!(
            Phone::parse("06 12 34 56 78", None).unwrap_err().code,
            "invalid_phone"
        );
        assert!(Phone::parse("call me", Some(Region::parse("FR").unwrap())).is_err());
        assert!(Phone::parse("+33 1", None).is_err());
    }

    #[test]
    fn regions_come_from_locales() {
        assert_eq!(Region::from_locale("fr-CA").unwrap().code(), "CA");
        assert_eq!(Region::from_locale("en_GB").unwrap().code(), "GB");
        assert!(Region::from_locale("fr").is_none());
        assert!(Region::parse("ZZZ").is_err());
    }
}
