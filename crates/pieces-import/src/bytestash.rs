//! `bytestash`: ByteStash's JSON export, `{version, exported_at, snippets: [...]}`.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::fields::{self, ImportMeta};
use crate::stream::{self, Each, Sink};
use crate::{Entry, File, ImportError, Item};

const EXPECTS: &str = "a `bytestash` import is ByteStash's export: an object with a string \
    `version` and a `snippets` array whose items have `id`, `title`, `fragments` and \
    `categories`";

#[derive(Deserialize)]
struct Snippet {
    /// An integer in ByteStash's store; read as any JSON value so a string id works too.
    id: Value,
    title: String,
    description: Option<String>,
    updated_at: Option<String>,
    username: Option<String>,
    is_public: Option<Value>,
    is_pinned: Option<Value>,
    is_favorite: Option<Value>,
    share_count: Option<Value>,
    #[serde(default)]
    categories: Vec<String>,
    fragments: Vec<Fragment>,
}

#[derive(Deserialize)]
struct Fragment {
    file_name: Option<String>,
    #[serde(default)]
    code: String,
    language: Option<String>,
    position: Option<i64>,
}

pub(crate) fn read(path: &Path, sink: &mut Sink) -> Result<(), ImportError> {
    let reader = stream::open(path)?;
    let result = stream::drive(reader, Export { sink: &mut *sink });
    sink.finish(result, EXPECTS)
}

struct Export<'a, 'b> {
    sink: &'a mut Sink<'b>,
}

impl<'de> DeserializeSeed<'de> for Export<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Export<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByteStash's export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.sink;
        let (mut version, mut snippets) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => {
                    map.next_value::<String>()?;
                    version = true;
                }
                "snippets" => {
                    let mut each = |s: Snippet| sink.emit(item(sink.next_index(), s));
                    map.next_value_seed(Each::new("an array of snippets", &mut each))?;
                    snippets = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // ByteStash's own import refuses a file without both.
        if !version {
            return Err(de::Error::missing_field("version"));
        }
        if !snippets {
            return Err(de::Error::missing_field("snippets"));
        }
        Ok(())
    }
}

fn item(index: u64, snippet: Snippet) -> Item {
    let id = match &snippet.id {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let source_key = match &snippet.username {
        // Ids are per ByteStash instance and user: the username tells two exports apart.
        Some(user) => format!("bytestash:{user}:{id}"),
        None => format!("bytestash:{id}"),
    };
    let mut fragments = snippet.fragments;
    // Stable: fragments without a position keep their order, after the others.
    fragments.sort_by_key(|f| f.position.unwrap_or(i64::MAX));
    let files = fragments
        .into_iter()
        .map(|f| File {
            name: f.file_name.unwrap_or_default(),
            language: fields::language(f.language.as_deref(), &[]),
            code: f.code,
        })
        .collect();
    let metadata = ImportMeta::new("bytestash")
        .with("id", snippet.id)
        .with("username", snippet.username)
        .with("is_public", snippet.is_public)
        .with("is_pinned", snippet.is_pinned)
        .with("is_favorite", snippet.is_favorite)
        .with("share_count", snippet.share_count)
        .with("updated_at", snippet.updated_at)
        .into_metadata();
    Item::Entry(Entry {
        index,
        source_key,
        id: None,
        title: snippet.title,
        description: fields::non_blank(snippet.description),
        tags: snippet.categories,
        files,
        metadata,
        created_at: None,
        updated_at: None,
        version: None,
    })
}
