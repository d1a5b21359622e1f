DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['profile_cards', 'attendances', 'events', 'reminders', 'interactions', 'contacts'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_view', t);
        EXECUTE format('DROP FUNCTION %I()', t || '_sync_view');
        EXECUTE format('ALTER TABLE %I DROP COLUMN sync_view', t);
    END LOOP;
END
$$;
DROP FUNCTION sync_view_with_record(TEXT, JSON);
