//! Authorized e-mail domains, the users of benefits, and product keys.

use super::after_filter;
use super::benefits::load_domains;
use crate::connection::storage;
use crate::convert::{corrupt, from_db, to_db, uuid};
use crate::schema::{authorized_domains, benefit_users, benefits, product_keys};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::error::StorageError;
use domain::error::WriteError;
use domain::ids::{AccountId, BenefitId};
use domain::page::{Page, PageRequest};
use domain::people::{BenefitUser, PeopleError};
use domain::ports::UserRepository;
use domain::values::{DomainName, EmailAddress, Name};
use uuid::Uuid;

#[derive(Queryable)]
struct UserRow {
    id: String,
    benefit_id: String,
    email: String,
    _email_key: String,
    _email_domain: String,
    display_name: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl UserRow {
    fn into_domain(self) -> Result<BenefitUser, StorageError> {
        Ok(BenefitUser {
            id: uuid(&self.id)?,
            benefit_id: BenefitId(uuid(&self.benefit_id)?),
            email: EmailAddress::parse(&self.email).map_err(|_| corrupt("e-mail", &self.email))?,
            display_name: Name::parse(&self.display_name)
                .map_err(|_| corrupt("display name", &self.display_name))?,
            created_at: from_db(self.created_at),
            updated_at: from_db(self.updated_at),
        })
    }
}

fn unique_or(e: DieselError, duplicate: PeopleError) -> WriteError<PeopleError> {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            WriteError::Refused(duplicate)
        }
        other => WriteError::Storage(storage(other)),
    }
}

impl Tx<'_> {
    /// Authorizes a domain on an account; refused when it already is.
    pub fn add_domain(
        &mut self,
        account: AccountId,
        domain: &DomainName,
        now: DateTime<Utc>,
    ) -> Result<(), WriteError<PeopleError>> {
        use authorized_domains::dsl as d;
        let duplicate = || PeopleError::DuplicateDomain {
            domain: domain.as_str().to_owned(),
        };
        let exists: i64 = d::authorized_domains
            .filter(d::account_id.eq(account.to_string()))
            .filter(d::domain.eq(domain.as_str()))
            .count()
            .get_result(self.conn()?)
            .map_err(storage)?;
        if exists > 0 {
            return Err(WriteError::Refused(duplicate()));
        }
        diesel::insert_into(d::authorized_domains)
            .values((
                d::account_id.eq(account.to_string()),
                d::domain.eq(domain.as_str()),
                d::created_at.eq(to_db(now)),
            ))
            .execute(self.conn()?)
            .map_err(|e| unique_or(e, duplicate()))?;
        Ok(())
    }

    /// Removes a domain; `false` when the account did not have it.
    pub fn remove_domain(
        &mut self,
        account: AccountId,
        domain: &DomainName,
    ) -> Result<bool, StorageError> {
        use authorized_domains::dsl as d;
        let removed = diesel::delete(
            d::authorized_domains
                .filter(d::account_id.eq(account.to_string()))
                .filter(d::domain.eq(domain.as_str())),
        )
        .execute(self.conn()?)
        .map_err(storage)?;
        Ok(removed > 0)
    }

    pub fn domains(&mut self, account: AccountId) -> Result<Vec<DomainName>, StorageError> {
        load_domains(self.conn()?, account)
    }

    /// The users of the account's benefits with an address in `domain`.
    pub fn users_in_domain(
        &mut self,
        account: AccountId,
        domain: &DomainName,
    ) -> Result<Vec<BenefitUser>, StorageError> {
        let in_account = benefits::table
            .filter(benefits::account_id.eq(account.to_string()))
            .select(benefits::id);
        let rows: Vec<UserRow> = benefit_users::table
            .filter(benefit_users::email_domain.eq(domain.as_str()))
            .filter(benefit_users::benefit_id.eq_any(in_account))
            .order((benefit_users::created_at.asc(), benefit_users::id.asc()))
            .load(self.conn()?)
            .map_err(storage)?;
        rows.into_iter().map(UserRow::into_domain).collect()
    }

    /// Refuses `u`'s address when another user of the benefit has it.
    fn check_address_free(&mut self, u: &BenefitUser) -> Result<String, WriteError<PeopleError>> {
        use benefit_users::dsl as t;
        let key = BenefitUser::email_key(&u.email);
        let taken: i64 = t::benefit_users
            .filter(t::benefit_id.eq(u.benefit_id.to_string()))
            .filter(t::email_key.eq(&key))
            .filter(t::id.ne(u.id.to_string()))
            .count()
            .get_result(self.conn()?)
            .map_err(storage)?;
        if taken > 0 {
            return Err(WriteError::Refused(PeopleError::DuplicateUser {
                email: u.email.to_string(),
            }));
        }
        Ok(key)
    }

    /// Records a new user; refused when the address is already a user of the benefit.
    pub fn insert_user(&mut self, u: &BenefitUser) -> Result<(), WriteError<PeopleError>> {
        use benefit_users::dsl as t;
        let key = self.check_address_free(u)?;
        let duplicate = || PeopleError::DuplicateUser {
            email: u.email.to_string(),
        };
        diesel::insert_into(t::benefit_users)
            .values((
                t::id.eq(u.id.to_string()),
                t::benefit_id.eq(u.benefit_id.to_string()),
                t::email.eq(u.email.to_string()),
                t::email_key.eq(&key),
                t::email_domain.eq(u.email.domain().as_str()),
                t::display_name.eq(u.display_name.as_str()),
                t::created_at.eq(to_db(u.created_at)),
                t::updated_at.eq(to_db(u.updated_at)),
            ))
            .execute(self.conn()?)
            .map_err(|e| unique_or(e, duplicate()))?;
        Ok(())
    }

    /// Writes a modified user (address and name) if it is still as last changed at
    /// `previous` (`false`: changed meanwhile); refused when the new address is taken.
    pub fn update_user(
        &mut self,
        u: &BenefitUser,
        previous: DateTime<Utc>,
    ) -> Result<bool, WriteError<PeopleError>> {
        use benefit_users::dsl as t;
        let key = self.check_address_free(u)?;
        let duplicate = || PeopleError::DuplicateUser {
            email: u.email.to_string(),
        };
        let changed = diesel::update(
            t::benefit_users
                .filter(t::id.eq(u.id.to_string()))
                .filter(t::updated_at.eq(to_db(previous))),
        )
        .set((
            t::email.eq(u.email.to_string()),
            t::email_key.eq(&key),
            t::email_domain.eq(u.email.domain().as_str()),
            t::display_name.eq(u.display_name.as_str()),
            t::updated_at.eq(to_db(u.updated_at)),
        ))
        .execute(self.conn()?)
        .map_err(|e| unique_or(e, duplicate()))?;
        Ok(changed == 1)
    }

    pub fn delete_user(&mut self, id: Uuid) -> Result<bool, StorageError> {
        use benefit_users::dsl as t;
        let n = diesel::delete(t::benefit_users.filter(t::id.eq(id.to_string())))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(n > 0)
    }

    pub fn user(
        &mut self,
        benefit: BenefitId,
        id: Uuid,
    ) -> Result<Option<BenefitUser>, StorageError> {
        load_user(self.conn()?, benefit, id)
    }

    /// The benefit's product keys, by package id.
    pub fn product_keys(
        &mut self,
        benefit: BenefitId,
    ) -> Result<Vec<(String, String)>, StorageError> {
        use product_keys::dsl as k;
        k::product_keys
            .filter(k::benefit_id.eq(benefit.to_string()))
            .select((k::software_id, k::product_key))
            .order(k::software_id.asc())
            .load(self.conn()?)
            .map_err(storage)
    }

    pub fn insert_product_key(
        &mut self,
        benefit: BenefitId,
        software: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        use product_keys::dsl as k;
        diesel::insert_into(k::product_keys)
            .values((
                k::benefit_id.eq(benefit.to_string()),
                k::software_id.eq(software),
                k::product_key.eq(key),
                k::created_at.eq(to_db(now)),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }
}

fn load_user(
    conn: &mut DbConnection,
    benefit: BenefitId,
    id: Uuid,
) -> Result<Option<BenefitUser>, StorageError> {
    benefit_users::table
        .filter(benefit_users::id.eq(id.to_string()))
        .filter(benefit_users::benefit_id.eq(benefit.to_string()))
        .first::<UserRow>(conn)
        .optional()
        .map_err(storage)?
        .map(UserRow::into_domain)
        .transpose()
}

impl UserRepository for Database {
    fn users(
        &self,
        benefit: BenefitId,
        page: &PageRequest,
    ) -> Result<Page<BenefitUser>, StorageError> {
        use benefit_users::dsl as t;
        let query = t::benefit_users
            .filter(t::benefit_id.eq(benefit.to_string()))
            .into_boxed();
        let query = after_filter!(query, t::created_at, t::id, page.after.as_ref());
        let rows: Vec<UserRow> = query
            .order((t::created_at.asc(), t::id.asc()))
            .limit(page.fetch())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        super::keyed_page(rows, page, UserRow::into_domain, |u| (u.created_at, u.id))
    }

    fn user(&self, benefit: BenefitId, id: Uuid) -> Result<Option<BenefitUser>, StorageError> {
        load_user(&mut *self.conn()?, benefit, id)
    }
}
