-- Follow-ups. The due time is kept as the user gave it (local date-time and IANA zone);
-- due_at is the instant it denotes, recomputed from them on every change.

CREATE TABLE reminders (
    id              UUID PRIMARY KEY,
    owner_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id      UUID REFERENCES contacts (id) ON DELETE CASCADE,
    event_id        UUID REFERENCES events (id) ON DELETE SET NULL,
    title           TEXT NOT NULL,
    notes           TEXT NOT NULL DEFAULT '',
    due_local       TIMESTAMP NOT NULL,
    timezone        TEXT NOT NULL,
    due_at          TIMESTAMPTZ NOT NULL,
    repeat_every    INTEGER CHECK (repeat_every IS NULL OR repeat_every > 0),
    repeat_unit     TEXT CHECK (repeat_unit IN ('days', 'weeks', 'months')),
    snoozed_until   TIMESTAMPTZ,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    completed_at    TIMESTAMPTZ,
    -- 'keep_in_touch' reminders are kept by a contact's cadence; one open per contact.
    origin          TEXT NOT NULL DEFAULT 'manual' CHECK (origin IN ('manual', 'keep_in_touch')),
    sync_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ,
    CHECK ((repeat_every IS NULL) = (repeat_unit IS NULL))
);
CREATE INDEX reminders_owner_due_idx ON reminders (owner_id, due_at) WHERE deleted_at IS NULL;
CREATE INDEX reminders_open_due_idx ON reminders (due_at) WHERE status = 'open' AND deleted_at IS NULL;
CREATE UNIQUE INDEX reminders_keep_in_touch_key ON reminders (contact_id)
    WHERE origin = 'keep_in_touch' AND status = 'open' AND deleted_at IS NULL;
