//! What only PostgreSQL needs: TLS for the listener's connection, the listener that tells the
//! other servers of this one's commits and hears theirs, and "your benefits" in one statement,
//! read on the request's own thread.

pub(crate) mod held;
pub(crate) mod notify;
pub(crate) mod portfolio;
pub(crate) mod reader;
pub(crate) mod tls;
