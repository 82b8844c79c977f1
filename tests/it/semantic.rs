//! Search by meaning with the local model: a question finds the snippet that answers it
//! without sharing a word, embeddings are computed after the save and kept across restarts,
//! an edit re-embeds, a model change re-embeds everything, and a user sees only their own.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::model::{embedded, model_dir};
use crate::support::{settings_for, status_json, user, Backend, TestApp};

fn go_waitgroup() -> Value {
    json!({
        "title": "sync.WaitGroup example",
        "language": "go",
        "tags": ["concurrency"],
        "code": "var wg sync.WaitGroup\nfor _, job := range jobs {\n\twg.Add(1)\n\tgo func(j Job) {\n\t\tdefer wg.Done()\n\t\tj.Run()\n\t}(job)\n}\nwg.Wait()",
    })
}

fn distractors() -> Vec<Value> {
    vec![
        json!({"title": "Parse a CSV file with pandas", "language": "python",
               "code": "import pandas as pd\ndf = pd.read_csv('sales.csv')\nprint(df.head())"}),
        json!({"title": "Center a div with flexbox", "language": "css",
               "code": ".box { display: flex; justify-content: center; align-items: center; }"}),
        json!({"title": "Postgres: list table sizes", "language": "sql",
               "code": "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class ORDER BY 2 DESC;"}),
    ]
}

const QUESTION: &str = "how do I wait for all goroutines to finish";

async fn start(backend: &Backend, dir: &Path) -> TestApp {
    let mut settings = settings_for(backend);
    settings.embeddings_model_dir = Some(dir.to_path_buf());
    TestApp::start_with(backend, settings).await
}

async fn search(app: &TestApp, who: &str, query: &str, mode: &str) -> Value {
    let q = urlencode(query);
    let (status, body) = status_json(
        app.get(&format!("/api/v1/snippets?q={q}&mode={mode}"), who)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn titles(page: &Value) -> Vec<String> {
    page["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .map(|s| s["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_question_finds_the_snippet_that_shares_no_word_with_it() {
    let Some(dir) = model_dir("a_question_finds_the_snippet_that_shares_no_word_with_it") else {
        return;
    };
    let backend = Backend::sqlite();
    let app = start(&backend, &dir).await;
    let (me, other) = (user(), user());
    let wanted = app.create(&me, &go_waitgroup()).await;
    for body in distractors() {
        app.create(&me, &body).await;
    }
    // Another user's identical snippet must never show.
    app.create(&other, &go_waitgroup()).await;
    embedded(&app, 5.0).await;

    let text = search(&app, &me, QUESTION, "text").await;
    assert_eq!(text["total"], 0, "no word in common: {text}");
    assert_eq!(text["mode"], "text");

    for mode in ["semantic", "hybrid"] {
        let page = search(&app, &me, QUESTION, mode).await;
        assert_eq!(page["mode"], mode);
        assert_eq!(page["snippets"][0]["id"], wanted.as_str(), "{mode}: {page}");
        let ids: Vec<&str> = page["snippets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(
            ids.iter().filter(|id| **id == wanted).count(),
            1,
            "once, and only mine"
        );
        assert!(page["snippets"].as_array().unwrap().len() <= 4);
    }

    // The default is hybrid when a model is configured.
    let q = urlencode(QUESTION);
    let (_, default) = status_json(app.get(&format!("/api/v1/snippets?q={q}"), &me).await).await;
    assert_eq!(default["mode"], "hybrid");
    assert_eq!(default["snippets"][0]["id"], wanted.as_str());

    // A filter applies to meaning as it does to words.
    let (_, css_only) = status_json(
        app.get(
            &format!("/api/v1/snippets?q={q}&mode=semantic&language=css"),
            &me,
        )
        .await,
    )
    .await;
    assert!(titles(&css_only).iter().all(|t| t.contains("flexbox")));
    app.stop().await;
}

#[tokio::test]
async fn edits_re_embed_deletes_disappear_and_a_restart_recomputes_nothing() {
    let Some(dir) = model_dir("edits_re_embed_deletes_disappear_and_a_restart_recomputes_nothing")
    else {
        return;
    };
    let backend = Backend::sqlite();
    let app = start(&backend, &dir).await;
    let me = user();
    let id = app
        .create(
            &me,
            &json!({"title": "Center a div with flexbox", "language": "css",
                    "code": ".box { display: flex; justify-content: center; }"}),
        )
        .await;
    for body in distractors().into_iter().skip(1) {
        app.create(&me, &body).await;
    }
    embedded(&app, 3.0).await;

    // Metadata is not embedded: no new embedding.
    let path = format!("/api/v1/snippets/{id}");
    app.patch(&path, &me, &json!({"metadata": {"k": "v"}}))
        .await;
    // The code and title are: the snippet now answers another question.
    let changed = app.patch(&path, &me, &go_waitgroup()).await;
    assert_eq!(changed.status(), StatusCode::OK);
    embedded(&app, 4.0).await;
    assert_eq!(
        app.metric("pieces_embeddings_total", &["outcome=\"embedded\""])
            .await,
        4.0,
        "the metadata edit was not embedded again"
    );
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(page["snippets"][0]["id"], id.as_str(), "{page}");
    app.stop().await;

    // A restart finds every embedding stored: nothing is embedded again.
    let app = start(&backend, &dir).await;
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(page["snippets"][0]["id"], id.as_str());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.metric("pieces_embeddings_total", &["outcome=\"embedded\""])
            .await,
        0.0
    );

    let deleted = app.delete(&path, &me).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert!(
        titles(&page).iter().all(|t| t != "sync.WaitGroup example"),
        "{page}"
    );
    // Back from the trash, it is embedded again and found by meaning.
    let restore = format!("/api/v1/trash/{id}/restore");
    let restored = app
        .request(reqwest::Method::POST, &restore, &me)
        .send()
        .await;
    assert_eq!(restored.expect("answered").status(), StatusCode::OK);
    embedded(&app, 1.0).await;
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(page["snippets"][0]["id"], id.as_str(), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn snippets_saved_before_a_model_was_configured_are_backfilled_and_a_new_model_re_embeds_all()
{
    let Some(dir) = model_dir("backfill") else {
        return;
    };
    let backend = Backend::sqlite();
    let me = user();
    let plain = TestApp::start(&backend).await;
    let wanted = plain.create(&me, &go_waitgroup()).await;
    for body in distractors() {
        plain.create(&me, &body).await;
    }
    // Without a provider, only text search exists, and the other modes say why.
    let q = urlencode(QUESTION);
    let refused = plain
        .get(&format!("/api/v1/snippets?q={q}&mode=semantic"), &me)
        .await;
    let body = crate::support::expect_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["field"], "mode", "{body}");
    plain.stop().await;

    let app = start(&backend, &dir).await;
    embedded(&app, 4.0).await;
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(page["snippets"][0]["id"], wanted.as_str());
    app.stop().await;

    // The same weights under another name are another model: everything is embedded again.
    let renamed = tempfile::tempdir().expect("temp dir");
    let other = renamed.path().join("another-model");
    std::fs::create_dir(&other).expect("dir");
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(dir.join(file), other.join(file)).expect("link");
    }
    let app = start(&backend, &other).await;
    embedded(&app, 4.0).await;
    let page = search(&app, &me, QUESTION, "hybrid").await;
    assert_eq!(page["snippets"][0]["id"], wanted.as_str());
    app.stop().await;
}

#[tokio::test]
async fn on_postgres_a_snippet_embedded_through_one_replica_is_found_through_another() {
    let test = "on_postgres_a_snippet_embedded_through_one_replica_is_found_through_another";
    let Some(dir) = model_dir(test) else {
        return;
    };
    let Some(backend) = Backend::postgres(test).await else {
        return;
    };
    let a = start(&backend, &dir).await;
    let b = start(&backend, &dir).await;
    let me = user();
    for body in distractors() {
        a.create(&me, &body).await;
    }
    // B builds its index before the snippet exists, then must catch up.
    let before = search(&b, &me, QUESTION, "semantic").await;
    assert!(titles(&before)
        .iter()
        .all(|t| t != "sync.WaitGroup example"));
    let wanted = a.create(&me, &go_waitgroup()).await;
    let found = crate::support::eventually(Duration::from_secs(30), || async {
        search(&b, &me, QUESTION, "semantic").await["snippets"][0]["id"] == wanted.as_str()
    })
    .await;
    assert!(
        found,
        "replica B never found the snippet embedded through A"
    );
    let hybrid = search(&b, &me, QUESTION, "hybrid").await;
    assert_eq!(hybrid["snippets"][0]["id"], wanted.as_str());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_snippet_embedded_after_the_latest_was_deleted_is_found_by_meaning() {
    let Some(dir) =
        model_dir("a_snippet_embedded_after_the_latest_was_deleted_is_found_by_meaning")
    else {
        return;
    };
    let backend = Backend::sqlite();
    let app = start(&backend, &dir).await;
    let me = user();
    let css = app.create(&me, &distractors()[1]).await;
    embedded(&app, 1.0).await;
    // The index applies the latest embedding, which then goes with its snippet: the next
    // one embedded must not take its number, or the index would take it as applied.
    search(&app, &me, QUESTION, "semantic").await;
    let deleted = app.delete(&format!("/api/v1/snippets/{css}"), &me).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let wanted = app.create(&me, &go_waitgroup()).await;
    embedded(&app, 2.0).await;
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(page["snippets"][0]["id"], wanted.as_str(), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_snippet_leaves_every_replicas_index_at_once() {
    let test = "a_deleted_snippet_leaves_every_replicas_index_at_once";
    let Some(dir) = model_dir(test) else {
        return;
    };
    let Some(backend) = Backend::postgres(test).await else {
        return;
    };
    let (a, b) = (start(&backend, &dir).await, start(&backend, &dir).await);
    let me = user();
    let wanted = a.create(&me, &go_waitgroup()).await;
    for body in distractors() {
        a.create(&me, &body).await;
    }
    embedded(&a, 4.0).await;
    // Both replicas hold the user's index, the snippet in it.
    for replica in [&a, &b] {
        let page = search(replica, &me, QUESTION, "semantic").await;
        assert_eq!(page["snippets"][0]["id"], wanted.as_str(), "{page}");
        assert!(replica.metric("pieces_vector_index_bytes", &[]).await > 0.0);
    }
    let deleted = a.delete(&format!("/api/v1/snippets/{wanted}"), &me).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for (name, replica) in [("a", &a), ("b", &b)] {
        let removed = crate::support::eventually(Duration::from_secs(5), || async {
            replica
                .metric("pieces_vector_index_removals_total", &[])
                .await
                == 1.0
        })
        .await;
        assert!(removed, "replica {name} kept the deleted snippet's entry");
    }
    let page = search(&b, &me, QUESTION, "semantic").await;
    assert_ne!(page["snippets"][0]["id"], wanted.as_str());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn without_a_provider_the_description_offers_text_search_only() {
    let app = crate::support::in_process::InProcess::start().await;
    let doc = app
        .anonymous(axum::http::Method::GET, "/openapi.json")
        .send()
        .await
        .json();
    let parameters = doc["paths"]["/api/v1/snippets"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let mode = parameters
        .iter()
        .find(|p| p["name"] == "mode")
        .expect("a mode parameter");
    assert_eq!(mode["schema"]["enum"], json!(["text"]), "{mode}");
}

/// Every page of one search by meaning is a slice of one ranking with one total, whatever
/// the page size: paging 10 at a time shows what pages of 100 show, each snippet once.
#[tokio::test]
async fn pages_of_a_search_by_meaning_partition_one_ranking_with_one_total() {
    let Some(dir) = model_dir("pages_of_a_search_by_meaning_partition_one_ranking_with_one_total")
    else {
        return;
    };
    let backend = Backend::sqlite();
    let app = start(&backend, &dir).await;
    let alice = user();
    let topics = [
        "HTTP client",
        "database query",
        "message queue",
        "file upload",
    ];
    let mut made = 0;
    for n in 0..120 {
        let topic = topics[n % topics.len()];
        let body = json!({"title": format!("Retry the request {n}"), "language": "python",
            "code": format!("# retry the {topic} request after a backoff of {n} seconds\nretry(request, delay={n})")});
        app.create(&alice, &body).await;
        made += 1;
    }
    for n in 0..40 {
        let body = json!({"title": format!("Resize an image {n}"), "language": "python",
            "code": format!("from PIL import Image\nImage.open('photo{n}.png').resize((64, 64))")});
        app.create(&alice, &body).await;
        made += 1;
    }
    embedded(&app, made as f64).await;
    for mode in ["semantic", "hybrid"] {
        let pages = |limit: usize| {
            let app = &app;
            let alice = &alice;
            async move {
                let (mut ids, mut totals) = (Vec::new(), Vec::new());
                for offset in (0..200).step_by(limit) {
                    let path = format!(
                        "/api/v1/snippets?q=retry%20request&mode={mode}&limit={limit}&offset={offset}"
                    );
                    let (status, page) = status_json(app.get(&path, alice).await).await;
                    assert_eq!(status, StatusCode::OK, "{page}");
                    totals.push((page["total"].clone(), page.get("total_capped").cloned()));
                    let shown = crate::support::page_field(&page, "id");
                    if shown.is_empty() {
                        break;
                    }
                    ids.extend(shown);
                }
                (ids, totals)
            }
        };
        let (small, small_totals) = pages(10).await;
        let (large, large_totals) = pages(100).await;
        assert!(!small.is_empty(), "{mode}: something found");
        let mut unique = small.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), small.len(), "{mode}: a snippet shown twice");
        assert_eq!(
            small, large,
            "{mode}: pages of 10 and of 100 show one ranking"
        );
        let first = &small_totals[0];
        assert!(
            small_totals.iter().chain(&large_totals).all(|t| t == first),
            "{mode}: one total for every page: {small_totals:?} {large_totals:?}"
        );
        assert_eq!(
            first.0,
            small.len(),
            "{mode}: the total is the ranking's length"
        );
    }
}

/// The encoder is the service's own (`pieces-embeddings/src/bert.rs`); these are the first
/// dimensions candle-transformers' `BertModel` gave for the same texts (equal to the last bit
/// when both were built), so a change to the encoder cannot silently move every vector.
#[test]
fn the_local_model_gives_the_vectors_of_the_reference_bert() {
    let Some(dir) = model_dir("the_local_model_gives_the_vectors_of_the_reference_bert") else {
        return;
    };
    let texts = [
        "fn main() { println!(\"hello\") }",
        "retry with exponential backoff and jitter",
        "a",
    ];
    #[rustfmt::skip]
    let expected: [[f32; 6]; 3] = [
        [-0.021708578, 0.043688457, -0.06134555, 0.008253522, -0.032975778, -0.055150952],
        [-0.07271508, -0.00296866, 0.02932703, 0.045941852, -0.098253354, -0.042738896],
        [-0.036433008, 0.034703467, -0.04595979, 0.034325585, -0.0808234, 0.032838643],
    ];
    let model = pieces_connector::embeddings::LocalModel::load(&dir).expect("the model loads");
    // In one batch, so the shorter texts are padded and the mask is exercised.
    let vectors = model
        .embed_now(texts.iter().map(|t| t.to_string()).collect())
        .expect("the texts are embedded");
    for ((text, got), want) in texts.iter().zip(&vectors).zip(&expected) {
        assert_eq!(got.len(), 384, "{text}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-5,
                "{text}: {:?} against {want:?}",
                &got[..6]
            );
        }
    }
}

/// `?workspace=all` ranks by meaning across every workspace the caller can read: the answer
/// in a team workspace outranks the caller's own distractors, and a workspace the caller is
/// not in never shows. A move carries the embedding: the moved snippet is found where it
/// went, with no new embedding.
#[tokio::test]
async fn a_search_by_meaning_spans_all_readable_workspaces_and_follows_a_move() {
    let Some(dir) =
        model_dir("a_search_by_meaning_spans_all_readable_workspaces_and_follows_a_move")
    else {
        return;
    };
    let backend = Backend::sqlite();
    let app = start(&backend, &dir).await;
    let (me, other) = (user(), user());
    let (_, team) = status_json(
        app.post("/api/v1/workspaces", &me, &json!({"name": "go"}))
            .await,
    )
    .await;
    let team = team["id"].as_str().expect("an id").to_owned();
    let mut in_team = go_waitgroup();
    in_team["workspace"] = json!(team);
    let wanted = app.create(&me, &in_team).await;
    for body in distractors() {
        app.create(&me, &body).await;
    }
    let (_, elsewhere) = status_json(
        app.post("/api/v1/workspaces", &other, &json!({"name": "x"}))
            .await,
    )
    .await;
    let mut foreign = go_waitgroup();
    foreign["workspace"] = elsewhere["id"].clone();
    let foreign = app.create(&other, &foreign).await;
    embedded(&app, 5.0).await;

    let q = urlencode(QUESTION);
    for mode in ["semantic", "hybrid"] {
        let path = format!("/api/v1/snippets?q={q}&mode={mode}&workspace=all");
        let (status, page) = status_json(app.get(&path, &me).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["snippets"][0]["id"], wanted.as_str(), "{mode}: {page}");
        assert_eq!(page["snippets"][0]["workspace"], team.as_str());
        assert!(!page.to_string().contains(&foreign), "{mode}: {page}");
        // Personal alone does not hold it.
        let personal = search(&app, &me, QUESTION, mode).await;
        assert!(
            !personal.to_string().contains(&wanted),
            "{mode}: {personal}"
        );
    }

    let (status, moved) = status_json(
        app.patch(
            &format!("/api/v1/snippets/{wanted}"),
            &me,
            &json!({"workspace": "personal"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let page = search(&app, &me, QUESTION, "semantic").await;
    assert_eq!(
        page["snippets"][0]["id"],
        wanted.as_str(),
        "found where it went: {page}"
    );
    let left = status_json(
        app.get(
            &format!("/api/v1/snippets?q={q}&mode=semantic&workspace={team}"),
            &me,
        )
        .await,
    )
    .await
    .1;
    assert!(
        !left.to_string().contains(&wanted),
        "gone from where it was: {left}"
    );
    assert_eq!(
        app.metric("pieces_embeddings_total", &["outcome=\"embedded\""])
            .await,
        5.0,
        "the embedding moved with it: nothing was embedded again"
    );
}
