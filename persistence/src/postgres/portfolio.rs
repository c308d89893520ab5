//! "Your benefits" on PostgreSQL in one statement: the account with how many domains it has
//! authorized, joined to its benefits and to their assigned vouchers (one line per benefit
//! and voucher). One statement reads one snapshot, so no transaction is needed: one round
//! trip instead of six (BEGIN, four SELECTs, COMMIT). SQLite reads in-process and keeps the
//! four queries.
//!
//! Written as a query type of its own rather than `sql_query`: diesel never prepares a
//! `sql_query` once (it marks it unsafe to cache), and planning this statement on every read
//! costs the database more than running it (pgbench: 3.9k tps unprepared, 11k prepared).
//! A type with a static query id is prepared once per connection and kept.

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp, Untyped};

/// One line: the account (repeated), then a benefit and one of its assigned vouchers, each
/// `None` when there is none.
#[derive(QueryableByName)]
pub(crate) struct PortfolioLine {
    #[diesel(sql_type = Text)]
    pub account_id: String,
    #[diesel(sql_type = Text)]
    pub organization_id: String,
    #[diesel(sql_type = Text)]
    pub account_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub agreement_number: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub sa_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub program_code: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub account_created_at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    pub domain_count: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub benefit_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub type_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub unit: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub quantity: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub used: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub valid_from: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub expires_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    pub access_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub calculation_inputs: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub benefit_created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub version: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub voucher_expires_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub voucher_days: Option<i64>,
}

/// The statement, `$1` the account and `$2` the stored code of an assigned voucher; shared by
/// the pool's connections (below) and the async readers ([`crate::postgres::reader`]).
/// The account carries the count of its domains (kept by a trigger, migration
/// `account_domain_count`), and the lines come unordered: the caller sorts them. Each of
/// those cuts PostgreSQL's work for this statement (pgbench, 2,000 accounts: 12.8k tps with
/// the domains aggregated into an array and the lines sorted by the database, 16.6k without;
/// counting the domains in the statement took a sixth of what was left).
pub(crate) const SELECT: &str = "SELECT a.id AS account_id, a.organization_id, \
    a.name AS account_name, a.agreement_number, a.sa_id, a.program_code, \
    a.created_at AS account_created_at, \
    a.domain_count, \
    b.id AS benefit_id, b.type_code, b.unit, b.quantity, b.used, b.valid_from, b.expires_at, \
    b.access_code, b.calculation_inputs, b.created_at AS benefit_created_at, b.version, \
    v.expires_at AS voucher_expires_at, v.days AS voucher_days \
    FROM purchasing_accounts a \
    LEFT JOIN benefits b ON b.account_id = a.id \
    LEFT JOIN vouchers v ON v.benefit_id = b.id AND v.status = $2 \
    WHERE a.id = $1";

#[derive(QueryId)]
struct PortfolioQuery {
    account: String,
    assigned: &'static str,
}

impl Query for PortfolioQuery {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for PortfolioQuery {}

impl QueryFragment<Pg> for PortfolioQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // diesel numbers its binds itself: each placeholder of the text becomes a bind of its
        // own.
        let mut rest = SELECT;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            match rest.as_bytes().get(at + 1) {
                Some(b'1') => out.push_bind_param::<Text, _>(&self.account)?,
                Some(b'2') => out.push_bind_param::<Text, _>(&self.assigned)?,
                _ => {
                    return Err(diesel::result::Error::QueryBuilderError(
                        "a placeholder of the portfolio statement is neither $1 nor $2".into(),
                    ))
                }
            }
            rest = &rest[at + 2..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// The lines of `account`'s portfolio, none when there is no such account; `assigned` is the
/// stored code of an assigned voucher.
pub(crate) fn read(
    conn: &mut PgConnection,
    account: String,
    assigned: &'static str,
) -> QueryResult<Vec<PortfolioLine>> {
    PortfolioQuery { account, assigned }.load(conn)
}
