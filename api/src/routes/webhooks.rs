//! A partner's webhooks: subscribe, list, unsubscribe, and what was delivered.

use crate::auth::Caller;
use crate::context::RequestContext;
use crate::error::ApiError;
use crate::events::EventView;
use crate::extract::blocking;
use crate::idempotency;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::Principal;
use domain::events::{BadWebhookUrl, Delivery, EventFilter, Webhook};
use domain::ids::PartnerId;
use domain::ports::EventRepository;
use domain::Localized;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A subscription to the events of the organizations the partner holds an approved
/// permission for.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.fabrikam.example/sa-benefits", "event_types": ["benefit.changed", "voucher.changed"]}))]
pub struct NewWebhook {
    /// Where events are POSTed: `https://`, reaching public addresses only.
    #[schema(
        example = "https://hooks.fabrikam.example/sa-benefits",
        max_length = 2000
    )]
    pub url: String,
    /// The event types wanted; empty (or absent) for all.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub event_types: Vec<String>,
}

/// A subscription (its secret is shown once, when it is made).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "5e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b", "url": "https://hooks.fabrikam.example/sa-benefits", "event_types": [], "created_at": "2026-12-03T10:00:00Z"}))]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    /// The event types delivered; empty: all.
    pub event_types: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl WebhookView {
    fn of(w: &Webhook) -> Self {
        WebhookView {
            id: w.id,
            url: w.url.as_str().to_owned(),
            event_types: w
                .filter
                .types()
                .iter()
                .map(|t| t.code().to_owned())
                .collect(),
            created_at: w.created_at,
        }
    }
}

/// A subscription just made, with its signing secret: shown only in this answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": "5e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b", "url": "https://hooks.fabrikam.example/sa-benefits", "event_types": [], "created_at": "2026-12-03T10:00:00Z", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and the base64 key of the `webhook-signature` HMAC (Standard Webhooks).
    /// Shown only here: a replay of the request (same `Idempotency-Key`) answers `null`.
    pub secret: Option<String>,
}

crate::routes::list_schema!(WebhookList, WebhookView);

/// One event's delivery to a subscription.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"event": {"id": "0b6f7c8d-9e0a-4b1c-8d2e-3f4a5b6c7d8e", "position": 42, "type": "benefit.changed", "action": "benefit_consumed", "organization_id": "6d3c1a52-0b7e-4c9d-8e21-c017505a1101", "actor": {"subject": "admin@contoso.com", "role": "customer_admin", "partner_id": null}, "resource": {"kind": "benefit", "id": "6f1e2d3c-4b5a-4697-8877-665544332211"}, "occurred_at": "2026-12-03T10:15:00Z"}, "status": "delivered", "attempts": 1, "last_status": 200, "last_error": null, "next_attempt_at": null, "created_at": "2026-12-03T10:15:00Z", "delivered_at": "2026-12-03T10:15:01Z"}))]
pub struct DeliveryView {
    pub event: EventView,
    /// `pending`, `delivered`, `failed` (every attempt of the retry window failed) or
    /// `skipped` (the permission or the subscription had ended).
    pub status: String,
    pub attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl DeliveryView {
    fn of(d: &Delivery) -> Self {
        DeliveryView {
            event: EventView::of(&d.event),
            status: d.status.code().to_owned(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

crate::routes::list_schema!(DeliveryList, DeliveryView);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecentQuery {
    /// How many of the most recent deliveries (1–200, default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
}

fn partner_of(caller: &Principal) -> Result<PartnerId, ApiError> {
    crate::access::partner_of(
        caller,
        Localized::new(
            "Only partners subscribe to webhooks.",
            "Seuls les partenaires s'abonnent aux webhooks.",
        ),
    )
}

fn bad_url(e: &BadWebhookUrl) -> ApiError {
    let fr = match e {
        BadWebhookUrl::Malformed => "doit être une URL https:// absolue d'au plus 2000 caractères",
        BadWebhookUrl::NotHttps => "doit utiliser https://",
        BadWebhookUrl::Credentials => "ne doit porter ni nom d'utilisateur ni mot de passe",
        BadWebhookUrl::NotPublic => {
            "ne doit pas viser une adresse de bouclage, privée, lien-local ou non publique"
        }
    };
    ApiError::invalid("url", Localized::new(e.to_string(), fr))
}

fn no_webhook() -> ApiError {
    ApiError::not_found(Localized::new(
        "No webhook with this id.",
        "Aucun webhook avec cet identifiant.",
    ))
}

/// Subscribe to events
///
/// The partner receives, at `url`, every event (of the `event_types` asked for, or all) of
/// the organizations it holds an approved permission for, checked at each delivery. Each
/// is a POST of the event as JSON (the `EventView` schema) signed by the Standard Webhooks
/// convention: `webhook-id` (the event's id, the same on every retry), `webhook-timestamp`
/// (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 over
/// "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the base64-decoded part of the
/// secret after `whsec_`. A 2xx answer within 10 s is a delivery; anything else is retried
/// with back-off (5 s, doubling up to an hour) for 25 hours. The secret is in this answer
/// only. The URL must be `https://` and reach public addresses only (unless the server runs
/// with `WEBHOOK_ALLOW_PRIVATE=true`).
#[utoipa::path(
    tag = "webhooks",
    request_body = NewWebhook,
    params(("Idempotency-Key" = Option<openapi::text::IdempotencyKey>, Header, description = "Replays the first answer (without the secret) for 24 h")),
    responses(
        (status = 201, description = "Subscribed; the secret is shown only here", body = CreatedWebhook),
        (status = 400, response = openapi::BadRequest),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[post("/partners/me/webhooks")]
pub async fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    context: RequestContext,
    Caller(caller): Caller,
    body: web::Json<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    let partner = partner_of(&caller)?;
    let body = body.into_inner();
    let url = state
        .webhooks
        .check_url(&body.url)
        .await
        .map_err(|e| bad_url(&e));
    let filter = event_filter(&body.event_types);
    let (url, filter) = match (url, filter) {
        (Ok(u), Ok(f)) => (u, f),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let webhook = Webhook {
        id: Uuid::new_v4(),
        partner_id: partner,
        url,
        filter,
        created_at: state.now(),
    };
    // A subscription gets the events committed from its creation on: on PostgreSQL, lines
    // already committed but not numbered yet are numbered first, without it (the sequencer
    // writes deliveries as it numbers).
    let db = state.db.clone();
    crate::extract::blocking(move || Ok(db.sequence_events_now()?)).await?;
    let (salt, secret, check) = state.webhooks.new_secret(webhook.id);
    let view = WebhookView::of(&webhook);
    let answer = idempotency::run(&state, &req, &caller, &context, &body, move |tx, _| {
        tx.insert_webhook(&webhook, &salt, &check)?;
        // The kept answer has no secret: the secret is stored nowhere.
        idempotency::stored(
            StatusCode::CREATED,
            &[],
            &CreatedWebhook {
                webhook: view,
                secret: None,
            },
        )
    })
    .await?;
    with_secret(answer, secret).await
}

/// The first answer of a subscription, with the secret it alone shows; a replay has none.
async fn with_secret(answer: HttpResponse, secret: String) -> Result<HttpResponse, ApiError> {
    if answer.headers().contains_key("idempotent-replayed") {
        return Ok(answer);
    }
    let bytes = actix_web::body::to_bytes(answer.into_body())
        .await
        .map_err(|_| ApiError::internal())?;
    let mut created: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::internal())?;
    created["secret"] = serde_json::Value::String(secret);
    Ok(HttpResponse::Created().json(created))
}

fn event_filter(raw: &[String]) -> Result<EventFilter, ApiError> {
    EventFilter::parse(raw).map_err(|e| {
        ApiError::invalid(
            "event_types",
            Localized::new(
                format!("{e}; known types: {}", known_types()),
                format!(
                    "type d'événement inconnu `{}` ; types connus : {}",
                    e.0,
                    known_types()
                ),
            ),
        )
    })
}

fn known_types() -> String {
    domain::events::EventType::ALL
        .iter()
        .map(|t| t.code())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The partner's webhooks
///
/// Its live subscriptions, oldest first (never their secrets).
#[utoipa::path(
    tag = "webhooks",
    responses(
        (status = 200, description = "The subscriptions", body = WebhookList),
        (status = 403, response = openapi::Forbidden),
    )
)]
#[get("/partners/me/webhooks")]
pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
) -> Result<web::Json<WebhookList>, ApiError> {
    let partner = partner_of(&caller)?;
    let found = blocking(move || Ok(state.db.webhooks(partner)?)).await?;
    Ok(web::Json(WebhookList {
        items: found.iter().map(WebhookView::of).collect(),
        next_cursor: None,
    }))
}

/// Unsubscribe
///
/// Ends the subscription: nothing more is delivered to it, and its pending deliveries are
/// not made.
#[utoipa::path(
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The subscription", example = "5e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b")),
    responses(
        (status = 204, description = "Unsubscribed"),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[delete("/partners/me/webhooks/{webhook_id}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let partner = partner_of(&caller)?;
    let id = path.into_inner();
    let now = state.now();
    let removed = blocking(move || Ok(state.db.remove_webhook(partner, id, now)?)).await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(no_webhook())
    }
}

/// Deliveries of a webhook
///
/// The most recent deliveries, newest first: the event, how many attempts, the receiver's
/// last answer, and when the next attempt is due.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("webhook_id" = Uuid, Path, description = "The subscription", example = "5e8f9a0b-1c2d-4e3f-8a4b-5c6d7e8f9a0b"),
        RecentQuery
    ),
    responses(
        (status = 200, description = "The recent deliveries", body = DeliveryList),
        (status = 400, response = openapi::BadRequest),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
    )
)]
#[get("/partners/me/webhooks/{webhook_id}/deliveries")]
pub async fn deliveries(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    path: web::Path<Uuid>,
    query: web::Query<RecentQuery>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    let partner = partner_of(&caller)?;
    let id = path.into_inner();
    let limit = match query.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid(
                "limit",
                Localized::new("must be from 1 to 200", "doit valoir de 1 à 200"),
            ))
        }
    };
    let found = blocking(move || {
        match state.db.webhook(id)? {
            Some((w, _, _)) if w.partner_id == partner => {}
            _ => return Err(no_webhook()),
        }
        Ok(state.db.deliveries(id, limit)?)
    })
    .await?;
    Ok(web::Json(DeliveryList {
        items: found.iter().map(DeliveryView::of).collect(),
        next_cursor: None,
    }))
}
