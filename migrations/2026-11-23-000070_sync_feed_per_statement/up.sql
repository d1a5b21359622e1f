-- The change feed of contacts, interactions and reminders is written once per statement
-- instead of once per row. Push writes a batch's records of a table in one statement; a row
-- trigger ran, for each record, an INSERT into sync_changes and a pg_notify, about a quarter
-- of PostgreSQL's time in a push (docs/BENCHMARKS.md, "Sync"). The statement triggers read
-- the rows the statement wrote from its transition tables and write the same change rows,
-- in the same transaction, so the feed's guarantees are unchanged (migration 000030).
-- Events, attendances and profile cards keep their row triggers: their rules differ from
-- row to row and they are written a few at a time.

CREATE FUNCTION sync_owned_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owners UUID[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH changed AS (
            INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], n.id, n.owner_id FROM new_rows n
            RETURNING user_id)
        SELECT array_agg(DISTINCT user_id) INTO owners FROM changed;
    ELSIF TG_OP = 'UPDATE' THEN
        -- As the row triggers' WHEN (OLD.* IS DISTINCT FROM NEW.*): rows the statement
        -- left as they were are no change.
        WITH changed AS (
            INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], n.id, n.owner_id
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE o IS DISTINCT FROM n
            RETURNING user_id)
        SELECT array_agg(DISTINCT user_id) INTO owners FROM changed;
    ELSE
        WITH changed AS (
            INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT TG_ARGV[0], o.id, o.owner_id FROM old_rows o
            RETURNING user_id)
        SELECT array_agg(DISTINCT user_id) INTO owners FROM changed;
    END IF;
    -- Each owner whose records changed, once.
    PERFORM pg_notify('carnet_sync', owner::text) FROM unnest(owners) AS owner;
    RETURN NULL;
END;
$$;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_write', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes(%L)', t || '_sync_insert', t, t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes(%L)', t || '_sync_update', t, t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION sync_owned_changes(%L)', t || '_sync_delete', t, t);
    END LOOP;
END
$$;
