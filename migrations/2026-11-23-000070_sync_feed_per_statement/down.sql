DROP TRIGGER reminders_sync_delete ON reminders;
DROP TRIGGER reminders_sync_update ON reminders;
DROP TRIGGER reminders_sync_insert ON reminders;
CREATE TRIGGER reminders_sync_write AFTER INSERT OR DELETE ON reminders
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('reminders');
CREATE TRIGGER reminders_sync_update AFTER UPDATE ON reminders
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('reminders');

DROP TRIGGER interactions_sync_delete ON interactions;
DROP TRIGGER interactions_sync_update ON interactions;
DROP TRIGGER interactions_sync_insert ON interactions;
CREATE TRIGGER interactions_sync_write AFTER INSERT OR DELETE ON interactions
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('interactions');
CREATE TRIGGER interactions_sync_update AFTER UPDATE ON interactions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('interactions');

DROP TRIGGER contacts_sync_delete ON contacts;
DROP TRIGGER contacts_sync_update ON contacts;
DROP TRIGGER contacts_sync_insert ON contacts;
CREATE TRIGGER contacts_sync_write AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('contacts');
CREATE TRIGGER contacts_sync_update AFTER UPDATE ON contacts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('contacts');

DROP FUNCTION sync_owned_changes();
