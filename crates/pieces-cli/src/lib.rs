//! `pcn`, the command-line client of pieces-connector: a thin client of the public API with
//! the service's own model types, for terminals, scripts, git hooks and CI jobs. Text for
//! people by default, the API's JSON with `--json`; exit 0 on success, 1 on an error (the
//! API's `detail` on stderr), 2 on bad usage.

mod api;
mod cli;
mod commands;
mod config;
mod error;
mod language;
mod output;
mod wire;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;
pub use error::CliError;

/// Runs `pcn` with the process's arguments and answers its exit code.
pub fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => run(cli),
        // Usage errors exit 2; `--help` and `--version` print and exit 0.
        Err(usage) => {
            let _ = usage.print();
            ExitCode::from(u8::try_from(usage.exit_code()).unwrap_or(2))
        }
    }
}

/// Runs one parsed command line to its end.
pub fn run(cli: Cli) -> ExitCode {
    // One request at a time: a current-thread runtime is all a command needs.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return CliError::Failed(format!("cannot start: {e}")).report(),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(),
    }
}
