//! The repositories: implementations of the `domain` ports on [`crate::Database`].

mod benefits;
mod catalog;
mod directory;
pub(crate) mod idempotency;
mod ledger;
mod people;
mod permissions;
mod records;
mod vouchers;

/// Keyset condition "after (at, id)" in ascending order.
macro_rules! after_filter {
    ($query:expr, $at_col:expr, $id_col:expr, $after:expr) => {{
        use diesel::prelude::*;
        match $after {
            Some(domain::page::After::Key { at, id }) => {
                let at = $crate::convert::to_db(*at);
                let id = id.to_string();
                $query.filter($at_col.gt(at).or($at_col.eq(at).and($id_col.gt(id))))
            }
            _ => $query,
        }
    }};
}
pub(crate) use after_filter;

/// Keyset condition "after (at, id)" in descending order (newest first).
macro_rules! before_filter {
    ($query:expr, $at_col:expr, $id_col:expr, $after:expr) => {{
        use diesel::prelude::*;
        match $after {
            Some(domain::page::After::Key { at, id }) => {
                let at = $crate::convert::to_db(*at);
                let id = id.to_string();
                $query.filter($at_col.lt(at).or($at_col.eq(at).and($id_col.lt(id))))
            }
            _ => $query,
        }
    }};
}
pub(crate) use before_filter;
