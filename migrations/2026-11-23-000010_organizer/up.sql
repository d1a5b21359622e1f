-- Organizer flows: waitlist order, contact exchange, join-code guessing limits.

-- When each attendance joined the waitlist: the first in line is promoted when a place frees.
-- A trigger keeps it, so every path that writes a status (join, guests, imports, sync)
-- keeps the order right.
ALTER TABLE attendances ADD COLUMN waitlisted_at TIMESTAMPTZ;
UPDATE attendances SET waitlisted_at = created_at WHERE status = 'waitlisted';
CREATE INDEX attendances_waitlist_idx ON attendances (event_id, waitlisted_at, id)
    WHERE status = 'waitlisted' AND deleted_at IS NULL;

CREATE FUNCTION attendances_track_waitlist() RETURNS trigger AS $$
BEGIN
    IF NEW.status = 'waitlisted' THEN
        IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'waitlisted' OR NEW.waitlisted_at IS NULL THEN
            NEW.waitlisted_at := now();
        END IF;
    ELSE
        NEW.waitlisted_at := NULL;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER attendances_track_waitlist
    BEFORE INSERT OR UPDATE OF status ON attendances
    FOR EACH ROW EXECUTE FUNCTION attendances_track_waitlist();

-- A contact made by exchanging cards at an event names the user it came from, so a second
-- exchange updates that contact instead of adding another.
ALTER TABLE contacts ADD COLUMN source_user_id UUID REFERENCES users (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX contacts_exchange_key ON contacts (owner_id, met_at_event_id, source_user_id)
    WHERE source_user_id IS NOT NULL AND met_at_event_id IS NOT NULL AND deleted_at IS NULL;

-- Wrong join codes, counted per user and per client address to slow down guessing.
CREATE TABLE join_code_failures (
    id              BIGSERIAL PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_ip       TEXT NOT NULL,
    failed_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX join_code_failures_user_idx ON join_code_failures (user_id, failed_at);
CREATE INDEX join_code_failures_ip_idx ON join_code_failures (client_ip, failed_at);
