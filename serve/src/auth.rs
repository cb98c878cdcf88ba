//! Tenants: API keys sent as `Authorization: Bearer KEY`, known only by their SHA-256;
//! each with a token-bucket rate limit (`governor`), a quota of jobs at once, and its
//! own maximum limits. [`authenticate`] is the middleware on the `/v1/` routes that
//! touch jobs: it answers `401` (with `WWW-Authenticate`) for a missing or unknown key
//! and `429` (with `Retry-After`) past the rate, and hands the handlers a [`Tenant`].
//! Every refusal is an audit event (`audit.rs`).

use crate::audit::Audit;
use crate::config::{ApiKey, JobLimits};
use crate::metrics::Refusal;
use crate::server::{ApiError, AppState};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One key's state.
pub struct KeyState {
    /// Its id.
    pub id: String,
    limiter: DefaultDirectRateLimiter,
    max_concurrent: usize,
    in_flight: AtomicUsize,
    /// Its maxima.
    pub max: JobLimits,
}

/// Every key, by the SHA-256 of the key.
pub struct Keys {
    by_hash: HashMap<[u8; 32], Arc<KeyState>>,
}

impl Keys {
    /// The keys of the configuration.
    pub fn new(keys: &[ApiKey]) -> Keys {
        let by_hash = keys
            .iter()
            .map(|k| {
                let rate = NonZeroU32::new(k.requests_per_second).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(k.burst).unwrap_or(NonZeroU32::MIN);
                let state = KeyState {
                    id: k.id.clone(),
                    limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
                    max_concurrent: k.max_concurrent,
                    in_flight: AtomicUsize::new(0),
                    max: k.max,
                };
                (k.sha256, Arc::new(state))
            })
            .collect();
        Keys { by_hash }
    }

    fn find(&self, key: &str) -> Option<Arc<KeyState>> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.by_hash.get(&hash).cloned()
    }
}

/// Who is asking: a key, or anyone (`--no-auth`).
#[derive(Clone)]
pub struct Tenant(pub Option<Arc<KeyState>>);

impl Tenant {
    /// The key's id, as the history records it (`None` without authentication).
    pub fn id(&self) -> Option<&str> {
        self.0.as_ref().map(|k| k.id.as_str())
    }

    /// Takes one of the key's concurrent-job slots until the guard drops; `429` if
    /// they are all taken.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let Some(key) = &self.0 else {
            return Ok(Admission(None));
        };
        let before = key.in_flight.fetch_add(1, Ordering::SeqCst);
        if before >= key.max_concurrent {
            key.in_flight.fetch_sub(1, Ordering::SeqCst);
            Audit::QuotaReached {
                key: &key.id,
                limit: key.max_concurrent,
            }
            .emit();
            return Err(ApiError::too_many(
                format!(
                    "key `{}` has {} jobs running or queued, its quota",
                    key.id, key.max_concurrent
                ),
                1,
            ));
        }
        Ok(Admission(Some(key.clone())))
    }

    /// The maxima for this tenant's jobs.
    pub fn max(&self, server: &JobLimits) -> JobLimits {
        match &self.0 {
            Some(k) => k.max.clamp(server),
            None => *server,
        }
    }
}

/// One concurrent-job slot of a key, given back on drop.
pub struct Admission(Option<Arc<KeyState>>);

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(k) = &self.0 {
            k.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    Audit::AuthFailed { reason: message }.emit();
    ApiError::new(StatusCode::UNAUTHORIZED, message).with_header(header::WWW_AUTHENTICATE, "Bearer")
}

/// The middleware: finds the request's key, applies its rate, and passes a [`Tenant`]
/// to the handlers.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let tenant = match state.keys() {
        None => Tenant(None),
        Some(keys) => {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            let Some(token) = token else {
                state.metrics().refused(Refusal::Unauthorized);
                return Err(unauthorized("missing `Authorization: Bearer KEY`"));
            };
            let Some(key) = keys.find(token) else {
                state.metrics().refused(Refusal::Unauthorized);
                return Err(unauthorized("unknown API key"));
            };
            if let Err(not_until) = key.limiter.check() {
                state.metrics().refused(Refusal::RateLimit);
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Audit::RateLimited { key: &key.id }.emit();
                return Err(ApiError::too_many(
                    format!("key `{}` is over its rate limit", key.id),
                    wait.as_secs().max(1) as u32,
                ));
            }
            Tenant(Some(key))
        }
    };
    req.extensions_mut().insert(tenant);
    Ok(next.run(req).await)
}
