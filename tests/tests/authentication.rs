//! Every JWT defect of API.md is a 401 with `WWW-Authenticate: Bearer`.

use api::config::JwtKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tests::{assert_problem, TestApp, SECRET};

const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const EC_PUBLIC: &[u8] = include_bytes!("../fixtures/ec_public.pem");

fn claims() -> Value {
    tests::operator_claims()
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

async fn status_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/api/v1/benefit-types", token).await
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let response = status_with(app, token).await;
    assert_eq!(response.status(), 401, "{why}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer"),
        "{why}: WWW-Authenticate {challenge:?}"
    );
    assert_problem(response, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_valid_token_is_accepted_and_no_token_is_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(status_with(&app, &hs256(&claims())).await.status(), 200);
    let response = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="sa-benefits""#
    );
    assert_problem(response, 401, "missing_token").await;
    let basic = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "invalid_token").await;
}

#[tokio::test]
async fn every_jwt_defect_is_a_401() {
    let app = TestApp::spawn().await;
    let now = Utc::now().timestamp();
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    assert_refused(&app, &format!("{header_none}.{payload}."), "alg none").await;

    let hs384 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS384),
        &claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_refused(&app, &hs384, "another HMAC algorithm").await;
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &rs256, "RS256 when HS256 is configured").await;

    let other_secret = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
    )
    .unwrap();
    assert_refused(&app, &other_secret, "bad signature").await;
    let mut tampered = hs256(&claims());
    tampered.insert(tampered.rfind('.').unwrap() + 1, 'A');
    assert_refused(&app, &tampered, "tampered signature").await;

    assert_refused(
        &app,
        &hs256(&with(claims(), "exp", json!(now - 120))),
        "expired beyond the leeway",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&with(claims(), "nbf", json!(now + 600))),
        "not yet valid",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&with(claims(), "iss", json!("someone-else"))),
        "wrong issuer",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&with(claims(), "aud", json!("another-api"))),
        "wrong audience",
    )
    .await;
    for claim in ["sub", "role", "iss", "aud", "exp", "iat"] {
        assert_refused(
            &app,
            &hs256(&without(claims(), claim)),
            &format!("missing {claim}"),
        )
        .await;
    }
    assert_refused(
        &app,
        &hs256(&with(claims(), "role", json!("root"))),
        "unknown role",
    )
    .await;
    let admin = with(claims(), "role", json!("customer_admin"));
    assert_refused(&app, &hs256(&admin), "customer_admin without org").await;
    assert_refused(
        &app,
        &hs256(&with(admin, "org", json!("not-a-uuid"))),
        "org not a UUID",
    )
    .await;
    assert_refused(
        &app,
        &hs256(&with(claims(), "role", json!("partner"))),
        "partner without partner_id",
    )
    .await;
    assert_refused(&app, "not.a.jwt", "garbage").await;
}

#[tokio::test]
async fn the_leeway_is_sixty_seconds() {
    let app = TestApp::spawn().await;
    let now = Utc::now().timestamp();
    let issued_ten_minutes_ago = with(claims(), "iat", json!(now - 600));
    let token = hs256(&with(issued_ten_minutes_ago, "exp", json!(now - 30)));
    assert_eq!(
        status_with(&app, &token).await.status(),
        200,
        "expired 30 s ago is within the leeway"
    );
    let token = hs256(&with(claims(), "nbf", json!(now + 30)));
    assert_eq!(
        status_with(&app, &token).await.status(),
        200,
        "valid in 30 s is within the leeway"
    );
}

#[tokio::test]
async fn the_answer_is_in_french_when_asked() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/api/v1/benefit-types", app.base))
        .header("accept-language", "fr-FR,fr;q=0.9")
        .send()
        .await
        .unwrap();
    let body = assert_problem(response, 401, "missing_token").await;
    assert_eq!(body["title"], "Authentification requise");
}

#[tokio::test]
async fn an_rsa_public_key_pins_rs256_and_refuses_algorithm_confusion() {
    let app = TestApp::spawn_with(JwtKey::PublicKeyPem(RSA_PUBLIC.to_vec()), false).await;
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_eq!(status_with(&app, &rs256).await.status(), 200);
    // The classic confusion: an HS256 token whose HMAC key is the public key's PEM.
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(RSA_PUBLIC),
    )
    .unwrap();
    assert_refused(&app, &confused, "HS256 signed with the public key").await;
    let rs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS512),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &rs512, "RS512 when RS256 is pinned").await;
    assert!(
        api::auth::TokenIssuer::new(&app.config.jwt).is_err(),
        "no minting with only a public key"
    );
}

#[tokio::test]
async fn an_ec_public_key_pins_es256() {
    let app = TestApp::spawn_with(JwtKey::PublicKeyPem(EC_PUBLIC.to_vec()), false).await;
    let es256 = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims(),
        &EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_eq!(status_with(&app, &es256).await.status(), 200);
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims(),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &rs256, "RS256 when ES256 is pinned").await;
}
