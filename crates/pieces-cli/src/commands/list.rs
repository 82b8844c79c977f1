//! `pcn list` and `pcn search QUERY`: one page of snippets, newest first or best match first.

use reqwest::Method;

use super::Format;
use crate::api::{Api, SNIPPETS};
use crate::error::Result;
use crate::output;
use pieces_model::SnippetPage as Page;

#[derive(Debug, clap::Args)]
pub struct Filters {
    /// A workspace's id, `personal` (the default) or `all`.
    #[arg(long)]
    workspace: Option<String>,
    /// Only snippets with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only snippets in this language.
    #[arg(long)]
    language: Option<String>,
    /// How many to show (1-100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
    /// How many to skip (the next page: --offset 20).
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    filters: Filters,
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words to look for.
    query: String,
    /// How matches rank (default: hybrid where the service has embeddings, else text).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    #[command(flatten)]
    filters: Filters,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    /// Every word must match; newest first.
    Text,
    /// Nearest in meaning.
    Semantic,
    /// Both, fused.
    Hybrid,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Semantic => "semantic",
            Self::Hybrid => "hybrid",
        }
    }
}

pub async fn list(api: &Api, args: ListArgs, format: Format) -> Result<()> {
    show(api, query(&args.filters), format).await
}

pub async fn search(api: &Api, args: SearchArgs, format: Format) -> Result<()> {
    let mut query = query(&args.filters);
    query.push(("q", args.query));
    if let Some(mode) = args.mode {
        query.push(("mode", mode.as_str().to_owned()));
    }
    show(api, query, format).await
}

fn query(filters: &Filters) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("limit", filters.limit.to_string()),
        ("offset", filters.offset.to_string()),
    ];
    let optional = [
        ("workspace", &filters.workspace),
        ("tag", &filters.tag),
        ("language", &filters.language),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            query.push((name, value.clone()));
        }
    }
    query
}

async fn show(api: &Api, query: Vec<(&'static str, String)>, format: Format) -> Result<()> {
    let reply = api
        .reply(api.request(Method::GET, SNIPPETS).query(&query))
        .await?;
    if format.json {
        return output::json(&reply.text);
    }
    let page: Page = reply.parse()?;
    for snippet in &page.snippets {
        output::line(output::row(snippet))?;
    }
    // The count goes to stderr, so the rows alone can be piped.
    let total = if page.total_capped {
        format!("{}+", page.total)
    } else {
        page.total.to_string()
    };
    let mode = page
        .mode
        .map(|m| format!(", ranked by {}", m.as_str()))
        .unwrap_or_default();
    eprintln!("{} shown of {total}{mode}.", page.snippets.len());
    Ok(())
}
