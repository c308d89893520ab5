//! Building and running the server: one place that wires the routes, the document, the
//! middleware and the shared state, for the binary and the end-to-end tests alike.

use crate::auth::{authenticate, JwtVerifier};
use crate::cache::ListCache;
use crate::config::Config;
use crate::context::request_context;
use crate::extract::{json_config, path_config, query_config, MAX_BODY_BYTES};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::routes::{self, fallback::RouteTable};
use crate::state::{AppState, SystemClock};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use domain::catalog::builtin_catalog;
use domain::ports::CatalogRepository;
use persistence::Database;
use std::net::TcpListener;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

/// The first of SIGTERM and SIGINT (Ctrl-C).
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            tracing::error!("cannot listen for stop signals: only the server handle stops it");
            std::future::pending().await
        }
    }
}

/// How long a stop waits for requests in flight to be answered.
pub const SHUTDOWN_SECONDS: u64 = 30;

/// Routes outside `/api/v1` (for the 405 table).
const SERVICE_ROUTES: &[&str] = &[
    "/health/live",
    "/health/ready",
    "/metrics",
    "/api-docs/openapi.json",
    "/swagger-ui",
];

/// The OpenAPI document the server publishes.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .service(utoipa_actix_web::scope("/api/v1").configure(routes::api_v1))
        .split_for_parts();
    openapi::complete(&mut document);
    if let Err(e) = openapi::refine(
        &mut document,
        &crate::document::examples(),
        &crate::document::closed_sets(),
    ) {
        tracing::error!(error = %e, "the OpenAPI document could not be refined");
    }
    document
}

/// Opens the database, runs its migrations and installs the built-in catalog. Blocking.
pub fn prepare_database(config: &Config) -> anyhow::Result<Database> {
    let db = Database::open(&config.database_url, config.database_pool_size)?;
    crate::extract::limit_blocking_work(config.database_pool_size as usize);
    db.migrate()?;
    db.install_catalog(&builtin_catalog())?;
    Ok(db)
}

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    mailer: Option<crate::mailer::Mailer>,
    limiter: Arc<RateLimiter>,
}

impl Application {
    /// Prepares the database and binds the listener (port 0 picks a free port).
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let db = prepare_database(config)?;
        let listener = TcpListener::bind(&config.bind_addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind_addr))?;
        Self::build_with(config, db, listener, Arc::new(SystemClock))
    }

    /// As [`Application::build`] with a given database, listener and clock (tests move the
    /// clock forward to see what time does).
    pub fn build_with(
        config: &Config,
        db: Database,
        listener: TcpListener,
        clock: Arc<dyn domain::ports::Clock>,
    ) -> anyhow::Result<Self> {
        // One TLS stack for every client this process opens (JWK sets, SMTP): rustls over
        // aws-lc-rs, the crypto the token verification already uses. A second call is a no-op.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let port = listener.local_addr()?.port();
        let catalog_store = Arc::new(crate::state::CatalogStore::new(db.catalog()?));
        let cache = Arc::new(ListCache::new(config.kept_answers));
        let state = AppState {
            db,
            catalog_store,
            clock,
            cache,
            stopping: Arc::default(),
            webhooks: Arc::new(crate::webhooks::Webhooks::new(
                config.webhook_signing_key.clone(),
                if config.webhook_allow_private {
                    domain::events::Destinations::PrivateAllowed
                } else {
                    domain::events::Destinations::PublicOnly
                },
            )?),
            events: Arc::default(),
        };
        let verifier = web::Data::new(JwtVerifier::new(&config.jwt)?);
        let document = openapi_document();
        let routes = web::Data::new(RouteTable::new(&document, SERVICE_ROUTES));
        let metrics = web::Data::new(Metrics::default());
        let limiter = web::Data::new(RateLimiter::new(config.rate_limit_per_minute));
        let data = web::Data::new(state.clone());
        let origins = config.cors_allowed_origins.clone();
        let limiter_handle = limiter.clone().into_inner();
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .service(
                    utoipa_actix_web::scope("/api/v1")
                        .wrap(from_fn(crate::conventions::conventions))
                        .wrap(from_fn(authenticate))
                        .configure(routes::api_v1),
                )
                .split_for_parts();
            app.app_data(data.clone())
                .app_data(verifier.clone())
                .app_data(metrics.clone())
                .app_data(limiter.clone())
                .app_data(routes.clone())
                .app_data(json_config())
                .app_data(query_config())
                .app_data(path_config())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .service(openapi::swagger_ui(document.clone()))
                .route("/swagger-ui", web::get().to(openapi::swagger_ui_redirect))
                .route("/health/live", web::get().to(routes::health::live))
                .route("/health/ready", web::get().to(routes::health::ready))
                .route("/metrics", web::get().to(routes::health::metrics))
                .default_service(web::to(routes::fallback::fallback))
                // Innermost first: CORS answers preflights; request_context (outside it) gives
                // every answer, CORS refusals included, its request id and problem+json; the
                // compression of the final bytes is outermost.
                .wrap(crate::cors::cors(&origins))
                .wrap(from_fn(request_context))
                .wrap(actix_web::middleware::Compress::default())
        })
        .listen(listener)?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        // Signals are handled in `run_until_stopped`, which stops in steps (see there).
        server = server.shutdown_timeout(SHUTDOWN_SECONDS).disable_signals();
        let mailer = config
            .smtp_url
            .as_deref()
            .map(|url| crate::mailer::Mailer::from_url(url, config.smtp_ca_file.as_deref()))
            .transpose()?;
        Ok(Self {
            port,
            server: server.run(),
            mailer,
            state,
            limiter: limiter_handle,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves, with the background upkeep (and the outbox delivery when `SMTP_URL` is set)
    /// running beside it, until the server is stopped (SIGTERM, SIGINT, or its handle). Then
    /// the stop is clean: the listener no longer accepts, requests in flight are answered
    /// (for up to [`SHUTDOWN_SECONDS`]), the background work finishes its round, and the
    /// database is closed (the SQLite writer drained, every connection closed) before this
    /// returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut background = vec![
            crate::maintenance::spawn(self.state.clone(), stopped.clone()),
            crate::webhooks::spawn(self.state.webhook_worker(), stopped.clone()),
        ];
        if self.state.db.backend() == persistence::Backend::Postgres {
            background.push(crate::events::spawn_sequencer(
                self.state.db.clone(),
                stopped.clone(),
            ));
        }
        match self.mailer {
            Some(mailer) => background.push(crate::mailer::spawn(
                self.state.clone(),
                mailer,
                stopped.clone(),
            )),
            None => tracing::info!("SMTP_URL is not set: notifications stay in the outbox"),
        }
        let limiter = self.limiter.clone();
        let mut limiter_stopped = stopped;
        background.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => limiter.forget_idle(),
                    _ = limiter_stopped.changed() => return,
                }
            }
        }));
        let handle = self.server.handle();
        let stopping = self.state.stopping.clone();
        let db = self.state.db.clone();
        let signals = tokio::spawn(async move {
            let signal = stop_signal().await;
            tracing::info!(signal, "stopping: readiness turns 503, no new connections accepted, requests in flight answered");
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            // actix drops the connections queued for a worker when a graceful stop begins:
            // stop accepting first and give the workers a moment to take up what is queued.
            handle.pause().await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            // While the workers still run: their own connections end cleanly.
            db.close_readers();
            handle.stop(true).await;
        });
        let served = self.server.await;
        signals.abort();
        tracing::info!("stopping: no new requests; finishing the background work");
        let _ = stop.send(true);
        for task in background {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background task failed while stopping");
            }
        }
        let db = self.state.db.clone();
        drop(self.state);
        tokio::task::spawn_blocking(move || db.close())
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!("stopped");
        served
    }
}
