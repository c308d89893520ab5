//! The shapes of the texts the API accepts, as named schemas: each pattern is what the
//! service's parser accepts (or a little less), so a value the document allows is never
//! refused for its form. Referenced from request bodies and parameters with
//! `#[schema(value_type = openapi::text::…)]`.

#![allow(dead_code)]

use utoipa::ToSchema;

/// A name: 1 to 200 characters, no control characters, not blank at either end.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,198}[^\s\x00-\x1f\x7f-\x9f])?$",
    example = "Contoso Ltd"
)]
pub struct DisplayName(String);

/// A reason or a note: 1 to 500 characters, no control characters but new lines.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x09\x0b-\x1f\x7f-\x9f]{0,498}[^\s\x00-\x1f\x7f-\x9f])?$",
    example = "True-up: 500 more qualifying licences"
)]
pub struct Reason(String);

/// A text of the catalog (description, instructions, calculation): 1 to 4000 characters, no
/// control characters but new lines.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x09\x0b-\x1f\x7f-\x9f]{0,3998}[^\s\x00-\x1f\x7f-\x9f])?$",
    example = "Interactive, self-paced online training."
)]
pub struct CatalogText(String);

/// A short reference (agreement number, SA ID, incident number): letters, digits, `- _ . /`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9._/-]{1,64}$", example = "INC-20261124-0042")]
pub struct Reference(String);

/// An e-mail address: `local@domain`, the local part of RFC 5322's atoms separated by dots
/// (at most 64 characters), the domain as [`Domain`] (Unicode domains too, without a final
/// dot). The pattern is [`EMAIL_PATTERN`].
#[derive(ToSchema)]
#[schema(value_type = String, example = "li.wei@contoso.com")]
pub struct Email(String);

/// An e-mail domain: labels of letters, digits and inner hyphens (Unicode letters too: they
/// are stored in their ASCII form, `xn--…`), at least two, the last not all digits, at most 253
/// characters; upper case is folded. The pattern is [`DOMAIN_PATTERN`].
#[derive(ToSchema)]
#[schema(value_type = String, example = "contoso.com")]
pub struct Domain(String);

/// A label of a domain: a letter or digit (ASCII, or a Unicode letter from U+00C0 on), then
/// up to 61 of those or hyphens, then a letter or digit.
macro_rules! label {
    () => {
        r"[A-Za-z0-9\u00C0-\uFFFF](?:[A-Za-z0-9\u00C0-\uFFFF-]{0,61}[A-Za-z0-9\u00C0-\uFFFF])?"
    };
}

/// The domain's labels, without surrounding spaces or final dot: at least two, the last not
/// all digits.
macro_rules! domain_labels {
    () => {
        concat!(r"(?:", label!(), r"\.)+(?![0-9]+\.?\s*$)", label!())
    };
}

/// A label of a domain as `DOMAIN_PATTERN` takes it: as [`label`], without the blocks IDNA
/// refuses whole (surrogates and private use U+D800–U+F8FF, the non-characters
/// U+FDD0–U+FDEF, the specials U+FFF0–U+FFFF). The e-mail pattern keeps the wider class:
/// with these holes hypothesis (schemathesis) can no longer generate e-mail addresses.
macro_rules! idna_label {
    () => {
        concat!(
            "[",
            idna_char!(),
            "](?:[",
            idna_char!(),
            "-]{0,61}[",
            idna_char!(),
            "])?"
        )
    };
}

macro_rules! idna_char {
    () => {
        r"A-Za-z0-9\u00C0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF"
    };
}

/// What `DomainName::parse` accepts: a domain, with spaces around and a final dot allowed.
/// The server also checks Unicode labels by IDNA (UTS 46): a few symbols this pattern lets
/// through are refused there.
pub const DOMAIN_PATTERN: &str = concat!(
    r"^\s*(?=[^\s@]{1,253}\.?\s*$)",
    r"(?:",
    idna_label!(),
    r"\.)+(?![0-9]+\.?\s*$)",
    idna_label!(),
    r"\.?\s*$"
);

/// What `EmailAddress::parse` accepts: spaces around allowed, the domain exact.
pub const EMAIL_PATTERN: &str = concat!(
    r"^\s*(?=[^@\s]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@",
    r"(?=[^\s@]{1,253}\s*$)",
    domain_labels!(),
    r"\s*$"
);

/// A benefit type code of the catalog (`GET /api/v1/benefit-types`).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[a-z][a-z0-9_]{1,63}$", example = "e_learning")]
pub struct TypeCode(String);

/// The `next_cursor` of a previous page. (No example: Swagger UI would send it.)
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^(p[0-9]{1,18}|k[0-9]{1,16}_[0-9a-f]{32})$")]
pub struct Cursor(String);

/// An event's position, as a stream's `id:` gave it (`Last-Event-ID`).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[0-9]{1,18}$", example = "0")]
pub struct EventPosition(String);

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[\x21-\x7e]{1,255}$")]
pub struct IdempotencyKey(String);

/// `*`, or a list of entity tags as `ETag` answers them (`"7"`, also accepted without the
/// quotes); a weak tag (`W/"7"`) is understood but never matches.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r#"^(\*|(W/)?("[0-9]{1,18}(\.(en|fr))?"|[0-9]{1,18}(\.(en|fr))?)([ \t]*,[ \t]*(W/)?("[0-9]{1,18}(\.(en|fr))?"|[0-9]{1,18}(\.(en|fr))?))*)$"#
)]
pub struct EntityTag(String);

/// Ledger entry kinds, comma-separated.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r"^((grant|adjustment|consumption|release|voucher_assigned|voucher_revoked|voucher_expired|conversion_in|conversion_out|expiry)(,(grant|adjustment|consumption|release|voucher_assigned|voucher_revoked|voucher_expired|conversion_in|conversion_out|expiry))*)?$"
)]
pub struct EntryKinds(String);

/// A conversion direction.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Direction {
    /// Training days → planning days.
    Forward,
    /// Planning days → training days, undoing earlier conversions.
    Reverse,
}

/// A decision on a partner permission.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PermissionMove {
    Approved,
    Declined,
    Removed,
    Withdrawn,
}

/// A partner permission status.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PermissionStatus {
    Pending,
    Approved,
    Declined,
    Withdrawn,
    Removed,
    Expired,
}

/// A partner permission scope.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Scope {
    ManageDomains,
    DistributeAccessCodes,
    ManageUsers,
    ManageVouchers,
    DownloadsAndProductKeys,
    ConvertBenefits,
    ManageFutureBenefits,
}
