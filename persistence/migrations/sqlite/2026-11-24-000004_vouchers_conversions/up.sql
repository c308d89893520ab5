-- Training vouchers: days of a training_vouchers benefit put on one person for a course.
CREATE TABLE vouchers (
    id TEXT PRIMARY KEY NOT NULL,
    benefit_id TEXT NOT NULL REFERENCES benefits (id),
    holder_email TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    course TEXT NOT NULL,
    days BIGINT NOT NULL CHECK (days BETWEEN 1 AND 5),
    status TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    days_returned BOOLEAN,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX vouchers_benefit ON vouchers (benefit_id, assigned_at, id);
CREATE INDEX vouchers_due ON vouchers (status, expires_at);

-- Conversions between two types at a ratio; each is linked to its two ledger rows by
-- the rows' reference "conversion:<id>".
CREATE TABLE conversions (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES purchasing_accounts (id),
    direction TEXT NOT NULL,
    source_type TEXT NOT NULL,
    target_type TEXT NOT NULL,
    source_benefit_id TEXT NOT NULL REFERENCES benefits (id),
    target_benefit_id TEXT NOT NULL REFERENCES benefits (id),
    source_days BIGINT NOT NULL,
    target_days BIGINT NOT NULL CHECK (target_days >= 1),
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    partner_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX conversions_account ON conversions (account_id, created_at, id);
