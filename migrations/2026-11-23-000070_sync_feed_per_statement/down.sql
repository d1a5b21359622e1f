DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'interactions', 'reminders'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_insert', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_update', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_sync_delete', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION sync_owned_change(%L)', t || '_sync_write', t, t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) '
                       'EXECUTE FUNCTION sync_owned_change(%L)', t || '_sync_update', t, t);
    END LOOP;
END
$$;

DROP FUNCTION sync_owned_changes();
