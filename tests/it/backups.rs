//! Backups of the embedded store, as an operator takes them: `pieces-connector backup` while
//! the service writes, `restore` only while it is stopped, and scheduled backups.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::process::ServiceProcess;
use crate::support::{eventually, Backend};

fn binary() -> String {
    std::env::var("PIECES_TEST_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_pieces-connector").to_owned())
}

/// Runs `pieces-connector <args>` against `database_url`.
fn command(database_url: &str, args: &[&str]) -> Output {
    Command::new(binary())
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("LOG_LEVEL", "warn")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether the file at `path` is a whole SQLite database (`PRAGMA integrity_check`).
async fn integrity(path: &Path) -> String {
    use sqlx::{ConnectOptions, Connection};
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .expect("the copy opens");
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut db)
        .await
        .expect("checked");
    db.close().await.ok();
    verdict
}

async fn create(http: &reqwest::Client, api: &str, token: &str, n: usize) -> Option<String> {
    let response = http
        .post(format!("{api}/api/v1/snippets"))
        .bearer_auth(token)
        .json(&json!({"title": format!("saved {n}"), "code": "x", "language": "go"}))
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::CREATED {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["snippet_id"].as_str().map(str::to_owned)
}

/// The status `GET /api/v1/snippets/{id}` answers.
async fn read_status(http: &reqwest::Client, api: &str, token: &str, id: &str) -> StatusCode {
    http.get(format!("{api}/api/v1/snippets/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_writes_restores_every_snippet_acknowledged_before_it() {
    let backend = Backend::sqlite();
    let url = backend.database_url();
    let service = ServiceProcess::start(&backend, &[]).await;
    let token = service.token("alice");
    let http = reqwest::Client::new();
    // Writers keep saving through the backup; each id is recorded once acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (http, api, token) = (http.clone(), service.api.clone(), token.clone());
        let (acknowledged, writing) = (acknowledged.clone(), writing.clone());
        writers.push(tokio::spawn(async move {
            let mut n = w * 100_000;
            while writing.load(Ordering::Relaxed) {
                if let Some(id) = create(&http, &api, &token, n).await {
                    acknowledged.lock().expect("ids").push(id);
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<String> = acknowledged.lock().expect("ids").clone();
    assert!(!before.is_empty(), "the writers saved nothing");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    let copy_arg = copy.to_string_lossy().into_owned();
    let url_for_backup = url.clone();
    let out = tokio::task::spawn_blocking(move || command(&url_for_backup, &["backup", &copy_arg]))
        .await
        .expect("backup ran");
    writing.store(false, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(out.status.success(), "backup failed: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("backed up "),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(integrity(&copy).await, "ok");
    let all = acknowledged.lock().expect("ids").len();
    service.stop().await;

    // Put back into a fresh data directory, as after losing the disk.
    let fresh = Backend::sqlite();
    let copy_arg = copy.to_string_lossy().into_owned();
    let out = command(&fresh.database_url(), &["restore", &copy_arg]);
    assert!(
        out.status.success(),
        "restore failed: {}",
        text(&out.stderr)
    );
    let restored = ServiceProcess::start(&fresh, &[]).await;
    for id in &before {
        let found = read_status(&http, &restored.api, &token, id).await;
        assert_eq!(
            found,
            StatusCode::OK,
            "{id} was acknowledged before the backup"
        );
    }
    let listed: Value = http
        .get(format!("{}/api/v1/snippets?limit=1", restored.api))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let total = listed["total"].as_u64().expect("a total") as usize;
    assert!(
        (before.len()..=all).contains(&total),
        "the copy holds {total}: at least the {} saved before it began, at most the {all} saved in all",
        before.len()
    );
    restored.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_is_refused_while_a_service_uses_the_store_and_changes_nothing() {
    let backend = Backend::sqlite();
    let url = backend.database_url();
    let service = ServiceProcess::start(&backend, &[]).await;
    let token = service.token("alice");
    let http = reqwest::Client::new();
    create(&http, &service.api, &token, 1).await.expect("saved");
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("copy.db");
    let copy_arg = copy.to_string_lossy().into_owned();
    let out = command(&url, &["backup", &copy_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kept = create(&http, &service.api, &token, 2).await.expect("saved");

    let out = command(&url, &["restore", &copy_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a service is using"),
        "{}",
        text(&out.stderr)
    );
    let found = read_status(&http, &service.api, &token, &kept).await;
    assert_eq!(found, StatusCode::OK, "the store is as it was");
    service.stop().await;

    // A file that is not a backup is refused too, and a backup cannot overwrite a file.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database").expect("written");
    let out = command(&url, &["restore", &junk.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a whole copy"),
        "{}",
        text(&out.stderr)
    );
    let out = command(&url, &["backup", &copy_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );
    // PostgreSQL is backed up with its own tools.
    let out = command("postgres://u@127.0.0.1:5432/db", &["backup", &copy_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pg_dump"),
        "{}",
        text(&out.stderr)
    );

    // Stopped, the restore goes ahead, and the store it replaced is kept beside it.
    let out = command(&url, &["restore", &copy_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = url.trim_start_matches("sqlite://");
    let parent = Path::new(store).parent().expect("a directory");
    let aside = std::fs::read_dir(parent)
        .expect("listed")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".before-restore-"));
    assert!(aside, "the replaced store is kept");
    let restored = ServiceProcess::start(&backend, &[]).await;
    let found = read_status(&http, &restored.api, &token, &kept).await;
    assert_eq!(found, StatusCode::NOT_FOUND, "saved after the backup");
    restored.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_taken_when_due_and_only_the_newest_are_kept() {
    let backend = Backend::sqlite();
    let dir = tempfile::tempdir().expect("temp dir");
    // Three backups from long ago, and a file that is not one.
    for name in [
        "pieces-20250101T000000Z.db",
        "pieces-20250102T000000Z.db",
        "pieces-20250103T000000Z.db",
        "notes.txt",
    ] {
        std::fs::write(dir.path().join(name), b"old").expect("written");
    }
    let backup_dir = dir.path().to_string_lossy().into_owned();
    let metrics_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        listener.local_addr().expect("addr").port().to_string()
    };
    let service = ServiceProcess::start(
        &backend,
        &[
            ("BACKUP_DIR", &backup_dir),
            ("BACKUP_INTERVAL_MINUTES", "60"),
            ("BACKUP_KEEP", "2"),
            ("METRICS_PORT", &metrics_port),
        ],
    )
    .await;
    let names = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("listed")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let taken = eventually(Duration::from_secs(10), || async {
        let now = names();
        let new = now
            .iter()
            .filter(|n| n.starts_with("pieces-") && !n.starts_with("pieces-2025"))
            .count();
        new == 1 && now.len() == 3
    })
    .await;
    let now = names();
    assert!(taken, "no backup, or the old ones not pruned: {now:?}");
    assert_eq!(now[0], "notes.txt", "{now:?}");
    assert_eq!(
        now[1], "pieces-20250103T000000Z.db",
        "the newest old one kept: {now:?}"
    );
    assert_eq!(integrity(&dir.path().join(&now[2])).await, "ok");
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let last: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pieces_last_backup_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the metric");
    let age = chrono::Utc::now().timestamp() as f64 - last;
    assert!((0.0..60.0).contains(&age), "last backup {age} s ago");
    assert!(
        metrics.contains("pieces_backups_total{outcome=\"ok\"} 1"),
        "{metrics}"
    );
    service.stop().await;
}

#[test]
fn backup_settings_are_checked_before_the_service_starts() {
    for (env, expected) in [
        (vec![("BACKUP_INTERVAL_MINUTES", "60")], "BACKUP_DIR"),
        (
            vec![("BACKUP_INTERVAL_MINUTES", "20000"), ("BACKUP_DIR", "/tmp")],
            "BACKUP_INTERVAL_MINUTES",
        ),
        (vec![("BACKUP_KEEP", "0")], "BACKUP_KEEP"),
    ] {
        let mut vars: std::collections::HashMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        vars.insert("DATABASE_URL".into(), "sqlite://data/pieces.db".into());
        let error = pieces_connector::config::Settings::from_vars(vars)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(&format!("{expected}:")), "{error}");
    }
    let vars = [
        ("BACKUP_INTERVAL_MINUTES", "60"),
        ("BACKUP_DIR", "/tmp"),
        ("DATABASE_URL", "postgres://u@127.0.0.1:5432/db"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let error = pieces_connector::config::Settings::from_vars(vars)
        .expect_err("refused on PostgreSQL")
        .to_string();
    assert!(error.contains("pg_dump"), "{error}");
}
