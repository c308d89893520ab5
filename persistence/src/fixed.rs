//! Statements of fixed text, prepared once per connection. diesel keeps a prepared statement
//! only for queries whose type names them (a static query id) and that say they are safe to
//! keep; every `UPDATE` and every `sql_query` is built and compiled again on each run (on
//! PostgreSQL: parsed and planned again, an unnamed statement). On the SQLite writer, which
//! every write waits for, compiling the conditional update of a consumption again on every
//! run was a large share of its time (docs/PERFORMANCE.md); PostgreSQL's consumption (its
//! update and ledger row in one statement) is kept the same way.
//!
//! A [`Fixed`] statement takes its SQL only from its [`Statement`] marker type, so one type
//! always means one text: that type is the key under which the connection keeps it.
//!
//! Read its rows (`get_result`, `load`; a statement that returns none says `RETURNING 1`),
//! never `execute`: diesel runs `execute` through a reference, whose `QueryFragment` asks
//! the `sql_query` inside whether it may be kept, never this wrapper, and the statement is
//! compiled again on every run. The SQLite writer's fan-out of each event was, once per
//! consumption (docs/PERFORMANCE.md). diesel names no bind type that would let the text be
//! something other than a `sql_query`.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId, SqlQuery};
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

/// A statement's text, named by a type of its own.
pub(crate) trait Statement: 'static {
    const SQL: &'static str;
}

/// The statement `M` with its bound values (`Q`: `sql_query(M::SQL)` and its binds).
pub(crate) struct Fixed<M, Q> {
    query: Q,
    statement: PhantomData<M>,
}

/// Builds `M` with its values: `build` receives `sql_query(M::SQL)` and binds them.
pub(crate) fn fixed<M: Statement, Q>(build: impl FnOnce(SqlQuery) -> Q) -> Fixed<M, Q> {
    Fixed {
        query: build(diesel::sql_query(M::SQL)),
        statement: PhantomData,
    }
}

impl<M: Statement, Q> QueryId for Fixed<M, Q> {
    type QueryId = M;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<M, Q, DB> QueryFragment<DB> for Fixed<M, Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    /// The text never changes and the binds are all in it: safe to keep, whatever
    /// `sql_query` says of itself.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<M, Q: Query> Query for Fixed<M, Q> {
    type SqlType = Q::SqlType;
}

impl<M, Q, Conn> RunQueryDsl<Conn> for Fixed<M, Q> {}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{Connection, QueryableByName, SqliteConnection};

    struct AddOne;
    impl Statement for AddOne {
        const SQL: &'static str = "UPDATE counters SET n = n + ? RETURNING n";
    }

    #[derive(QueryableByName)]
    struct Counter {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Kept after its first run: the connection caches it once and runs it three times,
    /// with the value bound each time, whether one row or all of them are read; the same
    /// text through plain `sql_query` is never kept, nor a fixed statement run with
    /// `execute` (why none is).
    #[test]
    fn a_fixed_statement_is_prepared_once_and_binds_each_run() {
        use diesel::connection::{Instrumentation, InstrumentationEvent};
        use std::sync::{Arc, Mutex};
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE counters (n INTEGER NOT NULL); INSERT INTO counters VALUES (0);",
        )
        .unwrap();
        let cached = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = cached.clone();
        let instrumentation: Box<dyn Instrumentation> =
            Box::new(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                    seen.lock().unwrap().push(sql.to_owned());
                }
            });
        conn.set_instrumentation(instrumentation);
        for expected in [2, 4, 6] {
            let counter: Counter = fixed::<AddOne, _>(|q| q.bind::<BigInt, _>(2))
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(counter.n, expected);
        }
        assert_eq!(*cached.lock().unwrap(), vec![AddOne::SQL.to_owned()]);
        struct AddTen;
        impl Statement for AddTen {
            const SQL: &'static str = "UPDATE counters SET n = n + ? RETURNING n";
        }
        for expected in [16, 26, 36] {
            let rows: Vec<Counter> = fixed::<AddTen, _>(|q| q.bind::<BigInt, _>(10))
                .load(&mut conn)
                .unwrap();
            assert_eq!(rows.iter().map(|c| c.n).collect::<Vec<_>>(), [expected]);
        }
        assert_eq!(
            *cached.lock().unwrap(),
            vec![AddOne::SQL.to_owned(), AddTen::SQL.to_owned()],
            "all of its rows read, a fixed statement is kept too"
        );
        for _ in 0..2 {
            let changed = fixed::<AddTen, _>(|q| q.bind::<BigInt, _>(1))
                .execute(&mut conn)
                .unwrap();
            assert_eq!(changed, 1);
        }
        assert_eq!(
            cached.lock().unwrap().len(),
            2,
            "run with execute, it is compiled each time: no fixed statement is"
        );
        for _ in 0..2 {
            let _: Counter = diesel::sql_query(AddOne::SQL)
                .bind::<BigInt, _>(1)
                .get_result(&mut conn)
                .unwrap();
        }
        assert_eq!(
            cached.lock().unwrap().len(),
            2,
            "plain sql_query is never kept"
        );
    }
}
