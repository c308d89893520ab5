//! What every refusal of the domain shares: a stable code and a message in each language.

use crate::i18n::Localized;

/// The storage failed (connection lost, disk full…). The text is for the logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StorageError(pub String);

/// A refusal of a business rule, explained to the caller.
pub trait Refusal {
    /// Stable snake_case code clients can match on.
    fn code(&self) -> &'static str;
    /// What went wrong, in each language.
    fn message(&self) -> Localized;
}
