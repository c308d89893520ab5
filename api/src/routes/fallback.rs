//! Unknown routes (404) and known routes with another method (405, with `Allow`), both as
//! problem+json. The known routes are those of the OpenAPI document, plus the service routes.

use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use domain::Localized;

enum Segment {
    Literal(String),
    Parameter,
}

/// The routes the service answers, with their methods.
pub struct RouteTable {
    routes: Vec<(Vec<Segment>, Vec<String>)>,
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl RouteTable {
    pub fn new(document: &utoipa::openapi::OpenApi, service_routes: &[&str]) -> Self {
        let mut routes = Vec::new();
        for (path, item) in &document.paths.paths {
            let methods: Vec<String> = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(m, _)| m.to_owned())
            .collect();
            routes.push((Self::parse(path), methods));
        }
        for path in service_routes {
            routes.push((Self::parse(path), vec!["GET".to_owned()]));
        }
        Self { routes }
    }

    fn parse(path: &str) -> Vec<Segment> {
        segments(path)
            .map(|s| {
                if s.starts_with('{') && s.ends_with('}') {
                    Segment::Parameter
                } else {
                    Segment::Literal(s.to_owned())
                }
            })
            .collect()
    }

    /// The methods allowed on `path`, or `None` when no route has this path.
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let parts: Vec<&str> = segments(path).collect();
        let mut methods: Vec<String> = self
            .routes
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == parts.len()
                    && pattern.iter().zip(&parts).all(|(seg, part)| match seg {
                        Segment::Literal(l) => l == part,
                        Segment::Parameter => true,
                    })
            })
            .flat_map(|(_, m)| m.iter().cloned())
            .collect();
        if methods.is_empty() {
            return None;
        }
        methods.sort();
        methods.dedup();
        Some(methods)
    }
}

pub async fn fallback(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(match table.allowed(req.path()) {
        Some(methods) => ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Localized::new(
                format!(
                    "{} is not allowed here; use {}.",
                    req.method(),
                    methods.join(", ")
                ),
                format!(
                    "{} n'est pas autorisé ici ; utilisez {}.",
                    req.method(),
                    methods.join(", ")
                ),
            ),
        )
        .with_header(header::ALLOW, methods.join(", ")),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            Localized::new(
                "No such route. The API is under /api/v1; see /swagger-ui/.",
                "Cette route n'existe pas. L'API est sous /api/v1 ; voir /swagger-ui/.",
            ),
        ),
    })
}
