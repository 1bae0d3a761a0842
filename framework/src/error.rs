//! Maelstrom's error codes, as a typed error a handler can return.
//!
//! A handler returns `anyhow::Result<()>`. When the error is (or wraps) an
//! [`Error`], the framework replies with its code and text; any other error
//! becomes code 13 (crash). See `../shared/reference/maelstrom.md` for the table.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Maelstrom error code. Codes below 1000 are the protocol's own; codes
/// from 1000 up are free for applications and always indefinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the requested operation timed out; it may or may not have happened.
    Timeout,
    /// 1: the request was sent to a node that does not exist.
    NodeNotFound,
    /// 10: the node does not support this kind of request.
    NotSupported,
    /// 11: the operation cannot be performed right now (e.g. before `init`).
    TemporarilyUnavailable,
    /// 12: the request was malformed: missing or ill-typed fields.
    MalformedRequest,
    /// 13: the node crashed while handling the request; indefinite.
    Crash,
    /// 14: the operation was aborted and certainly did not happen.
    Abort,
    /// 20: the key does not exist.
    KeyDoesNotExist,
    /// 21: the key already exists.
    KeyAlreadyExists,
    /// 22: a precondition (e.g. a compare-and-set's expected value) failed.
    PreconditionFailed,
    /// 30: a transaction conflicted and was aborted.
    TxnConflict,
    /// Any other code: an application's own (≥ 1000) or one we do not know.
    Other(u32),
}

impl ErrorCode {
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
            ErrorCode::Other(code) => code,
        }
    }

    pub fn from_code(code: u32) -> ErrorCode {
        match code {
            0 => ErrorCode::Timeout,
            1 => ErrorCode::NodeNotFound,
            10 => ErrorCode::NotSupported,
            11 => ErrorCode::TemporarilyUnavailable,
            12 => ErrorCode::MalformedRequest,
            13 => ErrorCode::Crash,
            14 => ErrorCode::Abort,
            20 => ErrorCode::KeyDoesNotExist,
            21 => ErrorCode::KeyAlreadyExists,
            22 => ErrorCode::PreconditionFailed,
            30 => ErrorCode::TxnConflict,
            other => ErrorCode::Other(other),
        }
    }

    /// Whether an operation that failed with this code certainly did not
    /// happen. Timeouts, crashes and application codes leave it open.
    pub fn is_definite(self) -> bool {
        !matches!(
            self,
            ErrorCode::Timeout | ErrorCode::Crash | ErrorCode::Other(_)
        )
    }

    /// Maelstrom's name for the code, as in its documentation.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::NodeNotFound => "node-not-found",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TemporarilyUnavailable => "temporarily-unavailable",
            ErrorCode::MalformedRequest => "malformed-request",
            ErrorCode::Crash => "crash",
            ErrorCode::Abort => "abort",
            ErrorCode::KeyDoesNotExist => "key-does-not-exist",
            ErrorCode::KeyAlreadyExists => "key-already-exists",
            ErrorCode::PreconditionFailed => "precondition-failed",
            ErrorCode::TxnConflict => "txn-conflict",
            ErrorCode::Other(_) => "custom",
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.code())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::deserialize(d).map(ErrorCode::from_code)
    }
}

/// A protocol error: a code and a human-readable text. It is also the body
/// of an `error` message (`{"type":"error","code":C,"text":"..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "error")]
pub struct Error {
    pub code: ErrorCode,
    #[serde(default)]
    pub text: String,
}

impl Error {
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Error {
        Error {
            code,
            text: text.into(),
        }
    }

    pub fn malformed(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::MalformedRequest, text)
    }

    pub fn not_supported(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::NotSupported, text)
    }

    pub fn key_does_not_exist(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::KeyDoesNotExist, text)
    }

    pub fn timeout(text: impl Into<String>) -> Error {
        Error::new(ErrorCode::Timeout, text)
    }

    pub fn is_definite(&self) -> bool {
        self.code.is_definite()
    }

    /// The protocol error a handler's failure turns into: its own code when
    /// it is an [`Error`], 13 (crash) with the error's text otherwise.
    pub fn from_handler_error(err: &anyhow::Error) -> Error {
        match err.downcast_ref::<Error>() {
            Some(e) => e.clone(),
            None => Error::new(ErrorCode::Crash, format!("{err:#}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error {} ({}): {}",
            self.code.code(),
            self.code.name(),
            self.text
        )
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_know_definiteness() {
        for code in [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30, 1000, 1234] {
            let c = ErrorCode::from_code(code);
            assert_eq!(c.code(), code);
        }
        assert!(!ErrorCode::Timeout.is_definite());
        assert!(!ErrorCode::Crash.is_definite());
        assert!(!ErrorCode::Other(1000).is_definite());
        for code in [1, 10, 11, 12, 14, 20, 21, 22, 30] {
            assert!(ErrorCode::from_code(code).is_definite(), "{code}");
        }
    }

    #[test]
    fn error_body_has_maelstrom_shape() {
        let e = Error::key_does_not_exist("Key not found");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "error", "code": 20, "text": "Key not found"})
        );
        let back: Error = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn handler_errors_map_to_codes() {
        let typed = anyhow::Error::new(Error::malformed("bad delta"));
        assert_eq!(
            Error::from_handler_error(&typed).code,
            ErrorCode::MalformedRequest
        );
        let context = typed.context("while adding");
        assert_eq!(
            Error::from_handler_error(&context).code,
            ErrorCode::MalformedRequest
        );
        let other = anyhow::anyhow!("disk on fire");
        let e = Error::from_handler_error(&other);
        assert_eq!(e.code, ErrorCode::Crash);
        assert!(e.text.contains("disk on fire"));
    }
}
