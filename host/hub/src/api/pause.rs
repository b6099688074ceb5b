//! `POST /api/v1/targets/{target}/pause` (`{"reason": "…"}`) and `…/resume`: `hub pause`
//! and `hub resume` through the API, by a token that may use the target; the caller is
//! kept as who paused it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::openapi::{Municipality, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_app};

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/pause",
    summary = "Stop sending to the target (every worker) until it is resumed, with a reason (as `hub pause`); records still queue, and a send is refused with 409 naming the pause",
    params(TargetPath, Municipality),
    request_body(content = inline(super::actions::ReasonBody), content_type = "application/json"),
    responses(
        (status = 200, description = "`paused`: the pause (target, since, by, reason); when it was paused already, the first pause"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError)
    )
)]
pub(super) async fn pause(
    axum::extract::State(state): St,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let reason = super::actions::reason(&body, "pause")?;
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

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/resume",
    summary = "Send to a paused target again (as `hub resume`)",
    params(TargetPath, Municipality),
    responses(
        (status = 200, description = "`resumed`: whether it was paused"),
        (status = 403, response = ApiError)
    )
)]
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
