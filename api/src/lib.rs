//! SA Benefits HTTP API (actix-web): configuration, JWT authentication, authorization,
//! handlers, one error type rendered as problem+json, and the server itself.

pub mod access;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod config;
pub mod context;
pub mod conventions;
mod cors;
pub mod demo;
pub mod document;
pub mod error;
pub mod events;
pub mod extract;
pub mod idempotency;
pub mod mailer;
pub mod maintenance;
pub mod metrics;
pub mod preconditions;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod use_cases;
pub mod views;
pub mod webhooks;

pub use config::Config;
pub use startup::{openapi_document, prepare_database, Application};
