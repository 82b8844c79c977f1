//! The service's API as `pcn` calls it: one `reqwest::Client`, the bearer token on every
//! request, and error answers turned into `CliError::Api` with the body's `detail`.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Login;
use crate::error::{CliError, Result};

pub const SNIPPETS: &str = "/api/v1/snippets";

/// A connection either comes up quickly or the service is not there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence this long means the service is stuck: streams send a comment every 15 s.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Api {
    http: reqwest::Client,
    login: Login,
}

/// An answer's body, kept as received so `--json` prints exactly what the API said.
pub struct Reply {
    pub text: String,
}

impl Reply {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.text).map_err(|e| {
            CliError::Failed(format!("the service's answer is not what pcn expects: {e}"))
        })
    }
}

impl Api {
    pub fn new(login: Login) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("pcn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Failed(format!("cannot make an HTTP client: {e}")))?;
        Ok(Self { http, login })
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.login.url
    }

    /// A request to `path` (starting with `/`) carrying the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.login.url))
            .bearer_auth(&self.login.token)
    }

    /// Sends the request; any answer but a success is an error carrying the API's detail.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request
            .send()
            .await
            .map_err(|e| CliError::unreachable(&self.login.url, e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(failure(response).await)
        }
    }

    /// Sends the request and reads the whole answer.
    pub async fn reply(&self, request: RequestBuilder) -> Result<Reply> {
        let response = self.send(request).await?;
        let text = response
            .text()
            .await
            .map_err(|e| CliError::unreachable(&self.login.url, e))?;
        Ok(Reply { text })
    }

    pub async fn get(&self, path: &str) -> Result<Reply> {
        self.reply(self.request(Method::GET, path)).await
    }
}

/// The error an answer with a failing status stands for.
async fn failure(response: Response) -> CliError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let detail = match body.get("detail").and_then(Value::as_str) {
        Some(detail) => detail.to_owned(),
        None if text.trim().is_empty() => format!("the service answered {status}"),
        None => format!("the service answered {status}: {}", text.trim()),
    };
    CliError::Api {
        status,
        code: body.get("error").and_then(Value::as_str).map(str::to_owned),
        detail,
        body,
    }
}
