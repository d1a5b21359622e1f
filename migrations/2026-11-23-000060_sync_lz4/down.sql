DO $$
BEGIN
    ALTER TABLE contacts ALTER COLUMN sync_state SET COMPRESSION default,
                         ALTER COLUMN sync_view SET COMPRESSION default;
    ALTER TABLE interactions ALTER COLUMN sync_state SET COMPRESSION default,
                             ALTER COLUMN sync_view SET COMPRESSION default;
    ALTER TABLE reminders ALTER COLUMN sync_state SET COMPRESSION default,
                          ALTER COLUMN sync_view SET COMPRESSION default;
    ALTER TABLE events ALTER COLUMN sync_state SET COMPRESSION default,
                       ALTER COLUMN sync_view SET COMPRESSION default;
    ALTER TABLE attendances ALTER COLUMN sync_state SET COMPRESSION default,
                            ALTER COLUMN sync_view SET COMPRESSION default;
    ALTER TABLE profile_cards ALTER COLUMN sync_state SET COMPRESSION default,
                              ALTER COLUMN sync_view SET COMPRESSION default;
EXCEPTION WHEN syntax_error THEN
    NULL;
END
$$;
