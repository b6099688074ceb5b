//! The routes, each described where it is handled: [`routes`] registers every handler with
//! utoipa-axum's `routes!`, which routes it at the path and method of its
//! `#[utoipa::path]`, and gathers those descriptions into the document served at
//! `/openapi.json` (`openapi.rs` adds what they share).

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::openapi::{EnqueueReportSchema, IdPath, Municipality, Records, TargetPath};
use super::{ApiError, MAX_BODY, State, with_app, with_reader};
use crate::pipeline::{self, EnqueueError};
use crate::service::{Site, Wake};

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
        .routes(routes!(transfers))
        .routes(routes!(super::files::files))
        .routes(routes!(log))
        .routes(routes!(view_sent))
        .routes(routes!(view_received))
        .routes(routes!(doubts));
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
        .routes(routes!(enqueue))
        .routes(routes!(record))
        .routes(routes!(resolve))
        .routes(routes!(send))
        .routes(routes!(super::pause::pause))
        .routes(routes!(super::pause::resume))
        .routes(routes!(super::schema::schema))
        .routes(routes!(settle))
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

#[utoipa::path(
    get,
    path = "/api/v1/transfers/{id}/view",
    summary = "A readable view of a sent SurvNet transport (HTML): header, each record's attributes and fields as tables, documents; every value escaped, at most 1000 records or 4 MiB",
    params(IdPath, Municipality),
    responses(
        (status = 200, description = "The view", body = String, content_type = "text/html"),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/received/{id}/view",
    summary = "A readable view of a received transport (HTML), by the id the status lists under `received`; operator token only",
    params(IdPath, Municipality),
    responses(
        (status = 200, description = "The view", body = String, content_type = "text/html"),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError)
    )
)]
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EnqueueQuery {
    /// The body's encoding (a WHATWG label: utf-8, windows-1252, iso-8859-15, …)
    charset: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/records",
    summary = "Enqueue records, all or nothing (as `hub enqueue`)",
    description = "Content-Type application/json: one record (an object with `id` and `kind`). Anything else (application/x-ndjson): NDJSON, one record a line. Bodies over 16 MiB get 413. A real-time target starts sending at once. The body is UTF-8 unless a charset names another (the `charset` parameter of Content-Type, or the `charset` query parameter; both given, they must agree), e.g. `application/x-ndjson; charset=windows-1252`; a body that is not text in its charset gets 400 naming line and byte.",
    params(TargetPath, EnqueueQuery, Municipality),
    request_body(content(
        (String = "application/x-ndjson"),
        (Object = "application/json")
    )),
    responses(
        (status = 200, description = "Queued", body = EnqueueReportSchema),
        (status = 400, response = ApiError),
        (status = 401, response = ApiError),
        (status = 403, response = ApiError),
        (status = 413, description = "Body too large"),
        (status = 422, response = ApiError)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/targets/{target}/records/{id}",
    summary = "A record's state and outcome (every record sent under this id, oldest first)",
    params(TargetPath, IdPath, Municipality),
    responses(
        (status = 200, description = "OK", body = inline(Records)),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError)
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    #[schema(min_length = 1)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/records/{id}/resolve",
    summary = "Complete a rejected or failed record without import, with a reason (as `hub resolve`)",
    params(TargetPath, IdPath, Municipality),
    request_body(content = inline(ResolveBody), content_type = "application/json"),
    responses(
        (status = 200, description = "Resolved"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError),
        (status = 409, response = ApiError)
    )
)]
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    #[param(schema_with = super::openapi::transfer_states)]
    state: Option<String>,
    /// Only transfers created from this time on (Unix milliseconds)
    since: Option<i64>,
    /// The transfers before this id (the `next` of the page before)
    before: Option<i64>,
    /// Transfers per page (default 100, at most 1000)
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/targets/{target}/transfers",
    summary = "A page of the target's transfers, newest first, with their state, payloads and attempts; `next` (pass as `before`) while there are more",
    params(TargetPath, PageQuery, Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 403, response = ApiError),
        (status = 503, description = "Too many reads at once; try again after Retry-After seconds")
    )
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/send",
    summary = "Send the target's queue now (handed to the service's sender)",
    params(TargetPath, Municipality),
    responses(
        (status = 202, description = "Started"),
        (status = 403, response = ApiError)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/transfers/{id}/log",
    summary = "The protocol log of a transfer: every attempt, what was sent, what came back",
    params(IdPath, Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError)
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/doubts",
    summary = "Deliveries in doubt (whether they arrived is unknown), held for a person to settle",
    params(Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 401, response = ApiError)
    )
)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    /// true: the receiver has it; false: send it again, unchanged, under the same number.
    delivered: bool,
    #[schema(min_length = 1)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/settle",
    summary = "Settle a transfer in doubt after asking the receiver: delivered, or not delivered (sent again, unchanged, under the same number)",
    params(IdPath, Municipality),
    request_body(content = inline(SettleBody), content_type = "application/json"),
    responses(
        (status = 200, description = "OK"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError),
        (status = 409, response = ApiError)
    )
)]
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
