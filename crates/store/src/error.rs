//! Store errors: what went wrong talking to the database or reading back what it holds.
//! Never carries payload contents or secrets, only what failed.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored {what} is corrupt: {message}")]
    Corrupt { what: &'static str, message: String },
    #[error("data directory {0}")]
    DataDir(String),
    #[error("invalid cursor")]
    InvalidCursor,
    /// A settings change was made against a version that is no longer the current one.
    #[error("{kind} is at version {current}, not {expected}: someone changed it meanwhile")]
    Conflict {
        kind: String,
        expected: u32,
        current: u32,
    },
    /// The transaction collided with another instance's (a key taken meanwhile, a deadlock,
    /// a serialization failure): nothing of it was written, and running it again may succeed.
    #[error("contention with a concurrent transaction: {0}")]
    Contention(String),
}

impl StoreError {
    pub(crate) fn corrupt(what: &'static str, e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            what,
            message: e.to_string(),
        }
    }
}
