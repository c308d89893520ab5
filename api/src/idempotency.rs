//! `Idempotency-Key` on quantity-changing POSTs (API.md): the same key with the same body
//! within 24 h replays the first answer with `Idempotent-Replayed: true`; with another body
//! 422; while the first is still running 409. The answer of work that changed something is
//! stored in the same transaction as the change (see `Tx::complete_claim`), so an answered
//! request and its effect are never separated, and a retry never does the work twice.

use crate::context::RequestContext;
use crate::error::ApiError;
use crate::extract::blocking;
use crate::state::AppState;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use domain::auth::{Principal, PrincipalKind};
use domain::idempotency::{Claim, ClaimOutcome, IdempotencyKey, IdempotencyStore, StoredResponse};
use domain::Localized;
use persistence::Tx;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// What to do with a request.
pub enum Begin {
    /// Do the work; complete the claim (if any) in the work's transaction.
    Run(Option<Claim>),
    /// Answer this again.
    Replay(HttpResponse),
}

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

/// Claims the request's key, if it has one.
pub async fn begin(
    state: &AppState,
    req: &HttpRequest,
    caller: &Principal,
    body: &impl Serialize,
) -> Result<Begin, ApiError> {
    let Some(raw) = req.headers().get(HEADER) else {
        return Ok(Begin::Run(None));
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
    let fingerprint = fingerprint(req, &body);
    let scope = scope(caller);
    let db = state.db.clone();
    let now = state.now();
    let outcome = blocking(move || Ok(db.claim(&scope, &key, &fingerprint, now)?)).await?;
    match outcome {
        ClaimOutcome::Claimed(claim) => Ok(Begin::Run(Some(claim))),
        ClaimOutcome::Replay(stored) => Ok(Begin::Replay(respond(&stored, true))),
        ClaimOutcome::InFlight => Err(in_flight()),
        ClaimOutcome::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            Localized::new(
                "This Idempotency-Key was used with another request; use a new key for a new request.",
                "Cette Idempotency-Key a servi pour une autre requête ; utilisez une nouvelle clé.",
            ),
        )),
    }
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

/// Inside the work's transaction: keeps the answer with the change. A lost claim (taken
/// over after the lease) rolls the work back.
pub fn complete_in(
    tx: &mut Tx<'_>,
    claim: Option<&Claim>,
    answer: &StoredResponse,
) -> Result<(), ApiError> {
    if let Some(claim) = claim {
        if !tx.complete_claim(claim, answer)? {
            return Err(in_flight());
        }
    }
    Ok(())
}

/// After the work: a refusal is kept and replayed like a success (it changed nothing); a
/// failure on our side forgets the claim so a retry can run.
pub async fn finish(
    state: &AppState,
    claim: Option<Claim>,
    context: &RequestContext,
    result: Result<StoredResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    match (result, claim) {
        (Ok(answer), _) => Ok(respond(&answer, false)),
        (Err(error), None) => Err(error),
        (Err(error), Some(claim)) => {
            let db = state.db.clone();
            let keep = error.status.is_client_error() && error.code != "idempotency_key_in_flight";
            let problem = error.problem(context.language, Some(&context.request_id));
            let answer = StoredResponse {
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
            };
            let outcome = blocking(move || {
                if keep {
                    db.complete(&claim, &answer)?;
                } else {
                    db.release(&claim)?;
                }
                Ok(())
            })
            .await;
            if let Err(e) = outcome {
                tracing::error!(code = e.code, "cannot settle an idempotency key");
            }
            Err(error)
        }
    }
}

/// Runs a quantity-changing request with its `Idempotency-Key`: claims the key, runs `work`
/// in one write transaction that also keeps the answer, and settles the key. `work` gets the
/// transaction and the time of the request.
pub async fn run<F>(
    state: &actix_web::web::Data<AppState>,
    req: &HttpRequest,
    caller: &Principal,
    context: &RequestContext,
    body: &impl Serialize,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut Tx<'_>, chrono::DateTime<chrono::Utc>) -> Result<StoredResponse, ApiError>
        + Send
        + 'static,
{
    let claim = match begin(state, req, caller, body).await? {
        Begin::Replay(answer) => return Ok(answer),
        Begin::Run(claim) => claim,
    };
    let result = {
        let (state, claim) = (state.clone(), claim.clone());
        blocking(move || {
            let now = state.now();
            state.db.write(|tx| {
                let answer = work(tx, now)?;
                complete_in(tx, claim.as_ref(), &answer)?;
                Ok(answer)
            })
        })
        .await
    };
    finish(state, claim, context, result).await
}
