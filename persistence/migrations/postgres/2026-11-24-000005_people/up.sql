-- The people who receive a benefit; one address once per benefit (case-insensitive).
CREATE TABLE benefit_users (
    id TEXT PRIMARY KEY NOT NULL,
    benefit_id TEXT NOT NULL REFERENCES benefits (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    email_domain TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (benefit_id, email_key)
);
CREATE INDEX benefit_users_list ON benefit_users (benefit_id, created_at, id);
CREATE INDEX benefit_users_domain ON benefit_users (email_domain, benefit_id);

-- Product keys of the software benefits, issued once per benefit and package.
CREATE TABLE product_keys (
    benefit_id TEXT NOT NULL REFERENCES benefits (id),
    software_id TEXT NOT NULL,
    product_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (benefit_id, software_id)
);
