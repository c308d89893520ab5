//! End-to-end test harness: [`TestApp`] starts the real server on a free port against a
//! fresh database (a SQLite file in a temporary directory, or — when `TEST_DATABASE_URL` is
//! set — a new PostgreSQL database per test) and talks to it over HTTP.

use api::auth::TokenIssuer;
use api::config::{Config, JwtConfig, JwtKey};
use api::Application;
use chrono::{Duration, Utc};
use domain::auth::{Principal, PrincipalKind};
use domain::ids::{OrganizationId, PartnerId};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Once};
use uuid::Uuid;

pub mod smtp;
pub mod tls;

pub const SECRET: &str = "end-to-end-test-secret-of-at-least-32-bytes";

/// Which database the tests run on.
pub fn backend_name() -> &'static str {
    if postgres_admin_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

/// A test's own side channel to the PostgreSQL database `url` names: plain text (it is not
/// the server under test), driven by a task of the calling runtime.
pub async fn side_channel(url: &str) -> tokio_postgres::Client {
    let url = match url.split_once('?') {
        Some((base, _)) => format!("{base}?sslmode=disable"),
        None => url.to_owned(),
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("a connection of the test's own");
    tokio::spawn(connection);
    client
}

/// Whether the suite runs on PostgreSQL (`TEST_DATABASE_URL`).
pub fn on_postgres() -> bool {
    postgres_admin_url().is_some()
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

pub struct TestApp {
    /// The server's shared state (database, catalog, clock).
    pub state: api::state::AppState,
    clock: Arc<ShiftedClock>,
    pub base: String,
    server: actix_web::dev::ServerHandle,
    pub client: reqwest::Client,
    pub config: Config,
    issuer: TokenIssuer,
    _dir: tempfile::TempDir,
}

pub fn test_config(database_url: String, key: JwtKey) -> Config {
    Config {
        database_url,
        bind_addr: "127.0.0.1:0".to_owned(),
        jwt: JwtConfig::with_key(key),
        smtp_url: None,
        cors_allowed_origins: vec![],
        workers: Some(2),
        database_pool_size: 8,
        kept_answers: api::cache::ListCache::DEFAULT_CAPACITY,
        // The suites race hundreds of requests with one token; the limit has its own tests.
        rate_limit_per_minute: 0,
        smtp_ca_file: None,
        webhook_signing_key: b"a test key for webhook secrets, 32+ bytes".to_vec(),
        // The receivers of the tests listen on loopback.
        webhook_allow_private: true,
    }
}

/// A new empty database: its URL.
pub fn fresh_database(dir: &tempfile::TempDir) -> String {
    match postgres_admin_url() {
        Some(admin) => {
            let name = format!("sa_test_{}", Uuid::new_v4().simple());
            persistence::create_postgres_database(&admin, &name)
                .expect("TEST_DATABASE_URL: cannot create a test database")
        }
        None => dir.path().join("test.db").to_string_lossy().into_owned(),
    }
}

/// The system clock moved forward by a settable amount: lets a test see what time does
/// (expiries) without waiting. Tokens are still checked against the real time.
#[derive(Default)]
pub struct ShiftedClock {
    shift_seconds: AtomicI64,
}

impl domain::ports::Clock for ShiftedClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        api::state::SystemClock.now() + Duration::seconds(self.shift_seconds.load(Ordering::SeqCst))
    }
}

impl TestApp {
    /// Moves the server's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock
            .shift_seconds
            .fetch_add(by.num_seconds(), Ordering::SeqCst);
    }

    /// Runs one round of the background upkeep now (expiries of vouchers and permissions).
    pub async fn run_maintenance(&self) {
        api::maintenance::run_once(&self.state).await;
    }

    /// The server on an empty database, verifying HS256 tokens signed with [`SECRET`].
    pub async fn spawn() -> TestApp {
        Self::spawn_with(JwtKey::Secret(SECRET.as_bytes().to_vec()), false).await
    }

    /// The server on a database filled with the demo data.
    pub async fn spawn_with_demo() -> TestApp {
        Self::spawn_with(JwtKey::Secret(SECRET.as_bytes().to_vec()), true).await
    }

    /// The server on an empty database, delivering its outbox to `smtp_url`.
    pub async fn spawn_with_smtp(smtp_url: String) -> TestApp {
        Self::spawn_inner(
            JwtKey::Secret(SECRET.as_bytes().to_vec()),
            false,
            Some(smtp_url),
        )
        .await
    }

    pub async fn spawn_with(key: JwtKey, demo: bool) -> TestApp {
        Self::spawn_inner(key, demo, None).await
    }

    /// The server on an empty database with [`test_config`] changed by `change`.
    pub async fn spawn_configured(change: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = test_config(
            fresh_database(&dir),
            JwtKey::Secret(SECRET.as_bytes().to_vec()),
        );
        change(&mut config);
        Self::start(config, false, dir).await
    }

    /// A second server on this server's database (its own process state, its own clock).
    pub async fn spawn_replica(&self) -> TestApp {
        Self::start(
            self.config.clone(),
            false,
            tempfile::tempdir().expect("temporary directory"),
        )
        .await
    }

    async fn spawn_inner(key: JwtKey, demo: bool, smtp_url: Option<String>) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = test_config(fresh_database(&dir), key);
        config.smtp_url = smtp_url;
        Self::start(config, demo, dir).await
    }

    async fn start(config: Config, demo: bool, dir: tempfile::TempDir) -> TestApp {
        static LOGS: Once = Once::new();
        LOGS.call_once(|| {
            if std::env::var("TEST_LOG").is_ok() {
                api::telemetry::init();
            }
        });
        let db = api::prepare_database(&config).expect("the database opens");
        let listener = std::net::TcpListener::bind(&config.bind_addr).expect("a free port");
        let clock = Arc::new(ShiftedClock::default());
        let app = Application::build_with(&config, db, listener, clock.clone())
            .expect("the server starts");
        if demo {
            let state = app.state();
            api::demo::seed(&state.db, &state.catalog(), &state.webhooks, state.now())
                .expect("demo data");
        }
        let app_state = app.state().clone();
        // On PostgreSQL a server hears the others' commits once its listener is up (a TLS
        // handshake away): tests start from a coordinated server, as a load balancer would
        // wait for readiness.
        if let Some(coordination) = app_state.db.changes().coordination() {
            let mut listening = coordination.listening;
            for _ in 0..500 {
                if listening {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                listening = app_state
                    .db
                    .changes()
                    .coordination()
                    .is_some_and(|c| c.listening);
            }
            assert!(
                listening,
                "the PostgreSQL listener did not listen within 5 s"
            );
        }
        let base = format!("http://127.0.0.1:{}", app.port());
        let server = app.server_handle();
        tokio::spawn(app.run_until_stopped());
        let issuer = TokenIssuer::new(&JwtConfig {
            key: JwtKey::Secret(SECRET.as_bytes().to_vec()),
            ..config.jwt.clone()
        })
        .expect("issuer");
        TestApp {
            state: app_state,
            clock,
            base,
            server,
            client: reqwest::Client::new(),
            config,
            issuer,
            _dir: dir,
        }
    }

    pub fn token(&self, kind: PrincipalKind) -> String {
        self.issuer
            .mint(
                &Principal {
                    subject: "test".to_owned(),
                    kind,
                },
                Utc::now(),
                Duration::hours(1),
            )
            .expect("token")
    }

    /// How many benefit list reads were answered from kept answers, and how many read anew.
    pub fn kept_answers(&self) -> (u64, u64) {
        self.state.cache.counts()
    }

    pub fn operator(&self) -> String {
        self.token(PrincipalKind::Operator)
    }

    pub fn admin(&self, org: Uuid) -> String {
        self.token(PrincipalKind::CustomerAdmin(OrganizationId(org)))
    }

    pub fn partner(&self, partner: Uuid) -> String {
        self.token(PrincipalKind::Partner(PartnerId(partner)))
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
    }

    /// The text of a service route outside `/api/v1` (`/metrics`, `/health/ready`).
    pub async fn service_text(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a partner as operator, with a contact e-mail; its id.
    pub async fn create_partner(&self, name: &str) -> Uuid {
        let r = self
            .post(
                "/api/v1/partners",
                &self.operator(),
                &json!({ "name": name, "contact_email": "licensing@partner.example" }),
            )
            .await;
        assert_eq!(r.status(), 201, "create partner");
        id_of(r).await
    }

    /// The partner asks `org` for a permission (`scopes: None` asks for all); its id.
    pub async fn request_permission(
        &self,
        org: Uuid,
        partner: Uuid,
        scopes: Option<&[&str]>,
        expires_at: Option<chrono::DateTime<Utc>>,
    ) -> Uuid {
        let mut body = json!({ "organization_id": org });
        if let Some(scopes) = scopes {
            body["scopes"] = json!(scopes);
        }
        if let Some(end) = expires_at {
            body["expires_at"] = json!(end.to_rfc3339());
        }
        let r = self
            .post("/api/v1/partner-permissions", &self.partner(partner), &body)
            .await;
        assert_eq!(r.status(), 201, "request permission");
        id_of(r).await
    }

    /// Moves a permission as the organization's admin (or the partner for `withdrawn`).
    pub async fn move_permission(&self, permission: Uuid, token: &str, status: &str) -> Response {
        self.patch(
            &format!("/api/v1/partner-permissions/{permission}"),
            token,
            &json!({ "status": status }),
        )
        .await
    }

    /// Requests and approves a permission; its id.
    pub async fn permit(&self, org: Uuid, partner: Uuid, scopes: Option<&[&str]>) -> Uuid {
        let id = self.request_permission(org, partner, scopes, None).await;
        let r = self.move_permission(id, &self.admin(org), "approved").await;
        assert_eq!(r.status(), 200, "approve");
        id
    }

    /// Creates an organization as operator; its id.
    pub async fn create_org(&self, name: &str) -> Uuid {
        let r = self
            .post(
                "/api/v1/organizations",
                &self.operator(),
                &json!({ "name": name }),
            )
            .await;
        assert_eq!(r.status(), 201, "create organization");
        id_of(r).await
    }

    /// Creates a purchasing account as operator; its id.
    pub async fn create_account(&self, org: Uuid, name: &str) -> Uuid {
        let r = self
            .post(
                &format!("/api/v1/organizations/{org}/accounts"),
                &self.operator(),
                &json!({ "name": name, "sa_id": "SA-1" }),
            )
            .await;
        assert_eq!(r.status(), 201, "create account");
        id_of(r).await
    }

    /// Grants a benefit as operator, valid for a year; its id.
    pub async fn grant(&self, account: Uuid, code: &str, quantity: Option<i64>) -> Uuid {
        let expires = (Utc::now() + Duration::days(365)).to_rfc3339();
        let r = self
            .post(
                &format!("/api/v1/accounts/{account}/benefits"),
                &self.operator(),
                &json!({ "type": code, "quantity": quantity, "expires_at": expires }),
            )
            .await;
        assert_eq!(r.status(), 201, "grant {code}");
        id_of(r).await
    }
}

impl Drop for TestApp {
    /// Stops the server's workers, so they close their connections before the test ends.
    fn drop(&mut self) {
        // The stop command is sent at once; nobody waits for its completion here.
        drop(self.server.stop(false));
    }
}

/// The claims of a valid operator token, to bend in tests of the JWT rules.
pub fn operator_claims() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": "ops@example.com", "role": "operator",
        "iss": "sa-benefits", "aud": "sa-benefits-api",
        "iat": now, "exp": now + 600
    })
}

pub async fn id_of(response: Response) -> Uuid {
    let body: Value = response.json().await.expect("json");
    body["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .expect("an id")
}

/// Asserts a problem+json answer with this status and code; the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "content type");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "code in {body}");
    for field in ["type", "title", "detail"] {
        assert!(
            body[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {body}"
        );
    }
    body
}

/// The JSON body of an answer.
pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// The ledger invariant through the API: the calculation view says the benefit's figures
/// equal the ledger's sums.
pub async fn ledger_agrees(app: &TestApp, benefit: Uuid) {
    let calc = body(
        app.get(
            &format!("/api/v1/benefits/{benefit}/calculation"),
            &app.operator(),
        )
        .await,
    )
    .await;
    assert_eq!(calc["ledger_agrees"], true, "{calc}");
}
