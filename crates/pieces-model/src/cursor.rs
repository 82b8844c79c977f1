//! Where a caller's merged change stream stands: a position in each log it follows (its
//! personal workspace's and each team workspace's). The event ids a stream gives out are
//! this cursor as text, so resuming from one resumes every log exactly: no gap, no
//! duplicate. A caller with only a personal workspace gets the same bare numbers as before
//! workspaces existed, and a bare number still resumes.

use std::collections::BTreeMap;

use super::bounds::EVENT_ID_MAX_DIGITS;
use super::workspace::is_team_key;

/// The longest cursor a client may send back (a caller in many workspaces has a long one);
/// it bounds what reading one holds, whatever it names.
pub const CURSOR_MAX_BYTES: usize = 16 * 1024;
/// The pattern of a cursor, for the API description.
pub const CURSOR_PATTERN: &str = "^([0-9]{1,18}(,ws_[0-9A-Za-z_]{1,61}:[0-9]{1,18})*)?$";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCursor {
    /// The last event taken from the caller's personal log.
    pub personal: i64,
    /// The last event taken from each team workspace's log, by its key.
    pub teams: BTreeMap<String, i64>,
}

impl StreamCursor {
    /// Reads `7` or `7,ws_…:12,ws_…:3`; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > CURSOR_MAX_BYTES {
            return None;
        }
        let mut parts = text.split(',');
        let personal = number(parts.next()?)?;
        let mut teams = BTreeMap::new();
        for part in parts {
            let (key, seq) = part.rsplit_once(':')?;
            let well_formed = key.len() <= 64
                && key[3.min(key.len())..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !is_team_key(key) || !well_formed || key.len() == 3 {
                return None;
            }
            teams.insert(key.to_owned(), number(seq)?);
        }
        Some(Self { personal, teams })
    }

    /// The cursor as an event id.
    pub fn to_id(&self) -> String {
        let mut id = self.personal.to_string();
        for (key, seq) in &self.teams {
            id.push(',');
            id.push_str(key);
            id.push(':');
            id.push_str(&seq.to_string());
        }
        id
    }
}

/// A non-negative position of at most `EVENT_ID_MAX_DIGITS` digits (any fits an `i64`).
fn number(text: &str) -> Option<i64> {
    if text.is_empty()
        || text.len() > EVENT_ID_MAX_DIGITS
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_a_bare_number_is_a_personal_one() {
        let mut cursor = StreamCursor {
            personal: 7,
            ..StreamCursor::default()
        };
        assert_eq!(cursor.to_id(), "7");
        assert_eq!(StreamCursor::parse("7"), Some(cursor.clone()));
        cursor.teams.insert("ws_b".into(), 3);
        cursor.teams.insert("ws_a".into(), 12);
        assert_eq!(cursor.to_id(), "7,ws_a:12,ws_b:3");
        assert_eq!(StreamCursor::parse(&cursor.to_id()), Some(cursor));
        for bad in [
            "",
            "x",
            "-1",
            "7,alice:3",
            "7,ws_a",
            "7,ws_a:",
            "7,ws_a:x",
            "1234567890123456789",
        ] {
            assert_eq!(StreamCursor::parse(bad), None, "{bad}");
        }
    }
}
