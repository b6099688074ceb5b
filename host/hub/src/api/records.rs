//! The records of a target: enqueue (NDJSON or one JSON record, in a declared charset),
//! a record's state, and resolving one by hand.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::openapi::{EnqueueReportSchema, IdPath, Municipality, Records, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, MAX_BODY, with_app, with_reader};
use crate::pipeline::{self, EnqueueError};
use crate::service::Wake;

/// The body, refused with 413 when its declared or actual size is over [`MAX_BODY`].
pub(super) async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
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
pub(super) struct EnqueueQuery {
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
pub(super) async fn enqueue(
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
pub(super) async fn record(
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

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/records/{id}/resolve",
    summary = "Complete a rejected or failed record without import, with a reason (as `hub resolve`)",
    params(TargetPath, IdPath, Municipality),
    request_body(content = inline(super::actions::ReasonBody), content_type = "application/json"),
    responses(
        (status = 200, description = "Resolved"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError),
        (status = 409, response = ApiError)
    )
)]
pub(super) async fn resolve(
    AxState(state): St,
    Path((target, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let reason = super::actions::reason(&body, "resolution")?;
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, record = %id, reason = %hub_plugin_sdk::text::excerpt_max(&reason, 300), "api: resolve");
    let res = with_app(&site, move |app| {
        let now = app.now();
        Ok(app.store.resolve(Some(&target), &id, &who, &reason, now)?)
    })
    .await?;
    Ok(Json(res).into_response())
}
