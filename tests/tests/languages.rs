//! The guide's screens read in French carry no English label: every screen of the demo is
//! fetched with `Accept-Language: fr`, and no text of the answers is (or contains) the English
//! label of a status, kind, scope, unit, severity, role or audit action.

use domain::audit::AuditAction;
use domain::auth::{Role, Scope};
use domain::benefit::{Severity, Status};
use domain::catalog::Unit;
use domain::ledger::EntryKind;
use domain::permission::PermissionStatus;
use domain::voucher::VoucherStatus;
use domain::{Language, Localized};
use reqwest::Method;
use serde_json::Value;
use tests::TestApp;

/// The English labels that differ from their French ones.
fn english_labels() -> Vec<String> {
    let mut all: Vec<Localized> = Vec::new();
    all.extend(PermissionStatus::ALL.iter().map(|s| s.label()));
    all.extend(VoucherStatus::ALL.iter().map(|s| s.label()));
    all.extend(Status::ALL.iter().map(|s| s.label()));
    all.extend(EntryKind::ALL.iter().map(|k| k.label()));
    all.extend(Scope::ALL.iter().map(|s| s.label()));
    all.extend(Severity::ALL.iter().map(|s| s.label()));
    all.extend(Role::ALL.iter().map(|r| r.label()));
    all.extend(AuditAction::ALL.iter().map(|a| a.label()));
    all.extend(
        Unit::ALL
            .iter()
            .map(|u| Localized::new(u.label(Language::En), u.label(Language::Fr))),
    );
    all.into_iter()
        .filter(|l| l.en != l.fr)
        .map(|l| l.en)
        .collect()
}

/// The fields whose values are codes, documented as closed sets.
const CODES: &[&str] = &[
    "code",
    "type",
    "unit",
    "status",
    "kind",
    "severity",
    "role",
    "action",
    "scopes",
    "allowed_moves",
    "template",
    "direction",
    "language",
    "preferred_language",
];

/// Every text of a JSON answer, with where it is.
fn texts(value: &Value, at: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((at, s.clone())),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                texts(v, format!("{at}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                texts(v, format!("{at}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn no_french_answer_of_the_guides_screens_contains_an_english_label() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG;
    let account = api::demo::DEMO_ACCOUNT;
    let admin = app.admin(org.as_uuid());
    let benefit = api::demo::DEMO_BENEFIT;
    let training = api::demo::DEMO_TRAINING_BENEFIT;
    let software = api::demo::DEMO_SOFTWARE_BENEFIT;
    let screens = [
        "/api/v1/me".to_owned(),
        "/api/v1/benefit-types?limit=100".to_owned(),
        format!("/api/v1/accounts/{account}/benefits"),
        format!("/api/v1/accounts/{account}/benefits/other"),
        format!("/api/v1/benefits/{benefit}"),
        format!("/api/v1/benefits/{benefit}/calculation"),
        format!("/api/v1/benefits/{benefit}/transactions"),
        format!("/api/v1/benefits/{training}/transactions"),
        format!("/api/v1/benefits/{training}/vouchers"),
        format!("/api/v1/benefits/{software}/downloads"),
        format!("/api/v1/accounts/{account}/conversions"),
        format!("/api/v1/organizations/{org}/partner-permissions?limit=50"),
        format!("/api/v1/organizations/{org}/audit-events?limit=200"),
        format!("/api/v1/organizations/{org}/notifications?limit=100"),
    ];
    let english = english_labels();
    let mut checked = 0;
    for path in &screens {
        let r = app
            .request(Method::GET, path, &admin)
            .header("accept-language", "fr")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let answer: Value = r.json().await.unwrap();
        let mut found = Vec::new();
        texts(&answer, String::new(), &mut found);
        for (at, text) in found {
            // Codes (the machine's words, the same in every language), e-mail addresses and
            // links are not for reading.
            let field = at.rsplit('.').next().unwrap_or_default();
            let field = field.split('[').next().unwrap_or_default();
            // An e-mail of the outbox is written in its recipient's language, not the reader's.
            let mail = path.contains("/notifications") && ["subject", "body"].contains(&field);
            if mail || CODES.contains(&field) || at.ends_with("_url") || text.contains('@') {
                continue;
            }
            for label in &english {
                let whole_word =
                    text == *label || (label.contains(' ') && text.contains(label.as_str()));
                assert!(
                    !whole_word,
                    "{path} {at}: {text:?} holds the English label {label:?}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} texts read");
}

#[tokio::test]
async fn the_audit_log_reads_its_details_in_the_readers_language() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG;
    let admin = app.admin(org.as_uuid());
    let path = format!("/api/v1/organizations/{org}/audit-events?limit=200");
    // The upkeep at start records the lapse of the expired benefit: let it finish.
    app.run_maintenance().await;
    let read = |language: &'static str| {
        let (app, path, admin) = (&app, &path, &admin);
        async move {
            let r = app
                .request(Method::GET, path, admin)
                .header("accept-language", language)
                .send()
                .await
                .unwrap();
            let answer: Value = r.json().await.unwrap();
            answer["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap().to_owned(),
                        e["detail"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let (en, fr) = (read("en").await, read("fr").await);
    assert_eq!(en.len(), fr.len());
    let detail = |events: &[(String, String)], action: &str| {
        events
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no {action}"))
    };
    assert!(detail(&en, "voucher_assigned").contains("training days to"));
    assert!(
        detail(&fr, "voucher_assigned").contains("jours de formation pour"),
        "{}",
        detail(&fr, "voucher_assigned")
    );
    assert!(detail(&fr, "voucher_revoked").contains("Révoqué"), "{fr:?}");
    assert_ne!(
        detail(&en, "benefit_adjusted"),
        detail(&fr, "benefit_adjusted")
    );
}

/// A refusal read in French names states by their French labels (the codes are in
/// `context`), and counts take the number of the language: "1 jour de planification".
#[tokio::test]
async fn french_refusals_and_details_name_states_by_label_and_count_in_french() {
    let app = TestApp::spawn_with_demo().await;
    let org = api::demo::DEMO_ORG;
    let admin = app.admin(org.as_uuid());
    let permission = api::demo::DEMO_PERMISSION;
    let r = app
        .request(
            Method::PATCH,
            &format!("/api/v1/partner-permissions/{permission}"),
            &admin,
        )
        .header("accept-language", "fr")
        .json(&serde_json::json!({"status": "declined"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let problem: Value = r.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("« Approuvée »"), "{detail}");
    assert!(detail.contains("« Refusée »"), "{detail}");
    for code in ["approved", "declined", "removed", "customer_admin"] {
        assert!(!detail.contains(code), "{detail} holds the code {code}");
    }
    assert_eq!(problem["context"]["current_status"], "approved");

    let account = api::demo::DEMO_ACCOUNT;
    let r = app
        .request(
            Method::POST,
            &format!("/api/v1/accounts/{account}/conversions"),
            &admin,
        )
        .json(&serde_json::json!({"direction": "forward", "planning_days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .request(
            Method::GET,
            &format!("/api/v1/organizations/{org}/audit-events?limit=1"),
            &admin,
        )
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    let events: Value = r.json().await.unwrap();
    assert_eq!(events["items"][0]["action"], "conversion_made");
    assert_eq!(
        events["items"][0]["detail"],
        "3 jours de formation → 1 jour de planification"
    );
}
