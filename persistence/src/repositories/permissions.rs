use crate::connection::storage;
use crate::convert::{corrupt, json, to_db};
use crate::schema::partner_permissions;
use crate::Database;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ActivePermission, Scope};
use domain::error::StorageError;
use domain::ids::{OrganizationId, PartnerId};
use domain::ports::PermissionRepository;

pub(crate) const APPROVED: &str = "approved";

impl PermissionRepository for Database {
    fn active_permission(
        &self,
        partner: PartnerId,
        organization: OrganizationId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActivePermission>, StorageError> {
        use partner_permissions::dsl as p;
        let mut conn = self.conn()?;
        let scopes: Option<String> = p::partner_permissions
            .filter(p::partner_id.eq(partner.to_string()))
            .filter(p::organization_id.eq(organization.to_string()))
            .filter(p::status.eq(APPROVED))
            .filter(p::expires_at.is_null().or(p::expires_at.gt(to_db(now))))
            .select(p::scopes)
            .first(&mut conn)
            .optional()
            .map_err(storage)?;
        scopes
            .map(|raw| {
                let codes: Vec<String> = json("scopes", &raw)?;
                let scopes = codes
                    .iter()
                    .map(|c| Scope::parse(c).ok_or_else(|| corrupt("scope", c)))
                    .collect::<Result<_, _>>()?;
                Ok(ActivePermission { scopes })
            })
            .transpose()
    }
}
