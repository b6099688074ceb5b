//! The running hub for one configuration file: the engine (`hub-engine`) with the
//! hub's own ports: WASM plugins in the sandbox (`hub-runtime`), the real transports
//! (`hub-transports`) with the credentials hub.toml names, and the system clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hub_core::config::{Config, TargetConfig, TransportConfig};
use hub_core::time::{Clock, SystemClock, Timestamp};
use hub_core::transport::Transport;
use hub_engine::ports::{Connector, OpenError};
use hub_engine::{Engine, Ports, ReloadEvent};
use hub_runtime::{Limits, WasmLoader};
use hub_store::HubStore;

pub use hub_engine::{EngineError as AppError, TargetRuntime, stamp};

/// The hub for one configuration file: the engine, plus what only a process has.
pub struct App {
    engine: Engine,
    /// Set on SIGHUP in `hub serve`: the next [`App::reload_plugins`] reads hub.toml's
    /// `[plugins]` again and loads every plugin file whose sha256 changed.
    pub reload: Arc<AtomicBool>,
}

impl std::ops::Deref for App {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl std::ops::DerefMut for App {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.engine.config.file)
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

/// Opens the real transports with the client identity hub.toml names for the user.
#[derive(Debug, Default)]
pub struct NetConnector;

impl Connector for NetConnector {
    fn open(
        &mut self,
        config: &Config,
        user: &str,
        target: &TargetConfig,
    ) -> Result<Box<dyn Transport>, OpenError> {
        let identity =
            identity(config, user, target).map_err(|e| OpenError::Setup(e.to_string()))?;
        Ok(hub_transports::open(&target.transport, identity)?)
    }

    fn open_plain(&mut self, transport: &TransportConfig) -> Result<Box<dyn Transport>, OpenError> {
        Ok(hub_transports::open(transport, None)?)
    }
}

/// The client identity for a target: the user's own credential if hub.toml maps the
/// user to one, else the target's central credential, else none. The password is read
/// from its file or environment variable here and goes nowhere but the TLS stack.
pub fn identity(
    config: &Config,
    user: &str,
    target: &TargetConfig,
) -> Result<Option<hub_transports::http::ClientIdentity>, AppError> {
    let Some(name) = target
        .user_credentials
        .get(user)
        .or(target.credential.as_ref())
    else {
        return Ok(None);
    };
    let c = config.credentials.get(name).ok_or_else(|| {
        AppError::Target(vec![format!(
            "target {}: credential `{name}` is not defined",
            target.name
        )])
    })?;
    hub_transports::credential::identity(name, c)
        .map(Some)
        .map_err(|e| AppError::Target(vec![e.message]))
}

impl App {
    /// Reads the configuration and opens the store; plugins load when first needed.
    pub fn open(config_file: &Path) -> Result<App, AppError> {
        let config = Config::load(config_file)?;
        let keyring = crate::encryption::keyring(&config).map_err(|e| AppError::Target(vec![e]))?;
        let clock = clock_from_env();
        let store: Box<dyn HubStore> = hub_store::open(&config.store, keyring, clock.now())?;
        let limits = Limits {
            memory_mb: config.runtime.memory_limit_mb,
            call_timeout_ms: config.runtime.call_timeout_ms,
        };
        let ports = Ports {
            clock,
            plugins: Box::new(WasmLoader::new(limits, config.runtime.cache_dir.clone())),
            connector: Box::new(NetConnector),
            formats: Box::new(crate::survnet::HubFormats),
        };
        Ok(App {
            engine: Engine::new(config, store, ports, current_user(), worker_id()),
            reload: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The engine, to hand to the pipeline.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Live reload of changed plugin files ([`Engine::reload_plugins`]); after SIGHUP
    /// ([`App::reload`]) hub.toml's `[plugins]` (paths and pins) is read again; the rest
    /// of hub.toml needs a restart.
    pub fn reload_plugins(&mut self) -> Vec<ReloadEvent> {
        let forced = self.reload.swap(false, Ordering::SeqCst);
        let mut configs = None;
        if forced {
            match Config::load(&self.engine.config.file) {
                Ok(c) => configs = Some(c.plugins),
                Err(e) => {
                    tracing::error!(file = %self.engine.config.file.display(), error = %e, "SIGHUP: cannot read the configuration again; plugin paths and pins stay as they were")
                }
            }
        }
        self.engine.reload_plugins(forced, configs)
    }
}
