//! Progress of long sends and imports (the engine's [`Step`]s), drawn by `indicatif` on
//! stderr only when stderr is a terminal (a pipe, a log file or `--json` output never
//! gets control characters).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use hub_engine::progress::{Hook, Step};

/// A bar on stderr (redrawn at most 20 times a second by indicatif); `None` off a
/// terminal.
pub fn terminal_bar(label: String) -> Option<Hook> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>.");
    // Made at the first step, when the total is known.
    let mut bar: Option<ProgressBar> = None;
    Some(Box::new(move |s: Step<'_>| {
        let bar = bar.get_or_insert_with(|| {
            ProgressBar::with_draw_target(Some(s.total as u64), ProgressDrawTarget::stderr())
                .with_style(style.clone())
                .with_prefix(label.clone())
        });
        bar.set_length(s.total as u64);
        bar.set_position(s.done as u64);
        // A file's name comes from outside: escaped like every such text.
        bar.set_message(crate::output::clean(s.what));
        if s.done >= s.total {
            // The command prints what was done; the bar makes room for it.
            bar.finish_and_clear();
        }
    }))
}
