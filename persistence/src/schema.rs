//! Written by hand: the column types are those both backends share through
//! `MultiConnection` (UUIDs and JSON as text, UTC timestamps without zone).

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        contact_emails -> Text,
        created_at -> Timestamp,
        preferred_language -> Text,
    }
}

diesel::table! {
    purchasing_accounts (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        agreement_number -> Nullable<Text>,
        sa_id -> Nullable<Text>,
        program_code -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    partners (id) {
        id -> Text,
        name -> Text,
        contact_email -> Nullable<Text>,
        created_at -> Timestamp,
        preferred_language -> Text,
    }
}

diesel::table! {
    benefit_types (code) {
        code -> Text,
        unit -> Text,
        position -> Integer,
        definition -> Text,
    }
}

diesel::table! {
    benefits (id) {
        id -> Text,
        account_id -> Text,
        type_code -> Text,
        unit -> Text,
        quantity -> Nullable<BigInt>,
        used -> Nullable<BigInt>,
        valid_from -> Timestamp,
        expires_at -> Timestamp,
        access_code -> Nullable<Text>,
        calculation_inputs -> Text,
        created_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    benefit_transactions (id) {
        id -> Text,
        benefit_id -> Text,
        seq -> BigInt,
        kind -> Text,
        quantity_delta -> BigInt,
        used_delta -> BigInt,
        quantity_after -> Nullable<BigInt>,
        used_after -> Nullable<BigInt>,
        actor_subject -> Text,
        actor_role -> Text,
        partner_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    authorized_domains (account_id, domain) {
        account_id -> Text,
        domain -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    partner_permissions (id) {
        id -> Text,
        organization_id -> Text,
        partner_id -> Text,
        status -> Text,
        scopes -> Text,
        expires_at -> Nullable<Timestamp>,
        requested_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::joinable!(purchasing_accounts -> organizations (organization_id));
diesel::joinable!(benefits -> purchasing_accounts (account_id));
diesel::joinable!(benefit_transactions -> benefits (benefit_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    purchasing_accounts,
    partners,
    benefit_types,
    benefits,
    benefit_transactions,
    authorized_domains,
    partner_permissions,
    vouchers,
    benefit_users,
);

diesel::table! {
    idempotency_keys (scope, idempotency_key) {
        scope -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        claim_token -> Text,
        response_status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        claimed_at -> Timestamp,
    }
}

diesel::table! {
    permission_events (permission_id, seq) {
        permission_id -> Text,
        seq -> BigInt,
        from_status -> Nullable<Text>,
        to_status -> Text,
        mover -> Text,
        subject -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Nullable<Text>,
        actor_subject -> Text,
        actor_role -> Text,
        partner_id -> Nullable<Text>,
        action -> Text,
        target_kind -> Text,
        target_id -> Text,
        detail -> Nullable<Text>,
        created_at -> Timestamp,
        position -> Nullable<BigInt>,
    }
}

diesel::table! {
    event_positions (organization_id) {
        organization_id -> Text,
        last_position -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        partner_id -> Text,
        url -> Text,
        event_types -> Text,
        salt -> Text,
        secret_check -> Text,
        created_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        webhook_id -> Text,
        organization_id -> Text,
        position -> BigInt,
        status -> Text,
        attempts -> Integer,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        organization_id -> Text,
        recipient -> Nullable<Text>,
        template -> Text,
        language -> Text,
        subject -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(permission_events -> partner_permissions (permission_id));
diesel::allow_tables_to_appear_in_same_query!(partner_permissions, permission_events,);

diesel::table! {
    vouchers (id) {
        id -> Text,
        benefit_id -> Text,
        holder_email -> Text,
        holder_name -> Text,
        course -> Text,
        days -> BigInt,
        status -> Text,
        assigned_at -> Timestamp,
        expires_at -> Timestamp,
        updated_at -> Timestamp,
        days_returned -> Nullable<Bool>,
        version -> BigInt,
    }
}

diesel::table! {
    conversions (id) {
        id -> Text,
        account_id -> Text,
        direction -> Text,
        source_type -> Text,
        target_type -> Text,
        source_benefit_id -> Text,
        target_benefit_id -> Text,
        source_days -> BigInt,
        target_days -> BigInt,
        actor_subject -> Text,
        actor_role -> Text,
        partner_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(vouchers -> benefits (benefit_id));

diesel::table! {
    benefit_users (id) {
        id -> Text,
        benefit_id -> Text,
        email -> Text,
        email_key -> Text,
        email_domain -> Text,
        display_name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    product_keys (benefit_id, software_id) {
        benefit_id -> Text,
        software_id -> Text,
        product_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(benefit_users -> benefits (benefit_id));

diesel::allow_tables_to_appear_in_same_query!(audit_events, webhook_deliveries, webhooks);
