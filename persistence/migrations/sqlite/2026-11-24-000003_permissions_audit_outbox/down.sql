DROP TABLE notifications;
DROP TABLE audit_events;
DROP TABLE permission_events;
DROP INDEX partner_permissions_partner;
DROP INDEX partner_permissions_one_live;
