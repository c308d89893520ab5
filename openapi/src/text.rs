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

/// A short reference (agreement number, SA ID, incident number): letters, digits, `- _ . /`.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Za-z0-9._/-]{1,64}$", example = "INC-20261124-0042")]
pub struct Reference(String);

/// An e-mail address. The service also accepts internationalized domains and the other
/// characters RFC 5322 allows in a local part; this is the common form.
#[derive(ToSchema)]
#[schema(
    value_type = String,
    pattern = r"^[A-Za-z0-9_%+-]{1,20}(\.[A-Za-z0-9_%+-]{1,20}){0,2}@([A-Za-z0-9]{1,20}\.){1,3}[A-Za-z]{2,10}$",
    example = "li.wei@contoso.com"
)]
pub struct Email(String);

/// An e-mail domain. The service also accepts internationalized domains (stored in ASCII
/// form) and hyphens inside labels.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^([A-Za-z0-9]{1,20}\.){1,3}[A-Za-z]{2,10}$", example = "contoso.com")]
pub struct Domain(String);

/// A benefit type code of the catalog (`GET /api/v1/benefit-types`).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[a-z][a-z0-9_]{1,63}$", example = "e_learning")]
pub struct TypeCode(String);

/// The `next_cursor` of a previous page. (No example: Swagger UI would send it.)
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^(p[0-9]{1,18}|k[0-9]{1,16}_[0-9a-f]{32})$")]
pub struct Cursor(String);

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
