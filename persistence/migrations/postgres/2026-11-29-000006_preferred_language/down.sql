ALTER TABLE partners DROP COLUMN preferred_language;
ALTER TABLE organizations DROP COLUMN preferred_language;
