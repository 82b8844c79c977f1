//! Black-box tests: the real service on port 0, over HTTP. One binary for every suite.

/// Runs each named `async fn(Backend)` on SQLite and on PostgreSQL + Redis.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = $crate::support::Backend::postgres(stringify!($name)).await {
                        super::$name(backend).await;
                    }
                }
            )*
        }
    };
}

mod support;

mod assist;
mod assist_cache;
mod assist_providers;
mod assist_redaction;
mod assist_relevance;
mod assist_stream;
mod auth;
mod backups;
mod cache;
mod connections;
mod errors;
mod files;
mod filters;
mod history;
mod imports;
mod lifecycle;
mod listing_totals;
mod local_session;
mod manifests;
mod mcp;
mod memory;
mod migrations;
mod outages;
mod outbox;
mod pcn;
mod related;
mod replicas;
mod search_pages;
mod semantic;
mod semantic_outages;
mod shares;
mod snippets;
mod store_faults;
mod stream;
mod tokens;
mod trash;
mod versions;
mod web;
mod worker;
mod workflow;
mod workspace_access;
mod workspace_moves;
mod workspaces;
