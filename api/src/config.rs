//! Configuration from the environment (API.md "Running").

use std::path::PathBuf;

/// How tokens are verified (and, with a secret, minted).
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret.
    Secret(Vec<u8>),
    /// RS256 or ES256 with a public key (PEM); tokens cannot be minted here.
    PublicKeyPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("Secret(***)"),
            JwtKey::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
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
    #[error("set JWT_SECRET or JWT_PUBLIC_KEY_FILE, not both")]
    BothKeys,
    #[error("JWT_SECRET must be at least 32 bytes")]
    ShortSecret,
    #[error("cannot create the JWT secret under {path}: {source}")]
    SecretFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{name} is not a number: {value}")]
    NotANumber { name: &'static str, value: String },
}

pub const DEFAULT_DATABASE_URL: &str = "data/sa-benefits.db";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_ISSUER: &str = "sa-benefits";
pub const DEFAULT_AUDIENCE: &str = "sa-benefits-api";

fn var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Err(ConfigError::Empty(name)),
        Ok(v) => Ok(Some(v)),
        Err(_) => Ok(None),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let key = match (var("JWT_SECRET")?, var("JWT_PUBLIC_KEY_FILE")?) {
            (Some(_), Some(_)) => return Err(ConfigError::BothKeys),
            (Some(secret), None) => JwtKey::Secret(secret.into_bytes()),
            (None, Some(path)) => JwtKey::PublicKeyPem(
                std::fs::read(&path).map_err(|source| ConfigError::PublicKey { path, source })?,
            ),
            (None, None) => JwtKey::Secret(local_secret(&data_dir()?.join("jwt-secret"))?),
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
                key,
                issuer: var("JWT_ISSUER")?.unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
                audience: var("JWT_AUDIENCE")?.unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
                leeway_seconds: 60,
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
                .map_or(crate::answers::Answers::DEFAULT_CAPACITY, |n| n as usize),
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
        use rand::Rng;
        let bytes: [u8; 32] = rand::thread_rng().gen();
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
