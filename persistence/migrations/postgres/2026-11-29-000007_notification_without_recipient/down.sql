DELETE FROM notifications WHERE recipient IS NULL;
ALTER TABLE notifications ALTER COLUMN recipient SET NOT NULL;
