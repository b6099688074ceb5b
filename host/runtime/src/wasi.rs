//! WASI for plugins whose language runtime imports it.
//!
//! Rust plugins built for `wasm32-unknown-unknown` import nothing. A plugin written in
//! Python (componentize-py) carries CPython, which imports WASI 0.2 interfaces even when the
//! plugin never touches a file or a socket. The hub links those interfaces with
//! `wasmtime-wasi`, behind a context that gives nothing away: no preopened directories (so no
//! filesystem), no environment variables, no arguments, no stdin, no sockets (TCP, UDP and
//! name lookup refused, every address denied), and stdout/stderr captured with a size cap
//! into the debug log. What such a plugin does see is a wall clock, a monotonic clock and
//! randomness: the contract still asks it not to let them into its output.
//!
//! `hub plugin test --determinism` checks that promise: it gives each run a [`WasiSeed`],
//! a wall clock starting at another instant and randomness from another seed, so a
//! plugin that lets either into its payload encodes different bytes in different runs.
//!
//! The call's wall-clock limit holds here too: epoch interruption stops wasm code, but a
//! guest sleeping in a host call (`subscribe-duration` + `poll`) would block the host thread
//! past it, so the monotonic clock's sleeps are cut off at the call's deadline.
//!
//! Any import that is not one of these WASI interfaces is still refused by name.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult, subscribe};
use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, ResourceTable, WasiCtx, WasiCtxBuilder,
    WasiCtxView, WasiView,
};

use crate::CallState;

/// The WASI packages the hub links (`wasmtime_wasi::p2::add_to_linker_sync`), all at 0.2.x.
const PROVIDED: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// How much of a call's stdout and stderr (each) reaches the log; the rest is dropped.
const OUTPUT_CAP: usize = 8 * 1024;

/// The monotonic clock's instance name exactly as wasmtime-wasi 48 links it (its WIT is
/// `wasi:clocks@0.2.12`); the sandbox tests fail if a new wasmtime-wasi renames it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Links the WASI 0.2 interfaces into the plugins' linker, with sleeps that end at the
/// call's deadline. Plugins that do not import WASI are unaffected: a linker definition
/// nobody imports costs nothing per call.
pub(crate) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, CallState>, (nanos,): (u64,)| {
            let state = store.data_mut().wasi_state();
            let until = Instant::now().checked_add(Duration::from_nanos(nanos));
            Ok((state.sleep_until(until)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, CallState>, (when,): (u64,)| {
            let state = store.data_mut().wasi_state();
            let until = state.clock.start.checked_add(Duration::from_nanos(
                when.saturating_sub(state.clock.offset),
            ));
            Ok((state.sleep_until(until)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Whether the hub links `import` (a WASI 0.2 interface of a package it provides).
pub(crate) fn is_provided(import: &str) -> bool {
    PROVIDED.iter().any(|p| import.starts_with(p))
        && import
            .split_once('@')
            .is_some_and(|(_, version)| version.starts_with("0.2."))
}

/// The clocks and randomness one sandbox's WASI gives a plugin, fixed by the host instead
/// of taken from the machine: two sandboxes with different seeds see different times and
/// different random bytes (and the same seed the same bytes), which is what the
/// determinism check needs to vary. Never used for `hub send`, which gives the real ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasiSeed {
    /// The wall clock's time, in nanoseconds since the Unix epoch; it stands still.
    pub wall_clock_ns: u64,
    /// Where the monotonic clock starts, in nanoseconds; it runs (sleeps are timed by it).
    pub monotonic_ns: u64,
    /// The seed of every random source (`wasi:random/random`, `insecure`, `insecure-seed`).
    pub random: u64,
}

impl WasiSeed {
    /// Seed number `n` of a check: each a different clock (about a year apart) and a
    /// different random stream.
    pub fn nth(n: u64) -> Self {
        let year = 365 * 24 * 3_600 * 1_000_000_000_u64;
        Self {
            // 2001-09-09 plus n years: far from today's date, so a clock in the output
            // shows as a difference even against a run with the real clock.
            wall_clock_ns: 1_000_000_000_000_000_000_u64.saturating_add(n.saturating_mul(year)),
            monotonic_ns: n.saturating_mul(1_000_000_007),
            random: splitmix(n ^ 0x6875_622d_7365_6564),
        }
    }

    /// The bytes the random sources cycle through: long enough that no plugin asking for
    /// a few values sees a repeat.
    fn random_bytes(&self) -> Vec<u8> {
        let mut state = self.random;
        (0..512)
            .flat_map(|_| {
                state = splitmix(state);
                state.to_le_bytes()
            })
            .collect()
    }
}

/// SplitMix64's step: spreads a small seed over all 64 bits.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One call's WASI state: the locked-down context, its resources, the captured output, and
/// the deadline its sleeps end at.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    stdout: CappedOutput,
    stderr: CappedOutput,
    clock: Monotonic,
    deadline: Instant,
    /// A sleep was cut off at the deadline: the call has run out of time.
    cut_off: bool,
}

impl WasiState {
    /// A context with nothing in it but clocks and randomness (see the module docs), whose
    /// sleeps end at `deadline` at the latest; with `seed`, the clocks and randomness are
    /// the seed's instead of the machine's.
    pub(crate) fn locked(deadline: Instant, seed: Option<WasiSeed>) -> Self {
        let stdout = CappedOutput::default();
        let stderr = CappedOutput::default();
        let start = Instant::now();
        let clock = Monotonic {
            start,
            offset: seed.map_or(0, |s| s.monotonic_ns),
        };
        let mut b = WasiCtxBuilder::new();
        // The defaults already close stdin and have no env, args or preopens; the network
        // is switched off explicitly so a changed default cannot open it.
        b.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .monotonic_clock(clock);
        if let Some(seed) = seed {
            let bytes = seed.random_bytes();
            let mut wide = [0u8; 16];
            wide.copy_from_slice(&bytes[..16]);
            b.wall_clock(WallClock {
                unix_ns: seed.wall_clock_ns,
            })
            .secure_random(Deterministic::new(bytes.clone()))
            .insecure_random(Deterministic::new(bytes.into_iter().rev().collect()))
            .insecure_random_seed(u128::from_le_bytes(wide));
        }
        Self {
            ctx: b.build(),
            table: ResourceTable::new(),
            stdout,
            stderr,
            clock,
            deadline,
            cut_off: false,
        }
    }

    /// Whether the call slept into its deadline; it is then stopped as timed out even if
    /// it returns before the next epoch tick would stop it.
    pub(crate) fn cut_off(&self) -> bool {
        self.cut_off
    }

    /// A pollable ready at `until` or at the call's deadline, whichever comes first
    /// (`None`: further than `Instant` reaches, i.e. the deadline).
    fn sleep_until(&mut self, until: Option<Instant>) -> wasmtime::Result<Resource<DynPollable>> {
        let until = match until {
            Some(t) if t <= self.deadline => t,
            _ => {
                self.cut_off = true;
                self.deadline
            }
        };
        let sleep = self
            .table
            .push(Sleep(tokio::time::Instant::from_std(until)))?;
        subscribe(&mut self.table, sleep)
    }

    /// Writes what the plugin printed during the call into the debug log.
    pub(crate) fn log_output(&self, plugin: &str, call: &str) {
        for (stream, out) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (text, dropped) = out.take();
            if !text.is_empty() {
                tracing::debug!(plugin, call, stream, dropped_bytes = dropped, "{text}");
            }
        }
    }
}

impl CallState {
    /// Built before the call for plugins that import WASI, and only they call WASI; the
    /// fallback (no time at all) is never used.
    fn wasi_state(&mut self) -> &mut WasiState {
        self.wasi
            .get_or_insert_with(|| WasiState::locked(Instant::now(), None))
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let state = self.wasi_state();
        WasiCtxView {
            ctx: &mut state.ctx,
            table: &mut state.table,
        }
    }
}

/// The guest's monotonic clock: nanoseconds since the call's WASI state was made (plus a
/// seed's offset), so `subscribe-instant` can turn its instants back into host time.
#[derive(Clone, Copy)]
struct Monotonic {
    start: Instant,
    offset: u64,
}

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(self.offset)
    }
}

/// A seed's wall clock: it stands at the seed's instant, so two calls with one seed see
/// the same time (the send pipeline's own second encode compares them) and calls with
/// different seeds different times.
struct WallClock {
    unix_ns: u64,
}

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.unix_ns)
    }
}

/// A sleep in the guest: ready at its (already capped) instant.
struct Sleep(tokio::time::Instant);

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

/// A stdout/stderr that keeps the first `OUTPUT_CAP` bytes and counts the rest: writing
/// never fails, so a chatty plugin is not broken by the cap.
#[derive(Clone, Default)]
struct CappedOutput(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

impl CappedOutput {
    fn push(&self, bytes: &[u8]) {
        let Ok(mut c) = self.0.lock() else { return };
        let room = OUTPUT_CAP.saturating_sub(c.kept.len());
        let take = room.min(bytes.len());
        c.kept.extend_from_slice(&bytes[..take]);
        c.dropped += bytes.len() - take;
    }

    fn take(&self) -> (String, usize) {
        let Ok(mut c) = self.0.lock() else {
            return (String::new(), 0);
        };
        let text = String::from_utf8_lossy(&c.kept).trim_end().to_string();
        let dropped = c.dropped;
        *c = Captured::default();
        (text, dropped)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_linked_wasi_interfaces_are_provided() {
        assert!(is_provided("wasi:io/streams@0.2.0"));
        assert!(is_provided("wasi:sockets/tcp@0.2.9"));
        assert!(!is_provided("wasi:http/outgoing-handler@0.2.0"));
        assert!(!is_provided("wasi:io/streams@0.3.0"));
        assert!(!is_provided("wasi:io/streams"));
        assert!(!is_provided("evil:net/socket@0.1.0"));
        assert!(!is_provided("wasi:io-evil/streams@0.2.0"));
    }

    #[test]
    fn seeds_give_different_clocks_and_random_streams_and_repeat_themselves() {
        let (a, b) = (WasiSeed::nth(1), WasiSeed::nth(2));
        assert_ne!(a.wall_clock_ns, b.wall_clock_ns);
        assert_ne!(a.monotonic_ns, b.monotonic_ns);
        assert_ne!(a.random_bytes(), b.random_bytes());
        assert_eq!(a.random_bytes(), WasiSeed::nth(1).random_bytes());
        assert_eq!(a.random_bytes().len(), 4096);
    }

    #[test]
    fn output_keeps_the_first_bytes_and_counts_the_rest() {
        let out = CappedOutput::default();
        out.push(&vec![b'a'; OUTPUT_CAP - 1]);
        out.push(b"bcd");
        let (text, dropped) = out.take();
        assert_eq!(text.len(), OUTPUT_CAP);
        assert!(text.ends_with("ab"));
        assert_eq!(dropped, 2);
        assert_eq!(out.take(), (String::new(), 0));
    }
}
