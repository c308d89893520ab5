//! The use cases: each operation's work in one function — authorize, load, apply the domain's
//! rule, audit, notify — over the database, with no HTTP in it. Route handlers parse the
//! request, call one of these and render its result; background jobs call the same ones.

pub mod benefits;
pub mod catalog;
pub mod conversions;
pub mod directory;
pub mod domains;
pub mod downloads;
pub mod ledger;
pub mod permissions;
pub mod users;
pub mod vouchers;
