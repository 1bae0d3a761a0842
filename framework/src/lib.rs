//! The node runtime of `maelstrom-node`: what every node links, and nothing
//! of the lab that tests nodes (that is `maelstrom-lab`).
//!
//! - [`protocol`]: the wire format (envelope, body header, replies).
//! - [`error`]: Maelstrom's error codes as a typed error.
//! - [`node`]: the [`Handler`] a workload implements and the [`Ctx`] it is
//!   handed (send, reply, RPC, timers, peer sampling, clock, RNG).
//! - [`gossip`]: fanout and interval settings shared by gossip workloads.
//! - [`services`]: clients for Maelstrom's services (`lin-kv`, `seq-kv`,
//!   `lww-kv`, `lin-tso`) through [`Ctx::rpc`].
//! - [`replication`]: what gossip workloads build on: an acknowledged link
//!   per peer.
//! - [`lww`]: the last-writer-wins timestamp kv stores and the kv checker
//!   share.
//! - [`registry`]: workloads registered through `inventory`.
//! - [`stdio`]: the runtime that drives one node on stdin/stdout.
//! - [`topology`]: Maelstrom's `topology` field, checked for shape.
//! - [`clock_offset`]: the wall-clock offset a runner imposes on a node
//!   process (the clock nemesis).
//! - [`testing`]: helpers for tests that drive a node by hand.
//!
//! One event loop owns a node: input lines, timer ticks, RPC replies and RPC
//! timeouts reach the handler one at a time, in one order, through `&mut
//! self`. A node never touches a clock, an unseeded RNG or stdout itself, so
//! the same handler runs unchanged under a deterministic simulator.

pub mod clock_offset;
pub mod error;
pub mod gossip;
pub mod log;
pub mod lww;
pub mod node;
mod one_pass;
pub mod protocol;
pub mod registry;
pub mod replication;
pub mod services;
pub mod stdio;
pub mod storage;
pub mod testing;
mod timers;
pub mod topology;

pub use error::{Error, ErrorCode};
pub use gossip::GossipSettings;
pub use log::Level;
pub use lww::{Timestamps, Ts, WriteClock};
pub use node::{Ctx, Handler, KeyVersions, Node, Now, Process, Request, RpcCallback, View};
pub use protocol::{NodeId, Reply};
pub use registry::{NoOptions, NodeFactory, Registration, Workload};
pub use timers::TimerId;

// Workload crates register through these; re-exported so that they need no
// direct dependency to get the versions right.
pub use inventory;
pub use serde;
pub use serde_json;
