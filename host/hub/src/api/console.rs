//! `GET /api/v1/console`: the summary across municipalities, one line per target (what
//! waits, what needs a person, how old the oldest waiting record is, when the last
//! delivery succeeded, whether it is paused). The console token sees every municipality
//! served, any other token its own file's targets. Each line is the store's overview
//! (kept counts and indexes over what is open), so it costs O(targets), not O(history).

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::HeaderMap;
use serde::Serialize;

use super::auth::Caller;
use super::routes::{ApiResult, St, visible_targets};
use super::{ApiError, with_reader};
use crate::service::Site;

#[derive(Serialize)]
struct Console {
    caller: String,
    console: bool,
    municipalities: Vec<Municipality>,
}

#[derive(Serialize)]
struct Municipality {
    name: String,
    /// Why this municipality could not be read (the others are still shown).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    targets: Vec<TargetLine>,
}

#[derive(Serialize)]
struct TargetLine {
    #[serde(flatten)]
    summary: hub_store::TargetSummary,
    sending: &'static str,
    paused: Option<hub_store::pause::Pause>,
}

#[utoipa::path(
    get,
    path = "/api/v1/console",
    summary = "The summary across municipalities: per target queued, in flight, in doubt, needing a person, files stuck, receipts missing, oldest waiting, last success, paused. The console token sees every municipality, any other token its own targets",
    responses(
        (status = 200, description = "OK"),
        (status = 401, response = ApiError)
    )
)]
pub(super) async fn console(AxState(state): St, headers: HeaderMap) -> ApiResult {
    let caller = state.tokens.caller(&headers)?;
    let sites: Vec<(usize, Arc<Site>)> = if caller.console {
        state.sites.iter().cloned().enumerate().collect()
    } else {
        let site = state
            .sites
            .get(caller.site)
            .cloned()
            .ok_or_else(|| ApiError::internal("token without its site"))?;
        vec![(caller.site, site)]
    };
    let mut municipalities = Vec::new();
    for (i, site) in sites {
        let scoped = Caller {
            site: i,
            ..caller.clone()
        };
        let name = site.name.clone();
        match lines(&scoped, &site).await {
            Ok(targets) => municipalities.push(Municipality {
                name,
                error: None,
                targets,
            }),
            Err(e) => municipalities.push(Municipality {
                name,
                error: Some(e.error),
                targets: Vec::new(),
            }),
        }
    }
    let body = serde_json::to_vec(&Console {
        caller: caller.name,
        console: caller.console,
        municipalities,
    })
    .map_err(ApiError::internal)?;
    Ok(super::status::etagged(&headers, body.into()))
}

/// One site's lines, for the targets the caller may see.
async fn lines(caller: &Caller, site: &Arc<Site>) -> Result<Vec<TargetLine>, ApiError> {
    let targets = visible_targets(caller, site);
    let site2 = site.clone();
    with_reader(site, move |app| {
        let now = app.now();
        let limits = super::metrics::target_limits(&app.config);
        let mut paused = app.store.paused_targets()?;
        Ok(app
            .store
            .overview(&limits, now)?
            .into_iter()
            .filter(|s| targets.contains(&s.target))
            .map(|summary| {
                let sending = if site2.realtime(&summary.target) {
                    "realtime"
                } else {
                    "manual"
                };
                let paused = paused
                    .iter()
                    .position(|p| p.target == summary.target)
                    .map(|i| paused.swap_remove(i));
                TargetLine {
                    summary,
                    sending,
                    paused,
                }
            })
            .collect())
    })
    .await
}
