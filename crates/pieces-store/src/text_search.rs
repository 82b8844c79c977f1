//! Turns what a user types into a query for SQLite FTS5. Words are quoted, so FTS5 syntax in
//! the input (`NEAR`, `*`, `col:`) is searched for as text, never interpreted. Every query is
//! limited to the content columns and to its user's rows through the `owner` column, which
//! holds `hex(user_id)` as a single token.

use std::fmt::Write;

const CONTENT_COLUMNS: &str = "{title description code tags}";

/// Every word must match. `None` when the input holds nothing searchable.
pub fn all_words(input: &str, user: &str) -> Option<String> {
    join(input, " ", user)
}

/// Every word must match, in anyone's rows: for a query already confined to some.
pub fn all_words_of_anyone(input: &str) -> Option<String> {
    quoted(input, " ").map(|words| format!("{CONTENT_COLUMNS} : ({words})"))
}

/// Any word may match (for ranking by relevance).
pub fn any_word(input: &str, user: &str) -> Option<String> {
    join(input, " OR ", user)
}

fn join(input: &str, separator: &str, user: &str) -> Option<String> {
    quoted(input, separator).map(|words| {
        format!(
            "{CONTENT_COLUMNS} : ({words}) AND owner : \"{}\"",
            owner_token(user)
        )
    })
}

/// The input's words, each quoted, joined by `separator`; None when it holds none.
fn quoted(input: &str, separator: &str) -> Option<String> {
    let words: Vec<String> = input
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(64)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(separator))
}

/// The owner token as SQLite's `hex()` writes it.
fn owner_token(user: &str) -> String {
    user.bytes()
        .fold(String::with_capacity(user.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02X}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_so_syntax_is_searched_as_text() {
        assert_eq!(
            all_words("a\"b NEAR c*", "u").as_deref(),
            Some("{title description code tags} : (\"a\"\"b\" \"NEAR\" \"c*\") AND owner : \"75\"")
        );
        assert_eq!(
            any_word("x y", "é").as_deref(),
            Some("{title description code tags} : (\"x\" OR \"y\") AND owner : \"C3A9\"")
        );
    }

    #[test]
    fn input_without_words_gives_no_query() {
        assert_eq!(all_words("  :: -- ", "u"), None);
    }
}
