-- Back to the triggers and view layout of migration 000050.
CREATE OR REPLACE FUNCTION sync_view_with_record(view TEXT, record JSON) RETURNS TEXT
    LANGUAGE sql IMMUTABLE AS $$ SELECT left(view, -1) || ',"record":' || record::text || '}' $$;

DO $do$
DECLARE
    t TEXT;
    columns TEXT[];
BEGIN
    -- The record columns of each table, in order, are those of its composite type.
    FOR t, columns IN
        SELECT left(ty.typname, -length('_sync_record')),
               array_agg(a.attname::text ORDER BY a.attnum)
        FROM pg_type ty JOIN pg_attribute a ON a.attrelid = ty.typrelid AND a.attnum > 0
        WHERE ty.typname IN ('contacts_sync_record', 'interactions_sync_record',
                             'reminders_sync_record', 'events_sync_record',
                             'attendances_sync_record', 'profile_cards_sync_record')
          AND ty.typnamespace = current_schema()::regnamespace
        GROUP BY ty.typname
    LOOP
        EXECUTE format($f$
            CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
                   AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
                    NEW.sync_view := NULL;
                ELSIF NEW.sync_view IS NOT NULL THEN
                    NEW.sync_view := sync_view_with_record(NEW.sync_view, (SELECT to_json(r) FROM (SELECT %s) r));
                END IF;
                RETURN NEW;
            END;
            $$ $f$, t || '_sync_view',
            (SELECT string_agg('NEW.' || quote_ident(c), ', ' ORDER BY o) FROM unnest(columns) WITH ORDINALITY AS u(c, o)));
        EXECUTE format('DROP TYPE %I', t || '_sync_record');
    END LOOP;
END
$do$;
