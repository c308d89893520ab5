//! What only PostgreSQL needs: TLS for the listener's connection, the listener that tells the
//! other servers of this one's commits and hears theirs, and "your benefits" in one statement.

pub(crate) mod notify;
pub(crate) mod portfolio;
pub(crate) mod tls;
