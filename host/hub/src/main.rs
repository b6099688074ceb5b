//! `hub`: see `hub --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hub::cli::Cli::parse();
    hub::cli::init_logging(cli.verbose, &cli.log_format);
    match hub::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // One line: the reason, with its causes.
            eprintln!("hub: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
