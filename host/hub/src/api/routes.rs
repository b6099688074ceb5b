//! The routes, each described where it is handled: [`routes`] registers every handler with
//! utoipa-axum's `routes!`, which routes it at the path and method of its
//! `#[utoipa::path]`, and gathers those descriptions into the document served at
//! `/openapi.json` (`openapi.rs` adds what they share).

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::openapi::Municipality;
use super::{ApiError, MAX_BODY, State, with_app, with_reader};
use crate::service::Site;

pub(super) type St = AxState<Arc<State>>;
pub(super) type ApiResult = Result<Response, ApiError>;

/// Every route with its description. The reads that may queue on a site's store pass the
/// concurrency limit of `limits` (shed with 503 beyond it, `harden.rs`); health, metrics,
/// the page's files and every write stay outside it, so a burst of status calls never
/// delays them. The page's files, health and metrics need no token.
pub(super) fn routes(
    state: &State,
    limits: &hub_core::api::ApiLimits,
) -> OpenApiRouter<Arc<State>> {
    let reads = OpenApiRouter::default()
        .routes(routes!(super::status::status))
        .routes(routes!(super::console::console))
        .routes(routes!(super::transfers::transfers))
        .routes(routes!(super::files::files))
        .routes(routes!(super::transfers::log))
        .routes(routes!(super::transfers::view_sent))
        .routes(routes!(super::transfers::view_received))
        .routes(routes!(super::transfers::doubts));
    let mut open = OpenApiRouter::default()
        .routes(routes!(page))
        .routes(routes!(script))
        .routes(routes!(style))
        .routes(routes!(openapi))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(super::metrics::metrics));
    super::openapi::without_token(open.get_openapi_mut());
    let writes = OpenApiRouter::default()
        .routes(routes!(whoami))
        .routes(routes!(super::records::enqueue))
        .routes(routes!(super::records::record))
        .routes(routes!(super::records::resolve))
        .routes(routes!(super::transfers::send))
        .routes(routes!(super::pause::pause))
        .routes(routes!(super::pause::resume))
        .routes(routes!(super::schema::schema))
        .routes(routes!(super::transfers::settle))
        .routes(routes!(super::actions::requeue))
        .routes(routes!(super::actions::retry));
    OpenApiRouter::with_openapi(super::openapi::Base::openapi())
        .merge(open)
        .merge(writes)
        // Identical reads share one reading, outside the limit: a burst of one read
        // passes the limit once.
        .merge(super::harden::limit_reads(reads, limits).layer(
            axum::middleware::from_fn_with_state(state.coalesce.clone(), super::shared::coalesce),
        ))
}

/// The description of [`routes`], encoded when the first router is made.
static DOCUMENT: OnceLock<Bytes> = OnceLock::new();

/// The router of [`routes`], hardened (`harden.rs`).
pub fn router(state: Arc<State>, limits: &hub_core::api::ApiLimits) -> Router {
    let (router, description) = routes(&state, limits).split_for_parts();
    DOCUMENT.get_or_init(|| super::openapi::encode(&description));
    let router = router
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);
    super::harden::harden(router, limits)
}

fn asset(media_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/",
    summary = "The status page (HTML; asks for the operator token once and keeps it in sessionStorage)",
    responses((status = 200, description = "HTML"))
)]
async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

#[utoipa::path(
    get,
    path = "/status.js",
    summary = "The status page's script",
    responses((status = 200, description = "JavaScript"))
)]
async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/status.js"),
    )
}

#[utoipa::path(
    get,
    path = "/status.css",
    summary = "The status page's style sheet",
    responses((status = 200, description = "CSS"))
)]
async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/status.css"))
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    summary = "This description",
    responses((status = 200, description = "OpenAPI 3"))
)]
async fn openapi() -> Response {
    match DOCUMENT.get() {
        Some(description) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            description.clone(),
        )
            .into_response(),
        None => ApiError::internal("the OpenAPI description was not built").into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "The process is alive",
    responses((status = 200, description = "ok"))
)]
async fn healthz() -> &'static str {
    "ok\n"
}

#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Every store opens and answers; plugins were loaded at start",
    responses(
        (status = 200, description = "ready"),
        (status = 503, description = "not ready, with the reason")
    )
)]
/// Ready when every site's store answers within `[api.limits] ready_timeout_ms` (its
/// plugins were loaded at start): a store that hangs (a lock held, a database that does
/// not answer) is reported as stalled rather than waited for.
async fn readyz(AxState(state): St) -> Response {
    let deadline = std::time::Duration::from_millis(state.limits.ready_timeout_ms.max(1));
    let mut problems = Vec::new();
    for site in &state.sites {
        let name = site.name.clone();
        // The writer (enqueue, resolve) and the reads (status, pages, metrics), asked
        // together: either may stall on its own.
        let written =
            tokio::time::timeout(deadline, with_app(site, |app| Ok(app.store.counts(None)?)));
        let read = tokio::time::timeout(
            deadline,
            with_reader(site, |app| Ok(app.store.counts(None)?)),
        );
        let (written, read) = tokio::join!(written, read);
        for (side, answer) in [("", written), (" (reads)", read)] {
            match answer {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => problems.push(format!("{name}{side}: {}", e.error)),
                Err(_) => problems.push(format!(
                    "{name}: the store{side} is stalled (no answer within {} ms)",
                    deadline.as_millis()
                )),
            }
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        tracing::warn!(problems = %problems.join("; "), "api: not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
            .into_response()
    }
}

/// The header naming the municipality (configuration file) a console request is for.
pub const MUNICIPALITY: &str = "x-hub-municipality";
/// [`MUNICIPALITY`] as people write it, for messages.
const MUNICIPALITY_SHOWN: &str = "X-Hub-Municipality";

/// The caller and, for a target, that it may use it. Another site's target is simply
/// not one it may use (403), whether or not it exists there. The console's requests name
/// their municipality in [`MUNICIPALITY`] (not needed when only one is served); another
/// token may name only its own.
pub(super) fn authorize(
    state: &State,
    headers: &HeaderMap,
    target: Option<&str>,
) -> Result<(Caller, Arc<Site>), ApiError> {
    let mut caller = state.tokens.caller(headers)?;
    let named = headers
        .get(MUNICIPALITY)
        .map(|v| {
            v.to_str().map(str::trim).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("{MUNICIPALITY_SHOWN} is not text"),
                )
            })
        })
        .transpose()?
        .filter(|v| !v.is_empty());
    let names = || {
        state
            .sites
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = named {
        let found = state.sites.iter().position(|s| s.name == name);
        // Only the console learns which municipalities there are.
        if !caller.console && found != Some(caller.site) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this token may not use municipality `{}`",
                    hub_plugin_sdk::text::excerpt_max(name, 100)
                ),
            ));
        }
        let Some(i) = found else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no municipality `{}` is served here; there are: {}",
                    hub_plugin_sdk::text::excerpt_max(name, 100),
                    names()
                ),
            ));
        };
        caller.site = i;
    } else if caller.console && state.sites.len() > 1 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the console token spans {} municipalities: name one in the {MUNICIPALITY_SHOWN} header ({})",
                state.sites.len(),
                names()
            ),
        ));
    }
    let site = state
        .sites
        .get(caller.site)
        .cloned()
        .ok_or_else(|| ApiError::internal("token without its site"))?;
    if let Some(t) = target
        && (!caller.may(t) || site.config.target(t).is_none())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this token may not use target `{t}`"),
        ));
    }
    Ok((caller, site))
}

pub(super) fn visible_targets(caller: &Caller, site: &Site) -> Vec<String> {
    site.config
        .targets
        .iter()
        .map(|t| t.name.clone())
        .filter(|t| caller.may(t))
        .collect()
}

#[derive(Serialize)]
struct WhoAmI {
    name: String,
    /// Whether this is the console token (every municipality served).
    console: bool,
    /// The municipalities it may name in the municipality header.
    municipalities: Vec<String>,
    /// The municipality this request is for; `null` for the console when it named none
    /// of several.
    config: Option<String>,
    targets: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    summary = "The caller's name, whether it is the console, the municipalities it may name, and the configuration file and targets of this request",
    params(Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 401, response = ApiError)
    )
)]
async fn whoami(AxState(state): St, headers: HeaderMap) -> ApiResult {
    let caller = state.tokens.caller(&headers)?;
    let municipalities = if caller.console {
        state.sites.iter().map(|s| s.name.clone()).collect()
    } else {
        state
            .sites
            .get(caller.site)
            .map(|s| vec![s.name.clone()])
            .unwrap_or_default()
    };
    let (config, targets) =
        if caller.console && state.sites.len() > 1 && !headers.contains_key(MUNICIPALITY) {
            (None, Vec::new())
        } else {
            let (caller, site) = authorize(&state, &headers, None)?;
            (Some(site.name.clone()), visible_targets(&caller, &site))
        };
    Ok(Json(WhoAmI {
        name: caller.name,
        console: caller.console,
        municipalities,
        config,
        targets,
    })
    .into_response())
}
