//! `pcn completions SHELL`: the completion script clap derives from the command line itself,
//! so it never falls behind a new command or flag.

use clap_complete::Shell;

use crate::error::Result;

/// For bash, for example: `pcn completions bash > ~/.local/share/bash-completion/completions/pcn`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish (also: elvish, powershell).
    shell: Shell,
}

/// Writes the script for `command`, the whole command line (`Cli::command()`).
pub fn run(args: Args, mut command: clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "pcn", &mut script);
    crate::output::write(script)
}
