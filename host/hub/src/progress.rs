//! Progress of long sends and imports (the engine's [`Step`]s), drawn on stderr only when stderr is a terminal
//! (a pipe, a log file or `--json` output never gets control characters).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub use hub_engine::progress::{Hook, Step};

/// A bar on stderr, redrawn at most every 100 ms and at the end; `None` off a terminal.
pub fn terminal_bar(label: String) -> Option<Hook> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let mut last: Option<Instant> = None;
    Some(Box::new(move |s: Step<'_>| {
        let finished = s.done >= s.total;
        if !finished && last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        last = Some(Instant::now());
        let width = 30;
        let filled = (s.done * width)
            .checked_div(s.total)
            .unwrap_or(width)
            .min(width);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{label} [{}{}] {}/{} {}{}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            s.done,
            s.total,
            s.what,
            if finished { "\n" } else { "" }
        );
        let _ = err.flush();
    }))
}
