//! The test support itself: a run leaves nothing on the PostgreSQL server, and does not
//! pull the template from under a concurrent run.

use std::process::Command;

use carnet_tests::{template, TestDatabase};
use diesel::prelude::*;
use diesel::sql_types::Text;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result::<Count>(conn)
        .unwrap()
        .n
        == 1
}

/// Run by [`a_finished_run_leaves_no_database_and_spares_a_concurrent_runs_template`] in a
/// child process: a test that leaks its database and names it and its template.
#[test]
#[ignore = "run in a child process by the clean-up test"]
fn leak_a_database_for_the_clean_up_test() {
    let db = TestDatabase::new();
    println!("LEAKED {}", db.name);
    println!("TEMPLATE {}", template());
    std::mem::forget(db);
}

#[test]
fn a_finished_run_leaves_no_database_and_spares_a_concurrent_runs_template() {
    // This run (the parent) holds its template, as a concurrent run would.
    let parent = TestDatabase::new();
    let shared_template = template().to_string();

    let salt = uuid::Uuid::new_v4().simple().to_string();
    let run = |salt: Option<&str>| {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "support::leak_a_database_for_the_clean_up_test",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        match salt {
            Some(salt) => child.env("CARNET_TEST_TEMPLATE_SALT", salt),
            None => child.env_remove("CARNET_TEST_TEMPLATE_SALT"),
        };
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "child run failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let find = |tag: &str| {
            stdout
                .lines()
                .find_map(|l| l.split_once(tag).map(|(_, rest)| rest))
                .unwrap_or_else(|| panic!("no {tag} in {stdout}"))
                .trim()
                .to_string()
        };
        (find("LEAKED "), find("TEMPLATE "))
    };
    let mut admin = parent.connect();

    // A run with a template of its own drops it, and the database it leaked, at exit.
    let (leaked, own_template) = run(Some(&salt));
    assert_ne!(own_template, shared_template);
    assert!(!database_exists(&mut admin, &leaked), "{leaked} was left behind");
    assert!(
        !database_exists(&mut admin, &own_template),
        "{own_template} was left behind"
    );

    // A run sharing this run's template leaves it: this run still clones from it.
    let (leaked, template_seen) = run(None);
    assert_eq!(template_seen, shared_template);
    assert!(!database_exists(&mut admin, &leaked), "{leaked} was left behind");
    assert!(database_exists(&mut admin, &shared_template));
    let another = TestDatabase::new();
    assert!(database_exists(&mut admin, &another.name));
}
