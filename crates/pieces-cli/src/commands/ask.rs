//! `pcn ask QUESTION`: the service's AI answer, printed as the provider writes it. The service
//! streams Server-Sent Events: `delta` `{"text"}` pieces, then `done` with the whole answer,
//! or `error` with the JSON error body if the answer breaks off once begun.

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use pieces_model::AssistAnswer;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Format;
use crate::api::Api;
use crate::error::{CliError, Result};
use crate::output;
use crate::wire::{Delta, Question};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question (several words need no quotes).
    #[arg(required = true, num_args = 1..)]
    question: Vec<String>,
    /// Answer with the snippets of this workspace only (repeatable; default: every one you can read).
    #[arg(long)]
    workspace: Vec<String>,
    /// The model to ask (default: the service's).
    #[arg(long)]
    model: Option<String>,
}

pub async fn run(api: &Api, args: Args, format: Format) -> Result<()> {
    let question = Question {
        query: args.question.join(" "),
        stream: true,
        model: args.model,
        workspaces: (!args.workspace.is_empty()).then_some(args.workspace),
    };
    let request = api
        .request(Method::POST, "/api/v1/ai-assist")
        .header(ACCEPT, "text/event-stream")
        .json(&question);
    let response = api.send(request).await?;
    if !is_event_stream(&response) {
        // A service that answers whole: the same answer, only not piece by piece.
        let done = response
            .text()
            .await
            .map_err(|e| broken(&format!("the answer broke off: {e}")))?;
        return finish_whole(&done, format);
    }
    let mut events = response.bytes_stream().eventsource();
    // Whether the last text printed ended its line.
    let mut at_line_start = true;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| broken(&format!("the answer's stream broke: {e}")))?;
        match event.event.as_str() {
            "delta" if !format.json => {
                let delta: Delta = serde_json::from_str(&event.data)
                    .map_err(|e| broken(&format!("a malformed piece of the answer: {e}")))?;
                output::write(&delta.text)?;
                if !delta.text.is_empty() {
                    at_line_start = delta.text.ends_with('\n');
                }
            }
            "done" => return finish(&event.data, at_line_start, format),
            "error" => {
                if !at_line_start {
                    output::write("\n")?;
                }
                return Err(stream_error(&event.data));
            }
            _ => {}
        }
    }
    Err(broken("the answer ended before it was complete"))
}

/// Ends the answer: its last line, then (for people) the snippets it used, on stderr.
fn finish(done: &str, at_line_start: bool, format: Format) -> Result<()> {
    if format.json {
        return output::json(done);
    }
    if !at_line_start {
        output::write("\n")?;
    }
    if let Ok(answer) = serde_json::from_str::<AssistAnswer>(done) {
        let used: Vec<String> = answer
            .references
            .iter()
            .filter_map(|r| Some(format!("{} ({})", r["title"].as_str()?, r["id"].as_str()?)))
            .collect();
        if !used.is_empty() {
            eprintln!("Snippets used: {}", used.join(", "));
        }
    }
    Ok(())
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// An answer that came whole, as JSON.
fn finish_whole(done: &str, format: Format) -> Result<()> {
    if !format.json {
        let answer: AssistAnswer = serde_json::from_str(done)
            .map_err(|e| broken(&format!("the answer is not what pcn expects: {e}")))?;
        output::write(&answer.response)?;
        return finish(
            done,
            answer.response.is_empty() || answer.response.ends_with('\n'),
            format,
        );
    }
    finish(done, true, format)
}

/// An `error` event: the same JSON body an error answer carries.
fn stream_error(data: &str) -> CliError {
    let body: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    match body.get("detail").and_then(Value::as_str) {
        Some(detail) => CliError::Api {
            status: StatusCode::BAD_GATEWAY,
            code: body.get("error").and_then(Value::as_str).map(str::to_owned),
            detail: detail.to_owned(),
            body: body.clone(),
        },
        None => broken("the answer broke off"),
    }
}

fn broken(why: &str) -> CliError {
    CliError::Failed(why.to_owned())
}
