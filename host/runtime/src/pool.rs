//! Plugin instances from a pool: every call still gets a fresh instance (no state passes
//! from one call to the next), but its linear memory comes from slots reserved once and
//! reset in place, not mapped, faulted in and unmapped per call (the kernel's share of a
//! 1,000-record encode was 13.5 %; an empty call fell from 63–96 µs to 19–34 µs).

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::Limits;

/// Calls that may run at once per runtime. Further calls wait for a slot (never fail):
/// a Kita window is 6 requests, `hub serve` validates on a handful of threads.
pub(crate) const SLOTS: u32 = 32;
/// What one plugin may contain; a component needing more is refused when it loads, by
/// name, not under load later. Rust plugins have 1 memory and 1–3 core instances, the
/// componentize-py plugin 1 memory and 14 core instances.
const MEMORIES_PER_PLUGIN: u32 = 2;
const CORE_INSTANCES_PER_PLUGIN: u32 = 32;
const TABLES_PER_PLUGIN: u32 = 8;
/// Elements per table: the pool's default, enough for the componentize-py plugin.
const TABLE_ELEMENTS: usize = 20_000;
/// Bytes of each memory reset with `memset` when a call ends, kept mapped for the next
/// call; beyond it, memory is given back to the kernel. Measured: 4 MiB and 16 MiB
/// alike; 0 (give everything back) keeps the page faults.
const KEEP_RESIDENT: usize = 4 << 20;

/// The pooling allocator for `config`, its memory slots as large as the plugins' limit.
pub(crate) fn configure(config: &mut Config, limits: &Limits) {
    let mut pool = PoolingAllocationConfig::new();
    let max_memory =
        usize::try_from(limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    pool.total_component_instances(SLOTS)
        .total_core_instances(SLOTS * CORE_INSTANCES_PER_PLUGIN)
        .total_memories(SLOTS * MEMORIES_PER_PLUGIN)
        .total_tables(SLOTS * TABLES_PER_PLUGIN)
        .max_core_instances_per_component(CORE_INSTANCES_PER_PLUGIN)
        .max_memories_per_component(MEMORIES_PER_PLUGIN)
        .max_tables_per_component(TABLES_PER_PLUGIN)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(max_memory)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        // Linux 6.7+: reset only the pages the call wrote, found with the PAGEMAP_SCAN
        // ioctl; elsewhere the first KEEP_RESIDENT bytes are reset whether written or not
        // (a `memset` of 4 MiB was 9 % of a Kita send at one record per POST).
        .pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
}

/// A counting semaphore over the pool's slots, so a burst of calls waits instead of
/// failing to instantiate.
#[derive(Clone)]
pub(crate) struct Slots(Arc<(Mutex<u32>, Condvar)>);

impl Slots {
    pub(crate) fn new(free: u32) -> Self {
        Self(Arc::new((Mutex::new(free), Condvar::new())))
    }

    /// Waits for a free slot; it is given back when the returned guard drops.
    pub(crate) fn take(&self) -> SlotGuard {
        let (free, freed) = &*self.0;
        let mut n = free.lock().unwrap_or_else(PoisonError::into_inner);
        while *n == 0 {
            n = freed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n -= 1;
        SlotGuard(self.clone())
    }
}

/// One taken slot; drop it only after the call's store (and so its instance) is gone.
pub(crate) struct SlotGuard(Slots);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let (free, freed) = &*(self.0).0;
        *free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn no_more_than_the_slots_run_at_once() {
        let slots = Slots::new(3);
        let running = AtomicU32::new(0);
        let most = AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..12 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _slot = slots.take();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(*slots.0.0.lock().unwrap(), 3, "every slot given back");
    }

    fn pooled(memory_mb: u64) -> wasmtime::Result<wasmtime::Engine> {
        let mut config = Config::new();
        configure(
            &mut config,
            &Limits {
                memory_mb,
                call_timeout_ms: 1_000,
            },
        );
        wasmtime::Engine::new(&config)
    }

    #[test]
    fn a_limit_the_pool_cannot_hold_still_gives_a_runtime() {
        assert!(pooled(64).is_ok());
        assert!(pooled(4096).is_ok());
        // Larger than a 32-bit memory's reservation: the pool refuses, the runtime falls
        // back to instances made per call.
        assert!(pooled(8192).is_err());
        let rt = crate::Runtime::new(
            Limits {
                memory_mb: 8192,
                call_timeout_ms: 1_000,
            },
            None,
        );
        assert!(rt.is_ok(), "{rt:?}");
    }
}
