//! `pcn import FILE --format F`: the file goes to the service as the body of one request (read
//! as it is sent, never whole in memory); the service answers with a job, which `pcn` follows
//! with a progress line on stderr until it ends.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use futures_util::stream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Body, Method};

use super::{escape, Format};
use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output;
use pieces_model::import::{ImportFormat, ImportJob, ImportStatus};

const IMPORTS: &str = "/api/v1/imports";
/// How often a running job is asked about.
const POLL_EVERY: Duration = Duration::from_millis(500);
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to import.
    file: std::path::PathBuf,
    /// What the file is: json (pcn export), gist (the Gists API's JSON), vscode (a
    /// snippets file), bytestash (its export), masscode (its db.json), pieces (asset records).
    #[arg(long, value_parser = format_parser())]
    format: ImportFormat,
    /// The workspace to import into (default: your personal one).
    #[arg(long)]
    workspace: Option<String>,
    /// Check every entry and report, saving nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The service's own list of formats, offered to completions and checked by clap.
fn format_parser() -> impl clap::builder::TypedValueParser<Value = ImportFormat> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(ImportFormat::ALL.map(ImportFormat::as_str))
        .map(|name| name.parse::<ImportFormat>().expect("a listed format"))
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let mut query = vec![("format", args.format.as_str().to_owned())];
    if let Some(workspace) = &args.workspace {
        query.push(("workspace", workspace.clone()));
    }
    if args.dry_run {
        query.push(("dry_run", "true".into()));
    }
    // A VS Code user snippets file is named after the language its snippets are in.
    if let Some(language) = vscode_language(args.format, &args.file) {
        query.push(("language", language));
    }
    let (body, length) = body_of(&args.file)?;
    let request = api
        .request(Method::POST, IMPORTS)
        .query(&query)
        .header(CONTENT_TYPE, content_type(&args.file))
        .header(CONTENT_LENGTH, length)
        .body(body);
    let mut reply = api.reply(request).await?;
    let mut job: ImportJob = reply.parse()?;
    let mut progress = Progress::new();
    while job.status == ImportStatus::Running {
        progress.show(&job);
        tokio::time::sleep(POLL_EVERY).await;
        reply = api.get(&format!("{IMPORTS}/{}", escape(&job.id))).await?;
        job = reply.parse()?;
    }
    progress.end();
    if format.json {
        output::json(&reply.text)?;
    } else {
        report(&job, args.dry_run)?;
    }
    if job.status == ImportStatus::Interrupted {
        return Err(CliError::Failed(
            "the import stopped before the end; importing the same file again saves the rest"
                .into(),
        ));
    }
    if job.failed > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} entries could not be imported",
            job.failed, job.total
        )));
    }
    Ok(())
}

fn vscode_language(format: ImportFormat, file: &Path) -> Option<String> {
    if format != ImportFormat::Vscode || file.extension()? != "json" {
        return None;
    }
    Some(file.file_stem()?.to_str()?.to_owned())
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("json" | "code-snippets") => "application/json",
        Some("jsonl" | "ndjson") => "application/x-ndjson",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The file as a body read a chunk at a time, and its length.
fn body_of(path: &Path) -> Result<(Body, u64)> {
    let opened = |e| CliError::io(format!("reading {}", path.display()), e);
    let file = std::fs::File::open(path).map_err(opened)?;
    let length = file.metadata().map_err(opened)?.len();
    let chunks = stream::unfold(file, |mut file| async move {
        let mut chunk = vec![0; CHUNK_BYTES];
        match file.read(&mut chunk) {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(chunk), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((Body::wrap_stream(chunks), length))
}

/// The job's outcome for people: counts on stdout, each refused entry on stderr.
fn report(job: &ImportJob, dry_run: bool) -> Result<()> {
    for error in &job.errors {
        // Positions count from 0 in the API; people count from 1.
        eprintln!("entry {}: {}", error.entry + 1, error.detail);
    }
    let verb = if dry_run {
        "Dry run: would import"
    } else {
        "Imported"
    };
    output::line(format!(
        "{verb} {} of {}: {} created, {} skipped (already there), {} failed.",
        job.done, job.total, job.created, job.skipped, job.failed
    ))
}

/// The progress line: redrawn in place on a terminal, one line per change otherwise.
struct Progress {
    terminal: bool,
    last: String,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    fn show(&mut self, job: &ImportJob) {
        let line = format!(
            "importing: {}/{} ({} created, {} skipped, {} failed)",
            job.done, job.total, job.created, job.skipped, job.failed
        );
        if self.last == line {
            return;
        }
        if self.terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
        self.last = line;
    }

    fn end(&self) {
        if self.terminal && !self.last.is_empty() {
            eprintln!();
        }
    }
}
