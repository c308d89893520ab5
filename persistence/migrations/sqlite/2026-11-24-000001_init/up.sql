CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    contact_emails TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX organizations_created ON organizations (created_at, id);

CREATE TABLE purchasing_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    agreement_number TEXT,
    sa_id TEXT,
    program_code TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX purchasing_accounts_org ON purchasing_accounts (organization_id, created_at, id);

CREATE TABLE partners (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    contact_email TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE benefit_types (
    code TEXT PRIMARY KEY NOT NULL,
    unit TEXT NOT NULL,
    position INTEGER NOT NULL,
    definition TEXT NOT NULL
);

CREATE TABLE benefits (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES purchasing_accounts (id),
    type_code TEXT NOT NULL REFERENCES benefit_types (code),
    unit TEXT NOT NULL,
    quantity BIGINT,
    used BIGINT,
    valid_from TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    access_code TEXT,
    calculation_inputs TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    CHECK ((quantity IS NULL AND used IS NULL) OR (used >= 0 AND used <= quantity))
);
CREATE INDEX benefits_account ON benefits (account_id, type_code);

CREATE TABLE benefit_transactions (
    id TEXT PRIMARY KEY NOT NULL,
    benefit_id TEXT NOT NULL REFERENCES benefits (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    quantity_delta BIGINT NOT NULL,
    used_delta BIGINT NOT NULL,
    quantity_after BIGINT,
    used_after BIGINT,
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    partner_id TEXT,
    reference TEXT,
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (benefit_id, seq)
);

CREATE TRIGGER benefit_transactions_no_update BEFORE UPDATE ON benefit_transactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER benefit_transactions_no_delete BEFORE DELETE ON benefit_transactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

CREATE TABLE authorized_domains (
    account_id TEXT NOT NULL REFERENCES purchasing_accounts (id),
    domain TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, domain)
);

CREATE TABLE partner_permissions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    partner_id TEXT NOT NULL REFERENCES partners (id),
    status TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP,
    requested_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX partner_permissions_lookup ON partner_permissions (partner_id, organization_id, status);
CREATE INDEX partner_permissions_org ON partner_permissions (organization_id, requested_at, id);
