//! `pcn edit ID`: the code in `$EDITOR`, saved with `If-Match` on the version that was read.
//! Whatever goes wrong after the editor closes (someone else changed the snippet meanwhile,
//! the service is down, the code breaks a rule), the edited text stays in a file whose path
//! is printed: nothing typed is lost.

use std::path::Path;
use std::process::Command;

use pieces_model::Snippet;
use reqwest::header::IF_MATCH;
use reqwest::{Method, StatusCode};
use tempfile::NamedTempFile;

use super::{snippet_path, Format};
use crate::api::Api;
use crate::config;
use crate::error::{CliError, Result};
use crate::language;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snippet's id (its code, or a snippet of several files' first file, is edited).
    id: String,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let path = snippet_path(&args.id);
    let snippet: Snippet = api.get(&path).await?.parse()?;
    let draft = draft_of(&snippet)?;
    if let Err(error) = edit(draft.path()) {
        return Err(kept(draft, &error.to_string()));
    }
    let edited = match std::fs::read_to_string(draft.path()) {
        Ok(edited) => edited,
        Err(e) => return Err(kept(draft, &format!("the edited file cannot be read: {e}"))),
    };
    if edited == snippet.code {
        eprintln!("No change; nothing saved.");
        return Ok(());
    }
    let request = api
        .request(Method::PATCH, &path)
        .header(IF_MATCH, format!("\"{}\"", snippet.version))
        .json(&crate::wire::CodePatch { code: &edited });
    let reply = match api.reply(request).await {
        Ok(reply) => reply,
        Err(error) => return Err(kept(draft, &refusal(&error))),
    };
    if format.json {
        return output::json(&reply.text);
    }
    let saved: Snippet = reply.parse()?;
    output::line(format!("Saved {} as version {}.", saved.id, saved.version))
}

/// A temporary file holding the code, named after the snippet with its language's extension
/// (so the editor highlights it), readable only by the user.
fn draft_of(snippet: &Snippet) -> Result<NamedTempFile> {
    // Ids are opaque: only their safe characters go into a file name.
    let short: String = snippet
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(13)
        .collect();
    let mut draft = tempfile::Builder::new()
        .prefix(&format!("pcn-{short}-"))
        .suffix(&format!(".{}", language::extension(&snippet.language)))
        .tempfile()
        .map_err(|e| CliError::io("creating a temporary file", e))?;
    std::io::Write::write_all(&mut draft, snippet.code.as_bytes())
        .map_err(|e| CliError::io("writing a temporary file", e))?;
    Ok(draft)
}

/// Runs the user's editor on `path` and waits for it. `$EDITOR` may carry arguments
/// (`code --wait`), so the shell reads it.
fn edit(path: &Path) -> Result<()> {
    let editor = config::env("EDITOR")
        .or_else(|| config::env("VISUAL"))
        .unwrap_or_else(|| "vi".to_owned());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("pcn-editor")
        .arg(path)
        .status()
        .map_err(|e| CliError::io(format!("starting the editor `{editor}`"), e))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "the editor `{editor}` failed ({status}); nothing saved"
        )))
    }
}

/// Why the service refused the edit, in the words the user needs.
fn refusal(error: &CliError) -> String {
    match error {
        CliError::Api { status, body, .. } if *status == StatusCode::PRECONDITION_FAILED => {
            let now = body["current"]["version"]
                .as_i64()
                .map(|v| format!(" (it is at version {v} now)"))
                .unwrap_or_default();
            format!("conflict: the snippet was changed while you edited it{now}; nothing was saved")
        }
        other => format!("{other}; nothing was saved"),
    }
}

/// Keeps the draft where the user can find it and says where, as part of the error.
fn kept(draft: NamedTempFile, why: &str) -> CliError {
    match draft.keep() {
        Ok((_, path)) => {
            CliError::Failed(format!("{why}\nyour text is kept in {}", path.display()))
        }
        Err(e) => CliError::Failed(format!("{why}; the edited text could not be kept: {e}")),
    }
}
