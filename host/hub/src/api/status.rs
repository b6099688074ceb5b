//! `GET /api/v1/status`: what the status page shows per target, read so that it costs
//! what it shows (kept counts, the newest transfers and records to check through the
//! store's indexes, the open doubts), and the received transports for the operator.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::Caller;
use super::routes::{ApiResult, St, authorize, visible_targets};
use super::{ApiError, with_reader};
use crate::service::Site;

/// The status page's view of one target.
#[derive(Serialize)]
struct TargetView {
    name: String,
    sending: &'static str,
    /// Who paused it, when and why; `null` when it sends.
    paused: Option<hub_store::pause::Pause>,
    counts: hub_store::Counts,
    transfers: Vec<hub_store::Transfer>,
    needs_check: Vec<hub_store::RecordView>,
    /// Deliveries held in doubt for a person.
    in_doubt: Vec<hub_store::Doubt>,
    stuck: Vec<StuckView>,
    /// Transfers carrying a SurvNet transport, which `/api/v1/transfers/{id}/view` shows.
    viewable: Vec<i64>,
}

#[derive(Serialize)]
struct StuckView {
    transfer: i64,
    name: String,
    delivered_at: String,
    minutes_waiting: i64,
}

/// Records to check and received transports shown, newest first.
pub(super) const RECENT_TRANSFERS: usize = 100;

/// Transfers in a target's first page, newest first: the page asks for more in pages of
/// the same size (`More`), so the overview carries no more than one of them.
pub(super) const FIRST_PAGE: usize = 50;

/// A burst of these from one token shares readings (`shared::coalesce`, over every read).
#[utoipa::path(
    get,
    path = "/api/v1/status",
    summary = "Per target of the caller: counts, recent transfers, records that need a person, files stuck on the receiver",
    params(super::openapi::Municipality),
    responses(
        (status = 200, description = "OK"),
        (status = 401, response = ApiError)
    )
)]
pub(super) async fn status(AxState(state): St, headers: HeaderMap) -> ApiResult {
    let (caller, site) = authorize(&state, &headers, None)?;
    let body = overview(caller, site).await?;
    Ok(etagged(&headers, body))
}

/// A JSON answer with its ETag (a digest of the bytes), 304 when the caller has these
/// bytes already: the page polls, and most polls find nothing new. `no-cache` makes the
/// browser ask every time; `private`, because the answer depends on the token.
pub(super) fn etagged(headers: &HeaderMap, body: Bytes) -> Response {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(&body);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    let cache = (header::CACHE_CONTROL, "private, no-cache".to_string());
    let known = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if known {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), cache]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, tag),
            cache,
        ],
        body,
    )
        .into_response()
}

/// One reading of the overview, encoded.
async fn overview(caller: Caller, site: Arc<Site>) -> Result<Bytes, ApiError> {
    let targets = visible_targets(&caller, &site);
    let config = site.config.clone();
    // The receiving side belongs to no target: only the operator sees it.
    let operator = caller.targets.is_none();
    let (caller_name, site_name) = (caller.name, site.name.clone());
    with_reader(&site, move |app| {
        let now = app.now();
        // What an operator must act on before it hurts: paused targets, certificates
        // about to expire or unusable (credentials are the operator's, not a source's).
        let paused: Vec<hub_store::pause::Pause> = app
            .store
            .paused_targets()?
            .into_iter()
            .filter(|p| targets.contains(&p.target))
            .collect();
        let mut warnings: Vec<String> = paused
            .iter()
            .map(|p| crate::pipeline::SendError::from(p.clone()).to_string())
            .collect();
        if operator {
            for (_, info) in crate::certificates::all(&app.config, now) {
                match info {
                    Ok(c) if c.expiring => warnings.push(crate::certificates::warning(&c)),
                    Ok(_) => {}
                    Err(e) => warnings.push(e),
                }
            }
        }
        let mut views = Vec::new();
        for name in targets {
            // What is shown costs what it shows: kept counts, the newest transfers and
            // records to check through the store's indexes, the open doubts.
            let counts =
                app.store
                    .counts(Some(&name))?
                    .pop()
                    .unwrap_or_else(|| hub_store::Counts {
                        target: name.clone(),
                        ..Default::default()
                    });
            let recent = |state: Option<&str>| hub_store::Query {
                target: Some(name.clone()),
                state: state.map(Into::into),
                limit: RECENT_TRANSFERS,
                ..hub_store::Query::default()
            };
            let mut st = hub_store::Status {
                transfers: app
                    .store
                    .transfer_page(&hub_store::Query {
                        limit: FIRST_PAGE,
                        ..recent(None)
                    })?
                    .items,
                in_doubt: app.store.doubts(Some(&name), false)?,
                ..hub_store::Status::default()
            };
            for state in ["rejected", "failed"] {
                st.needs_check
                    .extend(app.store.record_page(&recent(Some(state)))?.items);
            }
            st.needs_check.sort_by_key(|r| r.seq);
            let tc = config.target(&name);
            let mut stuck = Vec::new();
            if let Some(minutes) = tc.and_then(|t| t.stuck_after_minutes) {
                for p in app.store.unclaimed_payloads(&name)? {
                    let Some(at) = p.delivered_at else { continue };
                    let waiting = (now.0 - at.0) / 60_000;
                    if waiting >= i64::try_from(minutes).unwrap_or(i64::MAX) {
                        stuck.push(StuckView {
                            transfer: p.transfer_id,
                            name: p.name,
                            delivered_at: at.to_string(),
                            minutes_waiting: waiting,
                        });
                    }
                }
            }
            let viewable = st
                .transfers
                .iter()
                .filter(|t| {
                    t.payloads
                        .iter()
                        .any(|p| crate::view::is_transport_name(&p.name))
                })
                .map(|t| t.id)
                .collect();
            views.push(TargetView {
                viewable,
                paused: paused.iter().find(|p| p.target == name).cloned(),
                sending: match tc.map(|t| t.sending) {
                    Some(hub_core::config::Sending::Realtime) => "realtime",
                    _ => "manual",
                },
                name,
                counts,
                transfers: st.transfers,
                needs_check: st.needs_check,
                in_doubt: st.in_doubt,
                stuck,
            });
        }
        let received = if operator {
            hub_store::inbound::InboundStore::inbound_transports(
                &mut *app.store,
                None,
                RECENT_TRANSFERS,
            )?
            .into_iter()
            .map(|t| ReceivedView {
                arrived_at: hub_core::time::Timestamp(t.arrived_at).to_string(),
                id: t.id,
                inbound: t.inbound,
                sender: t.sender,
                receiver: t.receiver,
                number: t.number,
                state: t.state,
                records: t.records,
                rejected: t.rejected,
                documents: t.documents,
            })
            .collect()
        } else {
            Vec::new()
        };
        // Encoded here, on the blocking pool beside the read: the HTTP runtime is one
        // thread, and an overview of hundreds of rows is the costliest part of a call.
        serde_json::to_vec(&Overview {
            caller: caller_name,
            config: site_name,
            warnings,
            targets: views,
            received,
        })
        .map(Bytes::from)
        .map_err(ApiError::internal)
    })
    .await
}

/// The answer of `GET /api/v1/status`.
#[derive(Serialize)]
struct Overview {
    caller: String,
    config: String,
    warnings: Vec<String>,
    targets: Vec<TargetView>,
    received: Vec<ReceivedView>,
}

/// A transport that arrived (`hub import`), as the status page lists it.
#[derive(Serialize)]
struct ReceivedView {
    id: i64,
    inbound: String,
    sender: String,
    receiver: String,
    number: u64,
    state: String,
    arrived_at: String,
    records: u64,
    rejected: u64,
    documents: u64,
}
