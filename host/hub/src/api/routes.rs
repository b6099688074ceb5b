//! The routes. [`ROUTES`] lists them for the OpenAPI check (a test asserts both agree and
//! that each answers).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::{ApiError, MAX_BODY, OPENAPI, State, with_app, with_reader};
use crate::pipeline::{self, EnqueueError};
use crate::service::{Site, Wake};

pub(super) type St = AxState<Arc<State>>;
pub(super) type ApiResult = Result<Response, ApiError>;

/// Every route as (method, path): what `/openapi.json` must describe.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/status.js"),
    ("get", "/status.css"),
    ("get", "/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/whoami"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/console"),
    ("post", "/api/v1/targets/{target}/records"),
    ("get", "/api/v1/targets/{target}/records/{id}"),
    ("post", "/api/v1/targets/{target}/records/{id}/resolve"),
    ("post", "/api/v1/targets/{target}/records/{id}/requeue"),
    ("get", "/api/v1/targets/{target}/transfers"),
    ("get", "/api/v1/targets/{target}/files"),
    ("post", "/api/v1/targets/{target}/send"),
    ("post", "/api/v1/targets/{target}/pause"),
    ("post", "/api/v1/targets/{target}/resume"),
    ("get", "/api/v1/targets/{target}/schema"),
    ("get", "/api/v1/transfers/{id}/log"),
    ("get", "/api/v1/transfers/{id}/view"),
    ("get", "/api/v1/received/{id}/view"),
    ("get", "/api/v1/doubts"),
    ("post", "/api/v1/transfers/{id}/settle"),
    ("post", "/api/v1/transfers/{id}/retry"),
];

/// The router with every route of [`ROUTES`]. The reads that may queue on a site's store
/// pass the concurrency limit of `limits` (shed with 503 beyond it, `harden.rs`); health,
/// metrics, the page's files and every write stay outside it, so a burst of status calls
/// never delays them.
pub fn router(state: Arc<State>, limits: &hub_core::api::ApiLimits) -> Router {
    let reads = Router::new()
        .route("/api/v1/status", get(super::status::status))
        .route("/api/v1/console", get(super::console::console))
        .route("/api/v1/targets/{target}/transfers", get(transfers))
        .route("/api/v1/targets/{target}/files", get(super::files::files))
        .route("/api/v1/transfers/{id}/log", get(log))
        .route("/api/v1/transfers/{id}/view", get(view_sent))
        .route("/api/v1/received/{id}/view", get(view_received))
        .route("/api/v1/doubts", get(doubts));
    let router = Router::new()
        .route("/", get(page))
        .route("/status.js", get(script))
        .route("/status.css", get(style))
        .route("/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(super::metrics::metrics))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/targets/{target}/records", post(enqueue))
        .route("/api/v1/targets/{target}/records/{id}", get(record))
        .route(
            "/api/v1/targets/{target}/records/{id}/resolve",
            post(resolve),
        )
        .route("/api/v1/targets/{target}/send", post(send))
        .route("/api/v1/targets/{target}/pause", post(super::pause::pause))
        .route(
            "/api/v1/targets/{target}/resume",
            post(super::pause::resume),
        )
        .route(
            "/api/v1/targets/{target}/schema",
            get(super::schema::schema),
        )
        .route("/api/v1/transfers/{id}/settle", post(settle))
        .route(
            "/api/v1/targets/{target}/records/{id}/requeue",
            post(super::actions::requeue),
        )
        .route("/api/v1/transfers/{id}/retry", post(super::actions::retry))
        // Identical reads share one reading, outside the limit: a burst of one read
        // passes the limit once.
        .merge(super::harden::limit_reads(reads, limits).layer(
            axum::middleware::from_fn_with_state(state.coalesce.clone(), super::shared::coalesce),
        ))
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

async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("page/index.html"))
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("page/status.js"),
    )
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("page/status.css"))
}

async fn openapi() -> Response {
    asset("application/json", OPENAPI)
}

async fn healthz() -> &'static str {
    "ok\n"
}

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

/// An HTML view: no script may run in it, styles only inline, never framed elsewhere.
fn html_view(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

pub(super) fn number(id: &str, what: &str) -> Result<i64, ApiError> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("{what} is an integer")))
}

/// `GET /api/v1/transfers/{id}/view`: a readable view of a sent SurvNet transport.
async fn view_sent(AxState(state): St, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let id = number(&id, "a transfer number")?;
    let html = with_reader(&site, move |app| {
        let t = app.store.transfer(id)?;
        if !caller.may(&t.target) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token may not read transfer #{id}"),
            ));
        }
        Ok(crate::view::sent(app, id, crate::view::Format::Html)?)
    })
    .await?;
    Ok(html_view(html))
}

/// `GET /api/v1/received/{id}/view`: a readable view of a received transport (operator).
async fn view_received(
    AxState(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    if caller.targets.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only the operator token may read received transports",
        ));
    }
    let id = number(&id, "a received transport's number")?;
    let html = with_reader(&site, move |app| {
        Ok(crate::view::received(app, id, crate::view::Format::Html)?)
    })
    .await?;
    Ok(html_view(html))
}

/// The body, refused with 413 when its declared or actual size is over [`MAX_BODY`].
async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than {} MiB; send smaller batches",
                MAX_BODY >> 20
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| too_large())
}

/// The `charset` of a `Content-Type` value (`text/plain; charset="windows-1252"`).
fn content_type_charset(value: &str) -> Option<&str> {
    value.split(';').skip(1).find_map(|param| {
        let (name, v) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    })
}

/// The body's charset: the `charset` query parameter or `Content-Type`'s, which must
/// agree when both are given; none: UTF-8.
fn body_charset<'a>(
    query: Option<&'a str>,
    content_type: Option<&'a str>,
) -> Result<Option<&'a str>, String> {
    let header = content_type.and_then(content_type_charset);
    match (query, header) {
        (Some(q), Some(h))
            if hub_core::input::encoding_name(q) != hub_core::input::encoding_name(h) =>
        {
            Err(format!(
                "the query says charset={q} and Content-Type says charset={h}; give one"
            ))
        }
        (q, h) => Ok(q.or(h)),
    }
}

/// `?charset=` of the enqueue route.
#[derive(Debug, Default, Deserialize)]
struct EnqueueQuery {
    charset: Option<String>,
}

/// `POST /api/v1/targets/{target}/records`: `application/json` is one record (an
/// object), anything else NDJSON; all or nothing, as `hub enqueue`. The body is UTF-8
/// unless a `charset` (in `Content-Type` or the query) names another; it is read by the
/// same decoder as `hub enqueue --encoding`.
async fn enqueue(
    AxState(state): St,
    Path(target): Path<String>,
    Query(query): Query<EnqueueQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    // The token first, so no stranger makes the hub buffer a large body.
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let body = read_limited(&headers, body).await?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let charset = body_charset(query.charset.as_deref(), content_type).map_err(bad)?;
    let text = hub_core::input::decode(&body, charset).map_err(|e| {
        let hint = match (&e, charset) {
            (hub_core::input::DecodeError::Malformed { .. }, None) => {
                "; give the body's charset in Content-Type (e.g. application/x-ndjson; \
                 charset=windows-1252) or as ?charset=windows-1252"
            }
            _ => "",
        };
        bad(format!("nothing was queued: the body: {e}{hint}"))
    })?;
    let single = content_type.is_some_and(|v| v.starts_with("application/json"));
    let text = if single {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(bad("a single record must be a JSON object".into()));
        }
        value.to_string()
    } else {
        text
    };
    if text.trim().is_empty() {
        return Err(bad("no records in the body".into()));
    }
    let realtime = site.realtime(&target);
    let t = target.clone();
    let report = with_app(&site, move |app| {
        // Validation uses the plugin the sender will encode with: pick up a replaced file.
        app.reload_plugins();
        pipeline::enqueue(app, &t, &text).map_err(|e| match e {
            EnqueueError::Input(errors) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                error: format!("nothing was queued: {errors}"),
                problems: errors.0.iter().map(ToString::to_string).collect(),
            },
            EnqueueError::Store(e) => e.into(),
            // The body was decoded whole before: not reached, but answered as the input's.
            e @ (EnqueueError::Decode(_) | EnqueueError::Read(_)) => {
                ApiError::new(StatusCode::BAD_REQUEST, format!("nothing was queued: {e}"))
            }
            EnqueueError::Engine(e) => ApiError::internal(e),
        })
    })
    .await?;
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, queued = report.queued, duplicates = report.duplicates, "api: enqueued");
    if realtime && report.queued > 0 {
        let _ = site.wake.send(Wake::Send(target));
    }
    Ok((StatusCode::OK, Json(report)).into_response())
}

async fn record(
    AxState(state): St,
    Path((target, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, site) = authorize(&state, &headers, Some(&target))?;
    let t = target.clone();
    let found = with_reader(&site, move |app| Ok(app.store.records_by_id(&t, &id)?)).await?;
    if found.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such record for target {target}"),
        ));
    }
    Ok(Json(serde_json::json!({ "records": found })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    reason: String,
}

async fn resolve(
    AxState(state): St,
    Path((target, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let body: ResolveBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a resolution needs a reason",
        ));
    }
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, record = %id, reason = %hub_plugin_sdk::text::excerpt_max(body.reason.trim(), 300), "api: resolve");
    let res = with_app(&site, move |app| {
        let now = app.now();
        Ok(app
            .store
            .resolve(Some(&target), &id, &who, body.reason.trim(), now)?)
    })
    .await?;
    Ok(Json(res).into_response())
}

/// `?state=&since=&before=&limit=` of the transfers route: one page, newest first.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    state: Option<String>,
    /// Unix milliseconds.
    since: Option<i64>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/v1/targets/{target}/transfers`: a page of the target's transfers, newest
/// first, with `next` (pass as `before`) while there are more.
async fn transfers(
    AxState(state): St,
    Path(target): Path<String>,
    Query(page): Query<PageQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, site) = authorize(&state, &headers, Some(&target))?;
    let query = hub_store::Query {
        target: Some(target),
        state: page.state,
        since: page.since.map(hub_core::time::Timestamp),
        before: page.before,
        limit: page.limit.unwrap_or(super::status::RECENT_TRANSFERS),
        ..hub_store::Query::default()
    };
    let page = with_reader(&site, move |app| Ok(app.store.transfer_page(&query)?)).await?;
    Ok(Json(serde_json::json!({ "transfers": page.items, "next": page.next })).into_response())
}

/// Hands the send to the site's sender thread (the one holder of the send lock).
async fn send(AxState(state): St, Path(target): Path<String>, headers: HeaderMap) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, "api: send requested");
    // A paused target is refused here, not silently skipped by the service.
    let t = target.clone();
    if let Some(p) = with_app(&site, move |app| Ok(app.store.paused(&t)?)).await? {
        return Err(pipeline::SendError::from(p).into());
    }
    site.wake
        .send(Wake::Send(target.clone()))
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "target": target, "send": "started" })),
    )
        .into_response())
}

async fn log(AxState(state): St, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let id: i64 = id
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "a transfer number is an integer"))?;
    let attempts = with_reader(&site, move |app| {
        let t = app.store.transfer(id)?;
        if !caller.may(&t.target) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token may not read transfer #{id}"),
            ));
        }
        Ok(app.store.attempts(Some(id))?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "transfer": id, "attempts": attempts })).into_response())
}

/// `GET /api/v1/doubts`: deliveries in doubt of the targets this token may see.
async fn doubts(AxState(state): St, headers: HeaderMap) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let list = with_reader(&site, move |app| {
        let mut all = app.store.doubts(None, false)?;
        all.retain(|d| caller.may(&d.target));
        Ok(all)
    })
    .await?;
    Ok(Json(serde_json::json!({ "in_doubt": list })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    /// true: the receiver has it; false: send it again, unchanged, under the same number.
    delivered: bool,
    reason: String,
}

/// `POST /api/v1/transfers/{id}/settle`: a person's decision about a transfer in doubt,
/// kept with the token's name, the time and the reason.
async fn settle(
    AxState(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let id: i64 = id
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "a transfer number is an integer"))?;
    let body: SettleBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"delivered\": true|false, \"reason\": \"…\"}}: {e}"),
        )
    })?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a settlement needs a reason: what the receiver said, who was asked",
        ));
    }
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, transfer = id, delivered = body.delivered, reason = %hub_plugin_sdk::text::excerpt_max(body.reason.trim(), 300), "api: settle");
    let state = with_app(&site, move |app| {
        let t = app.store.transfer(id)?;
        if !caller.may(&t.target) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token may not settle transfer #{id}"),
            ));
        }
        pipeline::settle(app, id, body.delivered, &who, &body.reason).map_err(ApiError::from)
    })
    .await?;
    Ok(Json(serde_json::json!({
        "transfer": id,
        "settled_as": if body.delivered { "delivered" } else { "not-delivered" },
        "state": state.to_string(),
    }))
    .into_response())
}
