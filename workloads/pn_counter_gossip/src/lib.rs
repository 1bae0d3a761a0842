//! Workload `counter`: a PN-counter (Maelstrom's `g-counter` and
//! `pn-counter` workloads) replicated across the cluster by gossip.
//!
//! Every node holds two vectors, P and N (node id → count). Node `x` only
//! ever grows its own entries `P[x]` and `N[x]`; replicas merge by taking the
//! entry-wise maximum, so merging is commutative, associative and
//! idempotent, and every node ends with the same vectors whatever the order
//! in which states arrive. The counter's value is `ΣP − ΣN`.
//!
//! # Messages
//!
//! From clients (replies carry only these fields; the framework adds
//! `msg_id` and `in_reply_to`):
//! - `add {delta}` → `add_ok`. `delta` is a JSON integer that fits in an
//!   i64 (Maelstrom sends −5..4 for pn-counter, 0..4 for g-counter). A
//!   positive delta grows this node's P entry, a negative one its N entry by
//!   `|delta|`, zero changes nothing.
//! - `read` → `read_ok {value}` with `value = ΣP − ΣN` over every entry this
//!   node holds, computed exactly (see *Bad input and overflow*).
//! - `gossip_status` → `gossip_status_ok {local_value, gossip_rounds,
//!   peers_synced, convergence_ms}` (see *Metrics*).
//! - `configure {fanout?, gossip_interval_ms?, strategy?, push_delay_ms?}` →
//!   `configure_ok {fanout, gossip_interval_ms, strategy, push_delay_ms}`,
//!   the settings in force afterwards (so `configure {}` reads them). Either
//!   every given field is valid and all are applied, or the reply is error 12
//!   and nothing changes. A new interval re-arms the gossip timer at once.
//!
//! Between nodes:
//! - `replicate {p_counters, n_counters}`: the sender's vectors, whole
//!   (full-state) or only some entries (delta-push). The receiver merges
//!   them entry-wise. It is one-way gossip: never answered. Counts are JSON
//!   integers in 0..=u64::MAX. A replicate from an id that `init` did not
//!   give still merges (state is state), but the node keeps no bookkeeping
//!   for that id and never sends it anything.
//!
//!   Delta-push nodes add optional fields that other nodes may ignore:
//!   - `wants_ack: true` — the message carries entries; answer with `ack`.
//!   - `ack: M` — "I have merged your replicate with msg_id `M`".
//!   - `everyone_has: {p, n}` — every node of the cluster is known to hold
//!     at least these values of the sender's own entries `P[src]`, `N[src]`.
//!
//!   A replicate carrying entries from a delta-push node asks for an ack;
//!   acks and news never do, so nothing is acknowledged twice.
//!
//! # Strategies (`--strategy`, or `configure {strategy}`)
//!
//! The counter is a [`Replicator`] of its [`PnCounter`]: the framework's
//! two strategies, documented with every parameter in
//! [`maelstrom_framework::replication::replicator`].
//!
//! **`full-state`** (the default; the seed's protocol): every gossip tick
//! (`--gossip-interval-ms`, default 100, plus up to 10 % jitter) picks
//! `--fanout` random peers (default 2) and sends each its whole P and N.
//!
//! **`delta-push`**: an `add` is pushed at once (after at most
//! `--push-delay-ms`, default 10) to every peer as a `replicate` with just
//! this node's changed entries (`{x: P[x]}` and/or `{x: N[x]}`),
//! `wants_ack: true`; acks ride on later replicates (or go alone every
//! fourth tick); `everyone_has` tells third parties what every node holds
//! of the sender's own entries; the tick repairs peers that stayed
//! behind; a message budget keeps it at or below full-state's message
//! count; an idle cluster whose nodes know each other up to date sends
//! nothing.
//!
//! Why a 10 ms push delay: it lets adds that arrive together share one push
//! round, and keeps convergence far inside the 50 ms goal at latency 0.
//! With the budget in place, larger delays change little.
//!
//! What this costs and buys is measured in the README ("Measured figures",
//! counter): the commands and the table of both strategies at 10, 25 and
//! 100 adds/s, with and without latency and loss. The arithmetic behind
//! it: direct pushes cost `N − 1` messages a round, so once the cluster
//! wants more than about `N·fanout / ((N−1)·interval)` push rounds per
//! second (25/s for 5 nodes) the budget binds and delta-push converges
//! about as fast as full-state, with fewer messages and none once idle; a
//! p99 of 50 ms there would need a push round every 50 ms from every busy
//! node, 80 messages/s each against full-state's 18. On a lossy network
//! delta-push waits for its repair to resend a lost push: prefer
//! full-state there.
//!
//! # Metrics (`gossip_status_ok`)
//!
//! - `local_value`: this node's `ΣP − ΣN`, as `read` returns it.
//! - `gossip_rounds`: gossip ticks performed since `init` (in both
//!   strategies, whether or not a tick sent anything). A one-node cluster
//!   arms no gossip timer: 0.
//! - `peers_synced`: how many peers (ids from `init` other than this node)
//!   are known to hold a state that covers this node's current state
//!   entry-wise. What a node knows of a peer is a lower bound built only
//!   from evidence: entries the peer sent, entries it acked, and
//!   `everyone_has` notices. Under `full-state` the evidence is the full
//!   states peers send. A one-node cluster has 0 peers: 0.
//! - `convergence_ms`: milliseconds from this node's latest state change (an
//!   `add` with a non-zero delta, or a merge that changed P or N) until the
//!   moment it knew every peer held that state; `-1` while it does not know
//!   that yet. Before any change: `0` (every state covers the empty one).
//!   With no peers the condition holds at once: `0`. It measures knowledge,
//!   which lags delivery: under delta-push acks come with the receivers'
//!   next tick, and third parties learn from `everyone_has` a tick later.
//!
//! # Bad input and overflow
//!
//! Ill-typed fields are rejected by the framework's typed parse with error
//! 12 (malformed) before the handler sees them, so they never change
//! state: a missing `delta`, a string, a float (`1.5` and `1.0` alike) or
//! an integer outside i64; a `replicate` whose maps are not objects, or
//! whose counts are negative, fractional, strings or above u64::MAX.
//!
//! Entries are u64. An `add` that would take this node's P or N entry past
//! u64::MAX is refused with error 22 (precondition-failed: definite, the
//! add did not happen) and leaves the state unchanged; merging takes maxima
//! and cannot overflow. Values are summed in i128, which is exact for any
//! number of entries that fits in memory (each entry < 2^64, the sum of
//! fewer than 2^63 of them < 2^127), so `read` never wraps; a value beyond
//! the i64 range is written as a plain JSON integer.

use maelstrom_framework::replication::{
    DurableUpdates, Incoming, Outgoing, ReplicationStats, ReplicationTimer, Replicator, Wire,
};
use maelstrom_framework::{Ctx, Handler, Registration, Request, View, Workload};
use serde::{Deserialize, Serialize};

mod crdt;

pub use crdt::{Counts, NodeCounts, PnCounter};
pub use maelstrom_framework::replication::{
    DEFAULT_PUSH_DELAY_MS, ReplicationOptions as Options, Strategy,
};

/// What the node did: the replicator's counters.
pub type Stats = ReplicationStats;

// ---------------------------------------------------------------- messages

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Add {
        delta: i64,
    },
    Read,
    GossipStatus,
    Configure {
        fanout: Option<u64>,
        gossip_interval_ms: Option<u64>,
        strategy: Option<Strategy>,
        push_delay_ms: Option<u64>,
    },
    Replicate(Replicate),
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    AddOk,
    ReadOk {
        value: i128,
    },
    GossipStatusOk {
        local_value: i128,
        gossip_rounds: u64,
        peers_synced: usize,
        convergence_ms: i64,
    },
    ConfigureOk {
        fanout: u64,
        gossip_interval_ms: u64,
        strategy: Strategy,
        push_delay_ms: u64,
    },
}

/// What nodes send each other.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Gossip<'a> {
    Replicate(&'a Replicate),
}

/// `replicate`: some or all of the sender's entries, and the delta-push
/// fields (see the crate docs), absent from the seed's format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicate {
    pub p_counters: Counts,
    pub n_counters: Counts,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wants_ack: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub everyone_has: Option<NodeCounts>,
    /// How often the sender was restarted (absent until its first).
    #[serde(
        default,
        skip_serializing_if = "maelstrom_framework::replication::replicator::is_zero"
    )]
    pub incarnation: u64,
    /// The receiver's, as the sender heard it (absent until its first).
    #[serde(
        default,
        skip_serializing_if = "maelstrom_framework::replication::replicator::is_zero"
    )]
    pub your_incarnation: u64,
}

impl Replicate {
    /// What the replicator reads from a replicate sent by `src`.
    fn incoming(self, src: &str) -> Incoming<PnCounter> {
        Incoming {
            state: PnCounter::from_counts(&self.p_counters, &self.n_counters),
            wants_ack: self.wants_ack,
            acks: self.ack.into_iter().collect(),
            everyone_has: self.everyone_has.map(|counts| {
                let mut news = PnCounter::default();
                news.raise(src, counts);
                news
            }),
            incarnation: self.incarnation,
            your_incarnation: self.your_incarnation,
        }
    }
}

/// The seed's `replicate` format on the replicator's messages: one `ack`
/// (the latest replicate merged, which stands for the earlier ones), and
/// `everyone_has` as the sender's own pair of entries.
#[derive(Debug, Clone, Copy)]
pub struct SeedWire;

impl Wire<PnCounter> for SeedWire {
    fn send<H: Handler>(&self, ctx: &mut Ctx<H>, dest: &str, msg: Outgoing<'_, PnCounter>) -> u64 {
        let everyone_has = msg.everyone_has.map(|news| news.all.entries_of(ctx.id()));
        let body = Replicate {
            p_counters: msg.state.p().clone(),
            n_counters: msg.state.n().clone(),
            wants_ack: msg.wants_ack,
            ack: msg.acks.last().copied(),
            everyone_has,
            incarnation: msg.incarnation,
            your_incarnation: msg.your_incarnation,
        };
        ctx.send(dest, &Gossip::Replicate(&body))
    }
}

// ------------------------------------------------------------------- state

/// One node of the `counter` workload.
#[derive(Debug)]
pub struct CounterNode {
    counter: Replicator<PnCounter, SeedWire>,
    /// This node's own adds, durable before `add_ok`.
    durable: DurableUpdates<PnCounter>,
}

impl CounterNode {
    pub fn new(options: &Options) -> CounterNode {
        CounterNode {
            counter: Replicator::new(SeedWire, *options),
            durable: DurableUpdates::default(),
        }
    }

    // Read-only accessors for tests and a simulator's checker.

    pub fn value(&self) -> i128 {
        self.counter.state().value()
    }

    pub fn counter(&self) -> &PnCounter {
        self.counter.state()
    }

    pub fn strategy(&self) -> Strategy {
        self.counter.options().strategy
    }

    pub fn stats(&self) -> Stats {
        self.counter.stats()
    }

    /// What this node knows `peer` holds (`None` for an id not from init).
    pub fn known_state_of(&self, peer: &str) -> Option<&PnCounter> {
        self.counter.known_state_of(peer)
    }

    /// Peers known to hold a state covering ours.
    pub fn peers_synced(&self) -> usize {
        self.counter.peers_synced()
    }

    /// See the crate docs: -1 while not known converged.
    pub fn convergence_ms(&self) -> i64 {
        self.counter.convergence_ms()
    }
}

// ----------------------------------------------------------------- handler

impl Handler for CounterNode {
    type Message = Message;
    type Timer = ReplicationTimer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Counter(self.value()))
    }

    /// Recovers this node's own entries before anything else: a restarted
    /// node must never count its entry from zero again.
    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        let mine = self.durable.recover(ctx)?;
        self.counter.start(ctx);
        self.counter.restarted(ctx, mine);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Add { delta } => {
                let change = self.counter.state().after_add(ctx.id(), delta)?;
                // Durable before it is acknowledged.
                if let Some(change) = &change {
                    self.durable.persist(ctx, change)?;
                }
                ctx.reply(req, &Reply::AddOk);
                if let Some(change) = change {
                    self.counter.update(ctx, change);
                }
            }
            Message::Read => ctx.reply(
                req,
                &Reply::ReadOk {
                    value: self.value(),
                },
            ),
            Message::GossipStatus => ctx.reply(
                req,
                &Reply::GossipStatusOk {
                    local_value: self.value(),
                    gossip_rounds: self.stats().gossip_rounds,
                    peers_synced: self.peers_synced(),
                    convergence_ms: self.convergence_ms(),
                },
            ),
            Message::Configure {
                fanout,
                gossip_interval_ms,
                strategy,
                push_delay_ms,
            } => {
                self.counter
                    .configure(ctx, fanout, gossip_interval_ms, strategy, push_delay_ms)?;
                let options = self.counter.options();
                let reply = Reply::ConfigureOk {
                    fanout: options.gossip.fanout,
                    gossip_interval_ms: options.gossip.gossip_interval_ms,
                    strategy: options.strategy,
                    push_delay_ms: options.push_delay_ms,
                };
                ctx.reply(req, &reply);
            }
            Message::Replicate(msg) => {
                let msg = msg.incoming(&req.src);
                self.counter.on_message(ctx, req, msg);
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: ReplicationTimer) -> anyhow::Result<()> {
        self.counter.on_timer(ctx, timer);
        Ok(())
    }
}

// ------------------------------------------------------------ registration

impl Workload for CounterNode {
    type Options = Options;

    fn new(options: &Options) -> Self {
        CounterNode::new(options)
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<CounterNode>(
        "counter",
        "PN-counter (Maelstrom g-counter/pn-counter) replicated by gossip: full-state or delta-push"
    )
    .implements(&["pn-counter", "g-counter"])
);
