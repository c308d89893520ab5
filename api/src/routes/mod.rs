//! The HTTP resources, one module each. Doc comments on handlers become the OpenAPI text.

pub mod accounts;
pub mod benefit_types;
pub mod benefits;
pub mod conversions;
pub mod domains;
pub mod downloads;
pub mod export;
pub mod fallback;
pub mod health;
pub mod ledger;
pub mod me;
pub mod organizations;
pub mod partners;
pub mod permissions;
pub mod records;
pub mod users;
pub mod vouchers;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every `/api/v1` operation.
pub fn api_v1(cfg: &mut ServiceConfig<'_>) {
    // The router tries routes in this order, one pattern match each: the lists portals
    // read on every page view come first.
    cfg.service(benefits::list_active)
        .service(benefits::list_other)
        .service(benefit_types::list)
        .service(me::me)
        .service(organizations::create)
        .service(organizations::get)
        .service(accounts::list)
        .service(accounts::create)
        .service(partners::create)
        .service(partners::get)
        .service(partners::update)
        .service(organizations::update)
        .service(benefits::grant)
        .service(benefits::get)
        .service(ledger::consume)
        .service(ledger::adjust)
        .service(ledger::calculation)
        .service(ledger::history)
        .service(export::export)
        .service(permissions::request)
        .service(permissions::get)
        .service(permissions::decide)
        .service(permissions::history)
        .service(permissions::of_organization)
        .service(permissions::mine)
        .service(permissions::my_organizations)
        .service(records::audit_events)
        .service(records::notifications)
        .service(vouchers::list)
        .service(vouchers::assign)
        .service(vouchers::revoke)
        .service(vouchers::redeem)
        .service(conversions::quote)
        .service(conversions::list)
        .service(conversions::convert)
        .service(domains::list)
        .service(domains::add)
        .service(domains::remove)
        .service(users::list)
        .service(users::add)
        .service(users::modify)
        .service(users::remove)
        .service(users::resend_instructions)
        .service(users::access_code)
        .service(downloads::list)
        .service(downloads::record)
        .service(downloads::product_keys);
}

/// A list of `T`, one page at a time.
macro_rules! list_schema {
    ($name:ident, $item:ty) => {
        #[derive(serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null` on the last page.
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use list_schema;
