//! The plugin sandbox. Each target plugin is a WebAssembly component that exports
//! `hub:plugin/target` of a contract line the hub knows ([`contract::KNOWN`]: 0.1 and
//! 0.2, linked side by side, each plugin driven in its own line's terms). Rust
//! plugins import nothing. Plugins in other languages may import WASI 0.2 and get a
//! locked-down context (`wasi.rs`): no filesystem, network or environment to reach, only
//! clocks and randomness. Any other import is refused by name.
//!
//! Every call runs in a fresh wasmtime `Store` with a memory cap and a wall-clock deadline
//! (epoch interruption), so a plugin that loops, allocates without bound, traps or panics
//! ends only that call, with an error naming the plugin; the next call starts clean.
//! Compiled components are cached by sha256 so the second start skips Cranelift.

pub mod contract;
mod convert;
mod encoder;
mod plugin;
mod pool;
mod sandbox;
mod schema;
mod wasi;
pub use encoder::WasmLoader;
pub use plugin::Plugin;
pub use wasi::WasiSeed;

pub use contract::{CONTRACT_PACKAGE, CONTRACT_VERSION, Line, Speaks};

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// Contract 0.1 (`wit/deps/hub-plugin-0.1.2`), kept for plugins built against it.
mod v1 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "hub:plugin/target-plugin@0.1.2",
    });
}

/// Contract 0.2 (`wit/hub-plugin.wit`).
mod v2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "hub:plugin/target-plugin@0.2.0",
    });
}

/// The optional interfaces, each in a world of its own with nothing else, so the host
/// probes for each whatever `target` line the plugin exports.
mod identity_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "package hub:probe; world identity { export hub:plugin/identity@0.1.2; }",
    });
}

mod inquiry_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "package hub:probe; world inquiry { export hub:plugin/inquiry@0.1.2; }",
    });
}

mod batching_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "package hub:probe; world batching { export hub:plugin/batching@0.1.2; }",
    });
}

/// 0.2.1's optional interfaces, probed the same way.
mod schema_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "package hub:probe; world schema { export hub:plugin/schema@0.2.1; }",
    });
}

mod request_shape_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "package hub:probe; world request-shape { export hub:plugin/request-shape@0.2.1; }",
    });
}

use batching_bindings::BatchingPre;
use inquiry_bindings::InquiryPre;
use sandbox::{CallState, Sandbox, Target};

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
        "plugin {plugin}: does not export this hub's contract {CONTRACT_PACKAGE}/target as it knows it: {message}"
    )]
    Incompatible { plugin: String, message: String },
    #[error(
        "plugin {plugin} was built for contract {CONTRACT_PACKAGE}@{found}; this hub speaks {} (compatible: {})",
        speaks.versions(),
        speaks.ranges()
    )]
    ContractVersion {
        plugin: String,
        found: String,
        speaks: Speaks,
    },
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
    speaks: Speaks,
    slots: pool::Slots,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl Runtime {
    /// Creates the engine and starts the epoch ticker; `cache_dir` keeps compiled plugins.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let config = |pooled: bool| {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(true);
            config.wasm_component_model(true);
            config.max_wasm_stack(1 << 20);
            // `perf` names the plugins' functions only with a map of the compiled code.
            if std::env::var_os("HUB_WASM_PERFMAP").is_some() {
                config.profiler(wasmtime::ProfilingStrategy::PerfMap);
            }
            if pooled {
                pool::configure(&mut config, &limits);
            }
            config
        };
        // The pool reserves its address space up front; where the process may not (a
        // tight `ulimit -v`), instances are made per call as before.
        let engine = Engine::new(&config(true))
            .or_else(|e| {
                tracing::warn!(error = %e, "cannot reserve the plugin instance pool; allocating per call");
                Engine::new(&config(false))
            })
            .map_err(|e| PluginError::Invalid {
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
            speaks: Speaks::default(),
            slots: pool::Slots::new(pool::SLOTS),
        })
    }

    /// The same runtime speaking only `speaks` (a hub of an older release, in tests).
    pub fn speaking(mut self, speaks: Speaks) -> Self {
        self.speaks = speaks;
        self
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
        let line = self
            .speaks
            .check(&exports)
            .map_err(|found| PluginError::ContractVersion {
                plugin: name.into(),
                found,
                speaks: self.speaks.clone(),
            })?;
        let incompatible = |e: wasmtime::Error| PluginError::Incompatible {
            plugin: name.into(),
            message: format!(
                "{e:#}; the component exports: {}",
                if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                }
            ),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(incompatible)?;
        let identity = identity_bindings::IdentityPre::new(pre.clone()).ok();
        let inquiry = InquiryPre::new(pre.clone()).ok().map(Arc::new);
        let batching = BatchingPre::new(pre.clone()).ok().map(Arc::new);
        let schema = schema_bindings::SchemaPre::new(pre.clone()).ok();
        let shape = request_shape_bindings::RequestShapePre::new(pre.clone())
            .ok()
            .map(Arc::new);
        let target = match line {
            Some(Line::V0_1) => Target::V1(Arc::new(
                v1::TargetPluginPre::new(pre).map_err(incompatible)?,
            )),
            // No `target` export at all: the newest line's lookup says what is missing.
            Some(Line::V0_2) | None => Target::V2(Arc::new(
                v2::TargetPluginPre::new(pre).map_err(incompatible)?,
            )),
        };
        let sandbox = Sandbox {
            name: name.into(),
            target,
            engine: self.engine.clone(),
            limits: self.limits,
            uses_wasi: !imports.is_empty(),
            seed: None,
            slots: self.slots.clone(),
        };
        let info = match &sandbox.target {
            Target::V1(p) => convert::v1::plugin_info(sandbox.run("describe", |store| {
                p.instantiate(&mut *store)?
                    .hub_plugin0_1_2_target()
                    .call_describe(store)
            })?),
            Target::V2(p) => convert::v2::plugin_info(sandbox.run("describe", |store| {
                p.instantiate(&mut *store)?
                    .hub_plugin0_2_0_target()
                    .call_describe(store)
            })?)
            .map_err(|message| PluginError::Contract {
                plugin: name.into(),
                message,
            })?,
        };
        let changes = match &identity {
            Some(ipre) => sandbox
                .run("changes", |store| {
                    ipre.instantiate(&mut *store)?
                        .hub_plugin0_1_2_identity()
                        .call_changes(store)
                })?
                .into_iter()
                .map(convert::kind_change)
                .collect(),
            None => Vec::new(),
        };
        let schemas = match &schema {
            Some(spre) => {
                let list = sandbox.run("schemas", |store| {
                    spre.instantiate(&mut *store)?
                        .hub_plugin0_2_1_schema()
                        .call_schemas(store)
                })?;
                schema::Schemas::compile(&info.record_kinds, list).map_err(|message| {
                    PluginError::Contract {
                        plugin: name.into(),
                        message,
                    }
                })?
            }
            None => schema::Schemas::default(),
        };
        if info.max_batch == 0 {
            return Err(PluginError::Contract {
                plugin: name.into(),
                message: "describe says max-batch 0".into(),
            });
        }
        let load_time = started.elapsed();
        tracing::debug!(plugin = name, sha256 = %sha256, from_cache, wasi = sandbox.uses_wasi, contract = sandbox.target.line().version(), ms = load_time.as_secs_f64() * 1e3, "plugin loaded");
        Ok(Plugin {
            sandbox,
            path: path.to_path_buf(),
            sha256,
            info,
            changes,
            inquiry,
            batching,
            schemas,
            shape,
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
