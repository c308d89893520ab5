-- The benefit lists show how many e-mail domains the account has authorized. Counting them in
-- the list's statement made PostgreSQL lock, open and scan authorized_domains on every read:
-- pgbench running the statement alone did 10.6k tps with the count, 12.7–13.1k without
-- (docs/PERFORMANCE.md). The account now carries its count, kept by a trigger in the same
-- transaction as each domain's insert or delete, so it is exactly as current as the rows.
-- (No code moves a domain to another account; the UPDATE branch keeps the count right if
-- someone does it by hand.)
-- (SQLite counts in its own statement: its reads do not lock, and it has no such cost.)
ALTER TABLE purchasing_accounts ADD COLUMN domain_count BIGINT NOT NULL DEFAULT 0;
UPDATE purchasing_accounts a
    SET domain_count = (SELECT count(*) FROM authorized_domains d WHERE d.account_id = a.id);
CREATE FUNCTION authorized_domains_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE purchasing_accounts SET domain_count = domain_count - 1 WHERE id = OLD.account_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE purchasing_accounts SET domain_count = domain_count + 1 WHERE id = NEW.account_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER authorized_domains_counted AFTER INSERT OR DELETE OR UPDATE OF account_id
    ON authorized_domains FOR EACH ROW EXECUTE FUNCTION authorized_domains_counted();
