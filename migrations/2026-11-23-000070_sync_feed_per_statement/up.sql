-- The change feed of contacts, interactions and reminders is written once per statement
-- instead of once per row. Push writes a batch's records of a table in one statement; a row
-- trigger ran, for each record, an INSERT into sync_changes and a pg_notify, about a quarter
-- of PostgreSQL's time in a push (docs/BENCHMARKS.md, "Sync"). The statement triggers read
-- the rows the statement wrote from its transition tables and write the same change rows,
-- in the same transaction, so the feed's guarantees are unchanged (migration 000030).
-- Events, attendances and profile cards keep their row triggers: their rules differ from
-- row to row and they are written a few at a time.

CREATE FUNCTION sync_owned_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], n.id, n.owner_id FROM new_rows n;
        PERFORM pg_notify('carnet_sync', owner_id::text) FROM (SELECT DISTINCT owner_id FROM new_rows) o;
    ELSIF TG_OP = 'UPDATE' THEN
        -- As the row triggers' WHEN (OLD.* IS DISTINCT FROM NEW.*): rows the statement
        -- left as they were are no change.
        INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], n.id, n.owner_id
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o IS DISTINCT FROM n;
        PERFORM pg_notify('carnet_sync', owner_id::text) FROM (
            SELECT DISTINCT n.owner_id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o IS DISTINCT FROM n) c;
    ELSE
        INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], o.id, o.owner_id FROM old_rows o;
        PERFORM pg_notify('carnet_sync', owner_id::text) FROM (SELECT DISTINCT owner_id FROM old_rows) o;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER contacts_sync_write ON contacts;
DROP TRIGGER contacts_sync_update ON contacts;
CREATE TRIGGER contacts_sync_insert AFTER INSERT ON contacts REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('contacts');
CREATE TRIGGER contacts_sync_update AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('contacts');
CREATE TRIGGER contacts_sync_delete AFTER DELETE ON contacts REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('contacts');

DROP TRIGGER interactions_sync_write ON interactions;
DROP TRIGGER interactions_sync_update ON interactions;
CREATE TRIGGER interactions_sync_insert AFTER INSERT ON interactions REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('interactions');
CREATE TRIGGER interactions_sync_update AFTER UPDATE ON interactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('interactions');
CREATE TRIGGER interactions_sync_delete AFTER DELETE ON interactions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('interactions');

DROP TRIGGER reminders_sync_write ON reminders;
DROP TRIGGER reminders_sync_update ON reminders;
CREATE TRIGGER reminders_sync_insert AFTER INSERT ON reminders REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('reminders');
CREATE TRIGGER reminders_sync_update AFTER UPDATE ON reminders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('reminders');
CREATE TRIGGER reminders_sync_delete AFTER DELETE ON reminders REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes('reminders');
