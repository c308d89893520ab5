DROP TRIGGER audit_events_numbered_once ON audit_events;
DROP TRIGGER audit_events_no_update ON audit_events;
DROP TRIGGER audit_events_no_delete ON audit_events;
DROP TABLE event_sequencer;
DROP INDEX audit_events_unsequenced;
ALTER TABLE audit_events DROP COLUMN written_by;
CREATE INDEX audit_events_unsequenced ON audit_events (created_at, id)
    WHERE position IS NULL AND organization_id IS NOT NULL;
CREATE OR REPLACE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
        AND (to_jsonb(OLD) - 'position') = (to_jsonb(NEW) - 'position') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
