//! The accept loop: axum's router on hyper's HTTP/1 connections, with what `axum::serve`
//! does not offer: a deadline for a request's headers (hyper needs a timer for it; a
//! client dribbling headers was never cut off), and a deadline for the graceful shutdown
//! (an upload in flight once held SIGTERM for two minutes, past systemd's 90 s).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hub_core::api::ApiLimits;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::harden::Peer;

/// Serves `router` on `listener` until `stop` completes; then stops accepting, lets the
/// requests under way finish for at most `limits.shutdown_deadline_ms`, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ApiLimits,
    stop: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let header_timeout = Duration::from_millis(limits.header_timeout_ms.max(1));
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "api: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = router
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                req.map(Body::new)
            });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "api: connection ended");
            }
        });
    }
    drop(listener);
    let deadline = Duration::from_millis(limits.shutdown_deadline_ms);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("api: every request finished"),
        () = tokio::time::sleep(deadline) => tracing::warn!(
            deadline_ms = limits.shutdown_deadline_ms,
            "api: requests still under way at the shutdown deadline are cut off"
        ),
    }
}
