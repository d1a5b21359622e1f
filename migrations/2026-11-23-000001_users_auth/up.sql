-- Accounts, their sessions (refresh-token families), devices and profile cards.

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    locale          TEXT NOT NULL DEFAULT 'en',
    region          TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Emails are compared case-insensitively: one account per address whatever its case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- A session is one login: the family of refresh tokens rotated from it.
-- Access tokens name their session, so revoking it ends them at once.
CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Refresh tokens are stored as SHA-256 digests; a used one stays to detect reuse.
CREATE TABLE refresh_tokens (
    token_hash      BYTEA PRIMARY KEY,
    session_id      UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

-- Failed logins, counted per account email and per client address for throttling.
CREATE TABLE login_failures (
    id              BIGSERIAL PRIMARY KEY,
    email_lower     TEXT NOT NULL,
    client_ip       TEXT NOT NULL,
    failed_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email_lower, failed_at);
CREATE INDEX login_failures_ip_idx ON login_failures (client_ip, failed_at);

CREATE TABLE devices (
    id              UUID PRIMARY KEY,
    owner_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform        TEXT NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    name            TEXT NOT NULL,
    push_provider   TEXT CHECK (push_provider IN ('fcm', 'apns', 'webhook')),
    push_token      TEXT,
    app_version     TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    deactivated_at  TIMESTAMPTZ,
    -- The last sync mutation id applied for this device (sync protocol).
    last_mutation_id BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX devices_owner_id_idx ON devices (owner_id);

-- What a user shows others at events. One per user.
CREATE TABLE profile_cards (
    owner_id        UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    headline        TEXT,
    organization    TEXT,
    email           TEXT,
    phone           TEXT,
    links           TEXT[] NOT NULL DEFAULT '{}',
    city            TEXT,
    -- Per-field sync stamps and fields from newer app versions (sync protocol).
    sync_state      JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
