DROP TRIGGER authorized_domains_counted ON authorized_domains;
DROP FUNCTION authorized_domains_counted();
ALTER TABLE purchasing_accounts DROP COLUMN domain_count;
