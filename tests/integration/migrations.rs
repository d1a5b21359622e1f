use carnet_tests::TestDatabase;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_migrations::MigrationHarness;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Oid {
    #[diesel(sql_type = BigInt)]
    oid: i64,
}

#[derive(QueryableByName)]
struct View {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    sync_view: Option<String>,
}

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    table_name: String,
}

fn tables(conn: &mut PgConnection) -> Vec<String> {
    let mut names: Vec<String> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .load::<Table>(conn)
    .unwrap()
    .into_iter()
    .map(|t| t.table_name)
    .collect();
    names.sort();
    names
}

#[test]
fn migrations_run_up_down_and_up_again() {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    let migrated = tables(&mut conn);
    assert!(migrated.contains(&"contacts".to_string()));
    assert!(migrated.contains(&"reminders".to_string()));

    conn.revert_all_migrations(carnet::db::MIGRATIONS).unwrap();
    assert!(tables(&mut conn).is_empty(), "down.sql left tables behind");

    carnet::db::run_migrations(&mut conn, &carnet::domain::synced::synced_tables()).unwrap();
    assert_eq!(tables(&mut conn), migrated);
    let pending: Count = diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(
        pending.n as usize,
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
            .unwrap()
            .count()
    );
}

#[test]
fn deleting_a_user_cascades_to_everything_it_owns() {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    diesel::sql_query(
        "WITH u AS (INSERT INTO users (id, email, password_hash, display_name) VALUES (gen_random_uuid(), 'a@example.org', 'x', 'A') RETURNING id),
              c AS (INSERT INTO contacts (id, owner_id, name) SELECT gen_random_uuid(), id, 'C' FROM u RETURNING id, owner_id),
              i AS (INSERT INTO interactions (id, owner_id, contact_id, kind, occurred_at) SELECT gen_random_uuid(), owner_id, id, 'call', now() FROM c RETURNING id),
              r AS (INSERT INTO reminders (id, owner_id, title, due_local, timezone, due_at) SELECT gen_random_uuid(), id, 'R', now(), 'UTC', now() FROM u RETURNING id),
              d AS (INSERT INTO devices (id, owner_id, platform, name) SELECT gen_random_uuid(), id, 'ios', 'P' FROM u RETURNING id),
              e AS (INSERT INTO events (id, organizer_id, kind, title, starts_at, timezone, join_code) SELECT gen_random_uuid(), id, 'apero', 'E', now(), 'UTC', 'ABCDEF' FROM u RETURNING id),
              s AS (INSERT INTO sessions (id, user_id) SELECT gen_random_uuid(), id FROM u RETURNING id)
         SELECT 1",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("DELETE FROM users").execute(&mut conn).unwrap();
    for table in [
        "contacts",
        "interactions",
        "reminders",
        "devices",
        "events",
        "sessions",
        "profile_cards",
    ] {
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(count.n, 0, "{table} kept rows of a deleted user");
    }
}

fn record_type(conn: &mut PgConnection) -> i64 {
    diesel::sql_query("SELECT to_regtype('contacts_sync_record')::oid::bigint AS oid")
        .get_result::<Oid>(conn)
        .unwrap()
        .oid
}

/// The record a contact's pull view carries once sync writes a view for it.
fn rendered_record(conn: &mut PgConnection) -> serde_json::Value {
    let view: View = diesel::sql_query(
        "WITH u AS (INSERT INTO users (id, email, password_hash, display_name) \
                    VALUES (gen_random_uuid(), 'v@example.org', 'x', 'V') RETURNING id) \
         INSERT INTO contacts (id, owner_id, name, starred, sync_view) \
         SELECT gen_random_uuid(), id, 'Awa', true, '{\"stamps\":{}}' FROM u RETURNING sync_view",
    )
    .get_result(conn)
    .unwrap();
    let view: serde_json::Value = serde_json::from_str(&view.sync_view.unwrap()).unwrap();
    view["record"].clone()
}

#[test]
fn the_synced_tables_record_types_and_view_triggers_follow_their_declaration() {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    let synced = carnet::domain::synced::synced_tables();
    // In step: running the migrations again changes nothing (no DDL on a plain start).
    let before = record_type(&mut conn);
    carnet::db::run_migrations(&mut conn, &synced).unwrap();
    assert_eq!(record_type(&mut conn), before);

    // Out of step (as after a release that declares a new synced column): the type and the
    // trigger are brought back to the declaration.
    diesel::sql_query("ALTER TYPE contacts_sync_record DROP ATTRIBUTE starred")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(
        "CREATE OR REPLACE FUNCTION contacts_sync_view() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RETURN NEW; END; $$",
    )
    .execute(&mut conn)
    .unwrap();
    carnet::db::run_migrations(&mut conn, &synced).unwrap();
    assert_ne!(record_type(&mut conn), before);
    let record = rendered_record(&mut conn);
    let declared: Vec<&str> = carnet::domain::synced::CONTACTS.record_columns().collect();
    let mut rendered: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    let mut declared = declared.clone();
    rendered.sort_unstable();
    declared.sort_unstable();
    assert_eq!(rendered, declared, "{record}");
    assert_eq!(record["starred"], true);
    assert_eq!(record["name"], "Awa");
}

/// A collection declaring a column its table lacks.
struct Misdeclared;

impl carnet::db::sync::SyncedTable for Misdeclared {
    fn name(&self) -> &'static str {
        "contacts"
    }
    fn table(&self) -> &'static str {
        "contacts"
    }
    fn key(&self) -> &'static str {
        "id"
    }
    fn owner_column(&self) -> Option<&'static str> {
        Some("owner_id")
    }
    fn deletable(&self) -> bool {
        true
    }
    fn record_columns(&self) -> Vec<&'static str> {
        vec!["name", "nickname"]
    }
    fn meta_columns(&self) -> &'static [&'static str] {
        &["id", "owner_id", "updated_at", "deleted_at"]
    }
}

#[test]
fn a_declared_column_the_table_lacks_stops_the_start_with_its_name() {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    let error = carnet::db::run_migrations(&mut conn, &[&Misdeclared]).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("declares columns the table lacks: nickname"),
        "{message}"
    );
}
