-- The language of the e-mails each organization's administrators and each partner receive.
ALTER TABLE organizations ADD COLUMN preferred_language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE partners ADD COLUMN preferred_language TEXT NOT NULL DEFAULT 'en';
