use serde_json::json;

use super::{entry, error_of, failed, files, fixture, import, items, items_default, temp_file};
use crate::{Format, ImportError, Options};

#[test]
fn a_code_snippets_file_yields_its_six_snippets_in_file_order() {
    let items = items_default(Format::Vscode, fixture!("vscode/python.code-snippets"));
    let titles: Vec<&str> = items.iter().map(|i| entry(i).title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Dataclass with slots",
            "Pytest parametrize",
            "Module logger",
            "TODO with ticket",
            "Retry decorator (draft)",
            "Main guard"
        ]
    );

    let dataclass = entry(&items[0]);
    assert_eq!(files(dataclass), [("Dataclass with slots", "python")]);
    assert_eq!(
        dataclass.description.as_deref(),
        Some("Frozen dataclass using __slots__")
    );
    assert_eq!(import(dataclass)["prefix"], json!(["dcs", "dataclass"]));
    assert_eq!(import(dataclass)["source"], "vscode");
    assert_eq!(dataclass.source_key, "vscode:Dataclass with slots");

    let pytest = entry(&items[1]);
    assert_eq!(files(pytest), [("Pytest parametrize", "python")]);
    assert!(pytest.files[0]
        .code
        .starts_with("@pytest.mark.parametrize("));

    let logger = entry(&items[2]);
    assert_eq!(
        import(logger)["scope"],
        json!(["python", "jupyter", "jinja"])
    );
    assert_eq!(
        logger.files[0].code,
        "import logging\n\nlog = logging.getLogger(__name__)"
    );
    assert_eq!(logger.files[0].language, "python");

    let todo = entry(&items[3]);
    assert_eq!(todo.files[0].language, "plaintext", "no scope");
    assert_eq!(todo.description, None);
    assert!(!import(todo).contains_key("scope"));

    // `body: []`: the service refuses it like a create with empty code, field `code`.
    let draft = entry(&items[4]);
    assert_eq!(draft.files[0].code, "");

    let main_guard = entry(&items[5]);
    assert_eq!(import(main_guard)["isFileTemplate"], true);
    assert!(main_guard.files[0].code.ends_with("\tmain()\n"));
}

#[test]
fn a_language_file_takes_its_language_from_the_request() {
    let path = fixture!("vscode/go.json");
    let go = Options {
        language: Some("Go".to_owned()),
    };
    let named = items(Format::Vscode, path, &go);
    assert_eq!(named.len(), 4);
    for item in &named {
        assert_eq!(entry(item).files[0].language, "go");
    }
    assert_eq!(entry(&named[3]).title, "HTTP handler");
    assert_eq!(
        entry(&named[3]).description,
        None,
        "the one without description"
    );
    assert_eq!(
        entry(&named[1]).files[0].code.lines().next(),
        Some("func Test${1:Name}(t *testing.T) {"),
        "placeholders kept verbatim"
    );

    for item in items_default(Format::Vscode, path) {
        assert_eq!(entry(&item).files[0].language, "plaintext");
    }
}

#[test]
fn a_top_level_array_is_the_wrong_shape() {
    let error = error_of(Format::Vscode, fixture!("vscode/bad.code-snippets"));
    let ImportError::Shape(detail) = error else {
        panic!("expected a shape error, got {error:?}")
    };
    assert!(detail.contains("object keyed by snippet name"), "{detail}");
}

#[test]
fn comments_trailing_commas_and_groups_are_read_as_vs_code_reads_them() {
    let text = r#"
    // a line comment, and "a string" in a comment
    {
      /* a block comment with a } and a , */
      "Url": {
        "prefix": "url", // after a value
        "body": ["see http://example.com/*not-a-comment*/", "\"quoted\", // kept",],
        "scope": "TypeScript , javascript",
      },
      "Group": {
        "zeta": {"prefix": "z", "body": "z",},
        "alpha": {"prefix": "a", "body": "a" /* c */ , /* d */ },
      },
      "Broken": {"prefix": "b", "body": 42},
      "NoBody": {"prefix": "n"},
    }
    "#;
    let file = temp_file(text);
    let items = items_default(Format::Vscode, file.path());
    assert_eq!(items.len(), 5);

    let url = entry(&items[0]);
    assert_eq!(
        url.files[0].code,
        "see http://example.com/*not-a-comment*/\n\"quoted\", // kept"
    );
    assert_eq!(url.files[0].language, "typescript");
    assert_eq!(import(url)["scope"], json!(["TypeScript", "javascript"]));

    let group: Vec<&str> = items[1..3]
        .iter()
        .map(|i| entry(i).title.as_str())
        .collect();
    assert_eq!(group, ["zeta", "alpha"], "a group's snippets in file order");
    assert_eq!(entry(&items[1]).source_key, "vscode:zeta");

    let (field, detail) = failed(&items[3]);
    assert_eq!(field, "code");
    assert!(
        detail.contains("neither a string nor an array of strings"),
        "{detail}"
    );
    let (field, detail) = failed(&items[4]);
    assert_eq!(field, "code");
    assert!(detail.contains("no `body`"), "{detail}");
}

#[test]
fn a_stray_slash_is_a_syntax_error() {
    let file = temp_file(r#"{"a": {"prefix": "a", "body": "a"} / }"#);
    let error = error_of(Format::Vscode, file.path());
    assert!(matches!(error, ImportError::Syntax(_)), "{error:?}");
}
