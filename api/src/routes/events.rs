//! The live stream of an organization's events (Server-Sent Events).

use crate::access::{authorize_on, Resource};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::events::EventView;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use domain::auth::{Action, PrincipalKind};
use domain::events::{Event, EventType};
use domain::ids::{OrganizationId, PartnerId};
use domain::ports::{DirectoryRepository, EventRepository, PermissionRepository};
use domain::Localized;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;
use uuid::Uuid;

/// How often a comment keeps proxies from closing an idle stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How many events one read of the database takes.
const BATCH: i64 = 200;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this position (as `Last-Event-ID`, which wins when both are sent).
    /// Without either, the stream starts with the next event.
    #[param(minimum = 0, maximum = 999_999_999_999_999_999_i64, example = 0)]
    pub after: Option<i64>,
    /// The bearer token, for a browser's `EventSource`, which cannot send an
    /// `Authorization` header. Prefer the header everywhere else.
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// Where a stream starts: after the `Last-Event-ID` or `after` position.
fn resume_after(req: &HttpRequest, query: &StreamQuery) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::invalid(
            "Last-Event-ID",
            Localized::new(
                "must be an event position: a whole number of 0 or more",
                "doit être une position d'événement : un nombre entier positif ou nul",
            ),
        )
    };
    match req.headers().get("last-event-id") {
        Some(v) => {
            let raw = v.to_str().map_err(|_| bad())?.trim();
            if raw.is_empty() {
                return Ok(query.after);
            }
            // Exactly what the document's pattern says: 1 to 18 digits.
            (raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit()))
                .then(|| raw.parse::<i64>().ok())
                .flatten()
                .map(Some)
                .ok_or_else(bad)
        }
        None => match query.after {
            Some(p) if p < 0 => Err(ApiError::invalid(
                "after",
                Localized::new("must be 0 or more", "doit valoir 0 ou plus"),
            )),
            other => Ok(other),
        },
    }
}

/// Live events of an organization
///
/// A `text/event-stream` (Server-Sent Events): each event as `id:` its position, `event:`
/// its type and `data:` the event as JSON (the `EventView` schema). `Last-Event-ID` (or
/// `?after=`) resumes after a position, so a client that reconnects misses nothing; without
/// it the stream starts with the next event. A comment line every 15 seconds keeps proxies
/// open. Events come in order of position, once each. The organization's administrators,
/// operators, and partners with an approved permission: a partner's stream ends when its
/// permission does. A browser's `EventSource`, which cannot send headers, may pass the token
/// as `access_token`.
#[utoipa::path(
    tag = "events",
    params(
        ("org_id" = Uuid, Path, description = "The organization"),
        ("Last-Event-ID" = Option<openapi::text::EventPosition>, Header, description = "Resume after this position (the `id:` of the last event received)"),
        StreamQuery
    ),
    responses(
        (status = 200, description = "The stream: `id: <position>`, `event: <type>`, `data: <EventView as JSON>`, and `: keep-alive` comments",
         content_type = "text/event-stream", body = String,
         example = "id: 42\nevent: benefit.changed\ndata: {\"id\":\"0b6f7c8d-9e0a-4b1c-8d2e-3f4a5b6c7d8e\",\"position\":42,\"type\":\"benefit.changed\",\"action\":\"benefit_consumed\"}\n\n"),
        (status = 400, response = openapi::BadRequest),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/organizations/{org_id}/events")]
pub async fn stream(
    state: web::Data<AppState>,
    req: HttpRequest,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let organization = OrganizationId(path.into_inner());
    let after = resume_after(&req, &query)?;
    let (s, principal) = (state.clone(), caller.clone());
    let start = blocking(move || {
        authorize_on(
            &s,
            &principal,
            organization,
            Action::ReadOrganization,
            Resource::Organization,
        )?;
        if s.db.organization(organization)?.is_none() {
            return Err(Resource::Organization.not_found());
        }
        Ok(match after {
            Some(p) => p,
            None => {
                // "From now on" means after what has committed: on PostgreSQL, lines are
                // numbered just after their commit, so number what waits first (waiting
                // for a run under way, whose numbers would otherwise come after `start`).
                s.db.sequence_events_now()?;
                s.db.last_position(organization)?
            }
        })
    })
    .await?;
    // Subscribed before the first read: what commits from now on comes through the feed,
    // what committed before is read from the database.
    let live = state.events.subscribe(&state.db, organization, start);
    let stream = Stream {
        state: state.into_inner(),
        partner: match caller.kind {
            PrincipalKind::Partner(p) => Some(p),
            _ => None,
        },
        organization,
        position: start,
        pending: VecDeque::new(),
        live,
        catching_up: true,
        checked: None,
        started: false,
        ended: false,
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), s))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Sent as it is made: not compressed (which would buffer), not buffered by nginx.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// One open stream: where it stands, what it has read but not yet sent.
struct Stream {
    state: std::sync::Arc<AppState>,
    /// The partner whose permission must hold for anything more to be sent.
    partner: Option<PartnerId>,
    organization: OrganizationId,
    /// The last position sent (or the one to resume after).
    position: i64,
    pending: VecDeque<Arc<Event>>,
    live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    /// Reading from the database until it has nothing newer (at the start, and after
    /// falling behind the feed).
    catching_up: bool,
    /// When a partner's permission was last found to hold.
    checked: Option<tokio::time::Instant>,
    started: bool,
    ended: bool,
}

/// How often a partner's permission is checked again while its stream waits (it may end
/// with time alone).
const CHECK_EVERY: Duration = Duration::from_secs(1);

impl Stream {
    /// The next piece of the stream; `None` ends it.
    async fn next_chunk(&mut self) -> Option<String> {
        if self.ended {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some("retry: 2000\n: connected\n\n".to_owned());
        }
        let idle = tokio::time::Instant::now();
        loop {
            if self
                .state
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                self.ended = true;
                return Some(": the server is stopping; reconnect with Last-Event-ID\n\n".into());
            }
            if let Some(event) = self.pending.pop_front() {
                // A partner hears nothing once its permission has ended: checked before a
                // permission change is passed on (it may be the end) and every second.
                let due = self.checked.is_none_or(|at| at.elapsed() >= CHECK_EVERY);
                if event.event_type == EventType::PermissionChanged || due {
                    match self.permission_holds().await {
                        Ok(true) => {}
                        Ok(false) => return Some(self.end()),
                        Err(e) => {
                            tracing::warn!(
                                code = e.code,
                                "an event stream could not check a permission"
                            );
                            self.pending.push_front(event);
                            tokio::time::sleep(CHECK_EVERY).await;
                            continue;
                        }
                    }
                }
                self.position = event.position;
                return Some(format!(
                    "id: {}\nevent: {}\ndata: {}\n\n",
                    event.position,
                    event.event_type.code(),
                    EventView::json(&event)
                ));
            }
            if self.catching_up {
                match self.read().await {
                    Ok(events) if events.is_empty() => self.catching_up = false,
                    Ok(events) => self.pending.extend(events.into_iter().map(Arc::new)),
                    Err(e) => {
                        tracing::warn!(code = e.code, "an event stream could not read its events");
                        tokio::time::sleep(CHECK_EVERY).await;
                    }
                }
                continue;
            }
            if idle.elapsed() >= KEEP_ALIVE {
                return Some(": keep-alive\n\n".to_owned());
            }
            let wait = CHECK_EVERY.min(KEEP_ALIVE.saturating_sub(idle.elapsed()));
            tokio::select! {
                received = self.live.recv() => match received {
                    Ok(event) if event.position <= self.position => {}
                    Ok(event) if event.position == self.position + 1 => self.pending.push_back(event),
                    // A gap (the feed started after this stream's position) or a stream that
                    // fell behind: the database has what is missing.
                    Ok(_) | Err(RecvError::Lagged(_)) => self.catching_up = true,
                    Err(RecvError::Closed) => {
                        self.live = self.state.events.subscribe(
                            &self.state.db,
                            self.organization,
                            self.position,
                        );
                        self.catching_up = true;
                    }
                },
                () = tokio::time::sleep(wait) => {
                    if self.partner.is_some() && self.checked.is_none_or(|at| at.elapsed() >= CHECK_EVERY) {
                        // A failed check is tried again at the next tick.
                        if let Ok(false) = self.permission_holds().await {
                            return Some(self.end());
                        }
                    }
                }
            }
        }
    }

    fn end(&mut self) -> String {
        self.ended = true;
        "event: stream.ended\ndata: {\"reason\":\"permission_ended\"}\n\n".into()
    }

    /// Whether the stream may go on: always for administrators and operators; for a
    /// partner, while its permission on the organization holds.
    async fn permission_holds(&mut self) -> Result<bool, ApiError> {
        let Some(partner) = self.partner else {
            return Ok(true);
        };
        let (state, organization) = (self.state.clone(), self.organization);
        let holds = blocking(move || {
            let now = state.now();
            Ok(state
                .db
                .active_permission(partner, organization, now)?
                .is_some())
        })
        .await?;
        if holds {
            self.checked = Some(tokio::time::Instant::now());
        }
        Ok(holds)
    }

    /// What came after the position, from the database.
    async fn read(&self) -> Result<Vec<Event>, ApiError> {
        let (state, organization, after) = (self.state.clone(), self.organization, self.position);
        blocking(move || Ok(state.db.events_after(organization, after, BATCH)?)).await
    }
}
