//! Database errors, classified once at the store's boundary: an outage the caller may retry,
//! a conflict with what is stored, or a fault (corrupt data, an unexpected refusal) that no
//! retry will mend and that must raise an alarm.

use sqlx::error::ErrorKind;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; a retry may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row conflicts with one already stored (a unique or foreign key constraint).
    #[error("conflicting row: {0}")]
    Conflict(String),
    /// The database refused a statement for a reason no retry mends (a check constraint,
    /// bad data, a bug in a query).
    #[error("statement refused: {0}")]
    Refused(String),
    /// What is stored cannot be read back as the model says it should be.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database refused the rows themselves, as opposed to being out of reach.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Conflict(_) | Self::Refused(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        let text = err.to_string();
        match &err {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation => Self::Conflict(text),
                _ if is_transient(db.code().as_deref()) => Self::Unavailable(text),
                _ => Self::Refused(text),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Configuration(_) => Self::Unavailable(text),
            sqlx::Error::Migrate(_) => Self::Unavailable(text),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Self::Corrupt(text),
            _ => Self::Refused(text),
        }
    }
}

/// Codes of errors that come from the database's state rather than the statement: SQLite's
/// busy and locked (with their extended codes, whose low byte is the primary code), out of
/// disk, I/O errors; PostgreSQL's classes 08 (connection), 53 (resources), 57 (operator
/// intervention: shutdown, cancel) and 40 (serialization failure, deadlock).
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    // A SQLSTATE has five characters; SQLite's codes, even extended, have at most four digits.
    if code.len() == 5 {
        return ["08", "53", "57", "40"]
            .iter()
            .any(|class| code.starts_with(class));
    }
    // SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14.
    code.parse::<u32>()
        .is_ok_and(|number| matches!(number & 0xff, 5 | 6 | 10 | 13 | 14))
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn state_errors_are_transient_and_statement_errors_are_not() {
        for code in ["5", "517", "6", "08006", "57P01", "40001", "53300"] {
            assert!(is_transient(Some(code)), "{code}");
        }
        for code in ["19", "2067", "23505", "22P02", "42703"] {
            assert!(!is_transient(Some(code)), "{code}");
        }
    }
}
