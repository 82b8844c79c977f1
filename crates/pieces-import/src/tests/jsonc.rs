use std::io::{BufReader, Read};

use serde_json::{json, Value};

use crate::jsonc::Jsonc;

/// Reads `text` through the adapter with `capacity` bytes per underlying read, so that
/// commas, comment markers and brackets fall on read boundaries.
fn strip(text: &str, capacity: usize) -> String {
    let mut out = String::new();
    Jsonc::new(BufReader::with_capacity(capacity, text.as_bytes()))
        .read_to_string(&mut out)
        .expect("stripped text");
    out
}

#[test]
fn trailing_commas_and_comments_go_whatever_the_read_boundaries() {
    let text = "{\"a\": [1, 2,/* x */],// y\n \"b\": {\"c\": \"/* kept */ // kept, \\\"\",},}";
    let expected = json!({"a": [1, 2], "b": {"c": "/* kept */ // kept, \""}});
    for capacity in [1, 2, 3, 7, 8192] {
        let out = strip(text, capacity);
        let value: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("capacity {capacity}: {e} in {out:?}"));
        assert_eq!(value, expected, "capacity {capacity}");
    }
}

#[test]
fn newlines_are_kept_so_error_lines_match_the_file() {
    let text = "{\n/* one\ntwo */\n// three\n\"a\": 1,\n}\n";
    let out = strip(text, 4);
    assert_eq!(out.lines().count(), text.lines().count());
    assert_eq!(out.matches('\n').count(), text.matches('\n').count());
}

#[test]
fn separating_commas_stay() {
    let out = strip("[1 , 2,\n3]", 1);
    let value: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(value, json!([1, 2, 3]));
}

#[test]
fn a_lone_slash_at_the_end_is_kept_for_the_parser_to_refuse() {
    assert_eq!(strip("{}/", 1), "{}/");
}
