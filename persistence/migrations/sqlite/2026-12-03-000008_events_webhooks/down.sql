DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE event_positions;
DROP INDEX audit_events_position;
ALTER TABLE audit_events DROP COLUMN position;
