//! What can go wrong in a command, and how each failure reaches the user: a sentence on
//! stderr and an exit code.

use std::error::Error as _;
use std::io;
use std::process::ExitCode;

use reqwest::StatusCode;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The service answered an error; its `detail` is the sentence the user reads.
    #[error("{detail}")]
    Api {
        status: StatusCode,
        /// The stable code (`not_found`, `version_conflict`, ...), when the body has one.
        code: Option<String>,
        detail: String,
        /// The whole error body (a 412 carries the snippet as it is now).
        body: Value,
    },
    #[error("could not reach {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("not logged in: run `pcn login`, or set PCN_URL and PCN_TOKEN")]
    NotLoggedIn,
    /// The command line names something that cannot work (exit 2, like clap's own errors).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Writing what the command prints failed (a closed pipe, most often).
    #[error("writing the output: {0}")]
    Output(#[source] io::Error),
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// A request that got no answer, with the cause reqwest keeps in its source chain
    /// ("connection refused", "timed out") rather than its own outer sentence.
    pub fn unreachable(url: &str, error: reqwest::Error) -> Self {
        let mut cause = error.to_string();
        let mut source = error.source();
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        Self::Unreachable {
            url: url.to_owned(),
            cause,
        }
    }

    /// The API's stable error code, if this is an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Prints the failure on stderr and answers the exit code.
    pub fn report(&self) -> ExitCode {
        match self {
            // The reader went away (`pcn get ID | head -1`): it got what it wanted.
            Self::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Self::Usage(_) => {
                eprintln!("error: {self}");
                ExitCode::from(2)
            }
            _ => {
                eprintln!("error: {self}");
                ExitCode::FAILURE
            }
        }
    }
}
