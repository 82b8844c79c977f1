//! `pieces`: one Pieces OS `Asset` record (as the export tool stores it at
//! `data/assets/<key>.json`), or an `Assets` collection `{"iterable": [Asset, ...]}`.

use std::fmt;
use std::path::Path;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use crate::fields::{self, ImportMeta};
use crate::stream::{self, Each, Sink};
use crate::{Entry, File, ImportError, Item};

const EXPECTS: &str = "a `pieces` import is one asset record or an `{\"iterable\": [...]}` \
    collection of assets, each with `id`, `formats` and `original`";

/// Pieces classifies code by extension.
const ALIASES: &[(&str, &str)] = &[
    ("py", "python"),
    ("ts", "typescript"),
    ("js", "javascript"),
    ("rs", "rust"),
    ("md", "markdown"),
    ("yml", "yaml"),
];

#[derive(Deserialize)]
struct Asset {
    id: String,
    #[serde(default)]
    name: String,
    favorited: Option<bool>,
    #[serde(default)]
    pseudo: bool,
    mechanism: Option<String>,
    created: Option<Stamp>,
    updated: Option<Stamp>,
    formats: Iterable<Format>,
    original: Original,
    tags: Option<Iterable<Tag>>,
    annotations: Option<Iterable<Annotation>>,
    websites: Option<Iterable<Website>>,
}

#[derive(Deserialize)]
struct Iterable<T> {
    #[serde(default = "Vec::new")]
    iterable: Vec<T>,
}

#[derive(Deserialize)]
struct Stamp {
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Original {
    id: String,
    /// The same format again, when the record carries it.
    reference: Option<Format>,
}

#[derive(Deserialize)]
struct Format {
    id: String,
    classification: Option<Value>,
    fragment: Option<Content>,
    file: Option<Content>,
}

#[derive(Deserialize)]
struct Content {
    string: Option<Raw>,
    /// Binary content (an image), skipped without being kept.
    bytes: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Raw {
    raw: String,
}

#[derive(Deserialize)]
struct Tag {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Annotation {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct Website {
    url: Option<String>,
}

pub(crate) fn read(path: &Path, sink: &mut Sink) -> Result<(), ImportError> {
    let reader = stream::open(path)?;
    let result = stream::drive(reader, Record { sink: &mut *sink });
    sink.finish(result, EXPECTS)
}

struct Record<'a, 'b> {
    sink: &'a mut Sink<'b>,
}

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an asset or an `Assets` collection")
    }

    /// A collection's assets are handed on one at a time; a lone record's fields are kept
    /// until the end shows it is not a collection (it is one entry).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.sink;
        let mut record = Map::new();
        let mut collection = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "iterable" {
                let mut each = |a: Asset| sink.emit(item(sink.next_index(), a));
                map.next_value_seed(Each::new("an array of assets", &mut each))?;
                collection = true;
            } else if collection {
                map.next_value::<IgnoredAny>()?;
            } else {
                record.insert(key, map.next_value()?);
            }
        }
        if collection {
            return Ok(());
        }
        let asset = Asset::deserialize(Value::Object(record)).map_err(de::Error::custom)?;
        sink.emit(item(sink.next_index(), asset))
            .map_err(de::Error::custom)
    }
}

fn item(index: u64, mut asset: Asset) -> Item {
    let source_key = format!("pieces:{}", asset.id);
    if asset.pseudo {
        return Item::Skipped {
            index,
            source_key: Some(source_key),
            detail: "not saved by the user (`pseudo: true`)".to_owned(),
        };
    }
    match file(&mut asset) {
        Ok(file) => Item::Entry(entry(index, source_key, asset, file)),
        Err((field, detail)) => Item::Failed {
            index,
            field: field.to_owned(),
            detail,
        },
    }
}

/// The one file, its text moved out of the original format; the other formats are
/// renditions of the same content.
fn file(asset: &mut Asset) -> Result<File, (&'static str, String)> {
    let original = &mut asset.original;
    let format = asset
        .formats
        .iterable
        .iter_mut()
        .find(|f| f.id == original.id)
        .or(original.reference.as_mut())
        .ok_or_else(|| {
            let id = &original.id;
            (
                "files",
                format!("the original format `{id}` is not among the asset's formats"),
            )
        })?;
    let text = [&mut format.fragment, &mut format.file]
        .into_iter()
        .flatten()
        .find_map(|c| c.string.take());
    let Some(text) = text else {
        let kind = specific(format).unwrap_or("binary");
        let binary = [&format.fragment, &format.file]
            .into_iter()
            .flatten()
            .any(|c| c.bytes.is_some());
        let what = if binary {
            "holds only bytes"
        } else {
            "holds no content"
        };
        return Err((
            "code",
            format!("the original format ({kind}) {what}: no text to store"),
        ));
    };
    Ok(File {
        name: asset.name.clone(),
        language: fields::language(specific(format), ALIASES),
        code: text.raw,
    })
}

fn specific(format: &Format) -> Option<&str> {
    format.classification.as_ref()?.get("specific")?.as_str()
}

fn entry(index: u64, source_key: String, asset: Asset, file: File) -> Entry {
    let description = asset.annotations.and_then(|a| {
        a.iterable
            .into_iter()
            .find(|a| a.kind.as_deref() == Some("DESCRIPTION"))
            .and_then(|a| a.text)
    });
    let tags = asset
        .tags
        .map(|t| t.iterable.into_iter().filter_map(|t| t.text).collect())
        .unwrap_or_default();
    let websites: Option<Vec<String>> = asset
        .websites
        .map(|w| w.iterable.into_iter().filter_map(|w| w.url).collect());
    let others: Vec<Value> = asset
        .formats
        .iterable
        .iter()
        .filter(|f| f.id != asset.original.id)
        .map(|f| json!({"id": f.id, "classification": f.classification}))
        .collect();
    let metadata = ImportMeta::new("pieces")
        .with("id", asset.id.as_str())
        .with("favorited", asset.favorited)
        .with("mechanism", asset.mechanism)
        .with("websites", websites)
        .with("created", asset.created.and_then(|s| s.value))
        .with("updated", asset.updated.and_then(|s| s.value))
        .with("formats", others)
        .into_metadata();
    Entry {
        index,
        source_key,
        id: None,
        title: asset.name,
        description: fields::non_blank(description),
        tags,
        files: vec![file],
        metadata,
        created_at: None,
        updated_at: None,
        version: None,
    }
}
