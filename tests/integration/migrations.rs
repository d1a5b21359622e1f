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

    carnet::db::run_migrations(&mut conn).unwrap();
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
