-- One pending or approved permission per partner and organization, whatever the races.
CREATE UNIQUE INDEX partner_permissions_one_live ON partner_permissions (partner_id, organization_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX partner_permissions_partner ON partner_permissions (partner_id, requested_at, id);

-- Every move of a permission: from, to, by whom, when.
CREATE TABLE permission_events (
    permission_id TEXT NOT NULL REFERENCES partner_permissions (id),
    seq BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    mover TEXT NOT NULL,
    subject TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (permission_id, seq)
);

-- Who did what, on whose behalf. Append-only like the ledger.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT REFERENCES organizations (id),
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    partner_id TEXT,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    detail TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (organization_id, created_at, id);

-- The outbox: written with the change that causes it, delivered by a worker.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    recipient TEXT NOT NULL,
    template TEXT NOT NULL,
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX notifications_org ON notifications (organization_id, created_at, id);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
