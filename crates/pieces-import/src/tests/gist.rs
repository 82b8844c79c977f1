use super::{entry, error_of, failed, files, fixture, import, items_default, keys, temp_file};
use crate::{Format, ImportError};

#[test]
fn one_gist_is_one_snippet_titled_by_its_description() {
    let items = items_default(Format::Gist, fixture!("gist/one.json"));
    assert_eq!(items.len(), 1);
    let gist = entry(&items[0]);
    assert_eq!(
        gist.title,
        "Retry an HTTP call with exponential backoff (Python + shell wrapper)"
    );
    assert_eq!(gist.description, None);
    assert!(gist.tags.is_empty());
    assert_eq!(
        files(gist),
        [
            ("backoff.py", "python"),
            ("retry.sh", "shell"),
            ("usage.md", "markdown")
        ]
    );
    assert!(gist.files[0].code.starts_with("\"\"\"Retry an HTTP GET"));
    assert_eq!(gist.source_key, "gist:5b0e7f7c2d9a4e61b3f8a0c4d2e19b77");
    assert_eq!((gist.id.as_ref(), gist.created_at), (None, None));

    let meta = import(gist);
    assert_eq!(
        keys(meta),
        [
            "created_at",
            "files",
            "html_url",
            "id",
            "owner",
            "public",
            "source",
            "updated_at"
        ]
    );
    assert_eq!(meta["source"], "gist");
    assert_eq!(meta["owner"], "mira-okafor");
    assert_eq!(meta["public"], true);
    assert_eq!(meta["files"][1]["type"], "application/x-sh");
    assert!(meta["files"][2]["raw_url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/usage.md")));
}

#[test]
fn a_list_yields_the_whole_gist_and_refuses_a_truncated_file_and_21_files() {
    let items = items_default(Format::Gist, fixture!("gist/list.json"));
    assert_eq!(items.len(), 3);

    let first = entry(&items[0]);
    assert_eq!(
        first.title, "Makefile",
        "empty description: first file's name"
    );
    assert_eq!(first.description, None);
    assert_eq!(
        files(first),
        [
            ("Makefile", "makefile"),
            ("docker-compose.yml", "yaml"),
            ("healthcheck.go", "go"),
            ("init.sql", "sql")
        ]
    );
    assert_eq!(first.source_key, "gist:e3c18a4b90f24d7c8a615f0b7d2c3e91");

    let (field, detail) = failed(&items[1]);
    assert_eq!(field, "files");
    assert!(detail.contains("catalogue_seed.sql") && detail.contains("truncated"));
    assert!(detail.contains("1482113 bytes"), "{detail}");

    let (field, detail) = failed(&items[2]);
    assert_eq!(field, "files");
    assert!(
        detail.contains("21 files") && detail.contains("20"),
        "{detail}"
    );
}

#[test]
fn list_endpoint_gists_fail_for_want_of_file_contents() {
    let items = items_default(Format::Gist, fixture!("gist/list-endpoint.json"));
    assert_eq!(items.len(), 2);
    for item in &items {
        let (field, detail) = failed(item);
        assert_eq!(field, "files");
        assert!(detail.contains("no `content`"), "{detail}");
        assert!(detail.contains("GET /gists/{gist_id}") && detail.contains("raw_url"));
    }
}

#[test]
fn a_cut_off_gist_is_a_syntax_error() {
    let error = error_of(Format::Gist, fixture!("gist/bad.json"));
    assert!(matches!(error, ImportError::Syntax(_)), "{error:?}");
}

#[test]
fn a_gist_without_files_is_the_wrong_shape() {
    let file = temp_file(r#"[{"id": "abc", "description": "no files key"}]"#);
    let error = error_of(Format::Gist, file.path());
    let ImportError::Shape(detail) = error else {
        panic!("expected a shape error, got {error:?}")
    };
    assert!(detail.contains("`files`"), "{detail}");
}

#[test]
fn a_long_description_stays_the_description_and_base64_content_is_decoded() {
    let description = "d".repeat(201);
    // Written out by hand: `json!` would sort the file names.
    let file = temp_file(&format!(
        r#"{{"id": "b64", "description": "{description}", "files": {{
            "z.txt": {{"filename": "z.txt", "language": null, "content": "aGVs\nbG8=", "encoding": "base64"}},
            "a.rs": {{"filename": "a.rs", "language": "Rust", "content": "fn main() {{}}"}}
        }}}}"#
    ));
    let items = items_default(Format::Gist, file.path());
    let gist = entry(&items[0]);
    assert_eq!(gist.title, "z.txt", "kept in file order, not sorted");
    assert_eq!(gist.description.as_deref(), Some(description.as_str()));
    assert_eq!(files(gist), [("z.txt", "plaintext"), ("a.rs", "rust")]);
    assert_eq!(gist.files[0].code, "hello");
}
