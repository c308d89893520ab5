//! Configuration from the environment (API.md "Running").

use std::path::PathBuf;

/// How tokens are verified (and, with a secret, minted).
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Secret(Vec<u8>),
    /// RS256 or ES256 with a public key (PEM); tokens cannot be minted here.
    PublicKeyPem(Vec<u8>),
    /// RS256 or ES256 with the keys of a JWK set in a file, chosen by the token's `kid`;
    /// the file is read again when an unknown `kid` arrives.
    JwksFile(PathBuf),
    /// The same with a JWK set served by an identity provider (`https://…`).
    JwksUrl(String),
}

impl JwtKey {
    /// Whether tokens are minted elsewhere (a public key or a JWK set): then this service
    /// can neither mint nor print tokens.
    pub fn minted_elsewhere(&self) -> bool {
        !matches!(self, JwtKey::Secret(_))
    }
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("Secret(***)"),
            JwtKey::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
            JwtKey::JwksFile(path) => write!(f, "JwksFile({})", path.display()),
            JwtKey::JwksUrl(url) => write!(f, "JwksUrl({url})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
    /// The longest accepted lifetime of a token, `exp − iat` (`JWT_MAX_TTL`).
    pub max_ttl_seconds: u64,
    /// The shortest time between two readings of a JWK set for an unknown `kid`.
    pub jwks_refresh_seconds: u64,
}

impl JwtConfig {
    /// A configuration with the defaults of API.md around `key`.
    pub fn with_key(key: JwtKey) -> Self {
        JwtConfig {
            key,
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            leeway_seconds: 60,
            max_ttl_seconds: DEFAULT_MAX_TTL_SECONDS,
            jwks_refresh_seconds: 60,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub bind_addr: String,
    pub jwt: JwtConfig,
    pub smtp_url: Option<String>,
    pub cors_allowed_origins: Vec<String>,
    /// HTTP worker threads (default: the number of cores).
    pub workers: Option<usize>,
    pub database_pool_size: u32,
    /// How many answers of the benefit lists to keep (0 keeps none; see [`crate::answers`]).
    pub kept_answers: usize,
    /// Requests a minute per principal, or per client address without a token (0: no limit).
    pub rate_limit_per_minute: u32,
    /// An extra certificate authority (PEM) trusted for the SMTP server's certificate.
    pub smtp_ca_file: Option<PathBuf>,
    /// The key webhook secrets are derived from (`WEBHOOK_SIGNING_KEY`, or a key created once
    /// under `data/`); servers sharing a database must share it.
    pub webhook_signing_key: Vec<u8>,
    /// `WEBHOOK_ALLOW_PRIVATE=true`: webhooks may use `http://` and private addresses.
    pub webhook_allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is set but empty")]
    Empty(&'static str),
    #[error("cannot read JWT_PUBLIC_KEY_FILE {path}: {source}")]
    PublicKey {
        path: String,
        source: std::io::Error,
    },
    #[error("set one of JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE, JWT_JWKS_URL, not {0}")]
    SeveralKeys(String),
    #[error("JWT_PUBLIC_KEY_FILE {0} holds a private key: give the public key only (openssl pkey -in KEY -pubout)")]
    PrivateKeyGiven(String),
    #[error("JWT_PUBLIC_KEY_FILE {0} is not a PEM public key (-----BEGIN PUBLIC KEY-----, RSA or EC P-256)")]
    NotAPublicKey(String),
    #[error("JWT_JWKS_URL must be an https:// URL (http:// only on a loopback host): {0}")]
    JwksUrl(String),
    #[error("{name} is not a duration (seconds, or 30m, 12h, 7d): {value}")]
    NotADuration { name: &'static str, value: String },
    #[error("JWT_SECRET must be at least 32 bytes")]
    ShortSecret,
    #[error("cannot create the JWT secret under {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
    #[error("WEBHOOK_SIGNING_KEY must be at least 32 bytes")]
    ShortWebhookKey,
    #[error("{name} must be true or false, not {value}")]
    NotABoolean { name: &'static str, value: String },
    #[error("{name} is not a number: {value}")]
    NotANumber { name: &'static str, value: String },
}

pub const DEFAULT_DATABASE_URL: &str = "data/sa-benefits.db";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_ISSUER: &str = "sa-benefits";
pub const DEFAULT_AUDIENCE: &str = "sa-benefits-api";
/// `JWT_MAX_TTL` by default: 24 hours.
pub const DEFAULT_MAX_TTL_SECONDS: u64 = 24 * 3600;
/// `RATE_LIMIT_PER_MINUTE` by default: 1,200 requests a minute (20 a second on average),
/// each principal may also spend its whole minute at once.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 1200;

/// A duration: seconds, or a number with a unit (`30m`, `12h`, `7d`).
pub fn parse_duration_seconds(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(factor).filter(|s| *s > 0)
}

/// The labels of a PEM file (`-----BEGIN <label>-----`).
fn pem_labels(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_owned)
        .collect()
}

/// Refuses what cannot be a public key, saying what it is instead.
fn check_public_key(path: &str, pem: &[u8]) -> Result<(), ConfigError> {
    let labels = pem_labels(pem);
    if labels.iter().any(|l| l.contains("PRIVATE KEY")) {
        return Err(ConfigError::PrivateKeyGiven(path.to_owned()));
    }
    if !labels
        .iter()
        .any(|l| l == "PUBLIC KEY" || l == "RSA PUBLIC KEY")
    {
        return Err(ConfigError::NotAPublicKey(path.to_owned()));
    }
    Ok(())
}

/// A JWK set URL: `https://`, or `http://` to a loopback host (a local identity provider).
fn check_jwks_url(url: &str) -> Result<(), ConfigError> {
    let loopback = [
        "http://127.",
        "http://localhost:",
        "http://localhost/",
        "http://[::1]",
    ];
    if url.starts_with("https://") || loopback.iter().any(|p| url.starts_with(p)) {
        Ok(())
    } else {
        Err(ConfigError::JwksUrl(url.to_owned()))
    }
}

fn var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Err(ConfigError::Empty(name)),
        Ok(v) => Ok(Some(v)),
        Err(_) => Ok(None),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let given: Vec<(&'static str, String)> = [
            "JWT_SECRET",
            "JWT_PUBLIC_KEY_FILE",
            "JWT_JWKS_FILE",
            "JWT_JWKS_URL",
        ]
        .into_iter()
        .filter_map(|name| var(name).transpose().map(|v| v.map(|v| (name, v))))
        .collect::<Result<_, _>>()?;
        let key = match given.as_slice() {
            [] => JwtKey::Secret(local_secret(&data_dir()?.join("jwt-secret"))?),
            [("JWT_SECRET", secret)] => JwtKey::Secret(secret.clone().into_bytes()),
            [("JWT_PUBLIC_KEY_FILE", path)] => {
                let pem = std::fs::read(path).map_err(|source| ConfigError::PublicKey {
                    path: path.clone(),
                    source,
                })?;
                check_public_key(path, &pem)?;
                JwtKey::PublicKeyPem(pem)
            }
            [("JWT_JWKS_FILE", path)] => JwtKey::JwksFile(PathBuf::from(path)),
            [("JWT_JWKS_URL", url)] => {
                check_jwks_url(url)?;
                JwtKey::JwksUrl(url.clone())
            }
            several => {
                let names: Vec<&str> = several.iter().map(|(n, _)| *n).collect();
                return Err(ConfigError::SeveralKeys(names.join(" and ")));
            }
        };
        if let JwtKey::Secret(s) = &key {
            if s.len() < 32 {
                return Err(ConfigError::ShortSecret);
            }
        }
        let number = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            var(name)?
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| ConfigError::NotANumber { name, value: v })
                })
                .transpose()
        };
        Ok(Config {
            database_url: var("DATABASE_URL")?.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            bind_addr: var("BIND_ADDR")?.unwrap_or_else(|| DEFAULT_BIND_ADDR.to_owned()),
            jwt: JwtConfig {
                issuer: var("JWT_ISSUER")?.unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
                audience: var("JWT_AUDIENCE")?.unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
                max_ttl_seconds: match var("JWT_MAX_TTL")? {
                    None => DEFAULT_MAX_TTL_SECONDS,
                    Some(v) => parse_duration_seconds(&v).ok_or(ConfigError::NotADuration {
                        name: "JWT_MAX_TTL",
                        value: v,
                    })?,
                },
                ..JwtConfig::with_key(key)
            },
            smtp_url: var("SMTP_URL")?,
            cors_allowed_origins: var("CORS_ALLOWED_ORIGINS")?
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            workers: number("WORKERS")?.map(|n| n as usize),
            database_pool_size: number("DATABASE_POOL_SIZE")?.unwrap_or(16),
            kept_answers: number("KEPT_ANSWERS")?
                .map_or(crate::cache::ListCache::DEFAULT_CAPACITY, |n| n as usize),
            rate_limit_per_minute: number("RATE_LIMIT_PER_MINUTE")?
                .unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE),
            smtp_ca_file: var("SMTP_CA_FILE")?.map(PathBuf::from),
            webhook_signing_key: match var("WEBHOOK_SIGNING_KEY")? {
                Some(key) if key.len() < 32 => return Err(ConfigError::ShortWebhookKey),
                Some(key) => key.into_bytes(),
                None => local_secret(&data_dir()?.join("webhook-signing-key"))?,
            },
            webhook_allow_private: match var("WEBHOOK_ALLOW_PRIVATE")?.as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(ConfigError::NotABoolean {
                        name: "WEBHOOK_ALLOW_PRIVATE",
                        value: other.to_owned(),
                    })
                }
            },
        })
    }
}

fn data_dir() -> Result<PathBuf, ConfigError> {
    Ok(PathBuf::from(
        var("DATA_DIR")?.unwrap_or_else(|| "data".to_owned()),
    ))
}

/// The secret kept under `data/`, created on first use (readable by the owner only).
fn local_secret(path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    let err = |source| ConfigError::SecretFile {
        path: path.display().to_string(),
        source,
    };
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(existing.into_bytes());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let secret: String = {
        use rand::RngExt;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(secret.as_bytes()).map_err(err)?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)
                .map_err(err)?
                .trim()
                .as_bytes()
                .to_vec())
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_seconds("3600"), Some(3600));
        assert_eq!(parse_duration_seconds("30m"), Some(1800));
        assert_eq!(parse_duration_seconds("12h"), Some(43_200));
        assert_eq!(parse_duration_seconds("7d"), Some(604_800));
        for bad in ["", "0", "h", "12x", "-5", "99999999999999999999"] {
            assert_eq!(parse_duration_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_private_key_is_not_taken_for_a_public_one() {
        let private = b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            check_public_key("k.pem", private),
            Err(ConfigError::PrivateKeyGiven(_))
        ));
        let rsa = b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            check_public_key("k.pem", rsa),
            Err(ConfigError::PrivateKeyGiven(_))
        ));
        assert!(matches!(
            check_public_key("k.pem", b"not a key"),
            Err(ConfigError::NotAPublicKey(_))
        ));
        let public = b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
        assert!(check_public_key("k.pem", public).is_ok());
    }

    #[test]
    fn jwks_urls_are_https_or_loopback() {
        assert!(check_jwks_url("https://login.example/keys").is_ok());
        assert!(check_jwks_url("http://127.0.0.1:9000/jwks").is_ok());
        assert!(check_jwks_url("http://localhost:9000/jwks").is_ok());
        assert!(check_jwks_url("http://idp.example/keys").is_err());
        assert!(check_jwks_url("http://localhost.evil.example/keys").is_err());
    }
}
