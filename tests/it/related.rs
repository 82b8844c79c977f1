//! Related snippets: `GET /api/v1/snippets/{id}/related` and MCP's `related_snippets` answer
//! the snippets of the same workspace nearest in meaning fused with those sharing its tags;
//! without a model, by tags alone; never another's, and a snippet the caller cannot read is
//! 404 as a missing one.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::model::{embedded, model_dir};
use crate::support::{expect_error, settings_for, status_json, user, Backend, TestApp};

on_each_backend!(
    related_snippets_are_near_in_meaning_or_share_tags,
    without_a_model_related_snippets_share_tags
);

fn saved() -> Vec<Value> {
    vec![
        json!({"title": "Retry with exponential backoff", "language": "python", "tags": ["net", "retry"],
               "code": "for attempt in range(5):\n    try:\n        return call()\n    except IOError:\n        time.sleep(2 ** attempt)"}),
        json!({"title": "Retry fetch on 5xx with backoff", "language": "javascript", "tags": ["net"],
               "code": "for (let i = 0; i < 5; i++) {\n  const r = await fetch(url);\n  if (r.status < 500) return r;\n  await sleep(2 ** i * 100);\n}"}),
        json!({"title": "Center a div with flexbox", "language": "css", "tags": ["ui"],
               "code": ".box { display: flex; justify-content: center; align-items: center; }"}),
        json!({"title": "Parse a CSV file", "language": "python", "tags": [],
               "code": "import csv\nwith open('a.csv') as f:\n    rows = list(csv.DictReader(f))"}),
    ]
}

async fn related(app: &TestApp, who: &str, id: &str, query: &str) -> (StatusCode, Value) {
    status_json(
        app.get(&format!("/api/v1/snippets/{id}/related{query}"), who)
            .await,
    )
    .await
}

fn titles(page: &Value) -> Vec<&str> {
    page["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .map(|s| s["title"].as_str().unwrap_or_default())
        .collect()
}

async fn related_snippets_are_near_in_meaning_or_share_tags(backend: Backend) {
    let Some(dir) = model_dir("related_snippets_are_near_in_meaning_or_share_tags") else {
        return;
    };
    let mut settings = settings_for(&backend);
    settings.embeddings_model_dir = Some(dir);
    let app = TestApp::start_with(&backend, settings).await;
    let (alice, bob) = (user(), user());
    let mut ids = Vec::new();
    for body in saved() {
        ids.push(app.create(&alice, &body).await);
    }
    // Bob's copy of the closest one is never alice's related snippet.
    app.create(&bob, &saved()[1]).await;
    embedded(&app, 5.0).await;

    let (status, page) = related(&app, &alice, &ids[0], "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let found = titles(&page);
    assert_eq!(found[0], "Retry fetch on 5xx with backoff", "{page}");
    assert!(
        !found.contains(&"Retry with exponential backoff"),
        "not itself"
    );
    assert_eq!(
        found
            .iter()
            .filter(|t| **t == "Retry fetch on 5xx with backoff")
            .count(),
        1,
        "only alice's"
    );
    let first = &page["snippets"][0];
    assert_eq!(first["shared_tags"], json!(["net"]));
    assert!(
        first["similarity"].as_f64().expect("similarity") > 0.3,
        "{first}"
    );
    assert!(first.get("code").is_none(), "no code in a related list");
    let (_, one) = related(&app, &alice, &ids[0], "?limit=1").await;
    assert_eq!(titles(&one), ["Retry fetch on 5xx with backoff"]);

    // Bob, and a token of a missing id, get what a missing snippet gets.
    let (status, _) = related(&app, &bob, &ids[0], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let missing = uuid::Uuid::now_v7().to_string();
    let (status, _) = related(&app, &alice, &missing, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for limit in ["0", "21", "x"] {
        let response = app
            .get(
                &format!("/api/v1/snippets/{}/related?limit={limit}", ids[0]),
                &alice,
            )
            .await;
        expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }

    // A team's reader sees the team snippet's relations, in the team workspace only.
    let (_, created) = status_json(
        app.post("/api/v1/workspaces", &alice, &json!({"name": "team"}))
            .await,
    )
    .await;
    let ws = created["id"].as_str().expect("id").to_owned();
    let mut in_team = saved()[1].clone();
    in_team["workspace"] = json!(ws);
    let team_id = app.create(&alice, &in_team).await;
    embedded(&app, 6.0).await;
    let (status, _) = related(&app, &bob, &team_id, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not a member yet");
    app.put_member(&ws, &alice, &bob, "reader").await;
    let (status, page) = related(&app, &bob, &team_id, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        titles(&page),
        Vec::<&str>::new(),
        "the team holds nothing else"
    );
    app.stop().await;
}

async fn without_a_model_related_snippets_share_tags(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut ids = Vec::new();
    for body in saved() {
        ids.push(app.create(&alice, &body).await);
    }
    let (status, page) = related(&app, &alice, &ids[0], "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(titles(&page), ["Retry fetch on 5xx with backoff"]);
    assert_eq!(page["snippets"][0]["similarity"], Value::Null);
    let (_, none) = related(&app, &alice, &ids[3], "").await;
    assert_eq!(
        titles(&none),
        Vec::<&str>::new(),
        "the same language alone relates nothing"
    );
    app.stop().await;
}
