-- A notification with nobody to send it to is kept with status 'no_recipient' and no address.
-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt.
CREATE TABLE notifications_new (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    recipient TEXT,
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
INSERT INTO notifications_new SELECT id, organization_id, recipient, template, language, subject,
    body, status, attempts, last_error, next_attempt_at, created_at, sent_at FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_org ON notifications (organization_id, created_at, id);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
