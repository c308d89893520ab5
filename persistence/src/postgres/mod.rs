//! What only PostgreSQL needs: TLS for the listener's connection, and the listener that
//! tells the other servers of this one's commits and hears theirs.

pub(crate) mod notify;
pub(crate) mod tls;
