//! `pcn save [FILE...]`: one snippet from stdin, one file, or several files (each kept with its
//! name and language; the first is the snippet's `code` and `language`).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use reqwest::Method;

use super::Format;
use crate::api::{Api, SNIPPETS};
use crate::error::{CliError, Result};
use crate::language;
use crate::output;
use crate::wire::{NewSnippet, Stored};
use pieces_model::SnippetFile;

/// The API's limit on a title.
const TITLE_MAX_CHARS: usize = 200;
/// A title taken from stdin's first line is kept short enough to read in a listing.
const TITLE_FROM_CODE_CHARS: usize = 80;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to save as one snippet (read from stdin when none is given).
    files: Vec<PathBuf>,
    /// The title (default: the file names, or stdin's first line).
    #[arg(long)]
    title: Option<String>,
    /// Tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// The workspace to save in (default: your personal one).
    #[arg(long)]
    workspace: Option<String>,
    /// The language of every file (default: from each file's extension; `text` for stdin).
    #[arg(long)]
    language: Option<String>,
    /// A description.
    #[arg(long)]
    description: Option<String>,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let mut files = read_files(&args)?;
    let title = args
        .title
        .unwrap_or_else(|| default_title(&args.files, &files[0].code));
    // One file is sent as `code` and `language`, which every version of the service reads;
    // several as `files`, each keeping its name.
    let (code, language, files) = if files.len() == 1 {
        let only = files.remove(0);
        (Some(only.code), Some(only.language), None)
    } else {
        (None, None, Some(files))
    };
    let body = NewSnippet {
        title,
        code,
        language,
        tags: args.tags,
        description: args.description,
        workspace: args.workspace,
        files,
    };
    let reply = api
        .reply(api.request(Method::POST, SNIPPETS).json(&body))
        .await?;
    if format.json {
        return output::json(&reply.text);
    }
    let stored: Stored = reply.parse()?;
    let snippet = &stored.snippet;
    let files = match snippet.files.len() {
        0 | 1 => String::new(),
        n => format!(", {n} files"),
    };
    eprintln!(
        "Saved \"{}\" ({}{files}) in {}.",
        snippet.title, snippet.language, snippet.workspace
    );
    // The id alone on stdout: `id=$(pcn save notes.md)`.
    output::line(&stored.snippet_id)
}

/// The files to save, or stdin as one unnamed file.
fn read_files(args: &Args) -> Result<Vec<SnippetFile>> {
    if args.files.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("Reading the snippet from stdin; end it with Ctrl-D.");
        }
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .map_err(|e| CliError::io("reading stdin (it must be UTF-8 text)", e))?;
        if code.is_empty() {
            return Err(CliError::Usage("nothing to save: stdin is empty".into()));
        }
        let language = args.language.as_deref().unwrap_or(language::PLAIN);
        return Ok(vec![file("stdin", language, code)]);
    }
    args.files
        .iter()
        .map(|path| {
            let code = std::fs::read_to_string(path).map_err(|e| {
                CliError::io(
                    format!("reading {} (it must be UTF-8 text)", path.display()),
                    e,
                )
            })?;
            let language = args
                .language
                .as_deref()
                .unwrap_or_else(|| language::of_path(path));
            Ok(file(&name_of(path), language, code))
        })
        .collect()
}

fn file(name: &str, language: &str, code: String) -> SnippetFile {
    SnippetFile {
        name: name.to_owned(),
        language: language.to_owned(),
        code,
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The file names, or stdin's first non-blank line.
fn default_title(paths: &[PathBuf], code: &str) -> String {
    let title = if paths.is_empty() {
        let line = code.lines().map(str::trim).find(|l| !l.is_empty());
        truncate(line.unwrap_or("untitled"), TITLE_FROM_CODE_CHARS)
    } else {
        let names: Vec<String> = paths.iter().map(|p| name_of(p)).collect();
        names.join(", ")
    };
    truncate(&title, TITLE_MAX_CHARS)
}

/// At most `chars` characters, the cut marked with "...".
fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let kept: String = text.chars().take(chars.saturating_sub(3)).collect();
    format!("{kept}...")
}
