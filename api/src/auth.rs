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
use std::time::{Duration, Instant};
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
    /// Longer than [`MAX_TOKEN_BYTES`]: refused before any parsing.
    TooLarge,
    /// A `crit` header: this service understands no extension, so it must refuse (RFC 7515).
    CriticalHeader,
    /// A header parameter or claim given twice.
    Duplicate(String),
    /// `iat` after now (beyond the leeway).
    IssuedInFuture,
    /// `exp − iat` above `JWT_MAX_TTL`.
    LifetimeTooLong(u64),
    /// No key of the JWK set has the token's `kid`.
    UnknownKey,
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
            AuthError::TooLarge => Localized::new(
                format!("The token is longer than {MAX_TOKEN_BYTES} bytes."),
                format!("Le jeton dépasse {MAX_TOKEN_BYTES} octets."),
            ),
            AuthError::CriticalHeader => Localized::new(
                "The token has a crit header this service does not understand.",
                "Le jeton porte un en-tête crit que ce service ne comprend pas.",
            ),
            AuthError::Duplicate(name) => Localized::new(
                format!("The token gives {name} more than once."),
                format!("Le jeton donne {name} plus d'une fois."),
            ),
            AuthError::IssuedInFuture => Localized::new(
                "The token's iat is in the future.",
                "Le iat du jeton est dans le futur.",
            ),
            AuthError::LifetimeTooLong(max) => Localized::new(
                format!("The token lives longer than {max} seconds (exp - iat)."),
                format!("Le jeton vit plus de {max} secondes (exp − iat)."),
            ),
            AuthError::UnknownKey => Localized::new(
                "The token is signed with a key this service does not know (kid).",
                "Le jeton est signé avec une clé que ce service ne connaît pas (kid).",
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
                // A header value is visible ASCII: anything else becomes '?'.
                e.message()
                    .en
                    .chars()
                    .map(|c| match c {
                        '"' => '\'',
                        ' '..='~' => c,
                        _ => '?',
                    })
                    .collect::<String>()
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

/// Longest token accepted; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A key that verifies tokens, with the one algorithm it accepts.
#[derive(Clone)]
struct VerifyingKey {
    key: DecodingKey,
    algorithm: Algorithm,
}

/// Where the keys come from.
enum Keys {
    /// One key (a secret or a public key): the token's `kid` is not looked at.
    Fixed(VerifyingKey),
    /// A JWK set, by `kid`, read again (at most once per `refresh`) when an unknown `kid`
    /// arrives, so an identity provider can rotate its keys.
    Set {
        source: JwksSource,
        keys: RwLock<HashMap<String, VerifyingKey>>,
        last_read: tokio::sync::Mutex<Instant>,
        refresh: Duration,
    },
}

impl Keys {
    /// A JWK set read now (the server does not start on one it cannot use).
    fn set(source: JwksSource, config: &JwtConfig) -> Result<Keys, KeyError> {
        let keys = source.read_now()?;
        Ok(Keys::Set {
            source,
            keys: RwLock::new(keys),
            last_read: tokio::sync::Mutex::new(Instant::now()),
            refresh: Duration::from_secs(config.jwks_refresh_seconds),
        })
    }
}

#[derive(Clone)]
enum JwksSource {
    File(std::path::PathBuf),
    Url(String),
}

/// Verifies tokens with the configured keys and their algorithms only.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    /// Checks every claim but the algorithm, which comes with the key.
    validation: Validation,
    max_ttl: u64,
    /// Tokens whose signature and claims were verified, by the SHA-256 of the token (so a
    /// remembered token costs the same whatever its size), with their validity period: a
    /// portal sends the same token with every request. Times are checked on every use.
    verified: RwLock<HashMap<[u8; 32], Verified>>,
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
/// Largest JWK set read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("JWT_PUBLIC_KEY_FILE is neither an RSA nor an EC (P-256) public key in PEM")]
    UnknownPublicKey,
    #[error("tokens cannot be minted here: they are minted elsewhere (JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE or JWT_JWKS_URL is set)")]
    PublicKeyOnly,
    #[error("cannot sign the token: {0}")]
    Sign(String),
    #[error("the JWK set of {origin} cannot be used: {reason}")]
    Jwks { origin: String, reason: String },
}

fn sha256(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// A JSON object whose keys are each given once; the first key given twice otherwise.
/// (serde_json keeps the last of duplicate keys silently; a claim given twice must be refused.)
fn duplicate_key(json: &[u8]) -> Result<Option<String>, AuthError> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut duplicate = None;
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !seen.insert(key.clone()) && duplicate.is_none() {
                    duplicate = Some(key);
                }
            }
            Ok(duplicate)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let found = (&mut de)
        .deserialize_map(Keys)
        .map_err(|_| AuthError::Malformed)?;
    de.end().map_err(|_| AuthError::Malformed)?;
    Ok(found)
}

fn base64url(part: &str) -> Result<Vec<u8>, AuthError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed)
}

/// What the token's header and claims say before the signature is checked: refused when a
/// parameter or claim is given twice or a `crit` header is present; its `kid`.
fn inspect(token: &str) -> Result<Option<String>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = base64url(header)?;
    if let Some(name) = duplicate_key(&header)? {
        return Err(AuthError::Duplicate(name));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
    if header.contains_key("crit") {
        return Err(AuthError::CriticalHeader);
    }
    if let Some(name) = duplicate_key(&base64url(claims)?)? {
        return Err(AuthError::Duplicate(name));
    }
    match header.get("kid") {
        None => Ok(None),
        Some(serde_json::Value::String(kid)) => Ok(Some(kid.clone())),
        Some(_) => Err(AuthError::Malformed),
    }
}

/// The usable keys of a JWK set by `kid`: RSA keys verify RS256, EC P-256 keys ES256; a
/// key whose `alg` says otherwise, or of another kind, is left out.
fn keys_of(set: &jsonwebtoken::jwk::JwkSet) -> HashMap<String, VerifyingKey> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    let mut keys = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => {
                tracing::warn!(
                    kid = ?jwk.common.key_id,
                    "a key of the JWK set is neither RS256 nor ES256: left out"
                );
                continue;
            }
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
                keys.insert(kid, VerifyingKey { key, algorithm });
            }
            Err(e) => {
                tracing::warn!(kid = ?jwk.common.key_id, error = %e, "a key of the JWK set is unusable: left out")
            }
        }
    }
    keys
}

impl JwksSource {
    fn name(&self) -> String {
        match self {
            JwksSource::File(path) => format!("JWT_JWKS_FILE {}", path.display()),
            JwksSource::Url(url) => format!("JWT_JWKS_URL {url}"),
        }
    }

    /// Reads the set; refuses one with no usable key.
    async fn read(&self) -> Result<HashMap<String, VerifyingKey>, KeyError> {
        let failed = |reason: String| KeyError::Jwks {
            origin: self.name(),
            reason,
        };
        let bytes = match self {
            JwksSource::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || std::fs::read(path))
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .map_err(|e| failed(e.to_string()))?
            }
            JwksSource::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| failed(e.to_string()))?;
                if response
                    .content_length()
                    .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
                {
                    return Err(failed(format!("larger than {MAX_JWKS_BYTES} bytes")));
                }
                response
                    .bytes()
                    .await
                    .map_err(|e| failed(e.to_string()))?
                    .to_vec()
            }
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(failed(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_slice(&bytes).map_err(|e| failed(format!("not a JWK set: {e}")))?;
        let keys = keys_of(&set);
        if keys.is_empty() {
            return Err(failed("no RS256 or ES256 key in it".to_owned()));
        }
        Ok(keys)
    }

    /// [`JwksSource::read`] from synchronous code, on a thread of its own (the server is
    /// built before it runs).
    fn read_now(&self) -> Result<HashMap<String, VerifyingKey>, KeyError> {
        let source = self.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| KeyError::Jwks {
                    origin: source.name(),
                    reason: e.to_string(),
                })?
                .block_on(source.read())
        })
        .join()
        .unwrap_or_else(|_| {
            Err(KeyError::Jwks {
                origin: self.name(),
                reason: "the reader panicked".to_owned(),
            })
        })
    }
}

impl JwtVerifier {
    /// Refuses a key that cannot verify anything, saying why (the server does not start).
    pub fn new(config: &JwtConfig) -> Result<Self, KeyError> {
        let keys = match &config.key {
            JwtKey::Secret(secret) => Keys::Fixed(VerifyingKey {
                key: DecodingKey::from_secret(secret),
                algorithm: Algorithm::HS256,
            }),
            JwtKey::PublicKeyPem(pem) => {
                Keys::Fixed(if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                    VerifyingKey {
                        key,
                        algorithm: Algorithm::RS256,
                    }
                } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                    VerifyingKey {
                        key,
                        algorithm: Algorithm::ES256,
                    }
                } else {
                    return Err(KeyError::UnknownPublicKey);
                })
            }
            JwtKey::JwksFile(path) => Keys::set(JwksSource::File(path.clone()), config)?,
            JwtKey::JwksUrl(url) => Keys::set(JwksSource::Url(url.clone()), config)?,
        };
        // The algorithm is set per key; `algorithms` is replaced before each decode.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            inner: Arc::new(Inner {
                keys,
                validation,
                max_ttl: config.max_ttl_seconds,
                verified: RwLock::default(),
            }),
        })
    }

    /// The principal a token names, if its signature and claims are valid now. With a JWK
    /// set, an unknown `kid` has the set read again (at most once per refresh period).
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match self.verify_with_known_keys(token) {
            Err(AuthError::UnknownKey) => {
                if self.reread_keys().await {
                    self.verify_with_known_keys(token)
                } else {
                    Err(AuthError::UnknownKey)
                }
            }
            other => other,
        }
    }

    /// Reads the JWK set again unless it was read less than the refresh period ago; whether
    /// the keys may have changed.
    async fn reread_keys(&self) -> bool {
        let Keys::Set {
            source,
            keys,
            last_read,
            refresh,
        } = &self.inner.keys
        else {
            return false;
        };
        // One reader at a time: requests with the same new kid wait for it, then find the key.
        let mut last = last_read.lock().await;
        if last.elapsed() < *refresh {
            return true;
        }
        *last = Instant::now();
        match source.read().await {
            Ok(fresh) => {
                tracing::info!(keys = fresh.len(), source = %source.name(), "JWK set read again");
                *keys.write().unwrap_or_else(PoisonError::into_inner) = fresh;
                // A key taken out of the set no longer vouches for the tokens it signed.
                self.inner
                    .verified
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the JWK set again: the known keys stay");
                false
            }
        }
    }

    fn key_for(&self, kid: Option<&str>) -> Result<VerifyingKey, AuthError> {
        match &self.inner.keys {
            Keys::Fixed(key) => Ok(key.clone()),
            Keys::Set { keys, .. } => {
                let keys = keys.read().unwrap_or_else(PoisonError::into_inner);
                match kid {
                    Some(kid) => keys.get(kid).cloned().ok_or(AuthError::UnknownKey),
                    // Without a kid, only a set of one key says which key it is.
                    None if keys.len() == 1 => {
                        Ok(keys.values().next().cloned().ok_or(AuthError::UnknownKey)?)
                    }
                    None => Err(AuthError::MissingClaim("kid".to_owned())),
                }
            }
        }
    }

    fn verify_with_known_keys(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let leeway = self.inner.validation.leeway as i64;
        let still_valid = |v: &Verified| {
            v.expires >= now - leeway && v.not_before.is_none_or(|nbf| nbf <= now + leeway)
        };
        let digest = sha256(token);
        if let Some(known) = self
            .inner
            .verified
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&digest)
            .filter(|v| still_valid(v))
        {
            return Ok(known.principal.clone());
        }
        let (principal, expires, not_before) = self.verify_signed(token, now)?;
        let mut verified = self
            .inner
            .verified
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(
            digest,
            Verified {
                principal: principal.clone(),
                expires,
                not_before,
            },
        );
        Ok(principal)
    }

    /// Checks the header, the signature and every claim; the principal with the token's
    /// `exp` and `nbf`.
    fn verify_signed(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Principal, i64, Option<i64>), AuthError> {
        let kid = inspect(token)?;
        let key = self.key_for(kid.as_deref())?;
        let mut validation = self.inner.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
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
        let issued = match claims.get("iat") {
            None => return Err(AuthError::MissingClaim("iat".to_owned())),
            Some(v) => v.as_i64().ok_or(AuthError::InvalidClaim("iat"))?,
        };
        let leeway = self.inner.validation.leeway as i64;
        if issued > now + leeway {
            return Err(AuthError::IssuedInFuture);
        }
        if expires < issued {
            return Err(AuthError::InvalidClaim("exp"));
        }
        if (expires - issued) as u64 > self.inner.max_ttl {
            return Err(AuthError::LifetimeTooLong(self.inner.max_ttl));
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
            JwtKey::PublicKeyPem(_) | JwtKey::JwksFile(_) | JwtKey::JwksUrl(_) => {
                Err(KeyError::PublicKeyOnly)
            }
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
    let principal = match bearer_token(req.request()) {
        Ok(token) => verifier.verify(token).await,
        Err(AuthError::Missing) => match stream_token(req.request()) {
            Some(token) => verifier.verify(&token).await,
            None => Err(AuthError::Missing),
        },
        Err(e) => Err(e),
    };
    // The limit counts every request: a principal's under its name, the others under the
    // client's address (so a flood of bad tokens is limited too).
    if let Some(limiter) = req.app_data::<web::Data<crate::rate_limit::RateLimiter>>() {
        let key = match &principal {
            Ok(p) => crate::rate_limit::Key::principal(p),
            Err(_) => crate::rate_limit::Key::address(req.peer_addr().map(|a| a.ip())),
        };
        limiter.check(&key)?;
    }
    let principal = principal.map_err(ApiError::from)?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// The token of an event stream passed as `?access_token=`: a browser's `EventSource` cannot
/// send an `Authorization` header. Only on `GET …/events`, only without the header.
fn stream_token(req: &HttpRequest) -> Option<String> {
    if req.method() != actix_web::http::Method::GET || !req.path().ends_with("/events") {
        return None;
    }
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "access_token")
        .map(|(_, token)| token.trim().to_owned())
        .filter(|token| !token.is_empty())
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
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            leeway_seconds: 0,
            ..JwtConfig::with_key(JwtKey::Secret(
                b"unit-test-secret-of-at-least-32-bytes!!".to_vec(),
            ))
        }
    }

    fn principal() -> Principal {
        Principal {
            subject: "someone".to_owned(),
            kind: PrincipalKind::Operator,
        }
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_checked_against_the_clock() {
        let verifier = JwtVerifier::new(&config()).expect("verifier");
        let token = TokenIssuer::new(&config())
            .expect("issuer")
            .mint(&principal(), chrono::Utc::now(), chrono::Duration::hours(1))
            .expect("token");
        assert_eq!(verifier.verify(&token).await, Ok(principal()));
        assert_eq!(verifier.verify(&token).await, Ok(principal()), "remembered");
        // Its remembered period has passed: it is verified again, not trusted.
        let now = jsonwebtoken::get_current_timestamp() as i64;
        for (expires, not_before) in [(now - 5, None), (now + 3600, Some(now + 5))] {
            verifier.inner.verified.write().unwrap().insert(
                sha256("not-a-token"),
                Verified {
                    principal: principal(),
                    expires,
                    not_before,
                },
            );
            assert_eq!(
                verifier.verify("not-a-token").await,
                Err(AuthError::Malformed)
            );
        }
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_never_remembered_as_valid() {
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
            assert_eq!(verifier.verify(&token).await, Err(AuthError::BadSignature));
        }
    }

    #[test]
    fn duplicate_keys_are_found() {
        assert_eq!(duplicate_key(br#"{"a":1,"b":{"a":2}}"#), Ok(None));
        assert_eq!(
            duplicate_key(br#"{"role":"partner","x":1,"role":"operator"}"#),
            Ok(Some("role".to_owned()))
        );
        assert_eq!(duplicate_key(b"[1]"), Err(AuthError::Malformed));
        assert_eq!(duplicate_key(b"{} x"), Err(AuthError::Malformed));
    }
}
