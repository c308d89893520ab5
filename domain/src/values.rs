//! Value objects: parsed once at the edge, valid for as long as they live.

use crate::i18n::Localized;
use serde::{Serialize, Serializer};
use std::fmt;

/// Why a value could not be parsed. The message is in every language of the portal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", message.en)]
pub struct InvalidValue {
    pub message: Localized,
}

impl InvalidValue {
    fn new(en: impl Into<String>, fr: impl Into<String>) -> Self {
        Self {
            message: Localized::new(en, fr),
        }
    }
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new(
                "must not be empty",
                "ne doit pas être vide",
            ));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new(
                format!("must be at most {} characters", Self::MAX_CHARS),
                format!("ne doit pas dépasser {} caractères", Self::MAX_CHARS),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "must not contain control characters",
                "ne doit pas contenir de caractères de contrôle",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why something was done (an adjustment's reason, a consumption's note): trimmed,
/// 1 to 500 characters, no control characters but new lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A text of the catalog (a description, instructions, how the quantity is calculated):
/// trimmed, 1 to 4000 characters, no control characters but new lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CatalogText(String);

impl CatalogText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A text a person wrote: trimmed, 1 to `max` characters, no control characters but new lines.
fn text(raw: &str, max: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidValue::new(
            "must not be empty",
            "ne doit pas être vide",
        ));
    }
    if trimmed.chars().count() > max {
        return Err(InvalidValue::new(
            format!("must be at most {max} characters"),
            format!("ne doit pas dépasser {max} caractères"),
        ));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(InvalidValue::new(
            "must not contain control characters",
            "ne doit pas contenir de caractères de contrôle",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional short reference (agreement number, SA ID, program code): trimmed, 1 to 64
/// printable characters without spaces inside.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference(String);

impl Reference {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 64 {
            return Err(InvalidValue::new(
                "must be 1 to 64 characters",
                "doit compter de 1 à 64 caractères",
            ));
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(InvalidValue::new(
                "may contain only letters, digits and - _ . /",
                "ne peut contenir que des lettres, des chiffres et - _ . /",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail domain in its canonical form: lower case, IDN labels in ASCII (punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = || {
            InvalidValue::new(
                "is not a valid domain name (example: contoso.com)",
                "n'est pas un nom de domaine valide (exemple : contoso.com)",
            )
        };
        // Spaces around are forgiven, and one final dot (a fully qualified name).
        let trimmed = raw.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() || trimmed.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(invalid());
        }
        let ascii = idna::domain_to_ascii(trimmed).map_err(|_| invalid())?;
        let labels: Vec<&str> = ascii.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if ascii.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid());
        }
        let tld = labels[labels.len() - 1];
        if tld.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: `local@domain`, the domain canonical ([`DomainName`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    local: String,
    domain: DomainName,
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let invalid = || {
            InvalidValue::new(
                "is not a valid e-mail address (example: ana@contoso.com)",
                "n'est pas une adresse e-mail valide (exemple : ana@contoso.com)",
            )
        };
        let trimmed = raw.trim();
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(invalid());
        }
        // Inside an address the domain is given exactly: no spaces, no final dot.
        if domain.trim() != domain || domain.ends_with('.') {
            return Err(invalid());
        }
        let domain = DomainName::parse(domain).map_err(|_| invalid())?;
        Ok(Self {
            local: local.to_owned(),
            domain,
        })
    }

    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain.as_str())
    }
}

impl Serialize for EmailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A non-negative count of a benefit's unit, at most [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(i64);

impl Quantity {
    /// The largest quantity a benefit may hold: far above any real entitlement, and far
    /// below where sums of ledger rows could overflow.
    pub const MAX: i64 = 1_000_000_000;
    pub const ZERO: Quantity = Quantity(0);

    pub fn new(value: i64) -> Result<Self, InvalidValue> {
        if (0..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue::new(
                format!("must be a whole number from 0 to {}", Self::MAX),
                format!("doit être un nombre entier de 0 à {}", Self::MAX),
            ))
        }
    }

    /// A quantity that must be at least one (a consumption, a voucher, a conversion).
    pub fn positive(value: i64) -> Result<Self, InvalidValue> {
        if value >= 1 {
            Self::new(value)
        } else {
            Err(InvalidValue::new(
                format!("must be a whole number from 1 to {}", Self::MAX),
                format!("doit être un nombre entier de 1 à {}", Self::MAX),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Contoso  ").unwrap().as_str(), "Contoso");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"é".repeat(200)).is_ok());
        assert!(Name::parse("a\u{0}b").is_err());
    }

    #[test]
    fn one_final_dot_is_forgiven_and_an_address_takes_its_domain_exactly() {
        assert_eq!(
            DomainName::parse("contoso.com.").unwrap().as_str(),
            "contoso.com"
        );
        assert!(DomainName::parse("contoso.com..").is_err());
        assert!(EmailAddress::parse("ana@contoso.com").is_ok());
        assert!(EmailAddress::parse(" ana@contoso.com ").is_ok());
        assert!(EmailAddress::parse("ana@contoso.com.").is_err());
        assert!(EmailAddress::parse("ana@ contoso.com").is_err());
    }

    #[test]
    fn domains_are_canonical() {
        assert_eq!(
            DomainName::parse("Contoso.COM").unwrap().as_str(),
            "contoso.com"
        );
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            DomainName::parse("xn--bcher-kva.example").unwrap(),
            DomainName::parse("BÜCHER.example").unwrap()
        );
        for bad in [
            "",
            "localhost",
            "-a.com",
            "a..com",
            "a b.com",
            "a@b.com",
            "1.2.3.4",
            "a_b.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails_have_a_canonical_domain() {
        let email = EmailAddress::parse(" Ana.Lopez@Contoso.COM ").unwrap();
        assert_eq!(email.to_string(), "Ana.Lopez@contoso.com");
        assert_eq!(email.domain().as_str(), "contoso.com");
        for bad in [
            "ana",
            "@contoso.com",
            "ana@",
            "ana@@contoso.com",
            ".ana@contoso.com",
            "a b@contoso.com",
            "ana@contoso",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::new(-1).is_err());
        assert!(Quantity::new(0).is_ok());
        assert!(Quantity::positive(0).is_err());
        assert!(Quantity::new(Quantity::MAX + 1).is_err());
    }

    proptest! {
        #[test]
        fn a_parsed_domain_parses_to_itself(raw in "[a-zA-Z0-9-]{1,20}\\.[a-zA-Z]{2,6}") {
            if let Ok(domain) = DomainName::parse(&raw) {
                prop_assert_eq!(domain.as_str(), raw.to_ascii_lowercase());
                prop_assert_eq!(DomainName::parse(domain.as_str()).unwrap(), domain);
            }
        }

        #[test]
        fn a_parsed_email_parses_to_itself(local in "[a-z0-9._%+-]{1,20}", domain in "[a-z]{1,10}\\.(com|fr|org)") {
            let raw = format!("{local}@{domain}");
            if let Ok(email) = EmailAddress::parse(&raw) {
                prop_assert_eq!(EmailAddress::parse(&email.to_string()).unwrap(), email);
            }
        }
    }
}
