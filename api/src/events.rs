//! An organization's events as they are sent: the same JSON in the live stream's `data:`
//! and in a webhook's body.

use chrono::{DateTime, Utc};
use domain::events::Event;
use domain::ids::OrganizationId;
use domain::ports::EventRepository;
use persistence::Database;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// Who made the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventActor {
    /// The token's `sub` (or the service, for what time alone changed).
    pub subject: String,
    /// `customer_admin`, `partner` or `operator`.
    pub role: String,
    /// The partner that acted on behalf of the organization.
    pub partner_id: Option<Uuid>,
}

/// The resource that changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResource {
    /// `benefit`, `voucher`, `user`, `permission`, …
    pub kind: String,
    pub id: Uuid,
}

/// One change of an organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b6f7c8d-9e0a-4b1c-8d2e-3f4a5b6c7d8e", "position": 42, "type": "benefit.changed",
    "action": "benefit_consumed", "organization_id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101",
    "actor": {"subject": "admin@contoso.com", "role": "customer_admin", "partner_id": null},
    "resource": {"kind": "benefit", "id": "6f1e2d3c-4b5a-4697-8877-665544332211"},
    "occurred_at": "2026-12-03T10:15:00Z"}))]
pub struct EventView {
    /// The event's id: the same on every delivery of it (the webhook's `webhook-id`).
    pub id: Uuid,
    /// Grows by one with each event of the organization (the stream's `id:`).
    pub position: i64,
    /// What kind of resource changed.
    #[serde(rename = "type")]
    pub event_type: String,
    /// What was done, as in the audit log.
    pub action: String,
    pub organization_id: Uuid,
    pub actor: EventActor,
    pub resource: EventResource,
    pub occurred_at: DateTime<Utc>,
}

impl EventView {
    pub fn of(e: &Event) -> Self {
        EventView {
            id: e.id,
            position: e.position,
            event_type: e.event_type.code().to_owned(),
            action: e.action.code().to_owned(),
            organization_id: e.organization_id.as_uuid(),
            actor: EventActor {
                subject: e.actor.subject.clone(),
                role: e.actor.role.code().to_owned(),
                partner_id: e.actor.partner.map(|p| p.as_uuid()),
            },
            resource: EventResource {
                kind: e.resource_kind.code().to_owned(),
                id: e.resource_id,
            },
            occurred_at: e.at,
        }
    }

    /// The JSON sent.
    pub fn json(e: &Event) -> String {
        serde_json::to_string(&EventView::of(e)).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// One reader of each organization's events for all the streams open on it: a commit wakes
/// one database read per organization, not one per stream, and what it reads is passed to
/// every stream through a broadcast channel. A stream that falls more than
/// [`FEED_CAPACITY`] events behind is told so and reads from the database itself until it
/// has caught up.
#[derive(Default)]
pub struct EventHub {
    feeds: parking_lot::Mutex<std::collections::HashMap<OrganizationId, Feed>>,
}

/// How many events a slow stream may be behind its organization's feed.
pub const FEED_CAPACITY: usize = 4096;

#[derive(Clone)]
struct Feed {
    sender: tokio::sync::broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("feeds", &self.feeds.lock().len())
            .finish()
    }
}

impl EventHub {
    /// The organization's events from now on, starting its feed (after `from`) when it has
    /// none; the feed passes on every event after its start.
    pub fn subscribe(
        self: &Arc<Self>,
        db: &Database,
        organization: OrganizationId,
        from: i64,
    ) -> tokio::sync::broadcast::Receiver<Arc<Event>> {
        let mut feeds = self.feeds.lock();
        if let Some(feed) = feeds.get(&organization) {
            return feed.sender.subscribe();
        }
        let (sender, receiver) = tokio::sync::broadcast::channel(FEED_CAPACITY);
        feeds.insert(
            organization,
            Feed {
                sender: sender.clone(),
            },
        );
        tokio::spawn(feed(self.clone(), db.clone(), organization, sender, from));
        receiver
    }
}

/// Reads the organization's new events on every commit (and every second) and passes them
/// on, until no stream listens.
async fn feed(
    hub: Arc<EventHub>,
    db: Database,
    organization: OrganizationId,
    sender: tokio::sync::broadcast::Sender<Arc<Event>>,
    from: i64,
) {
    let mut commits = db.changes().commits();
    let mut position = from;
    loop {
        let d = db.clone();
        let read =
            crate::extract::blocking(move || Ok(d.events_after(organization, position, 500)?))
                .await;
        let more = match read {
            Ok(events) => {
                let full = events.len() == 500;
                for event in events {
                    position = event.position;
                    let _ = sender.send(Arc::new(event));
                }
                full
            }
            Err(e) => {
                tracing::warn!(code = e.code, "an event feed could not read");
                false
            }
        };
        {
            // Ends under the lock, so a new stream either sees this feed gone or is counted.
            let mut feeds = hub.feeds.lock();
            if sender.receiver_count() == 0 {
                feeds.remove(&organization);
                return;
            }
        }
        if more {
            continue;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// The least time between two sequencer runs that numbered lines.
const SEQUENCER_GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// PostgreSQL: numbers the committed audit lines as events ([`persistence::Database::sequence_events`]),
/// woken by every commit this server makes or hears of (no sooner than [`SEQUENCER_GAP`] after
/// a run that numbered lines) and at least once a second, until
/// `stop` turns true. Every server runs one; one numbers at a time.
pub fn spawn_sequencer(
    db: Database,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut commits = db.changes().commits();
        loop {
            let d = db.clone();
            let numbered = tokio::select! {
                n = crate::extract::blocking(move || Ok(d.sequence_events()?)) => n,
                _ = stop.changed() => return,
            };
            match numbered {
                Ok(n) if n >= 5000 => continue, // more may wait
                Ok(0) => {}
                Ok(_) => {
                    // The lines committed meanwhile are numbered together by the next run.
                    // Woken by every commit, the sequencer ran once per consumption under a
                    // steady flow, each run a transaction of its own. After a quiet spell the
                    // first line is numbered at once. A subscription or a permission's
                    // approval first numbers what waits (`sequence_events_now`), so the
                    // pause never hands it events committed before it.
                    tokio::select! {
                        () = tokio::time::sleep(SEQUENCER_GAP) => {}
                        _ = stop.changed() => return,
                    }
                }
                Err(e) => tracing::warn!(code = e.code, "events could not be numbered"),
            }
            tokio::select! {
                _ = commits.changed() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
