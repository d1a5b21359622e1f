-- Offline-first sync: the change feed, the conflict history and the tombstone horizon.
--
-- Every write to a synced table appends a change row from a trigger, so no writer can
-- bypass the feed. A change row is stamped with the id of the transaction that wrote it
-- (pg_current_xact_id); pull reads in (xid, seq) order and only moves its cursor past rows
-- whose transaction is below the snapshot's xmin, so a transaction that commits late can
-- never be skipped.

CREATE TABLE sync_changes (
    xid         BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    seq         BIGSERIAL,
    collection  TEXT NOT NULL,
    record_id   UUID NOT NULL,
    -- Who sees the change: one user (owned records, scope changes), or every member of an
    -- event (events, attendances).
    user_id     UUID,
    event_id    UUID,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (xid, seq),
    CHECK (user_id IS NOT NULL OR event_id IS NOT NULL)
);
CREATE INDEX sync_changes_user_idx ON sync_changes (user_id, xid, seq) WHERE user_id IS NOT NULL;
CREATE INDEX sync_changes_event_idx ON sync_changes (event_id, xid, seq) WHERE event_id IS NOT NULL;
CREATE INDEX sync_changes_record_idx ON sync_changes (record_id, collection);
CREATE INDEX sync_changes_changed_at_idx ON sync_changes (changed_at);

-- The oldest cursor position still valid: changes before it were compacted by the
-- tombstone retention job, so an older cursor must resync.
CREATE TABLE sync_horizon (
    id          BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    xid         BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    collected_at TIMESTAMPTZ
);
INSERT INTO sync_horizon (id, xid, seq) VALUES (TRUE, 0, 0);

-- Every automatic choice the merge made, for the user to see and undo.
CREATE TABLE sync_conflicts (
    id          BIGSERIAL PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    collection  TEXT NOT NULL,
    record_id   UUID NOT NULL,
    field       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('overwrite', 'text_overlap', 'delete_edit')),
    kept        JSONB NOT NULL,
    lost        JSONB NOT NULL,
    lost_stamp  TEXT NOT NULL,
    lost_device TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX sync_conflicts_user_idx ON sync_conflicts (user_id, id DESC);

-- Contacts, interactions, reminders: seen by their owner.
CREATE FUNCTION sync_owned_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_changes (collection, record_id, user_id) VALUES (TG_ARGV[0], r.id, r.owner_id);
    PERFORM pg_notify('carnet_sync', r.owner_id::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION sync_profile_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_changes (collection, record_id, user_id) VALUES ('profile', r.owner_id, r.owner_id);
    PERFORM pg_notify('carnet_sync', r.owner_id::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION sync_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_changes (collection, record_id, event_id, user_id)
        VALUES ('events', r.id, r.id, r.organizer_id);
    PERFORM pg_notify('carnet_sync', r.id::text);
    PERFORM pg_notify('carnet_sync', r.organizer_id::text);
    RETURN NULL;
END;
$$;

-- An attendance is seen by the event's members. When a user's own attendance starts, ends
-- or changes status, their scope changes: the event and all its attendances are queued
-- for them, so pull sends what entered the scope and tombstones what left it.
CREATE FUNCTION sync_attendance_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO sync_changes (collection, record_id, event_id) VALUES ('attendances', r.id, r.event_id);
    PERFORM pg_notify('carnet_sync', r.event_id::text);
    IF r.user_id IS NOT NULL AND (TG_OP <> 'UPDATE'
            OR OLD.status IS DISTINCT FROM NEW.status
            OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
            OR OLD.user_id IS DISTINCT FROM NEW.user_id) THEN
        INSERT INTO sync_changes (collection, record_id, user_id) VALUES ('events', r.event_id, r.user_id);
        INSERT INTO sync_changes (collection, record_id, user_id)
            SELECT 'attendances', a.id, r.user_id FROM attendances a WHERE a.event_id = r.event_id;
        PERFORM pg_notify('carnet_sync', r.user_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER contacts_sync_write AFTER INSERT OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('contacts');
CREATE TRIGGER contacts_sync_update AFTER UPDATE ON contacts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('contacts');
CREATE TRIGGER interactions_sync_write AFTER INSERT OR DELETE ON interactions
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('interactions');
CREATE TRIGGER interactions_sync_update AFTER UPDATE ON interactions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('interactions');
CREATE TRIGGER reminders_sync_write AFTER INSERT OR DELETE ON reminders
    FOR EACH ROW EXECUTE FUNCTION sync_owned_change('reminders');
CREATE TRIGGER reminders_sync_update AFTER UPDATE ON reminders
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_owned_change('reminders');
CREATE TRIGGER profile_cards_sync_write AFTER INSERT OR DELETE ON profile_cards
    FOR EACH ROW EXECUTE FUNCTION sync_profile_change();
CREATE TRIGGER profile_cards_sync_update AFTER UPDATE ON profile_cards
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_profile_change();
CREATE TRIGGER events_sync_write AFTER INSERT OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION sync_event_change();
CREATE TRIGGER events_sync_update AFTER UPDATE ON events
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_event_change();
CREATE TRIGGER attendances_sync_write AFTER INSERT OR DELETE ON attendances
    FOR EACH ROW EXECUTE FUNCTION sync_attendance_change();
CREATE TRIGGER attendances_sync_update AFTER UPDATE ON attendances
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION sync_attendance_change();

-- Records written before the feed existed start in it.
INSERT INTO sync_changes (collection, record_id, user_id) SELECT 'contacts', id, owner_id FROM contacts;
INSERT INTO sync_changes (collection, record_id, user_id) SELECT 'interactions', id, owner_id FROM interactions;
INSERT INTO sync_changes (collection, record_id, user_id) SELECT 'reminders', id, owner_id FROM reminders;
INSERT INTO sync_changes (collection, record_id, user_id) SELECT 'profile', owner_id, owner_id FROM profile_cards;
INSERT INTO sync_changes (collection, record_id, event_id, user_id) SELECT 'events', id, id, organizer_id FROM events;
INSERT INTO sync_changes (collection, record_id, event_id) SELECT 'attendances', id, event_id FROM attendances;
