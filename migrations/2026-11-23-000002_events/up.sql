-- Events an organizer runs, and who attends them.

CREATE TABLE events (
    id              UUID PRIMARY KEY,
    organizer_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('apero', 'colunching', 'jelly', 'round_table', 'conference', 'meetup', 'other')),
    title           TEXT NOT NULL,
    description     TEXT,
    venue           TEXT,
    address         TEXT,
    city            TEXT,
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ,
    timezone        TEXT NOT NULL,
    capacity        INTEGER CHECK (capacity IS NULL OR capacity > 0),
    visibility      TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'unlisted', 'private')),
    attendee_list_visibility TEXT NOT NULL DEFAULT 'attendees' CHECK (attendee_list_visibility IN ('organizer', 'attendees')),
    join_code       TEXT NOT NULL,
    sync_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
CREATE INDEX events_organizer_idx ON events (organizer_id, starts_at) WHERE deleted_at IS NULL;
-- A join code identifies one open event.
CREATE UNIQUE INDEX events_join_code_key ON events (join_code) WHERE deleted_at IS NULL;

-- A user at an event, or a guest the organizer added by name and email.
CREATE TABLE attendances (
    id              UUID PRIMARY KEY,
    event_id        UUID NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id         UUID REFERENCES users (id) ON DELETE CASCADE,
    guest_name      TEXT,
    guest_email     TEXT,
    status          TEXT NOT NULL DEFAULT 'registered' CHECK (status IN ('registered', 'waitlisted', 'cancelled', 'checked_in')),
    role            TEXT NOT NULL DEFAULT 'attendee' CHECK (role IN ('organizer', 'host', 'speaker', 'attendee')),
    share_profile   BOOLEAN NOT NULL DEFAULT FALSE,
    share_profile_at TIMESTAMPTZ,
    checkin_code    TEXT NOT NULL UNIQUE,
    checked_in_at   TIMESTAMPTZ,
    sync_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    CHECK (user_id IS NOT NULL OR guest_name IS NOT NULL)
);
CREATE INDEX attendances_event_idx ON attendances (event_id, created_at);
-- A user attends an event once.
CREATE UNIQUE INDEX attendances_event_user_key ON attendances (event_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX attendances_user_idx ON attendances (user_id) WHERE user_id IS NOT NULL;
