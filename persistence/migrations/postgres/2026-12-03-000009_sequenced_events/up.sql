-- PostgreSQL numbers committed audit lines afterwards (the sequencer), so no lock is shared by
-- an organization's writes: the append-only rule lets a line's position be set, once.
CREATE OR REPLACE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.position IS NULL AND NEW.position IS NOT NULL
        AND (to_jsonb(OLD) - 'position') = (to_jsonb(NEW) - 'position') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE INDEX audit_events_unsequenced ON audit_events (created_at, id)
    WHERE position IS NULL AND organization_id IS NOT NULL;
