//! `RATE_LIMIT_PER_MINUTE` (API.md "Rate limit"): each principal, and each client address
//! that comes without a valid token, may make that many requests a minute; beyond it 429
//! `rate_limited` with `Retry-After`. A token bucket per key (the `governor` crate, GCRA):
//! the whole minute may be spent at once, then it refills evenly.

use crate::error::ApiError;
use actix_web::http::{header, StatusCode};
use domain::auth::{Principal, PrincipalKind};
use domain::Localized;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// Whose requests are counted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A verified principal: its role, organization or partner, and subject.
    Principal(String),
    /// A client without a valid token: its address (IPv6 by its /64, which one client
    /// usually holds whole).
    Address(Option<IpAddr>),
}

impl Key {
    pub fn principal(principal: &Principal) -> Key {
        Key::Principal(match principal.kind {
            PrincipalKind::Operator => format!("operator:{}", principal.subject),
            PrincipalKind::CustomerAdmin(org) => format!("admin:{org}:{}", principal.subject),
            PrincipalKind::Partner(p) => format!("partner:{p}:{}", principal.subject),
        })
    }

    pub fn address(ip: Option<IpAddr>) -> Key {
        Key::Address(ip.map(|ip| match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    IpAddr::V6(segments.into())
                }
            },
            v4 => v4,
        }))
    }
}

type Limiter = governor::RateLimiter<Key, DefaultKeyedStateStore<Key>, DefaultClock>;

/// The limiter shared by every worker; `None` inside when the limit is off.
pub struct RateLimiter {
    limiter: Option<Limiter>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// `per_minute` requests a minute for each key; 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request of `key`: 429 with `Retry-After` when over the limit.
    pub fn check(&self, key: &Key) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up: a client that waits that long gets through.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Localized::new(
                    format!("Too many requests: retry in {} s.", seconds.max(1)),
                    format!("Trop de requêtes : réessayez dans {} s.", seconds.max(1)),
                ),
            )
            .with_header(header::RETRY_AFTER, seconds.max(1).to_string())
        })
    }

    /// Forgets the keys whose bucket is full again, so the memory held follows the clients
    /// of the last minute, not every client ever seen. Called by the background upkeep.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently held.
    pub fn keys(&self) -> usize {
        self.limiter.as_ref().map_or(0, Limiter::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_has_its_own_minute() {
        let limiter = RateLimiter::new(3);
        let a = Key::Principal("a".to_owned());
        let b = Key::address(Some("10.0.0.1".parse().unwrap()));
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        let refused = limiter.check(&a).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "rate_limited");
        let retry: u64 = refused
            .headers
            .iter()
            .find(|(n, _)| n == header::RETRY_AFTER)
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        assert!(limiter.check(&b).is_ok(), "another key is not affected");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0);
        for _ in 0..10_000 {
            assert!(limiter.check(&Key::Address(None)).is_ok());
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let one = Key::address(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let other = Key::address(Some("2001:db8:1:2:bbbb::2".parse().unwrap()));
        assert_eq!(one, other);
        let mapped = Key::address(Some("::ffff:192.0.2.1".parse().unwrap()));
        assert_eq!(mapped, Key::address(Some("192.0.2.1".parse().unwrap())));
    }
}
