//! Rules every source format shares: languages, optional text, `metadata.import`.

use serde_json::{Map, Value};

/// The language of an entry with none at all.
pub(crate) const PLAINTEXT: &str = "plaintext";

/// The source's language string trimmed and lower-cased, then renamed by `aliases` (where
/// the source uses an extension or its own id); none or blank gives `plaintext`.
pub(crate) fn language(raw: Option<&str>, aliases: &[(&str, &str)]) -> String {
    let lower = raw.map(str::trim).unwrap_or_default().to_lowercase();
    if lower.is_empty() {
        return PLAINTEXT.to_owned();
    }
    match aliases.iter().find(|(from, _)| *from == lower) {
        Some((_, to)) => (*to).to_owned(),
        None => lower,
    }
}

/// `None` for a missing or blank text: an empty description is no description.
pub(crate) fn non_blank(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// Builds `{"import": {"source": ..., "id": ..., ...}}`, leaving out what the source lacks.
pub(crate) struct ImportMeta(Map<String, Value>);

impl ImportMeta {
    pub(crate) fn new(source: &str) -> Self {
        let mut map = Map::new();
        map.insert("source".to_owned(), Value::from(source));
        ImportMeta(map)
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = value.into();
        if !value.is_null() {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    pub(crate) fn into_metadata(self) -> Map<String, Value> {
        let mut metadata = Map::new();
        metadata.insert("import".to_owned(), Value::Object(self.0));
        metadata
    }
}
