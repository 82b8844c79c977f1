//! The snippet API, identical on SQLite and on PostgreSQL + Redis.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{expect_error, page_field, snippet, status_json, user, Backend, TestApp};

on_each_backend!(
    created_snippet_is_stored_and_read_back,
    listing_is_newest_first_with_total_and_paging,
    listing_filters_by_language_and_tag,
    full_text_search_covers_every_field_and_needs_every_word,
    a_search_pages_newest_first_and_counts_up_to_the_cap,
    a_search_asked_again_sees_every_change_since,
    search_input_is_text_never_query_syntax,
    patch_changes_only_the_given_fields,
    deleted_snippet_is_gone,
    another_users_snippet_is_not_found,
    read_after_update_never_serves_the_old_copy,
    every_limit_is_enforced_and_names_the_field,
    snippets_survive_a_restart,
    concurrent_creates_are_each_stored_once,
    creates_edits_and_deletes_of_one_user_at_once_all_succeed,
);

async fn created_snippet_is_stored_and_read_back(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let body = json!({
        "title": "Parse JSON", "code": "serde_json::from_str(s)", "language": "rust",
        "tags": ["json", "serde", "json"], "metadata": {"source": "cli"}, "description": "quick parse"
    });
    let response = app.post("/api/v1/snippets", &alice, &body).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, created) = status_json(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["status"], "stored");
    let id = created["snippet_id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/snippets/{id}"));
    assert_eq!(
        created["snippet"]["tags"],
        json!(["json", "serde"]),
        "repeated tags collapse"
    );

    let (status, read) = status_json(app.get(&location, &alice).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        read, created["snippet"],
        "a read returns exactly what the create answered"
    );
    assert_eq!(read["metadata"], json!({"source": "cli"}));
    assert!(
        read["created_at"].as_str().unwrap().ends_with('Z'),
        "RFC 3339 UTC"
    );

    // A second read comes from the cache and is byte-for-byte the same.
    let (_, again) = status_json(app.get(&location, &alice).await).await;
    assert_eq!(again, read);
}

async fn listing_is_newest_first_with_total_and_paging(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create(&alice, &snippet(&format!("item {n}"))).await);
    }
    let (_, page) = status_json(app.get("/api/v1/snippets?limit=2&offset=1", &alice).await).await;
    assert_eq!(page["total"], 5);
    assert_eq!(
        (page["limit"].as_i64(), page["offset"].as_i64()),
        (Some(2), Some(1))
    );
    let got: Vec<&str> = page["snippets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![ids[3].as_str(), ids[2].as_str()], "newest first");

    let (_, past) = status_json(app.get("/api/v1/snippets?offset=10", &alice).await).await;
    assert_eq!(past["snippets"], json!([]));
    assert_eq!(past["total"], 5, "total stays right past the end");

    let (_, other) = status_json(app.get("/api/v1/snippets", &user()).await).await;
    assert_eq!(other["total"], 0, "a user sees only their own snippets");
}

async fn listing_filters_by_language_and_tag(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    app.create(
        &alice,
        &json!({"title": "a", "code": "x", "language": "python", "tags": ["web"]}),
    )
    .await;
    app.create(
        &alice,
        &json!({"title": "b", "code": "y", "language": "rust", "tags": ["web", "cli"]}),
    )
    .await;
    app.create(
        &alice,
        &json!({"title": "c", "code": "z", "language": "rust", "tags": ["cli"]}),
    )
    .await;
    let titles = |page: &Value| page_field(page, "title");
    let (_, rust) = status_json(app.get("/api/v1/snippets?language=rust", &alice).await).await;
    assert_eq!(
        (titles(&rust), rust["total"].as_i64()),
        (vec!["c".into(), "b".into()], Some(2))
    );
    let (_, web) = status_json(app.get("/api/v1/snippets?tag=web", &alice).await).await;
    assert_eq!(titles(&web), vec!["b".to_owned(), "a".to_owned()]);
    let (_, both) = status_json(
        app.get("/api/v1/snippets?tag=web&language=rust", &alice)
            .await,
    )
    .await;
    assert_eq!(titles(&both), vec!["b".to_owned()]);
}

async fn full_text_search_covers_every_field_and_needs_every_word(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    app.create(
        &alice,
        &json!({"title": "Retry with backoff", "code": "loop {}", "language": "rust"}),
    )
    .await;
    app.create(
        &alice,
        &json!({"title": "t2", "code": "let client = reqwest::Client::new();", "language": "rust"}),
    )
    .await;
    app.create(&alice, &json!({"title": "t3", "code": "x", "language": "go", "description": "graceful shutdown of servers"})).await;
    app.create(
        &alice,
        &json!({"title": "t4", "code": "y", "language": "go", "tags": ["kubernetes"]}),
    )
    .await;
    app.create(
        &user(),
        &json!({"title": "backoff elsewhere", "code": "z", "language": "go"}),
    )
    .await;
    let search = |q: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let page = app.listing(&format!("q={q}"), &alice).await;
            let mut titles = page_field(&page, "title");
            titles.sort();
            assert_eq!(page["total"].as_u64(), Some(titles.len() as u64));
            titles
        }
    };
    assert_eq!(
        search("backoff").await,
        vec!["Retry with backoff"],
        "title, own snippets only"
    );
    assert_eq!(search("reqwest").await, vec!["t2"], "code");
    assert_eq!(
        search("GRACEFUL").await,
        vec!["t3"],
        "description, any case"
    );
    assert_eq!(search("kubernetes").await, vec!["t4"], "tags");
    assert_eq!(
        search("graceful%20servers").await,
        vec!["t3"],
        "every word matches"
    );
    assert!(
        search("graceful%20backoff").await.is_empty(),
        "a word missing means no match"
    );
}

async fn a_search_pages_newest_first_and_counts_up_to_the_cap(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    // 1,001 matches of "needle", every third also "odd", created one after another (creates
    // sent together may be stamped in one order and committed in another).
    for n in 0..1_001 {
        let extra = if n % 3 == 0 { " odd" } else { "" };
        app.create(
            &alice,
            &json!({"title": format!("needle {n}{extra}"), "code": "x", "language": "go"}),
        )
        .await;
    }
    app.create(
        &user(),
        &json!({"title": "needle odd elsewhere", "code": "x", "language": "go"}),
    )
    .await;
    let page = |query: &'static str| app.listing(query, &alice);
    let created_at = |page: &Value| page_field(page, "created_at");
    let ids = |page: &Value| page_field(page, "id");
    let odd = page("q=odd&limit=100").await;
    assert_eq!(
        (odd["total"].as_i64(), odd.get("total_capped")),
        (Some(334), None)
    );
    let dates = created_at(&odd);
    assert_eq!(dates.len(), 100);
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
    let second = page("q=odd&limit=10&offset=10").await;
    assert_eq!(ids(&second), ids(&odd)[10..20], "pages follow one order");
    let last = page("q=odd&limit=10&offset=330").await;
    assert_eq!(
        (last["total"].as_i64(), created_at(&last).len()),
        (Some(334), 4)
    );
    let past = page("q=odd&limit=10&offset=500").await;
    assert_eq!(
        (past["total"].as_i64(), created_at(&past).len()),
        (Some(334), 0)
    );
    let none = page("q=odd%20absent").await;
    assert_eq!(
        (none["total"].as_i64(), created_at(&none).len()),
        (Some(0), 0)
    );
    let capped = page("q=needle&limit=5&offset=2").await;
    assert_eq!(
        (capped["total"].as_i64(), capped["total_capped"].as_bool()),
        (Some(1_000), Some(true))
    );
    let first = page("q=needle&limit=7").await;
    assert_eq!(
        created_at(&capped),
        created_at(&first)[2..7],
        "a capped search still pages newest first"
    );
    let deep = page("q=needle&offset=1000").await;
    assert_eq!(created_at(&deep).len(), 1, "pages past the cap still work");
}

async fn a_search_asked_again_sees_every_change_since(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let make =
        |title: &str, language: &str| json!({"title": title, "code": "x", "language": language});
    let a = app.create(&alice, &make("needle a", "go")).await;
    let b = app.create(&alice, &make("needle b", "go")).await;
    let c = app.create(&alice, &make("other c", "go")).await;
    let titles = |query: &'static str| {
        let page = app.listing(query, &alice);
        async move {
            let page = page.await;
            (page_field(&page, "title"), page["total"].as_i64().unwrap())
        }
    };
    let owned = |titles: &[&str], total: i64| {
        (
            titles.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            total,
        )
    };
    // Each search is asked before and after every change, so a page remembered from the
    // first asking must be brought up to date, never served as it was.
    assert_eq!(
        titles("q=needle").await,
        owned(&["needle b", "needle a"], 2)
    );
    assert_eq!(
        titles("q=needle&limit=1&offset=1").await,
        owned(&["needle a"], 2)
    );
    assert_eq!(
        titles("q=needle&language=go").await,
        owned(&["needle b", "needle a"], 2)
    );

    app.create(&alice, &make("needle d", "go")).await;
    app.create(&alice, &make("needle e", "python")).await;
    app.create(&user(), &make("needle elsewhere", "go")).await;
    assert_eq!(
        titles("q=needle").await,
        owned(&["needle e", "needle d", "needle b", "needle a"], 4),
        "created since"
    );
    assert_eq!(
        titles("q=needle&limit=1&offset=1").await,
        owned(&["needle d"], 4)
    );
    assert_eq!(
        titles("q=needle&language=go").await,
        owned(&["needle d", "needle b", "needle a"], 3),
        "created since, filtered"
    );

    let patch = |id: &str, title: &str| {
        let app = &app;
        let alice = alice.clone();
        let path = format!("/api/v1/snippets/{id}");
        let body = json!({"title": title});
        async move {
            let status = app.patch(&path, &alice, &body).await.status();
            assert_eq!(status, StatusCode::OK);
        }
    };
    patch(&c, "needle c").await;
    assert_eq!(
        titles("q=needle&language=go").await,
        owned(&["needle d", "needle c", "needle b", "needle a"], 4),
        "an older snippet changed to match"
    );
    patch(&b, "plain b").await;
    assert_eq!(
        titles("q=needle&language=go").await,
        owned(&["needle d", "needle c", "needle a"], 3),
        "a snippet changed to match no more"
    );
    let status = app
        .delete(&format!("/api/v1/snippets/{a}"), &alice)
        .await
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        titles("q=needle").await,
        owned(&["needle e", "needle d", "needle c"], 3),
        "deleted since"
    );
    assert_eq!(
        titles("q=needle&limit=1&offset=1").await,
        owned(&["needle d"], 3)
    );
    let status = app
        .patch(
            &format!("/api/v1/snippets/{c}"),
            &alice,
            &json!({"language": "python"}),
        )
        .await
        .status();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        titles("q=needle&language=go").await,
        owned(&["needle d"], 1),
        "moved out of the filter"
    );
}

async fn search_input_is_text_never_query_syntax(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    app.create(&alice, &snippet("plain")).await;
    for q in [
        "%22",
        "NEAR(a%20b)",
        "title%3Aplain",
        "*",
        "a%22b%22c",
        "%3A%3A",
        "(",
        "-plain",
        "'",
        "%5C",
    ] {
        let response = app.get(&format!("/api/v1/snippets?q={q}"), &alice).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "q={q} must not fail: {:?}",
            response.text().await
        );
    }
}

async fn patch_changes_only_the_given_fields(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let body =
        json!({"title": "old", "code": "c", "language": "rust", "description": "d", "tags": ["x"]});
    let id = app.create(&alice, &body).await;
    let path = format!("/api/v1/snippets/{id}");
    let (_, before) = status_json(app.get(&path, &alice).await).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, after) = status_json(
        app.patch(&path, &alice, &json!({"title": "new", "description": null}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["title"], "new");
    assert_eq!(
        after["description"],
        Value::Null,
        "null clears the description"
    );
    assert_eq!(
        (&after["code"], &after["tags"], &after["created_at"]),
        (&before["code"], &before["tags"], &before["created_at"])
    );
    assert!(
        after["updated_at"].as_str() > before["updated_at"].as_str(),
        "updated_at moves on"
    );
    let (_, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(read, after);
    expect_error(
        app.patch(&path, &alice, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

async fn deleted_snippet_is_gone(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("doomed")).await;
    let path = format!("/api/v1/snippets/{id}");
    app.get(&path, &alice).await; // cached now
    let response = app.delete(&path, &alice).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&path, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.delete(&path, &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (_, page) = status_json(app.get("/api/v1/snippets", &alice).await).await;
    assert_eq!(page["total"], 0);
}

async fn another_users_snippet_is_not_found(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, mallory) = (user(), user());
    let id = app.create(&alice, &snippet("private")).await;
    let path = format!("/api/v1/snippets/{id}");
    app.get(&path, &alice).await; // in the cache under alice's key
    let missing = format!("/api/v1/snippets/{}", uuid::Uuid::now_v7());
    let foreign = expect_error(
        app.get(&path, &mallory).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let absent = expect_error(
        app.get(&missing, &mallory).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        foreign["detail"], absent["detail"],
        "indistinguishable from a missing id"
    );
    expect_error(
        app.patch(&path, &mallory, &json!({"title": "pwned"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.delete(&path, &mallory).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (_, mine) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(mine["title"], "private", "untouched by the other user");
}

async fn read_after_update_never_serves_the_old_copy(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("v1")).await;
    let path = format!("/api/v1/snippets/{id}");
    for version in ["v2", "v3"] {
        app.get(&path, &alice).await; // fills the cache
        app.patch(&path, &alice, &json!({"title": version})).await;
        let (_, read) = status_json(app.get(&path, &alice).await).await;
        assert_eq!(read["title"], version);
    }
}

async fn every_limit_is_enforced_and_names_the_field(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let base = snippet("ok");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let big_object: serde_json::Map<String, Value> = (0..70)
        .map(|i| (format!("k{i}"), json!("x".repeat(1000))))
        .collect();
    let cases = [
        ("title", with("title", json!(""))),
        ("title", with("title", json!("   "))),
        ("title", with("title", json!("t".repeat(201)))),
        ("code", with("code", json!(""))),
        ("code", with("code", json!("c".repeat(1024 * 1024 + 1)))),
        ("language", with("language", json!("l".repeat(51)))),
        (
            "tags",
            with(
                "tags",
                json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>()),
            ),
        ),
        ("tags", with("tags", json!(["t".repeat(51)]))),
        ("tags", with("tags", json!([""]))),
        ("metadata", with("metadata", Value::Object(big_object))),
        ("metadata", with("metadata", json!([1, 2]))),
        ("title", with("title", json!(5))),
        ("tags[0]", with("tags", json!([1]))),
        // PostgreSQL cannot store NUL, so no store takes it: same answer on both.
        ("title", with("title", json!("a\u{0}b"))),
        ("code", with("code", json!("fn main() {}\u{0}"))),
        ("description", with("description", json!("\u{0}"))),
        ("tags", with("tags", json!(["a\u{0}"]))),
        (
            "metadata",
            with("metadata", json!({"k": ["ok", {"n": "\u{0}"}]})),
        ),
        ("metadata", with("metadata", json!({"k\u{0}": 1}))),
    ];
    for (field, body) in cases {
        let response = app.post("/api/v1/snippets", &alice, &body).await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["field"], field, "{error}");
    }
    let title_200 = with("title", json!("é".repeat(200)));
    assert_eq!(
        app.post("/api/v1/snippets", &alice, &title_200)
            .await
            .status(),
        StatusCode::CREATED,
        "200 characters, not bytes"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("limit=ten", "limit"),
    ] {
        let response = app.get(&format!("/api/v1/snippets?{query}"), &alice).await;
        let error = expect_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(error["field"], field, "{query}: {error}");
    }
    let (_, page) = status_json(app.get("/api/v1/snippets", &alice).await).await;
    assert_eq!(page["total"], 1, "no rejected body was stored");
}

async fn snippets_survive_a_restart(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app.create(&alice, &snippet("durable")).await;
    app.stop().await;
    let app = TestApp::start(&backend).await;
    let (status, read) =
        status_json(app.get(&format!("/api/v1/snippets/{id}"), &alice).await).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("durable"))
    );
}

/// Creates that arrive together are committed together; each must still be stored once,
/// readable and searchable, and answered with its own id.
async fn concurrent_creates_are_each_stored_once(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let creates = (0..60).map(|i| {
        let body = json!({
            "title": format!("batch {i}"), "code": format!("fn batched_{i}() {{}}"),
            "language": "rust", "tags": ["batch", format!("n{i}")],
            "metadata": {"i": i}, "description": (i % 2 == 0).then_some("even"),
        });
        let (app, alice) = (&app, &alice);
        async move { (i, app.create(alice, &body).await) }
    });
    let created = futures_util::future::join_all(creates).await;
    let ids: std::collections::HashSet<&String> = created.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 60, "every create has its own id");

    for (i, id) in &created {
        let (status, read) =
            status_json(app.get(&format!("/api/v1/snippets/{id}"), &alice).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read["title"], format!("batch {i}"));
        assert_eq!(read["metadata"], json!({"i": i}));
        assert_eq!(read["tags"], json!(["batch", format!("n{i}")]));
    }
    let (_, page) = status_json(app.get("/api/v1/snippets?limit=100", &alice).await).await;
    assert_eq!(page["total"], 60);
    let (_, found) = status_json(app.get("/api/v1/snippets?q=batched_7", &alice).await).await;
    assert_eq!(found["total"], 1, "{found}");
    let (_, even) = status_json(app.get("/api/v1/snippets?q=even", &alice).await).await;
    assert_eq!(even["total"], 30, "{even}");
}

/// Creates (committed in batches), edits and deletes of one user's snippets, all at once, each
/// take the user's stream position and count: in one order everywhere, so none deadlocks,
/// and the stream, the count and the rows agree afterwards.
async fn creates_edits_and_deletes_of_one_user_at_once_all_succeed(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let mut existing = Vec::new();
    for n in 0..40 {
        existing.push(app.create(&alice, &snippet(&format!("old {n}"))).await);
    }
    let (app, alice) = (&app, &alice);
    let work = existing.iter().enumerate().flat_map(|(n, id)| {
        let path = format!("/api/v1/snippets/{id}");
        let create = async move {
            let status = app
                .post("/api/v1/snippets", alice, &snippet(&format!("new {n}")))
                .await
                .status();
            ("create", status, StatusCode::CREATED)
        };
        let change = async move {
            if n % 2 == 0 {
                let body = json!({"title": format!("edited {n}")});
                (
                    "edit",
                    app.patch(&path, alice, &body).await.status(),
                    StatusCode::OK,
                )
            } else {
                let status = app.delete(&path, alice).await.status();
                ("delete", status, StatusCode::NO_CONTENT)
            }
        };
        [
            futures_util::future::Either::Left(create),
            futures_util::future::Either::Right(change),
        ]
    });
    for (what, status, expected) in futures_util::future::join_all(work).await {
        assert_eq!(status, expected, "a concurrent {what}");
    }
    let (_, page) = status_json(app.get("/api/v1/snippets?limit=100", alice).await).await;
    assert_eq!(page["total"], 60, "40 + 40 created - 20 deleted");
    assert_eq!(page["snippets"].as_array().unwrap().len(), 60);
    let (_, edited) = status_json(app.get("/api/v1/snippets?q=edited", alice).await).await;
    assert_eq!(edited["total"], 20, "{edited}");
}
