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

-- Each table: the column, its trigger function (the record rendered from the row's record
-- columns, listed once below) and the trigger.
DO $do$
DECLARE
    t TEXT;
    columns TEXT[];
BEGIN
    FOR t, columns IN VALUES
        ('contacts', ARRAY['name', 'organization', 'job_title', 'city', 'emails', 'phones', 'links', 'tags', 'notes', 'how_we_met', 'met_at_event_id', 'first_met_on', 'they_brought', 'i_can_offer', 'met_in_person', 'keep_in_touch_days', 'starred', 'last_interaction_at']),
        ('interactions', ARRAY['contact_id', 'kind', 'occurred_at', 'notes', 'event_id']),
        ('reminders', ARRAY['contact_id', 'event_id', 'title', 'notes', 'due_local', 'timezone', 'repeat_every', 'repeat_unit', 'snoozed_until', 'status', 'completed_at', 'due_at', 'origin']),
        ('events', ARRAY['kind', 'title', 'description', 'venue', 'address', 'city', 'starts_at', 'ends_at', 'timezone', 'capacity', 'visibility', 'attendee_list_visibility', 'organizer_id', 'join_code']),
        ('attendances', ARRAY['status', 'role', 'share_profile', 'event_id', 'user_id', 'guest_name', 'guest_email', 'checked_in_at']),
        ('profile_cards', ARRAY['headline', 'organization', 'email', 'phone', 'links', 'city'])
    LOOP
        EXECUTE format('ALTER TABLE %I ADD COLUMN sync_view TEXT', t);
        EXECUTE format($f$
            CREATE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
                   AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
                    NEW.sync_view := NULL;
                ELSIF NEW.sync_view IS NOT NULL THEN
                    NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT %s) r));
                END IF;
                RETURN NEW;
            END;
            $$ $f$, t || '_sync_view',
            (SELECT string_agg('NEW.' || quote_ident(c), ', ' ORDER BY o) FROM unnest(columns) WITH ORDINALITY AS u(c, o)));
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I()',
                       t || '_sync_view', t, t || '_sync_view');
    END LOOP;
END
$do$;
