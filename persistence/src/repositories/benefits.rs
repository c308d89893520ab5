use super::directory::AccountRow;
use crate::connect::{execute_native, storage};
use crate::convert::{corrupt, from_db, json, to_db, to_json, uuid};
use crate::schema::{
    authorized_domains, benefit_transactions, benefits, purchasing_accounts, vouchers,
};
use crate::tx::Tx;
use crate::{Database, DbConnection};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use domain::auth::Actor;
use domain::benefit::{Benefit, Grant, GrantError};
use domain::catalog::{TypeCode, Unit};
use domain::error::StorageError;
use domain::error::WriteError;
use domain::ids::{AccountId, BenefitId, TransactionId};
use domain::ledger::{EntryKind, Figure, Figures};
use domain::metering::LedgerEntry;
use domain::ports::{BenefitRepository, HeldBenefit, Portfolio};
use domain::values::DomainName;
use domain::voucher::{VoucherExpiry, VoucherStatus};

#[derive(Queryable, Insertable)]
#[diesel(table_name = benefits)]
pub(crate) struct BenefitRow {
    id: String,
    account_id: String,
    type_code: String,
    unit: String,
    quantity: Option<i64>,
    used: Option<i64>,
    valid_from: NaiveDateTime,
    expires_at: NaiveDateTime,
    access_code: Option<String>,
    calculation_inputs: String,
    created_at: NaiveDateTime,
    version: i64,
}

impl BenefitRow {
    pub(crate) fn into_domain(self) -> Result<Benefit, StorageError> {
        let figures = match (self.quantity, self.used) {
            (Some(quantity), Some(used)) => Some(Figures { quantity, used }),
            (None, None) => None,
            _ => {
                return Err(StorageError(format!(
                    "benefit {} has half its figures",
                    self.id
                )))
            }
        };
        Ok(Benefit {
            id: BenefitId(uuid(&self.id)?),
            account_id: AccountId(uuid(&self.account_id)?),
            type_code: TypeCode::parse(&self.type_code)
                .map_err(|_| corrupt("type code", &self.type_code))?,
            unit: Unit::parse(&self.unit).ok_or_else(|| corrupt("unit", &self.unit))?,
            figures,
            valid_from: from_db(self.valid_from),
            expires_at: from_db(self.expires_at),
            access_code: self.access_code,
            calculation_inputs: json("calculation inputs", &self.calculation_inputs)?,
            created_at: from_db(self.created_at),
            version: self.version,
        })
    }
}

/// One ledger entry to append.
pub(crate) struct NewEntry<'a> {
    pub benefit: BenefitId,
    /// Its position in the ledger: the benefit's version after the change (see
    /// `conditional_update`), 1 for the grant.
    pub seq: i64,
    pub kind: EntryKind,
    pub amount: i64,
    /// The figures after the entry (`None` for an unmetered benefit).
    pub after: Option<Figures>,
    pub actor: &'a Actor,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// Appends one entry to a benefit's ledger. Must run inside the write transaction that
/// changed the figures; `(benefit_id, seq)` is unique, so two writers can never both append
/// the same position.
pub(crate) fn append_entry(
    conn: &mut DbConnection,
    entry: NewEntry<'_>,
) -> Result<LedgerEntry, StorageError> {
    use benefit_transactions::dsl as t;
    let benefit_id = entry.benefit.to_string();
    let seq = entry.seq;
    let (quantity_delta, used_delta) = match entry.kind.figure() {
        Figure::Quantity => (entry.amount, 0),
        Figure::Used => (0, entry.amount),
    };
    let id = domain::ids::append_only_id(entry.at);
    let at = to_db(entry.at);
    execute_native(
        conn,
        diesel::insert_into(t::benefit_transactions).values((
            t::id.eq(id.to_string()),
            t::benefit_id.eq(&benefit_id),
            t::seq.eq(seq),
            t::kind.eq(entry.kind.code()),
            t::quantity_delta.eq(quantity_delta),
            t::used_delta.eq(used_delta),
            t::quantity_after.eq(entry.after.map(|f| f.quantity)),
            t::used_after.eq(entry.after.map(|f| f.used)),
            t::actor_subject.eq(&entry.actor.subject),
            t::actor_role.eq(entry.actor.role.code()),
            t::partner_id.eq(entry.actor.partner.map(|p| p.to_string())),
            t::reference.eq(&entry.reference),
            t::note.eq(&entry.note),
            t::created_at.eq(at),
        )),
    )
    .map_err(storage)?;
    Ok(LedgerEntry {
        id: TransactionId(id),
        benefit_id: entry.benefit,
        seq,
        kind: entry.kind,
        amount: entry.amount,
        after: entry.after,
        actor_subject: entry.actor.subject.clone(),
        actor_role: entry.actor.role,
        partner: entry.actor.partner,
        reference: entry.reference,
        note: entry.note,
        created_at: from_db(at),
    })
}

pub(crate) fn load_benefits(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Vec<Benefit>, StorageError> {
    let rows: Vec<BenefitRow> = benefits::table
        .filter(benefits::account_id.eq(account.to_string()))
        .order((benefits::created_at.asc(), benefits::id.asc()))
        .load(conn)
        .map_err(storage)?;
    rows.into_iter().map(BenefitRow::into_domain).collect()
}

impl Tx<'_> {
    /// Records a grant: checks it against the account's benefits and writes the benefit and
    /// its first ledger entry.
    pub fn grant(
        &mut self,
        account: AccountId,
        id: BenefitId,
        grant: &Grant,
        access_code: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Benefit, WriteError<GrantError>> {
        let conn = self.conn()?;
        let held = load_benefits(conn, account)?;
        grant
            .check_against(&held, now)
            .map_err(WriteError::Refused)?;
        let figures = grant.figures();
        let row = BenefitRow {
            id: id.to_string(),
            account_id: account.to_string(),
            type_code: grant.type_code.as_str().to_owned(),
            unit: grant.unit.code().to_owned(),
            quantity: figures.map(|f| f.quantity),
            used: figures.map(|f| f.used),
            valid_from: to_db(grant.valid_from),
            expires_at: to_db(grant.expires_at),
            access_code,
            calculation_inputs: to_json(&grant.calculation_inputs)?,
            created_at: to_db(now),
            version: 1,
        };
        diesel::insert_into(benefits::table)
            .values(&row)
            .execute(conn)
            .map_err(storage)?;
        append_entry(
            conn,
            NewEntry {
                benefit: id,
                seq: 1,
                kind: EntryKind::Grant,
                amount: figures.map_or(0, |f| f.quantity),
                after: figures,
                actor,
                reference: None,
                note: None,
                at: now,
            },
        )?;
        Ok(row.into_domain()?)
    }

    /// A benefit with its account, read inside the transaction (an optimistic one reads it
    /// before its `BEGIN`, and decides its ledger change on the version read: see
    /// [`crate::tx`]).
    pub fn benefit(&mut self, id: BenefitId) -> Result<Option<HeldBenefit>, StorageError> {
        if self.deferred() && self.contended(id) {
            // Many change it at once: an ordinary transaction from here on (its BEGIN now),
            // which waits for the row's lock in turn instead of meeting a conflict.
            self.conn()?;
        }
        let deferred = self.deferred();
        let kept = deferred.then(|| self.kept(id)).flatten();
        let held = match kept {
            // Its key, if any, is not looked up: the change's statement writes it, and is
            // refused if it was used (Tx::check_key).
            Some(kept) => Some(kept),
            None => {
                let read = match self.read_conn() {
                    (DbConnection::Postgresql(pg), Some(ahead)) => {
                        let (held, found) = load_held_and_key_pg(pg, id, &ahead.scope, &ahead.key)?;
                        ahead.found = Some(found);
                        held
                    }
                    (conn, _) => load_held(conn, id)?,
                };
                if let Some(h) = read.as_ref().filter(|_| deferred) {
                    self.keep(h);
                }
                read
            }
        };
        if deferred {
            if let Some(h) = &held {
                self.read = Some(crate::tx::ReadBenefit {
                    id: h.benefit.id,
                    version: h.benefit.version,
                    figures: h.benefit.figures,
                });
            }
        }
        Ok(held)
    }
}

/// PostgreSQL: the benefit with its account, and the idempotency key's lock and record
/// ([`super::idempotency::key_lookup`]), in one statement. The key's part is what
/// `locked_key_pg` would answer; the benefit is `None` when there is none.
fn load_held_and_key_pg(
    conn: &mut diesel::PgConnection,
    id: BenefitId,
    scope: &str,
    key: &domain::idempotency::IdempotencyKey,
) -> Result<(Option<HeldBenefit>, super::idempotency::LockedKey), StorageError> {
    use super::idempotency::{key_lock, key_lookup, KeyColumns};
    use crate::fixed::{fixed, Statement};
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
    struct Lookup;
    impl Statement for Lookup {
        const SQL: &'static str = concat!(
            "SELECT ",
            key_lookup!(columns),
            ", b.id AS b_id, b.account_id AS b_account_id, b.type_code AS b_type_code, \
             b.unit AS b_unit, b.quantity AS b_quantity, b.used AS b_used, \
             b.valid_from AS b_valid_from, b.expires_at AS b_expires_at, \
             b.access_code AS b_access_code, b.calculation_inputs AS b_calculation_inputs, \
             b.created_at AS b_created_at, b.version AS b_version, \
             a.organization_id AS a_organization_id, a.name AS a_name, \
             a.agreement_number AS a_agreement_number, a.sa_id AS a_sa_id, \
             a.program_code AS a_program_code, a.created_at AS a_created_at FROM ",
            key_lookup!(from),
            " LEFT JOIN (benefits b JOIN purchasing_accounts a ON a.id = b.account_id) \
             ON b.id = $4"
        );
    }
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(embed)]
        key: KeyColumns,
        #[diesel(sql_type = Nullable<Text>)]
        b_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        b_account_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        b_type_code: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        b_unit: Option<String>,
        #[diesel(sql_type = Nullable<BigInt>)]
        b_quantity: Option<i64>,
        #[diesel(sql_type = Nullable<BigInt>)]
        b_used: Option<i64>,
        #[diesel(sql_type = Nullable<Timestamp>)]
        b_valid_from: Option<NaiveDateTime>,
        #[diesel(sql_type = Nullable<Timestamp>)]
        b_expires_at: Option<NaiveDateTime>,
        #[diesel(sql_type = Nullable<Text>)]
        b_access_code: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        b_calculation_inputs: Option<String>,
        #[diesel(sql_type = Nullable<Timestamp>)]
        b_created_at: Option<NaiveDateTime>,
        #[diesel(sql_type = Nullable<BigInt>)]
        b_version: Option<i64>,
        #[diesel(sql_type = Nullable<Text>)]
        a_organization_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        a_name: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        a_agreement_number: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        a_sa_id: Option<String>,
        #[diesel(sql_type = Nullable<Text>)]
        a_program_code: Option<String>,
        #[diesel(sql_type = Nullable<Timestamp>)]
        a_created_at: Option<NaiveDateTime>,
    }
    let found: Found = fixed::<Lookup, _>(|q| {
        q.bind::<Text, _>(key_lock(scope, key))
            .bind::<Text, _>(scope)
            .bind::<Text, _>(key.as_str())
            .bind::<Text, _>(id.to_string())
    })
    .get_result(conn)
    .map_err(storage)?;
    let key = found.key.into_found(scope, key)?;
    let Some(benefit_id) = found.b_id else {
        return Ok((None, key));
    };
    // A benefit was found (an inner join with its account): its columns that are NOT NULL
    // are there.
    fn present<T>(value: Option<T>, column: &str) -> Result<T, StorageError> {
        value.ok_or_else(|| StorageError(format!("a benefit read without its {column}")))
    }
    let benefit = BenefitRow {
        id: benefit_id,
        account_id: present(found.b_account_id, "account")?,
        type_code: present(found.b_type_code, "type")?,
        unit: present(found.b_unit, "unit")?,
        quantity: found.b_quantity,
        used: found.b_used,
        valid_from: present(found.b_valid_from, "start")?,
        expires_at: present(found.b_expires_at, "end")?,
        access_code: found.b_access_code,
        calculation_inputs: present(found.b_calculation_inputs, "calculation inputs")?,
        created_at: present(found.b_created_at, "creation time")?,
        version: present(found.b_version, "version")?,
    };
    let account = AccountRow {
        id: benefit.account_id.clone(),
        organization_id: present(found.a_organization_id, "organization")?,
        name: present(found.a_name, "account name")?,
        agreement_number: found.a_agreement_number,
        sa_id: found.a_sa_id,
        program_code: found.a_program_code,
        created_at: present(found.a_created_at, "account's creation time")?,
    };
    Ok((
        Some(HeldBenefit {
            benefit: benefit.into_domain()?,
            account: account.into_domain()?,
        }),
        key,
    ))
}

pub(crate) fn load_held(
    conn: &mut DbConnection,
    id: BenefitId,
) -> Result<Option<HeldBenefit>, StorageError> {
    let query = benefits::table
        .inner_join(purchasing_accounts::table)
        .filter(benefits::id.eq(id.to_string()));
    // On the backend's own connection: through the MultiConnection its SQL would be written
    // again on every run (see `connect::execute_native`).
    let found: Option<(BenefitRow, AccountRow)> = match conn {
        DbConnection::Sqlite(c) => query.first(c),
        DbConnection::Postgresql(c) => query.first(c),
    }
    .optional()
    .map_err(storage)?;
    found
        .map(|(b, a)| {
            Ok(HeldBenefit {
                benefit: b.into_domain()?,
                account: a.into_domain()?,
            })
        })
        .transpose()
}

impl BenefitRepository for Database {
    fn due_benefit_expiries(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<BenefitId>, StorageError> {
        use benefits::dsl as b;
        let ids: Vec<String> = b::benefits
            .filter(b::expires_at.le(to_db(now)))
            .filter(b::quantity.gt(b::used))
            .select(b::id)
            .order(b::expires_at.asc())
            .limit(limit)
            .load(&mut self.conn()?)
            .map_err(storage)?;
        ids.iter().map(|i| uuid(i).map(BenefitId)).collect()
    }

    fn grant(
        &self,
        account: AccountId,
        id: BenefitId,
        grant: &Grant,
        access_code: Option<String>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Benefit, WriteError<GrantError>> {
        self.write(|tx| tx.grant(account, id, grant, access_code, actor, now))
    }

    fn benefits_of_account(&self, account: AccountId) -> Result<Vec<Benefit>, StorageError> {
        let mut conn = self.conn()?;
        load_benefits(&mut conn, account)
    }

    /// Read on one snapshot: the figures, domains and vouchers shown together never straddle
    /// a write.
    fn portfolio(&self, account: AccountId) -> Result<Option<Portfolio>, StorageError> {
        // The backend is known without a checkout: SQLite takes one connection per read.
        if self.backend() == crate::connect::Backend::Postgres {
            if let DbConnection::Postgresql(pg) = &mut *self.conn()? {
                let lines = crate::postgres::portfolio::read(
                    pg,
                    account.to_string(),
                    VoucherStatus::Assigned.code(),
                )
                .map_err(storage)?;
                return portfolio_of_lines(lines);
            }
        }
        self.read_snapshot(|conn| {
            let Some(row) = purchasing_accounts::table
                .find(account.to_string())
                .first::<AccountRow>(conn)
                .optional()
                .map_err(storage)?
            else {
                return Ok(None);
            };
            Ok(Some(Portfolio {
                account: row.into_domain()?,
                benefits: load_benefits(conn, account)?,
                authorized_domains: count_domains(conn, account)?,
                voucher_expiries: account_voucher_expiries(conn, account)?,
            }))
        })
    }

    fn benefit(&self, id: BenefitId) -> Result<Option<HeldBenefit>, StorageError> {
        let mut conn = self.conn()?;
        load_held(&mut conn, id)
    }

    fn authorized_domains(&self, account: AccountId) -> Result<Vec<DomainName>, StorageError> {
        let mut conn = self.conn()?;
        load_domains(&mut conn, account)
    }
}

impl Database {
    /// [`BenefitRepository::portfolio`] without blocking, on PostgreSQL: read on the calling
    /// thread's own connection ([`crate::postgres::reader`]). `None` on SQLite, which reads
    /// in-process through the pool, and once [`Database::close_readers`] was called. Must run
    /// on a tokio runtime.
    pub async fn portfolio_in_place(
        &self,
        account: AccountId,
    ) -> Option<Result<Option<Portfolio>, StorageError>> {
        let reader = self.reader.as_ref().filter(|r| r.is_open())?;
        let lines = reader
            .portfolio(account.to_string(), VoucherStatus::Assigned.code())
            .await;
        Some(lines.and_then(portfolio_of_lines))
    }
}

/// Gathers the lines of PostgreSQL's one-statement portfolio: the account from the first,
/// each benefit once (its lines follow one another), each assigned voucher of a line.
fn portfolio_of_lines(
    mut lines: Vec<crate::postgres::portfolio::PortfolioLine>,
) -> Result<Option<Portfolio>, StorageError> {
    // The statement leaves the order to us: the benefits as they were granted, each one's
    // lines together.
    lines.sort_by(|a, b| {
        (a.benefit_created_at, &a.benefit_id).cmp(&(b.benefit_created_at, &b.benefit_id))
    });
    let mut lines = lines.into_iter().peekable();
    let Some(first) = lines.peek() else {
        return Ok(None);
    };
    let account = AccountRow {
        id: first.account_id.clone(),
        organization_id: first.organization_id.clone(),
        name: first.account_name.clone(),
        agreement_number: first.agreement_number.clone(),
        sa_id: first.sa_id.clone(),
        program_code: first.program_code.clone(),
        created_at: first.account_created_at,
    }
    .into_domain()?;
    let authorized_domains = usize::try_from(first.domain_count)
        .map_err(|_| corrupt("domain count", &first.account_id))?;
    let (mut benefits, mut vouchers) = (Vec::new(), Vec::new());
    let mut last: Option<String> = None;
    for line in lines {
        let Some(id) = line.benefit_id else { continue };
        if let (Some(at), Some(days)) = (line.voucher_expires_at, line.voucher_days) {
            vouchers.push((id.clone(), at, days));
        }
        if last.as_deref() == Some(id.as_str()) {
            continue;
        }
        let missing = || corrupt("benefit line", &id);
        let row = BenefitRow {
            id: id.clone(),
            account_id: line.account_id,
            type_code: line.type_code.ok_or_else(missing)?,
            unit: line.unit.ok_or_else(missing)?,
            quantity: line.quantity,
            used: line.used,
            valid_from: line.valid_from.ok_or_else(missing)?,
            expires_at: line.expires_at.ok_or_else(missing)?,
            access_code: line.access_code,
            calculation_inputs: line.calculation_inputs.ok_or_else(missing)?,
            created_at: line.benefit_created_at.ok_or_else(missing)?,
            version: line.version.ok_or_else(missing)?,
        };
        benefits.push(row.into_domain()?);
        last = Some(id);
    }
    Ok(Some(Portfolio {
        account,
        benefits,
        authorized_domains,
        voucher_expiries: expiries(vouchers)?,
    }))
}

/// How many e-mail domains `account` has authorized.
fn count_domains(conn: &mut DbConnection, account: AccountId) -> Result<usize, StorageError> {
    let count: i64 = authorized_domains::table
        .filter(authorized_domains::account_id.eq(account.to_string()))
        .count()
        .get_result(conn)
        .map_err(storage)?;
    usize::try_from(count).map_err(|_| corrupt("domain count", &account.to_string()))
}

pub(crate) fn load_domains(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Vec<DomainName>, StorageError> {
    let rows: Vec<String> = authorized_domains::table
        .filter(authorized_domains::account_id.eq(account.to_string()))
        .select(authorized_domains::domain)
        .order(authorized_domains::domain.asc())
        .load(conn)
        .map_err(storage)?;
    parse_domains(&rows)
}

/// Stored domains, parsed once; one that does not parse is a corrupt row.
fn parse_domains(rows: &[String]) -> Result<Vec<DomainName>, StorageError> {
    rows.iter()
        .map(|d| DomainName::parse(d).map_err(|_| corrupt("domain", d)))
        .collect()
}

pub(crate) fn expiries(
    rows: Vec<(String, NaiveDateTime, i64)>,
) -> Result<Vec<VoucherExpiry>, StorageError> {
    rows.into_iter()
        .map(|(benefit, at, days)| {
            Ok(VoucherExpiry {
                benefit_id: BenefitId(uuid(&benefit)?),
                expires_at: from_db(at),
                days,
            })
        })
        .collect()
}

/// The assigned vouchers of an account's benefits.
pub(crate) fn account_voucher_expiries(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Vec<VoucherExpiry>, StorageError> {
    let rows: Vec<(String, NaiveDateTime, i64)> = vouchers::table
        .inner_join(benefits::table)
        .filter(benefits::account_id.eq(account.to_string()))
        .filter(vouchers::status.eq(VoucherStatus::Assigned.code()))
        .select((vouchers::benefit_id, vouchers::expires_at, vouchers::days))
        .load(conn)
        .map_err(storage)?;
    expiries(rows)
}
