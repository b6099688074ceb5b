//! `GET /api/v1/targets/{target}/files`: a page of the target's files (the payloads of
//! its transfers), newest first, filtered by state, one label, time and a text in the
//! name, through the store's paged reads (`hub_store::Pages::file_page`).

use axum::Json;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::openapi::{Municipality, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_reader};

/// `?state=&label=key=value&text=&since=&before=&limit=` of the files route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FileQuery {
    #[param(schema_with = super::openapi::payload_states)]
    state: Option<String>,
    /// Only files with this label, as key=value (e.g. page=522)
    label: Option<String>,
    /// Only files with this text in their name (case-insensitive; not indexed, it narrows what the other filters leave)
    text: Option<String>,
    /// Only files of transfers created from this time on (Unix milliseconds)
    since: Option<i64>,
    /// The files before this id (the `next` of the page before)
    before: Option<i64>,
    /// Files per page (default 50, at most 1000)
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/targets/{target}/files",
    summary = "A page of the target's files (the payloads of its transfers), newest first, filtered by state, a label, time and a text in the name; `next` (pass as `before`) while there are more",
    params(TargetPath, FileQuery, Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 503, description = "Too many reads at once; try again after Retry-After seconds")
    )
)]
pub(super) async fn files(
    AxState(state): St,
    Path(target): Path<String>,
    Query(q): Query<FileQuery>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, site) = authorize(&state, &headers, Some(&target))?;
    let labels = match q.label.as_deref().map(|l| l.split_once('=')) {
        None => Vec::new(),
        Some(Some((k, v))) => vec![(k.to_string(), v.to_string())],
        Some(None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "a label is key=value, e.g. label=page=522",
            ));
        }
    };
    let query = hub_store::Query {
        target: Some(target),
        state: q.state,
        since: q.since.map(hub_core::time::Timestamp),
        text: q.text,
        labels,
        before: q.before,
        limit: q.limit.unwrap_or(50),
        ..hub_store::Query::default()
    };
    let page = with_reader(&site, move |app| Ok(app.store.file_page(&query)?)).await?;
    Ok(Json(serde_json::json!({ "files": page.items, "next": page.next })).into_response())
}
