use super::after_filter;
use crate::connection::storage;
use crate::convert::{corrupt, from_db, json, to_db, to_json, uuid};
use crate::schema::{organizations, partners, purchasing_accounts};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::entities::{Organization, Partner, PurchasingAccount};
use domain::error::StorageError;
use domain::ids::{AccountId, OrganizationId, PartnerId};
use domain::page::{Page, PageRequest};
use domain::ports::DirectoryRepository;
use domain::values::{EmailAddress, Name, Reference};

#[derive(Queryable, Insertable)]
#[diesel(table_name = organizations)]
struct OrganizationRow {
    id: String,
    name: String,
    contact_emails: String,
    created_at: NaiveDateTime,
    preferred_language: String,
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = purchasing_accounts)]
pub(crate) struct AccountRow {
    pub(crate) id: String,
    pub(crate) organization_id: String,
    pub(crate) name: String,
    pub(crate) agreement_number: Option<String>,
    pub(crate) sa_id: Option<String>,
    pub(crate) program_code: Option<String>,
    pub(crate) created_at: NaiveDateTime,
}

#[derive(Queryable, Insertable)]
#[diesel(table_name = partners)]
struct PartnerRow {
    id: String,
    name: String,
    contact_email: Option<String>,
    created_at: NaiveDateTime,
    preferred_language: String,
}

fn language(raw: &str) -> Result<domain::Language, StorageError> {
    domain::Language::ALL
        .into_iter()
        .find(|l| l.code() == raw)
        .ok_or_else(|| corrupt("language", raw))
}

fn name(raw: &str) -> Result<Name, StorageError> {
    Name::parse(raw).map_err(|_| corrupt("name", raw))
}

fn reference(raw: Option<String>) -> Result<Option<Reference>, StorageError> {
    raw.map(|r| Reference::parse(&r).map_err(|_| corrupt("reference", &r)))
        .transpose()
}

fn email(raw: &str) -> Result<EmailAddress, StorageError> {
    EmailAddress::parse(raw).map_err(|_| corrupt("e-mail", raw))
}

impl OrganizationRow {
    fn into_domain(self) -> Result<Organization, StorageError> {
        let emails: Vec<String> = json("contact e-mails", &self.contact_emails)?;
        Ok(Organization {
            id: OrganizationId(uuid(&self.id)?),
            name: name(&self.name)?,
            contact_emails: emails.iter().map(|e| email(e)).collect::<Result<_, _>>()?,
            created_at: from_db(self.created_at),
            preferred_language: language(&self.preferred_language)?,
        })
    }
}

impl AccountRow {
    pub(crate) fn into_domain(self) -> Result<PurchasingAccount, StorageError> {
        Ok(PurchasingAccount {
            id: AccountId(uuid(&self.id)?),
            organization_id: OrganizationId(uuid(&self.organization_id)?),
            name: name(&self.name)?,
            agreement_number: reference(self.agreement_number)?,
            sa_id: reference(self.sa_id)?,
            program_code: reference(self.program_code)?,
            created_at: from_db(self.created_at),
        })
    }
}

impl PartnerRow {
    fn into_domain(self) -> Result<Partner, StorageError> {
        Ok(Partner {
            id: PartnerId(uuid(&self.id)?),
            name: name(&self.name)?,
            contact_email: self.contact_email.as_deref().map(email).transpose()?,
            created_at: from_db(self.created_at),
            preferred_language: language(&self.preferred_language)?,
        })
    }
}

pub(crate) fn load_partner(
    conn: &mut DbConnection,
    id: PartnerId,
) -> Result<Option<Partner>, StorageError> {
    partners::table
        .find(id.to_string())
        .first::<PartnerRow>(conn)
        .optional()
        .map_err(storage)?
        .map(PartnerRow::into_domain)
        .transpose()
}

pub(crate) fn load_organization(
    conn: &mut DbConnection,
    id: OrganizationId,
) -> Result<Option<Organization>, StorageError> {
    organizations::table
        .find(id.to_string())
        .first::<OrganizationRow>(conn)
        .optional()
        .map_err(storage)?
        .map(OrganizationRow::into_domain)
        .transpose()
}

/// The organizations with these ids, in one query.
pub(crate) fn load_organizations(
    conn: &mut DbConnection,
    ids: &[OrganizationId],
) -> Result<Vec<Organization>, StorageError> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows: Vec<OrganizationRow> = organizations::table
        .filter(organizations::id.eq_any(ids))
        .load(conn)
        .map_err(storage)?;
    rows.into_iter().map(OrganizationRow::into_domain).collect()
}

impl Tx<'_> {
    pub fn insert_organization(&mut self, o: &Organization) -> Result<(), StorageError> {
        let emails: Vec<String> = o.contact_emails.iter().map(ToString::to_string).collect();
        let row = OrganizationRow {
            id: o.id.to_string(),
            name: o.name.as_str().to_owned(),
            contact_emails: to_json(&emails)?,
            created_at: to_db(o.created_at),
            preferred_language: o.preferred_language.code().to_owned(),
        };
        diesel::insert_into(organizations::table)
            .values(&row)
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }

    pub fn insert_account(&mut self, a: &PurchasingAccount) -> Result<(), StorageError> {
        let row = AccountRow {
            id: a.id.to_string(),
            organization_id: a.organization_id.to_string(),
            name: a.name.as_str().to_owned(),
            agreement_number: a.agreement_number.as_ref().map(|r| r.as_str().to_owned()),
            sa_id: a.sa_id.as_ref().map(|r| r.as_str().to_owned()),
            program_code: a.program_code.as_ref().map(|r| r.as_str().to_owned()),
            created_at: to_db(a.created_at),
        };
        diesel::insert_into(purchasing_accounts::table)
            .values(&row)
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }

    pub fn insert_partner(&mut self, p: &Partner) -> Result<(), StorageError> {
        let row = PartnerRow {
            id: p.id.to_string(),
            name: p.name.as_str().to_owned(),
            contact_email: p.contact_email.as_ref().map(ToString::to_string),
            created_at: to_db(p.created_at),
            preferred_language: p.preferred_language.code().to_owned(),
        };
        diesel::insert_into(partners::table)
            .values(&row)
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }

    /// Changes an organization's contact e-mails and language; whether it exists.
    pub fn update_organization(&mut self, o: &Organization) -> Result<bool, StorageError> {
        let emails: Vec<String> = o.contact_emails.iter().map(ToString::to_string).collect();
        let updated = diesel::update(organizations::table.find(o.id.to_string()))
            .set((
                organizations::contact_emails.eq(to_json(&emails)?),
                organizations::preferred_language.eq(o.preferred_language.code()),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(updated == 1)
    }

    /// Changes a partner's contact e-mail and language; whether it exists.
    pub fn update_partner(&mut self, p: &Partner) -> Result<bool, StorageError> {
        let updated = diesel::update(partners::table.find(p.id.to_string()))
            .set((
                partners::contact_email.eq(p.contact_email.as_ref().map(ToString::to_string)),
                partners::preferred_language.eq(p.preferred_language.code()),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(updated == 1)
    }

    /// An organization, read in this transaction.
    pub fn organization(
        &mut self,
        id: OrganizationId,
    ) -> Result<Option<Organization>, StorageError> {
        load_organization(self.conn()?, id)
    }

    /// A partner, read in this transaction.
    pub fn partner(&mut self, id: PartnerId) -> Result<Option<Partner>, StorageError> {
        load_partner(self.conn()?, id)
    }
}

impl DirectoryRepository for Database {
    fn insert_organization(&self, o: &Organization) -> Result<(), StorageError> {
        self.write(|tx| tx.insert_organization(o))
    }

    fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StorageError> {
        load_organization(&mut *self.conn()?, id)
    }

    fn insert_account(&self, a: &PurchasingAccount) -> Result<(), StorageError> {
        self.write(|tx| tx.insert_account(a))
    }

    fn account(&self, id: AccountId) -> Result<Option<PurchasingAccount>, StorageError> {
        let mut conn = self.conn()?;
        purchasing_accounts::table
            .find(id.to_string())
            .first::<AccountRow>(&mut conn)
            .optional()
            .map_err(storage)?
            .map(AccountRow::into_domain)
            .transpose()
    }

    fn accounts(
        &self,
        organization: OrganizationId,
        page: &PageRequest,
    ) -> Result<Page<PurchasingAccount>, StorageError> {
        use purchasing_accounts::dsl as a;
        let mut conn = self.conn()?;
        let query = a::purchasing_accounts
            .filter(a::organization_id.eq(organization.to_string()))
            .into_boxed();
        let query = after_filter!(query, a::created_at, a::id, page.after.as_ref());
        let rows: Vec<AccountRow> = query
            .order((a::created_at.asc(), a::id.asc()))
            .limit(page.fetch())
            .load(&mut conn)
            .map_err(storage)?;
        super::keyed_page(rows, page, AccountRow::into_domain, |a| {
            (a.created_at, a.id.as_uuid())
        })
    }

    fn insert_partner(&self, p: &Partner) -> Result<(), StorageError> {
        self.write(|tx| tx.insert_partner(p))
    }

    fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StorageError> {
        let mut conn = self.conn()?;
        partners::table
            .find(id.to_string())
            .first::<PartnerRow>(&mut conn)
            .optional()
            .map_err(storage)?
            .map(PartnerRow::into_domain)
            .transpose()
    }

    fn is_empty(&self) -> Result<bool, StorageError> {
        let mut conn = self.conn()?;
        let count: i64 = organizations::table
            .count()
            .get_result(&mut conn)
            .map_err(storage)?;
        Ok(count == 0)
    }
}
