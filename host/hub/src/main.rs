//! `hub`: see `hub --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hub::cli::Cli::parse();
    hub::cli::init_logging(cli.verbose, &cli.log_format);
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
