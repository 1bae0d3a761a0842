//! What the transactional checker can find, by Adya's and Elle's names,
//! and one found instance in words.

/// A kind of anomaly. Cycle anomalies are Adya's (G0, G1c, G-single, G2)
/// and their real-time variants; the rest need no cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// A cycle of write-write dependencies alone (dirty write).
    G0,
    /// Aborted read: a committed read saw a write of a failed transaction.
    G1a,
    /// Intermediate read: a read saw a write that its transaction later
    /// overwrote (or appended after).
    G1b,
    /// A cycle of write-write and write-read dependencies (circular
    /// information flow), at least one write-read.
    G1c,
    /// A cycle with exactly one read-write (anti-)dependency.
    GSingle,
    /// A cycle with more than one read-write dependency.
    G2,
    /// The same, needing real-time order (strict serializability) to close.
    G0Realtime,
    G1cRealtime,
    GSingleRealtime,
    G2Realtime,
    /// A transaction's read disagrees with its own earlier reads and
    /// writes of that key.
    Internal,
    /// list-append: two reads of a key that are not prefixes of one order.
    IncompatibleOrder,
    /// list-append: a read holds one appended element twice.
    DuplicateElements,
    /// A read returned a value that no transaction wrote.
    GarbageRead,
    /// A `txn_ok` whose micro-ops are not those of its request (a read
    /// turned into a write, a key or written value changed, ops missing).
    MalformedReply,
}

impl AnomalyKind {
    /// Elle's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::G2 => "G2",
            AnomalyKind::G0Realtime => "G0-realtime",
            AnomalyKind::G1cRealtime => "G1c-realtime",
            AnomalyKind::GSingleRealtime => "G-single-realtime",
            AnomalyKind::G2Realtime => "G2-realtime",
            AnomalyKind::Internal => "internal",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::DuplicateElements => "duplicate-elements",
            AnomalyKind::GarbageRead => "garbage-read",
            AnomalyKind::MalformedReply => "malformed-reply",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One anomaly found, with the transactions involved, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub text: String,
}

impl Anomaly {
    pub fn new(kind: AnomalyKind, text: impl Into<String>) -> Anomaly {
        Anomaly {
            kind,
            text: text.into(),
        }
    }
}
