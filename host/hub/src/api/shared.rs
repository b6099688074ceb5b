//! One reading shared by the identical requests that wait for it (`/metrics`, and every
//! read through [`coalesce`]). 64 scrapers at once each reading on their own made every
//! one wait for all the others (p99 ~800 ms). Here one reading runs at a time, and a
//! request takes the newest reading that *began after it arrived* (never an older one),
//! so an answer is as fresh as if the request had read alone.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

/// The readings of one kind: how many began, and the last one finished.
pub struct Shared<T> {
    begun: AtomicU64,
    /// The number of the last finished reading and its answer; held while one runs.
    last: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self {
            begun: AtomicU64::new(0),
            last: Mutex::new(None),
        }
    }
}

impl<T> Shared<T> {
    /// A reading begun after this call, shared with the other callers waiting for one.
    pub async fn fresh<E, F, Fut>(&self, read: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let arrived = self.begun.load(Ordering::SeqCst);
        let mut last = self.last.lock().await;
        if let Some((n, answer)) = last.as_ref()
            && *n > arrived
        {
            return Ok(answer.clone());
        }
        let n = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = Arc::new(read().await?);
        *last = Some((n, answer.clone()));
        Ok(answer)
    }
}

/// Identical reads (same token, municipality, path and query, and `If-None-Match`) that
/// wait together, sharing one reading each time ([`Shared`]): a burst of the same read
/// costs one reading at a time and passes the concurrency limit once, not once per
/// client. An entry lives while someone waits for it, so memory follows the requests
/// in flight, not the URLs ever asked.
#[derive(Default)]
pub struct Coalesce {
    flights: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Shared<Answer>>>>,
}

/// A read's answer as kept for those who share it.
pub struct Answer {
    status: axum::http::StatusCode,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
}

/// The largest answer shared (a transport's readable view is the largest read); a larger
/// one is answered 500 and logged, as a fault of ours.
const MAX_SHARED_ANSWER: usize = 64 * 1024 * 1024;

/// What makes two reads the same: a digest, so no token is kept as a key.
fn key(request: &axum::extract::Request) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for name in [
        axum::http::header::AUTHORIZATION.as_str(),
        super::routes::MUNICIPALITY,
        axum::http::header::IF_NONE_MATCH.as_str(),
    ] {
        let value = request.headers().get(name).map(|v| v.as_bytes());
        h.update(value.map_or(0u64, |v| v.len() as u64 + 1).to_le_bytes());
        h.update(value.unwrap_or_default());
    }
    h.update(request.uri().to_string().as_bytes());
    h.finalize().into()
}

/// The layer over the reads: each GET joins the reading of its kind.
pub async fn coalesce(
    axum::extract::State(c): axum::extract::State<Arc<Coalesce>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    let k = key(&request);
    let flight = c
        .flights
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(k)
        .or_default()
        .clone();
    let answer = flight
        .fresh(|| async move {
            let (parts, body) = next.run(request).await.into_parts();
            match axum::body::to_bytes(body, MAX_SHARED_ANSWER).await {
                Ok(body) => Ok::<_, std::convert::Infallible>(Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "api: an answer could not be read whole");
                    Ok(Answer {
                        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        headers: axum::http::HeaderMap::new(),
                        body: axum::body::Bytes::from_static(b"internal error\n"),
                    })
                }
            }
        })
        .await;
    {
        // Nobody else waits for it (the map and this request hold the only handles,
        // and new ones are only taken under this lock): gone with its answer.
        let mut flights = c.flights.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&flight) == 2 {
            flights.remove(&k);
        }
    }
    match answer {
        Ok(a) => (a.status, a.headers.clone(), a.body.clone()).into_response(),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .block_on(f)
    }

    /// Scrapes that arrive while a reading runs share the next one; a scrape that arrives
    /// after a reading finished never gets that one.
    #[test]
    fn waiting_scrapes_share_a_reading_begun_after_they_arrived() {
        block_on(async {
            let scrapes = Arc::new(Shared::<String>::default());
            let reads = Arc::new(AtomicUsize::new(0));
            let gate = Arc::new(tokio::sync::Semaphore::new(0));
            let read = |reads: Arc<AtomicUsize>, gate: Arc<tokio::sync::Semaphore>| async move {
                let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = gate.acquire().await.map(|p| p.forget());
                Ok::<_, ()>(format!("reading {n}"))
            };
            // The first scrape holds its reading open; three more arrive meanwhile.
            let first = {
                let (s, r, g) = (scrapes.clone(), reads.clone(), gate.clone());
                tokio::spawn(async move { s.fresh(|| read(r, g)).await })
            };
            tokio::task::yield_now().await;
            let waiting: Vec<_> = (0..3)
                .map(|_| {
                    let (s, r, g) = (scrapes.clone(), reads.clone(), gate.clone());
                    tokio::spawn(async move { s.fresh(|| read(r, g)).await })
                })
                .collect();
            tokio::task::yield_now().await;
            gate.add_permits(2);
            let first = first.await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(first.as_deref().map(String::as_str), Ok("reading 1"));
            for w in waiting {
                let got = w.await.unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got.as_deref().map(String::as_str), Ok("reading 2"));
            }
            assert_eq!(reads.load(Ordering::SeqCst), 2);
            // Later: a reading of its own.
            gate.add_permits(1);
            let later = scrapes.fresh(|| read(reads.clone(), gate.clone())).await;
            assert_eq!(later.as_deref().map(String::as_str), Ok("reading 3"));
        });
    }
}
