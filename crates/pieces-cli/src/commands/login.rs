//! `pcn login`: asks for (or takes) the service's URL and a personal access token, checks them
//! with one request, and keeps them in a file only the user can read.

use std::io::{BufRead, IsTerminal, Write};

use reqwest::StatusCode;

use super::Format;
use crate::api::Api;
use crate::config::{self, Login};
use crate::error::{CliError, Result};
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service's URL, e.g. https://pieces.example.com (asked when absent and PCN_URL is unset).
    #[arg(long)]
    url: Option<String>,
    /// A personal access token (`pcn_...`), made in the web page or with POST /api/v1/tokens
    /// (asked, without echo, when absent and PCN_TOKEN is unset).
    #[arg(long)]
    token: Option<String>,
}

pub async fn run(args: Args, format: Format) -> Result<()> {
    let url = match args.url.or_else(|| config::env("PCN_URL")) {
        Some(url) => url,
        None => ask("Service URL: ", false)?,
    };
    let url = config::normalize_url(&url)?;
    let token = match args.token.or_else(|| config::env("PCN_TOKEN")) {
        Some(token) => token,
        None => ask("Personal access token: ", true)?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::Usage("the token is empty".into()));
    }
    let login = Login { url, token };
    let check = check(&login).await?;
    let path = config::save(&login)?;
    if format.json {
        return output::line(serde_json::json!({
            "url": login.url,
            "config": path,
            "workspaces": check,
        }));
    }
    output::line(format!("Logged in to {}.", login.url))?;
    output::line(format!(
        "The login is kept in {} (readable only by you).",
        path.display()
    ))?;
    if !login.token.starts_with("pcn_") {
        eprintln!("note: this is not a personal access token (pcn_...): it may expire soon");
    }
    Ok(())
}

/// Asks the service who the token belongs to: answers the workspaces it can read (null when
/// it may not read snippets, which is still a working token).
async fn check(login: &Login) -> Result<serde_json::Value> {
    let api = Api::new(login.clone())?;
    match api.get("/api/v1/workspaces").await {
        Ok(reply) => Ok(reply.parse::<serde_json::Value>()?["workspaces"].take()),
        Err(CliError::Api { status, code, .. })
            if status == StatusCode::FORBIDDEN && code.as_deref() == Some("insufficient_scope") =>
        {
            eprintln!("note: the token works, but may not read snippets (no snippets:read scope)");
            Ok(serde_json::Value::Null)
        }
        Err(e) => Err(e),
    }
}

/// One answer from the user: from the terminal when there is one (a secret without echo),
/// else one line of stdin (`printf '%s\n' "$URL" "$TOKEN" | pcn login`).
fn ask(prompt: &str, secret: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        if secret {
            return rpassword::prompt_password(prompt)
                .map_err(|e| CliError::io("reading the token", e));
        }
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut answer = String::new();
    let read = stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::io("reading stdin", e))?;
    if read == 0 {
        return Err(CliError::Usage(format!(
            "no {} given: use --url and --token, or answer on stdin",
            prompt.trim_end_matches(": ").to_lowercase()
        )));
    }
    Ok(answer.trim().to_owned())
}
