//! Delivery of the outbox by SMTP (`SMTP_URL`: `smtp://relay:25` in plain text,
//! `smtp://mail.example?tls=required` with STARTTLS, `smtps://mail.example` with TLS). A worker
//! claims due notifications (so two servers never send one twice), sends them, and marks
//! them sent, or retries with back-off (30 s doubling to 1 h) and gives up after
//! `MAX_ATTEMPTS`. With the SMTP server down nothing is lost: the rows wait in the outbox.

use crate::extract::blocking;
use crate::state::AppState;
use chrono::Duration as ChronoDuration;
use domain::notification::{backoff, Notification, MAX_ATTEMPTS};
use domain::ports::OutboxRepository;
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How often the worker looks for due notifications.
pub const POLL: Duration = Duration::from_secs(2);
/// How long a claimed notification is reserved for the worker sending it.
const LEASE_SECONDS: i64 = 120;
/// The sender of every e-mail.
pub const FROM: &str = "SA Benefits <no-reply@sa-benefits.example>";

/// An SMTP client for the outbox.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://host[:25]`: plain text, for a local relay or mail catcher.
    None,
    /// `smtp://host[:587]?tls=required`: STARTTLS, refused if the server does not offer it.
    Required,
    /// `smtps://host[:465]`: TLS from the first byte.
    Wrapper,
}

/// What `SMTP_URL` says: the protection, the host and whether credentials are given.
fn smtp_target(url: &str) -> anyhow::Result<(SmtpTls, String, bool)> {
    let bad = || {
        anyhow::anyhow!(
            "SMTP_URL must look like smtp://[user:password@]host[:port], smtp://…?tls=required (STARTTLS) or smtps://… (TLS)"
        )
    };
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad)?
        .to_owned();
    let tls_query = parsed
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let tls = match (parsed.scheme(), tls_query.as_deref()) {
        ("smtp", None) => SmtpTls::None,
        ("smtp", Some("required")) => SmtpTls::Required,
        ("smtps", None) => SmtpTls::Wrapper,
        _ => return Err(bad()),
    };
    Ok((tls, host, !parsed.username().is_empty()))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Mailer {
    /// From `SMTP_URL` (see [`SmtpTls`]); the server's certificate is checked against the
    /// system's authorities and `ca_file` (PEM, `SMTP_CA_FILE`) when given. Credentials are
    /// refused over plain text except to a loopback host.
    pub fn from_url(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<Mailer> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let (tls, host, credentials) = smtp_target(url)?;
        if credentials && tls == SmtpTls::None && !is_loopback(&host) {
            anyhow::bail!(
                "SMTP_URL sends credentials in plain text to {host}: use smtps:// or smtp://…?tls=required"
            );
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("SMTP_CA_FILE {}: {e}", path.display()))?;
            let certificate = Certificate::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("SMTP_CA_FILE {}: {e}", path.display()))?;
            let parameters = TlsParameters::builder(host)
                .add_root_certificate(certificate)
                .build_rustls()
                .map_err(|e| anyhow::anyhow!("SMTP TLS: {e}"))?;
            builder = match tls {
                SmtpTls::None => anyhow::bail!("SMTP_CA_FILE is set but SMTP_URL does not use TLS"),
                SmtpTls::Required => builder.tls(Tls::Required(parameters)),
                SmtpTls::Wrapper => builder.tls(Tls::Wrapper(parameters)),
            };
        }
        Ok(Mailer {
            transport: builder.build(),
            from: FROM.parse()?,
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), String> {
        // Only pending notifications are claimed, and those always have a recipient.
        let to: Mailbox = n
            .recipient
            .as_ref()
            .ok_or("no recipient")?
            .to_string()
            .parse()
            .map_err(|e| format!("bad recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(n.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone())
            .map_err(|e| format!("cannot build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// One round: sends what is due. Returns how many were sent.
pub async fn deliver_due(state: &AppState, mailer: &Mailer) -> usize {
    let (db, now) = (state.db.clone(), state.now());
    let claimed = match blocking(move || {
        Ok(db.claim_due_notifications(now, now + ChronoDuration::seconds(LEASE_SECONDS), 50)?)
    })
    .await
    {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(code = e.code, "cannot read the outbox");
            return 0;
        }
    };
    let mut sent = 0;
    for n in claimed {
        let attempts = n.attempts + 1;
        let outcome = mailer.send(&n).await;
        let (db, now, id) = (state.db.clone(), state.now(), n.id);
        let recorded = match &outcome {
            Ok(()) => {
                sent += 1;
                blocking(move || Ok(db.mark_sent(id, attempts, now)?)).await
            }
            Err(error) => {
                tracing::warn!(notification = %id, attempts, error = %error, "delivery failed");
                let retry = (attempts < MAX_ATTEMPTS).then(|| now + backoff(attempts - 1));
                let error = error.clone();
                blocking(move || Ok(db.mark_failed_attempt(id, attempts, &error, retry)?)).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(code = e.code, notification = %id, "cannot record a delivery");
        }
    }
    sent
}

/// Runs the worker until `stop` turns true; a round under way is finished (a message being
/// sent is sent and recorded).
pub fn spawn(
    state: AppState,
    mailer: Mailer,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    deliver_due(&state, &mailer).await;
                }
                _ = stop.changed() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse() {
        let target = |url| smtp_target(url).ok();
        assert_eq!(
            target("smtp://mail.example"),
            Some((SmtpTls::None, "mail.example".to_owned(), false))
        );
        assert_eq!(
            target("smtp://u:p@127.0.0.1:2525/"),
            Some((SmtpTls::None, "127.0.0.1".to_owned(), true))
        );
        assert_eq!(
            target("smtp://u:p@mail.example?tls=required"),
            Some((SmtpTls::Required, "mail.example".to_owned(), true))
        );
        assert_eq!(
            target("smtps://mail.example:465"),
            Some((SmtpTls::Wrapper, "mail.example".to_owned(), false))
        );
        for bad in [
            "http://x",
            "smtp://:25",
            "smtp://x?tls=maybe",
            "smtps://x?tls=required",
        ] {
            assert_eq!(target(bad), None, "{bad}");
        }
    }

    #[test]
    fn credentials_never_travel_in_plain_text_off_the_machine() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        assert!(Mailer::from_url("smtp://u:p@mail.example:25", None).is_err());
        assert!(Mailer::from_url("smtp://u:p@127.0.0.1:2525", None).is_ok());
        assert!(Mailer::from_url("smtp://u:p@mail.example?tls=required", None).is_ok());
        assert!(Mailer::from_url("smtps://u:p@mail.example", None).is_ok());
    }
}
