-- The sequencer finds the lines to number from where its last run left off.
-- Before, it walked a partial index of the unnumbered lines from its start. Each numbered line
-- leaves its entry there, dead, until a VACUUM, so every run walked every line numbered since
-- the last one (the heap visited for the recent ones): its cost grew with the history.
-- Each line now records the transaction that wrote it (written_by). A run takes the lines
-- written at or after the low-water mark that the previous run left in event_sequencer:
-- the oldest transaction still running when that run read (its snapshot's xmin). Every
-- transaction before it had ended, so what it wrote was visible to that run and numbered.
ALTER TABLE audit_events ADD COLUMN written_by xid8;
ALTER TABLE audit_events ALTER COLUMN written_by SET DEFAULT pg_current_xact_id();
DROP TRIGGER audit_events_append_only ON audit_events;
-- Lines written before this migration and not numbered yet: found from the first mark.
UPDATE audit_events SET written_by = '0'::xid8
    WHERE position IS NULL AND organization_id IS NOT NULL;
DROP INDEX audit_events_unsequenced;
CREATE INDEX audit_events_unsequenced ON audit_events (written_by)
    WHERE position IS NULL AND organization_id IS NOT NULL;
CREATE TABLE event_sequencer (
    one BOOLEAN PRIMARY KEY NOT NULL DEFAULT TRUE CHECK (one),
    low_water xid8 NOT NULL
);
INSERT INTO event_sequencer (low_water) VALUES ('0'::xid8);

-- The audit log stays append-only, and the sequencer still sets each line's position once,
-- but the rule is now said by the columns an UPDATE names instead of by comparing both
-- versions of every line in plpgsql (to_jsonb twice per line numbered: a quarter of the
-- sequencer's time). PostgreSQL checks a column list and a WHEN condition before calling
-- anything, so numbering a line calls no function at all.
-- Every column but position is listed: a column added to audit_events must be added to
-- audit_events_no_update (persistence/tests/ledger_is_append_only.rs tries each column).
CREATE OR REPLACE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OF id, organization_id, actor_subject,
    actor_role, partner_id, action, target_kind, target_id, detail, created_at, written_by
    ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_events_numbered_once BEFORE UPDATE OF position ON audit_events
FOR EACH ROW WHEN (OLD.position IS NOT NULL OR NEW.position IS NULL)
EXECUTE FUNCTION audit_is_append_only();
