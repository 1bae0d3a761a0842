//! A set of values replicated by gossip: what Maelstrom's broadcast needs
//! of a node, apart from how it chooses whom to tell. The `broadcast`
//! (random fanout) and `tuning` (random or hub) nodes are built on it. A
//! library, not a node: it registers nothing.
//!
//! - [`values`]: every value held, in order of receipt, deduplicated.
//! - [`idx_set`]: sets of value indices (per-peer pending sets).
//! - [`ledger`]: per peer, what it is known to hold, what is in flight to
//!   it and when to give up on it (adaptive loss detection).
//! - [`replica`]: the protocol between nodes (batches, acks, exchanges)
//!   and the [`replica::HasReplica`] glue a node implements.

pub mod idx_set;
pub mod ledger;
pub mod replica;
pub mod values;
