//! The files under `web/`, embedded at compile time, and the version that names them: a hash
//! of every one, so a changed file gets a new URL and the old one can be cached for good.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// Its path under `web/`, as it appears in URLs.
    pub path: &'static str,
    pub body: &'static [u8],
}

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(Asset {
            path: $path,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $path)),
        }),*]
    };
}

/// The pages, which name the assets' version (`{{assets}}` in them is replaced).
pub static PAGES: &[Asset] = embed!["index.html", "docs.html"];

/// Everything the pages load, served under `/assets/{version}/`.
pub static ASSETS: &[Asset] = embed![
    "app.css",
    "icon.svg",
    "docs.css",
    "docs.js",
    "js/main.js",
    "js/api.js",
    "js/sse.js",
    "js/dom.js",
    "js/session.js",
    "js/snippets.js",
    "js/snippet_view.js",
    "js/editor.js",
    "js/assist.js",
    "js/context.js",
    "js/tokens.js",
    "js/live.js",
    "js/workspaces.js",
    "js/team.js",
    "js/shares.js",
    "js/history.js",
    "js/trash.js",
    "js/related.js",
    "js/transfer.js",
    "vendor/highlightjs-cdn-assets/highlight.min.js",
    "vendor/highlightjs-cdn-assets/github-dark.min.css",
    "vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "vendor/swagger-ui-dist/swagger-ui.css",
];

/// The first 12 hex digits of the SHA-256 of every page and asset, computed once.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in PAGES.iter().chain(ASSETS) {
        hash.update(asset.path.as_bytes());
        hash.update((asset.body.len() as u64).to_le_bytes());
        hash.update(asset.body);
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
});

pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The type a file is served as, from its name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}
