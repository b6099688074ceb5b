//! Crash points for the kill -9 tests. With `HUB_FAULT=<point>[:<n>]` the process stops
//! at the n-th time (default: first) it reaches that point, says `HUB-FAULT <point>` on
//! stderr and waits there forever, so a test can kill it with SIGKILL at exactly that
//! step. Without the variable a point costs one load of a `OnceLock`.
//!
//! With `HUB_FAULT_MODE=pause` as well, the process waits there only until it is asked to
//! stop (SIGTERM in `hub serve`), then carries on: a test can deliver SIGTERM in the
//! middle of a send at exactly that step, with no sleep.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

static SPEC: OnceLock<Option<(String, usize)>> = OnceLock::new();
static SEEN: AtomicUsize = AtomicUsize::new(0);
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The stop flag a paused point waits for (`hub serve` registers its signal flag).
pub fn set_stop_flag(flag: Arc<AtomicBool>) {
    let _ = STOP.set(flag);
}

fn spec() -> &'static Option<(String, usize)> {
    SPEC.get_or_init(|| {
        let v = std::env::var("HUB_FAULT").ok()?;
        let (name, n) = match v.split_once(':') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((name, n.max(1)))
    })
}

/// A named step of the pipeline where a crash is simulated on request.
pub fn point(name: &str) {
    let Some((wanted, n)) = spec() else {
        return;
    };
    if wanted != name {
        return;
    }
    if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "HUB-FAULT {name}");
        let _ = err.flush();
        if std::env::var("HUB_FAULT_MODE").as_deref() == Ok("pause")
            && let Some(stop) = STOP.get()
        {
            while !stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(std::time::Duration::from_millis(5));
            }
            return;
        }
        loop {
            std::thread::park();
        }
    }
}
