use serde_json::json;

use super::{entry, error_of, files, fixture, import, items_default, keys, temp_file};
use crate::{Format, ImportError};

#[test]
fn an_export_yields_its_five_snippets_in_bytestash_order() {
    let items = items_default(Format::Bytestash, fixture!("bytestash/export.json"));
    assert_eq!(items.len(), 5);

    let nginx = entry(&items[0]);
    assert_eq!(nginx.title, "Nginx reverse proxy for the API");
    assert_eq!(nginx.tags, ["nginx", "ops", "docker"]);
    assert_eq!(
        files(nginx),
        [
            ("api.conf", "nginx"),
            ("ssl-params.conf", "nginx"),
            ("docker-compose.yml", "yaml")
        ]
    );
    assert_eq!(nginx.source_key, "bytestash:sam:42");
    let meta = import(nginx);
    assert_eq!(
        keys(meta),
        [
            "id",
            "is_favorite",
            "is_pinned",
            "is_public",
            "share_count",
            "source",
            "updated_at",
            "username"
        ]
    );
    assert_eq!(meta["is_pinned"], 1);
    assert_eq!(meta["id"], 42);
    assert_eq!(meta["updated_at"], "2026-01-28 16:04:51Z");

    let hook = entry(&items[1]);
    assert_eq!(hook.title, "useDebounce hook");
    assert_eq!(hook.description, None, "an empty description is none");
    assert_eq!(import(hook)["is_favorite"], 1);
    assert_eq!(
        files(hook),
        [("useDebounce.ts", "typescript"), ("usage.tsx", "tsx")]
    );

    let find = entry(&items[2]);
    assert_eq!(find.title, "Find the largest files");
    assert_eq!(files(find), [("find-large.sh", "bash")]);

    // Both fragments empty: the service refuses it like a create, field `code`.
    let scratch = entry(&items[3]);
    assert_eq!(scratch.title, "Scratch");
    assert_eq!(
        files(scratch),
        [("file1", "plaintext"), ("file2", "plaintext")]
    );
    assert!(scratch.files.iter().all(|f| f.code.is_empty()));

    let postgres = entry(&items[4]);
    assert_eq!(
        postgres.title,
        "Postgres: terminate idle-in-transaction sessions"
    );
    assert_eq!(import(postgres)["is_public"], 1);
    assert_eq!(import(postgres)["share_count"], 2);
    assert_eq!(files(postgres), [("kill-idle.sql", "sql")]);
    assert_eq!(postgres.source_key, "bytestash:sam:12");
}

#[test]
fn snippets_keyed_by_id_is_the_wrong_shape() {
    let error = error_of(Format::Bytestash, fixture!("bytestash/bad.json"));
    let ImportError::Shape(detail) = error else {
        panic!("expected a shape error, got {error:?}")
    };
    assert!(detail.contains("`snippets` array"), "{detail}");
}

#[test]
fn fragments_follow_their_position_and_a_missing_username_leaves_the_id_alone() {
    let export = json!({
        "version": "1.0",
        "snippets": [{
            "id": 7, "title": "t", "description": "d", "categories": [],
            "fragments": [
                {"file_name": "second", "code": "2", "language": "Rust", "position": 1},
                {"file_name": "first", "code": "1", "language": "", "position": 0}
            ]
        }]
    });
    let file = temp_file(&export.to_string());
    let items = items_default(Format::Bytestash, file.path());
    let snippet = entry(&items[0]);
    assert_eq!(files(snippet), [("first", "plaintext"), ("second", "rust")]);
    assert_eq!(snippet.source_key, "bytestash:7");
    assert_eq!(snippet.description.as_deref(), Some("d"));
}

#[test]
fn an_export_without_a_version_is_the_wrong_shape() {
    let file = temp_file(r#"{"snippets": []}"#);
    let error = error_of(Format::Bytestash, file.path());
    assert!(
        matches!(&error, ImportError::Shape(d) if d.contains("version")),
        "{error:?}"
    );
}
