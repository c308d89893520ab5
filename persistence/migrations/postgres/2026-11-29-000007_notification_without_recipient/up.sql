-- A notification with nobody to send it to is kept with status 'no_recipient' and no address.
ALTER TABLE notifications ALTER COLUMN recipient DROP NOT NULL;
