-- Merge states and pull views compressed with lz4 instead of pglz. A synced contact's row is
-- over PostgreSQL's 2 kB threshold, so both values are compressed when written and
-- decompressed when read: every push writes both, every pull reads every view. lz4 does
-- each several times faster than pglz (docs/BENCHMARKS.md, "Sync") for about the same size.
-- Values already stored keep their compression until their row is next written by sync.
--
-- lz4 needs PostgreSQL 14 or later built with it (the Debian, Ubuntu, Homebrew and Docker
-- images are); on a server without it the columns keep the default compression, with a
-- notice.
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders', 'events', 'attendances', 'profile_cards'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state SET COMPRESSION lz4, '
                       'ALTER COLUMN sync_view SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 compression is not available on this PostgreSQL server (%); sync columns keep the default compression', SQLERRM;
END
$$;
