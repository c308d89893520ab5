//! TLS for the PostgreSQL connections this process opens itself (the listener of
//! [`crate::postgres::notify`]); the pool's connections go through libpq, which reads the same URL.
//!
//! `DATABASE_URL` speaks libpq: `sslmode` is `disable`, `allow`, `prefer` (libpq's default),
//! `require`, `verify-ca` or `verify-full`, and `sslrootcert` names the certificate
//! authorities to trust (a PEM file, or `system` for the system's store). tokio-postgres
//! knows only `disable`/`prefer`/`require` and no `sslrootcert`, so the URL is read here once
//! and its TLS part turned into a rustls configuration with libpq's meaning of each mode:
//! `require` encrypts without checking the certificate (unless `sslrootcert` is given, then
//! like `verify-ca`), `verify-ca` checks the chain, `verify-full` the chain and the host
//! name. The verifier below exists because no crate offers libpq's `require` and
//! `verify-ca` semantics for rustls (one verifier, [`Libpq`], for both); `verify-full` is
//! rustls' own WebPKI verifier.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// What tokio-postgres is told: whether to try TLS and whether it must succeed.
    fn for_tokio_postgres(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow | SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }
}

/// A `DATABASE_URL` whose TLS settings cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("DATABASE_URL: sslmode={0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    UnknownMode(String),
    #[error("DATABASE_URL: sslrootcert {path} cannot be read: {reason}")]
    RootCert { path: String, reason: String },
    #[error("DATABASE_URL: sslmode={mode} needs certificate authorities to check the server against: set sslrootcert=/path/to/ca.pem (or sslrootcert=system); {default} cannot be read")]
    NoRootCert { mode: &'static str, default: String },
    #[error("DATABASE_URL: {0}")]
    Rustls(String),
}

/// The listener's connection settings: the URL for tokio-postgres and its TLS connector.
#[derive(Clone)]
pub(crate) struct ListenerTls {
    pub(crate) url: String,
    pub(crate) mode: SslMode,
    pub(crate) connector: tokio_postgres_rustls::MakeRustlsConnect,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Parameters that only libpq understands: they configure TLS here, and tokio-postgres
/// would refuse them.
const LIBPQ_TLS_PARAMETERS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
];

/// Reads the TLS settings of a `postgres://` URL and builds the listener's connector.
pub(crate) fn listener_tls(url: &str) -> Result<ListenerTls, TlsError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "sslmode" => {
                mode = SslMode::parse(&value)
                    .ok_or_else(|| TlsError::UnknownMode(value.clone().into_owned()))?;
            }
            "sslrootcert" => root_cert = Some(value.into_owned()),
            k if LIBPQ_TLS_PARAMETERS.contains(&k) => {}
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    kept.push(("sslmode".to_owned(), mode.for_tokio_postgres().to_owned()));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&kept)
        .finish();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = verifier(mode, root_cert.as_deref(), &provider)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(ListenerTls {
        url: format!("{base}?{query}"),
        mode,
        connector: tokio_postgres_rustls::MakeRustlsConnect::new(config),
    })
}

/// The certificate authorities of `sslrootcert` (`system`: the system's store).
fn roots(path: &str) -> Result<RootCertStore, TlsError> {
    let failed = |reason: String| TlsError::RootCert {
        path: path.to_owned(),
        reason,
    };
    let mut store = RootCertStore::empty();
    if path == "system" {
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
    } else {
        let pem = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| failed(format!("not PEM certificates: {e}")))?;
        for certificate in certificates {
            store
                .add(certificate)
                .map_err(|e| failed(format!("not a usable certificate: {e}")))?;
        }
    }
    if store.is_empty() {
        return Err(failed("no certificate in it".to_owned()));
    }
    Ok(store)
}

/// libpq's default `sslrootcert`: `~/.postgresql/root.crt`.
fn default_root_cert() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".postgresql/root.crt")
}

fn verifier(
    mode: SslMode,
    root_cert: Option<&str>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let checked = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| TlsError::Rustls(e.to_string()))
    };
    let needs_roots = |name: &'static str| -> Result<RootCertStore, TlsError> {
        match root_cert {
            Some(path) => roots(path),
            None => {
                let default = default_root_cert();
                match roots(&default.to_string_lossy()) {
                    Ok(store) => Ok(store),
                    Err(_) => Err(TlsError::NoRootCert {
                        mode: name,
                        default: default.display().to_string(),
                    }),
                }
            }
        }
    };
    let libpq = |chain| {
        Arc::new(Libpq {
            chain,
            provider: provider.clone(),
        })
    };
    Ok(match mode {
        SslMode::VerifyFull => checked(needs_roots("verify-full")?)?,
        SslMode::VerifyCa => libpq(Some(checked(needs_roots("verify-ca")?)?)),
        // libpq: with a root certificate given, `require` checks the chain like `verify-ca`.
        SslMode::Require if root_cert.is_some() => libpq(Some(checked(needs_roots("require")?)?)),
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => libpq(None),
    })
}

/// libpq's `require` and `verify-ca`: with no `chain`, any certificate is taken (the session
/// is encrypted, the peer not authenticated); with one, the certificate must lead to a
/// trusted authority, its name is not compared. The handshake's signatures are verified
/// either way.
#[derive(Debug)]
struct Libpq {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Libpq {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_keeps_its_other_parameters_and_tells_tokio_postgres_what_it_knows() {
        let tls =
            listener_tls("postgres://u:p@h:5432/db?application_name=x&sslmode=require").unwrap();
        assert_eq!(tls.mode, SslMode::Require);
        assert_eq!(
            tls.url,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        let tls = listener_tls("postgres://h/db").unwrap();
        assert_eq!(tls.mode, SslMode::Prefer, "libpq's default");
        assert_eq!(tls.url, "postgres://h/db?sslmode=prefer");
        let tls = listener_tls("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(tls.mode, SslMode::Disable);
    }

    #[test]
    fn bad_settings_name_themselves() {
        let error = listener_tls("postgres://h/db?sslmode=verify-everything").unwrap_err();
        assert!(error.to_string().contains("sslmode"), "{error}");
        let error =
            listener_tls("postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
                .unwrap_err();
        assert!(error.to_string().contains("sslrootcert"), "{error}");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            junk.display()
        );
        assert!(listener_tls(&url).is_err());
    }
}
