//! `sa-benefits`: serve (default), migrate, seed-demo, openapi, token.

use anyhow::Context;
use api::auth::TokenIssuer;
use api::state::SystemClock;
use api::{demo, Application, Config};
use clap::{Parser, Subcommand};
use domain::auth::{Principal, PrincipalKind, Role};
use domain::ids::{OrganizationId, PartnerId};
use domain::ports::{CatalogRepository, Clock};
use std::io::Write;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "sa-benefits",
    version,
    about = "SA Benefits API: Software Assurance benefits of volume-licensing customers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run migrations, fill an empty database with demo data, and serve (the default).
    Serve {
        /// Print ready-to-paste demo tokens even when the demo was filled in an earlier run
        /// (never when tokens are minted elsewhere: a public key or a JWK set).
        #[arg(long)]
        print_tokens: bool,
    },
    /// Run the database migrations and exit.
    Migrate,
    /// Fill an empty database with the demo data.
    SeedDemo,
    /// Print the OpenAPI document.
    Openapi,
    /// Mint a token (needs JWT_SECRET or the local secret, not a public key).
    Token {
        /// customer_admin, partner or operator.
        #[arg(long)]
        role: String,
        /// The organization (customer_admin).
        #[arg(long)]
        org: Option<Uuid>,
        /// The partner (partner).
        #[arg(long)]
        partner: Option<Uuid>,
        /// Who the token is for.
        #[arg(long, default_value = "cli")]
        sub: String,
        /// Lifetime: seconds, or with a unit: 30m, 12h, 7d.
        #[arg(long, default_value = "12h")]
        ttl: String,
    },
}

/// `--ttl`: seconds, or with a unit (30m, 12h, 7d), at most `JWT_MAX_TTL` (the server would
/// refuse a longer-lived token).
fn parse_ttl(raw: &str, max_seconds: u64) -> anyhow::Result<chrono::Duration> {
    let seconds = api::config::parse_duration_seconds(raw)
        .with_context(|| format!("--ttl {raw:?}: expected e.g. 3600, 30m, 12h, 7d"))?;
    anyhow::ensure!(
        seconds <= max_seconds,
        "--ttl {raw} is longer than JWT_MAX_TTL ({max_seconds} s): the server would refuse the token"
    );
    Ok(chrono::Duration::seconds(seconds as i64))
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.write_all(b"\n")?;
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    api::telemetry::init();
    match cli.command.unwrap_or(Command::Serve {
        print_tokens: false,
    }) {
        Command::Openapi => {
            let document = api::openapi_document();
            out(&document.to_pretty_json()?)?;
        }
        Command::Migrate => {
            let config = Config::from_env()?;
            api::prepare_database(&config)?;
            tracing::info!("migrations are up to date");
        }
        Command::SeedDemo => {
            let config = Config::from_env()?;
            let db = api::prepare_database(&config)?;
            let catalog = db.catalog()?;
            let webhooks = api::webhooks::Webhooks::new(
                config.webhook_signing_key,
                domain::events::Destinations::PublicOnly,
            )?;
            if demo::seed(&db, &catalog, &webhooks, SystemClock.now())? {
                tracing::info!("demo data added");
            } else {
                tracing::warn!("the database already holds organizations: demo data not added");
            }
        }
        Command::Token {
            role,
            org,
            partner,
            sub,
            ttl,
        } => {
            let config = Config::from_env()?;
            let issuer = TokenIssuer::new(&config.jwt)?;
            let kind = match Role::parse(&role) {
                Some(Role::CustomerAdmin) => PrincipalKind::CustomerAdmin(OrganizationId(
                    org.context("--org is required for customer_admin")?,
                )),
                Some(Role::Partner) => PrincipalKind::Partner(PartnerId(
                    partner.context("--partner is required for partner")?,
                )),
                Some(Role::Operator) => PrincipalKind::Operator,
                None => anyhow::bail!("--role must be customer_admin, partner or operator"),
            };
            let token = issuer.mint(
                &Principal { subject: sub, kind },
                SystemClock.now(),
                parse_ttl(&ttl, config.jwt.max_ttl_seconds)?,
            )?;
            out(&token)?;
        }
        Command::Serve { print_tokens } => serve(print_tokens).await?,
    }
    Ok(())
}

async fn serve(print_tokens: bool) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let app = Application::build(&config)?;
    let state = app.state().clone();
    let now = state.now();
    let filled = demo::seed(&state.db, &state.catalog(), &state.webhooks, now)?;
    if filled {
        tracing::info!("empty database: demo data added");
    }
    let base = format!(
        "http://{}",
        config.bind_addr.replace("0.0.0.0", "127.0.0.1")
    );
    let mut banner = format!("\nSA Benefits is serving on {base}\n  Swagger UI: {base}/swagger-ui/\n  OpenAPI:    {base}/api-docs/openapi.json\n");
    // Tokens are live credentials: printed only for a demo made just now (or when asked),
    // never for a database that may hold real customers, never when minted elsewhere.
    match TokenIssuer::new(&config.jwt) {
        Ok(_) if !(filled || print_tokens) => banner.push_str(
            "\nDemo tokens are printed only when the demo is filled in this run: use `sa-benefits serve --print-tokens` or `sa-benefits token --role …`.\n",
        ),
        Ok(issuer) => {
            let tokens = demo::tokens(&issuer, now, chrono::Duration::hours(12))?;
            banner.push_str(&format!(
                "\nDemo tokens (12 h), paste one into Authorize:\n  customer admin of Contoso Ltd (org {}):\n    {}\n  partner Fabrikam Licensing Services (partner {}):\n    {}\n  operator:\n    {}\n\nDemo account: {}\n",
                demo::DEMO_ORG,
                tokens.customer_admin,
                demo::DEMO_PARTNER,
                tokens.partner,
                tokens.operator,
                demo::DEMO_ACCOUNT,
            ));
        }
        Err(_) => banner.push_str(
            "\nTokens are minted by your identity provider (public key or JWK set): none printed.\n",
        ),
    }
    out(&banner)?;
    // The server's own handles are the last ones: the stop closes the database.
    drop(state);
    app.run_until_stopped().await?;
    Ok(())
}
