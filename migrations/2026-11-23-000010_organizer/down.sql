DROP TABLE join_code_failures;

DROP INDEX contacts_exchange_key;
ALTER TABLE contacts DROP COLUMN source_user_id;

DROP TRIGGER attendances_track_waitlist ON attendances;
DROP FUNCTION attendances_track_waitlist();
DROP INDEX attendances_waitlist_idx;
ALTER TABLE attendances DROP COLUMN waitlisted_at;
