//! The end-to-end suite in one test binary: one link instead of one per file, and the tests of
//! every file share the test threads (each file was its own binary, run one after another).
//! Each file stays a module of its own, where the documentation points.

#[path = "answers.rs"]
mod answers;
#[path = "authentication.rs"]
mod authentication;
#[path = "benefits.rs"]
mod benefits;
#[path = "catalog.rs"]
mod catalog;
#[path = "conventions.rs"]
mod conventions;
#[path = "coordination.rs"]
mod coordination;
#[path = "directory.rs"]
mod directory;
#[path = "enforcement.rs"]
mod enforcement;
#[path = "events.rs"]
mod events;
#[path = "hardening.rs"]
mod hardening;
#[path = "languages.rs"]
mod languages;
#[path = "ledger.rs"]
mod ledger;
#[path = "people.rs"]
mod people;
#[path = "permissions.rs"]
mod permissions;
#[path = "protocol.rs"]
mod protocol;
#[path = "training.rs"]
mod training;
#[path = "use_cases.rs"]
mod use_cases;
