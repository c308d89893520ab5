//! The repositories: implementations of the `domain` ports on [`crate::Database`].

mod benefits;
mod catalog;
mod directory;
mod permissions;

/// Keyset condition "after (at, id)" in ascending order.
macro_rules! after_filter {
    ($query:expr, $at_col:expr, $id_col:expr, $after:expr) => {{
        use diesel::prelude::*;
        match $after {
            Some(after) => {
                let at = $crate::convert::to_db(after.at);
                let id = after.id.to_string();
                $query.filter($at_col.gt(at).or($at_col.eq(at).and($id_col.gt(id))))
            }
            None => $query,
        }
    }};
}
pub(crate) use after_filter;
