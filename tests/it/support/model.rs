//! The local embedding model the semantic tests run: `PIECES_TEST_MODEL_DIR`, or
//! `models/all-MiniLM-L6-v2` (fetched by `scripts/fetch-embedding-model.sh`). Absent, the
//! tests skip with a message, unless PIECES_TEST_REQUIRE_SERVICES=1 (CI) makes it a failure.

use std::path::PathBuf;
use std::time::Duration;

use super::TestApp;

pub fn model_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PIECES_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    let required =
        std::env::var("PIECES_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true");
    let why = format!(
        "no model in {} (run scripts/fetch-embedding-model.sh)",
        dir.display()
    );
    if required {
        panic!("{test}: the local embedding model is required but {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// Waits until the backlog gauge has counted `count` snippets as embedded and none waits.
pub async fn embedded(app: &TestApp, count: f64) {
    let done = super::eventually(Duration::from_secs(60), || async {
        app.metric("pieces_embeddings_total", &["outcome=\"embedded\""])
            .await
            >= count
            && app.metric("pieces_embeddings_backlog", &[]).await == 0.0
    })
    .await;
    assert!(done, "snippets were not embedded in time");
}
