//! The building blocks of gossip workloads, node-side: how a node gets its
//! state to its peers.
//!
//! - [`link`]: an acknowledged link per peer: numbered messages, acks that
//!   ride on traffic the other way, adaptive loss detection, silence and
//!   heal signals. The payload is the workload's.

pub mod link;

pub use link::{Link, Smoothed, Timing};
