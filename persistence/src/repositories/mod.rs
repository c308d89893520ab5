//! The repositories: implementations of the `domain` ports on [`crate::Database`].

mod benefits;
mod catalog;
mod directory;
pub(crate) mod events;
pub(crate) mod idempotency;
pub(crate) mod ledger;
mod people;
mod permissions;
mod positions;
pub(crate) mod records;
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

/// One page of rows (up to limit + 1, in order) turned into domain values, continued after
/// the (time, id) of the last one.
pub(crate) fn keyed_page<R, T>(
    rows: Vec<R>,
    page: &domain::page::PageRequest,
    into: impl Fn(R) -> Result<T, domain::error::StorageError>,
    key: impl Fn(&T) -> (chrono::DateTime<chrono::Utc>, uuid::Uuid),
) -> Result<domain::page::Page<T>, domain::error::StorageError> {
    let items = rows.into_iter().map(into).collect::<Result<Vec<_>, _>>()?;
    Ok(domain::page::Page::from_fetched(items, page, |t| {
        let (at, id) = key(t);
        domain::page::After::Key { at, id }
    }))
}
