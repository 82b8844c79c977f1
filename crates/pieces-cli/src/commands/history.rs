//! `pcn history ID`: the snippet's kept versions, newest first, with who made each and what
//! it changed.

use reqwest::Method;

use super::{snippet_path, Format};
use crate::api::Api;
use crate::error::Result;
use crate::output;
use pieces_model::history::VersionPage;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The snippet's id.
    id: String,
    /// How many versions to show.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: u32,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let path = format!("{}/versions", snippet_path(&args.id));
    let request = api
        .request(Method::GET, &path)
        .query(&[("limit", args.limit)]);
    let reply = api.reply(request).await?;
    if format.json {
        return output::json(&reply.text);
    }
    let page: VersionPage = reply.parse()?;
    for entry in &page.versions {
        let changed = if entry.changed.is_empty() {
            "(first version)".to_owned()
        } else {
            entry.changed.join(", ")
        };
        output::line(format!(
            "v{:<4} {}  {:<24} {changed}",
            entry.version,
            output::when(&entry.at),
            entry.actor.as_deref().unwrap_or("-"),
        ))?;
    }
    eprintln!("{} shown of {} kept.", page.versions.len(), page.total);
    Ok(())
}
