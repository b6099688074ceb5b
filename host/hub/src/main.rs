//! `hub`: see `hub --help`.

/// `hub status | head`: when the reader goes away, end quietly as Unix filters do (ended
/// by SIGPIPE, exit status 141 in a shell) instead of Rust's default, which ignores
/// SIGPIPE and then panics in `println!` on the broken pipe (exit 101). Not for `hub
/// serve`: a service outlives its terminal. The network is not affected: Rust's sockets
/// (std, tokio) write with `MSG_NOSIGNAL` and report a closed peer as an error.
fn quiet_on_closed_pipe() {
    // SAFETY: called first in `main`, before any other thread exists; `SIG_DFL` is a
    // valid disposition for SIGPIPE, and nothing in the process installed a handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

use std::process::ExitCode;

/// Small allocations are the host's common case (record ids, field values, statements):
/// see the note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hub::cli::Cli::parse();
    if !matches!(cli.command, hub::cli::Command::Serve(_)) {
        quiet_on_closed_pipe();
    }
    // Dropped when `main` returns: with `--features otlp`, the last spans go out then.
    let _telemetry = hub::cli::init_logging(cli.verbose, &cli.log_format);
    match hub::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: the reason, with its causes; a TOML syntax error keeps its lines,
            // so the caret stays under the mistake.
            use hub_core::config::ConfigError;
            let syntax = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<ConfigError>(),
                    Some(ConfigError::Syntax { .. })
                ) || matches!(
                    c.downcast_ref::<hub::app::AppError>(),
                    Some(hub::app::AppError::Config(ConfigError::Syntax { .. }))
                )
            });
            if syntax {
                eprintln!("hub: {e:#}");
            } else {
                eprintln!("hub: {}", format!("{e:#}").replace('\n', " "));
            }
            ExitCode::FAILURE
        }
    }
}
