//! `Idempotency-Key` on quantity-changing POSTs (API.md): the same key with the same body
//! within 24 h replays the first answer with `Idempotent-Replayed: true`; with another body
//! 422; while the first is still running 409. The key is looked up, and the answer stored,
//! in the very transaction of the work: an answered request and its effect are never
//! separated, a crash loses both, and a retry never does the work twice. A replay is given
//! only after the caller's access was checked again (a partner whose permission ended gets
//! 404, not its stored answer). A business refusal (409, 422) of an authorized caller is kept
//! too, so its retry is answered the same; refusals that say nothing about the work (400,
//! 401, 403, 404, 429) are never stored, so no one can fill the store with them.

use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::auth::{Principal, PrincipalKind};
use domain::idempotency::{IdempotencyKey, StoredResponse};
use domain::Localized;
use persistence::{KeyState, Tx};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

fn scope(principal: &Principal) -> String {
    match principal.kind {
        PrincipalKind::Operator => format!("operator:{}", principal.subject),
        PrincipalKind::CustomerAdmin(org) => format!("customer_admin:{org}:{}", principal.subject),
        PrincipalKind::Partner(p) => format!("partner:{p}:{}", principal.subject),
    }
}

fn fingerprint(req: &HttpRequest, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.path());
    hasher.update(b"\n");
    // serde_json keeps object keys sorted: the same JSON gives the same bytes.
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn in_flight() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        Localized::new(
            "A request with this Idempotency-Key is still being processed; retry in a moment.",
            "Une requête avec cette Idempotency-Key est encore en cours ; réessayez dans un instant.",
        ),
    )
}

/// An answer to give now and keep for replays.
pub fn stored(
    status: StatusCode,
    headers: &[(header::HeaderName, String)],
    body: &impl Serialize,
) -> Result<StoredResponse, ApiError> {
    let body = serde_json::to_string(body).map_err(|e| {
        tracing::error!(error = %e, "cannot encode a response");
        ApiError::internal()
    })?;
    Ok(StoredResponse {
        status: status.as_u16(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.clone()))
            .collect(),
        body,
    })
}

pub fn respond(stored: &StoredResponse, replayed: bool) -> HttpResponse {
    let mut response =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    for (name, value) in &stored.headers {
        response.insert_header((name.as_str(), value.as_str()));
    }
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    if !stored
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        let content_type = if stored.status >= 400 {
            "application/problem+json"
        } else {
            "application/json"
        };
        response.content_type(content_type);
    }
    response.body(stored.body.clone())
}

/// The request's key, who it belongs to and what it was used with.
struct Keyed {
    scope: String,
    key: IdempotencyKey,
    fingerprint: String,
}

fn keyed(
    req: &HttpRequest,
    caller: &Principal,
    body: &impl Serialize,
) -> Result<Option<Keyed>, ApiError> {
    let Some(raw) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .ok()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                Localized::new(
                    "must be 1 to 255 visible ASCII characters",
                    "doit compter de 1 à 255 caractères ASCII visibles",
                ),
            )
        })?;
    let body = serde_json::to_value(body).unwrap_or_default();
    Ok(Some(Keyed {
        scope: scope(caller),
        key,
        fingerprint: fingerprint(req, &body),
    }))
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        Localized::new(
            "This Idempotency-Key was used with another request; use a new key for a new request.",
            "Cette Idempotency-Key a servi pour une autre requête ; utilisez une nouvelle clé.",
        ),
    )
}

enum Outcome {
    Done(StoredResponse),
    Replay(StoredResponse),
}

/// Looks the key up inside the transaction: `None` to go on with the work.
fn settle_key(
    tx: &mut Tx<'_>,
    keyed: &Keyed,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, ApiError> {
    match tx.check_key(&keyed.scope, &keyed.key, &keyed.fingerprint, now)? {
        KeyState::Fresh => Ok(None),
        KeyState::Replay(answer) => Ok(Some(Outcome::Replay(answer))),
        KeyState::Mismatch => Err(reused()),
        KeyState::InFlight => Err(in_flight()),
    }
}

/// The problem of a refusal as it is kept for replays.
fn refusal(error: &ApiError, context: &RequestContext) -> StoredResponse {
    let problem = error.problem(context.language, context.occurrence());
    StoredResponse {
        status: error.status.as_u16(),
        headers: error
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.clone()))
            .chain([(
                "content-type".to_owned(),
                "application/problem+json".to_owned(),
            )])
            .collect(),
        body: serde_json::to_string(&problem).unwrap_or_default(),
    }
}

/// Runs a quantity-changing request with its `Idempotency-Key` (if it has one): in one write
/// transaction, the key is looked up (a replay or a refusal ends there), `work` runs with
/// the transaction and the time of the request, and its answer is kept with the key. The
/// caller must have been authorized before; see [`run_authorized`] to do it in the
/// transaction.
pub async fn run<F>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    body: &impl Serialize,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut Tx<'_>, DateTime<Utc>) -> Result<StoredResponse, ApiError> + Send + 'static,
{
    run_authorized(
        state,
        req,
        caller,
        context,
        body,
        |_, _| Ok(()),
        move |tx, now, ()| work(tx, now),
    )
    .await
}

/// Whether a refusal is kept under the request's key: only a business refusal of the work
/// itself (the caller was authorized and the input valid).
fn kept_refusal(error: &ApiError) -> bool {
    matches!(error.status.as_u16(), 409 | 422)
        && !matches!(
            error.code,
            "idempotency_key_in_flight" | "idempotency_key_reused"
        )
}

/// As [`run`], with `authorize` run first in the same transaction, before the key is even
/// looked up: a replay goes to a caller who may still act, and what `authorize` finds (the
/// resource, the actor) is handed to `work`.
pub async fn run_authorized<T, A, F>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    body: &impl Serialize,
    authorize: A,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    A: FnOnce(&mut Tx<'_>, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
    F: FnOnce(&mut Tx<'_>, DateTime<Utc>, T) -> Result<StoredResponse, ApiError> + Send + 'static,
{
    let clock = state.clock.clone();
    keyed_write(state, req, caller, context, body, |keyed| {
        state
            .db
            .write_async(move |tx| attempt(tx, clock.now(), keyed.as_deref(), authorize, work))
    })
    .await
}

/// As [`run_authorized`], for a change of one benefit's ledger: on PostgreSQL it is decided
/// on the benefit as read and written in one statement, at that version
/// (`Database::write_optimistic_async`); if the benefit moved meanwhile, `authorize` and
/// `work` run once more in an ordinary transaction, so they may run twice and must act only
/// through their transaction.
pub async fn run_ledger_change<T, A, F>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    body: &impl Serialize,
    authorize: A,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    A: Fn(&mut Tx<'_>, DateTime<Utc>) -> Result<T, ApiError> + Send + Sync + 'static,
    F: Fn(&mut Tx<'_>, DateTime<Utc>, T) -> Result<StoredResponse, ApiError>
        + Send
        + Sync
        + 'static,
{
    let clock = state.clock.clone();
    keyed_write(state, req, caller, context, body, |keyed| {
        state.db.write_optimistic_async(move |tx| {
            attempt(tx, clock.now(), keyed.as_deref(), &authorize, &work)
        })
    })
    .await
}

/// A keyed request's shell: its key (if it has one) read from the request, `write` run with
/// it, and the answer made from what the write gave ([`answer`]).
async fn keyed_write<W>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    body: &impl Serialize,
    write: impl FnOnce(Option<std::sync::Arc<Keyed>>) -> W,
) -> Result<HttpResponse, ApiError>
where
    W: std::future::Future<Output = Result<Outcome, ApiError>>,
{
    let keyed = keyed(req, caller, body)?.map(std::sync::Arc::new);
    let result = write(keyed.clone()).await;
    answer(state, context, result, keyed).await
}

/// One run of a keyed request's work in its write transaction: the key is looked up (a
/// replay or a refusal ends there), `work` runs with the transaction and the time of the
/// request, and its answer is kept with the key.
fn attempt<T>(
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    keyed: Option<&Keyed>,
    authorize: impl FnOnce(&mut Tx<'_>, DateTime<Utc>) -> Result<T, ApiError>,
    work: impl FnOnce(&mut Tx<'_>, DateTime<Utc>, T) -> Result<StoredResponse, ApiError>,
) -> Result<Outcome, ApiError> {
    if let Some(keyed) = keyed {
        // Looked up with the benefit that `authorize` reads (PostgreSQL).
        tx.key_ahead(&keyed.scope, &keyed.key);
    }
    let authorized = authorize(tx, now)?;
    if let Some(keyed) = keyed {
        if let Some(outcome) = settle_key(tx, keyed, now)? {
            return Ok(outcome);
        }
    }
    let answer = work(tx, now, authorized)?;
    if let Some(k) = keyed {
        // Another request with the key kept its answer first: this one's work is rolled
        // back, and its retry gets that answer.
        if !tx.keep_answer(&k.scope, &k.key, &k.fingerprint, &answer, now)? {
            return Err(in_flight());
        }
    }
    Ok(Outcome::Done(answer))
}

/// The answer to a keyed request from what its transaction gave; a business refusal is
/// kept under the key (in a transaction of its own: the work's was rolled back).
async fn answer(
    state: &actix_web::web::Data<AppState>,
    context: &RequestContext,
    result: Result<Outcome, ApiError>,
    keyed: Option<std::sync::Arc<Keyed>>,
) -> Result<HttpResponse, ApiError> {
    match (result, keyed) {
        (Ok(Outcome::Done(answer)), _) => Ok(respond(&answer, false)),
        (Ok(Outcome::Replay(answer)), _) => Ok(respond(&answer, true)),
        (Err(error), Some(keyed)) if kept_refusal(&error) => {
            // The refusal changed nothing: keep it so a retry gets the same answer.
            let kept = refusal(&error, context);
            let state = state.clone();
            let stored = blocking(move || {
                let now = state.now();
                state.db.write(|tx| {
                    if settle_key(tx, &keyed, now)?.is_none() {
                        // Not kept: another request kept its answer first, and a retry gets it.
                        let _kept = tx.keep_answer(
                            &keyed.scope,
                            &keyed.key,
                            &keyed.fingerprint,
                            &kept,
                            now,
                        )?;
                    }
                    Ok(())
                })
            })
            .await;
            if let Err(e) = stored {
                tracing::warn!(
                    code = e.code,
                    "cannot keep a refusal for its idempotency key"
                );
            }
            Err(error)
        }
        (Err(error), _) => Err(error),
    }
}
