//! Snippets of several files. The first file is also the snippet's `code` and `language`, so
//! a client that knows nothing of `files` reads and writes what it always did; the stores
//! keep the list beside those columns without the first file's code (held once, in `code`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::{check_no_nul, check_text, Checked, ValidationError};
use super::{Limits, Snippet};

/// A snippet holds at most this many files.
pub const FILES_MAX: usize = 20;
/// The code of all of a snippet's files together, in bytes.
pub const FILES_TOTAL_BYTES: usize = 4 * 1024 * 1024;
/// A file's name.
pub const FILE_NAME_MAX_CHARS: usize = 200;

/// One file of a snippet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SnippetFile {
    /// 1-200 characters (a path such as `src/main.rs` is fine).
    pub name: String,
    pub language: String,
    pub code: String,
}

/// One file of a snippet as its readers walk them (diff, export, AI context).
#[derive(Debug, Clone, Copy, Default)]
pub struct FileView<'a> {
    /// Empty for the one file of a snippet made with `code` alone.
    pub name: &'a str,
    pub language: &'a str,
    pub code: &'a str,
}

impl Snippet {
    /// Its files, or its code as one file without a name: the one walk every reader of
    /// files makes, whichever way the snippet was made.
    pub fn file_views(&self) -> Vec<FileView<'_>> {
        if self.files.is_empty() {
            return vec![FileView {
                name: "",
                language: &self.language,
                code: &self.code,
            }];
        }
        self.files
            .iter()
            .map(|f| FileView {
                name: &f.name,
                language: &f.language,
                code: &f.code,
            })
            .collect()
    }
}

/// How the stores keep a file: the first one's code is left out (it is the `code` column).
#[derive(Serialize, Deserialize)]
struct StoredFile<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    language: std::borrow::Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "str::is_empty")]
    code: std::borrow::Cow<'a, str>,
}

/// The `files` column of a snippet: None for a snippet of one unnamed file.
pub fn files_column(files: &[SnippetFile]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let stored: Vec<StoredFile<'_>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| StoredFile {
            name: f.name.as_str().into(),
            language: f.language.as_str().into(),
            code: if i == 0 {
                "".into()
            } else {
                f.code.as_str().into()
            },
        })
        .collect();
    Some(serde_json::to_string(&stored).expect("files serialize"))
}

/// The files a `files` column holds, the first one's code being `first_code`.
pub fn files_from_column(
    column: &str,
    first_code: &str,
) -> Result<Vec<SnippetFile>, serde_json::Error> {
    let stored: Vec<StoredFile<'_>> = serde_json::from_str(column)?;
    Ok(stored
        .into_iter()
        .enumerate()
        .map(|(i, f)| SnippetFile {
            name: f.name.into_owned(),
            language: f.language.into_owned(),
            code: if i == 0 {
                first_code.to_owned()
            } else {
                f.code.into_owned()
            },
        })
        .collect())
}

/// Checks a snippet's files: 1 to `FILES_MAX`, each with a name, and its language and code
/// as a snippet's, all the code together at most `FILES_TOTAL_BYTES`. Names and languages
/// come back trimmed.
pub fn check_files(mut files: Vec<SnippetFile>, limits: &Limits) -> Checked<Vec<SnippetFile>> {
    if files.is_empty() || files.len() > FILES_MAX {
        return Err(ValidationError::new(
            "files",
            format!("files must hold 1 to {FILES_MAX} files"),
        ));
    }
    let mut total = 0usize;
    for (i, file) in files.iter_mut().enumerate() {
        let field = |name: &str| format!("files.{i}.{name}");
        check_text(&field("name"), &file.name, FILE_NAME_MAX_CHARS)?;
        file.name = file.name.trim().to_owned();
        check_text(&field("language"), &file.language, limits.language_chars)?;
        file.language = file.language.trim().to_owned();
        if file.code.is_empty() || file.code.len() > limits.code_bytes {
            return Err(ValidationError::new(
                &field("code"),
                format!("a file's code must be 1 to {} bytes", limits.code_bytes),
            ));
        }
        check_no_nul(&field("code"), &file.code)?;
        total += file.code.len();
    }
    if total > FILES_TOTAL_BYTES {
        return Err(ValidationError::new(
            "files",
            format!("the files' code must be at most {FILES_TOTAL_BYTES} bytes in all"),
        ));
    }
    Ok(files)
}

/// Every file's code after the first, each headed by its name: what search, embeddings and
/// the secret check read besides `code`.
pub fn other_files_text(files: &[SnippetFile]) -> String {
    let mut text = String::new();
    for f in files.iter().skip(1) {
        text.push('\n');
        text.push_str(&f.name);
        text.push('\n');
        text.push_str(&f.code);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, code: &str) -> SnippetFile {
        SnippetFile {
            name: name.into(),
            language: "rust".into(),
            code: code.into(),
        }
    }

    #[test]
    fn the_column_leaves_out_the_first_code_and_gets_it_back() {
        let files = vec![file("a.rs", "fn a() {}"), file("b.rs", "fn b() {}")];
        let column = files_column(&files).unwrap();
        assert!(!column.contains("fn a()"), "{column}");
        assert_eq!(files_from_column(&column, "fn a() {}").unwrap(), files);
        assert_eq!(files_column(&[]), None);
    }

    #[test]
    fn files_are_checked_like_code_and_named() {
        let limits = Limits::default();
        assert!(check_files(vec![], &limits).is_err());
        let unnamed = check_files(vec![file("a", "x"), file(" ", "y")], &limits).unwrap_err();
        assert_eq!(unnamed.field, "files.1.name");
        let empty = check_files(vec![file("a", "x"), file("b", "")], &limits).unwrap_err();
        assert_eq!(empty.field, "files.1.code");
        let many = (0..=FILES_MAX).map(|i| file(&i.to_string(), "x")).collect();
        assert_eq!(check_files(many, &limits).unwrap_err().field, "files");
        let big = "x".repeat(limits.code_bytes);
        let five = (0..5).map(|i| file(&i.to_string(), &big)).collect();
        assert_eq!(check_files(five, &limits).unwrap_err().field, "files");
        let ok = check_files(vec![file(" a ", "x")], &limits).unwrap();
        assert_eq!(ok[0].name, "a");
    }
}
