//! `masscode`: massCode v3's `db.json`, `{folders, snippets, tags}`. Tags and folders may
//! come after the snippets, so the file is read twice: once for them (they are small), then
//! for the snippets one at a time.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::fields::{self, ImportMeta};
use crate::stream::{self, Each, Sink};
use crate::{Entry, File, ImportError, Item};

const EXPECTS: &str = "a `masscode` import is massCode's `db.json`: an object with `folders`, \
    `snippets` and `tags` arrays, each snippet with `id`, `name` and `content`";

/// massCode's editor ids that differ from the names used here.
const ALIASES: &[(&str, &str)] = &[
    ("plain_text", "plaintext"),
    ("golang", "go"),
    ("c_cpp", "cpp"),
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Folder {
    id: String,
    name: String,
    parent_id: Option<String>,
    default_language: Option<String>,
}

#[derive(Deserialize)]
struct Tag {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Snippet {
    id: String,
    #[serde(default)]
    name: String,
    description: Option<String>,
    #[serde(default)]
    is_deleted: bool,
    is_favorites: Option<bool>,
    folder_id: Option<String>,
    #[serde(default)]
    tags_ids: Vec<String>,
    #[serde(default)]
    content: Vec<Content>,
    created_at: Option<Value>,
    updated_at: Option<Value>,
}

#[derive(Deserialize)]
struct Content {
    label: Option<String>,
    language: Option<String>,
    #[serde(default)]
    value: String,
}

/// What the first pass keeps.
#[derive(Default)]
struct Lookup {
    folders: HashMap<String, Folder>,
    tags: HashMap<String, String>,
}

pub(crate) fn read(path: &Path, sink: &mut Sink) -> Result<(), ImportError> {
    let mut lookup = Lookup::default();
    let first = stream::drive(stream::open_unbounded(path)?, Pass::Lookup(&mut lookup));
    sink.finish(first, EXPECTS)?;
    let second = stream::drive(stream::open(path)?, Pass::Snippets(&lookup, &mut *sink));
    sink.finish(second, EXPECTS)
}

enum Pass<'a, 'b> {
    Lookup(&'a mut Lookup),
    Snippets(&'a Lookup, &'a mut Sink<'b>),
}

impl<'de> DeserializeSeed<'de> for Pass<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pass<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("massCode's db.json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut snippets = false;
        match self {
            Pass::Lookup(lookup) => {
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "folders" => {
                            let mut keep = |f: Folder| {
                                lookup.folders.insert(f.id.clone(), f);
                                Ok(())
                            };
                            map.next_value_seed(Each::new("an array of folders", &mut keep))?;
                        }
                        "tags" => {
                            let mut keep = |t: Tag| {
                                lookup.tags.insert(t.id, t.name);
                                Ok(())
                            };
                            map.next_value_seed(Each::new("an array of tags", &mut keep))?;
                        }
                        _ => {
                            snippets |= key == "snippets";
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
            }
            Pass::Snippets(lookup, sink) => {
                while let Some(key) = map.next_key::<String>()? {
                    if key == "snippets" {
                        let mut each = |s: Snippet| sink.emit(item(sink.next_index(), s, lookup));
                        map.next_value_seed(Each::new("an array of snippets", &mut each))?;
                        snippets = true;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        if !snippets {
            return Err(de::Error::missing_field("snippets"));
        }
        Ok(())
    }
}

fn item(index: u64, snippet: Snippet, lookup: &Lookup) -> Item {
    let source_key = format!("masscode:{}", snippet.id);
    if snippet.is_deleted {
        return Item::Skipped {
            index,
            source_key: Some(source_key),
            detail: "in massCode's trash (`isDeleted`)".to_owned(),
        };
    }
    let folder = snippet
        .folder_id
        .as_deref()
        .and_then(|id| lookup.folders.get(id));
    let default_language = folder.and_then(|f| f.default_language.as_deref());
    let files = snippet
        .content
        .into_iter()
        .map(|c| {
            let given = c.language.as_deref().filter(|l| !l.trim().is_empty());
            File {
                name: c.label.unwrap_or_default(),
                language: fields::language(given.or(default_language), ALIASES),
                code: c.value,
            }
        })
        .collect();
    let tags = snippet
        .tags_ids
        .iter()
        .filter_map(|id| lookup.tags.get(id).cloned())
        .collect();
    let metadata = ImportMeta::new("masscode")
        .with("id", snippet.id.as_str())
        .with("folder", folder.map(|f| folder_path(f, &lookup.folders)))
        .with("favorite", snippet.is_favorites)
        .with("createdAt", snippet.created_at)
        .with("updatedAt", snippet.updated_at)
        .into_metadata();
    Item::Entry(Entry {
        index,
        source_key,
        id: None,
        title: snippet.name,
        description: fields::non_blank(snippet.description),
        tags,
        files,
        metadata,
        created_at: None,
        updated_at: None,
        version: None,
    })
}

/// `Go/HTTP`: the folder's path from the root. A parent that is missing, or a loop of
/// parents, ends the path there.
fn folder_path(folder: &Folder, folders: &HashMap<String, Folder>) -> String {
    let mut names = vec![folder.name.as_str()];
    let mut parent = folder.parent_id.as_deref();
    while let Some(f) = parent.and_then(|id| folders.get(id)) {
        if names.len() > folders.len() {
            break;
        }
        names.push(&f.name);
        parent = f.parent_id.as_deref();
    }
    names.reverse();
    names.join("/")
}
