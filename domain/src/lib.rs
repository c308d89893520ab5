//! The SA Benefits domain: pure Rust, no I/O. Time and randomness come in as arguments.
//!
//! - [`catalog`]: the benefit types (data) and their metering units (code).
//! - [`values`]: value objects parsed once and valid forever (names, e-mails, domains, quantities).
//! - [`benefit`]: a benefit's figures, status, alerts, and the grant rules.
//! - [`ledger`]: the append-only ledger arithmetic and its invariant.
//! - [`auth`]: who is calling, and what each role may do.
//! - [`ports`]: the repository and clock traits the domain needs.

pub mod audit;
pub mod auth;
pub mod benefit;
pub mod catalog;
pub mod conversion;
pub mod entities;
pub mod error;
pub mod events;
pub mod horizon;
pub mod i18n;
pub mod idempotency;
pub mod ids;
pub mod labels;
pub mod ledger;
pub mod metering;
pub mod notification;
pub mod page;
pub mod people;
pub mod permission;
pub mod ports;
pub mod values;
pub mod voucher;

pub use i18n::{Language, Localized};
