//! The streaming parts every JSON format shares: a visitor that hands each array element on
//! as soon as it is read, an object read in its key order, and the mapping of `serde_json`'s
//! errors to [`ImportError`].

use std::cell::Cell;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;

use crate::{ImportError, Item};

/// The most JSON text read for one entry (from the end of the one before): a snippet holds
/// at most 4 MiB of code, which JSON's escapes may double. Parsed, an entry can take several
/// times its text (a list of millions of one-letter strings, say), so this bounds what one
/// import holds whatever its file; a larger entry refuses the file, before anything is saved.
pub const ENTRY_MAX_BYTES: u64 = 8 << 20;

thread_local! {
    /// Bytes read since the last entry was handed over (a pass runs on one thread).
    static SINCE_ENTRY: Cell<u64> = const { Cell::new(0) };
}

const TOO_LARGE: &str = "an entry larger than ENTRY_MAX_BYTES";

/// Starts a new entry's share of the file (for a reader that passes over parts that are no
/// entry, such as the history lines of this service's own export).
pub(crate) fn next_entry() {
    SINCE_ENTRY.set(0);
}

/// Whether a read failed because one entry was too large.
pub(crate) fn too_large(e: &io::Error) -> bool {
    e.to_string().contains(TOO_LARGE)
}

/// A file read with every entry's share of it bounded (see `ENTRY_MAX_BYTES`).
pub(crate) struct Bounded {
    file: fs::File,
    bounded: bool,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if self.bounded {
            let since = SINCE_ENTRY.get() + n as u64;
            SINCE_ENTRY.set(since);
            if since > ENTRY_MAX_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, TOO_LARGE));
            }
        }
        Ok(n)
    }
}

/// Opens the file buffered, past a UTF-8 byte order mark (editors on Windows write one, and
/// `serde_json` refuses it), each entry's share of it bounded.
pub(crate) fn open(path: &Path) -> Result<BufReader<Bounded>, ImportError> {
    open_as(path, true)
}

/// `open`, for a pass that keeps no entry (massCode's lookup of folders and tags).
pub(crate) fn open_unbounded(path: &Path) -> Result<BufReader<Bounded>, ImportError> {
    open_as(path, false)
}

fn open_as(path: &Path, bounded: bool) -> Result<BufReader<Bounded>, ImportError> {
    SINCE_ENTRY.set(0);
    let file = fs::File::open(path)?;
    let mut reader = BufReader::new(Bounded { file, bounded });
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(reader)
}

/// Parses one JSON value from `reader` through `seed`, refusing anything after it.
pub(crate) fn drive<R, S>(reader: R, seed: S) -> Result<(), serde_json::Error>
where
    R: Read,
    S: for<'de> DeserializeSeed<'de, Value = ()>,
{
    let mut de = serde_json::Deserializer::from_reader(reader);
    seed.deserialize(&mut de)?;
    de.end()
}

/// Where items go: the caller's callback, with the count and whether it asked to stop.
pub(crate) struct Sink<'a> {
    each: &'a mut dyn FnMut(Item) -> Result<(), ()>,
    count: u64,
    stopped: bool,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(each: &'a mut dyn FnMut(Item) -> Result<(), ()>) -> Self {
        Sink {
            each,
            count: 0,
            stopped: false,
        }
    }

    /// The index of the next item: every entry of the source yields exactly one item.
    pub(crate) fn next_index(&self) -> u64 {
        self.count
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// Hands `item` over. The error is only a message to unwind the deserializer with;
    /// [`Sink::finish`] turns it back into [`ImportError::Stopped`].
    pub(crate) fn emit(&mut self, item: Item) -> Result<(), String> {
        self.count += 1;
        SINCE_ENTRY.set(0);
        (self.each)(item).map_err(|()| {
            self.stopped = true;
            "stopped by the caller".to_owned()
        })
    }

    /// Classifies a parse's outcome; `expects` says what the format's file looks like.
    pub(crate) fn finish(
        &self,
        result: Result<(), serde_json::Error>,
        expects: &str,
    ) -> Result<(), ImportError> {
        let Err(e) = result else { return Ok(()) };
        if self.stopped {
            return Err(ImportError::Stopped);
        }
        Err(match e.classify() {
            Category::Io if e.to_string().contains(TOO_LARGE) => ImportError::Shape(format!(
                "entry {} is more than {} MiB of JSON; a snippet holds at most 4 MiB of code",
                self.count,
                ENTRY_MAX_BYTES >> 20
            )),
            Category::Io => ImportError::Io(e.into()),
            Category::Syntax | Category::Eof => ImportError::Syntax(e.to_string()),
            Category::Data => ImportError::Shape(format!("{expects}: {e}")),
        })
    }
}

/// Reads a JSON array, calling `each` with every element as soon as it is deserialized.
pub(crate) struct Each<'a, T, F> {
    expecting: &'static str,
    each: &'a mut F,
    element: PhantomData<fn() -> T>,
}

impl<'a, T, F> Each<'a, T, F> {
    pub(crate) fn new(expecting: &'static str, each: &'a mut F) -> Self {
        Each {
            expecting,
            each,
            element: PhantomData,
        }
    }
}

impl<'de, T, F> DeserializeSeed<'de> for Each<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), String>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T, F> Visitor<'de> for Each<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), String>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            (self.each)(element).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// Reads either one object or an array of them, calling `each` with every object.
pub(crate) struct OneOrMany<'a, T, F>(pub(crate) Each<'a, T, F>);

impl<'de, T, F> DeserializeSeed<'de> for OneOrMany<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), String>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T, F> Visitor<'de> for OneOrMany<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), String>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.expecting)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let one = T::deserialize(MapAccessDeserializer::new(map))?;
        (self.0.each)(one).map_err(de::Error::custom)
    }
}

/// A JSON object's entries in the file's order (`serde_json::Map` sorts its keys unless the
/// whole build turns on `preserve_order`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ordered<T>(pub(crate) Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<fn() -> T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = Ordered<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}
