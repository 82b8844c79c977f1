//! `pcn get ID`: the code alone on stdout, byte for byte, so `pcn get ID | sh` or
//! `pcn get ID > file` give back exactly what was saved.

use super::{snippet_path, Format};
use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output;
use pieces_model::Snippet;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snippet's id.
    id: String,
    /// For a snippet of several files: print this file's code.
    #[arg(long)]
    file: Option<String>,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let reply = api.get(&snippet_path(&args.id)).await?;
    if format.json {
        return output::json(&reply.text);
    }
    let snippet: Snippet = reply.parse()?;
    let Some(name) = args.file else {
        return output::write(&snippet.code);
    };
    let files = &snippet.files;
    match files.iter().find(|f| f.name == name) {
        Some(file) => output::write(&file.code),
        None => {
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            Err(CliError::Failed(if names.is_empty() {
                format!("snippet {} has no files by name, only its code", args.id)
            } else {
                format!(
                    "no file `{name}` in snippet {} (it has: {})",
                    args.id,
                    names.join(", ")
                )
            }))
        }
    }
}
