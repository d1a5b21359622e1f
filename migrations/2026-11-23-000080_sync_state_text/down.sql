DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders', 'events', 'attendances', 'profile_cards'] LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state DROP DEFAULT', t);
        EXECUTE format('ALTER TABLE %I ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb, '
                       'ALTER COLUMN sync_state SET DEFAULT ''{}''::jsonb', t);
    END LOOP;
END
$$;
