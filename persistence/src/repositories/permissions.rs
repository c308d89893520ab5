use crate::connection::storage;
use crate::convert::{corrupt, json, to_db, to_json};
use crate::schema::partner_permissions;
use crate::Database;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::auth::{ActivePermission, Scope};
use domain::error::StorageError;
use domain::ids::{OrganizationId, PartnerId};
use domain::permission::{Permission, PermissionStatus};
use domain::ports::PermissionRepository;

impl PermissionRepository for Database {
    fn insert_permission(&self, permission: &Permission) -> Result<(), StorageError> {
        use partner_permissions::dsl as p;
        let scopes: Vec<&str> = permission.scopes.iter().map(|s| s.code()).collect();
        self.write_transaction(|conn| {
            diesel::insert_into(p::partner_permissions)
                .values((
                    p::id.eq(permission.id.to_string()),
                    p::organization_id.eq(permission.organization_id.to_string()),
                    p::partner_id.eq(permission.partner_id.to_string()),
                    p::status.eq(permission.status.code()),
                    p::scopes.eq(to_json(&scopes)?),
                    p::expires_at.eq(permission.expires_at.map(to_db)),
                    p::requested_at.eq(to_db(permission.requested_at)),
                    p::updated_at.eq(to_db(permission.updated_at)),
                    p::version.eq(permission.version),
                ))
                .execute(conn)
                .map_err(storage)?;
            Ok(())
        })
    }

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
            .filter(p::status.eq(PermissionStatus::Approved.code()))
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
