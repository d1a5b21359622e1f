use carnet_tests::spawn_app;
use reqwest::Method;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    let ready = app.request(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, 200);
    let user = app.register("Lise").await;
    app.get("/v1/contacts", &user.token).await;
    let metrics = app.request(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type().starts_with("text/plain"));
    assert!(
        metrics
            .text
            .contains(r#"carnet_http_requests_total{method="GET",route="/v1/contacts",status="200"} 1"#),
        "{}",
        metrics.text
    );
    assert!(metrics
        .text
        .contains("carnet_http_request_duration_seconds_bucket"));
    assert!(metrics.text.contains("carnet_db_pool_connections"));
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let doc = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/auth/register", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/v1/me", "delete"),
        ("/v1/me/export", "get"),
        ("/v1/devices", "post"),
        ("/v1/devices/{id}", "patch"),
        ("/v1/devices/{id}", "delete"),
        ("/v1/contacts", "get"),
        ("/v1/contacts", "post"),
        ("/v1/contacts/{id}", "get"),
        ("/v1/contacts/{id}", "patch"),
        ("/v1/contacts/{id}", "delete"),
        ("/v1/contacts/{id}/interactions", "get"),
        ("/v1/contacts/{id}/interactions", "post"),
        ("/v1/interactions/{id}", "patch"),
        ("/v1/interactions/{id}", "delete"),
        ("/v1/reminders", "get"),
        ("/v1/reminders", "post"),
        ("/v1/reminders/{id}", "patch"),
        ("/v1/reminders/{id}", "delete"),
        ("/v1/reminders/{id}/complete", "post"),
        ("/v1/reminders/{id}/snooze", "post"),
        ("/v1/events", "get"),
        ("/v1/events", "post"),
        ("/v1/events/{id}", "get"),
        ("/v1/events/{id}", "patch"),
        ("/v1/events/{id}", "delete"),
        ("/v1/events/{id}/attendees", "get"),
        ("/v1/events/{id}/attendees", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    let schemas = doc.body["components"]["schemas"].as_object().unwrap();
    for schema in [
        "ContactView",
        "ContactInput",
        "ReminderView",
        "EventView",
        "Problem",
        "TokenResponse",
        "UserView",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} missing");
    }
}

#[tokio::test]
async fn the_docs_page_needs_no_internet() {
    let app = spawn_app().await;
    let redirect = app.request(Method::GET, "/docs", None, None).await;
    assert_eq!(redirect.status, 301);
    let page = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("https://"),
        "the page loads something from the internet: {}",
        page.text
    );
    let bundle = app
        .request(Method::GET, "/docs/swagger-ui-bundle.js", None, None)
        .await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.text.len() > 100_000);
}

#[tokio::test]
async fn serve_creates_a_missing_database_and_migrates_it() {
    use diesel::prelude::*;
    let name = format!(
        "carnet_test_{}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        uuid::Uuid::new_v4().simple()
    );
    let url = carnet_tests::database_url(&name);
    assert!(
        PgConnection::establish(&url).is_err(),
        "the database should not exist yet"
    );
    let settings = carnet::config::Settings::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "CARNET_LISTEN" => Some("127.0.0.1:0".into()),
        "CARNET_DB_POOL_SIZE" => Some("2".into()),
        "CARNET_HTTP_WORKERS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let app = carnet::startup::Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let ready = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let mut conn = PgConnection::establish(&url).unwrap();
    diesel::sql_query("SELECT 1 FROM contacts LIMIT 1")
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let mut admin = PgConnection::establish(&carnet_tests::database_url("postgres")).unwrap();
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
}
