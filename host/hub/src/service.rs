//! `hub serve` for one or many configuration files (one per municipality).
//!
//! Each file is a *site* with its own store. Per site one sender thread owns an [`App`]
//! and is the only one that sends (so `lock_for_sending` is taken once, by it): it runs
//! the schedules, sends real-time targets when woken, and retries failed sends with
//! backoff. The HTTP API uses a second [`App`] per site behind a mutex (its own SQLite
//! connection; WAL lets both work at once) and wakes the sender through a channel.
//!
//! SIGTERM/SIGINT set one flag: the sender finishes the transfer it is on and starts no
//! new one (see `pipeline::send`), the HTTP server stops taking requests and finishes
//! those under way, then the process exits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hub_core::config::{Config, Sending};
use hub_core::schedule::{Schedule, Scheduler};
use hub_core::time::Timestamp;

use crate::app::App;
use crate::pipeline;

/// The longest wait between two looks at the clock and the stop flag.
const TICK: Duration = Duration::from_secs(1);

/// What wakes a sender thread.
#[derive(Debug, Clone)]
pub enum Wake {
    /// Send this target now (a real-time enqueue, or "send" through the API).
    Send(String),
    /// Deliver this target's open transfers now, nothing new (a person's retry).
    Retry(String),
    /// Stop after what is under way.
    Stop,
}

/// One configuration file as the service runs it.
pub struct Site {
    /// The file's stem (`sermersooq` for `sermersooq.toml`): the `config` label in metrics.
    pub name: String,
    pub config: Config,
    /// The API's own hub for this file (a second store connection): its writes.
    pub app: Mutex<App>,
    /// The API's read hubs for this file, beside `app` (reads never wait for it).
    pub readers: Arc<crate::api::Readers>,
    /// Wakes this site's sender.
    pub wake: Sender<Wake>,
}

impl Site {
    /// Whether `target` sends at once after enqueue.
    pub fn realtime(&self, target: &str) -> bool {
        self.config.target(target).map(|t| t.sending) == Some(Sending::Realtime)
    }
}

/// Per-target figures the sender threads keep (the store has the rest).
#[derive(Debug, Default)]
pub struct Metrics {
    pub sends: Mutex<BTreeMap<(String, String), SendStats>>,
}

/// Runs of `pipeline::send` for one target.
#[derive(Debug, Default, Clone, Copy)]
pub struct SendStats {
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
}

impl Metrics {
    fn record(&self, site: &str, target: &str, ok: bool, took: Duration) {
        let Ok(mut m) = self.sends.lock() else {
            return;
        };
        let s = m.entry((site.to_string(), target.to_string())).or_default();
        if ok {
            s.ok += 1;
        } else {
            s.failed += 1;
        }
        s.seconds += took.as_secs_f64();
    }
}

/// The configuration files `path` stands for: the file itself, or every `*.toml` in a
/// folder (sorted, so the order is stable) but those whose name starts with `_`, which
/// are settings the others include (`include = "_shared.toml"`), not municipalities.
pub fn config_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no *.toml configuration file in {}", path.display());
    }
    Ok(files)
}

/// Refuses two configuration files that share a store: their data must stay apart.
pub fn distinct_stores(files: &[PathBuf]) -> Result<()> {
    let mut seen: BTreeMap<PathBuf, &Path> = BTreeMap::new();
    for f in files {
        let Ok(c) = Config::load(f) else { continue };
        let key = normalise(&c.store.path);
        if let Some(other) = seen.insert(key, f) {
            bail!(
                "{} and {} use the same store {}; each municipality needs its own",
                other.display(),
                f.display(),
                c.store.path.display()
            );
        }
    }
    Ok(())
}

/// An absolute path with `.` and `..` folded (the file itself may not exist yet).
fn normalise(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let dir = abs
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .unwrap_or_else(|| abs.parent().map(Path::to_path_buf).unwrap_or_default());
    dir.join(abs.file_name().unwrap_or_default())
}

/// Options of `hub serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub listen: Option<String>,
    pub as_user: Option<String>,
}

/// Runs the service until SIGTERM/SIGINT.
pub fn serve(opts: &ServeOptions) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handler")?;
    }
    crate::fault::set_stop_flag(stop.clone());
    let files = config_files(&opts.config)?;
    distinct_stores(&files)?;
    let metrics = Arc::new(Metrics::default());
    let mut sites = Vec::new();
    let mut senders = Vec::new();
    let mut any_api = false;
    let mut any_work = false;
    for file in &files {
        let open = |file: &Path| -> Result<App> {
            let mut app = App::open(file)?;
            if let Some(u) = &opts.as_user {
                app.user = u.clone();
            }
            Ok(app)
        };
        let mut app = open(file)?;
        app.stop = stop.clone();
        // SIGHUP: every sender and API connection looks at its plugins again (live reload).
        signal_hook::flag::register(signal_hook::consts::SIGHUP, app.reload.clone())
            .context("cannot install the SIGHUP handler")?;
        // Check every target now, not at its first send.
        for name in app.target_names() {
            app.target(&name)?;
        }
        let mut schedules = Vec::new();
        for t in &app.config.targets {
            if let Some(c) = &t.schedule {
                let s = Schedule::from_config(c)
                    .map_err(|e| anyhow::anyhow!("target {}: {e}", t.name))?;
                schedules.push((t.name.clone(), s));
            }
        }
        let realtime: Vec<String> = app
            .config
            .targets
            .iter()
            .filter(|t| t.sending == Sending::Realtime)
            .map(|t| t.name.clone())
            .collect();
        any_work |= !schedules.is_empty() || !realtime.is_empty() || !app.config.inbound.is_empty();
        any_api |= app.config.api.is_some();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let config = app.config.clone();
        let api_app = open(file)?;
        let pool = crate::api::Readers::size_for(
            config
                .api
                .as_ref()
                .and_then(|a| a.limits)
                .unwrap_or_default()
                .max_concurrent_reads,
        );
        let (reader_file, reader_user) = (file.to_path_buf(), opts.as_user.clone());
        let readers = Arc::new(crate::api::Readers::new(
            pool,
            Box::new(move || {
                let mut app = App::open(&reader_file)?;
                if let Some(u) = &reader_user {
                    app.user = u.clone();
                }
                Ok(app)
            }),
        ));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, api_app.reload.clone())
            .context("cannot install the SIGHUP handler")?;
        let (tx, rx) = std::sync::mpsc::channel();
        if !realtime.is_empty() {
            listen_for_work(&name, &app.config, &realtime, &tx, &stop)?;
        }
        // One line per file, as `hub serve` has always said it (the file's name first
        // when there are several).
        let scheduled: Vec<&str> = schedules.iter().map(|(n, _)| n.as_str()).collect();
        // The schedule counts from now, before the start line: whoever reads that line may
        // move the clock, and the first slot after it must still be due. A slot that fell
        // while every worker was off (after the last look recorded in the store) is due at
        // once, once.
        let mut looked: BTreeMap<String, Timestamp> =
            app.store.schedule_looks()?.into_iter().collect();
        // Before the store kept them, the looks were in a file beside it: read once.
        let legacy = schedule_state_file(&app.config.store.path);
        for (n, t) in read_schedule_state(&legacy) {
            looked.entry(n).or_insert(t);
        }
        let now = app.now();
        let scheduler = Scheduler::resume(
            schedules
                .iter()
                .map(|(n, s)| (n.clone(), s.clone(), looked.get(n).copied()))
                .collect(),
            now,
        );
        let missed: Vec<&str> = schedules
            .iter()
            .filter(|(n, s)| {
                looked
                    .get(n)
                    .is_some_and(|l| *l < now && s.next_after(*l) <= now)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        if !missed.is_empty() {
            println!(
                "hub serve: a slot was missed while the hub was off; sending now: {}",
                missed.join(", ")
            );
        }
        for (n, _) in &schedules {
            let at = *looked.entry(n.clone()).or_insert(now);
            app.store.first_look(n, at)?;
        }
        if legacy.exists()
            && let Err(e) = std::fs::remove_file(&legacy)
        {
            tracing::warn!(file = %legacy.display(), error = %e, "the schedule looks are in the store now; cannot remove the old file");
        }
        let next = scheduler
            .next_wake()
            .map_or("never".to_string(), |t| t.to_string());
        println!(
            "hub serve: {}{} scheduled target(s) ({}); next run {next}{}",
            if files.len() > 1 {
                format!("{name}: ")
            } else {
                String::new()
            },
            scheduled.len(),
            scheduled.join(", "),
            if realtime.is_empty() {
                String::new()
            } else {
                format!("; real-time: {}", realtime.join(", "))
            }
        );
        for i in &app.config.inbound {
            println!(
                "hub serve: watching {} for inbound {}",
                i.inbox.display(),
                i.name
            );
        }
        let worker = SenderLoop {
            site: name.clone(),
            app,
            scheduler,
            realtime,
            rx,
            metrics: metrics.clone(),
        };
        senders.push(
            std::thread::Builder::new()
                .name(format!("send-{name}"))
                .spawn(move || worker.run())
                .context("cannot start a sender thread")?,
        );
        sites.push(Arc::new(Site {
            name,
            config,
            app: Mutex::new(api_app),
            readers,
            wake: tx,
        }));
    }
    if !any_work && !any_api {
        stop.store(true, Ordering::SeqCst);
        bail!(
            "no target has a schedule or real-time sending, there is no [[inbound]] and no file has an [api] section; nothing to serve"
        );
    }
    let result = if any_api {
        crate::api::run(sites.clone(), metrics, opts.listen.clone(), stop.clone())
    } else {
        while !stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(Duration::from_millis(100));
        }
        Ok(())
    };
    // Whatever ended the server, the senders finish what they are on and stop.
    stop.store(true, Ordering::SeqCst);
    for s in &sites {
        let _ = s.wake.send(Wake::Stop);
    }
    for h in senders {
        let _ = h.join();
    }
    println!("hub serve: stopped");
    result
}

/// On a shared PostgreSQL store, a thread with its own connection that listens for
/// `NOTIFY hub_work` (an enqueue, a transfer opened again, on any machine) and wakes this
/// site's sender for its real-time targets at once, rather than at its next look.
fn listen_for_work(
    site: &str,
    config: &Config,
    realtime: &[String],
    wake: &Sender<Wake>,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let Some(options) = hub_store::PgOptions::from_config(&config.store)? else {
        return Ok(());
    };
    let mut store = hub_store::PgStore::open(&options)?;
    store.listen()?;
    let (site, realtime, wake, stop) = (
        site.to_string(),
        realtime.to_vec(),
        wake.clone(),
        stop.clone(),
    );
    std::thread::Builder::new()
        .name(format!("listen-{site}"))
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match store.wait_for_work(TICK) {
                    Ok(Some(target)) if realtime.contains(&target) => {
                        if wake.send(Wake::Send(target)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The sender still looks in the store every tick: nothing is missed.
                    Err(e) => {
                        tracing::warn!(site = %site, error = %e, "wake-ups from other workers stopped");
                        return;
                    }
                }
            }
        })
        .context("cannot start the wake-up listener")?;
    Ok(())
}

/// One site's sender thread.
struct SenderLoop {
    site: String,
    app: App,
    scheduler: Scheduler,
    realtime: Vec<String>,
    rx: Receiver<Wake>,
    metrics: Arc<Metrics>,
}

impl SenderLoop {
    fn run(mut self) {
        let mut scheduler = std::mem::replace(
            &mut self.scheduler,
            Scheduler::new(Vec::new(), self.app.now()),
        );
        // Real-time targets first catch up with what was queued while the hub was down.
        let mut pending: BTreeSet<String> = self.realtime.iter().cloned().collect();
        // Targets a person asked to retry: their open transfers only, unless a send of the
        // whole queue is due anyway.
        let mut retries: BTreeSet<String> = BTreeSet::new();
        let stop = self.app.stop.clone();
        while !stop.load(Ordering::SeqCst) {
            // Between sends, so no batch sees two versions of a plugin.
            self.app.reload_plugins();
            let now = self.app.now();
            // Each worker on the store sees the slot; the store gives it to one of them.
            for (t, slot) in scheduler.due_slots(now) {
                match self.app.store.take_slot(&t, slot, now) {
                    Ok(true) => {
                        pending.insert(t);
                    }
                    Ok(false) => {
                        tracing::debug!(site = %self.site, target_name = %t, "slot taken by another worker");
                    }
                    // Sending anyway is safe: deliveries go through claims.
                    Err(e) => {
                        tracing::warn!(site = %self.site, target_name = %t, error = %e, "cannot record the schedule look; sending");
                        pending.insert(t);
                    }
                }
            }
            // Targets whose last sends failed, as every worker on the store sees them.
            let retry = self.backoffs();
            // Work another process put there (an enqueue or a settlement through another
            // worker or the CLI) is seen in the store, not only through a wake-up.
            let at = self.app.now();
            let worker = self.app.worker.clone();
            for t in &self.realtime {
                if retry.get(t).is_some_and(|(_, next)| *next > at) || pending.contains(t) {
                    continue;
                }
                match self.app.store.has_work(t, &worker, at) {
                    Ok(true) => {
                        pending.insert(t.clone());
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(site = %self.site, target_name = %t, error = %e, "cannot look for work");
                    }
                }
            }
            pending.extend(
                retry
                    .iter()
                    .filter(|(_, (_, next))| *next <= at)
                    .map(|(t, _)| t.clone()),
            );
            // Paused targets wait for `hub resume`, whatever is due for them.
            let paused: Vec<String> = match self.app.store.paused_targets() {
                Ok(p) => p.into_iter().map(|p| p.target).collect(),
                Err(e) => {
                    tracing::warn!(site = %self.site, error = %e, "cannot read paused targets; sending none this round");
                    pending.iter().cloned().collect()
                }
            };
            let open_only: BTreeSet<String> = std::mem::take(&mut retries)
                .into_iter()
                .filter(|t| !pending.contains(t))
                .collect();
            pending.extend(open_only.iter().cloned());
            pending.retain(|t| !paused.contains(t));
            for target in std::mem::take(&mut pending) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = self.send(&target, open_only.contains(&target));
                if let Err(asked) = sent {
                    let failures = retry.get(&target).map_or(0, |(n, _)| *n) + 1;
                    // The target's backoff, or longer where the receiver said so.
                    let wait = self
                        .app
                        .config
                        .target(&target)
                        .map(|t| t.retry.backoff(failures + 1))
                        .unwrap_or(TICK)
                        .max(asked.unwrap_or_default());
                    tracing::warn!(site = %self.site, target_name = %target, failures, wait_ms = wait.as_millis() as u64, "send failed; retrying later");
                    let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    let next = Timestamp(self.app.now().0.saturating_add(ms));
                    self.keep_backoff(&target, Some((failures, next)));
                } else if retry.contains_key(&target) {
                    self.keep_backoff(&target, None);
                }
            }
            // Arriving transports are imported at every look (each inbox is one listing).
            if !stop.load(Ordering::SeqCst) {
                crate::inbound::watch(&mut self.app);
                crate::retention::tick(&mut self.app);
            }
            let mut wait = TICK;
            if let Some(next) = scheduler.next_wake() {
                let ms = u64::try_from(next.0 - self.app.now().0).unwrap_or(0);
                wait = wait.min(Duration::from_millis(ms));
            }
            if let Some(next) = self.backoffs().values().map(|(_, next)| *next).min() {
                let ms = u64::try_from(next.0 - self.app.now().0).unwrap_or(0);
                wait = wait.min(Duration::from_millis(ms));
            }
            match self.rx.recv_timeout(wait) {
                Ok(w @ (Wake::Send(_) | Wake::Retry(_))) => {
                    // Many enqueues in a burst make one send.
                    let mut next = Some(w);
                    while let Some(w) = next {
                        match w {
                            Wake::Send(t) => {
                                pending.insert(t);
                            }
                            Wake::Retry(t) => {
                                retries.insert(t);
                            }
                            Wake::Stop => return,
                        }
                        next = self.rx.try_recv().ok();
                    }
                }
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// This site's targets whose last sends failed: failures in a row, next try. A store
    /// that cannot be read gives none: the next tick asks again.
    fn backoffs(&mut self) -> BTreeMap<String, (u32, Timestamp)> {
        match self.app.store.backoffs() {
            Ok(all) => all
                .into_iter()
                .filter(|b| self.app.config.target(&b.target).is_some())
                .map(|b| (b.target, (b.failures, b.next_at)))
                .collect(),
            Err(e) => {
                tracing::warn!(site = %self.site, error = %e, "cannot read the retry times");
                BTreeMap::new()
            }
        }
    }

    fn keep_backoff(&mut self, target: &str, backoff: Option<(u32, Timestamp)>) {
        if let Err(e) = self.app.store.set_backoff(target, backoff) {
            tracing::warn!(site = %self.site, target_name = %target, error = %e, "cannot keep the retry time");
        }
    }

    /// One send for a target (with `open_only`, its open transfers only); an error when
    /// something is left to retry, with the wait the receiver asked for (`Retry-After`),
    /// if it did. Deliveries held in doubt are not retried: they wait for a person.
    fn send(&mut self, target: &str, open_only: bool) -> Result<(), Option<Duration>> {
        let started = Instant::now();
        let run = if open_only {
            pipeline::retry(&mut self.app, target)
        } else {
            pipeline::send(&mut self.app, target, false)
        };
        let ok = match run {
            Ok(r) => {
                tracing::info!(site = %self.site, target_name = %target, transfers = r.transfers_created, delivered = r.records_delivered, to_check = r.records_to_check, "send done");
                for e in &r.errors {
                    tracing::error!(site = %self.site, target_name = %target, error = %e, "batch not sent");
                }
                for f in &r.stuck {
                    tracing::warn!(site = %self.site, target_name = %target, file = %f.name, minutes = f.minutes_waiting, "file still on the receiver");
                }
                for h in &r.in_doubt {
                    tracing::warn!(site = %self.site, target_name = %target, transfer = h.transfer, kind = h.kind.as_str(), "delivery in doubt, held for a person");
                }
                if r.errors.is_empty() {
                    Ok(())
                } else {
                    Err(None)
                }
            }
            // The records stay queued (or the transfer open): the retry picks them up.
            Err(e) => {
                tracing::error!(site = %self.site, target_name = %target, error = %e, "send failed");
                match e {
                    pipeline::SendError::Delivery { retry_after, .. } => Err(retry_after),
                    _ => Err(None),
                }
            }
        };
        self.metrics
            .record(&self.site, target, ok.is_ok(), started.elapsed());
        ok
    }
}

/// The file beside the store in which earlier versions kept, per scheduled target, when
/// its schedule was last looked at (`<store>.schedule`, one `target unix-milliseconds` a
/// line); read once into the store, then removed.
fn schedule_state_file(store: &Path) -> PathBuf {
    let mut name = store.file_name().unwrap_or_default().to_os_string();
    name.push(".schedule");
    store.with_file_name(name)
}

fn read_schedule_state(file: &Path) -> BTreeMap<String, Timestamp> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (name, ms) = l.rsplit_once(' ')?;
            Some((name.to_string(), Timestamp(ms.trim().parse().ok()?)))
        })
        .collect()
}
