//! The HTTP resources, one module each. Doc comments on handlers become the OpenAPI text.

pub mod accounts;
pub mod benefit_types;
pub mod benefits;
pub mod conversions;
pub mod domains;
pub mod downloads;
pub mod events;
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
pub mod webhooks;

use utoipa_actix_web::service_config::ServiceConfig;

/// Every `/api/v1` operation.
pub fn api_v1(cfg: &mut ServiceConfig<'_>) {
    // The router tries routes in this order, one pattern match each: the lists portals
    // read on every page view come first.
    cfg.service(benefits::list_active)
        .service(benefits::list_other)
        .service(benefit_types::list)
        .service(benefit_types::add)
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
        .service(downloads::product_keys)
        .service(events::stream)
        .service(webhooks::subscribe)
        .service(webhooks::list)
        .service(webhooks::unsubscribe)
        .service(webhooks::deliveries);
}

/// A display name in both languages of the portal.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"en": "Qualifying desktop licences with SA", "fr": "Licences de postes de travail éligibles avec SA"}))]
pub struct NameInBothLanguages {
    #[schema(value_type = openapi::text::DisplayName)]
    pub en: String,
    #[schema(value_type = openapi::text::DisplayName)]
    pub fr: String,
}

/// A text of the catalog in both languages of the portal.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"en": "Interactive, self-paced online training.", "fr": "Formation en ligne interactive, à votre rythme."}))]
pub struct TextInBothLanguages {
    #[schema(value_type = openapi::text::CatalogText)]
    pub en: String,
    #[schema(value_type = openapi::text::CatalogText)]
    pub fr: String,
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

#[cfg(test)]
mod tests {
    /// Route modules parse, call a use case and render: none imports another (what two share
    /// is in `crate::views` or `crate::use_cases`), and nothing outside `startup` reaches into
    /// one.
    #[test]
    fn no_route_module_imports_another() {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let routes = std::path::Path::new(src).join("routes");
        let modules: Vec<String> = std::fs::read_dir(&routes)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap() != "mod.rs")
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(modules.len() > 10, "{modules:?}");
        let mut files = vec![];
        for dir in [
            std::path::PathBuf::from(src),
            routes.clone(),
            routes.join("../use_cases"),
        ] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "startup.rs" || (name == "mod.rs" && path.starts_with(&routes)) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for module in &modules {
                for reference in [format!("super::{module}::"), format!("routes::{module}::")] {
                    let inside_routes = path.parent() == Some(routes.as_path());
                    let applies = inside_routes || reference.starts_with("routes::");
                    assert!(
                        !(applies && text.contains(&reference)),
                        "{} names {reference}",
                        path.display()
                    );
                }
            }
        }
    }
}
