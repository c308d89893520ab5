//! Events: every line of an organization's audit log, numbered, for the live stream and the
//! partners' webhooks. An event's position grows by one with each change of its
//! organization, and no position is ever seen before a smaller one of the same organization
//! (the store numbers lines in the writing transaction on SQLite, and just after their commit,
//! one numbering at a time, on PostgreSQL).

use crate::audit::{AuditAction, AuditEvent, TargetKind};
use crate::auth::Actor;
use crate::ids::{OrganizationId, PartnerId};
use chrono::{DateTime, Duration, Utc};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use uuid::Uuid;

macro_rules! event_types {
    ($($variant:ident => $code:literal),* $(,)?) => {
        /// What kind of resource changed, as a subscriber filters on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant),* }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(EventType::$variant => $code),* }
            }

            pub fn parse(code: &str) -> Option<EventType> {
                match code { $($code => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    OrganizationChanged => "organization.changed",
    AccountChanged => "account.changed",
    PartnerChanged => "partner.changed",
    BenefitChanged => "benefit.changed",
    CatalogChanged => "catalog.changed",
    PermissionChanged => "permission.changed",
    VoucherChanged => "voucher.changed",
    ConversionCreated => "conversion.created",
    DomainChanged => "domain.changed",
    UserChanged => "user.changed",
}

impl EventType {
    /// The type of the event an audited action makes. Every action has one, so every line
    /// of an organization's audit log is an event.
    pub fn of(action: AuditAction) -> EventType {
        use AuditAction as A;
        match action {
            A::OrganizationCreated | A::OrganizationUpdated => EventType::OrganizationChanged,
            A::AccountCreated => EventType::AccountChanged,
            A::PartnerCreated | A::PartnerUpdated => EventType::PartnerChanged,
            A::BenefitGranted
            | A::BenefitAdjusted
            | A::BenefitConsumed
            | A::BenefitExpired
            | A::DownloadRecorded
            | A::ProductKeysViewed => EventType::BenefitChanged,
            A::BenefitTypeAdded => EventType::CatalogChanged,
            A::PermissionRequested
            | A::PermissionApproved
            | A::PermissionDeclined
            | A::PermissionWithdrawn
            | A::PermissionRemoved
            | A::PermissionExpired => EventType::PermissionChanged,
            A::VoucherAssigned | A::VoucherRevoked | A::VoucherRedeemed | A::VoucherExpired => {
                EventType::VoucherChanged
            }
            A::ConversionMade => EventType::ConversionCreated,
            A::DomainAdded | A::DomainRemoved => EventType::DomainChanged,
            A::UserAdded
            | A::UserModified
            | A::UserRemoved
            | A::InstructionsSent
            | A::AccessCodeSent => EventType::UserChanged,
        }
    }
}

/// How long events stay readable at least (API.md: 7 days). They are the audit log's lines,
/// which are never deleted, so every event stays.
pub const KEPT_DAYS: i64 = 7;

/// One change of an organization, numbered.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The audit line's id: the same event has the same id on every delivery.
    pub id: Uuid,
    pub organization_id: OrganizationId,
    /// Grows by one with each change of the organization.
    pub position: i64,
    pub event_type: EventType,
    pub action: AuditAction,
    pub actor: Actor,
    pub resource_kind: TargetKind,
    pub resource_id: Uuid,
    pub at: DateTime<Utc>,
}

impl Event {
    /// The event an audit line numbered `position` makes, when it concerns an organization.
    pub fn of(audit: &AuditEvent, position: i64) -> Option<Event> {
        Some(Event {
            id: audit.id,
            organization_id: audit.organization_id?,
            position,
            event_type: EventType::of(audit.action),
            action: audit.action,
            actor: audit.actor.clone(),
            resource_kind: audit.target_kind,
            resource_id: audit.target_id,
            at: audit.at,
        })
    }
}

/// The event types a subscription asks for: all of them, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<EventType>);

impl EventFilter {
    /// Parses the codes a subscriber sent; an empty list means every type. Refuses unknown
    /// codes (naming the first) and repeats.
    pub fn parse<S: AsRef<str>>(codes: &[S]) -> Result<EventFilter, UnknownEventType> {
        let mut types = Vec::with_capacity(codes.len());
        for code in codes {
            let code = code.as_ref();
            let t = EventType::parse(code).ok_or_else(|| UnknownEventType(code.to_owned()))?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(EventFilter(types))
    }

    pub fn all() -> EventFilter {
        EventFilter(Vec::new())
    }

    pub fn accepts(&self, t: EventType) -> bool {
        self.0.is_empty() || self.0.contains(&t)
    }

    /// The types asked for (empty: all).
    pub fn types(&self) -> &[EventType] {
        &self.0
    }
}

/// An event type no one knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

/// A partner's subscription to the events of the organizations it holds an approved
/// permission for.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: Uuid,
    pub partner_id: PartnerId,
    pub url: WebhookUrl,
    pub filter: EventFilter,
    pub created_at: DateTime<Utc>,
}

/// Whether private and loopback destinations (and plain `http://`) are allowed: only for
/// development and tests (`WEBHOOK_ALLOW_PRIVATE=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destinations {
    PublicOnly,
    PrivateAllowed,
}

/// A webhook's address: `https://` with a host (or `http://` when private destinations are
/// allowed), no user name or password, at most 2000 characters. A host written as an IP
/// address must be public unless private destinations are allowed; a name is checked, with
/// [`is_public`], on every address it resolves to when each delivery is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    raw: String,
}

/// Why a webhook address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadWebhookUrl {
    #[error("must be an absolute https:// URL of at most 2000 characters")]
    Malformed,
    #[error("must use https://")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must not point at a loopback, private, link-local or otherwise non-public address")]
    NotPublic,
}

impl WebhookUrl {
    /// Checks the parts of an already split URL (the caller parses the text with a URL
    /// parser). `host_ip` is the host when it is written as an IP address.
    pub fn check(
        raw: &str,
        scheme: &str,
        has_host: bool,
        has_credentials: bool,
        host_ip: Option<IpAddr>,
        destinations: Destinations,
    ) -> Result<WebhookUrl, BadWebhookUrl> {
        if raw.len() > 2000 || !has_host {
            return Err(BadWebhookUrl::Malformed);
        }
        let private = destinations == Destinations::PrivateAllowed;
        match scheme {
            "https" => {}
            "http" if private => {}
            "http" => return Err(BadWebhookUrl::NotHttps),
            _ => return Err(BadWebhookUrl::Malformed),
        }
        if has_credentials {
            return Err(BadWebhookUrl::Credentials);
        }
        if let Some(ip) = host_ip {
            if !private && !is_public(ip) {
                return Err(BadWebhookUrl::NotPublic);
            }
        }
        Ok(WebhookUrl {
            raw: raw.to_owned(),
        })
    }

    /// A stored address, checked when it was subscribed.
    pub fn stored(raw: String) -> WebhookUrl {
        WebhookUrl { raw }
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

/// Whether a delivery may connect to this address without `WEBHOOK_ALLOW_PRIVATE`: not
/// loopback, private (RFC 1918, unique local), link-local (the cloud metadata address
/// 169.254.169.254 among them), shared (100.64/10), unspecified, multicast, broadcast,
/// documentation or reserved; IPv4 inside IPv6 (mapped or NAT64) is judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                // NAT64 (64:ff9b::/96): the IPv4 address in the last 32 bits.
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public_v4(v4);
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from([0u8; 16]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet made, or to be tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt of the retry window failed.
    Failed,
    /// Not made: the partner's permission on the organization had ended when it was due.
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    pub fn parse(code: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// One event to deliver to one webhook, and how its attempts went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: Uuid,
    pub event: Event,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// How long failed deliveries are tried again, from the event (API.md: at least 24 h).
pub fn retry_window() -> Duration {
    Duration::hours(25)
}

/// When a delivery that failed its `attempts`-th attempt is tried again: 5 s, then doubling
/// up to an hour, with the attempts of the first day; `None` once the event is older than
/// [`retry_window`] (the delivery has failed).
pub fn next_attempt(
    attempts: i32,
    event_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let exponent = attempts.clamp(1, 20) - 1;
    let wait = Duration::seconds((5i64 << exponent).min(3600));
    let at = now + wait;
    (at <= event_at + retry_window()).then_some(at)
}

/// The signature of a delivery by the Standard Webhooks convention: what is signed.
pub fn signed_content(message_id: &str, timestamp: i64, body: &str) -> String {
    format!("{message_id}.{timestamp}.{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use chrono::TimeZone;

    #[test]
    fn every_action_has_an_event_type_and_every_type_an_action() {
        for action in AuditAction::ALL {
            let t = EventType::of(*action);
            assert_eq!(EventType::parse(t.code()), Some(t));
        }
        for t in EventType::ALL {
            assert!(
                AuditAction::ALL.iter().any(|a| EventType::of(*a) == *t),
                "{} is never made",
                t.code()
            );
        }
    }

    #[test]
    fn a_filter_refuses_unknown_types_and_empty_means_all() {
        assert!(EventFilter::parse::<&str>(&[])
            .unwrap()
            .accepts(EventType::UserChanged));
        let f = EventFilter::parse(&["benefit.changed", "benefit.changed"]).unwrap();
        assert_eq!(f.types(), &[EventType::BenefitChanged]);
        assert!(!f.accepts(EventType::UserChanged));
        assert_eq!(
            EventFilter::parse(&["benefit.changed", "benefit.eaten"]),
            Err(UnknownEventType("benefit.eaten".into()))
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn an_address_must_be_https_without_credentials_and_public_when_written_as_ip() {
        let check = |raw, scheme, creds, ip: Option<&str>, d| {
            WebhookUrl::check(raw, scheme, true, creds, ip.map(|i| i.parse().unwrap()), d)
        };
        let public = Destinations::PublicOnly;
        assert!(check("https://hooks.example.com/x", "https", false, None, public).is_ok());
        assert_eq!(
            check("http://hooks.example.com/x", "http", false, None, public),
            Err(BadWebhookUrl::NotHttps)
        );
        assert_eq!(
            check("ftp://x", "ftp", false, None, public),
            Err(BadWebhookUrl::Malformed)
        );
        assert_eq!(
            check("https://a:b@x", "https", true, None, public),
            Err(BadWebhookUrl::Credentials)
        );
        assert_eq!(
            check(
                "https://10.0.0.1/",
                "https",
                false,
                Some("10.0.0.1"),
                public
            ),
            Err(BadWebhookUrl::NotPublic)
        );
        let allowed = Destinations::PrivateAllowed;
        assert!(check(
            "http://127.0.0.1:9/",
            "http",
            false,
            Some("127.0.0.1"),
            allowed
        )
        .is_ok());
    }

    #[test]
    fn retries_back_off_and_stop_after_the_window() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(next_attempt(1, at, at), Some(at + Duration::seconds(5)));
        assert_eq!(next_attempt(2, at, at), Some(at + Duration::seconds(10)));
        assert_eq!(next_attempt(15, at, at), Some(at + Duration::hours(1)));
        let late = at + Duration::hours(24) + Duration::minutes(30);
        assert_eq!(next_attempt(30, at, late), None, "past the window");
        assert!(
            next_attempt(30, at, at + Duration::hours(24)).is_some(),
            "24 h at least"
        );
    }

    #[test]
    fn an_event_is_an_organizations_audit_line() {
        let org = OrganizationId::from_uuid(Uuid::new_v4());
        let audit = AuditEvent {
            id: Uuid::new_v4(),
            organization_id: Some(org),
            account_id: None,
            actor: Actor {
                subject: "admin".into(),
                role: Role::CustomerAdmin,
                partner: None,
            },
            action: AuditAction::VoucherRedeemed,
            target_kind: TargetKind::Voucher,
            target_id: Uuid::new_v4(),
            detail: None,
            at: Utc::now(),
        };
        let event = Event::of(&audit, 7).unwrap();
        assert_eq!(event.event_type, EventType::VoucherChanged);
        assert_eq!((event.position, event.organization_id), (7, org));
        let global = AuditEvent {
            organization_id: None,
            ..audit
        };
        assert_eq!(Event::of(&global, 1), None);
    }
}
