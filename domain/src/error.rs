//! What every refusal of the domain shares: a stable code, a message in each language, the
//! kind of refusal it is (the API maps each kind to one HTTP status, once) and the facts a
//! client can act on.

use crate::i18n::Localized;

/// The storage failed (connection lost, disk full…). The text is for the logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failure: {0}")]
pub struct StorageError(pub String);

/// A failed write: the rule refused it, or the storage failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What kind of refusal it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The thing asked for does not exist, or is not the caller's to see.
    NotFound,
    /// The caller's role never does this.
    Forbidden,
    /// The request clashes with what is there now: a type already held, a code taken, a move
    /// not allowed from the current status.
    Conflict,
    /// Well-formed, but a rule refuses it (not enough remaining, expired, above a maximum).
    Rule,
    /// One field's value is refused by itself (an end date in the past, no scope at all).
    Field(&'static str),
}

/// A refusal of a business rule, explained to the caller.
pub trait Refusal {
    /// Stable snake_case code clients can match on.
    fn code(&self) -> &'static str;
    /// What went wrong, in each language.
    fn message(&self) -> Localized;
    /// What kind of refusal it is.
    fn kind(&self) -> RefusalKind;
    /// The facts a client can act on (`remaining`, the allowed moves…), as a JSON object.
    fn context(&self) -> Option<serde_json::Value> {
        None
    }
}
