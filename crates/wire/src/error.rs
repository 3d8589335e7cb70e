//! What a conversion can fail with. The gateway maps each kind onto its own error (and the
//! client's error format); nothing here knows about HTTP statuses.

/// Why a body could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not valid for the format it claims (bad JSON, missing field...).
    #[error("{0}")]
    InvalidRequest(String),
    /// Valid, but uses something that cannot be expressed in the target format.
    #[error("{0}")]
    Untranslatable(String),
    /// A provider answer or an internal value that cannot be converted (a bug or a
    /// provider out of spec); the detail is for the log, not the client.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, WireError>;
