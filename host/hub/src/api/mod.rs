//! `hub serve`'s HTTP side: the API for source systems, the status page for people,
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! Every store access runs on tokio's blocking pool (the store and plugins are
//! synchronous): writes with the site's own [`App`] ([`with_app`]), reads with one of its
//! read hubs ([`with_reader`], [`Readers`]) so they neither queue behind each other nor
//! behind a write. Sending is never done here but handed to the site's sender thread,
//! the one holder of the send lock.

mod actions;
mod auth;
mod console;
mod files;
mod harden;
mod metrics;
mod openapi;
mod pause;
mod readers;
mod records;
mod routes;
mod schema;
mod serve;
mod shared;
mod status;
mod transfers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::App;
use crate::service::{Metrics, Site};

pub use auth::Tokens;
pub use readers::Readers;
pub use routes::router;

/// The largest request body taken (a batch of NDJSON); larger ones get 413.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// What every handler shares.
pub struct State {
    pub sites: Vec<Arc<Site>>,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// Timeouts and the concurrency limit (`[api.limits]`).
    pub limits: hub_core::api::ApiLimits,
    /// `/metrics` readings shared by the scrapes that wait for one.
    pub scrapes: shared::Shared<String>,
    /// Identical reads in flight, sharing one reading.
    pub coalesce: Arc<shared::Coalesce>,
}

/// An answer other than success: a status and a reason (JSON `{"error", "problems"}`).
// Described as the schema and the response `Error` (`openapi.rs`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub problems: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            problems: Vec::new(),
        }
    }

    /// A fault of ours: logged in full, answered with 500.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "api: internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

impl From<hub_store::StoreError> for ApiError {
    fn from(e: hub_store::StoreError) -> Self {
        match e {
            hub_store::StoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            hub_store::StoreError::Refused(m) => ApiError::new(StatusCode::CONFLICT, m),
            e => ApiError::internal(e),
        }
    }
}

impl From<crate::pipeline::SendError> for ApiError {
    fn from(e: crate::pipeline::SendError) -> Self {
        match e {
            crate::pipeline::SendError::Store(s) => s.into(),
            e => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

/// Runs `f`, which only reads, with one of the site's read hubs on the blocking pool.
pub async fn with_reader<T, F>(site: &Arc<Site>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut App) -> Result<T, ApiError> + Send + 'static,
{
    site.readers.with(f).await
}

/// Runs `f` with the site's API hub (its writer) on the blocking pool.
pub async fn with_app<T, F>(site: &Arc<Site>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut App) -> Result<T, ApiError> + Send + 'static,
{
    let site = site.clone();
    tokio::task::spawn_blocking(move || {
        // A handler that panicked left the store consistent (each call is a transaction).
        let mut app = site.app.lock().unwrap_or_else(|p| p.into_inner());
        // A store that hangs, on request (`HUB_FAULT=api-store`): `/readyz` must say so.
        crate::fault::point("api-store");
        f(&mut app)
    })
    .await
    .map_err(ApiError::internal)?
}

/// The address to listen on: `--listen`, else the files' `[api] listen` (which must
/// agree), else 127.0.0.1:8080.
fn listen_address(sites: &[Arc<Site>], flag: Option<String>) -> Result<SocketAddr> {
    let configured: std::collections::BTreeSet<&str> = sites
        .iter()
        .filter_map(|s| s.config.api.as_ref()?.listen.as_deref())
        .collect();
    let text = match flag {
        Some(f) => f,
        None if configured.len() > 1 => bail!(
            "the configuration files name different [api] listen addresses ({}); give one with --listen",
            configured.into_iter().collect::<Vec<_>>().join(", ")
        ),
        None => configured
            .into_iter()
            .next()
            .unwrap_or("127.0.0.1:8080")
            .to_string(),
    };
    text.parse()
        .with_context(|| format!("`{text}` is not an address like 127.0.0.1:8080"))
}

/// The `[api.limits]` of the files: one table for the one listener, so files that name
/// different limits are refused (as different `listen` addresses are).
fn api_limits(sites: &[Arc<Site>]) -> Result<hub_core::api::ApiLimits> {
    let named: Vec<hub_core::api::ApiLimits> = sites
        .iter()
        .filter_map(|s| s.config.api.as_ref()?.limits)
        .collect();
    match named.split_first() {
        None => Ok(hub_core::api::ApiLimits::default()),
        Some((first, rest)) if rest.iter().all(|l| l == first) => Ok(*first),
        Some(_) => bail!("the configuration files name different [api.limits]; give them once"),
    }
}

/// Serves until `stop` is set; requests under way get `[api.limits]
/// shutdown_deadline_ms` to finish.
pub fn run(
    sites: Vec<Arc<Site>>,
    metrics: Arc<Metrics>,
    listen: Option<String>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let addr = listen_address(&sites, listen)?;
    let limits = api_limits(&sites)?;
    let tokens = Tokens::load(&sites)?;
    // Load every plugin of the API's hubs now and open a read hub: readiness means an
    // enqueue can validate and a read is answered.
    for site in &sites {
        let mut app = site.app.lock().unwrap_or_else(|p| p.into_inner());
        for name in app.target_names() {
            app.target(&name)?;
        }
        drop(app);
        site.readers.prepare()?;
    }
    let state = Arc::new(State {
        sites,
        tokens,
        metrics,
        limits,
        scrapes: shared::Shared::default(),
        coalesce: Arc::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr().context("no local address")?;
        println!("hub serve: listening on http://{local}");
        tracing::info!(address = %local, "API listening");
        let shutdown = async move {
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        serve::serve(listener, router(state, &limits), limits, shutdown).await;
        Ok(())
    })
}
