//! What a decoder refuses, and why: the size limit every record is held to, and the one error
//! type of every codec.

/// Largest record, binary or JSON, this build decodes.
pub const RECORD_BYTES_MAX: usize = 1 << 20;

/// Why bytes could not be decoded. Every variant names what was wrong; none of them panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the record is empty")]
    Empty,
    #[error("the record is {size} bytes; at most {max} are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("unknown format tag 0x{tag:02x}; this build reads 0x01 (bincode v1)")]
    UnknownFormat { tag: u8 },
    #[error("the record ends early, inside the {what}")]
    Truncated { what: String },
    #[error("malformed {what}: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{count} bytes left over after the {what}")]
    TrailingBytes { what: String, count: usize },
    #[error(
        "the event's stored hash {stored} does not match its content, which hashes to {computed}"
    )]
    HashMismatch { stored: String, computed: String },
    #[error("unknown message type '{type_name}'")]
    UnknownType { type_name: String },
    #[error("{type_name} at schema version {version} cannot be read by this build, which reads up to version {current}")]
    UnsupportedVersion {
        type_name: String,
        version: u16,
        current: u16,
    },
    #[error("{type_name} is a {found} type where a {expected} was expected")]
    WrongKind {
        type_name: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "unknown content type '{content_type}'; expected application/json or application/x-bincode"
    )]
    UnknownContentType { content_type: String },
    #[error(
        "invalid JSON at line {line}, column {column}{}: {reason}",
        at_path(path)
    )]
    Json {
        line: usize,
        column: usize,
        /// The JSON path of the field at fault (`payload.lines[0].quantity`); empty when the
        /// document itself is at fault.
        path: String,
        reason: String,
    },
}

fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(", field `{path}`")
    }
}

impl DecodeError {
    /// The JSON path of the field at fault, when a JSON document was.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Json { path, .. } if !path.is_empty() => Some(path),
            _ => None,
        }
    }

    /// A stable snake_case code for dead-letter records and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::UnknownFormat { .. } => "unknown_format",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::Malformed { .. } => "malformed",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
            DecodeError::HashMismatch { .. } => "hash_mismatch",
            DecodeError::UnknownType { .. } => "unknown_type",
            DecodeError::UnsupportedVersion { .. } => "unsupported_version",
            DecodeError::WrongKind { .. } => "wrong_kind",
            DecodeError::UnknownContentType { .. } => "unknown_content_type",
            DecodeError::Json { .. } => "invalid_json",
        }
    }
}

/// Refuses an empty record and one over [`RECORD_BYTES_MAX`].
pub(crate) fn check_size(bytes: &[u8]) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > RECORD_BYTES_MAX {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            max: RECORD_BYTES_MAX,
        });
    }
    Ok(())
}
