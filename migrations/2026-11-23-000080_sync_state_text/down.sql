ALTER TABLE contacts ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE contacts ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
ALTER TABLE interactions ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE interactions ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
ALTER TABLE reminders ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE reminders ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
ALTER TABLE events ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE events ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
ALTER TABLE attendances ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE attendances ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
ALTER TABLE profile_cards ALTER COLUMN sync_state DROP DEFAULT;
ALTER TABLE profile_cards ALTER COLUMN sync_state TYPE JSONB USING sync_state::jsonb,
    ALTER COLUMN sync_state SET DEFAULT '{}'::jsonb;
