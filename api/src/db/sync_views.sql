-- The SQL of the synced tables that follows from their declared record columns (the
-- collections in api/src/domain/synced.rs: fields, then derived columns): each table's
-- record type and the trigger function that adds the record to its pull view (migrations
-- 000050 and 000090 explain the view). Applied after the migrations every time they run
-- (`crate::db::run_migrations`), with the tables' lists in place of the VALUES below. A
-- table whose declared columns changed gets its type and function re-created; one in step
-- is left alone, so a start with nothing to change runs no DDL. A migration adding a synced
-- column therefore only adds the column.
DO $do$
DECLARE
    t TEXT;
    columns TEXT[];
    missing TEXT;
    wanted TEXT;
    have TEXT;
    body TEXT;
BEGIN
    FOR t, columns IN VALUES /* tables */ LOOP
        SELECT string_agg(c, ', ') INTO missing FROM unnest(columns) AS c
        WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                          WHERE a.attrelid = t::regclass AND a.attname = c AND NOT a.attisdropped);
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'the synced collection of table % declares columns the table lacks: % (add them in a migration)', t, missing;
        END IF;
        -- The record type: the record columns, named and typed as the table's own.
        SELECT string_agg(format('%I %s', c, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY o) INTO wanted
        FROM unnest(columns) WITH ORDINALITY AS u(c, o)
        JOIN pg_attribute a ON a.attrelid = t::regclass AND a.attname = c;
        SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum) INTO have
        FROM pg_attribute a
        WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = to_regtype(t || '_sync_record'))
          AND a.attnum > 0 AND NOT a.attisdropped;
        IF have IS DISTINCT FROM wanted THEN
            EXECUTE format('DROP TYPE IF EXISTS %I', t || '_sync_record');
            EXECUTE format('CREATE TYPE %I AS (%s)', t || '_sync_record', wanted);
        END IF;
        -- The trigger function: any write that does not also write the merge state clears
        -- the view; one that writes a view gets the record added, rendered from the row.
        body := format($f$
            BEGIN
                IF TG_OP = 'UPDATE' AND NEW.sync_state IS NOT DISTINCT FROM OLD.sync_state
                   AND NEW.sync_view IS NOT DISTINCT FROM OLD.sync_view THEN
                    NEW.sync_view := NULL;
                ELSIF NEW.sync_view IS NOT NULL THEN
                    NEW.sync_view := sync_view_with_record(NEW.sync_view, to_json(ROW(%s)::%I));
                END IF;
                RETURN NEW;
            END;
            $f$,
            (SELECT string_agg('NEW.' || quote_ident(c), ', ' ORDER BY o) FROM unnest(columns) WITH ORDINALITY AS u(c, o)),
            t || '_sync_record');
        IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = to_regproc(t || '_sync_view') AND prosrc = body) THEN
            EXECUTE format('CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS %L', t || '_sync_view', body);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = t::regclass AND tgname = t || '_sync_view') THEN
            EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION %I()',
                           t || '_sync_view', t, t || '_sync_view');
        END IF;
    END LOOP;
END
$do$;
