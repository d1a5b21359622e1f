DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders', 'events', 'attendances', 'profile_cards'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state SET COMPRESSION default, '
                       'ALTER COLUMN sync_view SET COMPRESSION default', t);
    END LOOP;
EXCEPTION WHEN syntax_error THEN
    NULL;
END
$$;
