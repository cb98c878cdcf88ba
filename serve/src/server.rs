//! The HTTP API on axum: small handlers over [`AppState`], typed extractors whose
//! rejections are JSON errors with the right status (`400` malformed JSON, `413` a body
//! past the limit), and the server's start and stop.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/execute` | the job's result (`200`); with `async: true`, `202 {job_id, status: "queued"}`; or `400`, `401`, `413`, `429` and `503` with `Retry-After` |
//! | `GET /v1/jobs/{id}` | the job (in flight: its status and output so far), or `404` (another key's job too) |
//! | `GET /v1/jobs/{id}/events` | the job as Server-Sent Events (`events.rs`) |
//! | `DELETE /v1/jobs/{id}` | cancels the job: its result once it has stopped (`200`; `202` if it is still compiling after 5 s), `409` if it was over (or being cancelled) already |
//! | `GET /v1/languages` | the languages |
//! | `GET /healthz` | `200` while the process serves |
//! | `GET /readyz` | `200` when a job would be accepted, else `503` |
//! | `GET /metrics` | the counters, in the OpenMetrics text format (`metrics.rs`) |

use crate::api::{ExecuteRequest, JobResult, Program};
use crate::auth::{Keys, Tenant};
use crate::config::{JobLimits, ServeConfig};
use crate::history::History;
use crate::jobs::{CancelReason, Cancelled, LiveJob, Phase};
use crate::languages::{Lang, Languages, Plugin};
use crate::metrics::{Metrics, Refusal};
use crate::plugin::registry::check_module;
use crate::plugin::{Entry, PluginError, Registry, Trust};
use crate::pool::{Pool, Refused};
use crate::runner::{Job, JobCode, Runner};
use crate::scratch::check_name;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Path, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What every handler shares.
pub struct AppState {
    config: ServeConfig,
    pool: Pool,
    history: Arc<History>,
    /// `None` with `no_auth`.
    keys: Option<Keys>,
    metrics: Arc<Metrics>,
    languages: Languages,
}

impl AppState {
    /// The API keys (`None`: no authentication).
    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_ref()
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The worker pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// `status` with `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// This error with a header.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `429` with `Retry-After: seconds`.
    pub fn too_many(message: impl Into<String>, seconds: u32) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
            .with_header(header::RETRY_AFTER, seconds.to_string())
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(target: "kiln_serve", "{e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        let mut response = (self.status, body).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = header::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s with the rejection's own status.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let status = r.status();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than the server accepts".into()
        }
        _ => r.body_text(),
    };
    ApiError::new(status, message)
}

/// A job id: 128 random bits in hex.
fn new_job_id() -> Result<String, ApiError> {
    crate::hex::random_hex(16).map_err(ApiError::internal)
}

/// The request's job, its limits clamped to `max` (the server's, within the key's).
fn job_of(
    req: ExecuteRequest,
    state: &AppState,
    max: &JobLimits,
    id: String,
    key: Option<&str>,
) -> Result<Job, ApiError> {
    let config = &state.config;
    let lang = state.languages.find(&req.language).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown language `{}`; the languages are: {}",
            req.language,
            state.languages.names().join(", ")
        ))
    })?;
    let (program, mut files) = match (req.code, req.files) {
        (Some(code), None) => (Program::Code(code), Vec::new()),
        (None, Some(files)) => {
            if files.is_empty() {
                return Err(ApiError::bad_request("`files` is empty"));
            }
            if files.len() > config.max_files {
                return Err(ApiError::bad_request(format!(
                    "{} files; the server takes at most {}",
                    files.len(),
                    config.max_files
                )));
            }
            let mut decoded = Vec::with_capacity(files.len());
            for f in &files {
                check_name(&f.name).map_err(ApiError::bad_request)?;
                if decoded
                    .iter()
                    .any(|(n, _): &(String, Vec<u8>)| *n == f.name)
                {
                    return Err(ApiError::bad_request(format!(
                        "file `{}` is given twice",
                        f.name
                    )));
                }
                decoded.push((f.name.clone(), f.bytes().map_err(ApiError::bad_request)?));
            }
            // The first file is the program; every file is in the job's directory.
            (Program::File(decoded[0].1.clone()), decoded)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give the program as `code` or as `files`, not both or neither",
            ))
        }
    };
    let mut defaults = config.defaults;
    let mut program_path = None;
    let (code, argv) = match &lang {
        Lang::Builtin(language) => {
            let module = language
                .module_bytes(program)
                .map_err(ApiError::bad_request)?;
            let argv = std::iter::once("main".to_string())
                .chain(req.args.iter().cloned())
                .collect();
            (JobCode::Module(module), argv)
        }
        Lang::Plugin(plugin) => {
            let m = &plugin.installed.manifest;
            let text = match program {
                Program::Code(text) => text,
                Program::File(bytes) => String::from_utf8(bytes).map_err(|_| {
                    ApiError::bad_request(format!("a `{}` program is UTF-8 text", m.language))
                })?,
            };
            // The program's file: the first of `files`, or the code under the
            // entry's file name.
            let file = match (files.first(), m.entry.file()) {
                (Some((name, _)), _) => Some(name.clone()),
                (None, Some(name)) => {
                    files.push((name.to_string(), text.clone().into_bytes()));
                    Some(name.to_string())
                }
                (None, None) => None,
            };
            program_path = file.map(|f| format!("/{f}"));
            let path = program_path.clone().unwrap_or_default();
            let template = m
                .entry
                .argv()
                .iter()
                .map(|a| a.replace("{file}", &path).replace("{code}", &text));
            // A canonical-ABI entry takes the request's arguments in its code
            // (`{args}`): its `init_args` may have run before the request.
            let argv = match m.entry {
                Entry::CanonicalEval { .. } => template.collect(),
                _ => template.chain(req.args.iter().cloned()).collect(),
            };
            let l = m.limits;
            defaults.timeout_ms = l.timeout_ms.unwrap_or(defaults.timeout_ms);
            defaults.memory_limit_mb = l.memory_limit_mb.unwrap_or(defaults.memory_limit_mb);
            defaults.fuel = l.fuel.or(defaults.fuel);
            (JobCode::Plugin(plugin.clone()), argv)
        }
    };
    let limits = JobLimits {
        timeout_ms: req.timeout_ms.unwrap_or(defaults.timeout_ms),
        memory_limit_mb: req.memory_limit_mb.unwrap_or(defaults.memory_limit_mb),
        fuel: req.fuel.or(defaults.fuel),
        ..defaults
    }
    .clamp(max);
    let name = lang.name().to_string();
    let live = LiveJob::new(
        id.clone(),
        key.map(str::to_string),
        &name,
        limits.output_bytes,
    );
    Ok(Job {
        id,
        language: name,
        code,
        files,
        stdin: req.stdin.into_bytes(),
        argv,
        program_path,
        request_args: req.args,
        env: req.env.into_iter().collect(),
        limits,
        live: Arc::new(live),
    })
}

/// Waits for `job`'s result (`None` if `limit` passes first).
async fn result_of(job: &LiveJob, limit: Option<Duration>) -> Option<Arc<JobResult>> {
    let mut phase = job.watch();
    let wait = phase.wait_for(|p| matches!(p, Phase::Done(_)));
    let done = match limit {
        Some(l) => tokio::time::timeout(l, wait).await.ok()?,
        None => wait.await,
    };
    match done.ok().map(|p| p.clone()) {
        Some(Phase::Done(r)) => Some(r),
        _ => None,
    }
}

async fn execute(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let max = tenant.max(&state.config.max);
    let asynchronous = req.asynchronous;
    let job = job_of(req, &state, &max, new_job_id()?, tenant.id())?;
    // Held until the job is over.
    let admitted = tenant
        .admit()
        .inspect_err(|_| state.metrics.refused(Refusal::Quota))?;
    let limits = serde_json::to_string(&job.limits).map_err(ApiError::internal)?;
    let id = job.id.clone();
    state
        .history
        .accept(&id, &job.language, &limits, tenant.id())
        .map_err(ApiError::internal)?;
    let live = match state.pool.submit(job, admitted) {
        Ok(live) => live,
        Err(refused) => {
            state.metrics.refused(Refusal::QueueFull);
            state.history.withdraw(&id).map_err(ApiError::internal)?;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                match refused {
                    Refused::Full => "the job queue is full; retry later",
                    Refused::Stopped => "the server is stopping",
                },
            )
            .with_header(header::RETRY_AFTER, "1"));
        }
    };
    if asynchronous {
        let body = Json(serde_json::json!({ "job_id": id, "status": "queued" }));
        return Ok((StatusCode::ACCEPTED, body).into_response());
    }
    // Every accepted job gets a result (the pool's invariant).
    let result = result_of(&live, None)
        .await
        .ok_or_else(|| ApiError::internal("the job ended without a result"))?;
    Ok(Json((*result).clone()).into_response())
}

/// `404` for a job that is not there, or not the tenant's.
fn no_job(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no job `{id}`"))
}

/// The tenant's job `id` in flight, if it is.
fn live_job(state: &AppState, tenant: &Tenant, id: &str) -> Option<Arc<LiveJob>> {
    state
        .pool
        .live(id)
        .filter(|j| j.key.as_deref() == tenant.id())
}

/// The tenant's finished job `id` from the history; `404` if there is none.
fn stored_job(state: &AppState, tenant: &Tenant, id: &str) -> Result<JobResult, ApiError> {
    match state.history.get(id).map_err(ApiError::internal)? {
        // A key sees its own jobs only: another's is as absent as a job never posted.
        Some((r, key)) if key.as_deref() == tenant.id() => Ok(r),
        _ => Err(no_job(id)),
    }
}

async fn job(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<JobResult>, ApiError> {
    if let Some(job) = live_job(&state, &tenant, &id) {
        return Ok(Json(job.snapshot()));
    }
    stored_job(&state, &tenant, &id).map(Json)
}

async fn events(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(job) = live_job(&state, &tenant, &id) {
        return Ok(crate::events::live(job).into_response());
    }
    let r = stored_job(&state, &tenant, &id)?;
    Ok(crate::events::finished(r).into_response())
}

/// How long `DELETE` waits for a cancelled job to stop before answering `202`.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

async fn cancel(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let over = |r: &JobResult| {
        let body = Json(serde_json::json!({
            "error": format!("job `{id}` is over already ({})", r.status.name()),
            "job_id": id,
            "status": r.status,
        }));
        (StatusCode::CONFLICT, body).into_response()
    };
    let Some(job) = live_job(&state, &tenant, &id) else {
        return Ok(over(&stored_job(&state, &tenant, &id)?));
    };
    // `TooLate`: the job had ended, or was being cancelled already.
    let cancelled = state.pool.cancel(&job, CancelReason::Client) != Cancelled::TooLate;
    match result_of(&job, Some(CANCEL_WAIT)).await {
        Some(r) if cancelled => Ok(Json((*r).clone()).into_response()),
        Some(r) => Ok(over(&r)),
        // A job still compiling stops when its compilation ends.
        None => {
            let body = Json(serde_json::json!({ "job_id": id, "status": "running" }));
            Ok((StatusCode::ACCEPTED, body).into_response())
        }
    }
}

async fn languages(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "languages": state.languages.describe() }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let queued = state.pool.counts().queued.load(Ordering::SeqCst);
    let running = state.pool.counts().running.load(Ordering::SeqCst);
    let room = queued < state.config.queue_depth && !state.pool.stopping();
    let db = state.history.healthy();
    let body = Json(serde_json::json!({
        "ready": room && db,
        "queued": queued,
        "running": running,
        "workers": state.config.workers,
        "queue_depth": state.config.queue_depth,
        "database": db,
    }));
    let status = if room && db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let counts = state.pool.counts();
    let text = state
        .metrics
        .render(
            counts.queued.load(Ordering::SeqCst),
            counts.running.load(Ordering::SeqCst),
        )
        .map_err(ApiError::internal)?;
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, kind)], text).into_response())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.max_request_bytes;
    let jobs = Router::new()
        .route("/v1/execute", post(execute))
        .route("/v1/jobs/{id}", get(job).delete(cancel))
        .route("/v1/jobs/{id}/events", get(events))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ));
    Router::new()
        .merge(jobs)
        .route("/v1/languages", get(languages))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        // A handler that panics (a bug) answers 500; the server goes on.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("internal error: a handler panicked").into_response()
            },
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A server that could not start, with the reason.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// The plugins of the configured registry, each verified and compiled (from the code
/// cache when it was precompiled at install), with the built-in languages.
fn load_plugins(config: &ServeConfig, runner: &Runner) -> Result<Languages, PluginError> {
    let Some(dir) = &config.plugins.directory else {
        return Languages::new(Vec::new());
    };
    let trust = Trust::new(&config.plugins.trusted_keys, config.plugins.allow_unsigned)?;
    let mut plugins = Vec::new();
    for installed in Registry::new(dir).load(&trust)? {
        let bytes = std::fs::read(installed.module_path())
            .map_err(|e| PluginError::context(installed.module_path().display(), e))?;
        let name = installed.manifest.name.clone();
        let module = runner
            .compile_plugin(&bytes)
            .map_err(|e| PluginError::context(&name, e))?;
        check_module(&installed.manifest, &module).map_err(|e| PluginError::context(&name, e))?;
        let preinitialized = installed.manifest.entry.preinitialize();
        let module = match preinitialized {
            false => module,
            true => {
                let started = std::time::Instant::now();
                let image = runner
                    .preinitialize(&installed, &bytes)
                    .map_err(|e| PluginError::context(&name, e))?;
                let module = runner
                    .compile_plugin(&image)
                    .map_err(|e| PluginError::context(&name, e))?;
                tracing::info!(target: "kiln_serve", plugin = %name, ms = started.elapsed().as_millis() as u64, "pre-initialized");
                module
            }
        };
        tracing::info!(target: "kiln_serve", plugin = %name, version = %installed.manifest.version, "plugin loaded");
        plugins.push(Plugin {
            installed,
            module,
            preinitialized,
        });
    }
    Languages::new(plugins)
}

/// The server's parts before it listens: history, engine and workers.
pub fn state(config: ServeConfig) -> Result<Arc<AppState>, StartError> {
    config.check().map_err(|e| StartError(e.0))?;
    let (history, lost) = History::open(&config.database, config.retention_jobs)
        .map_err(|e| StartError(e.to_string()))?;
    if lost > 0 {
        tracing::warn!(target: "kiln_serve", lost, "jobs left unfinished by the last run are marked lost");
    }
    let history = Arc::new(history);
    let runner = Arc::new(Runner::new(&config)?);
    let languages = load_plugins(&config, &runner).map_err(|e| StartError(e.to_string()))?;
    let metrics = Arc::new(Metrics::default());
    let pool = Pool::start(
        config.workers,
        config.queue_depth,
        runner,
        history.clone(),
        metrics.clone(),
    )
    .map_err(|e| StartError(format!("cannot start the workers: {e}")))?;
    let keys = (!config.no_auth).then(|| Keys::new(&config.keys));
    Ok(Arc::new(AppState {
        config,
        pool,
        history,
        keys,
        metrics,
        languages,
    }))
}

/// A listener on `addr` with room for `backlog` connections not yet accepted (the
/// standard library's 128 resets connections in a burst of a thousand).
fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Serves `config` until `shutdown` completes: binds, then answers requests. `bound`
/// learns the address (useful with port 0). When `shutdown` completes the server stops
/// accepting connections and jobs, cancels the queued jobs, lets the running ones
/// finish within `shutdown_grace_ms`, cancels what is left, and returns once every job
/// has its final status and every connection is closed.
pub async fn serve(
    config: ServeConfig,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (listen, backlog) = (config.listen, config.listen_backlog);
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let state = state(config)?;
    let listener =
        bind(listen, backlog).map_err(|e| StartError(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
    tracing::info!(target: "kiln_serve", %addr, "listening");
    bound(addr);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pool_state = state.clone();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        tracing::info!(target: "kiln_serve", "stopping: no new jobs; running jobs get the grace period");
        let _ = stop.send(());
        let cancelled = pool_state.pool.shutdown(grace).await;
        tracing::info!(target: "kiln_serve", cancelled, "every job has its final status");
    });
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await;
    if let Err(e) = served {
        stopper.abort();
        return Err(StartError(format!("serving failed: {e}")));
    }
    stopper
        .await
        .map_err(|e| StartError(format!("stopping failed: {e}")))
}
