//! Delivery of the outbox by SMTP (`SMTP_URL`, e.g. `smtp://mail.example:25`). A worker
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

impl Mailer {
    /// From `SMTP_URL`: `smtp://[user:password@]host[:port]` (port 25 by default). The
    /// connection is plain SMTP, as to a local relay or mail catcher; put a TLS-speaking
    /// relay in front for anything else.
    pub fn from_url(url: &str) -> anyhow::Result<Mailer> {
        let (credentials, host, port) = parse_smtp_url(url)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(
                lettre::transport::smtp::authentication::Credentials::new(user, password),
            );
        }
        Ok(Mailer {
            transport: builder.build(),
            from: FROM.parse()?,
        })
    }

    async fn send(&self, n: &Notification) -> Result<(), String> {
        let to: Mailbox = n
            .recipient
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

type Credentials = Option<(String, String)>;

fn parse_smtp_url(url: &str) -> anyhow::Result<(Credentials, String, u16)> {
    let bad = || anyhow::anyhow!("SMTP_URL must look like smtp://[user:password@]host[:port]");
    let rest = url.strip_prefix("smtp://").ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((userinfo, address)) => {
            let (user, password) = userinfo.split_once(':').ok_or_else(bad)?;
            (Some((user.to_owned(), password.to_owned())), address)
        }
        None => (None, rest),
    };
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
        None => (address, 25),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((credentials, host.to_owned(), port))
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

/// Runs the worker for as long as the server runs.
pub fn spawn(state: AppState, mailer: Mailer) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(POLL);
        loop {
            interval.tick().await;
            deliver_due(&state, &mailer).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse() {
        let (c, h, p) = parse_smtp_url("smtp://mail.example").unwrap();
        assert_eq!((c, h.as_str(), p), (None, "mail.example", 25));
        let (c, h, p) = parse_smtp_url("smtp://u:p@127.0.0.1:2525/").unwrap();
        assert_eq!(
            (c, h.as_str(), p),
            (Some(("u".into(), "p".into())), "127.0.0.1", 2525)
        );
        assert!(parse_smtp_url("http://x").is_err());
        assert!(parse_smtp_url("smtp://:25").is_err());
    }
}
