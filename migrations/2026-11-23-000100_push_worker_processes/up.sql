-- The processes running push workers and the providers each can send through, kept fresh
-- by a heartbeat. A provider's jobs waiting with no live process able to send them make
-- `carnet worker`'s /readyz answer 503 (see jobs::readiness).
CREATE TABLE push_worker_processes (
    id          UUID PRIMARY KEY,
    host        TEXT NOT NULL,
    providers   TEXT[] NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
