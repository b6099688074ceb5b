//! Transfers: a target's pages of them, send now, a transfer's protocol log, readable
//! views of sent and received transports, and the deliveries in doubt with their
//! settling.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::openapi::{IdPath, Municipality, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_app, with_reader};
use crate::pipeline::{self};
use crate::service::Wake;

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
pub(super) async fn view_sent(
    AxState(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
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
pub(super) async fn view_received(
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

/// `?state=&since=&before=&limit=` of the transfers route: one page, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
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
pub(super) async fn transfers(
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
pub(super) async fn send(
    AxState(state): St,
    Path(target): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
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
pub(super) async fn log(
    AxState(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
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
pub(super) async fn doubts(AxState(state): St, headers: HeaderMap) -> ApiResult {
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
pub(super) struct SettleBody {
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
pub(super) async fn settle(
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
