//! `pcn`, the command-line client, driven as a user drives it: the built binary in a child
//! process, against a real service on port 0, with a home directory of its own.

mod ask;
mod edit;
mod login;
mod share;
mod snippets;
mod transfer;
mod usage;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::{status_json, user, TestApp};

const EVERY_SCOPE: &[&str] = &[
    "snippets:read",
    "snippets:write",
    "context:read",
    "context:write",
    "ai",
];

/// Someone with an account on `app`, a personal token, and their own HOME.
pub struct User<'a> {
    pub app: &'a TestApp,
    pub id: String,
    pub token: String,
    home: TempDir,
}

/// What one run of `pcn` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl<'a> User<'a> {
    pub async fn on(app: &'a TestApp) -> Self {
        Self::with_scopes(app, EVERY_SCOPE).await
    }

    pub async fn with_scopes(app: &'a TestApp, scopes: &[&str]) -> Self {
        let id = user();
        let body = json!({"name": "pcn", "scopes": scopes});
        let (status, made) = status_json(app.post("/api/v1/tokens", &id, &body).await).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let home = tempfile::tempdir().expect("a home directory");
        std::fs::create_dir(home.path().join("tmp")).expect("a temporary directory");
        Self {
            app,
            id,
            token: made["token"].as_str().expect("the token").to_owned(),
            home,
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `$XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.home().join("config")
    }

    /// `pcn ARGS` with PCN_URL and PCN_TOKEN set and nothing of the test's own environment.
    pub fn pcn(&self, args: &[&str]) -> Command {
        let mut command = self.pcn_without_login(args);
        command
            .env("PCN_URL", &self.app.api)
            .env("PCN_TOKEN", &self.token);
        command
    }

    /// `pcn ARGS` with no login in the environment: only a login file, if there is one.
    pub fn pcn_without_login(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pcn"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("TMPDIR", self.home().join("tmp"));
        command
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        run(self.pcn(args), "").await
    }

    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run(self.pcn(args), stdin).await
    }

    /// The snippet as the API shows it to this user.
    pub async fn snippet(&self, id: &str) -> Value {
        let (status, snippet) = status_json(
            self.app
                .get(&format!("/api/v1/snippets/{id}"), &self.id)
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{snippet}");
        snippet
    }

    /// A file in this user's home holding `text`.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home().join(name);
        std::fs::write(&path, text).expect("a file written");
        path
    }
}

/// Runs `command` to its end with `stdin` as its input, off the service's runtime threads.
pub async fn run(mut command: Command, stdin: &str) -> Run {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pcn starts");
        let mut input = child.stdin.take().expect("stdin");
        // pcn may exit without reading its input: a closed pipe here is not the test's failure.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let output = child.wait_with_output().expect("pcn ends");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .expect("the run's thread")
}

impl Run {
    /// Asserts the run succeeded and answers its stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "pcn failed: {self:?}");
        &self.stdout
    }

    /// Asserts the run failed with exit status 1 (not a usage error) and answers its stderr.
    pub fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "pcn did not fail as expected: {self:?}");
        &self.stderr
    }
}
