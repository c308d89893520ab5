//! Webhook deliveries, by the Standard Webhooks convention: a POST of the event as JSON with
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256>`.
//!
//! **Secrets.** A subscription's secret is never stored. It is derived, when it is shown and
//! at each delivery, from the server's signing key (`WEBHOOK_SIGNING_KEY`, or a key created
//! once under `data/`) and a random salt kept with the subscription: HMAC-SHA256(key,
//! "sa-benefits webhook secret" | id | salt). Someone who reads the database learns the salt
//! and a SHA-256 check of the secret, neither of which lets them sign. Someone who changes
//! the salt (to make the server sign with a secret they could compute) cannot, without the
//! key, and the check no longer matches: the delivery is refused and logged as an error.
//!
//! **Destinations.** An address must be `https://` and must reach only public addresses:
//! the name is resolved at each delivery by [`PublicOnly`], which drops loopback, private and
//! link-local answers (so a name that later resolves to 127.0.0.1 is refused too), and
//! redirects are not followed. `WEBHOOK_ALLOW_PRIVATE=true` lifts both, for development.
//!
//! **Deliveries** are rows written with their event; a server claims due ones for a lease,
//! so two servers never make the same one, and they survive restarts. Whether the partner
//! still holds an approved permission on the organization is checked at each delivery.

use crate::events::EventView;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::events::{
    is_public, next_attempt, signed_content, BadWebhookUrl, Delivery, DeliveryStatus, Destinations,
    WebhookUrl,
};
use domain::ports::Clock;
use domain::ports::{EventRepository, PermissionRepository};
use hmac::{Hmac, KeyInit, Mac};
use persistence::Database;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How many webhook name lookups may run at once (each on a thread of its own: [`lookup`]).
const LOOKUPS: usize = 64;
/// A receiver must answer within this.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is this server's before another may take it.
const LEASE_SECONDS: i64 = 60;
/// How many deliveries one round claims, and makes at once.
const CLAIM: i64 = 64;

/// What deliveries need: the signing key, which destinations are allowed, the HTTP client.
pub struct Webhooks {
    key: Vec<u8>,
    pub destinations: Destinations,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("destinations", &self.destinations)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    pub fn new(key: Vec<u8>, destinations: Destinations) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("sa-benefits-webhooks/1")
            .dns_resolver(Arc::new(PublicOnly { destinations }))
            .build()?;
        Ok(Self {
            key,
            destinations,
            client,
        })
    }

    /// Parses and checks an address a partner subscribes: its form (domain rules), then,
    /// when its name resolves here, that it resolves to public addresses only.
    pub async fn check_url(&self, raw: &str) -> Result<WebhookUrl, BadWebhookUrl> {
        let parsed = url::Url::parse(raw.trim()).map_err(|_| BadWebhookUrl::Malformed)?;
        let host_ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let url = WebhookUrl::check(
            parsed.as_str(),
            parsed.scheme(),
            parsed.host().is_some(),
            !parsed.username().is_empty() || parsed.password().is_some(),
            host_ip,
            self.destinations,
        )?;
        if let (Some(url::Host::Domain(name)), Destinations::PublicOnly) =
            (parsed.host(), self.destinations)
        {
            let port = parsed.port_or_known_default().unwrap_or(443);
            if let Ok(found) = lookup(name.to_owned(), port).await {
                if found.iter().any(|a| !is_public(a.ip())) {
                    return Err(BadWebhookUrl::NotPublic);
                }
            }
        }
        Ok(url)
    }

    /// The secret of a subscription (32 bytes).
    fn secret(&self, webhook: uuid::Uuid, salt: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(b"sa-benefits webhook secret|");
        mac.update(webhook.to_string().as_bytes());
        mac.update(b"|");
        mac.update(salt.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A new salt and, for it, the secret as shown to the partner (`whsec_…`) and its check.
    pub fn new_secret(&self, webhook: uuid::Uuid) -> (String, String, String) {
        let salt: String = {
            use rand::RngExt;
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let secret = self.secret(webhook, &salt);
        let shown = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&secret)
        );
        (salt, shown, check_of(&secret))
    }

    /// The secret of a stored subscription, if its check still matches.
    fn stored_secret(&self, webhook: uuid::Uuid, salt: &str, check: &str) -> Option<Vec<u8>> {
        let secret = self.secret(webhook, salt);
        (check_of(&secret) == check).then_some(secret)
    }
}

/// What is stored to show a tampered salt: SHA-256 of the secret, in hex.
fn check_of(secret: &[u8]) -> String {
    Sha256::digest(secret)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub fn signature(secret: &[u8], message_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(signed_content(message_id, timestamp, body).as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// Resolves a name with the system's resolver (`getaddrinfo`, so `/etc/hosts` and
/// `resolv.conf` apply as for every other program here) on a thread of its own. Written by
/// hand because `tokio::net::lookup_host` runs `getaddrinfo` on the runtime's blocking pool,
/// and a runtime's shutdown waits for every blocking task: `getaddrinfo` cannot be
/// cancelled, so a receiver whose name server does not answer held the server's stop (and
/// every test that seeds the demo's subscription) for the resolver's 5 s timeout. A
/// detached thread is left to finish on its own; whoever stopped waiting never hears it.
/// At most [`LOOKUPS`] run at once, as the blocking pool bounded them before.
async fn lookup(name: String, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(LOOKUPS);
    let running = RUNNING
        .acquire()
        .await
        .map_err(|_| std::io::Error::other("name lookups are closed"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("webhook-dns".to_owned())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect);
            drop(running);
            let _ = tx.send(found);
        })?;
    rx.await
        .unwrap_or_else(|_| Err(std::io::Error::other("the name lookup stopped")))
}

/// Resolves a delivery's host name and keeps only the addresses it may connect to. Written
/// here because the check belongs where the connection is made: reqwest asks this resolver
/// for every new connection, so a name that resolved to a public address when it was
/// subscribed and resolves to 127.0.0.1 now is refused now.
struct PublicOnly {
    destinations: Destinations,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.destinations == Destinations::PrivateAllowed;
        Box::pin(async move {
            let found: Vec<SocketAddr> = lookup(name.as_str().to_owned(), 0)
                .await?
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{} resolves to no public address (WEBHOOK_ALLOW_PRIVATE is not set)",
                    name.as_str()
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What the delivery worker needs: the database, the clock and the subscriptions' keys and
/// HTTP client.
#[derive(Clone)]
pub struct Worker {
    pub db: Database,
    pub clock: Arc<dyn Clock>,
    pub webhooks: Arc<Webhooks>,
}

impl Worker {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Makes the due deliveries, woken by every commit of this server that wrote deliveries and
/// at least once a second (retries, other servers' deliveries), until `stop` turns true.
pub fn spawn(
    worker: Worker,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut commits = worker.db.changes().deliveries();
        loop {
            // A stop does not wait for a round of attempts (up to 10 s each): what was claimed
            // and not recorded is taken again when its lease ends.
            let made = tokio::select! {
                made = run_once(&worker) => made,
                _ = stop.changed() => return,
            };
            if made >= CLAIM as usize {
                continue; // more may be due
            }
            tokio::select! {
                _ = commits.changed() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    })
}

/// One round: claims the due deliveries and makes them, all at once. How many it claimed.
pub async fn run_once(worker: &Worker) -> usize {
    let (s, now) = (worker.clone(), worker.now());
    let lease = now + chrono::Duration::seconds(LEASE_SECONDS);
    let claimed =
        match crate::extract::blocking(move || Ok(s.db.claim_due_deliveries(now, lease, CLAIM)?))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(code = e.code, "webhook deliveries could not be claimed");
                return 0;
            }
        };
    let count = claimed.len();
    let attempts = claimed.into_iter().map(|d| {
        let worker = worker.clone();
        async move {
            let done = attempt(&worker, d).await;
            let s = worker.clone();
            if let Err(e) = crate::extract::blocking(move || Ok(s.db.record_attempt(&done)?)).await
            {
                tracing::warn!(code = e.code, "a webhook attempt could not be recorded");
            }
        }
    });
    futures_util::future::join_all(attempts).await;
    count
}

/// Makes one delivery, or decides it is not to be made; returns it as it now stands.
async fn attempt(worker: &Worker, mut delivery: Delivery) -> Delivery {
    let (s, webhook_id, org) = (
        worker.clone(),
        delivery.webhook_id,
        delivery.event.organization_id,
    );
    let now = worker.now();
    let looked_up = crate::extract::blocking(move || {
        let Some((webhook, salt, check)) = s.db.webhook(webhook_id)? else {
            return Ok(None);
        };
        let permitted =
            s.db.active_permission(webhook.partner_id, org, now)?
                .is_some();
        Ok(Some((webhook, salt, check, permitted)))
    })
    .await;
    let (webhook, salt, check) = match looked_up {
        Ok(Some((_, _, _, false))) => {
            return skipped(
                delivery,
                "the partner's permission on the organization has ended",
            )
        }
        Ok(None) => return skipped(delivery, "the subscription was removed"),
        Ok(Some((w, salt, check, true))) => (w, salt, check),
        Err(e) => return retry(delivery, None, format!("lookup failed: {}", e.code), now),
    };
    let Some(secret) = worker.webhooks.stored_secret(webhook.id, &salt, &check) else {
        tracing::error!(
            webhook = %webhook.id,
            "a webhook's stored secret check does not match its salt: the row was changed or \
             WEBHOOK_SIGNING_KEY is not the key it was made with; nothing is sent"
        );
        delivery.attempts += 1;
        delivery.status = DeliveryStatus::Failed;
        delivery.next_attempt_at = None;
        delivery.last_error = Some("the subscription's secret cannot be verified".into());
        return delivery;
    };
    let body = EventView::json(&delivery.event);
    let message_id = delivery.event.id.to_string();
    let timestamp = Utc::now().timestamp();
    let sent = worker
        .webhooks
        .client
        .post(webhook.url.as_str())
        .header("content-type", "application/json")
        .header("webhook-id", &message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&secret, &message_id, timestamp, &body),
        )
        .body(body)
        .send()
        .await;
    let now = worker.now();
    match sent {
        Ok(answer) if answer.status().is_success() => {
            delivery.attempts += 1;
            delivery.status = DeliveryStatus::Delivered;
            delivery.last_status = Some(i32::from(answer.status().as_u16()));
            delivery.last_error = None;
            delivery.next_attempt_at = None;
            delivery.delivered_at = Some(now);
            delivery
        }
        Ok(answer) => {
            let status = answer.status().as_u16();
            retry(
                delivery,
                Some(i32::from(status)),
                format!("the receiver answered {status}"),
                now,
            )
        }
        Err(e) => {
            let reason = error_chain(&e);
            retry(delivery, None, reason, now)
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn skipped(mut delivery: Delivery, why: &str) -> Delivery {
    delivery.status = DeliveryStatus::Skipped;
    delivery.next_attempt_at = None;
    delivery.last_error = Some(why.to_owned());
    delivery
}

fn retry(
    mut delivery: Delivery,
    status: Option<i32>,
    error: String,
    now: DateTime<Utc>,
) -> Delivery {
    delivery.attempts += 1;
    delivery.last_status = status;
    delivery.last_error = Some(error);
    match next_attempt(delivery.attempts, delivery.event.at, now) {
        Some(at) => {
            delivery.status = DeliveryStatus::Pending;
            delivery.next_attempt_at = Some(at);
        }
        None => {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
        }
    }
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_changed_salt_is_noticed() {
        let hooks = Webhooks::new(vec![7; 32], Destinations::PublicOnly).unwrap();
        let id = uuid::Uuid::new_v4();
        let (salt, shown, check) = hooks.new_secret(id);
        let secret = hooks.stored_secret(id, &salt, &check).expect("matches");
        assert_eq!(
            shown,
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(&secret)
            )
        );
        assert_eq!(hooks.stored_secret(id, "00", &check), None);
        let other = Webhooks::new(vec![8; 32], Destinations::PublicOnly).unwrap();
        assert_eq!(other.stored_secret(id, &salt, &check), None, "another key");
    }

    /// A delivery connects only where its name resolves to public addresses: `localhost`
    /// (from the hosts file, no name server asked) resolves to loopback only, so it gives no
    /// address at all without the flag, and its loopback addresses with it.
    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_gives_no_address_without_the_flag() {
        use reqwest::dns::Resolve;
        let name = || "localhost".parse::<reqwest::dns::Name>().expect("a name");
        let public = PublicOnly {
            destinations: Destinations::PublicOnly,
        };
        let refused = public.resolve(name()).await.err().expect("refused");
        assert!(
            refused.to_string().contains("no public address"),
            "{refused}"
        );
        let private = PublicOnly {
            destinations: Destinations::PrivateAllowed,
        };
        let found: Vec<SocketAddr> = private.resolve(name()).await.expect("resolved").collect();
        assert!(
            !found.is_empty() && found.iter().all(|a| a.ip().is_loopback()),
            "{found:?}"
        );
        assert!(
            lookup("localhost".to_owned(), 443)
                .await
                .expect("resolved")
                .iter()
                .all(|a| a.port() == 443),
            "the port is kept"
        );
    }
}
