//! What keeps `hub serve` answering when clients are slow or many (issue 15: one burst of
//! 1,000 status calls once made an enqueue wait 73 s, and 200 clients dribbling headers
//! stayed connected for a minute):
//!
//! - reads that may queue on a site's store (status, transfers, files, log, doubts,
//!   views) pass a concurrency limit; beyond it they are shed at once with 503 and
//!   `Retry-After` (tower's `ConcurrencyLimit` + `LoadShed`), so `/healthz`, `/metrics`
//!   and enqueues never wait behind a queue of them;
//! - every request has a deadline (408 after it, body included: a body that dribbles in
//!   is cut off), and a connection whose headers do not arrive in time is closed
//!   (hyper's header read timeout, in `serve.rs`);
//! - security headers on every answer, and one access-log line per request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hub_core::api::ApiLimits;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

/// Seconds a shed client is asked to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The peer of a connection, put into each request by `serve.rs` for the access log.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The answer to a request shed or failed by a layer (not by a handler).
async fn layer_error(e: tower::BoxError) -> Response {
    if e.is::<tower::load_shed::error::Overloaded>() {
        tracing::warn!("api: busy, a read was shed (503)");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string())],
            axum::Json(serde_json::json!({
                "error": "busy: too many reads at once; try again shortly"
            })),
        )
            .into_response();
    }
    tracing::error!(error = %e, "api: a layer failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

/// `reads` with the concurrency limit and load shedding of `limits`: one limit for all of
/// them together (a global limit: its semaphore is shared by every route the layer is
/// applied to, and by every copy axum makes of a route).
pub fn limit_reads<S: Clone + Send + Sync + 'static>(
    reads: OpenApiRouter<S>,
    limits: &ApiLimits,
) -> OpenApiRouter<S> {
    reads.route_layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(layer_error))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(
                limits.max_concurrent_reads.max(1),
            )),
    )
}

/// Content-Security-Policy of every answer that sets none itself: the page loads its
/// script and style from here only and may not be framed by another site (its own views
/// are framed by the page, hence `'self'`).
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// The whole router with deadlines, security headers and the access log.
pub fn harden(router: Router, limits: &ApiLimits) -> Router {
    let timeout = Duration::from_millis(limits.request_timeout_ms.max(1));
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn(access_log))
}

/// One line per request: who connected, what was asked, the answer and how long it took.
/// The path only (a query may carry nothing secret here, but tokens travel in headers,
/// which are never logged).
async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let peer = request
        .extensions()
        .get::<Peer>()
        .map(|p| p.0.to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        target: "hub::access",
        peer = %peer,
        method = %method,
        path = %hub_plugin_sdk::text::excerpt_max(&path, 200),
        status,
        ms,
        "api: request"
    );
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::routing::get;
    use tokio::sync::Semaphore;
    use tower::ServiceExt;

    use super::*;

    /// Two reads held inside the handler fill a limit of two: a third, on another read
    /// route, is shed at once with 503 and `Retry-After`, a route outside the limit still
    /// answers, and once the two finish a read is taken again. (The router is used
    /// without `with_state`, so axum layers each request's route anew: the limit must
    /// hold across that too.)
    #[test]
    fn reads_beyond_the_limit_are_shed_and_others_still_answer() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        rt.block_on(async {
            let gate = Arc::new(Semaphore::new(0));
            let entered = Arc::new(Semaphore::new(0));
            let (g, e) = (gate.clone(), entered.clone());
            let handler = move || {
                let (g, e) = (g.clone(), e.clone());
                async move {
                    e.add_permits(1);
                    let _held = g.acquire().await;
                    "read\n"
                }
            };
            let reads = Router::new()
                .route("/read", get(handler.clone()))
                .route("/other", get(handler));
            let limits = ApiLimits {
                max_concurrent_reads: 2,
                ..ApiLimits::default()
            };
            let app = harden(
                Router::from(limit_reads(reads.into(), &limits))
                    .route("/healthz", get(|| async { "ok\n" })),
                &limits,
            );
            let call = |path: &'static str| {
                let app = app.clone();
                async move {
                    app.oneshot(
                        Request::builder()
                            .uri(path)
                            .body(Body::empty())
                            .unwrap_or_else(|e| panic!("{e}")),
                    )
                    .await
                    .unwrap_or_else(|e| match e {})
                }
            };
            let first = tokio::spawn(call("/read"));
            let second = tokio::spawn(call("/read"));
            let _in = entered.acquire_many(2).await;
            // One limit for every read route together.
            let shed = call("/other").await;
            assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
            let ok = call("/healthz").await;
            assert_eq!(ok.status(), StatusCode::OK);
            assert_eq!(ok.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(
                ok.headers()[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .is_ok_and(|v| v.contains("frame-ancestors 'self'"))
            );
            gate.add_permits(2);
            for h in [first, second] {
                let r = h.await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.status(), StatusCode::OK);
            }
            gate.add_permits(1);
            assert_eq!(call("/read").await.status(), StatusCode::OK);
        });
    }
}
