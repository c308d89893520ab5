//! The cache of answers for the reads that portals ask far more often than their data changes (an
//! account's benefit lists). A kept answer is served again only while it is exactly what a
//! new read would answer:
//! - no write has started since it was read ([`persistence::Changes`]: one atomic load; on
//!   PostgreSQL the other servers' commits count too, and nothing is kept while their
//!   notifications could be missed);
//! - the clock is still inside the period where nothing shown turns by time alone
//!   ([`domain::horizon`], which includes the end of a partner's permission);
//! - the caller is the same kind of principal (the same organization's administrators, the
//!   same partner, operators), whose access was checked when the answer was read.
//!
//! Tokens are still verified on every request; refusals are never kept.

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::auth::PrincipalKind;
use domain::ids::{AccountId, OrganizationId};
use domain::Language;
use persistence::{Changes, Stamp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock};

/// Which read, of what, for whom, in which language, which page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub view: View,
    pub account: AccountId,
    pub viewer: PrincipalKind,
    pub language: Language,
    pub limit: u32,
    pub start: usize,
}

/// The reads whose answers are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    ActiveBenefits,
    OtherBenefits,
}

/// When an answer was read and how long time alone leaves it true.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub stamp: Option<Stamp>,
    /// The clock when it was read.
    pub read_at: DateTime<Utc>,
    /// The first instant it may read differently; `None` for never (by time alone).
    pub until: Option<DateTime<Utc>>,
}

/// A list's answer: its body and the weak entity tag of its bytes, computed once when it is
/// read rather than on each serving (a digest of several KiB was a tenth of the time of a
/// kept answer's request).
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
}

impl Answer {
    pub fn new(body: Bytes) -> Self {
        let etag = HeaderValue::from_str(&crate::conventions::digest_tag(&body))
            .expect("a digest tag is visible ASCII");
        Self { body, etag }
    }
}

/// A kept answer: a [`Validity`] that had a stamp, and the answer.
struct Kept {
    stamp: Stamp,
    read_at: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    answer: Answer,
}

impl Kept {
    fn covers(&self, now: DateTime<Utc>) -> bool {
        self.read_at <= now && self.until.is_none_or(|until| now < until)
    }
}

/// The kept answers, at most `capacity` of them (0 keeps none).
pub struct ListCache {
    kept: RwLock<HashMap<AnswerKey, Kept>>,
    /// Each account's organization, as read (it never changes): an answer's stamp covers
    /// both, and must be taken before the read.
    organizations: RwLock<HashMap<AccountId, OrganizationId>>,
    capacity: usize,
    served: AtomicU64,
    missed: AtomicU64,
}

impl ListCache {
    pub const DEFAULT_CAPACITY: usize = 10_000;

    pub fn new(capacity: usize) -> Self {
        Self {
            kept: RwLock::new(HashMap::new()),
            organizations: RwLock::new(HashMap::new()),
            capacity,
            served: AtomicU64::new(0),
            missed: AtomicU64::new(0),
        }
    }

    /// Whether answers are kept at all (`KEPT_ANSWERS=0` keeps none).
    pub fn keeps(&self) -> bool {
        self.capacity > 0
    }

    /// The organization of an account this server has read.
    pub fn organization_of(&self, account: AccountId) -> Option<OrganizationId> {
        self.organizations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account)
            .copied()
    }

    /// Notes an account's organization (bounded like the answers: cleared when full).
    pub fn remember_organization(&self, account: AccountId, organization: OrganizationId) {
        if self.capacity == 0 || self.organization_of(account).is_some() {
            return;
        }
        let mut known = self
            .organizations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if known.len() >= self.capacity.saturating_mul(4) {
            known.clear();
        }
        known.insert(account, organization);
    }

    /// How many reads were answered from kept answers, and how many were read anew.
    pub fn counts(&self) -> (u64, u64) {
        (self.served.load(Relaxed), self.missed.load(Relaxed))
    }

    /// The counts in Prometheus text.
    pub fn render(&self) -> String {
        let (served, missed) = self.counts();
        format!(
            "# HELP kept_answers_total Benefit list reads answered from kept answers (served) or read anew (read).\n\
             # TYPE kept_answers_total counter\n\
             kept_answers_total{{outcome=\"served\"}} {served}\n\
             kept_answers_total{{outcome=\"read\"}} {missed}\n"
        )
    }

    /// The kept answer for `key`, if it is still exactly current.
    pub fn get(&self, key: &AnswerKey, changes: &Changes, now: DateTime<Utc>) -> Option<Answer> {
        let found = self.current(key, changes, now);
        let counter = if found.is_some() {
            &self.served
        } else {
            &self.missed
        };
        counter.fetch_add(1, Relaxed);
        found
    }

    fn current(&self, key: &AnswerKey, changes: &Changes, now: DateTime<Utc>) -> Option<Answer> {
        if self.capacity == 0 {
            return None;
        }
        let kept = self.kept.read().unwrap_or_else(PoisonError::into_inner);
        let entry = kept.get(key)?;
        (changes.unchanged_since(entry.stamp) && entry.covers(now)).then(|| entry.answer.clone())
    }

    /// Keeps `answer` for `key`, if it was read with nothing written under way and nothing
    /// has been written since.
    pub fn keep(&self, key: AnswerKey, validity: Validity, changes: &Changes, answer: Answer) {
        let Some(stamp) = validity.stamp else {
            return;
        };
        if self.capacity == 0 || !changes.unchanged_since(stamp) {
            return;
        }
        let mut kept = self.kept.write().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= self.capacity && !kept.contains_key(&key) {
            kept.retain(|_, entry| changes.unchanged_since(entry.stamp));
            if kept.len() >= self.capacity {
                kept.clear();
            }
        }
        kept.insert(
            key,
            Kept {
                stamp,
                read_at: validity.read_at,
                until: validity.until,
                answer,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    fn key(language: Language) -> AnswerKey {
        AnswerKey {
            view: View::ActiveBenefits,
            account: AccountId(Uuid::nil()),
            viewer: PrincipalKind::CustomerAdmin(OrganizationId(Uuid::nil())),
            language,
            limit: 50,
            start: 0,
        }
    }

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hour)
    }

    fn opened() -> persistence::Database {
        let dir = std::env::temp_dir().join(format!("answers-{}", Uuid::new_v4()));
        let db = persistence::Database::open(&dir.join("db.sqlite").to_string_lossy(), 2)
            .expect("a SQLite database opens");
        db.migrate().expect("migrations run");
        db
    }

    #[test]
    fn an_answer_is_served_inside_its_period_until_a_write_starts() {
        let db = opened();
        let changes = db.changes();
        let answers = ListCache::new(10);
        let validity = Validity {
            stamp: changes.stamp(&[persistence::Scope::Account(Uuid::nil())]),
            read_at: at(1),
            until: Some(at(5)),
        };
        answers.keep(
            key(Language::En),
            validity,
            changes,
            Answer::new(Bytes::from_static(b"[1]")),
        );
        let served = answers.get(&key(Language::En), changes, at(1)).unwrap();
        assert_eq!(served.body, &b"[1]"[..]);
        assert_eq!(
            served.etag,
            crate::conventions::digest_tag(b"[1]").as_str(),
            "the tag of its bytes"
        );
        assert!(answers.get(&key(Language::En), changes, at(4)).is_some());
        assert!(
            answers.get(&key(Language::Fr), changes, at(1)).is_none(),
            "another key"
        );
        assert!(
            answers.get(&key(Language::En), changes, at(5)).is_none(),
            "time turned"
        );
        assert!(
            answers.get(&key(Language::En), changes, at(0)).is_none(),
            "clock went back"
        );
        db.ping().expect("reads do not count");
        assert!(answers.get(&key(Language::En), changes, at(2)).is_some());
        use domain::ports::CatalogRepository;
        db.install_catalog(&domain::catalog::builtin_catalog())
            .expect("a write");
        assert!(
            answers.get(&key(Language::En), changes, at(2)).is_none(),
            "a write"
        );
    }

    #[test]
    fn nothing_is_kept_that_was_read_around_a_write_or_with_no_room() {
        let db = opened();
        let changes = db.changes();
        let validity = Validity {
            stamp: None,
            read_at: at(1),
            until: None,
        };
        let answers = ListCache::new(1);
        answers.keep(
            key(Language::En),
            validity,
            changes,
            Answer::new(Bytes::new()),
        );
        assert!(
            answers.get(&key(Language::En), changes, at(1)).is_none(),
            "no stamp"
        );
        let none = ListCache::new(0);
        let validity = Validity {
            stamp: changes.stamp(&[persistence::Scope::Account(Uuid::nil())]),
            ..validity
        };
        none.keep(
            key(Language::En),
            validity,
            changes,
            Answer::new(Bytes::new()),
        );
        assert!(
            none.get(&key(Language::En), changes, at(1)).is_none(),
            "off"
        );
        answers.keep(
            key(Language::En),
            validity,
            changes,
            Answer::new(Bytes::new()),
        );
        answers.keep(
            key(Language::Fr),
            validity,
            changes,
            Answer::new(Bytes::new()),
        );
        assert!(answers.get(&key(Language::Fr), changes, at(1)).is_some());
        assert!(
            answers.get(&key(Language::En), changes, at(1)).is_none(),
            "room for one"
        );
    }
}
