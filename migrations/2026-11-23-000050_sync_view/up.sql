-- The pull view of a synced row: what pull sends of it (its record, per-field stamps,
-- whether it is deleted, and the fields only newer app versions know) as JSON text. Sync
-- writes the stamps and extra fields with the merge state; the trigger below adds the
-- record, rendered from the row's columns as pull renders them. Any other write to the row
-- (REST handlers, imports, organizer flows, push jobs: they change columns, never the merge
-- state or the view) clears the view. So a row with a view is in step with its columns, and
-- pull sends the view without building the row's JSON or reading its merge state; a row
-- without one is reconciled from its merge state, as before.
--
-- The record columns of each table are those of its collection in api/src/sync/mod.rs
-- (fields, then derived columns); the test comparing pulls from views and from merge
-- states fails if the two lists part.

-- The view `view` (a JSON object) with `record` added.
CREATE FUNCTION sync_view_with_record(view TEXT, record JSON) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$ SELECT left(view, -1) || ',"record":' || record::text || '}' $$;

ALTER TABLE contacts ADD COLUMN sync_view TEXT;
CREATE FUNCTION contacts_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.name, NEW.organization, NEW.job_title, NEW.city, NEW.emails, NEW.phones,
            NEW.links, NEW.tags, NEW.notes, NEW.how_we_met, NEW.met_at_event_id,
            NEW.first_met_on, NEW.they_brought, NEW.i_can_offer, NEW.met_in_person,
            NEW.keep_in_touch_days, NEW.starred, NEW.last_interaction_at) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER contacts_sync_view BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_sync_view();

ALTER TABLE interactions ADD COLUMN sync_view TEXT;
CREATE FUNCTION interactions_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.contact_id, NEW.kind, NEW.occurred_at, NEW.notes, NEW.event_id) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER interactions_sync_view BEFORE INSERT OR UPDATE ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_sync_view();

ALTER TABLE reminders ADD COLUMN sync_view TEXT;
CREATE FUNCTION reminders_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.contact_id, NEW.event_id, NEW.title, NEW.notes, NEW.due_local, NEW.timezone,
            NEW.repeat_every, NEW.repeat_unit, NEW.snoozed_until, NEW.status, NEW.completed_at,
            NEW.due_at, NEW.origin) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER reminders_sync_view BEFORE INSERT OR UPDATE ON reminders
    FOR EACH ROW EXECUTE FUNCTION reminders_sync_view();

ALTER TABLE events ADD COLUMN sync_view TEXT;
CREATE FUNCTION events_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.kind, NEW.title, NEW.description, NEW.venue, NEW.address, NEW.city,
            NEW.starts_at, NEW.ends_at, NEW.timezone, NEW.capacity, NEW.visibility,
            NEW.attendee_list_visibility, NEW.organizer_id, NEW.join_code) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER events_sync_view BEFORE INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_sync_view();

ALTER TABLE attendances ADD COLUMN sync_view TEXT;
CREATE FUNCTION attendances_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.status, NEW.role, NEW.share_profile, NEW.event_id, NEW.user_id, NEW.guest_name,
            NEW.guest_email, NEW.checked_in_at) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER attendances_sync_view BEFORE INSERT OR UPDATE ON attendances
    FOR EACH ROW EXECUTE FUNCTION attendances_sync_view();

ALTER TABLE profile_cards ADD COLUMN sync_view TEXT;
CREATE FUNCTION profile_cards_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
       AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
        NEW.sync_view := NULL;
    ELSIF NEW.sync_view IS NOT NULL THEN
        NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT
            NEW.headline, NEW.organization, NEW.email, NEW.phone, NEW.links, NEW.city) r));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER profile_cards_sync_view BEFORE INSERT OR UPDATE ON profile_cards
    FOR EACH ROW EXECUTE FUNCTION profile_cards_sync_view();
