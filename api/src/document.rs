//! What the published document says beyond what the handlers' annotations do: the closed
//! sets of values from the domain's own lists, and examples naming the demo's resources.

use crate::demo::{
    DEMO_ACCOUNT, DEMO_BENEFIT, DEMO_DOMAIN, DEMO_ORG, DEMO_PERMISSION, DEMO_SOFTWARE_BENEFIT,
    DEMO_TRAINING_BENEFIT, DEMO_USER, DEMO_VOUCHER,
};
use domain::audit::{AuditAction, TargetKind};
use domain::auth::{Role, Scope};
use domain::benefit::{AlertCode, Severity, Status};
use domain::catalog::Unit;
use domain::conversion::Direction;
use domain::events::{DeliveryStatus as WebhookDeliveryStatus, EventType};
use domain::ledger::EntryKind;
use domain::notification::{DeliveryStatus, Message};
use domain::permission::{decided_statuses, PermissionStatus};
use domain::voucher::VoucherStatus;
use domain::Language;
use openapi::ClosedSet;

/// The examples of the OpenAPI document's path parameters: the demo's resources.
pub fn examples() -> openapi::Examples {
    openapi::Examples {
        by_name: vec![
            ("org_id", DEMO_ORG.to_string()),
            ("account_id", DEMO_ACCOUNT.to_string()),
            ("benefit_id", DEMO_BENEFIT.to_string()),
            ("user_id", DEMO_USER.to_string()),
            ("voucher_id", DEMO_VOUCHER.to_string()),
            ("permission_id", DEMO_PERMISSION.to_string()),
            ("partner_id", crate::demo::DEMO_PARTNER.to_string()),
            ("domain", DEMO_DOMAIN.to_owned()),
            ("webhook_id", crate::demo::DEMO_WEBHOOK.to_string()),
        ],
        by_path: vec![
            (
                "/api/v1/benefits/{benefit_id}/vouchers",
                "benefit_id",
                DEMO_TRAINING_BENEFIT.to_string(),
            ),
            (
                "/api/v1/benefits/{benefit_id}/downloads",
                "benefit_id",
                DEMO_SOFTWARE_BENEFIT.to_string(),
            ),
            (
                "/api/v1/benefits/{benefit_id}/product-keys",
                "benefit_id",
                DEMO_SOFTWARE_BENEFIT.to_string(),
            ),
        ],
    }
}

/// Every closed set of values the API answers or accepts, with the fields that carry it.
pub fn closed_sets() -> Vec<ClosedSet> {
    fn codes<T: Copy>(all: &[T], code: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| code(*v)).collect()
    }
    vec![
        ClosedSet {
            name: "BenefitStatus",
            description: "Whether a benefit is in force now.",
            values: codes(&Status::ALL, Status::code),
            used_by: vec![("BenefitSummary", "status")],
        },
        ClosedSet {
            name: "AlertCode",
            description: "What an alert is about.",
            values: codes(&AlertCode::ALL, AlertCode::code),
            used_by: vec![("AlertView", "code")],
        },
        ClosedSet {
            name: "Severity",
            description: "How urgent an alert is; `action`: required before the benefit can be used.",
            values: codes(&Severity::ALL, Severity::code),
            used_by: vec![("AlertView", "severity")],
        },
        ClosedSet {
            name: "Unit",
            description: "What a benefit is counted in; `unmetered` has no quantity.",
            values: codes(&Unit::ALL, Unit::code),
            used_by: vec![
                ("BenefitSummary", "unit"),
                ("BenefitTypeView", "unit"),
                ("NewBenefitType", "unit"),
                ("CalculationView", "unit"),
            ],
        },
        ClosedSet {
            name: "Direction",
            description: "`forward`: training days → planning days; `reverse`: back, only what was converted.",
            values: codes(&Direction::ALL, Direction::code),
            used_by: vec![("QuoteView", "direction")],
        },
        ClosedSet {
            name: "Role",
            description: "Who acts: the customer's administrator, its licensing partner, or an operator.",
            values: codes(&Role::ALL, Role::code),
            used_by: vec![("ActorView", "role"), ("MeView", "role"), ("EventActor", "role")],
        },
        ClosedSet {
            name: "EntryKind",
            description: "What a ledger entry records.",
            values: codes(&EntryKind::ALL, EntryKind::code),
            used_by: vec![("TransactionView", "kind"), ("TotalView", "kind")],
        },
        ClosedSet {
            name: "PermissionStatus",
            description: "Where a partner permission stands, as of now.",
            values: codes(&PermissionStatus::ALL, PermissionStatus::code),
            used_by: vec![("PermissionView", "status"), ("PermissionView", "allowed_moves")],
        },
        ClosedSet {
            name: "PermissionMove",
            description: "A decision on a partner permission.",
            // The moves people make in domain::permission::MOVES, so the document accepts
            // exactly what a decision accepts.
            values: {
                let mut moves = codes(&decided_statuses(), PermissionStatus::code);
                moves.sort_unstable();
                moves
            },
            used_by: vec![("MoveBody", "status")],
        },
        ClosedSet {
            name: "Scope",
            description: "What a partner may do for the organization once approved.",
            values: codes(&Scope::ALL, Scope::code),
            used_by: vec![("PermissionView", "scopes"), ("RequestBody", "scopes")],
        },
        ClosedSet {
            name: "VoucherStatus",
            description: "Where a training voucher stands, as of now.",
            values: codes(&VoucherStatus::ALL, VoucherStatus::code),
            used_by: vec![("VoucherView", "status")],
        },
        ClosedSet {
            name: "AuditAction",
            description: "What was done.",
            values: codes(AuditAction::ALL, AuditAction::code),
            used_by: vec![("AuditEventView", "action"), ("EventView", "action")],
        },
        ClosedSet {
            name: "TargetKind",
            description: "What a change was made to.",
            values: codes(&TargetKind::ALL, TargetKind::code),
            used_by: vec![("TargetView", "kind"), ("EventResource", "kind")],
        },
        ClosedSet {
            name: "NotificationTemplate",
            description: "Which e-mail a notification is.",
            values: Message::TEMPLATES.to_vec(),
            used_by: vec![("NotificationView", "template")],
        },
        ClosedSet {
            name: "DeliveryStatus",
            description: "`pending` (not sent yet, or waiting for a retry), `sent`, `failed` (gave up), `no_recipient` (nobody to send it to: kept, never sent).",
            values: codes(&DeliveryStatus::ALL, DeliveryStatus::code),
            used_by: vec![("NotificationView", "status")],
        },
        ClosedSet {
            name: "EventType",
            description: "What kind of resource an event is about.",
            values: codes(EventType::ALL, EventType::code),
            used_by: vec![
                ("EventView", "type"),
                ("NewWebhook", "event_types"),
                ("WebhookView", "event_types"),
            ],
        },
        ClosedSet {
            name: "WebhookDeliveryStatus",
            description: "`pending` (not made yet, or waiting for a retry), `delivered` (the receiver answered 2xx), `failed` (every attempt of the retry window failed), `skipped` (the permission or the subscription had ended).",
            values: codes(&WebhookDeliveryStatus::ALL, WebhookDeliveryStatus::code),
            used_by: vec![("DeliveryView", "status")],
        },
        ClosedSet {
            name: "Language",
            description: "A language of the service's texts.",
            values: codes(&Language::ALL, Language::code),
            used_by: vec![
                ("NotificationView", "language"),
                ("OrganizationView", "preferred_language"),
                ("PartnerView", "preferred_language"),
                ("CreateOrganization", "preferred_language"),
                ("UpdateOrganization", "preferred_language"),
                ("CreatePartner", "preferred_language"),
                ("UpdatePartner", "preferred_language"),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn served() -> serde_json::Value {
        serde_json::to_value(crate::openapi_document()).unwrap()
    }

    fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    all.push((method.clone(), path.clone(), operation.clone()));
                }
            }
        }
        all
    }

    #[test]
    fn every_operation_has_its_own_descriptive_name() {
        let doc = served();
        let mut seen = HashSet::new();
        for (method, path, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                openapi::OPERATION_IDS
                    .iter()
                    .any(|(m, p, i)| *m == method && *p == path && *i == id),
                "{method} {path} is not named in openapi::OPERATION_IDS (it is {id:?})"
            );
            assert!(seen.insert(id.to_owned()), "{id} twice");
        }
        assert_eq!(
            seen.len(),
            openapi::OPERATION_IDS.len(),
            "a name for a missing operation"
        );
    }

    #[test]
    fn every_operation_takes_accept_language_and_every_path_parameter_has_an_example() {
        let doc = served();
        for (method, path, operation) in operations(&doc) {
            let parameters = operation["parameters"].as_array().unwrap();
            assert!(
                parameters
                    .iter()
                    .any(|p| p["name"] == "Accept-Language" && p["in"] == "header"),
                "{method} {path}: Accept-Language"
            );
            for p in parameters.iter().filter(|p| p["in"] == "path") {
                assert!(
                    p["example"].is_string(),
                    "{method} {path}: {} has no example",
                    p["name"]
                );
            }
        }
        assert_eq!(doc["servers"][0]["url"], "/");
    }

    #[test]
    fn every_closed_set_is_an_enum_on_the_fields_that_carry_it() {
        let doc = served();
        for set in closed_sets() {
            let schema = &doc["components"]["schemas"][set.name];
            let values: Vec<&str> = schema["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{} is not an enum", set.name))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(values, set.values, "{}", set.name);
            let unique: HashSet<_> = values.iter().collect();
            assert_eq!(unique.len(), values.len(), "{}: a value twice", set.name);
            let reference = format!("#/components/schemas/{}", set.name);
            for (schema, property) in &set.used_by {
                let field =
                    doc["components"]["schemas"][*schema]["properties"][*property].to_string();
                assert!(
                    field.contains(&reference),
                    "{schema}.{property} does not use {}: {field}",
                    set.name
                );
            }
        }
    }
}
