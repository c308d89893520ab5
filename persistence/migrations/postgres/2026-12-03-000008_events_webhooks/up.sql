-- Events: each line of an organization's audit log gets the organization's next position,
-- taken from event_positions in the writing transaction (the row stays locked until the
-- commit, so positions commit in order).
ALTER TABLE audit_events ADD COLUMN position BIGINT;
CREATE UNIQUE INDEX audit_events_position ON audit_events (organization_id, position);
CREATE TABLE event_positions (
    organization_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id),
    last_position BIGINT NOT NULL
);

-- A partner's subscriptions. The secret is not stored: it is derived from the server's
-- signing key and the salt; secret_check (SHA-256 of the secret) shows a tampered salt.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    url TEXT NOT NULL,
    event_types TEXT NOT NULL,
    salt TEXT NOT NULL,
    secret_check TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    removed_at TIMESTAMP
);
CREATE INDEX webhooks_partner ON webhooks (partner_id, created_at);

-- One event to one subscription. Written with the event, made by one server at a time.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    webhook_id TEXT NOT NULL REFERENCES webhooks (id),
    organization_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
