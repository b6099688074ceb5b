//! Reads off the write lock (issue 15): each site keeps a few hubs of its own for the
//! API's reads, beside the one [`App`] that enqueues, resolves and pauses. SQLite in WAL
//! lets each of them read while the writer holds a transaction; on PostgreSQL each is its
//! own connection. So a burst of status calls neither waits behind an enqueue nor holds
//! one up.
//!
//! A pool of our own rather than `r2d2`: its `get` blocks a thread while it waits, where
//! here an async semaphore waits without holding one of tokio's blocking threads; the
//! handles are whole hubs (store, clock, configuration), opened lazily on first need;
//! and a local store needs none of r2d2's health checks or reaper thread.

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::ApiError;
use crate::app::App;

/// Opens one more read hub for a site (the same file, clock and user as its writer).
pub type Opener = Box<dyn Fn() -> anyhow::Result<App> + Send + Sync>;

/// A site's read hubs: at most `size` in use at once, each reused.
pub struct Readers {
    open: Opener,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<App>>,
}

impl Readers {
    pub fn new(size: usize, open: Opener) -> Self {
        let size = size.max(1);
        Self {
            open,
            permits: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    /// Opens one read hub now, so the first read (and `/readyz`) does not wait for it
    /// and a store that cannot be opened this way is found before the port opens.
    pub fn prepare(&self) -> anyhow::Result<()> {
        let app = (self.open)()?;
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(app);
        Ok(())
    }

    /// The size for `[api.limits] max_concurrent_reads`: every read the limit lets in
    /// gets a hub, and `/metrics` and `/readyz` (outside the limit) one more each, so a
    /// scrape or a readiness probe never waits behind the limited reads.
    pub fn size_for(max_concurrent_reads: usize) -> usize {
        max_concurrent_reads.max(1) + 2
    }

    /// Runs `f` on the blocking pool with a read hub, waiting (without a thread) for one
    /// to be free. `f` must only read: writes belong to the site's [`App`].
    pub async fn with<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut App) -> Result<T, ApiError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A store that hangs, on request (`HUB_FAULT=api-read-store`): `/readyz` must
            // say so.
            crate::fault::point("api-read-store");
            let taken = me.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut app = match taken {
                Some(app) => app,
                None => (me.open)().map_err(|e| ApiError::internal(format!("{e:#}")))?,
            };
            let result = f(&mut app);
            // A read that failed or panicked leaves nothing half-done (each call is one
            // transaction), so the hub is kept; a panic drops it with the closure.
            me.idle.lock().unwrap_or_else(|p| p.into_inner()).push(app);
            result
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pool_covers_the_limit_and_the_unlimited_reads() {
        assert_eq!(super::Readers::size_for(8), 10);
        assert_eq!(super::Readers::size_for(0), 3);
    }
}
