//! `GET /api/v1/targets/{target}/files`: a page of the target's files (the payloads of
//! its transfers), newest first, filtered by state, one label, time and a text in the
//! name, through the store's paged reads (`hub_store::Pages::file_page`).

use axum::Json;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_reader};

/// `?state=&label=key=value&text=&since=&before=&limit=` of the files route.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FileQuery {
    state: Option<String>,
    /// `key=value`: only files carrying this label.
    label: Option<String>,
    /// A case-insensitive part of the file's name.
    text: Option<String>,
    /// Unix milliseconds.
    since: Option<i64>,
    before: Option<i64>,
    limit: Option<usize>,
}

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
