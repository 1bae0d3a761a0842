//! The building blocks of gossip workloads, node-side: how a node gets its
//! state to its peers.
//!
//! - [`link`]: an acknowledged link per peer: numbered messages, acks that
//!   ride on traffic the other way, adaptive loss detection, silence and
//!   heal signals. The payload is the workload's.
//! - [`crdt`]: the [`Crdt`] trait (merge, delta, value), its laws as a
//!   reusable check, and two CRDTs ([`GSet`], [`MaxRegister`]).
//! - [`replicator`]: a [`Crdt`] replicated by `full-state` gossip or by
//!   `delta-push` (acknowledged pushes, news of what everyone has,
//!   anti-entropy, a message [`budget`]), chosen by flag.
//! - [`durable`]: a node's own updates to a [`Crdt`], durable before they
//!   are acknowledged and recovered after a crash.
//! - [`incarnation`]: how peers tell a restarted process from the one
//!   before it (the replicator's and kv's messages carry it).
//!
//! Which workload uses what: `g-set` is a [`Replicator`] of a [`GSet`] on
//! the ready-made [`Tagged`] wire; `counter` is a [`Replicator`] of its
//! PN-counter on the seed's `replicate` format; `kv` keeps its store and
//! pushes, on a [`Link`] per peer; `broadcast` and `tuning` (through the
//! `gossip_set` crate) keep their value sets and strategies, on a [`Link`]
//! per peer.

pub mod budget;
pub mod crdt;
pub mod durable;
pub mod incarnation;
pub mod link;
pub mod replicator;

pub use budget::Budget;
pub use crdt::{Crdt, GSet, MaxRegister, OrdJson};
pub use durable::DurableUpdates;
pub use incarnation::{Heard, PeerIncarnation};
pub use link::{BatchLimit, Link, Smoothed, Timing};
pub use replicator::{
    DEFAULT_PUSH_DELAY_MS, Gossip, Incoming, News, Outgoing, ReplicationOptions, ReplicationStats,
    ReplicationTimer, Replicator, Strategy, Tagged, Wire,
};
