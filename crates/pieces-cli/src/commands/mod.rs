//! One module per command, each with its arguments and what it does.

pub mod ask;
pub mod completions;
pub mod edit;
pub mod export;
pub mod get;
pub mod history;
pub mod import;
pub mod list;
pub mod login;
pub mod rm;
pub mod save;
pub mod share;

use crate::api::Api;
use crate::cli::{Cli, Command};
use crate::config;
use crate::error::Result;

/// How a command prints its result.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    /// The API's JSON as received, instead of text for people.
    pub json: bool,
}

pub async fn run(cli: Cli) -> Result<()> {
    let format = Format { json: cli.json };
    // These two need no login.
    let command = match cli.command {
        Command::Login(args) => return login::run(args, format).await,
        Command::Completions(args) => {
            return completions::run(args, <Cli as clap::CommandFactory>::command())
        }
        command => command,
    };
    let api = Api::new(config::load()?)?;
    match command {
        Command::Save(args) => save::run(&api, args, format).await,
        Command::List(args) => list::list(&api, args, format).await,
        Command::Search(args) => list::search(&api, args, format).await,
        Command::Get(args) => get::run(&api, args, format).await,
        Command::Edit(args) => edit::run(&api, args, format).await,
        Command::Rm(args) => rm::run(&api, args, format).await,
        Command::Ask(args) => ask::run(&api, args, format).await,
        Command::Share(args) => share::run(&api, args, format).await,
        Command::History(args) => history::run(&api, args, format).await,
        Command::Import(args) => import::run(&api, args, format).await,
        Command::Export(args) => export::run(&api, args).await,
        Command::Login(_) | Command::Completions(_) => Ok(()),
    }
}

/// The path of one snippet, its id escaped for the URL.
pub fn snippet_path(id: &str) -> String {
    format!("{}/{}", crate::api::SNIPPETS, escape(id))
}

/// One path segment, percent-encoded (ids are opaque to the client).
pub fn escape(segment: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("a constant URL parses");
    url.path_segments_mut()
        .expect("an http URL has path segments")
        .push(segment);
    url.path()[1..].to_owned()
}
