//! The HTTP API on axum: small handlers over [`AppState`], typed extractors whose
//! rejections are JSON errors with the right status (`400` malformed JSON, `413` a body
//! past the limit), and the server's start and stop.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/execute` | the job's result (`200`), or `400`, `401`, `413`, `429` and `503` with `Retry-After`, `501` |
//! | `GET /v1/jobs/{id}` | the job from the history, or `404` (another key's job too) |
//! | `GET /v1/languages` | the languages |
//! | `GET /healthz` | `200` while the process serves |
//! | `GET /readyz` | `200` when a job would be accepted, else `503` |
//! | `GET /metrics` | the counters, in the OpenMetrics text format (`metrics.rs`) |

use crate::api::{ExecuteRequest, JobResult, Language, Program};
use crate::auth::{Keys, Tenant};
use crate::config::{JobLimits, ServeConfig};
use crate::history::History;
use crate::metrics::Refusal;
use crate::pool::{Pool, Refused};
use crate::runner::{Job, Runner};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Path, Request, State};
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What every handler shares.
pub struct AppState {
    config: ServeConfig,
    pool: Pool,
    history: Arc<History>,
    /// `None` with `no_auth`.
    keys: Option<Keys>,
    metrics: crate::metrics::Metrics,
}

impl AppState {
    /// The API keys (`None`: no authentication).
    pub fn keys(&self) -> Option<&Keys> {
        self.keys.as_ref()
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
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
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The request's job, its limits clamped to `max` (the server's, within the key's).
fn job_of(
    req: ExecuteRequest,
    config: &ServeConfig,
    max: &JobLimits,
    id: String,
) -> Result<Job, ApiError> {
    let language = Language::from_name(&req.language).ok_or_else(|| {
        let names: Vec<_> = Language::ALL.iter().map(|l| l.name()).collect();
        ApiError::bad_request(format!(
            "unknown language `{}`; the languages are: {}",
            req.language,
            names.join(", ")
        ))
    })?;
    if req.asynchronous {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported: asynchronous jobs (`async: true`) are not implemented yet",
        ));
    }
    let program = match (req.code, req.files) {
        (Some(code), None) => Program::Code(code),
        (None, Some(files)) => match files.as_slice() {
            [file] => Program::File(file.bytes().map_err(ApiError::bad_request)?),
            [] => return Err(ApiError::bad_request("`files` is empty")),
            _ => {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "unsupported: more than one file needs a scratch directory per job, which \
                     is not implemented yet",
                ))
            }
        },
        _ => {
            return Err(ApiError::bad_request(
                "give the program as `code` or as `files`, not both or neither",
            ))
        }
    };
    let module = language
        .module_bytes(program)
        .map_err(ApiError::bad_request)?;
    let d = config.defaults;
    let limits = JobLimits {
        timeout_ms: req.timeout_ms.unwrap_or(d.timeout_ms),
        memory_limit_mb: req.memory_limit_mb.unwrap_or(d.memory_limit_mb),
        fuel: req.fuel.or(d.fuel),
        output_bytes: d.output_bytes,
    }
    .clamp(max);
    Ok(Job {
        id,
        language,
        module,
        stdin: req.stdin.into_bytes(),
        args: req.args,
        env: req.env.into_iter().collect(),
        limits,
    })
}

async fn execute(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Json<JobResult>, ApiError> {
    let max = tenant.max(&state.config.max);
    let job = job_of(req, &state.config, &max, new_job_id()?)?;
    // Held until the job's result is in.
    let _admitted = tenant
        .admit()
        .inspect_err(|_| state.metrics.refused(Refusal::Quota))?;
    let limits = serde_json::json!({
        "timeout_ms": job.limits.timeout_ms,
        "memory_limit_mb": job.limits.memory_limit_mb,
        "fuel": job.limits.fuel,
        "output_bytes": job.limits.output_bytes,
    })
    .to_string();
    let id = job.id.clone();
    state
        .history
        .accept(&id, job.language.name(), &limits, tenant.id())
        .map_err(ApiError::internal)?;
    let result = match state.pool.submit(job) {
        Ok(r) => r,
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
    // The worker always answers (a panic in the runner becomes an `error` result).
    let result = result
        .await
        .map_err(|_| ApiError::internal("the worker stopped before answering"))?;
    state.metrics.finished(&result);
    Ok(Json(result))
}

async fn job(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<Tenant>,
    Path(id): Path<String>,
) -> Result<Json<JobResult>, ApiError> {
    match state.history.get(&id).map_err(ApiError::internal)? {
        // A key sees its own jobs only: another's is as absent as a job never posted.
        Some((r, key)) if key.as_deref() == tenant.id() => Ok(Json(r)),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no job `{id}`"),
        )),
    }
}

async fn languages() -> Json<serde_json::Value> {
    let list: Vec<_> = Language::ALL.iter().map(|l| l.describe()).collect();
    Json(serde_json::json!({ "languages": list }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let queued = state.pool.counts().queued.load(Ordering::SeqCst);
    let running = state.pool.counts().running.load(Ordering::SeqCst);
    let room = queued < state.config.queue_depth;
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
        .route("/v1/jobs/{id}", get(job))
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

/// The server's parts before it listens: history, engine and workers.
pub fn state(config: ServeConfig) -> Result<Arc<AppState>, StartError> {
    config.check().map_err(|e| StartError(e.0))?;
    let (history, lost) = History::open(&config.database, config.retention_jobs)
        .map_err(|e| StartError(e.to_string()))?;
    if lost > 0 {
        tracing::warn!(target: "kiln_serve", lost, "jobs left unfinished by the last run are marked lost");
    }
    let history = Arc::new(history);
    let runner = Arc::new(
        Runner::new(&config).map_err(|e| StartError(format!("cannot make the engine: {e}")))?,
    );
    let pool = Pool::start(config.workers, config.queue_depth, runner, history.clone())
        .map_err(|e| StartError(format!("cannot start the workers: {e}")))?;
    let keys = (!config.no_auth).then(|| Keys::new(&config.keys));
    Ok(Arc::new(AppState {
        config,
        pool,
        history,
        keys,
        metrics: crate::metrics::Metrics::default(),
    }))
}

/// Serves `config` until `shutdown` completes: binds, then answers requests.
/// `bound` learns the address (useful with port 0).
pub async fn serve(
    config: ServeConfig,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let listen = config.listen;
    let state = state(config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| StartError(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(format!("cannot read the bound address: {e}")))?;
    tracing::info!(target: "kiln_serve", %addr, "listening");
    bound(addr);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| StartError(format!("serving failed: {e}")))
}
