//! The engine for one configuration: the store, the clock, and each target's encoder,
//! settings and transport, checked against each other when first used. The CLI, `hub
//! serve` and `hub plugin test` build one with their ports and call the pipeline on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use hub_core::config::{Config, PluginConfig, TargetConfig, check_settings};
use hub_core::time::{Clock, Timestamp};
use hub_core::transport::Transport;
use hub_plugin_sdk::{Delivery, Settings};
use hub_store::{HubStore, PluginStamp};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::inbound::format::Formats;
use crate::ports::{Connector, Encoder, EncoderError, OpenError, PluginLoader};

/// Why the hub cannot work with a target as configured.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Config(#[from] hub_core::config::ConfigError),
    #[error(transparent)]
    Store(#[from] hub_store::StoreError),
    #[error(transparent)]
    Plugin(#[from] EncoderError),
    #[error("no target `{name}` in {file} (targets: {known})")]
    UnknownTarget {
        name: String,
        file: String,
        known: String,
    },
    #[error("{}", .0.join("; "))]
    Target(Vec<String>),
    #[error("cannot lock {}: {message}", path.display())]
    Lock { path: PathBuf, message: String },
}

/// A target ready to send: its encoder (shared between targets that use the same plugin),
/// its checked settings and its configuration.
#[derive(Debug, Clone)]
pub struct TargetRuntime {
    pub config: TargetConfig,
    pub plugin: Arc<dyn Encoder>,
    pub settings: Settings,
}

/// What the engine needs beside the configuration and the store.
pub struct Ports {
    pub clock: Arc<dyn Clock>,
    pub plugins: Box<dyn PluginLoader>,
    pub connector: Box<dyn Connector>,
    /// The formats of incoming transports (the receiving side).
    pub formats: Box<dyn Formats>,
}

/// The hub's engine for one configuration file.
pub struct Engine {
    pub config: Config,
    pub store: Box<dyn HubStore>,
    pub clock: Arc<dyn Clock>,
    loader: Box<dyn PluginLoader>,
    connector: Box<dyn Connector>,
    /// The formats of incoming transports, by the name an `[[inbound]]` gives.
    pub formats: Box<dyn Formats>,
    plugins: BTreeMap<String, Arc<dyn Encoder>>,
    /// Each loaded plugin's file as last seen: a change means "look again" at reload.
    plugin_files: BTreeMap<String, Option<FileSeen>>,
    targets: BTreeMap<String, TargetRuntime>,
    lock: Option<std::fs::File>,
    /// Whether other processes may send from this store (a file): then sending takes
    /// the send lock. A store in memory is this process's alone.
    shared_store: bool,
    /// The user the hub acts for: picks per-user credentials, signs resolutions.
    pub user: String,
    /// This process among the workers on one store: host, process id and start time, so
    /// a restarted worker never mistakes a dead one's lease for its own.
    pub worker: String,
    /// Set on SIGTERM/SIGINT in `hub serve`: a send finishes the transfer it is on and
    /// starts no new one.
    pub stop: Arc<AtomicBool>,
    /// Told after each transfer of a send and each file of an import (a terminal bar).
    pub progress: Option<crate::progress::Hook>,
    /// Plugin files (sha256) whose encode was seen to give the same bytes twice.
    pub(crate) deterministic: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config.file)
            .field("worker", &self.worker)
            .finish()
    }
}

/// A file's size, modification time and (on Unix) inode: cheap to take every loop tick.
/// The inode catches a file renamed into place within the filesystem's mtime granularity
/// with the same size (two builds differing only in a version string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileSeen {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileSeen {
    fn of(path: &Path) -> Option<FileSeen> {
        std::fs::metadata(path).ok().map(|m| FileSeen {
            len: m.len(),
            modified: m.modified().ok(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&m),
            #[cfg(not(unix))]
            inode: 0,
        })
    }
}

/// What [`Engine::reload_plugins`] did about one plugin whose file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadEvent {
    /// The new file loaded, fits every target that uses it, and serves the next batches.
    Reloaded {
        /// The plugin's name in hub.toml.
        plugin: String,
        /// The file it was loaded from.
        path: PathBuf,
        /// What served until now.
        old: PluginStamp,
        /// What serves from now on.
        new: PluginStamp,
    },
    /// The new file was refused; the running plugin stays.
    Refused {
        /// The plugin's name in hub.toml.
        plugin: String,
        /// The file that was refused.
        path: PathBuf,
        /// Why, naming the file.
        reason: String,
    },
}

/// The stamp an encoder leaves on the transfers it encodes.
pub fn stamp(plugin: &dyn Encoder) -> PluginStamp {
    PluginStamp {
        name: plugin.info().name.clone(),
        version: plugin.info().version.clone(),
        sha256: plugin.sha256().to_string(),
    }
}

/// A target's settings and transport checked against an encoder.
/// `user`'s own settings (`[target.user_settings.<user>]`) are laid over the target's.
pub fn check_target(
    config: TargetConfig,
    plugin: Arc<dyn Encoder>,
    user: &str,
) -> Result<TargetRuntime, EngineError> {
    let info = plugin.info();
    let mut given = config.settings.clone();
    if let Some(own) = config.user_settings.get(user) {
        given.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let settings = Settings(
        check_settings(&config.name, &info.settings, &given).map_err(EngineError::Target)?,
    );
    if let Err(errors) = plugin.check_settings(&settings)? {
        return Err(EngineError::Target(
            errors
                .iter()
                .map(|e| {
                    format!(
                        "target {}: plugin {} refuses the settings: {e}",
                        config.name, config.plugin
                    )
                })
                .collect(),
        ));
    }
    let files = hub_core::transport::delivers_files(&config.transport);
    let fits = match info.delivery {
        Delivery::RequestResponse => !files,
        Delivery::FileDrop | Delivery::FileDropWithReceipt => files,
    };
    if !fits {
        return Err(EngineError::Target(vec![format!(
            "target {}: plugin {} needs {} delivery, but transport `{}` {}",
            config.name,
            config.plugin,
            info.delivery.as_str(),
            config.transport.kind(),
            if files {
                "delivers files"
            } else {
                "sends requests"
            }
        )]));
    }
    Ok(TargetRuntime {
        config,
        plugin,
        settings,
    })
}

impl Engine {
    /// An engine over `store` for `config`; plugins load when first needed.
    pub fn new(
        config: Config,
        store: Box<dyn HubStore>,
        ports: Ports,
        user: String,
        worker: String,
    ) -> Engine {
        Engine {
            config,
            store,
            clock: ports.clock,
            loader: ports.plugins,
            connector: ports.connector,
            formats: ports.formats,
            plugins: BTreeMap::new(),
            plugin_files: BTreeMap::new(),
            targets: BTreeMap::new(),
            lock: None,
            shared_store: true,
            user,
            worker,
            stop: Arc::new(AtomicBool::new(false)),
            progress: None,
            deterministic: std::collections::HashSet::new(),
        }
    }

    /// Says the store is this process's alone (in memory): sending takes no lock file.
    pub fn with_private_store(mut self) -> Self {
        self.shared_store = false;
        self
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Loads a plugin by its hub.toml name (once).
    pub fn plugin(&mut self, name: &str) -> Result<Arc<dyn Encoder>, EngineError> {
        if let Some(p) = self.plugins.get(name) {
            return Ok(p.clone());
        }
        let pc =
            self.config.plugins.get(name).cloned().ok_or_else(|| {
                EngineError::Target(vec![format!("plugin `{name}` is not defined")])
            })?;
        // Seen before reading: a file replaced while it loads differs at the next look.
        let seen = FileSeen::of(&pc.path);
        let plugin = self.loader.load(name, &pc)?;
        self.plugins.insert(name.to_string(), plugin.clone());
        self.plugin_files.insert(name.to_string(), seen);
        Ok(plugin)
    }

    /// Live reload: loads every loaded plugin whose file changed (size or mtime, then a
    /// different sha256) and swaps it in for the next batches. A send under way keeps its
    /// own `Arc` of the old plugin and finishes with it; queued and open transfers are in
    /// the store and untouched. A file that cannot replace the running plugin (unreadable,
    /// not a component, a pin mismatch, an import, settings of a target it no longer
    /// accepts, a delivery shape its transport cannot do) is logged at error level with
    /// the file and the reason, and the old plugin keeps running. With `forced` (SIGHUP)
    /// every plugin is looked at, with `configs` read from hub.toml again (paths and pins).
    pub fn reload_plugins(
        &mut self,
        forced: bool,
        configs: Option<BTreeMap<String, PluginConfig>>,
    ) -> Vec<ReloadEvent> {
        let configs = configs.unwrap_or_else(|| self.config.plugins.clone());
        let names: Vec<String> = self.plugins.keys().cloned().collect();
        let mut events = Vec::new();
        for name in names {
            let Some(pc) = configs.get(&name).cloned() else {
                continue;
            };
            let (Some(old), Some(old_pc)) = (
                self.plugins.get(&name).cloned(),
                self.config.plugins.get(&name).cloned(),
            ) else {
                continue;
            };
            let seen = FileSeen::of(&pc.path);
            let moved = pc.path != old_pc.path || pc.sha256 != old_pc.sha256;
            if !forced && !moved && self.plugin_files.get(&name) == Some(&seen) {
                continue;
            }
            self.plugin_files.insert(name.clone(), seen);
            match self.replace_plugin(&name, old.as_ref(), &pc, moved) {
                Ok(None) => {}
                Ok(Some(new)) => {
                    let (old_stamp, new_stamp) = (stamp(old.as_ref()), stamp(new.as_ref()));
                    tracing::info!(plugin = %name, file = %pc.path.display(), old = %old_stamp, new = %new_stamp, "plugin reloaded; the next batches use the new one");
                    events.push(ReloadEvent::Reloaded {
                        plugin: name.clone(),
                        path: pc.path.clone(),
                        old: old_stamp,
                        new: new_stamp,
                    });
                    self.config.plugins.insert(name.clone(), pc);
                }
                Err(reason) => {
                    tracing::error!(plugin = %name, file = %pc.path.display(), reason = %reason, running = %stamp(old.as_ref()), "plugin file changed but cannot be loaded; the running plugin stays");
                    events.push(ReloadEvent::Refused {
                        plugin: name.clone(),
                        path: pc.path.clone(),
                        reason,
                    });
                }
            }
        }
        events
    }

    /// Loads `pc` for plugin `name` and, when it differs from `old` and fits every target
    /// checked so far, puts it in place; `Ok(None)`: the same bytes, nothing to do.
    fn replace_plugin(
        &mut self,
        name: &str,
        old: &dyn Encoder,
        pc: &PluginConfig,
        moved: bool,
    ) -> Result<Option<Arc<dyn Encoder>>, String> {
        let bytes = std::fs::read(&pc.path)
            .map_err(|e| format!("cannot read {}: {e}", pc.path.display()))?;
        if !moved && hex::encode(Sha256::digest(&bytes)) == old.sha256() {
            return Ok(None);
        }
        let new = self.loader.load(name, pc).map_err(|e| e.to_string())?;
        let mut checked = Vec::new();
        for (target, t) in &self.targets {
            if t.config.plugin == name {
                let fresh = check_target(t.config.clone(), new.clone(), &self.user)
                    .map_err(|e| format!("{} with the new file: {e}", pc.path.display()))?;
                checked.push((target.clone(), fresh));
            }
        }
        self.targets.extend(checked);
        self.plugins.insert(name.to_string(), new.clone());
        Ok(Some(new))
    }

    /// A target with its plugin loaded and its settings and transport checked.
    pub fn target(&mut self, name: &str) -> Result<TargetRuntime, EngineError> {
        if let Some(t) = self.targets.get(name) {
            return Ok(t.clone());
        }
        let config =
            self.config
                .target(name)
                .cloned()
                .ok_or_else(|| EngineError::UnknownTarget {
                    name: name.into(),
                    file: self.config.file.display().to_string(),
                    known: self
                        .config
                        .targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let plugin = self.plugin(&config.plugin)?;
        let t = check_target(config, plugin, &self.user)?;
        self.targets.insert(name.to_string(), t.clone());
        Ok(t)
    }

    /// A connection to `target`'s receiver, through the connector port.
    pub fn open_transport(
        &mut self,
        target: &TargetConfig,
    ) -> Result<Box<dyn Transport>, OpenError> {
        self.connector.open(&self.config, &self.user, target)
    }

    /// A connection with no credential of a target's (an inbound's `answers`).
    pub fn open_answers(
        &mut self,
        transport: &hub_core::config::TransportConfig,
    ) -> Result<Box<dyn Transport>, OpenError> {
        self.connector.open_plain(transport)
    }

    /// Names of all configured targets.
    pub fn target_names(&self) -> Vec<String> {
        self.config.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// Takes the store's send lock, so two hub processes never deliver the same transfer
    /// at once; waits for a running one to finish.
    pub fn lock_for_sending(&mut self) -> Result<(), EngineError> {
        // Workers on other machines share a PostgreSQL store: a lock file here proves
        // nothing about them, and their leases expire rather than being freed.
        if self.lock.is_some() || !self.shared_store || hub_store::is_shared(&self.config.store) {
            return Ok(());
        }
        let path = self.config.store.path.with_extension("lock");
        let err = |e: std::io::Error| EngineError::Lock {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "hub: another hub process is sending from this store; waiting for it ({})",
                    path.display()
                );
                file.lock().map_err(err)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        self.lock = Some(file);
        // Under this lock no other process sends from this store: any other worker's
        // lease is a killed run's, and its transfers are this run's to recover now.
        let freed = self.store.free_leases(&self.worker)?;
        if freed > 0 {
            tracing::info!(
                freed,
                "took over transfers of an earlier run that did not finish"
            );
        }
        Ok(())
    }
}
