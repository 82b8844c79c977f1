use std::io::{BufWriter, Write};

use serde_json::json;

use super::temp_file;
use crate::{check, read, Format, ImportError, Item, Options};

const LINES: u64 = 50_000;

/// A 50,000-snippet export, written line by line.
fn large_export() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temporary file");
    let mut out = BufWriter::new(file.as_file());
    for i in 0..LINES {
        let line = json!({
            "version": 1, "id": format!("id-{i}"), "workspace": "personal",
            "title": format!("snippet {i}"), "code": "x".repeat(200), "language": "rust",
            "tags": ["bulk"], "metadata": {}, "description": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        writeln!(out, "{line}").expect("write line");
    }
    out.flush().expect("flush");
    drop(out);
    file
}

#[test]
fn fifty_thousand_lines_are_handed_over_one_at_a_time() {
    let file = large_export();
    let options = Options::default();
    assert_eq!(
        check(Format::Json, file.path(), &options).expect("check"),
        LINES
    );

    let (mut seen, mut last) = (0u64, None);
    let count = read(Format::Json, file.path(), &options, |item| {
        let Item::Entry(entry) = item else {
            return Err(());
        };
        assert_eq!(entry.index, seen);
        seen += 1;
        last = Some(entry.source_key);
        Ok(())
    })
    .expect("read");
    assert_eq!((count, seen), (LINES, LINES));
    assert_eq!(last.as_deref(), Some("json:id-49999"));
}

#[test]
fn the_callback_stops_the_read() {
    let file = large_export();
    let mut seen = 0;
    let result = read(Format::Json, file.path(), &Options::default(), |_| {
        seen += 1;
        if seen == 10 {
            Err(())
        } else {
            Ok(())
        }
    });
    assert!(matches!(result, Err(ImportError::Stopped)), "{result:?}");
    assert_eq!(seen, 10);
}

/// The first snippet reaches the callback before the parser gets to the cut-off end: had
/// the file been read whole first, this would be a syntax error.
#[test]
fn array_entries_arrive_before_the_rest_of_the_file_is_read() {
    let snippet = json!({"id": 1, "title": "t", "categories": [], "fragments": []});
    let cut_off =
        format!("{{\"version\": \"1.0\", \"snippets\": [{snippet}, {snippet}, {{\"id\": 3, \"ti");
    let file = temp_file(&cut_off);
    let options = Options::default();

    let mut first = None;
    let result = read(Format::Bytestash, file.path(), &options, |item| {
        first = Some(item);
        Err(())
    });
    assert!(matches!(result, Err(ImportError::Stopped)), "{result:?}");
    assert!(matches!(first, Some(Item::Entry(ref e)) if e.source_key == "bytestash:1"));

    let checked = check(Format::Bytestash, file.path(), &options);
    assert!(
        matches!(checked, Err(ImportError::Syntax(_))),
        "{checked:?}"
    );
}

#[test]
fn stopping_works_for_every_streamed_format() {
    let fixtures = [
        (Format::Gist, super::fixture!("gist/list.json")),
        (
            Format::Vscode,
            super::fixture!("vscode/python.code-snippets"),
        ),
        (Format::Bytestash, super::fixture!("bytestash/export.json")),
        (Format::Masscode, super::fixture!("masscode/db.json")),
        (Format::Pieces, super::fixture!("pieces/assets.json")),
    ];
    for (format, path) in fixtures {
        let mut seen = 0;
        let result = read(format, path, &Options::default(), |_| {
            seen += 1;
            Err(())
        });
        assert!(
            matches!(result, Err(ImportError::Stopped)),
            "{format}: {result:?}"
        );
        assert_eq!(seen, 1, "{format}");
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let result = check(
        Format::Gist,
        std::path::Path::new("/nonexistent/gist.json"),
        &Options::default(),
    );
    assert!(matches!(result, Err(ImportError::Io(_))), "{result:?}");
}

/// A file whose one entry is a body of millions of one-letter lines: parsed whole it would
/// take many times its size, so it is refused as soon as its text passes the bound, in every
/// format that reads entries from one array or object.
#[test]
fn an_entry_past_the_bound_refuses_the_file_before_it_is_parsed_whole() {
    let lines = (crate::stream::ENTRY_MAX_BYTES / 4 + 10) as usize;
    let body = vec!["a"; lines];
    // (serde_json orders keys: "huge" is entry 0.)
    let vscode =
        json!({"small": {"prefix": "s", "body": "x"}, "huge": {"prefix": "h", "body": body}});
    let file = temp_file(&vscode.to_string());
    let refused = check(Format::Vscode, file.path(), &Options::default());
    assert!(
        matches!(&refused, Err(ImportError::Shape(detail)) if detail.contains("entry 0 is more than 8 MiB")),
        "{refused:?}"
    );
    let line = json!({"id": "x", "title": "t", "code": "a".repeat(9 << 20), "language": "rust"});
    let file = temp_file(&format!("{line}\n"));
    let refused = check(Format::Json, file.path(), &Options::default());
    assert!(
        matches!(&refused, Err(ImportError::Shape(detail)) if detail.contains("line 1 is more than 8 MiB")),
        "{refused:?}"
    );
}

/// Many entries each under the bound pass, however large the file: the bound is per entry.
#[test]
fn entries_under_the_bound_pass_whatever_the_files_size() {
    let code = "x".repeat(3 << 20);
    let lines: String = (0..4)
        .map(|i| {
            json!({"id": format!("id-{i}"), "title": "t", "code": code, "language": "rust"})
                .to_string()
                + "\n"
        })
        .collect();
    let file = temp_file(&lines);
    assert_eq!(
        check(Format::Json, file.path(), &Options::default()).expect("fits"),
        4
    );
}
