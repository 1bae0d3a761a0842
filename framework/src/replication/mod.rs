//! The building blocks of gossip workloads, node-side: how a node gets its
//! state to its peers.
//!
//! - [`link`]: an acknowledged link per peer: numbered messages, acks that
//!   ride on traffic the other way, adaptive loss detection, silence and
//!   heal signals. The payload is the workload's.
//! - [`crdt`]: the [`Crdt`] trait (merge, delta, value), its laws as a
//!   reusable check, and two CRDTs ([`GSet`], [`MaxRegister`]).
//! - [`replicator`]: a [`Crdt`] replicated by `full-state` gossip or by
//!   `delta-push` over the link with anti-entropy, chosen by flag.
//!
//! Which workload uses what: `g-set` is a [`Replicator`] of a [`GSet`];
//! `broadcast` and `tuning` (through the `gossip_set` crate) keep their own
//! value sets and strategies on the [`Link`].

pub mod crdt;
pub mod link;
pub mod replicator;

pub use crdt::{Crdt, GSet, MaxRegister, OrdJson};
pub use link::{Link, Smoothed, Timing};
pub use replicator::{
    Gossip, ReplicationOptions, ReplicationStats, ReplicationTimer, Replicator, Strategy,
};
