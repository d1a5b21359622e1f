-- Merge states are stored as text, not JSONB. Only the server reads and writes them, always
-- whole (it parses them itself); PostgreSQL never looks inside. As JSONB, every push made
-- PostgreSQL parse each state into its binary form (reading the batch's JSONB was 19 % of
-- its time in a push, docs/BENCHMARKS.md, "Sync") and every read print it back. The text is
-- the JSON the server wrote. The column keeps lz4 compression where the server has it (migration 000060; a type
-- change resets it).
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders', 'events', 'attendances', 'profile_cards'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state TYPE TEXT USING sync_state::text, '
                       'ALTER COLUMN sync_state SET DEFAULT ''{}''', t);
    END LOOP;
END
$$;
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders', 'events', 'attendances', 'profile_cards'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 compression is not available on this PostgreSQL server (%); sync_state keeps the default compression', SQLERRM;
END
$$;
