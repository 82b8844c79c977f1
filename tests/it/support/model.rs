//! The local embedding model the semantic tests run: `PIECES_TEST_MODEL_DIR`, or
//! `models/all-MiniLM-L6-v2` (fetched by `scripts/fetch-embedding-model.sh`). Absent, the
//! tests skip with a message, unless PIECES_TEST_REQUIRE_SERVICES=1 (CI) makes it a failure.

use std::path::PathBuf;

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
