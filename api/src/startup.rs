//! Builds the application: database, migrations, HTTP server. The listener is bound here, so
//! tests start the app on port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use std::time::Duration;

use actix_http::error::DispatchError;
use actix_http::{HttpService, KeepAlive};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Server, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpMessage};
use anyhow::Context;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::{JwtKeys, RefreshKey};
use crate::config::Settings;
use crate::db::Db;
use crate::error::extract;
use crate::http_layer::ProblemIo;
use crate::metrics::Metrics;

/// JSON bodies are limited to 1 MiB unless a route says otherwise.
pub const JSON_LIMIT: usize = 1024 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub jwt: JwtKeys,
    /// Derives each refresh token's successor, so a retried refresh is answered the same.
    pub refresh_key: RefreshKey,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub sync: SyncHub,
    /// The `Allow` answer of each documented path (see [`crate::routes::unmatched`]).
    pub allowed_methods: std::collections::HashMap<String, String>,
}

/// What the sync routes share: the merge rules and the change notifications.
pub struct SyncHub {
    pub schema: sync_core::SyncSchema,
    pub notifier: crate::sync::listener::SyncNotifier,
}

/// The request id of the current request, also sent back as `x-request-id`.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub Uuid);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    push_workers: crate::jobs::PushWorkers,
}

impl Application {
    /// Creates the database if needed, runs pending migrations, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let db = prepare_database(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            db,
            jwt: JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl),
            refresh_key: RefreshKey::from_secret(&settings.jwt_secret),
            metrics: Metrics::new()?,
            sync: SyncHub {
                schema: crate::domain::synced::sync_schema(),
                notifier: crate::sync::listener::SyncNotifier::start(settings.database_url.clone()),
            },
            settings: settings.clone(),
            allowed_methods: crate::openapi::allowed_methods(),
        });
        let server = serve(listener, state.clone(), settings.http_workers)?;
        let push_workers = crate::jobs::start(
            state.db.clone(),
            &settings,
            state.metrics.push.clone(),
            settings.push.serve_workers,
        )?;
        tracing::info!(address = %format!("{}:{port}", settings.listen.ip()), "Carnet is listening");
        Ok(Application {
            port,
            server,
            state,
            push_workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until SIGINT/SIGTERM; in-flight requests finish first (actix's graceful stop),
    /// then the push workers stop gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.push_workers.stop().await;
        served
    }
}

/// The operations server of `carnet worker` (`/healthz`, `/readyz`, `/metrics`), so an
/// orchestrator can see a worker that cannot deliver.
pub struct WorkerOpsServer {
    port: u16,
    handle: actix_web::dev::ServerHandle,
}

impl WorkerOpsServer {
    /// Binds `listen` (port 0 picks one) and serves in the background.
    pub fn start(
        listen: std::net::SocketAddr,
        ops: crate::routes::health::WorkerOps,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen} (CARNET_WORKER_LISTEN)"))?;
        let port = listener.local_addr()?.port();
        let ops = web::Data::new(ops);
        let server = actix_web::HttpServer::new(move || {
            App::new()
                .app_data(ops.clone())
                .configure(crate::routes::health::worker_configure)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(crate::error::ApiError::NotFound)
                }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        tracing::info!(address = %format!("{}:{port}", listen.ip()), "worker operations server listening");
        Ok(WorkerOpsServer { port, handle })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Opens the pool after creating the database and applying migrations (under an advisory
/// lock, so several processes starting at once migrate once).
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = settings.database_url.clone();
    let size = settings.db_pool_size;
    let limits = crate::db::SessionLimits {
        idle_in_transaction: settings.db_idle_in_transaction_timeout,
        statement: settings.db_statement_timeout,
    };
    actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<Db> {
        if crate::db::ensure_database(&url)? {
            tracing::info!("created the database named in DATABASE_URL");
        }
        let db = Db::connect_with(&url, size, limits)?;
        let mut conn = db.pool().get().context("cannot get a database connection")?;
        for version in crate::db::run_migrations(&mut conn, &crate::domain::synced::synced_tables())? {
            tracing::info!(%version, "applied migration");
        }
        Ok(db)
    })
    .await
    .context("database preparation panicked")?
}

/// The HTTP/1 server: actix-web's `HttpServer::listen` put together by hand, only so that
/// each connection goes through [`crate::http_layer::ProblemIo`] (the parser's own
/// refusals become problems). Timeouts are `HttpServer`'s defaults.
fn serve(listener: TcpListener, state: web::Data<AppState>, workers: usize) -> anyhow::Result<Server> {
    let local = listener.local_addr()?;
    let builder = actix_server::Server::build();
    // On stop, keep-alive connections close after their current answer, as with HttpServer.
    let stopping = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        .shutdown_timeout(30)
        .listen("carnet-http", listener, move || {
            let app = app(state.clone())
                .into_factory()
                .map_err(|error: actix_web::Error| error.error_response());
            let stopping = stopping.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .keep_alive(KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(local)
                .h1(map_config(app, |_| AppConfig::default()));
            fn_service(|io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, DispatchError>((ProblemIo::new(io), peer)))
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// The application: state, extractor error mapping, routes, input checks, request log.
fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
                .app_data(state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT)
                        .error_handler(extract::json),
                )
                .app_data(web::QueryConfig::default().error_handler(extract::query))
                .app_data(web::PathConfig::default().error_handler(extract::path))
                .configure(crate::routes::configure)
                .default_service(web::to(crate::routes::unmatched))
                .wrap(actix_web::middleware::from_fn(crate::input::check))
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| Uuid::parse_str(v).ok())
                        .unwrap_or_else(Uuid::now_v7);
                    req.extensions_mut().insert(RequestId(request_id));
                    let method = req.method().to_string();
                    let span = tracing::info_span!("request", %request_id, %method, path = %crate::routes::calendar::loggable_path(req.path()));
                    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
                    let fut = srv.call(req);
                    async move {
                    let mut res = fut.await?;
                    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                    let status = res.status().as_u16();
                    let elapsed = started.elapsed();
                    if let Some(metrics) = metrics {
                        metrics.observe_request(&method, &route, status, elapsed);
                    }
                    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
                        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
                    }
                    tracing::info!(%route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
                    Ok(res)
                }
                .instrument(span)
                })
}
