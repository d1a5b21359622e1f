-- Merge states are stored as text, not JSONB. Only the server reads and writes them, always
-- whole (it parses them itself); PostgreSQL never looks inside. As JSONB, every push made
-- PostgreSQL parse each state into its binary form and every read print it back, about a
-- fifth of its time in a push (docs/BENCHMARKS.md, "Sync"). The text is the JSON the server
-- wrote. The column keeps lz4 compression where the server has it (migration 000060; a type
-- change resets it).
ALTER TABLE contacts ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
ALTER TABLE interactions ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
ALTER TABLE reminders ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
ALTER TABLE events ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
ALTER TABLE attendances ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
ALTER TABLE profile_cards ALTER COLUMN sync_state TYPE TEXT USING sync_state::text,
    ALTER COLUMN sync_state SET DEFAULT '{}';
DO $$
BEGIN
    ALTER TABLE contacts ALTER COLUMN sync_state SET COMPRESSION lz4;
    ALTER TABLE interactions ALTER COLUMN sync_state SET COMPRESSION lz4;
    ALTER TABLE reminders ALTER COLUMN sync_state SET COMPRESSION lz4;
    ALTER TABLE events ALTER COLUMN sync_state SET COMPRESSION lz4;
    ALTER TABLE attendances ALTER COLUMN sync_state SET COMPRESSION lz4;
    ALTER TABLE profile_cards ALTER COLUMN sync_state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 compression is not available on this PostgreSQL server (%); sync_state keeps the default compression', SQLERRM;
END
$$;
