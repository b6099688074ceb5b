//! One reading shared by the identical requests that wait for it (`/metrics`, one
//! caller's status overview). 64 scrapers at once each reading on their own made every
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
