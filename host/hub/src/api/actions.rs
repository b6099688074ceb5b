//! A person's actions through the API besides resolve and pause: `POST
//! /api/v1/targets/{target}/records/{id}/requeue` and `POST /api/v1/transfers/{id}/retry`
//! (`{"reason": "…"}` each), kept with the token's name as who did it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use super::openapi::{IdPath, Municipality, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_app};
use crate::pipeline;
use crate::service::Wake;

/// `{"reason": "…"}`: the body of every action a person takes with a reason alone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonBody {
    #[schema(min_length = 1)]
    reason: String,
}

/// The body's reason, trimmed; 400 when missing or empty (`what`: "a {what} needs a
/// reason").
pub(super) fn reason(body: &Bytes, what: &str) -> Result<String, ApiError> {
    let body: ReasonBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"reason\": \"…\"}}: {e}"),
        )
    })?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("a {what} needs a reason"),
        ));
    }
    Ok(reason)
}

#[utoipa::path(
    post,
    path = "/api/v1/targets/{target}/records/{id}/requeue",
    summary = "Send a rejected or failed record again (as `hub requeue`): a new queued record, the old one complete with the token's name and the reason; refused for a record in doubt or one with a newer record",
    params(TargetPath, IdPath, Municipality),
    request_body(content = inline(ReasonBody), content_type = "application/json"),
    responses(
        (status = 200, description = "Queued again: `{\"requeued\": {\"record\", \"queued\", \"transfer_done\"}}`"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError),
        (status = 409, response = ApiError)
    )
)]
/// Sends the record again: a new queued record; a real-time target sends it at once.
pub(super) async fn requeue(
    axum::extract::State(state): St,
    Path((target, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, Some(&target))?;
    let reason = reason(&body, "requeue")?;
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, target_name = %target, record = %hub_plugin_sdk::text::excerpt_max(&id, 200), reason = %hub_plugin_sdk::text::excerpt_max(&reason, 300), "api: requeue");
    let t = target.clone();
    let r = with_app(&site, move |app| {
        let now = app.now();
        Ok(app.store.requeue(Some(&t), &id, &who, &reason, now)?)
    })
    .await?;
    if site.realtime(&target) {
        let _ = site.wake.send(Wake::Send(target));
    }
    Ok(Json(serde_json::json!({ "requeued": r })).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/transfers/{id}/retry",
    summary = "Deliver an open transfer now instead of after the target's backoff or schedule (as `hub retry`); nothing new is numbered; refused for a transfer in doubt, delivered, or of a paused target",
    params(IdPath, Municipality),
    request_body(content = inline(ReasonBody), content_type = "application/json"),
    responses(
        (status = 202, description = "Handed to the sender"),
        (status = 400, response = ApiError),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError),
        (status = 409, response = ApiError)
    )
)]
/// Delivers the transfer's target's open transfers now, on the site's sender thread.
pub(super) async fn retry(
    axum::extract::State(state): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let id = super::transfers::number(&id, "a transfer number")?;
    let reason = reason(&body, "retry")?;
    let who = format!("{} (api)", caller.name);
    tracing::info!(caller = %caller.name, site = %site.name, transfer = id, reason = %hub_plugin_sdk::text::excerpt_max(&reason, 300), "api: retry");
    let target = with_app(&site, move |app| {
        let t = app.store.transfer(id)?;
        if !caller.may(&t.target) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("this token may not retry transfer #{id}"),
            ));
        }
        if let Some(p) = app.store.paused(&t.target)? {
            return Err(pipeline::SendError::from(p).into());
        }
        pipeline::ask_retry(app, id, &who, &reason).map_err(ApiError::from)
    })
    .await?;
    site.wake
        .send(Wake::Retry(target.clone()))
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the service is stopping"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "transfer": id, "target": target, "retry": "started" })),
    )
        .into_response())
}
