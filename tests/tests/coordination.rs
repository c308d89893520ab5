//! PostgreSQL: the listener that tells servers of each other's commits uses TLS as
//! `DATABASE_URL` asks, reconnects by itself, and says how it is doing in `/health/ready` and
//! `/metrics`; and "your benefits" is read on each worker's own connection, which is made
//! again when it is lost. (On SQLite one server owns the file: `single_server`.)

use serde_json::Value;
use tests::TestApp;

async fn ready(app: &TestApp) -> Value {
    serde_json::from_str(&app.service_text("/health/ready").await).unwrap()
}

async fn metrics(app: &TestApp) -> String {
    app.service_text("/metrics").await
}

async fn until_coordinated(app: &TestApp) {
    for _ in 0..200 {
        if ready(app).await["coordination"] == "coordinated" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "the listener did not listen within 10 s: {}",
        ready(app).await
    );
}

/// The test's own side channel to the PostgreSQL server (its admin database).
async fn admin() -> tokio_postgres::Client {
    tests::side_channel(&std::env::var("TEST_DATABASE_URL").expect("PostgreSQL")).await
}

/// Ends the backends of the connections named `application` to `db`.
async fn cut(admin: &tokio_postgres::Client, db: &str, application: &str) {
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
            &[&db, &application],
        )
        .await
        .unwrap();
}

fn database_name(app: &TestApp) -> String {
    let url = &app.config.database_url;
    url.rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_listener_reconnects_and_says_so() {
    let app = TestApp::spawn().await;
    if tests::backend_name() != "postgres" {
        assert_eq!(ready(&app).await["coordination"], "single_server");
        assert!(!metrics(&app).await.contains("pg_listener_up"));
        return;
    }
    until_coordinated(&app).await;
    let text = metrics(&app).await;
    assert!(text.contains("pg_listener_up 1"), "{text}");
    assert!(text.contains("pg_listener_reconnections_total 0"), "{text}");

    let admin = admin().await;
    let db = database_name(&app);
    // TLS unless the URL turns it off (CI runs this suite with sslmode=require; the local
    // server has ssl = on, so libpq's default `prefer` encrypts too).
    let wants_tls = !std::env::var("TEST_DATABASE_URL")
        .unwrap()
        .contains("sslmode=disable");
    let rows = admin
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'sa-benefits-listener'",
            &[&db],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one listener");
    assert_eq!(rows[0].get::<_, bool>(0), wants_tls, "the listener's TLS");
    if wants_tls {
        let plain = admin
            .query(
                "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.datname = $1 AND NOT s.ssl",
                &[&db],
            )
            .await
            .unwrap();
        assert_eq!(plain[0].get::<_, i64>(0), 0, "no connection in plain text");
    }

    for round in 1..=2 {
        cut(&admin, &db, "sa-benefits-listener").await;
        // Gone, then back by itself.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        until_coordinated(&app).await;
        let mut counted = false;
        for _ in 0..100 {
            if metrics(&app)
                .await
                .contains(&format!("pg_listener_reconnections_total {round}"))
            {
                counted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            counted,
            "reconnection {round} counted: {}",
            metrics(&app).await
        );
    }
}

/// The readers' connections of `app`'s database: whether each uses TLS.
async fn readers(admin: &tokio_postgres::Client, db: &str) -> Vec<bool> {
    admin
        .query(
            "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'sa-benefits-reader'",
            &[&db],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Whether the readers' connections of `db` are all gone within 2 s.
async fn no_readers_within_2s(admin: &tokio_postgres::Client, db: &str) -> bool {
    for _ in 0..100 {
        if readers(admin, db).await.is_empty() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

/// What "your benefits" shows of `benefit`: its used quantity.
async fn used_in_list(app: &TestApp, account: uuid::Uuid, benefit: uuid::Uuid, token: &str) -> i64 {
    let response = app
        .get(&format!("/api/v1/accounts/{account}/benefits"), token)
        .await;
    assert_eq!(response.status(), 200, "the list");
    let list: Value = response.json().await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == benefit.to_string())
        .map(|b| b["used"].as_i64().unwrap())
        .expect("the benefit is listed")
}

/// PostgreSQL reads "your benefits" on each worker's own connection (TLS as asked), sees every
/// commit made through the pool, and when that connection is cut the read still answers
/// (through the pool) and the worker connects again by itself; once closed (the server
/// stopping), the connections leave and reads go through the pool. A partner's read, whose
/// permission is looked up, gives the same answer.
#[tokio::test]
async fn lists_are_read_on_each_workers_connection_and_survive_its_loss() {
    // Kept answers off: every read goes to the database.
    let app = TestApp::spawn_configured(|c| c.kept_answers = 0).await;
    let org = app.create_org("Contoso").await;
    let account = app.create_account(org, "Main").await;
    let benefit = app.grant(account, "planning_services", Some(10)).await;
    let admin_token = app.admin(org);
    let partner = app.create_partner("Fabrikam").await;
    app.permit(org, partner, None).await;
    let partner_token = app.partner(partner);
    for used in 1..=3 {
        let consumed = app
            .post(
                &format!("/api/v1/benefits/{benefit}/consumptions"),
                &admin_token,
                &serde_json::json!({ "quantity": 1 }),
            )
            .await;
        assert_eq!(consumed.status(), 201);
        assert_eq!(
            used_in_list(&app, account, benefit, &admin_token).await,
            used
        );
        assert_eq!(
            used_in_list(&app, account, benefit, &partner_token).await,
            used
        );
    }
    let missing = app
        .get(
            &format!("/api/v1/accounts/{}/benefits", uuid::Uuid::new_v4()),
            &admin_token,
        )
        .await;
    assert_eq!(missing.status(), 404, "no such account");
    if tests::backend_name() != "postgres" {
        return;
    }
    let admin = admin().await;
    let db = database_name(&app);
    let wants_tls = !std::env::var("TEST_DATABASE_URL")
        .unwrap()
        .contains("sslmode=disable");
    let seen = readers(&admin, &db).await;
    assert!(
        !seen.is_empty(),
        "the list was read on a reader's connection"
    );
    assert!(seen.iter().all(|ssl| *ssl == wants_tls), "the readers' TLS");

    cut(&admin, &db, "sa-benefits-reader").await;
    assert!(
        no_readers_within_2s(&admin, &db).await,
        "the readers' connections were cut"
    );
    // Every worker that read finds its connection gone once, answers through the pool, and
    // connects again on its next read.
    for _ in 0..20 {
        assert_eq!(used_in_list(&app, account, benefit, &admin_token).await, 3);
    }
    assert!(
        !readers(&admin, &db).await.is_empty(),
        "a worker connected again"
    );

    // As the server begins to stop, the readers close (PostgreSQL sees them leave, not cut
    // off) and the lists are read through the pool.
    app.state.db.close_readers();
    assert!(
        no_readers_within_2s(&admin, &db).await,
        "the readers closed while the workers still run"
    );
    for _ in 0..5 {
        assert_eq!(used_in_list(&app, account, benefit, &admin_token).await, 3);
    }
    assert!(
        readers(&admin, &db).await.is_empty(),
        "no reader connects after closing"
    );
}
