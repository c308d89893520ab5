//! What only PostgreSQL needs.

pub(crate) mod tls;
