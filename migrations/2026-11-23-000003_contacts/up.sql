-- The people a user met, and each touch with them.

CREATE TABLE contacts (
    id                  UUID PRIMARY KEY,
    owner_id            UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    organization        TEXT,
    job_title           TEXT,
    city                TEXT,
    emails              TEXT[] NOT NULL DEFAULT '{}',
    phones              TEXT[] NOT NULL DEFAULT '{}',
    links               TEXT[] NOT NULL DEFAULT '{}',
    tags                TEXT[] NOT NULL DEFAULT '{}',
    notes               TEXT NOT NULL DEFAULT '',
    how_we_met          TEXT NOT NULL DEFAULT '',
    met_at_event_id     UUID REFERENCES events (id) ON DELETE SET NULL,
    first_met_on        DATE,
    they_brought        TEXT NOT NULL DEFAULT '',
    i_can_offer         TEXT NOT NULL DEFAULT '',
    met_in_person       BOOLEAN NOT NULL DEFAULT FALSE,
    keep_in_touch_days  INTEGER CHECK (keep_in_touch_days IS NULL OR keep_in_touch_days > 0),
    starred             BOOLEAN NOT NULL DEFAULT FALSE,
    last_interaction_at TIMESTAMPTZ,
    sync_state          JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at          TIMESTAMPTZ
);
-- Keyset pagination walks a user's live contacts by id (UUIDv7: creation order).
CREATE INDEX contacts_owner_id_idx ON contacts (owner_id, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_tags_idx ON contacts USING GIN (tags);
CREATE INDEX contacts_event_idx ON contacts (owner_id, met_at_event_id) WHERE met_at_event_id IS NOT NULL;

CREATE TABLE interactions (
    id              UUID PRIMARY KEY,
    owner_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id      UUID NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('call', 'sms', 'email', 'meeting', 'meal', 'message', 'social', 'other')),
    occurred_at     TIMESTAMPTZ NOT NULL,
    notes           TEXT NOT NULL DEFAULT '',
    event_id        UUID REFERENCES events (id) ON DELETE SET NULL,
    sync_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ
);
CREATE INDEX interactions_contact_idx ON interactions (owner_id, contact_id, occurred_at DESC) WHERE deleted_at IS NULL;
