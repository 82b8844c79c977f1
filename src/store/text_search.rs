//! Turns what a user types into a query for SQLite FTS5. Words are quoted, so FTS5 syntax in
//! the input (`NEAR`, `*`, `col:`) is searched for as text, never interpreted.

/// Every word must match. `None` when the input holds nothing searchable.
pub fn all_words(input: &str) -> Option<String> {
    join(input, " ")
}

/// Any word may match (for ranking by relevance).
pub fn any_word(input: &str) -> Option<String> {
    join(input, " OR ")
}

fn join(input: &str, separator: &str) -> Option<String> {
    let words: Vec<String> = input
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(64)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!words.is_empty()).then(|| words.join(separator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_so_syntax_is_searched_as_text() {
        assert_eq!(
            all_words("a\"b NEAR c*").as_deref(),
            Some("\"a\"\"b\" \"NEAR\" \"c*\"")
        );
        assert_eq!(any_word("x y").as_deref(), Some("\"x\" OR \"y\""));
    }

    #[test]
    fn input_without_words_gives_no_query() {
        assert_eq!(all_words("  :: -- "), None);
    }
}
