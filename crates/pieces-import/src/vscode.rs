//! `vscode`: a VS Code snippet file, an object keyed by snippet name, read in the file's
//! order; comments and trailing commas are allowed as VS Code allows them. An entry without
//! `body` is a group of snippets, read one level down as VS Code does.

use std::fmt;
use std::path::Path;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::fields::{self, ImportMeta};
use crate::jsonc::Jsonc;
use crate::stream::{self, Sink};
use crate::{Entry, File, ImportError, Item, Options};

const EXPECTS: &str = "a `vscode` import is a snippet file: a JSON object keyed by snippet \
    name, each with `prefix` and `body` (VS Code ignores a file whose top level is anything \
    else)";

/// Fields kept in `metadata.import` as the file gives them.
const KEPT: &[&str] = &["prefix", "isFileTemplate", "include", "exclude"];

pub(crate) fn read(path: &Path, options: &Options, sink: &mut Sink) -> Result<(), ImportError> {
    let reader = Jsonc::new(stream::open(path)?);
    let result = stream::drive(reader, TopLevel { options, sink });
    sink.finish(result, EXPECTS)
}

struct TopLevel<'a, 'b> {
    options: &'a Options,
    sink: &'a mut Sink<'b>,
}

impl<'de> de::DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by snippet name")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value::<Node>()? {
                Node::Object(fields) => match Kind::of(fields) {
                    Kind::Group(snippets) => {
                        for (child, fields) in snippets {
                            self.emit(&child, fields).map_err(de::Error::custom)?;
                        }
                    }
                    Kind::Snippet(fields) => {
                        self.emit(&name, fields).map_err(de::Error::custom)?;
                    }
                },
                Node::Other => {
                    let index = self.sink.next_index();
                    let detail = format!("`{name}` is neither a snippet nor a group of snippets");
                    let item = failed(index, detail);
                    self.sink.emit(item).map_err(de::Error::custom)?;
                }
            }
        }
        Ok(())
    }
}

impl TopLevel<'_, '_> {
    fn emit(&mut self, name: &str, fields: Map<String, Value>) -> Result<(), String> {
        let index = self.sink.next_index();
        self.sink.emit(snippet(index, name, fields, self.options))
    }
}

/// What a top-level object is: an entry without `body` whose values are all objects is a
/// group of snippets; any other is a snippet, perhaps one that lacks its body.
enum Kind {
    Group(Vec<(String, Map<String, Value>)>),
    Snippet(Map<String, Value>),
}

impl Kind {
    fn of(fields: Vec<(String, Value)>) -> Kind {
        let has_body = fields.iter().any(|(key, _)| key == "body");
        if has_body || !fields.iter().all(|(_, value)| value.is_object()) {
            return Kind::Snippet(fields.into_iter().collect());
        }
        Kind::Group(
            fields
                .into_iter()
                .filter_map(|(name, value)| match value {
                    Value::Object(fields) => Some((name, fields)),
                    _ => None,
                })
                .collect(),
        )
    }
}

fn failed(index: u64, detail: String) -> Item {
    Item::Failed {
        index,
        field: "code".to_owned(),
        detail,
    }
}

fn snippet(index: u64, name: &str, mut fields: Map<String, Value>, options: &Options) -> Item {
    let code = match fields.remove("body") {
        Some(Value::String(body)) => Some(body),
        Some(Value::Array(lines)) => joined(&lines),
        Some(_) => None,
        None => return failed(index, format!("`{name}` has no `body`")),
    };
    let Some(code) = code else {
        let detail = format!("`{name}`: `body` is neither a string nor an array of strings");
        return failed(index, detail);
    };
    let scope: Option<Vec<String>> = fields.get("scope").and_then(Value::as_str).map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let first_scope = scope.as_ref().and_then(|s| s.first());
    let language = fields::language(
        first_scope
            .or(options.language.as_ref())
            .map(String::as_str),
        &[],
    );
    let description = match fields.get("description") {
        Some(Value::String(d)) => Some(d.clone()),
        Some(Value::Array(lines)) => joined(lines),
        _ => None,
    };
    let mut meta = ImportMeta::new("vscode").with("scope", scope);
    for key in KEPT {
        meta = meta.with(key, fields.remove(*key));
    }
    Item::Entry(Entry {
        index,
        source_key: format!("vscode:{name}"),
        id: None,
        title: name.to_owned(),
        description: fields::non_blank(description),
        tags: Vec::new(),
        files: vec![File {
            name: name.to_owned(),
            language,
            code,
        }],
        metadata: meta.into_metadata(),
        created_at: None,
        updated_at: None,
        version: None,
    })
}

/// VS Code joins an array of lines with `\n`; `None` if one is not a string.
fn joined(lines: &[Value]) -> Option<String> {
    let lines: Option<Vec<&str>> = lines.iter().map(Value::as_str).collect();
    lines.map(|l| l.join("\n"))
}

/// A top-level value: an object with its keys in the file's order (a group's snippets keep
/// theirs), or anything else, which VS Code passes over and the import reports as failed.
enum Node {
    Object(Vec<(String, Value)>),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snippet object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut fields = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            fields.push(entry);
        }
        Ok(Node::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Node::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
}
