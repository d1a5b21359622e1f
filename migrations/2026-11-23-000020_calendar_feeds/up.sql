-- A user's private calendar feed: one per user, reached at an unguessable URL. Only the
-- SHA-256 digest of the URL's token is kept, so a database leak does not open the feeds.
-- Rotating replaces the digest (the old URL stops working); revoking sets revoked_at.

CREATE TABLE calendar_feeds (
    owner_id            UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash          BYTEA NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at          TIMESTAMPTZ,
    -- The entity tag of the feed as last served, and when it last changed: the feed's
    -- Last-Modified, which stays right when an item leaves the feed.
    content_etag        TEXT,
    content_changed_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX calendar_feeds_token_hash_key ON calendar_feeds (token_hash);
