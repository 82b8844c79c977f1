//! The command line: one subcommand per thing a user does, each declared beside its code.

use clap::{Parser, Subcommand};

use crate::commands::{
    ask, completions, edit, export, get, history, import, list, login, rm, save, share,
};

/// pcn: your code snippets from the terminal (pieces-connector's command-line client).
///
/// The service and token come from `pcn login`, or PCN_URL and PCN_TOKEN, which win over
/// the saved login. Exit status: 0 done, 1 failed (the reason on stderr), 2 bad usage.
#[derive(Debug, Parser)]
#[command(name = "pcn", version, propagate_version = true)]
pub struct Cli {
    /// Print the API's JSON answer as received, for scripts.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Save the service's URL and a personal access token (checked first) for later commands.
    Login(login::Args),
    /// Save FILEs as one snippet, or stdin when no FILE is given; prints its id.
    Save(save::Args),
    /// List snippets, newest first.
    List(list::ListArgs),
    /// Search snippets (title, description, code, tags; by meaning where the service can).
    Search(list::SearchArgs),
    /// Print a snippet's code alone (for pipes), or the whole snippet with --json.
    Get(get::Args),
    /// Edit a snippet's code in $EDITOR; saved only if nobody changed it meanwhile.
    Edit(edit::Args),
    /// Delete a snippet (it goes to the trash).
    Rm(rm::Args),
    /// Ask the AI a development question; the answer is printed as it is written.
    Ask(ask::Args),
    /// Make a read-only link to a snippet for people without an account.
    Share(share::Args),
    /// List a snippet's versions, newest first.
    History(history::Args),
    /// Import snippets from a file (this service's export, gists, VS Code, ...).
    Import(import::Args),
    /// Export snippets (JSON lines, a zip of Markdown files, or a VS Code snippets file).
    Export(export::Args),
    /// Print a shell completion script (bash, zsh or fish).
    Completions(completions::Args),
}
