//! The plugin sandbox. Each target plugin is a WebAssembly component that exports
//! `hub:plugin/target` of a contract version compatible with [`CONTRACT_VERSION`]. Rust
//! plugins import nothing. Plugins in other languages may import WASI 0.2 and get a
//! locked-down context (`wasi.rs`): no filesystem, network or environment to reach, only
//! clocks and randomness. Any other import is refused by name.
//!
//! Every call runs in a fresh wasmtime `Store` with a memory cap and a wall-clock deadline
//! (epoch interruption), so a plugin that loops, allocates without bound, traps or panics
//! ends only that call, with an error naming the plugin; the next call starts clean.
//! Compiled components are cached by sha256 so the second start skips Cranelift.

mod contract;
mod convert;
mod encoder;
mod wasi;
pub use encoder::WasmLoader;

pub use contract::{CONTRACT_PACKAGE, CONTRACT_VERSION, compatible_range};

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_plugin_sdk as sdk;
use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, ResourceLimiter, Store, Trap};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "target-plugin",
    });
}

/// The optional `identity` interface (0.1.1): a world of its own, so a plugin without it
/// still loads through `bindings`.
mod identity_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "target-plugin-identity",
    });
}

/// The optional `inquiry` interface (0.1.1), likewise in a world of its own.
mod inquiry_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "target-plugin-inquiry",
    });
}

/// The optional `batching` interface (0.1.2), likewise in a world of its own.
mod batching_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "target-plugin-batching",
    });
}

use bindings::{TargetPlugin, TargetPluginPre};

/// The epoch ticker's period: the granularity of call deadlines.
const TICK: Duration = Duration::from_millis(10);

/// Why a plugin could not be loaded or a call did not complete. Each names the plugin.
#[derive(Debug, Error)]
pub enum PluginError {
    #[error("plugin {plugin}: cannot read {}: {source}", path.display())]
    Read {
        plugin: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "plugin {plugin}: {} does not match its pin in hub.toml: pinned sha256 {expected}, file has sha256 {actual}",
        path.display()
    )]
    HashMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("plugin {plugin}: not a valid component: {message}")]
    Invalid { plugin: String, message: String },
    #[error(
        "plugin {plugin}: refused, it imports what the hub does not provide: {}",
        imports.join(", ")
    )]
    ForbiddenImports {
        plugin: String,
        imports: Vec<String>,
    },
    #[error(
        "plugin {plugin}: incompatible with this hub's contract {CONTRACT_PACKAGE}/target@{CONTRACT_VERSION}: {message}"
    )]
    Incompatible { plugin: String, message: String },
    #[error(
        "plugin {plugin} was built for contract {CONTRACT_PACKAGE}@{found}; this hub speaks {CONTRACT_PACKAGE}@{CONTRACT_VERSION} (compatible: {})",
        compatible_range()
    )]
    ContractVersion { plugin: String, found: String },
    #[error("plugin {plugin}: {call} took longer than the limit of {limit_ms} ms and was stopped")]
    Timeout {
        plugin: String,
        call: &'static str,
        limit_ms: u64,
    },
    #[error("plugin {plugin}: {call} exceeded the memory limit of {limit_mb} MiB and was stopped")]
    OutOfMemory {
        plugin: String,
        call: &'static str,
        limit_mb: u64,
    },
    #[error("plugin {plugin}: {call} crashed: {message}")]
    Trap {
        plugin: String,
        call: &'static str,
        message: String,
    },
    #[error("plugin {plugin}: {message}")]
    Contract { plugin: String, message: String },
}

/// Per-call limits for every plugin.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_mb: u64,
    pub call_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mb: 64,
            call_timeout_ms: 5_000,
        }
    }
}

/// The wasmtime engine, its epoch ticker, and the compile cache.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// Per-call host state: the memory guard, and WASI for the plugins that import it.
struct CallState {
    guard: MemoryGuard,
    wasi: Option<wasi::WasiState>,
}

/// Caps a call's linear memory and remembers that it did, to tell a memory bomb from
/// other traps.
struct MemoryGuard {
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

impl Runtime {
    /// Creates the engine and starts the epoch ticker; `cache_dir` keeps compiled plugins.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        config.max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(|e| PluginError::Invalid {
            plugin: "(engine)".into(),
            message: e.to_string(),
        })?;
        // The ticker holds only a weak reference, so it ends with the last engine clone.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("hub-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| PluginError::Invalid {
                plugin: "(engine)".into(),
                message: format!("cannot start the epoch ticker: {e}"),
            })?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| PluginError::Invalid {
            plugin: "(engine)".into(),
            message: format!("cannot link WASI: {e:#}"),
        })?;
        Ok(Self {
            engine,
            linker,
            limits,
            cache_dir,
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Loads a plugin: checks the sha256 pin, compiles (or takes the cached compilation),
    /// refuses any import but WASI 0.2, checks the contract version of its exports, and asks
    /// the plugin to describe itself.
    pub fn load(&self, name: &str, path: &Path, pin: Option<&str>) -> Result<Plugin, PluginError> {
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            plugin: name.into(),
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = pin
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(PluginError::HashMismatch {
                plugin: name.into(),
                path: path.to_path_buf(),
                expected: expected.to_ascii_lowercase(),
                actual: sha256,
            });
        }
        let (component, from_cache) = self.compile(name, &bytes, &sha256)?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let forbidden: Vec<String> = imports
            .iter()
            .filter(|i| !wasi::is_provided(i))
            .cloned()
            .collect();
        if !forbidden.is_empty() {
            return Err(PluginError::ForbiddenImports {
                plugin: name.into(),
                imports: forbidden,
            });
        }
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        // Before bindgen's lookup, so a plugin of another contract version is named as such.
        if let Some(found) = contract::incompatible_export(&exports) {
            return Err(PluginError::ContractVersion {
                plugin: name.into(),
                found,
            });
        }
        let instance_pre = self.linker.instantiate_pre(&component);
        let identity_pre = instance_pre
            .as_ref()
            .ok()
            .and_then(|p| identity_bindings::TargetPluginIdentityPre::new(p.clone()).ok());
        let inquiry_pre = instance_pre
            .as_ref()
            .ok()
            .and_then(|p| inquiry_bindings::TargetPluginInquiryPre::new(p.clone()).ok())
            .map(Arc::new);
        let batching_pre = instance_pre
            .as_ref()
            .ok()
            .and_then(|p| batching_bindings::TargetPluginBatchingPre::new(p.clone()).ok())
            .map(Arc::new);
        let pre =
            instance_pre
                .and_then(TargetPluginPre::new)
                .map_err(|e| PluginError::Incompatible {
                    plugin: name.into(),
                    message: format!(
                        "{e:#}; the component exports: {}",
                        if exports.is_empty() {
                            "nothing".to_string()
                        } else {
                            exports.join(", ")
                        }
                    ),
                })?;
        let sandbox = Sandbox {
            name: name.into(),
            pre: Arc::new(pre),
            engine: self.engine.clone(),
            limits: self.limits,
            uses_wasi: !imports.is_empty(),
        };
        let info = sandbox.call("describe", |store, p| {
            p.hub_plugin_target().call_describe(store)
        })?;
        let info = convert::plugin_info(info);
        let changes = match &identity_pre {
            Some(ipre) => sandbox
                .run("changes", |store| {
                    ipre.instantiate(&mut *store)?
                        .hub_plugin_identity()
                        .call_changes(store)
                })?
                .into_iter()
                .map(convert::kind_change)
                .collect(),
            None => Vec::new(),
        };
        if info.max_batch == 0 {
            return Err(PluginError::Contract {
                plugin: name.into(),
                message: "describe says max-batch 0".into(),
            });
        }
        let load_time = started.elapsed();
        tracing::debug!(plugin = name, sha256 = %sha256, from_cache, wasi = sandbox.uses_wasi, ms = load_time.as_secs_f64() * 1e3, "plugin loaded");
        Ok(Plugin {
            sandbox,
            path: path.to_path_buf(),
            sha256,
            info,
            changes,
            inquiry: inquiry_pre,
            batching: batching_pre,
            from_cache,
            load_time,
        })
    }

    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, bool), PluginError> {
        let invalid = |e: wasmtime::Error| PluginError::Invalid {
            plugin: name.into(),
            message: format!("{e:#}"),
        };
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes)
                .map(|c| (c, false))
                .map_err(invalid);
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let file = dir.join(format!("{sha256}-{:016x}.cwasm", h.finish()));
        // Read into memory rather than `deserialize_file`: a mapped file that another
        // process truncates would crash this one with SIGBUS.
        if let Ok(cached) = std::fs::read(&file) {
            // SAFETY: the cache directory belongs to the host (like the binary itself); its
            // files are written only by `serialize` below, under a name bound to the
            // component's sha256 and this engine's configuration, and wasmtime checks the
            // header and engine compatibility before using the code.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize(&self.engine, &cached) } {
                Ok(c) => return Ok((c, true)),
                Err(e) => {
                    tracing::warn!(plugin = name, file = %file.display(), error = %e, "compile cache entry unusable; compiling again")
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(invalid)?;
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let data = component
                .serialize()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, data)?;
            std::fs::rename(&tmp, &file)
        };
        if let Err(e) = write() {
            tracing::warn!(plugin = name, error = %e, "cannot write the compile cache; continuing without it");
        }
        Ok((component, false))
    }
}

/// A loaded plugin. Calls take `&self` and run each in a fresh sandbox, so one plugin can
/// serve several threads and a crashed call leaves nothing behind.
pub struct Plugin {
    sandbox: Sandbox,
    path: PathBuf,
    sha256: String,
    info: sdk::PluginInfo,
    /// What a changed body under a known id means, per kind (`identity`, 0.1.1).
    changes: Vec<(String, sdk::Change)>,
    /// How to ask the receiver about an earlier request (`inquiry`, 0.1.1), if offered.
    inquiry: Option<Arc<inquiry_bindings::TargetPluginInquiryPre<CallState>>>,
    /// What may occur only once in a transfer (`batching`, 0.1.2), if declared.
    batching: Option<Arc<batching_bindings::TargetPluginBatchingPre<CallState>>>,
    from_cache: bool,
    load_time: Duration,
}

/// What a call needs: the pre-linked component, the engine and the limits.
struct Sandbox {
    name: String,
    pre: Arc<TargetPluginPre<CallState>>,
    engine: Engine,
    limits: Limits,
    /// The plugin imports WASI (all its imports are WASI, or it would not have loaded).
    uses_wasi: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.sandbox.name)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl Plugin {
    /// The name hub.toml gives the plugin.
    pub fn name(&self) -> &str {
        &self.sandbox.name
    }

    /// Where the component was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The component's sha256, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the plugin imports WASI (a non-Rust runtime); Rust plugins import nothing.
    pub fn uses_wasi(&self) -> bool {
        self.sandbox.uses_wasi
    }

    /// Whether the compiled code came from the cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// How long loading took (read, hash, compile or cache, describe).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// What the plugin said about itself at load time.
    pub fn info(&self) -> &sdk::PluginInfo {
        &self.info
    }

    /// What the same id with a different body means for records of `kind`: as the plugin
    /// declares (contract 0.1.1), else `refuse`, the choice that never books twice.
    pub fn change_of(&self, kind: &str) -> sdk::Change {
        self.changes
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(sdk::Change::Refuse, |(_, c)| *c)
    }

    /// Whether the plugin declared its changes (exports `identity`, contract 0.1.1).
    pub fn declares_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The question to ask the receiver about a payload whose outcome is unknown, where
    /// the plugin offers one (`inquiry`, 0.1.1).
    pub fn ask(
        &self,
        settings: &sdk::Settings,
        transfer_id: u64,
        payload: &str,
        key: &str,
    ) -> Result<Option<sdk::Question>, PluginError> {
        let Some(pre) = &self.inquiry else {
            return Ok(None);
        };
        let s = settings.0.clone();
        let q = self.sandbox.run("ask", |store| {
            pre.instantiate(&mut *store)?.hub_plugin_inquiry().call_ask(
                store,
                &s,
                transfer_id,
                payload,
                key,
            )
        })?;
        Ok(q.map(|q| sdk::Question {
            method: q.method,
            path: q.path,
            headers: q.headers,
            body: q.body,
        }))
    }

    /// What the receiver's answer to [`Plugin::ask`]'s question says.
    pub fn judge(
        &self,
        settings: &sdk::Settings,
        payload: &str,
        status: u16,
        body: &[u8],
    ) -> Result<sdk::Finding, PluginError> {
        let Some(pre) = &self.inquiry else {
            return Ok(sdk::Finding::Unknown);
        };
        let s = settings.0.clone();
        let f = self.sandbox.run("judge", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin_inquiry()
                .call_judge(store, &s, payload, status, body)
        })?;
        use inquiry_bindings::exports::hub::plugin::inquiry::Finding as W;
        Ok(match f {
            W::Arrived => sdk::Finding::Arrived,
            W::NotArrived => sdk::Finding::NotArrived,
            W::Unknown => sdk::Finding::Unknown,
        })
    }

    /// Whether the plugin declares keys that may occur only once per transfer (exports
    /// `batching`, contract 0.1.2).
    pub fn declares_once_keys(&self) -> bool {
        self.batching.is_some()
    }

    /// For each record, in order, the keys it may share with no other record of one
    /// transfer (`batching`, 0.1.2); `None` where the plugin does not declare any (built
    /// for 0.1.0 or 0.1.1): then only record ids are kept apart.
    pub fn once_keys(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Option<Vec<Vec<String>>>, PluginError> {
        let Some(pre) = &self.batching else {
            return Ok(None);
        };
        let s = settings.0.clone();
        let r: Vec<_> = records
            .iter()
            .map(
                |r| batching_bindings::exports::hub::plugin::batching::Record {
                    id: r.id.clone(),
                    kind: r.kind.clone(),
                    body: r.body.clone(),
                },
            )
            .collect();
        let keys = self.sandbox.run("once-keys", |store| {
            pre.instantiate(&mut *store)?
                .hub_plugin_batching()
                .call_once_keys(store, &s, &r)
        })?;
        if keys.len() != records.len() {
            return Err(PluginError::Contract {
                plugin: self.sandbox.name.clone(),
                message: format!(
                    "once-keys answered {} times for {} records",
                    keys.len(),
                    records.len()
                ),
            });
        }
        Ok(Some(keys))
    }

    /// Semantic checks of the target's settings.
    pub fn check_settings(
        &self,
        settings: &sdk::Settings,
    ) -> Result<Result<(), String>, PluginError> {
        let s = convert::settings(settings);
        self.sandbox.call("check-settings", |store, p| {
            p.hub_plugin_target().call_check_settings(store, &s)
        })
    }

    /// Validates records; one answer per record, in order.
    pub fn validate(
        &self,
        settings: &sdk::Settings,
        records: &[sdk::Record],
    ) -> Result<Vec<Result<sdk::RecordMeta, sdk::RecordError>>, PluginError> {
        let s = convert::settings(settings);
        let r = convert::records(records);
        let answers = self.sandbox.call("validate", |store, p| {
            p.hub_plugin_target().call_validate(store, &s, &r)
        })?;
        if answers.len() != records.len() {
            return Err(PluginError::Contract {
                plugin: self.sandbox.name.clone(),
                message: format!(
                    "validate answered {} times for {} records",
                    answers.len(),
                    records.len()
                ),
            });
        }
        Ok(answers.into_iter().map(convert::validation).collect())
    }

    /// Encodes one transfer's records into payloads.
    pub fn encode(
        &self,
        ctx: &sdk::Context,
        records: &[sdk::Record],
    ) -> Result<Result<Vec<sdk::Payload>, sdk::EncodeError>, PluginError> {
        let c = convert::context(ctx);
        let r = convert::records(records);
        let answer = self.sandbox.call("encode", |store, p| {
            p.hub_plugin_target().call_encode(store, &c, &r)
        })?;
        Ok(convert::encoded(answer))
    }

    /// Interprets the response to one payload.
    pub fn interpret(
        &self,
        ctx: &sdk::Context,
        payload: &str,
        records: &[sdk::Record],
        response: &sdk::Response,
    ) -> Result<Result<Vec<sdk::Outcome>, sdk::InterpretError>, PluginError> {
        let c = convert::context(ctx);
        let r = convert::records(records);
        let resp = convert::response(response);
        let answer = self.sandbox.call("interpret", |store, p| {
            p.hub_plugin_target()
                .call_interpret(store, &c, payload, &r, &resp)
        })?;
        Ok(convert::interpreted(answer))
    }
}

impl Sandbox {
    /// Runs one call in a fresh store with the memory cap and the deadline.
    fn call<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<CallState>, &TargetPlugin) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        self.run(call, |store| {
            let instance = self.pre.instantiate(&mut *store)?;
            f(store, &instance)
        })
    }

    /// Runs `f` (which instantiates what it needs) in a fresh store with the limits.
    fn run<R>(
        &self,
        call: &'static str,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let max_bytes =
            usize::try_from(self.limits.memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
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
                    wasi::WasiState::locked(now.checked_add(limit).unwrap_or(now))
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
