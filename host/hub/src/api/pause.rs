//! `POST /api/v1/targets/{target}/pause` (`{"reason": "…"}`) and `…/resume`: `hub pause`
//! and `hub resume` through the API, by a token that may use the target; the caller is
//! kept as who paused it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_app};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    reason: String,
}

pub(super) async fn pause(
    axum::extract::State(state): St,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let body: PauseBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a pause needs a reason",
        ));
    }
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, reason = %hub_plugin_sdk::text::excerpt_max(&reason, 300), "api: pause");
    let pause = with_app(&site, move |app| {
        let now = app.now();
        app.store.pause_target(&target, &who, &reason, now)?;
        Ok(app.store.paused(&target)?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "paused": pause })).into_response())
}

pub(super) async fn resume(
    axum::extract::State(state): St,
    Path(target): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, "api: resume");
    let resumed = with_app(&site, move |app| {
        let now = app.now();
        Ok(app.store.resume_target(&target, &who, now)?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "resumed": resumed })).into_response())
}
