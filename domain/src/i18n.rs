//! Languages the portal answers in, and texts given in each of them.

use serde::{Deserialize, Serialize};

/// A language of the portal. English is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::En, Language::Fr];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }

    /// A language by its code (`en`, `fr`), exactly.
    pub fn parse(code: &str) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.code() == code)
    }

    /// Picks the best supported language from an `Accept-Language` header value
    /// (`fr-CA, en;q=0.8`): highest quality first, then order; English when none matches.
    pub fn negotiate(header: &str) -> Language {
        let mut best: Option<(u16, usize, Language)> = None;
        for (position, item) in header.split(',').enumerate() {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            let primary = tag.split('-').next().unwrap_or("");
            let language = match primary {
                "fr" => Language::Fr,
                "en" => Language::En,
                _ => continue,
            };
            if quality == 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((q, p, _)) => quality > q || (quality == q && position < p),
            };
            if better {
                best = Some((quality, position, language));
            }
        }
        best.map_or(Language::En, |(_, _, l)| l)
    }
}

/// A text in every language of the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub en: String,
    pub fr: String,
}

impl Localized {
    pub fn new(en: impl Into<String>, fr: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            fr: fr.into(),
        }
    }

    /// A text that reads the same in every language: a name, an e-mail address, a domain.
    pub fn same(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            en: text.clone(),
            fr: text,
        }
    }

    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::En => &self.en,
            Language::Fr => &self.fr,
        }
    }
}

/// Reads a [`Localized`] stored as `{"en", "fr"}`, or as one plain text written before the
/// text had two languages (it then reads the same in both).
pub fn localized_or_plain<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Localized, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Both(Localized),
        Plain(String),
    }
    Ok(match Stored::deserialize(deserializer)? {
        Stored::Both(text) => text,
        Stored::Plain(text) => Localized::same(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_the_preferred_supported_language() {
        assert_eq!(Language::negotiate("fr"), Language::Fr);
        assert_eq!(Language::negotiate("fr-CA,fr;q=0.9"), Language::Fr);
        assert_eq!(Language::negotiate("de, fr;q=0.5, en;q=0.7"), Language::En);
        assert_eq!(Language::negotiate("de, fr;q=0.5"), Language::Fr);
        assert_eq!(Language::negotiate("en-US, fr"), Language::En);
        assert_eq!(Language::negotiate("fr;q=0"), Language::En);
        assert_eq!(Language::negotiate(""), Language::En);
        assert_eq!(Language::negotiate("*"), Language::En);
    }
}
