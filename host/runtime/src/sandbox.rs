//! One call in a fresh wasmtime store (its instance from the pool, see `pool.rs`): a
//! memory cap, a deadline (epoch interruption), WASI locked down for the plugins that
//! import it, and each failure named by its kind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Engine, ResourceLimiter, Store, Trap};

use crate::contract::Line;
use crate::pool::Slots;
use crate::{Limits, PluginError, TICK, wasi};

/// Per-call host state: the memory guard, and WASI for the plugins that import it.
pub(crate) struct CallState {
    guard: MemoryGuard,
    pub(crate) wasi: Option<wasi::WasiState>,
}

/// Caps a call's linear memory and remembers that it did, to tell a memory bomb from
/// other traps.
pub(crate) struct MemoryGuard {
    max_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Err(wasmtime::Error::msg("plugin memory limit reached"));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// What a call needs: the pre-linked component, the engine and the limits.
#[derive(Clone)]
pub(crate) struct Sandbox {
    pub(crate) name: String,
    pub(crate) target: Target,
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    /// The plugin imports WASI (all its imports are WASI, or it would not have loaded).
    pub(crate) uses_wasi: bool,
    /// The clocks and randomness WASI gives each call, when the host fixes them (the
    /// determinism check); `None`: the machine's.
    pub(crate) seed: Option<wasi::WasiSeed>,
    /// The runtime's instance slots: one per call while it runs.
    pub(crate) slots: Slots,
}

/// `target` pre-linked in the contract line the component exports: the hub drives each
/// plugin in its own version's terms.
#[derive(Clone)]
pub(crate) enum Target {
    V1(Arc<crate::v1::TargetPluginPre<CallState>>),
    V2(Arc<crate::v2::TargetPluginPre<CallState>>),
}

impl Target {
    pub(crate) fn line(&self) -> Line {
        match self {
            Target::V1(_) => Line::V0_1,
            Target::V2(_) => Line::V0_2,
        }
    }
}

impl Sandbox {
    /// Runs `f` (which instantiates what it needs) in a fresh store with the limits.
    pub(crate) fn run<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let max_bytes =
            usize::try_from(self.limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        // Declared before the store, so it is dropped after it: the slot is free again
        // only once the instance is back in the pool.
        let _slot = self.slots.take();
        let mut store = Store::new(
            &self.engine,
            CallState {
                guard: MemoryGuard {
                    max_bytes,
                    hit: false,
                },
                wasi: self.uses_wasi.then(|| {
                    let now = Instant::now();
                    let limit = Duration::from_millis(self.limits.call_timeout_ms);
                    wasi::WasiState::locked(now.checked_add(limit).unwrap_or(now), self.seed)
                }),
            },
        );
        store.limiter(|s| &mut s.guard);
        let ticks = self
            .limits
            .call_timeout_ms
            .div_ceil(TICK.as_millis() as u64)
            + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let mut result = f(&mut store);
        if let Some(w) = &store.data().wasi {
            w.log_output(&self.name, call);
            if w.cut_off() {
                result = Err(wasmtime::Error::new(Trap::Interrupt));
            }
        }
        result.map_err(|e| self.classify(call, e, store.data().guard.hit))
    }

    fn classify(&self, call: &'static str, e: wasmtime::Error, memory_hit: bool) -> PluginError {
        let plugin = self.name.clone();
        if memory_hit {
            return PluginError::OutOfMemory {
                plugin,
                call,
                limit_mb: self.limits.memory_mb,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                call,
                limit_ms: self.limits.call_timeout_ms,
            },
            Some(Trap::UnreachableCodeReached) => PluginError::Trap {
                plugin,
                call,
                message: "wasm `unreachable` executed (a panic or abort inside the plugin)".into(),
            },
            Some(trap) => PluginError::Trap {
                plugin,
                call,
                message: trap.to_string(),
            },
            None => PluginError::Trap {
                plugin,
                call,
                message: format!("{e:#}"),
            },
        }
    }
}
