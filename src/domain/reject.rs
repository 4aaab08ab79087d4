//! Why an input was refused: the reason codes and the rejection carrying the human
//! reason. Codes are stable API: each is the last token of a rejection subject.

use std::fmt;

/// Why an input was refused. The code is the last token of the rejection subject
/// `neighbourhood.rejected.<code>`, so codes are stable API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectCode {
    TooLarge,
    NotUtf8,
    InvalidJson,
    DuplicateMember,
    NotObject,
    UnknownType,
    UnsupportedSchemaVersion,
    SchemaViolation,
    BadTimestamp,
    UnknownLpa,
    UnknownReason,
    SubjectMismatch,
    InvalidInterval,
    EventIdConflict,
    ImplausibleInterval,
    ImplausibleTime,
}

impl RejectCode {
    pub const ALL: [RejectCode; 16] = [
        RejectCode::TooLarge,
        RejectCode::NotUtf8,
        RejectCode::InvalidJson,
        RejectCode::DuplicateMember,
        RejectCode::NotObject,
        RejectCode::UnknownType,
        RejectCode::UnsupportedSchemaVersion,
        RejectCode::SchemaViolation,
        RejectCode::BadTimestamp,
        RejectCode::UnknownLpa,
        RejectCode::UnknownReason,
        RejectCode::SubjectMismatch,
        RejectCode::InvalidInterval,
        RejectCode::EventIdConflict,
        RejectCode::ImplausibleInterval,
        RejectCode::ImplausibleTime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::TooLarge => "too_large",
            RejectCode::NotUtf8 => "not_utf8",
            RejectCode::InvalidJson => "invalid_json",
            RejectCode::DuplicateMember => "duplicate_member",
            RejectCode::NotObject => "not_object",
            RejectCode::UnknownType => "unknown_type",
            RejectCode::UnsupportedSchemaVersion => "unsupported_schema_version",
            RejectCode::SchemaViolation => "schema_violation",
            RejectCode::BadTimestamp => "bad_timestamp",
            RejectCode::UnknownLpa => "unknown_lpa",
            RejectCode::UnknownReason => "unknown_reason",
            RejectCode::SubjectMismatch => "subject_mismatch",
            RejectCode::InvalidInterval => "invalid_interval",
            RejectCode::EventIdConflict => "event_id_conflict",
            RejectCode::ImplausibleInterval => "implausible_interval",
            RejectCode::ImplausibleTime => "implausible_time",
        }
    }

    pub fn parse(s: &str) -> Option<RejectCode> {
        RejectCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: RejectCode,
    /// Human text for the `Rejection-Reason` header: says what to fix.
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// A logged event that no longer decodes: a future bug or a damaged disk, since the door
/// accepts only what the store's reader reads (`wire::decode`). Its entity is folded
/// without it, so the rest keeps counting; it is named in the data-quality section and
/// by a metric until a `rebuild` with a reader that decodes it (or `serve --recover`,
/// which re-reads the stream) clears it. Aggregates only: no officer id, no free text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Unreadable {
    pub lpa: String,
    /// `shift` or `abstraction`.
    pub entity_kind: String,
    pub entity_id: String,
    /// From the log key, so known even when the bytes are not.
    pub event_id: String,
    /// Why it does not decode (the reader's error, with no event content).
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in RejectCode::ALL {
            assert_eq!(RejectCode::parse(c.as_str()), Some(c));
        }
    }
}
