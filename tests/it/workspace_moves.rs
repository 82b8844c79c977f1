//! Several workspaces at once and between them: `?workspace=all` lists and searches every
//! workspace the caller can read (and nothing else), newest first across them; `PATCH
//! {workspace}` moves a snippet with everything it holds, for a writer on both sides only.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{expect_error, page_field, snippet, status_json, user, Backend, TestApp};

/// A new team workspace of `owner`'s; its id.
async fn workspace(app: &TestApp, owner: &str, name: &str) -> String {
    let (status, made) = status_json(
        app.post("/api/v1/workspaces", owner, &json!({ "name": name }))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_str().expect("an id").to_owned()
}

/// Creates a snippet titled `title` in `ws` (`personal` for one's own) with `tags`.
async fn create_in(app: &TestApp, who: &str, ws: &str, title: &str, tags: &[&str]) -> String {
    let mut body = snippet(title);
    body["workspace"] = json!(ws);
    body["tags"] = json!(tags);
    app.create(who, &body).await
}

fn ids(page: &Value) -> Vec<String> {
    page_field(page, "id")
}

on_each_backend!(
    a_listing_of_all_workspaces_merges_every_readable_one_newest_first,
    a_kept_page_of_all_workspaces_changes_with_any_of_them,
    a_snippet_moves_to_another_workspace_with_everything_it_holds
);

async fn a_listing_of_all_workspaces_merges_every_readable_one_newest_first(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, bob) = (user(), user());
    let own_team = workspace(&app, &alice, "alice's team").await;
    let bobs_team = workspace(&app, &bob, "bob's team").await;
    let bobs_secret = workspace(&app, &bob, "bob alone").await;
    let (status, _) = status_json(app.put_member(&bobs_team, &bob, &alice, "reader").await).await;
    assert_eq!(status, StatusCode::OK);

    // Interleaved, so only a merge across the workspaces gives the newest-first order.
    let plan: [(&str, &str, &str, &[&str]); 9] = [
        (&alice, "personal", "deploy script", &["ops"]),
        (&alice, &own_team, "retry with backoff", &["net"]),
        (&bob, &bobs_team, "deploy checklist", &["ops"]),
        (&bob, &bobs_secret, "deploy secret plan", &["ops"]),
        (&alice, "personal", "parse json", &["data"]),
        (&bob, &bobs_team, "rotate logs", &["ops"]),
        (&alice, &own_team, "deploy canary", &["ops"]),
        (&bob, "personal", "deploy bob's own", &["ops"]),
        (&alice, "personal", "format dates", &["data"]),
    ];
    let mut readable = Vec::new();
    for (who, ws, title, tags) in plan {
        let id = create_in(&app, who, ws, title, tags).await;
        if who == alice || ws == bobs_team {
            readable.push((id, ws.to_owned(), title));
        }
    }
    readable.reverse();
    let newest_first: Vec<String> = readable.iter().map(|(id, ..)| id.clone()).collect();

    let page = app.listing("workspace=all&limit=100", &alice).await;
    assert_eq!(page["total"], 7, "{page}");
    assert_eq!(ids(&page), newest_first);
    let shown: Vec<String> = page_field(&page, "workspace");
    let expected: Vec<String> = readable.iter().map(|(_, ws, _)| ws.clone()).collect();
    assert_eq!(shown, expected, "each row names its workspace");

    // Pages of three are slices of the same order.
    let mut paged = Vec::new();
    for offset in [0, 3, 6] {
        let page = app
            .listing(&format!("workspace=all&limit=3&offset={offset}"), &alice)
            .await;
        assert_eq!(page["total"], 7);
        paged.extend(ids(&page));
    }
    assert_eq!(paged, newest_first);

    // A text search and a tag span the same workspaces, and only them.
    let deploys: Vec<String> = readable
        .iter()
        .filter(|(_, _, title)| title.starts_with("deploy"))
        .map(|(id, ..)| id.clone())
        .collect();
    assert_eq!(deploys.len(), 3);
    for query in [
        "workspace=all&q=deploy&mode=text&limit=100",
        "workspace=all&tag=ops&limit=100",
    ] {
        let page = app.listing(query, &alice).await;
        let found = ids(&page);
        if query.contains("tag") {
            // Tagged `ops`: the three deploys and bob's team's log rotation.
            assert_eq!(found.len(), 4, "{query}: {page}");
            assert!(
                deploys.iter().all(|id| found.contains(id)),
                "{query}: {page}"
            );
        } else {
            assert_eq!(found, deploys, "{query}: {page}");
        }
        assert_eq!(page["total"], found.len() as i64, "{query}");
    }
    let page = app
        .listing("workspace=all&language=rust&offset=5&limit=100", &alice)
        .await;
    assert_eq!(ids(&page), newest_first[5..].to_vec());

    // Bob sees his three workspaces and his own snippet, never alice's.
    let page = app.listing("workspace=all&limit=100", &bob).await;
    assert_eq!(page["total"], 4, "{page}");

    // A token limited to one workspace lists only that one under `all`.
    let (status, made) = status_json(
        app.post(
            "/api/v1/tokens",
            &alice,
            &json!({"name": "team only", "scopes": ["snippets:read"], "workspaces": [own_team]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().expect("a secret");
    let response = app
        .with_token(
            Method::GET,
            "/api/v1/snippets?workspace=all&limit=100",
            token,
            None,
        )
        .await;
    let (status, page) = status_json(response).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page_field(&page, "workspace"), vec![own_team.clone(); 2]);

    // Removed from bob's team, alice's next `all` leaves it out at once.
    let removed = app
        .delete(
            &format!("/api/v1/workspaces/{bobs_team}/members/{alice}"),
            &bob,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let page = app.listing("workspace=all&limit=100", &alice).await;
    assert_eq!(page["total"], 5, "{page}");
    assert!(!page_field(&page, "workspace").contains(&bobs_team));
    // And a new workspace of hers is in it at once.
    let fresh = workspace(&app, &alice, "fresh").await;
    create_in(&app, &alice, &fresh, "fresh snippet", &["new"]).await;
    let page = app.listing("workspace=all&limit=100", &alice).await;
    assert_eq!(page["total"], 6, "{page}");

    // `all` names no single place to write to.
    let mut body = snippet("nowhere");
    body["workspace"] = json!("all");
    let refused = app.post("/api/v1/snippets", &alice, &body).await;
    expect_error(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

async fn a_snippet_moves_to_another_workspace_with_everything_it_holds(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, bob, carol) = (user(), user(), user());
    let team = workspace(&app, &alice, "team").await;
    let bobs = workspace(&app, &bob, "bob's").await;
    for (ws, by, member, role) in [
        (&team, &alice, &carol, "reader"),
        (&bobs, &bob, &alice, "reader"),
    ] {
        let (status, body) = status_json(app.put_member(ws, by, member, role).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let id = create_in(&app, &alice, "personal", "kubectl rollout", &["k8s"]).await;
    create_in(&app, &alice, "personal", "stays home", &["misc"]).await;
    let path = format!("/api/v1/snippets/{id}");

    // Carol cannot see it yet: it is alice's own.
    expect_error(
        app.get(&path, &carol).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Moving needs a writer where it goes: a reader gets 403, one who cannot see it 404,
    // and neither changes anything.
    let to_bobs = app.patch(&path, &alice, &json!({"workspace": bobs})).await;
    expect_error(to_bobs, StatusCode::FORBIDDEN, "insufficient_role").await;
    let unknown = app
        .patch(&path, &alice, &json!({"workspace": "ws_0000"}))
        .await;
    expect_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    let all = app.patch(&path, &alice, &json!({"workspace": "all"})).await;
    expect_error(all, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let (_, still) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(still["workspace"], "personal");
    let before_move = still["updated_at"].clone();

    let (status, moved) = status_json(
        app.patch(
            &path,
            &alice,
            &json!({"workspace": team, "title": "kubectl rollout undo"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["workspace"], team.as_str());
    assert_eq!(moved["title"], "kubectl rollout undo");
    assert_eq!(
        moved["created_at"], still["created_at"],
        "its id and creation stay"
    );
    assert_ne!(moved["updated_at"], before_move);

    // Everyone of the team reads it now, by id and through listings, counts and filters.
    let (status, read) = status_json(app.get(&path, &carol).await).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["workspace"], team.as_str());
    for (query, who) in [
        (format!("workspace={team}"), &carol),
        (format!("workspace={team}&tag=k8s"), &carol),
        (format!("workspace={team}&q=rollout&mode=text"), &carol),
        (format!("workspace={team}&language=rust"), &alice),
    ] {
        let page = app.listing(&query, who).await;
        assert_eq!(ids(&page), vec![id.clone()], "{query}: {page}");
        assert_eq!(page["total"], 1, "{query}");
    }
    // And it left alice's personal workspace entirely.
    let home = app.listing("", &alice).await;
    assert_eq!(home["total"], 1, "{home}");
    assert!(!ids(&home).contains(&id));
    for query in ["tag=k8s", "q=rollout&mode=text"] {
        let page = app.listing(query, &alice).await;
        assert_eq!(page["total"], 0, "{query}: {page}");
    }

    // Both workspaces' audit logs say where it went; neither holds its title.
    let (_, audit) = status_json(
        app.get(
            &format!("/api/v1/workspaces/{team}/audit?action=snippet.moved"),
            &alice,
        )
        .await,
    )
    .await;
    let records = audit["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["target"]["id"], id.as_str());
    assert_eq!(records[0]["detail"]["from"], "personal");
    assert!(!audit.to_string().contains("rollout"), "{audit}");
    let (_, own) = status_json(app.get("/api/v1/audit?action=snippet.moved", &alice).await).await;
    assert_eq!(own["records"].as_array().map(Vec::len), Some(2), "{own}");

    // A reader of the team cannot move it out; the writer brings it home again.
    let out = app
        .patch(&path, &carol, &json!({"workspace": "personal"}))
        .await;
    expect_error(out, StatusCode::FORBIDDEN, "insufficient_role").await;
    let (status, back) = status_json(
        app.patch(&path, &alice, &json!({"workspace": "personal"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["workspace"], "personal");
    expect_error(
        app.get(&path, &carol).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.listing("", &alice).await["total"], 2);
    assert_eq!(
        app.listing(&format!("workspace={team}"), &alice).await["total"],
        0
    );
    // Naming where it already is changes nothing.
    let (status, same) = status_json(
        app.patch(&path, &alice, &json!({"workspace": "personal"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["updated_at"], back["updated_at"]);
}

/// A page of `?workspace=all` asked again is answered from what was kept only while none of
/// its workspaces changed: a create, an edit, a move, a deletion or a new workspace shows at
/// once.
async fn a_kept_page_of_all_workspaces_changes_with_any_of_them(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let (alice, bob) = (user(), user());
    let team = workspace(&app, &bob, "bob's team").await;
    let (status, _) = status_json(app.put_member(&team, &bob, &alice, "writer").await).await;
    assert_eq!(status, StatusCode::OK);
    create_in(&app, &alice, "personal", "own one", &[]).await;
    let shared = create_in(&app, &bob, &team, "team one", &[]).await;
    let all = "workspace=all&limit=10";
    let titles = |page: &Value| page_field(page, "title");

    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["team one", "own one"]
    );
    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["team one", "own one"]
    );
    create_in(&app, &bob, &team, "team two", &[]).await;
    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["team two", "team one", "own one"],
        "a create in one of them"
    );
    let path = format!("/api/v1/snippets/{shared}");
    let edited = app
        .patch(&path, &bob, &json!({"title": "team one, edited"}))
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["team two", "team one, edited", "own one"],
        "an edit"
    );
    let moved = app
        .patch(&path, &bob, &json!({"workspace": "personal"}))
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let page = app.listing(all, &alice).await;
    assert_eq!(
        (titles(&page), page["total"].as_i64()),
        (vec!["team two".to_owned(), "own one".to_owned()], Some(2)),
        "a move out of the caller's reach"
    );
    let second = workspace(&app, &alice, "alice's own team").await;
    create_in(&app, &alice, &second, "second team's", &[]).await;
    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["second team's", "team two", "own one"],
        "a workspace joined"
    );
    let own = ids(&app.listing(all, &alice).await)[2].clone();
    let deleted = app.delete(&format!("/api/v1/snippets/{own}"), &alice).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        titles(&app.listing(all, &alice).await),
        ["second team's", "team two"],
        "a deletion"
    );
    let kept = app
        .metric("pieces_merged_pages_total", &["result=\"kept\""])
        .await;
    assert_eq!(
        kept, 2.0,
        "the second ask, and the one after the workspace was joined"
    );
}
