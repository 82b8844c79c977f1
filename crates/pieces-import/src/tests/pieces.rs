use serde_json::json;

use super::{entry, error_of, failed, files, fixture, import, items_default, keys};
use crate::{Format, ImportError, Item};

#[test]
fn one_asset_record_is_one_snippet() {
    let items = items_default(Format::Pieces, fixture!("pieces/asset.json"));
    assert_eq!(items.len(), 1);
    let asset = entry(&items[0]);
    assert_eq!(asset.title, "Parse ISO 8601 durations");
    assert!(asset
        .description
        .as_deref()
        .is_some_and(|d| d.starts_with("Converts ISO 8601 duration strings")));
    assert_eq!(asset.tags, ["python", "datetime"]);
    assert_eq!(files(asset), [("Parse ISO 8601 durations", "python")]);
    assert!(asset.files[0].code.starts_with("import re\n"));
    assert_eq!(
        asset.source_key,
        "pieces:3f6c1e2a-8b7d-4c5e-9a1f-0d2b4e6c8a13"
    );
    let meta = import(asset);
    assert_eq!(
        keys(meta),
        [
            "created",
            "favorited",
            "formats",
            "id",
            "mechanism",
            "source",
            "updated",
            "websites"
        ]
    );
    assert_eq!(meta["favorited"], true);
    assert_eq!(
        meta["websites"],
        json!(["https://en.wikipedia.org/wiki/ISO_8601#Durations"])
    );
    assert_eq!(
        meta["formats"],
        json!([]),
        "the only format is the original"
    );
}

#[test]
fn a_collection_imports_originals_refuses_an_image_and_skips_a_pseudo_asset() {
    let items = items_default(Format::Pieces, fixture!("pieces/assets.json"));
    assert_eq!(items.len(), 4);

    let kubectl = entry(&items[0]);
    assert_eq!(kubectl.title, "Kubernetes: restart a deployment and wait");
    assert_eq!(kubectl.files[0].language, "sh");
    assert_eq!(kubectl.tags, ["kubernetes"]);

    let debounce = entry(&items[1]);
    assert_eq!(debounce.title, "debounce() in TypeScript");
    assert_eq!(
        debounce.files.len(),
        1,
        "the JavaScript rendition is not a file"
    );
    assert_eq!(debounce.files[0].language, "typescript");
    assert!(debounce.files[0]
        .code
        .starts_with("export function debounce<A"));
    let others = &import(debounce)["formats"];
    assert_eq!(others[0]["id"], "d4f6b8c0-2e3a-4c5d-8f7b-9a1c3e5d7f93");
    assert_eq!(others[0]["classification"]["specific"], "js");

    let (field, detail) = failed(&items[2]);
    assert_eq!(field, "code");
    assert!(
        detail.contains("png") && detail.contains("bytes"),
        "{detail}"
    );

    let Item::Skipped { source_key, .. } = &items[3] else {
        panic!("a pseudo asset is skipped, got {:?}", items[3])
    };
    assert_eq!(
        source_key.as_deref(),
        Some("pieces:d4f6b8c0-3e5a-4c7b-8d9f-2a4c6e8b0d48")
    );
}

#[test]
fn a_workstream_summary_is_the_wrong_shape() {
    let error = error_of(Format::Pieces, fixture!("pieces/bad.json"));
    let ImportError::Shape(detail) = error else {
        panic!("expected a shape error, got {error:?}")
    };
    assert!(detail.contains("`formats`"), "{detail}");
}
