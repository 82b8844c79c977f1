//! Snippets of several files: `code` and `language` stay the first file's for every client
//! that knows nothing else, and search, history, restore and the trash cover every file.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{expect_error, page_field, status_json, user, Backend, TestApp};

on_each_backend!(
    a_snippet_of_several_files_reads_writes_and_searches_every_file,
    history_restore_and_the_trash_keep_every_file,
    bad_files_are_refused_and_change_nothing
);

fn files(marker: &str) -> Value {
    json!([
        {"name": "retry.py", "language": "python", "code": "def retry():\n    pass\n"},
        {"name": "run.sh", "language": "shell", "code": format!("python retry.py # {marker}\n")},
    ])
}

async fn search(app: &TestApp, who: &str, words: &str) -> Vec<String> {
    let (status, page) = status_json(
        app.get(&format!("/api/v1/snippets?q={words}&mode=text"), who)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page_field(&page, "id")
}

async fn a_snippet_of_several_files_reads_writes_and_searches_every_file(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let marker = format!("second{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (status, created) = status_json(
        app.post(
            "/api/v1/snippets",
            &alice,
            &json!({"title": "Retry", "files": files(&marker)}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created = &created["snippet"];
    assert_eq!(created["code"], "def retry():\n    pass\n");
    assert_eq!(created["language"], "python");
    assert_eq!(created["files"], files(&marker));
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/snippets/{id}");
    let (_, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(&read, created);

    // A word only the second file holds finds it, and so do words from two files together.
    assert_eq!(
        search(&app, &alice, &marker).await,
        std::slice::from_ref(&id)
    );
    assert_eq!(
        search(&app, &alice, &format!("retry+{marker}")).await,
        std::slice::from_ref(&id)
    );
    let listed = app.listing("limit=5", &alice).await;
    assert_eq!(listed["snippets"][0]["files"], files(&marker));

    // A client that knows only `code` edits the first file, and the others stay.
    let (status, edited) = status_json(
        app.patch(&path, &alice, &json!({"code": "def retry(n):\n    pass\n"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["files"][0]["code"], "def retry(n):\n    pass\n");
    assert_eq!(edited["files"][1], files(&marker)[1]);

    // Replacing the files moves search with them.
    let other = format!("third{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (status, replaced) = status_json(
        app.patch(
            &path,
            &alice,
            &json!({"files": [{"name": "a.go", "language": "go", "code": format!("// {other}\n")},
                {"name": "b.go", "language": "go", "code": "package b\n"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["code"], format!("// {other}\n"));
    assert_eq!(replaced["language"], "go");
    assert!(search(&app, &alice, &marker).await.is_empty());
    assert_eq!(
        search(&app, &alice, &other).await,
        std::slice::from_ref(&id)
    );

    // A snippet made the old way answers as it always did: no `files`.
    let plain = app
        .create(
            &alice,
            &json!({"title": "plain", "code": "x = 1", "language": "python"}),
        )
        .await;
    let (_, plain) = status_json(app.get(&format!("/api/v1/snippets/{plain}"), &alice).await).await;
    assert!(plain.get("files").is_none(), "{plain}");
    app.stop().await;
}

async fn history_restore_and_the_trash_keep_every_file(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let marker = format!("kept{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let first = app
        .create(
            &alice,
            &json!({"title": "one", "code": "a = 1\n", "language": "python"}),
        )
        .await;
    let path = format!("/api/v1/snippets/{first}");
    // Version 2 holds two files, version 3 changes the second one.
    let (status, v2) = status_json(
        app.patch(&path, &alice, &json!({"files": files(&marker)}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    let mut three = files(&marker);
    three[1]["code"] = json!("bash retry.sh\n");
    let (_, v3) = status_json(app.patch(&path, &alice, &json!({"files": three})).await).await;
    assert_eq!(v3["version"], 3);

    let (status, diff) =
        status_json(app.get(&format!("{path}/versions/2/diff"), &alice).await).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let code_diff = diff["code_diff"].as_str().expect("diff");
    assert!(code_diff.contains("--- run.sh (version 2)"), "{code_diff}");
    assert!(code_diff.contains("+bash retry.sh"), "{code_diff}");
    let (_, was) = status_json(app.get(&format!("{path}/versions/2"), &alice).await).await;
    assert_eq!(was, v2);

    // Restoring version 1 makes it one unnamed file again; restoring 2 brings the files back.
    let restored = app
        .call(Method::POST, &format!("{path}/versions/1/restore"), &alice)
        .await;
    let (status, v4) = status_json(restored).await;
    assert_eq!(status, StatusCode::OK, "{v4}");
    assert!(v4.get("files").is_none(), "{v4}");
    assert_eq!(v4["code"], "a = 1\n");
    let restored = app
        .call(Method::POST, &format!("{path}/versions/2/restore"), &alice)
        .await;
    let (_, v5) = status_json(restored).await;
    assert_eq!(v5["files"], v2["files"]);

    // Through the trash and back, whole.
    let gone = app.delete(&path, &alice).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let back = app
        .call(
            Method::POST,
            &format!("/api/v1/trash/{first}/restore"),
            &alice,
        )
        .await;
    let (status, back) = status_json(back).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["files"], v2["files"]);
    assert_eq!(
        search(&app, &alice, &marker).await,
        std::slice::from_ref(&first)
    );
    app.stop().await;
}

async fn bad_files_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::start(&backend).await;
    let alice = user();
    let one = |name: &str, code: &str| json!({"name": name, "language": "go", "code": code});
    let many: Vec<Value> = (0..21).map(|i| one(&format!("f{i}.go"), "x")).collect();
    for (body, field) in [
        (
            json!({"title": "t", "code": "x", "language": "go", "files": [one("a", "x")]}),
            "files",
        ),
        (json!({"title": "t", "files": []}), "files"),
        (json!({"title": "t", "files": many}), "files"),
        (
            json!({"title": "t", "files": [one("a", "x"), one(" ", "y")]}),
            "files.1.name",
        ),
        (
            json!({"title": "t", "files": [one("a", "x"), one("b", "")]}),
            "files.1.code",
        ),
        (json!({"title": "t"}), "code"),
        (
            json!({"title": "t", "code": null, "language": "go"}),
            "code",
        ),
    ] {
        let refused = app.post("/api/v1/snippets", &alice, &body).await;
        let error = expect_error(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(
            error.to_string().contains(field),
            "{body} should name {field}: {error}"
        );
    }
    let id = app
        .create(&alice, &json!({"title": "t", "files": [one("a", "x")]}))
        .await;
    let path = format!("/api/v1/snippets/{id}");
    let both = app
        .patch(
            &path,
            &alice,
            &json!({"files": [one("a", "y")], "code": "y"}),
        )
        .await;
    expect_error(both, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let (_, read) = status_json(app.get(&path, &alice).await).await;
    assert_eq!(read["version"], 1);
    assert_eq!(read["files"], json!([one("a", "x")]));
    assert_eq!(app.listing("", &alice).await["total"], 1);
    app.stop().await;
}
