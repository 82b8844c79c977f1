use serde_json::json;

use super::{entry, error_of, files, fixture, import, items_default, keys, temp_file};
use crate::{Format, ImportError, Item};

#[test]
fn a_db_json_yields_six_entries_with_tags_folders_and_the_trash_skipped() {
    let items = items_default(Format::Masscode, fixture!("masscode/db.json"));
    assert_eq!(items.len(), 6);

    let git = entry(&items[0]);
    assert_eq!(git.title, "git: undo the last commit, keep the changes");
    assert_eq!(git.tags, ["git", "cli"]);
    assert_eq!(files(git), [("Fragment 1", "sh")]);
    assert_eq!(git.source_key, "masscode:Vb4nT1ke");
    let meta = import(git);
    assert_eq!(
        keys(meta),
        [
            "createdAt",
            "favorite",
            "folder",
            "id",
            "source",
            "updatedAt"
        ]
    );
    assert_eq!(meta["folder"], "Shell");
    assert_eq!(meta["favorite"], true);
    assert_eq!(meta["createdAt"], 1718822530045u64);

    let shutdown = entry(&items[1]);
    assert_eq!(shutdown.title, "Graceful HTTP shutdown");
    assert_eq!(shutdown.tags, ["go", "http"]);
    assert!(shutdown
        .description
        .as_deref()
        .is_some_and(|d| d.starts_with("SIGINT/SIGTERM")));
    assert_eq!(
        files(shutdown),
        [
            ("main.go", "go"),
            ("main_test.go", "go"),
            ("Makefile", "makefile")
        ]
    );
    assert_eq!(import(shutdown)["folder"], "Go/HTTP");

    let jq = entry(&items[2]);
    assert_eq!(jq.title, "jq: flatten nested keys to dotted paths");
    assert!(jq.tags.is_empty());
    assert!(
        !import(jq).contains_key("folder"),
        "the Inbox has no folder"
    );

    let Item::Skipped {
        source_key, detail, ..
    } = &items[3]
    else {
        panic!("the trashed snippet is skipped, got {:?}", items[3])
    };
    assert_eq!(source_key.as_deref(), Some("masscode:Ne5uB8rf"));
    assert!(detail.contains("isDeleted"), "{detail}");

    // A 288-character name: the service refuses it like a create, field `title`.
    let rsync = entry(&items[4]);
    assert_eq!(rsync.source_key, "masscode:Gx9oK4lt");
    assert_eq!(rsync.title.chars().count(), 288);

    let hook = entry(&items[5]);
    assert_eq!(hook.title, "useLocalStorage hook");
    assert_eq!(hook.tags, ["react"]);
    assert_eq!(files(hook), [("hook", "typescript"), ("usage", "tsx")]);
    assert_eq!(import(hook)["favorite"], true);
    assert_eq!(import(hook)["folder"], "Frontend");
}

#[test]
fn a_cut_off_db_json_is_a_syntax_error() {
    let error = error_of(Format::Masscode, fixture!("masscode/bad.json"));
    assert!(matches!(error, ImportError::Syntax(_)), "{error:?}");
}

#[test]
fn tags_and_folders_after_the_snippets_still_apply() {
    let db = json!({
        "snippets": [{
            "id": "s1", "name": "n", "folderId": "f1", "tagsIds": ["t1", "gone"],
            "content": [
                {"label": "a", "language": "c_cpp", "value": "x"},
                {"label": "b", "language": "", "value": "y"}
            ]
        }],
        "tags": [{"id": "t1", "name": "late"}],
        "folders": [{"id": "f1", "name": "Later", "parentId": null, "defaultLanguage": "plain_text"}]
    });
    let file = temp_file(&db.to_string());
    let items = items_default(Format::Masscode, file.path());
    let snippet = entry(&items[0]);
    assert_eq!(snippet.tags, ["late"], "unknown tag ids are ignored");
    assert_eq!(import(snippet)["folder"], "Later");
    assert_eq!(
        files(snippet),
        [("a", "cpp"), ("b", "plaintext")],
        "no language: the folder's default"
    );
}

#[test]
fn a_db_without_snippets_is_the_wrong_shape() {
    let file = temp_file(r#"{"folders": [], "tags": []}"#);
    let error = error_of(Format::Masscode, file.path());
    assert!(
        matches!(&error, ImportError::Shape(d) if d.contains("snippets")),
        "{error:?}"
    );
}
