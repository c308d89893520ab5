//! Training vouchers and conversions: their records, the locks that keep conversions exact
//! on PostgreSQL, and reading them back.

use super::benefits::{expiries, load_benefits, BenefitRow};
use super::directory::AccountRow;
use super::{after_filter, before_filter};
use crate::connection::storage;
use crate::convert::{corrupt, from_db, to_db, uuid};
use crate::schema::{benefits, conversions, purchasing_accounts, vouchers};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::auth::{Actor, Role};
use domain::benefit::Benefit;
use domain::conversion::{ConversionRecord, ConversionRule, Direction};
use domain::error::StorageError;
use domain::ids::{AccountId, BenefitId, PartnerId};
use domain::page::{Page, PageRequest};
use domain::ports::{ConversionRepository, HeldBenefit, VoucherRepository};
use domain::values::{EmailAddress, Name};
use domain::voucher::{Voucher, VoucherExpiry, VoucherStatus};
use uuid::Uuid;

#[derive(Queryable)]
struct VoucherRow {
    id: String,
    benefit_id: String,
    holder_email: String,
    holder_name: String,
    course: String,
    days: i64,
    status: String,
    assigned_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    days_returned: Option<bool>,
    version: i64,
}

impl VoucherRow {
    fn into_domain(self) -> Result<Voucher, StorageError> {
        Ok(Voucher {
            id: uuid(&self.id)?,
            benefit_id: BenefitId(uuid(&self.benefit_id)?),
            holder_email: EmailAddress::parse(&self.holder_email)
                .map_err(|_| corrupt("holder e-mail", &self.holder_email))?,
            holder_name: Name::parse(&self.holder_name)
                .map_err(|_| corrupt("holder name", &self.holder_name))?,
            course: Name::parse(&self.course).map_err(|_| corrupt("course", &self.course))?,
            days: self.days,
            status: VoucherStatus::parse(&self.status)
                .ok_or_else(|| corrupt("voucher status", &self.status))?,
            assigned_at: from_db(self.assigned_at),
            expires_at: from_db(self.expires_at),
            updated_at: from_db(self.updated_at),
            days_returned: self.days_returned,
            version: self.version,
        })
    }
}

#[derive(Queryable)]
struct ConversionRow {
    id: String,
    account_id: String,
    direction: String,
    source_type: String,
    target_type: String,
    source_benefit_id: String,
    target_benefit_id: String,
    source_days: i64,
    target_days: i64,
    actor_subject: String,
    actor_role: String,
    partner_id: Option<String>,
    created_at: NaiveDateTime,
}

impl ConversionRow {
    fn into_domain(self) -> Result<ConversionRecord, StorageError> {
        Ok(ConversionRecord {
            id: uuid(&self.id)?,
            account_id: AccountId(uuid(&self.account_id)?),
            rule: ConversionRule::between(&self.source_type, &self.target_type)
                .ok_or_else(|| corrupt("conversion rule", &self.source_type))?,
            direction: Direction::parse(&self.direction)
                .ok_or_else(|| corrupt("direction", &self.direction))?,
            source_benefit_id: BenefitId(uuid(&self.source_benefit_id)?),
            target_benefit_id: BenefitId(uuid(&self.target_benefit_id)?),
            source_days: self.source_days,
            target_days: self.target_days,
            actor: Actor {
                subject: self.actor_subject,
                role: Role::parse(&self.actor_role)
                    .ok_or_else(|| corrupt("role", &self.actor_role))?,
                partner: self
                    .partner_id
                    .as_deref()
                    .map(uuid)
                    .transpose()?
                    .map(PartnerId),
            },
            at: from_db(self.created_at),
        })
    }
}

fn load_voucher(
    conn: &mut DbConnection,
    id: Uuid,
) -> Result<Option<(Voucher, HeldBenefit)>, StorageError> {
    let found: Option<(VoucherRow, (BenefitRow, AccountRow))> = vouchers::table
        .inner_join(benefits::table.inner_join(purchasing_accounts::table))
        .filter(vouchers::id.eq(id.to_string()))
        .first(conn)
        .optional()
        .map_err(storage)?;
    found
        .map(|(v, (b, a))| {
            Ok((
                v.into_domain()?,
                HeldBenefit {
                    benefit: b.into_domain()?,
                    account: a.into_domain()?,
                },
            ))
        })
        .transpose()
}

fn converted(
    conn: &mut DbConnection,
    account: AccountId,
    rule: &ConversionRule,
) -> Result<i64, StorageError> {
    use conversions::dsl as c;
    let rows: Vec<(String, i64)> = c::conversions
        .filter(c::account_id.eq(account.to_string()))
        .filter(c::source_type.eq(rule.source))
        .filter(c::target_type.eq(rule.target))
        .select((c::direction, c::target_days))
        .load(conn)
        .map_err(storage)?;
    Ok(rows
        .iter()
        .map(|(d, n)| {
            if d == Direction::Forward.code() {
                *n
            } else {
                -*n
            }
        })
        .sum())
}

impl Tx<'_> {
    pub fn insert_voucher(&mut self, v: &Voucher) -> Result<(), StorageError> {
        use vouchers::dsl as t;
        diesel::insert_into(t::vouchers)
            .values((
                t::id.eq(v.id.to_string()),
                t::benefit_id.eq(v.benefit_id.to_string()),
                t::holder_email.eq(v.holder_email.to_string()),
                t::holder_name.eq(v.holder_name.as_str()),
                t::course.eq(v.course.as_str()),
                t::days.eq(v.days),
                t::status.eq(v.status.code()),
                t::assigned_at.eq(to_db(v.assigned_at)),
                t::expires_at.eq(to_db(v.expires_at)),
                t::updated_at.eq(to_db(v.updated_at)),
                t::days_returned.eq(v.days_returned),
                t::version.eq(v.version),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }

    /// A voucher with its benefit, read inside the transaction.
    pub fn voucher(&mut self, id: Uuid) -> Result<Option<(Voucher, HeldBenefit)>, StorageError> {
        load_voucher(self.conn()?, id)
    }

    /// Writes a moved voucher if it is still at `expected` version; `false` otherwise.
    pub fn update_voucher(&mut self, v: &Voucher, expected: i64) -> Result<bool, StorageError> {
        use vouchers::dsl as t;
        let changed = diesel::update(
            t::vouchers
                .filter(t::id.eq(v.id.to_string()))
                .filter(t::version.eq(expected)),
        )
        .set((
            t::status.eq(v.status.code()),
            t::updated_at.eq(to_db(v.updated_at)),
            t::days_returned.eq(v.days_returned),
            t::version.eq(v.version),
        ))
        .execute(self.conn()?)
        .map_err(storage)?;
        Ok(changed == 1)
    }

    /// Takes the row locks of these benefits until the end of the transaction, in id order
    /// (PostgreSQL; SQLite transactions are already exclusive). What is read afterwards
    /// (figures, converted days) cannot change under the transaction. `true` when locks were
    /// taken, so what was read before may be out of date.
    pub fn lock_benefits(&mut self, ids: &[BenefitId]) -> Result<bool, StorageError> {
        let DbConnection::Postgresql(conn) = self.conn()? else {
            return Ok(false);
        };
        let mut ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        ids.sort();
        for id in ids {
            diesel::sql_query("SELECT 1 FROM benefits WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>(id)
                .execute(conn)
                .map_err(storage)?;
        }
        Ok(true)
    }

    /// The account's benefits, read inside the transaction.
    pub fn account_benefits(&mut self, account: AccountId) -> Result<Vec<Benefit>, StorageError> {
        load_benefits(self.conn()?, account)
    }

    /// Target days converted forward and not converted back, for this rule on the account.
    pub fn converted(
        &mut self,
        account: AccountId,
        rule: &ConversionRule,
    ) -> Result<i64, StorageError> {
        converted(self.conn()?, account, rule)
    }

    pub fn insert_conversion(&mut self, r: &ConversionRecord) -> Result<(), StorageError> {
        use conversions::dsl as c;
        diesel::insert_into(c::conversions)
            .values((
                c::id.eq(r.id.to_string()),
                c::account_id.eq(r.account_id.to_string()),
                c::direction.eq(r.direction.code()),
                c::source_type.eq(r.rule.source),
                c::target_type.eq(r.rule.target),
                c::source_benefit_id.eq(r.source_benefit_id.to_string()),
                c::target_benefit_id.eq(r.target_benefit_id.to_string()),
                c::source_days.eq(r.source_days),
                c::target_days.eq(r.target_days),
                c::actor_subject.eq(&r.actor.subject),
                c::actor_role.eq(r.actor.role.code()),
                c::partner_id.eq(r.actor.partner.map(|p| p.to_string())),
                c::created_at.eq(to_db(r.at)),
            ))
            .execute(self.conn()?)
            .map_err(storage)?;
        Ok(())
    }
}

impl VoucherRepository for Database {
    fn voucher(&self, id: Uuid) -> Result<Option<(Voucher, HeldBenefit)>, StorageError> {
        load_voucher(&mut *self.conn()?, id)
    }

    fn vouchers(
        &self,
        benefit: BenefitId,
        page: &PageRequest,
    ) -> Result<Page<Voucher>, StorageError> {
        use vouchers::dsl as t;
        let query = t::vouchers
            .filter(t::benefit_id.eq(benefit.to_string()))
            .into_boxed();
        let query = after_filter!(query, t::assigned_at, t::id, page.after.as_ref());
        let rows: Vec<VoucherRow> = query
            .order((t::assigned_at.asc(), t::id.asc()))
            .limit(page.fetch())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        super::keyed_page(rows, page, VoucherRow::into_domain, |v| {
            (v.assigned_at, v.id)
        })
    }

    fn voucher_expiries(&self, benefit: BenefitId) -> Result<Vec<VoucherExpiry>, StorageError> {
        use vouchers::dsl as t;
        let rows: Vec<(String, NaiveDateTime, i64)> = t::vouchers
            .filter(t::benefit_id.eq(benefit.to_string()))
            .filter(t::status.eq(VoucherStatus::Assigned.code()))
            .select((t::benefit_id, t::expires_at, t::days))
            .load(&mut self.conn()?)
            .map_err(storage)?;
        expiries(rows)
    }

    fn due_voucher_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Uuid>, StorageError> {
        use vouchers::dsl as t;
        let ids: Vec<String> = t::vouchers
            .filter(t::status.eq(VoucherStatus::Assigned.code()))
            .filter(t::expires_at.le(to_db(now)))
            .select(t::id)
            .order(t::expires_at.asc())
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        ids.iter().map(|i| uuid(i)).collect()
    }
}

impl ConversionRepository for Database {
    fn converted_days(
        &self,
        account: AccountId,
        rule: &ConversionRule,
    ) -> Result<i64, StorageError> {
        converted(&mut *self.conn()?, account, rule)
    }

    fn conversions(
        &self,
        account: AccountId,
        page: &PageRequest,
    ) -> Result<Page<ConversionRecord>, StorageError> {
        use conversions::dsl as c;
        let query = c::conversions
            .filter(c::account_id.eq(account.to_string()))
            .into_boxed();
        let query = before_filter!(query, c::created_at, c::id, page.after.as_ref());
        let rows: Vec<ConversionRow> = query
            .order((c::created_at.desc(), c::id.desc()))
            .limit(page.fetch())
            .load(&mut self.conn()?)
            .map_err(storage)?;
        super::keyed_page(rows, page, ConversionRow::into_domain, |c| (c.at, c.id))
    }
}
