-- Reminder push jobs: one row per (reminder occurrence, device), delivered by workers.

-- The instant of the last occurrence turned into push jobs; a reminder is pending while the
-- instant it fires (its due time, or its snooze when later) is after this one.
ALTER TABLE reminders ADD COLUMN pushed_for TIMESTAMPTZ;

-- Pending reminders by the instant they fire. The predicate is repeated verbatim by the
-- scheduler's query so the planner uses this index.
CREATE INDEX reminders_push_pending_idx ON reminders ((GREATEST(due_at, snoozed_until)))
    WHERE status = 'open' AND deleted_at IS NULL
      AND (pushed_for IS NULL OR pushed_for < GREATEST(due_at, snoozed_until));

CREATE TABLE push_jobs (
    id              BIGSERIAL PRIMARY KEY,
    reminder_id     UUID NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
    device_id       UUID NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    owner_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The occurrence: the instant the reminder fired (due time or end of snooze).
    fires_at        TIMESTAMPTZ NOT NULL,
    -- What the phone shows and the ids it needs, fixed when the job is queued.
    payload         JSONB NOT NULL,
    -- queued: waiting for run_at; running: leased by locked_by until locked_until;
    -- delivered; dead: gave up after the last attempt (last_error says why);
    -- dropped: not sent (device token rejected or device gone).
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'delivered', 'dead', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    run_at          TIMESTAMPTZ NOT NULL,
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    last_error      TEXT,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Nothing is pushed twice: one job per occurrence and device, whoever schedules it.
    CONSTRAINT push_jobs_occurrence_key UNIQUE (reminder_id, fires_at, device_id)
);
CREATE INDEX push_jobs_queued_idx ON push_jobs (run_at) WHERE status = 'queued';
CREATE INDEX push_jobs_running_idx ON push_jobs (locked_until) WHERE status = 'running';
CREATE INDEX push_jobs_device_id_idx ON push_jobs (device_id);
CREATE INDEX push_jobs_owner_id_idx ON push_jobs (owner_id);

-- Wakes the workers (LISTEN carnet_push) when a reminder may have become pending sooner
-- than their next poll, and when jobs are queued.
CREATE FUNCTION carnet_push_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'open' AND NEW.deleted_at IS NULL
       AND (NEW.pushed_for IS NULL OR NEW.pushed_for < GREATEST(NEW.due_at, NEW.snoozed_until)) THEN
        PERFORM pg_notify('carnet_push', '');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER reminders_push_notify
    AFTER INSERT OR UPDATE OF due_at, snoozed_until, status, deleted_at, pushed_for ON reminders
    FOR EACH ROW EXECUTE FUNCTION carnet_push_notify();
