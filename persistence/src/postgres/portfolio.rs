//! "Your benefits" on PostgreSQL in one statement: the account with its domains, joined to its
//! benefits and to their assigned vouchers (one line per benefit and voucher). One statement
//! reads one snapshot, so no transaction is needed: one round trip instead of six (BEGIN, four
//! SELECTs, COMMIT). SQLite reads in-process and keeps the four queries.
//!
//! Written as a query type of its own rather than `sql_query`: diesel never prepares a
//! `sql_query` once (it marks it unsafe to cache), and planning this statement on every read
//! costs the database more than running it (pgbench: 3.9k tps unprepared, 11k prepared).
//! A type with a static query id is prepared once per connection and kept.

use chrono::NaiveDateTime;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp, Untyped};

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
    #[diesel(sql_type = Array<Text>)]
    pub domains: Vec<String>,
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
/// the pool's connections (below) and the async readers ([`crate::postgres::reader`]). The
/// account's domains are aggregated once, behind OFFSET 0 (which keeps the planner from
/// pulling the subquery up and aggregating them again for every benefit).
pub(crate) const SELECT: &str = "SELECT a.id AS account_id, a.organization_id, \
    a.name AS account_name, a.agreement_number, a.sa_id, a.program_code, \
    a.created_at AS account_created_at, a.domains, b.id AS benefit_id, b.type_code, b.unit, \
    b.quantity, b.used, b.valid_from, b.expires_at, b.access_code, b.calculation_inputs, \
    b.created_at AS benefit_created_at, b.version, \
    v.expires_at AS voucher_expires_at, v.days AS voucher_days \
    FROM (SELECT pa.*, ARRAY(SELECT d.domain FROM authorized_domains d \
          WHERE d.account_id = pa.id ORDER BY d.domain) AS domains \
          FROM purchasing_accounts pa WHERE pa.id = $1 OFFSET 0) a \
    LEFT JOIN benefits b ON b.account_id = a.id \
    LEFT JOIN vouchers v ON v.benefit_id = b.id AND v.status = $2 \
    ORDER BY b.created_at, b.id";

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
        let (head, rest) = SELECT.split_once("$1").expect("the account's placeholder");
        let (middle, tail) = rest.split_once("$2").expect("the status' placeholder");
        out.push_sql(head);
        out.push_bind_param::<Text, _>(&self.account)?;
        out.push_sql(middle);
        out.push_bind_param::<Text, _>(&self.assigned)?;
        out.push_sql(tail);
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
