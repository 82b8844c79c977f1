//! `pcn export`: the service's export, streamed to a file or stdout as it arrives. A file
//! gets its name only once the export is whole, so a broken one never looks complete.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use reqwest::Method;

use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A workspace's id, `personal` or `all` (default: your personal one).
    #[arg(long)]
    workspace: Option<String>,
    /// json: JSON lines (for `pcn import --format json`); markdown: a zip of Markdown files;
    /// vscode: a `.code-snippets` file.
    #[arg(long, value_enum, default_value_t = Kind::Json)]
    format: Kind,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// With json: each snippet's older versions after it (an import passes over them).
    #[arg(long)]
    history: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    Json,
    Markdown,
    Vscode,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Markdown => "markdown",
            Self::Vscode => "vscode",
        }
    }
}

pub async fn run(api: &Api, args: Args) -> Result<()> {
    if args.output.is_none() && args.format == Kind::Markdown && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "a Markdown export is a zip: write it with -o FILE or redirect stdout".into(),
        ));
    }
    let mut query = vec![("format", args.format.as_str().to_owned())];
    if args.history {
        query.push(("history", "true".to_owned()));
    }
    if let Some(workspace) = &args.workspace {
        query.push(("workspace", workspace.clone()));
    }
    let request = api.request(Method::GET, "/api/v1/export").query(&query);
    let response = api.send(request).await?;
    let mut chunks = response.bytes_stream();
    let Some(path) = args.output else {
        while let Some(chunk) = chunks.next().await {
            output::write(chunk.map_err(broke)?)?;
        }
        return Ok(());
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let failed = |e| CliError::io(format!("writing {}", path.display()), e);
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    let mut written: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(broke)?;
        file.write_all(&chunk).map_err(failed)?;
        written += chunk.len() as u64;
    }
    file.as_file().sync_all().map_err(failed)?;
    file.persist(&path).map_err(|e| failed(e.error))?;
    eprintln!("Exported {written} bytes to {}.", path.display());
    Ok(())
}

fn broke(error: reqwest::Error) -> CliError {
    CliError::Failed(format!("the export broke off: {error}"))
}
