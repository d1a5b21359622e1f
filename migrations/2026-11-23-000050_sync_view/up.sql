-- The pull view of a synced row's merge state: its per-field stamps, whether it is deleted
-- and the fields only newer app versions know, as the JSON text pull sends. Sync writes it
-- with the merge state; any other write to the row (REST handlers, imports, organizer
-- flows, push jobs: they change columns, never the merge state or the view) clears it. So a
-- row with a view is in step with its columns, and pull renders it without reading the
-- merge state; a row without one is reconciled in full, as before.

CREATE FUNCTION sync_view_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE contacts ADD COLUMN sync_view TEXT;
ALTER TABLE interactions ADD COLUMN sync_view TEXT;
ALTER TABLE reminders ADD COLUMN sync_view TEXT;
ALTER TABLE events ADD COLUMN sync_view TEXT;
ALTER TABLE attendances ADD COLUMN sync_view TEXT;
ALTER TABLE profile_cards ADD COLUMN sync_view TEXT;

CREATE TRIGGER contacts_sync_view BEFORE UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
CREATE TRIGGER interactions_sync_view BEFORE UPDATE ON interactions
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
CREATE TRIGGER reminders_sync_view BEFORE UPDATE ON reminders
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
CREATE TRIGGER events_sync_view BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
CREATE TRIGGER attendances_sync_view BEFORE UPDATE ON attendances
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
CREATE TRIGGER profile_cards_sync_view BEFORE UPDATE ON profile_cards
    FOR EACH ROW EXECUTE FUNCTION sync_view_guard();
