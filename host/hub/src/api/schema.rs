//! `GET /api/v1/targets/{target}/schema`: the JSON Schemas of the target's plugin, an
//! object kind → schema (contract 0.2.1 `schema`), for a source system to check records
//! before it sends them; 404 when the plugin declares none. The same as
//! `hub plugin schema`, with the per-target routes' authorization.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::openapi::{Municipality, TargetPath};
use super::routes::{ApiResult, St, authorize};
use super::{ApiError, with_app};

#[utoipa::path(
    get,
    path = "/api/v1/targets/{target}/schema",
    summary = "The JSON Schemas the target's plugin declares for its record kinds (contract 0.2.1), as `hub plugin schema`; every record is checked against its kind's schema when it is queued",
    params(TargetPath, Municipality),
    responses(
        (status = 200, description = "An object: record kind → JSON Schema", body = std::collections::BTreeMap<String, Object>),
        (status = 403, response = ApiError),
        (status = 404, response = ApiError)
    )
)]
pub(super) async fn schema(
    axum::extract::State(state): St,
    Path(target): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let (_, site) = authorize(&state, &headers, Some(&target))?;
    let t = target.clone();
    let (plugin, list) = with_app(&site, move |app| {
        let rt = app.target(&t).map_err(ApiError::internal)?;
        Ok((rt.plugin.name().to_string(), rt.plugin.schemas()))
    })
    .await?;
    match crate::commands::plugin_schema::schemas_object(&list) {
        Some(all) => Ok(Json(all).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("target {target}: plugin {plugin} declares no JSON Schema for its records"),
        )),
    }
}
