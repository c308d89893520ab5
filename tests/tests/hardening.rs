//! What an attacker tried (issue "Ready for the internet"), each closed: tokens that bend the
//! JWT rules, key rotation through JWK sets, the rate limit, refusals kept under idempotency
//! keys, replays after access ended, and metrics that grow with what clients send.

use api::config::JwtKey;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tests::{assert_problem, TestApp, SECRET};
use uuid::Uuid;

const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const JWKS_RSA: &str = include_str!("../fixtures/jwks_rsa.json");
const JWKS_RSA_EC: &str = include_str!("../fixtures/jwks_rsa_ec.json");

fn claims() -> Value {
    tests::operator_claims()
}

fn hs256(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

/// A token signed over exactly these header and claims texts (to give a name twice).
fn raw_hs256(header: &str, claims: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

async fn refused_because(app: &TestApp, token: &str, why: &str) -> String {
    let response = app.get("/api/v1/benefit-types", token).await;
    assert_eq!(response.status(), 401, "{why}");
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{why}"
    );
    let body = assert_problem(response, 401, "invalid_token").await;
    body["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn tokens_that_bend_the_rules_are_refused() {
    let app = TestApp::spawn().await;
    let ok = hs256(&Header::new(Algorithm::HS256), &claims());
    assert_eq!(app.get("/api/v1/benefit-types", &ok).await.status(), 200);

    let mut critical = Header::new(Algorithm::HS256);
    critical.crit = Some(vec!["exp".to_owned()]);
    let detail = refused_because(&app, &hs256(&critical, &claims()), "crit").await;
    assert!(detail.contains("crit"), "{detail}");

    let now = Utc::now().timestamp();
    let twice = format!(
        r#"{{"sub":"someone","role":"partner","partner_id":"{}","role":"operator","iss":"sa-benefits","aud":"sa-benefits-api","iat":{now},"exp":{}}}"#,
        Uuid::new_v4(),
        now + 600
    );
    let detail = refused_because(
        &app,
        &raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &twice),
        "role twice",
    )
    .await;
    assert!(detail.contains("role"), "{detail}");
    let once = twice.replacen(r#""role":"operator","#, "", 1);
    assert_eq!(
        app.get(
            "/api/v1/benefit-types",
            &raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &once)
        )
        .await
        .status(),
        200,
        "the same token with the claim once is fine"
    );
    refused_because(
        &app,
        &raw_hs256(r#"{"alg":"HS256","alg":"none"}"#, &once),
        "alg twice in the header",
    )
    .await;

    let mut future = claims();
    future["iat"] = json!(now + 3600);
    future["exp"] = json!(now + 7200);
    let detail = refused_because(
        &app,
        &hs256(&Header::new(Algorithm::HS256), &future),
        "iat in the future",
    )
    .await;
    assert!(detail.contains("iat"), "{detail}");

    let mut forever = claims();
    forever["exp"] = json!(253_402_300_799_i64); // 9999-12-31
    let detail = refused_because(
        &app,
        &hs256(&Header::new(Algorithm::HS256), &forever),
        "exp in 9999",
    )
    .await;
    assert!(detail.contains("86400"), "{detail}");
    let mut day_and_more = claims();
    // Against its own iat: claims() reads the clock again, maybe a second later.
    day_and_more["iat"] = json!(now);
    day_and_more["exp"] = json!(now + 86_401);
    refused_because(
        &app,
        &hs256(&Header::new(Algorithm::HS256), &day_and_more),
        "a second above JWT_MAX_TTL",
    )
    .await;
    // iat within the leeway, but after exp.
    let mut backwards = claims();
    backwards["iat"] = json!(now + 40);
    backwards["exp"] = json!(now + 30);
    refused_because(
        &app,
        &hs256(&Header::new(Algorithm::HS256), &backwards),
        "iat after exp",
    )
    .await;

    // Size: just under 8 KiB passes, just over is refused before any parsing.
    let padded = |n: usize| {
        let mut c = claims();
        c["pad"] = json!("x".repeat(n));
        hs256(&Header::new(Algorithm::HS256), &c)
    };
    let mut n = 5000;
    while padded(n + 1).len() <= api::auth::MAX_TOKEN_BYTES {
        n += 1;
    }
    assert_eq!(padded(n).len(), api::auth::MAX_TOKEN_BYTES);
    assert_eq!(
        app.get("/api/v1/benefit-types", &padded(n)).await.status(),
        200
    );
    let detail = refused_because(&app, &padded(n + 1), "over 8 KiB").await;
    assert!(detail.contains("8192"), "{detail}");
}

fn signed(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims(), key).unwrap()
}

fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap()
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PRIVATE).unwrap()
}

#[tokio::test]
async fn a_jwk_set_file_picks_the_key_by_kid_and_is_read_again_for_a_new_kid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, JWKS_RSA).unwrap();
    let path = file.clone();
    let app = TestApp::spawn_configured(move |c| {
        c.jwt.key = JwtKey::JwksFile(path);
        c.jwt.jwks_refresh_seconds = 1;
    })
    .await;
    let get = |token: String| {
        let app = &app;
        async move { app.get("/api/v1/benefit-types", &token).await.status() }
    };
    assert_eq!(
        get(signed(Algorithm::RS256, Some("rsa-2026"), &rsa())).await,
        200
    );
    assert_eq!(
        get(signed(Algorithm::RS256, None, &rsa())).await,
        200,
        "a set of one key needs no kid"
    );
    // The EC key is not published yet.
    assert_eq!(
        get(signed(Algorithm::ES256, Some("ec-2026"), &ec())).await,
        401
    );
    // The identity provider publishes its new key: after the refresh period it is found.
    std::fs::write(&file, JWKS_RSA_EC).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        get(signed(Algorithm::ES256, Some("ec-2026"), &ec())).await,
        200
    );
    // A kid names a key, and the key its algorithm: the RSA key under the EC kid fails.
    assert_eq!(
        get(signed(Algorithm::RS256, Some("ec-2026"), &rsa())).await,
        401
    );
    assert_eq!(
        get(signed(Algorithm::RS256, None, &rsa())).await,
        401,
        "two keys: a token must say which"
    );
    // HS256 with the public key's bytes is never accepted.
    assert_eq!(
        get(signed(
            Algorithm::HS256,
            Some("rsa-2026"),
            &EncodingKey::from_secret(JWKS_RSA.as_bytes())
        ))
        .await,
        401
    );
    assert!(api::auth::TokenIssuer::new(&app.config.jwt).is_err());
}

/// A JWK set served over HTTP by a test "identity provider" that counts its readers.
struct JwksServer {
    url: String,
    document: Arc<Mutex<String>>,
    reads: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(document: &str) -> JwksServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/.well-known/jwks.json",
            listener.local_addr().unwrap().port()
        );
        let document = Arc::new(Mutex::new(document.to_owned()));
        let reads = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (document.clone(), reads.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (doc, count) = (doc.clone(), count.clone());
                tokio::spawn(async move {
                    let mut request = vec![0_u8; 4096];
                    let _ = stream.read(&mut request).await;
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().unwrap().clone();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            document,
            reads,
            task,
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// Several threads: the server reads the set at start from the test's own provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_rotates_its_keys_and_unknown_kids_read_the_set_at_most_once_a_period()
{
    let idp = JwksServer::start(JWKS_RSA).await;
    let url = idp.url.clone();
    let app = TestApp::spawn_configured(move |c| {
        c.jwt.key = JwtKey::JwksUrl(url);
        c.jwt.jwks_refresh_seconds = 2;
    })
    .await;
    assert_eq!(idp.reads.load(Ordering::SeqCst), 1, "read once at start");
    let status = |token: String| {
        let app = &app;
        async move { app.get("/api/v1/benefit-types", &token).await.status() }
    };
    assert_eq!(
        status(signed(Algorithm::RS256, Some("rsa-2026"), &rsa())).await,
        200
    );
    // Unknown kids within the period: refused, and the provider is not asked again.
    for _ in 0..20 {
        assert_eq!(
            status(signed(Algorithm::ES256, Some("ec-2026"), &ec())).await,
            401
        );
    }
    assert_eq!(
        idp.reads.load(Ordering::SeqCst),
        1,
        "no reading within the period"
    );
    // Rotation: the provider adds its new key and signs with it.
    *idp.document.lock().unwrap() = JWKS_RSA_EC.to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let burst: Vec<_> = (0..10)
        .map(|_| status(signed(Algorithm::ES256, Some("ec-2026"), &ec())))
        .collect();
    for s in futures_util::future::join_all(burst).await {
        assert_eq!(s, 200);
    }
    assert_eq!(
        idp.reads.load(Ordering::SeqCst),
        2,
        "ten requests with the new kid read the set once"
    );
    // The old key is retired: tokens it signs stop working once the set is read again.
    *idp.document.lock().unwrap() = JWKS_RSA_EC.replace("rsa-2026", "rsa-retired");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        status(signed(Algorithm::RS256, Some("rsa-retired"), &rsa())).await,
        200
    );
    assert_eq!(
        status(signed(Algorithm::RS256, Some("rsa-2026"), &rsa())).await,
        401
    );
}

#[tokio::test]
async fn a_jwk_set_without_a_usable_key_stops_the_start_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    std::fs::write(
        &file,
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#,
    )
    .unwrap();
    let mut config = tests::test_config("unused.db".to_owned(), JwtKey::JwksFile(file));
    config.jwt.jwks_refresh_seconds = 60;
    let error = api::auth::JwtVerifier::new(&config.jwt)
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("no RS256 or ES256 key"),
        "{error}"
    );
    let missing = JwtKey::JwksFile(dir.path().join("missing.json"));
    let error = api::auth::JwtVerifier::new(&api::config::JwtConfig::with_key(missing))
        .err()
        .expect("refused");
    assert!(error.to_string().contains("JWT_JWKS_FILE"), "{error}");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_per_principal_and_per_address() {
    let app = TestApp::spawn_configured(|c| c.rate_limit_per_minute = 5).await;
    let operator = app.operator();
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/benefit-types", &operator).await.status(),
            200
        );
    }
    let limited = app.get("/api/v1/benefit-types", &operator).await;
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = assert_problem(limited, 429, "rate_limited").await;
    assert_eq!(body["status"], 429);
    // Another principal has its own minute.
    let admin = app.admin(Uuid::new_v4());
    assert_eq!(app.get("/api/v1/benefit-types", &admin).await.status(), 200);
    // Without a valid token the client's address is counted: five 401s, then 429.
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/benefit-types", "not-a-token")
                .await
                .status(),
            401
        );
    }
    assert_problem(
        app.get("/api/v1/benefit-types", "not-a-token").await,
        429,
        "rate_limited",
    )
    .await;
    // Health checks are never limited.
    for _ in 0..10 {
        let live = app
            .client
            .get(format!("{}/health/live", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(live.status(), 200);
    }
}

async fn consume_with_key(
    app: &TestApp,
    benefit: Uuid,
    token: &str,
    key: &str,
    n: i64,
) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/benefits/{benefit}/consumptions"),
        token,
    )
    .header("idempotency-key", key)
    .json(&json!({ "quantity": n }))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn refusals_that_change_nothing_are_not_kept_and_a_replay_checks_access_first() {
    let app = TestApp::spawn().await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "EMEA").await;
    let benefit = app
        .grant(account, "problem_resolution_phone", Some(10))
        .await;
    let partner = app.create_partner("Fabrikam").await;
    let token = app.partner(partner);

    // Without a permission: 404, twice, never a replay (nothing was stored).
    for _ in 0..2 {
        let r = consume_with_key(&app, benefit, &token, "k-404", 1).await;
        assert!(r.headers().get("idempotent-replayed").is_none());
        assert_problem(r, 404, "not_found").await;
    }
    // Invalid input: 400, never stored.
    for _ in 0..2 {
        let r = consume_with_key(&app, benefit, &app.operator(), "k-400", 0).await;
        assert!(r.headers().get("idempotent-replayed").is_none());
        assert_eq!(r.status(), 400);
    }
    // Approved: the key now works, and the answer is kept.
    let permission = app.permit(org, partner, None).await;
    let first = consume_with_key(&app, benefit, &token, "k-404", 1).await;
    assert_eq!(first.status(), 201, "the key was not taken by the refusals");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let again = consume_with_key(&app, benefit, &token, "k-404", 1).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    // The customer removes the permission: the stored answer is no longer given.
    let removed = app
        .move_permission(permission, &app.admin(org), "removed")
        .await;
    assert_eq!(removed.status(), 200);
    let after = consume_with_key(&app, benefit, &token, "k-404", 1).await;
    assert!(after.headers().get("idempotent-replayed").is_none());
    assert_problem(after, 404, "not_found").await;
    let b: Value = app
        .get(&format!("/api/v1/benefits/{benefit}"), &app.operator())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(b["used"], 1, "consumed once");
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn random_methods_and_paths_add_no_metric_series() {
    use rand_like::Lcg;
    let app = TestApp::spawn().await;
    let metrics = || app.service_text("/metrics");
    // Warm every label the flood can reach once.
    let warm = metrics().await;
    let before_rss = resident_kib();
    let mut random = Lcg(7);
    let mut statuses = std::collections::BTreeMap::new();
    for chunk in 0..100 {
        let sends: Vec<_> = (0..100)
            .map(|i| {
                let method: String = (0..(1 + random.next() % 400))
                    .map(|_| (b'A' + (random.next() % 26) as u8) as char)
                    .collect();
                let path: String = (0..(1 + random.next() % 200))
                    .map(|_| (b'a' + (random.next() % 26) as u8) as char)
                    .collect();
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                let url = if (chunk + i) % 3 == 0 {
                    format!("{}/api/v1/{path}", app.base)
                } else {
                    format!("{}/{path}", app.base)
                };
                app.client.request(method, url).send()
            })
            .collect();
        for r in futures_util::future::join_all(sends).await {
            *statuses.entry(r.unwrap().status().as_u16()).or_insert(0) += 1;
        }
    }
    assert_eq!(statuses.values().sum::<u32>(), 10_000);
    let after = metrics().await;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    // The flood may add the few series of its status classes on `unmatched`, nothing more.
    assert!(
        series(&after) <= series(&warm) + 30,
        "{} series before, {} after",
        series(&warm),
        series(&after)
    );
    assert!(after.len() < 64 * 1024, "{} bytes of metrics", after.len());
    assert!(
        !after.contains("method=\"A") && after.contains("method=\"other\""),
        "methods are labelled from a closed set"
    );
    let grown = resident_kib().saturating_sub(before_rss);
    assert!(grown < 64 * 1024, "resident memory grew {grown} KiB");
}

/// A small deterministic generator (no extra dependency for random test input).
mod rand_like {
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }
}
