//! Every fixture of `tests/fixtures/import` against what its README expects, plus the
//! cases the fixtures leave out: bad files, large files, stopping, lenient JSON.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};

use crate::{check, read, Entry, Format, ImportError, Item, Options};

mod bytestash;
mod gist;
mod json;
mod jsonc;
mod masscode;
mod pieces;
mod streaming;
mod vscode;

/// A fixture's path, from this crate's directory.
macro_rules! fixture {
    ($name:literal) => {
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/import/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// Every item of the file; `check` must count as many.
fn items(format: Format, path: &Path, options: &Options) -> Vec<Item> {
    let mut items = Vec::new();
    let count = read(format, path, options, |item| {
        items.push(item);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{} should read: {e}", path.display()));
    assert_eq!(count, items.len() as u64, "read's count");
    let checked = check(format, path, options).expect("check passes where read does");
    assert_eq!(checked, count, "check counts what read yields");
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item.index(), i as u64, "items come in file order");
    }
    items
}

fn items_default(format: Format, path: &Path) -> Vec<Item> {
    items(format, path, &Options::default())
}

fn entry(item: &Item) -> &Entry {
    match item {
        Item::Entry(entry) => entry,
        other => panic!("expected an entry, got {other:?}"),
    }
}

/// `(field, detail)` of a failed item.
fn failed(item: &Item) -> (&str, &str) {
    match item {
        Item::Failed { field, detail, .. } => (field, detail),
        other => panic!("expected a failed item, got {other:?}"),
    }
}

/// `(name, language)` of each file.
fn files(entry: &Entry) -> Vec<(&str, &str)> {
    entry
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.language.as_str()))
        .collect()
}

fn import(entry: &Entry) -> &Map<String, Value> {
    entry.metadata["import"]
        .as_object()
        .expect("metadata.import is an object")
}

fn keys(map: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// A file with `text` in a temporary directory that lives as long as the returned guard.
fn temp_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    file.write_all(text.as_bytes())
        .expect("write temporary file");
    file
}

fn error_of(format: Format, path: &Path) -> ImportError {
    match check(format, path, &Options::default()) {
        Ok(count) => panic!("{} should be refused, counted {count}", path.display()),
        Err(e) => e,
    }
}

#[test]
fn format_names_parse_back() {
    for format in Format::ALL {
        assert_eq!(Format::parse(format.as_str()), Some(format));
        assert_eq!(format.as_str().parse::<Format>(), Ok(format));
    }
    let unknown = "csv".parse::<Format>().unwrap_err();
    assert!(
        unknown.contains("csv") && unknown.contains("masscode"),
        "{unknown}"
    );
}
