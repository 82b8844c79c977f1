//! Listings narrowed by a tag or a language: the page comes newest first from the filter's
//! own index entries, and the count stops at the cap as a search's does, so a filter costs the
//! same for a user with 1,000 snippets and one with 1,000,000.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{page_field, snippet, status_json, user, Backend, TestApp};

on_each_backend!(
    a_tag_or_language_listing_counts_to_the_cap_and_pages_newest_first,
    a_tag_listing_follows_every_change_of_tags
);

fn tagged(title: &str, tags: &[&str], language: &str) -> Value {
    let mut body = snippet(title);
    body["tags"] = json!(tags);
    body["language"] = json!(language);
    body
}

async fn listing(app: &TestApp, user: &str, query: &str) -> Value {
    let (status, page) =
        status_json(app.get(&format!("/api/v1/snippets?{query}"), user).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn a_tag_or_language_listing_counts_to_the_cap_and_pages_newest_first(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    for batch in 0..21 {
        let bodies: Vec<Value> = (0..50)
            .map(|n| tagged(&format!("common {}", batch * 50 + n), &["common"], "go"))
            .collect();
        join_all(bodies.iter().map(|b| app.create(&alice, b))).await;
    }
    let mut rare = Vec::new();
    for n in 0..5 {
        rare.push(
            app.create(
                &alice,
                &tagged(&format!("rare {n}"), &["rare", "common"], "zig"),
            )
            .await,
        );
    }

    let common = listing(&app, &alice, "tag=common&limit=10").await;
    assert_eq!(
        (common["total"].as_i64(), common["total_capped"].as_bool()),
        (Some(1000), Some(true))
    );
    let newest: Vec<String> = rare.iter().rev().cloned().collect();
    assert_eq!(page_field(&common, "id")[..5], newest[..], "newest first");
    let go = listing(&app, &alice, "language=go&limit=1").await;
    assert_eq!(
        (go["total"].as_i64(), go["total_capped"].as_bool()),
        (Some(1000), Some(true))
    );

    let few = listing(&app, &alice, "tag=rare&limit=2&offset=1").await;
    assert_eq!(few["total"], 5);
    assert!(few.get("total_capped").is_none(), "an exact count: {few}");
    assert_eq!(page_field(&few, "id"), [rare[3].clone(), rare[2].clone()]);
    let both = listing(&app, &alice, "tag=common&language=zig").await;
    assert_eq!(both["total"], 5);
    let none = listing(&app, &alice, "tag=rare&language=go").await;
    assert_eq!(
        (none["total"].as_i64(), page_field(&none, "id").len()),
        (Some(0), 0)
    );
    // Deep into a capped listing, the page is still the right one.
    let deep = listing(&app, &alice, "tag=common&limit=5&offset=1050").await;
    assert_eq!(page_field(&deep, "title").len(), 5);
    let unfiltered = listing(&app, &alice, "limit=1").await;
    assert_eq!(
        unfiltered["total"], 1055,
        "without a filter the count stays exact"
    );
    assert!(unfiltered.get("total_capped").is_none());
    // Another user's tags are their own.
    let bob = user();
    assert_eq!(listing(&app, &bob, "tag=common").await["total"], 0);
}

async fn a_tag_listing_follows_every_change_of_tags(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let id = app
        .create(&alice, &tagged("moving", &["a", "b"], "rust"))
        .await;
    let kept = app.create(&alice, &tagged("staying", &["a"], "rust")).await;
    let ids = |page: Value| page_field(&page, "id");
    let only = |id: &String| vec![id.clone()];
    assert_eq!(ids(listing(&app, &alice, "tag=b").await), only(&id));
    let path = format!("/api/v1/snippets/{id}");
    let (status, _) = status_json(app.patch(&path, &alice, &json!({"tags": ["c"]})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ids(listing(&app, &alice, "tag=b").await).is_empty());
    assert_eq!(ids(listing(&app, &alice, "tag=a").await), only(&kept));
    assert_eq!(ids(listing(&app, &alice, "tag=c").await), only(&id));
    let (status, _) = status_json(
        app.patch(&path, &alice, &json!({"title": "same tags"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(listing(&app, &alice, "tag=c").await), only(&id));
    assert_eq!(
        app.delete(&path, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
    assert!(ids(listing(&app, &alice, "tag=c").await).is_empty());
    assert_eq!(
        ids(listing(&app, &alice, "tag=a&q=staying").await),
        only(&kept)
    );
}
