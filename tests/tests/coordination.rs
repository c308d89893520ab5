//! PostgreSQL: the listener that tells servers of each other's commits uses TLS as
//! `DATABASE_URL` asks, reconnects by itself, and says how it is doing in `/health/ready` and
//! `/metrics`. (On SQLite one server owns the file: `single_server`.)

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

/// The test's own side channel to PostgreSQL (plain text: not the server under test).
async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("TEST_DATABASE_URL").expect("PostgreSQL");
    let url = match url.split_once('?') {
        Some((base, _)) => format!("{base}?sslmode=disable"),
        None => url,
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    client
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
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'sa-benefits-listener'",
                &[&db],
            )
            .await
            .unwrap();
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
