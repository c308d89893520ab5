//! The one error type of the API, rendered once as `application/problem+json` (RFC 9457),
//! in the language of the request (see `context`).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use domain::auth::Denied;
use domain::error::{Refusal, RefusalKind, StorageError, WriteError};
use domain::values::InvalidValue;
use domain::{Language, Localized};
use openapi::{FieldError, Problem};
use std::fmt;

/// One invalid field.
#[derive(Debug, Clone)]
pub struct FieldProblem {
    pub field: String,
    pub message: Localized,
}

/// An error answer. Boxed: it travels through every `Result` of the handlers.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorBody>);

#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: Localized,
    pub errors: Vec<FieldProblem>,
    pub context: Option<serde_json::Value>,
    /// Extra headers: `WWW-Authenticate` on 401, `Allow` on 405.
    pub headers: Vec<(header::HeaderName, String)>,
}

impl std::ops::Deref for ApiError {
    type Target = ErrorBody;
    fn deref(&self) -> &ErrorBody {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorBody {
        &mut self.0
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: Localized) -> Self {
        Self(Box::new(ErrorBody {
            status,
            code,
            detail,
            errors: Vec::new(),
            context: None,
            headers: Vec::new(),
        }))
    }

    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context = Some(context);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn validation(errors: Vec<FieldProblem>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Localized::new(
                "The request has invalid fields.",
                "La requête contient des champs invalides.",
            ),
        );
        e.errors = errors;
        e
    }

    /// One invalid field or parameter.
    pub fn invalid(field: &str, message: Localized) -> Self {
        Self::validation(vec![FieldProblem {
            field: field.to_owned(),
            message,
        }])
    }

    pub fn bad_request(code: &'static str, detail: Localized) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(what: Localized) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn forbidden(detail: Localized) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// An error the framework or a middleware produced (not one of ours): problem+json
    /// with a code from its status.
    pub fn framework(
        status: StatusCode,
        code: Option<&'static str>,
        detail: Option<String>,
    ) -> Self {
        let code = code.unwrap_or(match status.as_u16() {
            400 => "bad_request",
            401 => "missing_token",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            406 => "not_acceptable",
            408 => "request_timeout",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            429 => "rate_limited",
            431 => "headers_too_large",
            503 => "unavailable",
            s if s >= 500 => "internal_error",
            _ => "request_refused",
        });
        let detail = match detail {
            Some(d) if !status.is_server_error() && !d.is_empty() => Localized::new(d.clone(), d),
            _ => Localized::new(
                status
                    .canonical_reason()
                    .unwrap_or("Request refused")
                    .to_owned(),
                status
                    .canonical_reason()
                    .unwrap_or("Requête refusée")
                    .to_owned(),
            ),
        };
        Self::new(status, code, detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            Localized::new(
                "Something went wrong on our side. Retry later; quote the request id to support.",
                "Une erreur s'est produite de notre côté. Réessayez plus tard ; citez l'identifiant de requête au support.",
            ),
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            Localized::new(
                "The database is not reachable.",
                "La base de données est injoignable.",
            ),
        )
    }

    /// A refusal of the domain. Its kind decides the status, here and nowhere else: not found
    /// 404, forbidden 403, conflict 409, a rule 422, one field's value 400 (as that field's
    /// error). The refusal's facts travel as `context`.
    pub fn refused(refusal: &impl Refusal) -> Self {
        let status = match refusal.kind() {
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Forbidden => StatusCode::FORBIDDEN,
            RefusalKind::Conflict => StatusCode::CONFLICT,
            RefusalKind::Rule => StatusCode::UNPROCESSABLE_ENTITY,
            RefusalKind::Field(field) => return Self::invalid(field, refusal.message()),
        };
        let error = Self::new(status, refusal.code(), refusal.message());
        match refusal.context() {
            Some(context) => error.with_context(context),
            None => error,
        }
    }

    fn title(&self) -> Localized {
        let (en, fr) = match self.status.as_u16() {
            400 => ("Invalid request", "Requête invalide"),
            401 => ("Authentication required", "Authentification requise"),
            403 => ("Forbidden", "Action interdite"),
            404 => ("Not found", "Introuvable"),
            405 => ("Method not allowed", "Méthode non autorisée"),
            409 => ("Conflict", "Conflit"),
            412 => ("Precondition failed", "Condition préalable non remplie"),
            413 => ("Payload too large", "Corps de requête trop volumineux"),
            415 => (
                "Unsupported media type",
                "Type de contenu non pris en charge",
            ),
            422 => ("Request refused", "Requête refusée"),
            429 => ("Too many requests", "Trop de requêtes"),
            503 => ("Service unavailable", "Service indisponible"),
            _ => ("Internal error", "Erreur interne"),
        };
        Localized::new(en, fr)
    }

    /// The problem document in one language.
    /// The problem document; `occurrence` is the request's id and path when known.
    pub fn problem(&self, language: Language, occurrence: Option<(&str, &str)>) -> Problem {
        Problem {
            problem_type: format!("urn:sa-benefits:problem:{}", self.code),
            title: self.title().get(language).to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.get(language).to_owned(),
            instance: occurrence.map(|(_, path)| path.to_owned()),
            code: self.code.to_owned(),
            errors: self
                .errors
                .iter()
                .map(|e| FieldError {
                    field: e.field.clone(),
                    message: e.message.get(language).to_owned(),
                })
                .collect(),
            request_id: occurrence.map(|(id, _)| id.to_owned()),
            context: self.context.clone(),
        }
    }

    pub fn render(&self, language: Language, occurrence: Option<(&str, &str)>) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/problem+json");
        response.insert_header((header::CONTENT_LANGUAGE, language.code()));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.json(self.problem(language, occurrence))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.detail.en
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.render(Language::En, None)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::internal()
    }
}

impl<E: Refusal> From<WriteError<E>> for ApiError {
    fn from(e: WriteError<E>) -> Self {
        match e {
            WriteError::Refused(refusal) => ApiError::refused(&refusal),
            WriteError::Storage(storage) => storage.into(),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Forbidden => ApiError::forbidden(Localized::new(
                "Your role may not do this.",
                "Votre rôle ne permet pas cette action.",
            )),
            Denied::NotFound => ApiError::not_found(Localized::new(
                "No such resource.",
                "Aucune ressource de ce type.",
            )),
            Denied::MissingScope(scope) => ApiError::new(
                StatusCode::FORBIDDEN,
                "missing_scope",
                Localized::new(
                    format!(
                        "Your permission on this organization does not include the scope {}.",
                        scope.code()
                    ),
                    format!(
                        "Votre autorisation sur cette organisation n'inclut pas l'étendue {}.",
                        scope.code()
                    ),
                ),
            )
            .with_context(serde_json::json!({ "required_scope": scope.code() })),
        }
    }
}

/// Collects the invalid fields of a request body; every field is checked before answering.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldProblem>,
}

impl Fields {
    /// The parsed value, or `None` with the field's error recorded.
    pub fn check<T>(
        &mut self,
        field: impl Into<String>,
        parsed: Result<T, InvalidValue>,
    ) -> Option<T> {
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldProblem {
                    field: field.into(),
                    message: e.message,
                });
                None
            }
        }
    }

    /// An optional field: `Some(None)` when absent, `Some(Some(value))` when it parses, and
    /// `None` with the field's error recorded when it does not.
    pub fn optional<R: ?Sized, T>(
        &mut self,
        field: &str,
        raw: Option<&R>,
        parse: impl FnOnce(&R) -> Result<T, InvalidValue>,
    ) -> Option<Option<T>> {
        match raw {
            None => Some(None),
            Some(raw) => self.check(field, parse(raw)).map(Some),
        }
    }

    /// A list field: every element parsed, each error recorded as `field[i]`.
    pub fn each<T>(
        &mut self,
        field: &str,
        raw: &[String],
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Option<Vec<T>> {
        let parsed: Vec<Option<T>> = raw
            .iter()
            .enumerate()
            .map(|(i, e)| self.check(format!("{field}[{i}]"), parse(e)))
            .collect();
        parsed.into_iter().collect()
    }

    /// Records an error that is not the parse of one value (e.g. two fields that disagree).
    pub fn reject(&mut self, field: &str, message: Localized) {
        self.errors.push(FieldProblem {
            field: field.to_owned(),
            message,
        });
    }

    pub fn into_error(self) -> ApiError {
        ApiError::validation(self.errors)
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Binds every checked value, or answers 400 with all the field errors.
/// `valid!(fields; a, b)` needs `a: Option<A>`, `b: Option<B>` from [`Fields::check`].
#[macro_export]
macro_rules! valid {
    ($fields:ident; $($value:ident),+ $(,)?) => {
        let ($(Some($value),)+) = ($($value,)+) else {
            return Err($fields.into_error());
        };
        if !$fields.is_empty() {
            return Err($fields.into_error());
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample(RefusalKind);

    impl Refusal for Sample {
        fn code(&self) -> &'static str {
            "sample"
        }
        fn message(&self) -> Localized {
            Localized::new("refused", "refusé")
        }
        fn kind(&self) -> RefusalKind {
            self.0
        }
        fn context(&self) -> Option<serde_json::Value> {
            Some(serde_json::json!({ "remaining": 3 }))
        }
    }

    #[test]
    fn a_refusals_kind_decides_its_status() {
        for (kind, status) in [
            (RefusalKind::NotFound, 404),
            (RefusalKind::Forbidden, 403),
            (RefusalKind::Conflict, 409),
            (RefusalKind::Rule, 422),
        ] {
            let error = ApiError::refused(&Sample(kind));
            assert_eq!(error.status.as_u16(), status, "{kind:?}");
            assert_eq!(error.code, "sample");
            assert_eq!(error.context, Some(serde_json::json!({ "remaining": 3 })));
        }
        let error = ApiError::refused(&Sample(RefusalKind::Field("expires_at")));
        assert_eq!(error.status.as_u16(), 400);
        assert_eq!(error.code, "validation_failed");
        assert_eq!(error.errors[0].field, "expires_at");
        assert_eq!(error.errors[0].message.fr, "refusé");
        let stored: ApiError = WriteError::<Sample>::Storage(StorageError("gone".into())).into();
        assert_eq!(stored.status.as_u16(), 500);
    }
}
