-- Back to the triggers and view layout of migration 000050.
CREATE OR REPLACE FUNCTION sync_view_with_record(view TEXT, record JSON) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$ SELECT left(view, -1) || ',"record":' || record::text || '}' $$;

CREATE OR REPLACE FUNCTION contacts_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION interactions_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION reminders_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION events_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION attendances_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION profile_cards_sync_view() RETURNS trigger LANGUAGE plpgsql AS $$
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

DROP TYPE contacts_sync_record, interactions_sync_record, reminders_sync_record,
    events_sync_record, attendances_sync_record, profile_cards_sync_record;
