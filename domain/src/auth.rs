//! Who is calling, and what each role may do. The one place that maps actions to roles and
//! to partner permission scopes.

use crate::ids::{OrganizationId, PartnerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CustomerAdmin,
    Partner,
    Operator,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::CustomerAdmin, Role::Partner, Role::Operator];

    /// What a person reads for the role, in English and French.
    pub fn label(self) -> crate::Localized {
        match self {
            Role::CustomerAdmin => {
                crate::Localized::new("Customer administrator", "Administrateur client")
            }
            Role::Partner => crate::Localized::new("Licensing partner", "Partenaire de licences"),
            Role::Operator => crate::Localized::new("Operator", "Opérateur"),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Role::CustomerAdmin => "customer_admin",
            Role::Partner => "partner",
            Role::Operator => "operator",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: who the person or system is.
    pub subject: String,
    pub kind: PrincipalKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    CustomerAdmin(OrganizationId),
    Partner(PartnerId),
    Operator,
}

impl Principal {
    pub fn role(&self) -> Role {
        match self.kind {
            PrincipalKind::CustomerAdmin(_) => Role::CustomerAdmin,
            PrincipalKind::Partner(_) => Role::Partner,
            PrincipalKind::Operator => Role::Operator,
        }
    }
}

/// What a partner permission may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    ManageDomains,
    DistributeAccessCodes,
    ManageUsers,
    ManageVouchers,
    DownloadsAndProductKeys,
    ConvertBenefits,
    ManageFutureBenefits,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::ManageDomains,
        Scope::DistributeAccessCodes,
        Scope::ManageUsers,
        Scope::ManageVouchers,
        Scope::DownloadsAndProductKeys,
        Scope::ConvertBenefits,
        Scope::ManageFutureBenefits,
    ];

    /// What a person reads for the scope, in English and French.
    pub fn label(self) -> crate::Localized {
        let (en, fr) = match self {
            Scope::ManageDomains => ("Manage e-mail domains", "Gérer les domaines de messagerie"),
            Scope::DistributeAccessCodes => {
                ("Distribute access codes", "Distribuer les codes d'accès")
            }
            Scope::ManageUsers => ("Manage users", "Gérer les utilisateurs"),
            Scope::ManageVouchers => ("Manage training vouchers", "Gérer les bons de formation"),
            Scope::DownloadsAndProductKeys => (
                "Downloads and product keys",
                "Téléchargements et clés de produit",
            ),
            Scope::ConvertBenefits => ("Convert benefits", "Convertir les avantages"),
            Scope::ManageFutureBenefits => ("Manage future benefits", "Gérer les futurs avantages"),
        };
        crate::Localized::new(en, fr)
    }

    pub fn code(self) -> &'static str {
        match self {
            Scope::ManageDomains => "manage_domains",
            Scope::DistributeAccessCodes => "distribute_access_codes",
            Scope::ManageUsers => "manage_users",
            Scope::ManageVouchers => "manage_vouchers",
            Scope::DownloadsAndProductKeys => "downloads_and_product_keys",
            Scope::ConvertBenefits => "convert_benefits",
            Scope::ManageFutureBenefits => "manage_future_benefits",
        }
    }

    pub fn parse(code: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Everything a caller can do, as far as access is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create organizations, purchasing accounts and partners.
    ManageDirectory,
    /// Add types to the benefit catalog.
    ManageCatalog,
    /// Grant benefits and adjust their quantity.
    GrantBenefits,
    /// Read an organization and everything it holds.
    ReadOrganization,
    /// Read an organization's partner permissions, outbox and audit log.
    ReadOrganizationAdministration,
    /// Change an organization's settings (contact e-mails, preferred language).
    ManageOrganizationSettings,
    /// Record a consumption (an incident opened, planning days scheduled).
    Consume,
    ManageUsers,
    DistributeAccessCodes,
    ManageDomains,
    ListDownloads,
    /// Record a download or view product keys.
    UseDownloads,
    ManageVouchers,
    RedeemVouchers,
    ConvertBenefits,
}

/// Who may do an action on an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    admin: bool,
    operator: bool,
    /// `None`: partners never; `Some(None)`: any approved permission; `Some(Some(s))`: one
    /// whose scopes include `s`.
    partner: Option<Option<Scope>>,
}

impl Action {
    fn rule(self) -> Rule {
        const fn r(admin: bool, operator: bool, partner: Option<Option<Scope>>) -> Rule {
            Rule {
                admin,
                operator,
                partner,
            }
        }
        match self {
            Action::ManageDirectory | Action::ManageCatalog | Action::GrantBenefits => {
                r(false, true, None)
            }
            Action::ReadOrganization => r(true, true, Some(None)),
            Action::ReadOrganizationAdministration | Action::ManageOrganizationSettings => {
                r(true, true, None)
            }
            Action::Consume => r(true, true, Some(Some(Scope::ManageUsers))),
            Action::ManageUsers => r(true, false, Some(Some(Scope::ManageUsers))),
            Action::DistributeAccessCodes => {
                r(true, false, Some(Some(Scope::DistributeAccessCodes)))
            }
            Action::ManageDomains => r(true, false, Some(Some(Scope::ManageDomains))),
            Action::ListDownloads => r(true, true, Some(Some(Scope::DownloadsAndProductKeys))),
            Action::UseDownloads => r(true, false, Some(Some(Scope::DownloadsAndProductKeys))),
            Action::ManageVouchers => r(true, false, Some(Some(Scope::ManageVouchers))),
            Action::RedeemVouchers => r(true, true, Some(Some(Scope::ManageVouchers))),
            Action::ConvertBenefits => r(true, false, Some(Some(Scope::ConvertBenefits))),
        }
    }
}

/// The scopes of a partner's approved, unexpired permission on one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePermission {
    pub scopes: Vec<Scope>,
    /// When it stops granting anything; `None` when it has no end date.
    pub ends_at: Option<DateTime<Utc>>,
    /// When the organization approved it: the catalog types added after this are covered
    /// only with [`Scope::ManageFutureBenefits`].
    pub approved_at: DateTime<Utc>,
}

/// Why access is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The role may never do this (403).
    Forbidden,
    /// The organization is not the caller's: its existence is not revealed (404).
    NotFound,
    /// The partner's permission does not include this scope (403, naming it).
    MissingScope(Scope),
}

/// In whose name an allowed action is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub subject: String,
    pub role: Role,
    /// The partner acting on behalf of the organization, when it is one.
    pub partner: Option<PartnerId>,
}

impl Actor {
    /// The service itself, recording what time alone changed (`what`: "voucher expiry", …).
    pub fn time(what: &str) -> Actor {
        Actor {
            subject: format!("sa-benefits ({what})"),
            role: Role::Operator,
            partner: None,
        }
    }

    pub fn of(principal: &Principal) -> Actor {
        Actor {
            subject: principal.subject.clone(),
            role: principal.role(),
            partner: match principal.kind {
                PrincipalKind::Partner(p) => Some(p),
                _ => None,
            },
        }
    }
}

/// Whether the caller needs a partner permission to be looked up for this decision.
pub fn needs_permission_lookup(principal: &Principal, action: Action) -> bool {
    matches!(principal.kind, PrincipalKind::Partner(_)) && action.rule().partner.is_some()
}

/// Decides an action on an organization. `permission` is the partner's approved, unexpired
/// permission on that organization (ignored for other roles).
pub fn authorize(
    principal: &Principal,
    organization: OrganizationId,
    action: Action,
    permission: Option<&ActivePermission>,
) -> Result<Actor, Denied> {
    let rule = action.rule();
    let allowed = match principal.kind {
        PrincipalKind::Operator => {
            if rule.operator {
                Ok(())
            } else {
                Err(Denied::Forbidden)
            }
        }
        PrincipalKind::CustomerAdmin(org) => {
            if !rule.admin {
                Err(Denied::Forbidden)
            } else if org != organization {
                Err(Denied::NotFound)
            } else {
                Ok(())
            }
        }
        PrincipalKind::Partner(_) => match (rule.partner, permission) {
            (None, _) => Err(Denied::Forbidden),
            (Some(_), None) => Err(Denied::NotFound),
            (Some(None), Some(_)) => Ok(()),
            (Some(Some(scope)), Some(p)) if p.scopes.contains(&scope) => Ok(()),
            (Some(Some(scope)), Some(_)) => Err(Denied::MissingScope(scope)),
        },
    };
    allowed.map(|()| Actor::of(principal))
}

/// Decides an action on one benefit: [`authorize`], and for a partner acting (not reading)
/// on a benefit whose type was added to the catalog after its permission was approved
/// (`type_added_at`), the permission must also include [`Scope::ManageFutureBenefits`].
pub fn authorize_on_benefit(
    principal: &Principal,
    organization: OrganizationId,
    action: Action,
    permission: Option<&ActivePermission>,
    type_added_at: Option<DateTime<Utc>>,
) -> Result<Actor, Denied> {
    let actor = authorize(principal, organization, action, permission)?;
    let later_type = match (permission, type_added_at) {
        (Some(p), Some(added)) => added > p.approved_at,
        _ => false,
    };
    let covered = permission.is_some_and(|p| p.scopes.contains(&Scope::ManageFutureBenefits));
    match principal.kind {
        PrincipalKind::Partner(_)
            if action != Action::ReadOrganization && later_type && !covered =>
        {
            Err(Denied::MissingScope(Scope::ManageFutureBenefits))
        }
        _ => Ok(actor),
    }
}

/// Decides an action that concerns no organization (creating organizations, partners).
pub fn authorize_global(principal: &Principal, action: Action) -> Result<Actor, Denied> {
    let rule = action.rule();
    let allowed = match principal.kind {
        PrincipalKind::Operator => rule.operator,
        _ => false,
    };
    if allowed {
        Ok(Actor::of(principal))
    } else {
        Err(Denied::Forbidden)
    }
}

/// Decides a change of a partner's own settings (its contact e-mail, its language): the
/// partner itself and operators; nobody else, customer administrators included.
pub fn authorize_on_partner(principal: &Principal, partner: PartnerId) -> Result<Actor, Denied> {
    let allowed = match principal.kind {
        PrincipalKind::Operator => true,
        PrincipalKind::Partner(p) => p == partner,
        PrincipalKind::CustomerAdmin(_) => false,
    };
    if allowed {
        Ok(Actor::of(principal))
    } else {
        Err(Denied::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn org(n: u128) -> OrganizationId {
        OrganizationId(Uuid::from_u128(n))
    }

    fn admin(n: u128) -> Principal {
        Principal {
            subject: "ana".into(),
            kind: PrincipalKind::CustomerAdmin(org(n)),
        }
    }

    fn partner() -> Principal {
        Principal {
            subject: "fabrikam".into(),
            kind: PrincipalKind::Partner(PartnerId(Uuid::from_u128(9))),
        }
    }

    fn operator() -> Principal {
        Principal {
            subject: "ops".into(),
            kind: PrincipalKind::Operator,
        }
    }

    #[test]
    fn a_partners_settings_are_its_own_and_the_operators() {
        let itself = PartnerId(Uuid::from_u128(9));
        let other = PartnerId(Uuid::from_u128(10));
        assert!(authorize_on_partner(&partner(), itself).is_ok());
        assert!(authorize_on_partner(&operator(), itself).is_ok());
        assert_eq!(
            authorize_on_partner(&partner(), other),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize_on_partner(&admin(1), itself),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn admins_act_on_their_own_organization_only() {
        assert!(authorize(&admin(1), org(1), Action::ManageUsers, None).is_ok());
        assert_eq!(
            authorize(&admin(1), org(2), Action::ManageUsers, None),
            Err(Denied::NotFound)
        );
        assert_eq!(
            authorize(&admin(1), org(1), Action::GrantBenefits, None),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn operators_read_everything_but_do_not_manage_users() {
        assert!(authorize(&operator(), org(1), Action::ReadOrganization, None).is_ok());
        assert!(authorize(&operator(), org(1), Action::GrantBenefits, None).is_ok());
        assert_eq!(
            authorize(&operator(), org(1), Action::ManageUsers, None),
            Err(Denied::Forbidden)
        );
        assert!(authorize_global(&operator(), Action::ManageDirectory).is_ok());
        assert_eq!(
            authorize_global(&admin(1), Action::ManageDirectory),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn partners_need_an_approved_permission_with_the_scope() {
        let all = ActivePermission {
            scopes: Scope::ALL.to_vec(),
            ends_at: None,
            approved_at: DateTime::UNIX_EPOCH,
        };
        let read_only = ActivePermission {
            scopes: vec![Scope::ManageDomains],
            ends_at: None,
            approved_at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(
            authorize(&partner(), org(1), Action::ReadOrganization, None),
            Err(Denied::NotFound)
        );
        assert!(authorize(
            &partner(),
            org(1),
            Action::ReadOrganization,
            Some(&read_only)
        )
        .is_ok());
        assert_eq!(
            authorize(&partner(), org(1), Action::ManageUsers, Some(&read_only)),
            Err(Denied::MissingScope(Scope::ManageUsers))
        );
        let actor = authorize(&partner(), org(1), Action::ManageUsers, Some(&all)).unwrap();
        assert_eq!(actor.partner, Some(PartnerId(Uuid::from_u128(9))));
        assert_eq!(
            authorize(&partner(), org(1), Action::GrantBenefits, Some(&all)),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            authorize(
                &partner(),
                org(1),
                Action::ReadOrganizationAdministration,
                Some(&all)
            ),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn scopes_and_roles_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.code()), Some(scope));
        }
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn types_added_after_the_approval_need_manage_future_benefits() {
        let approved = DateTime::UNIX_EPOCH + chrono::Duration::days(100);
        let without = ActivePermission {
            scopes: vec![Scope::ManageUsers],
            ends_at: None,
            approved_at: approved,
        };
        let with = ActivePermission {
            scopes: vec![Scope::ManageUsers, Scope::ManageFutureBenefits],
            ends_at: None,
            approved_at: approved,
        };
        let decide = |p: &ActivePermission, action, added: Option<DateTime<Utc>>| {
            authorize_on_benefit(&partner(), org(1), action, Some(p), added)
        };
        let later = Some(approved + chrono::Duration::seconds(1));
        let earlier = Some(approved - chrono::Duration::seconds(1));
        // Shipped types and types added before the approval: the usual scopes decide.
        assert!(decide(&without, Action::ManageUsers, None).is_ok());
        assert!(decide(&without, Action::ManageUsers, earlier).is_ok());
        assert!(decide(&without, Action::ManageUsers, Some(approved)).is_ok());
        // A later type: acting needs the scope, reading does not.
        assert_eq!(
            decide(&without, Action::ManageUsers, later),
            Err(Denied::MissingScope(Scope::ManageFutureBenefits))
        );
        assert!(decide(&without, Action::ReadOrganization, later).is_ok());
        assert!(decide(&with, Action::ManageUsers, later).is_ok());
        // The scope never replaces the action's own scope.
        assert_eq!(
            decide(&with, Action::ManageVouchers, later),
            Err(Denied::MissingScope(Scope::ManageVouchers))
        );
        // Administrators and operators are not concerned.
        assert!(authorize_on_benefit(&admin(1), org(1), Action::ManageUsers, None, later).is_ok());
        assert!(authorize_on_benefit(&operator(), org(1), Action::Consume, None, later).is_ok());
    }
}
