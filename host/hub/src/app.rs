//! The running hub for one configuration file: the store, the plugin runtime, and each
//! target's plugin, settings and transport, checked against each other at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use hub_core::config::{Config, PluginConfig, TargetConfig, check_settings};
use hub_core::time::{Clock, SystemClock, Timestamp};
use hub_plugin_sdk::{Delivery, Settings};
use hub_runtime::{Limits, Plugin, Runtime};
use hub_store::{HubStore, PluginStamp};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why the hub cannot work with a target as configured.
#[derive(Debug, Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] hub_core::config::ConfigError),
    #[error(transparent)]
    Store(#[from] hub_store::StoreError),
    #[error(transparent)]
    Plugin(#[from] hub_runtime::PluginError),
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

/// A target ready to send: its plugin (shared between targets that use the same one),
/// its checked settings and its configuration.
#[derive(Debug, Clone)]
pub struct TargetRuntime {
    pub config: TargetConfig,
    pub plugin: Arc<Plugin>,
    pub settings: Settings,
}

/// The hub for one configuration file.
pub struct App {
    pub config: Config,
    pub store: Box<dyn HubStore>,
    pub clock: Arc<dyn Clock>,
    runtime: Option<Runtime>,
    plugins: BTreeMap<String, Arc<Plugin>>,
    /// Each loaded plugin's file as last seen: a change means "look again" at reload.
    plugin_files: BTreeMap<String, Option<FileSeen>>,
    targets: BTreeMap<String, TargetRuntime>,
    lock: Option<std::fs::File>,
    /// The user the hub acts for: picks per-user credentials, signs resolutions.
    pub user: String,
    /// This process among the workers on one store: host, process id and start time, so
    /// a restarted worker never mistakes a dead one's lease for its own.
    pub worker: String,
    /// Set on SIGTERM/SIGINT in `hub serve`: a send finishes the transfer it is on and
    /// starts no new one.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Set on SIGHUP in `hub serve`: the next [`App::reload_plugins`] reads hub.toml's
    /// `[plugins]` again and loads every plugin file whose sha256 changed.
    pub reload: Arc<AtomicBool>,
    /// Told after each transfer of a send and each file of an import (a terminal bar).
    pub progress: Option<crate::progress::Hook>,
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

/// What [`App::reload_plugins`] did about one plugin whose file changed.
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

/// The stamp a plugin leaves on the transfers it encodes.
pub fn stamp(plugin: &Plugin) -> PluginStamp {
    PluginStamp {
        name: plugin.info().name.clone(),
        version: plugin.info().version.clone(),
        sha256: plugin.sha256().to_string(),
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config.file)
            .finish()
    }
}

/// The clock: the system's, or a fixed time from `HUB_NOW` (Unix seconds or RFC 3339),
/// for reproducible demos and tests. `HUB_NOW_FILE` names a file holding such a time,
/// read at every look: a test moves a running `hub serve` through its schedule by
/// rewriting it, without waiting for real minutes.
pub fn clock_from_env() -> Arc<dyn Clock> {
    if let Some(file) = std::env::var_os("HUB_NOW_FILE") {
        return Arc::new(FileClock(PathBuf::from(file)));
    }
    match std::env::var("HUB_NOW")
        .ok()
        .and_then(|s| Timestamp::parse(&s))
    {
        Some(t) => Arc::new(hub_core::time::FixedClock(t)),
        None => Arc::new(SystemClock),
    }
}

/// The time written in a file (`HUB_NOW_FILE`); the system's while it cannot be read.
#[derive(Debug)]
struct FileClock(PathBuf);

impl Clock for FileClock {
    fn now(&self) -> Timestamp {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| Timestamp::parse(s.trim()))
            .unwrap_or_else(|| SystemClock.now())
    }
}

/// A target's settings and transport checked against a plugin.
/// `user`'s own settings (`[target.user_settings.<user>]`) are laid over the target's.
fn check_target(
    config: TargetConfig,
    plugin: Arc<Plugin>,
    user: &str,
) -> Result<TargetRuntime, AppError> {
    let info = plugin.info();
    let mut given = config.settings.clone();
    if let Some(own) = config.user_settings.get(user) {
        given.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let settings =
        Settings(check_settings(&config.name, &info.settings, &given).map_err(AppError::Target)?);
    if let Err(message) = plugin.check_settings(&settings)? {
        return Err(AppError::Target(vec![format!(
            "target {}: plugin {} refuses the settings: {message}",
            config.name, config.plugin
        )]));
    }
    let files = hub_transports::delivers_files(&config.transport);
    let fits = match info.delivery {
        Delivery::RequestResponse => !files,
        Delivery::FileDrop | Delivery::FileDropWithReceipt => files,
    };
    if !fits {
        return Err(AppError::Target(vec![format!(
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

/// The user running the command: `$USER`, `$USERNAME` or `$LOGNAME`; without them (a
/// service, cron, a container) the operating system's user: its name from /etc/passwd,
/// else `uid <n>`, so a resolution is always signed by someone who can be found.
pub fn current_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(unix)]
fn os_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is the process's user (Linux); no libc call needed.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        let id = parts.nth(1)?;
        (id.parse::<u32>().ok()? == uid && !name.is_empty()).then(|| name.to_string())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

#[cfg(not(unix))]
fn os_user() -> Option<String> {
    None
}

/// `host:pid:start`, unique among the workers on one store.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{host}:{}:{start:x}", std::process::id())
}

impl App {
    /// Reads the configuration and opens the store; plugins load when first needed.
    pub fn open(config_file: &Path) -> Result<App, AppError> {
        let config = Config::load(config_file)?;
        let store: Box<dyn HubStore> = hub_store::open(&config.store)?;
        Ok(App {
            config,
            store,
            clock: clock_from_env(),
            runtime: None,
            plugins: BTreeMap::new(),
            plugin_files: BTreeMap::new(),
            targets: BTreeMap::new(),
            lock: None,
            user: current_user(),
            worker: worker_id(),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            reload: Arc::new(AtomicBool::new(false)),
            progress: None,
        })
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn runtime(&mut self) -> Result<&Runtime, AppError> {
        if self.runtime.is_none() {
            let limits = Limits {
                memory_mb: self.config.runtime.memory_limit_mb,
                call_timeout_ms: self.config.runtime.call_timeout_ms,
            };
            self.runtime = Some(Runtime::new(limits, self.config.runtime.cache_dir.clone())?);
        }
        self.runtime
            .as_ref()
            .ok_or_else(|| AppError::Target(vec!["the plugin runtime did not start".into()]))
    }

    /// Loads a plugin by its hub.toml name (once).
    pub fn plugin(&mut self, name: &str) -> Result<Arc<Plugin>, AppError> {
        if let Some(p) = self.plugins.get(name) {
            return Ok(p.clone());
        }
        let pc = self
            .config
            .plugins
            .get(name)
            .cloned()
            .ok_or_else(|| AppError::Target(vec![format!("plugin `{name}` is not defined")]))?;
        // Seen before reading: a file replaced while it loads differs at the next look.
        let seen = FileSeen::of(&pc.path);
        let plugin = Arc::new(self.runtime()?.load(name, &pc.path, pc.sha256.as_deref())?);
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
    /// the file and the reason, and the old plugin keeps running. After SIGHUP
    /// ([`App::reload`]) every plugin is looked at and hub.toml's `[plugins]` (paths and
    /// pins) is read again; the rest of hub.toml needs a restart.
    pub fn reload_plugins(&mut self) -> Vec<ReloadEvent> {
        let forced = self.reload.swap(false, Ordering::SeqCst);
        let mut configs = self.config.plugins.clone();
        if forced {
            match Config::load(&self.config.file) {
                Ok(c) => configs = c.plugins,
                Err(e) => {
                    tracing::error!(file = %self.config.file.display(), error = %e, "SIGHUP: cannot read the configuration again; plugin paths and pins stay as they were")
                }
            }
        }
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
            match self.replace_plugin(&name, &old, &pc, moved) {
                Ok(None) => {}
                Ok(Some(new)) => {
                    let event = ReloadEvent::Reloaded {
                        plugin: name.clone(),
                        path: pc.path.clone(),
                        old: stamp(&old),
                        new: stamp(&new),
                    };
                    tracing::info!(plugin = %name, file = %pc.path.display(), old = %stamp(&old), new = %stamp(&new), "plugin reloaded; the next batches use the new one");
                    self.config.plugins.insert(name.clone(), pc);
                    events.push(event);
                }
                Err(reason) => {
                    tracing::error!(plugin = %name, file = %pc.path.display(), reason = %reason, running = %stamp(&old), "plugin file changed but cannot be loaded; the running plugin stays");
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
        old: &Plugin,
        pc: &PluginConfig,
        moved: bool,
    ) -> Result<Option<Arc<Plugin>>, String> {
        let bytes = std::fs::read(&pc.path)
            .map_err(|e| format!("cannot read {}: {e}", pc.path.display()))?;
        if !moved && hex::encode(Sha256::digest(&bytes)) == old.sha256() {
            return Ok(None);
        }
        let new = Arc::new(
            self.runtime()
                .map_err(|e| e.to_string())?
                .load(name, &pc.path, pc.sha256.as_deref())
                .map_err(|e| e.to_string())?,
        );
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
    pub fn target(&mut self, name: &str) -> Result<TargetRuntime, AppError> {
        if let Some(t) = self.targets.get(name) {
            return Ok(t.clone());
        }
        let config = self
            .config
            .target(name)
            .cloned()
            .ok_or_else(|| AppError::UnknownTarget {
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

    /// The client identity for a target: the user's own credential if hub.toml maps the
    /// user to one, else the target's central credential, else none. The password is read
    /// from its file or environment variable here and goes nowhere but the TLS stack.
    pub fn identity(
        &self,
        target: &TargetConfig,
    ) -> Result<Option<hub_transports::http::ClientIdentity>, AppError> {
        let Some(name) = target
            .user_credentials
            .get(&self.user)
            .or(target.credential.as_ref())
        else {
            return Ok(None);
        };
        let c = self.config.credentials.get(name).ok_or_else(|| {
            AppError::Target(vec![format!(
                "target {}: credential `{name}` is not defined",
                target.name
            )])
        })?;
        hub_transports::credential::identity(name, c)
            .map(Some)
            .map_err(|e| AppError::Target(vec![e.message]))
    }

    /// Names of all configured targets.
    pub fn target_names(&self) -> Vec<String> {
        self.config.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// Takes the store's send lock, so two hub processes never deliver the same transfer
    /// at once; waits for a running one to finish.
    pub fn lock_for_sending(&mut self) -> Result<(), AppError> {
        // Workers on other machines share a PostgreSQL store: a lock file here proves
        // nothing about them, and their leases expire rather than being freed.
        if self.lock.is_some() || hub_store::is_shared(&self.config.store) {
            return Ok(());
        }
        let path = self.config.store.path.with_extension("lock");
        let err = |e: std::io::Error| AppError::Lock {
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
