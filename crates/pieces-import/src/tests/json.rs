use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::{entry, error_of, items_default, temp_file};
use crate::{File, Format, ImportError};

fn time(s: &str) -> DateTime<Utc> {
    s.parse().expect("RFC 3339 time")
}

/// Two snippet lines as the export writes them (one of several files, one of a single
/// unnamed file), a history line and a blank line between them.
fn export() -> String {
    let several = json!({
        "version": 3, "id": "0190b3a0-0000-7000-8000-000000000001", "workspace": "personal",
        "title": "Retry", "code": "retry()", "language": "Python",
        "tags": ["net", "retry"], "metadata": {"z": 1, "a": {"nested": true}},
        "description": "with backoff",
        "created_at": "2026-01-02T03:04:05.123456Z", "updated_at": "2026-01-03T00:00:00Z",
        "files": [
            {"name": "retry.py", "language": "Python", "code": "retry()"},
            {"name": "run.sh", "language": "shell", "code": "./retry"}
        ]
    });
    let history = json!({"kind": "version", "snippet_id": "0190b3a0-0000-7000-8000-000000000001", "version": 2});
    let single = json!({
        "kind": "snippet",
        "version": 1, "id": "0190b3a0-0000-7000-8000-000000000002", "workspace": "team-1",
        "title": "One", "code": "x", "language": "text",
        "tags": [], "metadata": {}, "description": null,
        "created_at": "2026-01-04T00:00:00+02:00", "updated_at": "2026-01-04T00:00:00Z"
    });
    format!("{several}\n{history}\n\r\n{single}\n")
}

#[test]
fn an_export_reads_back_field_for_field() {
    let file = temp_file(&export());
    let items = items_default(Format::Json, file.path());
    assert_eq!(items.len(), 2, "the history line is not an entry");

    let several = entry(&items[0]);
    assert_eq!(
        several.id.as_deref(),
        Some("0190b3a0-0000-7000-8000-000000000001")
    );
    assert_eq!(
        several.source_key,
        "json:0190b3a0-0000-7000-8000-000000000001"
    );
    assert_eq!(several.title, "Retry");
    assert_eq!(several.description.as_deref(), Some("with backoff"));
    assert_eq!(several.tags, ["net", "retry"]);
    assert_eq!(
        several.files,
        [
            File {
                name: "retry.py".into(),
                language: "Python".into(),
                code: "retry()".into()
            },
            File {
                name: "run.sh".into(),
                language: "shell".into(),
                code: "./retry".into()
            },
        ],
        "languages as exported"
    );
    let metadata: Map<String, Value> =
        serde_json::from_value(json!({"z": 1, "a": {"nested": true}})).expect("object");
    assert_eq!(
        several.metadata, metadata,
        "metadata unchanged, no `import` added"
    );
    assert_eq!(
        several.created_at,
        Some(time("2026-01-02T03:04:05.123456Z"))
    );
    assert_eq!(several.updated_at, Some(time("2026-01-03T00:00:00Z")));

    let single = entry(&items[1]);
    assert_eq!(single.index, 1);
    assert_eq!(
        single.files,
        [File {
            name: String::new(),
            language: "text".into(),
            code: "x".into()
        }]
    );
    assert_eq!(single.description, None);
    assert_eq!(single.created_at, Some(time("2026-01-03T22:00:00Z")));
}

#[test]
fn a_line_that_is_not_json_is_a_syntax_error_naming_the_line() {
    let file = temp_file(&format!("{}{{\"id\": \"cut\", \"title\": \n", export()));
    let error = error_of(Format::Json, file.path());
    let ImportError::Syntax(detail) = error else {
        panic!("expected a syntax error, got {error:?}")
    };
    assert!(detail.starts_with("line 5:"), "{detail}");
}

#[test]
fn a_line_without_the_snippet_fields_is_the_wrong_shape() {
    for line in [r#"{"name": "not a snippet"}"#, "[1, 2]", r#""text""#] {
        let file = temp_file(line);
        let error = error_of(Format::Json, file.path());
        let ImportError::Shape(detail) = error else {
            panic!("{line}: expected a shape error, got {error:?}")
        };
        assert!(
            detail.starts_with("line 1:") && detail.contains("`title`"),
            "{detail}"
        );
    }
}

#[test]
fn an_empty_file_has_no_entries() {
    let file = temp_file("\n\n");
    assert!(items_default(Format::Json, file.path()).is_empty());
}
