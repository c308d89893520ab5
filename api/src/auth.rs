//! JWT authentication: verification pinned to one algorithm (HS256 with a secret, or
//! RS256/ES256 with a public key), the middleware that guards `/api/v1`, and the extractor
//! handlers use to learn who calls.

use crate::config::{JwtConfig, JwtKey};
use crate::error::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use domain::auth::{Principal, PrincipalKind, Role};
use domain::ids::{OrganizationId, PartnerId};
use domain::Localized;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::{Arc, PoisonError, RwLock};
use uuid::Uuid;

/// The claims of an SA Benefits token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Why a token was refused. Every case is a 401 with `WWW-Authenticate: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    NotBearer,
    Malformed,
    BadSignature,
    WrongAlgorithm,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim(String),
    InvalidClaim(&'static str),
}

impl AuthError {
    fn message(&self) -> Localized {
        match self {
            AuthError::Missing => Localized::new(
                "Send Authorization: Bearer <token>.",
                "Envoyez Authorization: Bearer <jeton>.",
            ),
            AuthError::NotBearer => Localized::new(
                "The Authorization header must use the Bearer scheme.",
                "L'en-tête Authorization doit utiliser le schéma Bearer.",
            ),
            AuthError::Malformed => {
                Localized::new("The token is malformed.", "Le jeton est mal formé.")
            }
            AuthError::BadSignature => Localized::new(
                "The token's signature is invalid.",
                "La signature du jeton est invalide.",
            ),
            AuthError::WrongAlgorithm => Localized::new(
                "The token is not signed with the algorithm this service accepts.",
                "Le jeton n'est pas signé avec l'algorithme accepté par ce service.",
            ),
            AuthError::Expired => Localized::new("The token has expired.", "Le jeton a expiré."),
            AuthError::NotYetValid => Localized::new(
                "The token is not valid yet.",
                "Le jeton n'est pas encore valide.",
            ),
            AuthError::WrongIssuer => Localized::new(
                "The token's issuer is not accepted.",
                "L'émetteur du jeton n'est pas accepté.",
            ),
            AuthError::WrongAudience => Localized::new(
                "The token is not meant for this service (audience).",
                "Le jeton n'est pas destiné à ce service (audience).",
            ),
            AuthError::MissingClaim(claim) => Localized::new(
                format!("The token lacks the claim {claim}."),
                format!("Il manque au jeton la revendication {claim}."),
            ),
            AuthError::InvalidClaim(claim) => Localized::new(
                format!("The token's claim {claim} is invalid."),
                format!("La revendication {claim} du jeton est invalide."),
            ),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let challenge = match e {
            AuthError::Missing | AuthError::NotBearer => r#"Bearer realm="sa-benefits""#.to_owned(),
            _ => format!(
                r#"Bearer realm="sa-benefits", error="invalid_token", error_description="{}""#,
                e.message().en.replace('"', "'")
            ),
        };
        let code = if e == AuthError::Missing {
            "missing_token"
        } else {
            "invalid_token"
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, e.message())
            .with_header(header::WWW_AUTHENTICATE, challenge)
    }
}

/// Verifies tokens with the configured key and algorithm only.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    /// Tokens whose signature and claims were verified, with their validity period: a
    /// portal sends the same token with every request. Times are checked on every use.
    verified: Arc<RwLock<HashMap<String, Verified>>>,
}

/// A verified token: who it names and when it is valid (`exp`, `nbf`, in seconds).
#[derive(Clone)]
struct Verified {
    principal: Principal,
    expires: i64,
    not_before: Option<i64>,
}

/// Most verified tokens kept; the set starts again when full.
const VERIFIED_TOKENS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the public key is neither an RSA nor an EC (P-256) PEM key")]
    UnknownPublicKey,
    #[error("tokens cannot be minted here: only a public key is configured (JWT_PUBLIC_KEY_FILE)")]
    PublicKeyOnly,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

impl JwtVerifier {
    pub fn new(config: &JwtConfig) -> Result<Self, KeyError> {
        let (key, algorithm) = match &config.key {
            JwtKey::Secret(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            JwtKey::PublicKeyPem(pem) => {
                if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                    (key, Algorithm::ES256)
                } else {
                    return Err(KeyError::UnknownPublicKey);
                }
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            key,
            validation,
            verified: Arc::default(),
        })
    }

    /// The principal a token names, if its signature and claims are valid now.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let leeway = self.validation.leeway as i64;
        let still_valid = |v: &Verified| {
            v.expires >= now - leeway && v.not_before.is_none_or(|nbf| nbf <= now + leeway)
        };
        if let Some(known) = self
            .verified
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .filter(|v| still_valid(v))
        {
            return Ok(known.principal.clone());
        }
        let (principal, expires, not_before) = self.verify_signed(token)?;
        let mut verified = self
            .verified
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(
            token.to_owned(),
            Verified {
                principal: principal.clone(),
                expires,
                not_before,
            },
        );
        Ok(principal)
    }

    /// Checks the signature and every claim; the principal with the token's `exp` and `nbf`.
    fn verify_signed(&self, token: &str) -> Result<(Principal, i64, Option<i64>), AuthError> {
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::InvalidKeyFormat => AuthError::WrongAlgorithm,
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
                _ => AuthError::Malformed,
            })?;
        let claims = data.claims;
        let seconds = |name: &'static str| -> Result<Option<i64>, AuthError> {
            match claims.get(name) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or(AuthError::InvalidClaim(name)),
            }
        };
        let expires = seconds("exp")?.ok_or_else(|| AuthError::MissingClaim("exp".to_owned()))?;
        let not_before = seconds("nbf")?;
        let text = |name: &'static str| -> Result<String, AuthError> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => {
                    Err(AuthError::MissingClaim(name.to_owned()))
                }
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(_) => Err(AuthError::InvalidClaim(name)),
            }
        };
        if !claims.get("iat").is_some_and(serde_json::Value::is_i64) {
            return Err(if claims.get("iat").is_none() {
                AuthError::MissingClaim("iat".to_owned())
            } else {
                AuthError::InvalidClaim("iat")
            });
        }
        let subject = text("sub")?;
        let role = Role::parse(&text("role")?).ok_or(AuthError::InvalidClaim("role"))?;
        let uuid = |name: &'static str| -> Result<Uuid, AuthError> {
            Uuid::parse_str(&text(name)?).map_err(|_| AuthError::InvalidClaim(name))
        };
        let kind = match role {
            Role::CustomerAdmin => PrincipalKind::CustomerAdmin(OrganizationId(uuid("org")?)),
            Role::Partner => PrincipalKind::Partner(PartnerId(uuid("partner_id")?)),
            Role::Operator => PrincipalKind::Operator,
        };
        Ok((Principal { subject, kind }, expires, not_before))
    }
}

/// Mints tokens (the `token` command and the demo tokens); needs the shared secret.
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    pub fn new(config: &JwtConfig) -> Result<Self, KeyError> {
        match &config.key {
            JwtKey::Secret(secret) => Ok(Self {
                key: EncodingKey::from_secret(secret),
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
            }),
            JwtKey::PublicKeyPem(_) => Err(KeyError::PublicKeyOnly),
        }
    }

    /// A token for `principal`, valid `ttl` from `now`.
    pub fn mint(
        &self,
        principal: &Principal,
        now: chrono::DateTime<chrono::Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, KeyError> {
        let (org, partner_id) = match principal.kind {
            PrincipalKind::CustomerAdmin(org) => (Some(org.to_string()), None),
            PrincipalKind::Partner(p) => (None, Some(p.to_string())),
            PrincipalKind::Operator => (None, None),
        };
        let claims = Claims {
            sub: principal.subject.clone(),
            role: principal.role().code().to_owned(),
            org,
            partner_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + ttl).timestamp(),
            iat: now.timestamp(),
            nbf: None,
            jti: Some(Uuid::new_v4().to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| KeyError::Sign(e.to_string()))
    }
}

/// Guards `/api/v1`: a valid Bearer token or 401; the caller is put in the request.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let verifier = req
        .app_data::<web::Data<JwtVerifier>>()
        .ok_or_else(ApiError::internal)?
        .clone();
    let principal = bearer_token(req.request())
        .and_then(|token| verifier.verify(token))
        .map_err(ApiError::from)?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?;
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// The authenticated caller, in a handler.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| AuthError::Missing.into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};

    fn config() -> JwtConfig {
        JwtConfig {
            key: JwtKey::Secret(b"unit-test-secret-of-at-least-32-bytes!!".to_vec()),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            leeway_seconds: 0,
        }
    }

    fn principal() -> Principal {
        Principal {
            subject: "someone".to_owned(),
            kind: PrincipalKind::Operator,
        }
    }

    #[test]
    fn a_remembered_token_is_still_checked_against_the_clock() {
        let verifier = JwtVerifier::new(&config()).expect("verifier");
        let token = TokenIssuer::new(&config())
            .expect("issuer")
            .mint(&principal(), chrono::Utc::now(), chrono::Duration::hours(1))
            .expect("token");
        assert_eq!(verifier.verify(&token), Ok(principal()));
        assert_eq!(verifier.verify(&token), Ok(principal()), "remembered");
        // Its remembered period has passed: it is verified again, not trusted.
        let now = jsonwebtoken::get_current_timestamp() as i64;
        for (expires, not_before) in [(now - 5, None), (now + 3600, Some(now + 5))] {
            verifier.verified.write().unwrap().insert(
                "not-a-token".to_owned(),
                Verified {
                    principal: principal(),
                    expires,
                    not_before,
                },
            );
            assert_eq!(verifier.verify("not-a-token"), Err(AuthError::Malformed));
        }
    }

    #[test]
    fn a_token_signed_with_another_key_is_never_remembered_as_valid() {
        let verifier = JwtVerifier::new(&config()).expect("verifier");
        let other = JwtConfig {
            key: JwtKey::Secret(b"another-secret-of-at-least-32-bytes!!!!".to_vec()),
            ..config()
        };
        let token = TokenIssuer::new(&other)
            .expect("issuer")
            .mint(&principal(), chrono::Utc::now(), chrono::Duration::hours(1))
            .expect("token");
        for _ in 0..2 {
            assert_eq!(verifier.verify(&token), Err(AuthError::BadSignature));
        }
    }
}
