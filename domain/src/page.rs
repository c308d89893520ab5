//! Keyset pagination shared by every list.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// After the row with this time and id (lists ordered by creation).
    Key { at: DateTime<Utc>, id: Uuid },
    /// After this position (ledger sequence numbers, lists computed in memory).
    Position(i64),
}

/// A request for one page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    pub after: Option<After>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// `None` when the limit is outside 1..=200.
    pub fn new(limit: Option<u32>, after: Option<After>) -> Option<Self> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        (1..=Self::MAX_LIMIT)
            .contains(&limit)
            .then_some(Self { limit, after })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// How many rows to fetch: one more than the limit tells whether another page exists.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list; `next` is where the following page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<After>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows, in order.
    pub fn from_fetched(
        mut rows: Vec<T>,
        request: &PageRequest,
        key: impl Fn(&T) -> After,
    ) -> Self {
        let limit = request.limit() as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&key)
        } else {
            None
        };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert!(PageRequest::new(Some(0), None).is_none());
        assert!(PageRequest::new(Some(201), None).is_none());
        assert_eq!(PageRequest::new(None, None).unwrap().limit(), 50);
        assert_eq!(PageRequest::new(Some(200), None).unwrap().fetch(), 201);
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        let request = PageRequest::new(Some(2), None).unwrap();
        let key = |n: &i64| After::Position(*n);
        let full = Page::from_fetched(vec![1, 2, 3], &request, key);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(full.next, Some(After::Position(2)));
        let last = Page::from_fetched(vec![1, 2], &request, key);
        assert!(last.next.is_none());
    }
}
