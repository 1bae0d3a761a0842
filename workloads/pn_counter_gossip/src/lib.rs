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
//! **`full-state`** (the default; the seed's protocol): every gossip tick
//! (`--gossip-interval-ms`, default 100, plus up to 10 % jitter) picks
//! `--fanout` random peers (default 2) and sends each its whole P and N.
//! Simple and self-healing, but it costs `fanout` messages per node per tick
//! forever, idle or not, and a change waits for random rounds to spread.
//!
//! **`delta-push`**: changes are pushed, and the tick only repairs.
//! - *Push.* After a local `add`, the node sends every peer that neither is
//!   known to hold its new own entries nor was already sent them a
//!   `replicate` with just those entries (`{x: P[x]}` and/or `{x: N[x]}`),
//!   `wants_ack: true`. Push rounds are at least `--push-delay-ms` apart
//!   (default 10): the first change after a quiet spell goes out right
//!   after the current batch of input, later ones gather until the delay
//!   has passed. A change reaches every node in about one link latency.
//! - *Ack.* The receiver merges, notes that the sender holds what it sent,
//!   and owes an ack. The ack rides on the next replicate to that peer, or
//!   goes alone at the receiver's next fourth gossip tick (see below).
//! - *Everyone has.* Once every peer is known to hold some values of a
//!   node's own entries, the node tells them all (riding along, or at its
//!   next fourth tick), so that third parties know who holds what without relaying
//!   it. Only with three nodes or more.
//! - *Anti-entropy.* Each tick, peers that have not been known to hold this
//!   node's whole state for `retry_after`, and were sent no entries for as
//!   long, are candidates; up to `fanout` of them, at random, get every
//!   entry they are not known to hold (`wants_ack: true`). This repairs lost
//!   messages and partitions, and relays entries between nodes that cannot
//!   reach each other. `retry_after = 2 × (gossip interval + push delay) +`
//!   the slowest recent ack (push to ack, a maximum decaying by 1/8 per ack),
//!   long enough for acks and news to arrive first, so a healthy cluster
//!   never relays.
//! - *Budget.* delta-push never spends more messages than full-state would:
//!   a token bucket refills at `min(fanout, peers)` messages per slowest
//!   tick (interval + 10 %) and saves up at most ten ticks' worth (at least
//!   two per peer), and every delta-push message spends one. Pushes come
//!   first (peers served longest ago first when the budget runs short);
//!   repairs and lone acks or news only spend what is left above one push
//!   round. Raise `--fanout` to give delta-push a larger budget.
//! - An idle cluster whose nodes know each other up to date sends nothing.
//!
//! Why a 10 ms push delay: it lets adds that arrive together share one push
//! round, and keeps convergence far inside the 50 ms goal at latency 0.
//! With the budget in place, larger delays change little (see below).
//!
//! *Lone acks and news* (those with no push or repair to ride on) go out
//! only every fourth gossip tick. Sent at every tick they were two thirds
//! of delta-push's messages at low load and drained the budget the pushes
//! need; batched, an isolated add costs `N − 1` pushes plus a share of
//! cumulative acks. The price is slower repair of lost messages:
//! `retry_after` must cover an ack and then news each waiting four ticks.
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
//! delta-push waits for `retry_after` to repair a lost push: prefer
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

use std::collections::BTreeMap;
use std::time::Duration;

use maelstrom_framework::gossip::MAX_INTERVAL_MS;
use maelstrom_framework::{
    Ctx, Error, GossipSettings, Handler, NodeId, Registration, Request, TimerId, View, Workload,
};
use serde::{Deserialize, Serialize};

mod budget;
mod crdt;
mod delta_push;
mod peer;

use budget::Budget;
pub use crdt::{Counts, NodeCounts, PnCounter};
use peer::Peer;

/// The default `--push-delay-ms`; see the crate docs for why.
pub const DEFAULT_PUSH_DELAY_MS: u64 = 10;

/// Unacknowledged pushes remembered per peer. An ack of an older one is
/// ignored (and the next ack or a retry makes up for it); the bound keeps a
/// node that talks to an unreachable peer from growing without limit.
const MAX_UNACKED: usize = 16;

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
}

/// How a node spreads its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Full P and N to `fanout` random peers every gossip tick (the seed).
    #[default]
    FullState,
    /// Push changed entries at once, ack them, repair on the tick.
    DeltaPush,
}

/// The workload's flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    #[command(flatten)]
    pub gossip: GossipSettings,
    /// How nodes spread their state.
    #[arg(long, value_enum, default_value_t = Strategy::FullState)]
    pub strategy: Strategy,
    /// delta-push: milliseconds to gather changes before pushing them.
    #[arg(long = "push-delay-ms", default_value_t = DEFAULT_PUSH_DELAY_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_INTERVAL_MS))]
    pub push_delay_ms: u64,
}

// ------------------------------------------------------------------- state

/// Counters of what this node did, for `gossip_status` and for a lab.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Gossip ticks performed.
    pub gossip_rounds: u64,
    /// full-state: replicates carrying the whole state.
    pub full_states_sent: u64,
    /// delta-push: replicates carrying new own entries.
    pub pushes_sent: u64,
    /// delta-push: anti-entropy replicates to peers behind.
    pub repairs_sent: u64,
    /// Replicates carrying only an ack and/or `everyone_has`.
    pub control_sent: u64,
}

/// Lone acks and news go out every this many gossip ticks: in between
/// they wait for a push or repair to ride on. Sent at every tick they were
/// two thirds of delta-push's messages, and they drained the budget the
/// pushes need.
const CONTROL_EVERY: u32 = 4;

#[derive(Debug, Clone)]
pub enum Timer {
    /// The periodic gossip tick.
    Gossip,
    /// delta-push: the end of a push delay; push new own entries.
    Push,
}

/// One node of the `counter` workload.
#[derive(Debug)]
pub struct CounterNode {
    gossip: GossipSettings,
    strategy: Strategy,
    push_delay_ms: u64,
    counter: PnCounter,
    peers: BTreeMap<NodeId, Peer>,
    gossip_timer: Option<TimerId>,
    push_pending: bool,
    last_push: Option<Duration>,
    budget: Budget,
    /// The slowest recent ack (push to ack), decaying by 1/8 per ack.
    slow_ack: Duration,
    last_change: Option<Duration>,
    /// When every peer became known to hold our state, after `last_change`.
    synced_at: Option<Duration>,
    stats: Stats,
}

impl CounterNode {
    pub fn new(options: &Options) -> CounterNode {
        CounterNode {
            gossip: options.gossip,
            strategy: options.strategy,
            push_delay_ms: options.push_delay_ms,
            counter: PnCounter::default(),
            peers: BTreeMap::new(),
            gossip_timer: None,
            push_pending: false,
            last_push: None,
            budget: Budget::default(),
            slow_ack: Duration::ZERO,
            last_change: None,
            synced_at: None,
            stats: Stats::default(),
        }
    }

    // Read-only accessors for tests and a simulator's checker.

    pub fn value(&self) -> i128 {
        self.counter.value()
    }

    pub fn counter(&self) -> &PnCounter {
        &self.counter
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What this node knows `peer` holds (`None` for an id not from init).
    pub fn known_state_of(&self, peer: &str) -> Option<&PnCounter> {
        self.peers.get(peer).map(|p| &p.known)
    }

    /// Peers known to hold a state covering ours.
    pub fn peers_synced(&self) -> usize {
        self.peers
            .values()
            .filter(|p| p.known.covers(&self.counter))
            .count()
    }

    /// See the crate docs: -1 while not known converged.
    pub fn convergence_ms(&self) -> i64 {
        match (self.last_change, self.synced_at) {
            (None, _) => 0,
            (Some(changed), Some(synced)) => {
                i64::try_from(synced.saturating_sub(changed).as_millis()).unwrap_or(i64::MAX)
            }
            (Some(_), None) => -1,
        }
    }

    fn push_delay(&self) -> Duration {
        Duration::from_millis(self.push_delay_ms)
    }

    /// How long a peer stays behind before the tick repairs it: long
    /// enough for acks and `everyone_has` news to arrive first.
    fn retry_after(&self) -> Duration {
        // Lone control waits up to CONTROL_EVERY ticks of up to 1.1 × the
        // interval each; an ack and then news may both have to wait.
        let control_period = (self.gossip.interval() * CONTROL_EVERY).saturating_mul(11) / 10;
        (control_period + self.push_delay())
            .saturating_mul(2)
            .saturating_add(self.slow_ack)
    }

    fn arm_gossip_timer(&mut self, ctx: &mut Ctx<Self>) {
        if let Some(id) = self.gossip_timer.take() {
            ctx.cancel_timer(id);
        }
        if !self.peers.is_empty() {
            let interval = self.gossip.interval();
            self.gossip_timer = Some(ctx.every(interval, interval / 10, Timer::Gossip));
        }
    }

    /// Records a change of our state at `now`.
    fn changed(&mut self, now: Duration) {
        self.last_change = Some(now);
        self.synced_at = None;
    }

    /// Brings `behind_since` and `synced_at` up to date after our state or
    /// our knowledge of peers changed.
    fn refresh(&mut self, now: Duration) {
        let mut all_synced = true;
        for peer in self.peers.values_mut() {
            if peer.known.covers(&self.counter) {
                peer.behind_since = None;
            } else {
                all_synced = false;
                peer.behind_since.get_or_insert(now);
            }
        }
        if all_synced && self.synced_at.is_none() {
            self.synced_at = Some(now);
        }
    }

    /// The gossip tick.
    fn tick(&mut self, ctx: &mut Ctx<Self>) {
        self.stats.gossip_rounds = self.stats.gossip_rounds.saturating_add(1);
        match self.strategy {
            Strategy::FullState => {
                let msg = Replicate {
                    p_counters: self.counter.p.clone(),
                    n_counters: self.counter.n.clone(),
                    ..Replicate::default()
                };
                for dest in ctx.sample_peers(self.gossip.fanout(), &[]) {
                    ctx.send(&dest, &Gossip::Replicate(&msg));
                    self.stats.full_states_sent = self.stats.full_states_sent.saturating_add(1);
                }
            }
            Strategy::DeltaPush => self.repair(ctx),
        }
        if self.stats.gossip_rounds % u64::from(CONTROL_EVERY) == 0 {
            self.send_owed_control(ctx);
        }
    }

    fn on_replicate(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Replicate) {
        let now = ctx.now();
        if self.counter.merge_counts(&msg.p_counters, &msg.n_counters) {
            self.changed(now);
        }
        if let Some(peer) = self.peers.get_mut(&req.src) {
            // A node holds what it sends.
            peer.known.merge_counts(&msg.p_counters, &msg.n_counters);
            if let Some(sent) = msg.ack.and_then(|id| peer.acked(id)) {
                let took = now.saturating_sub(sent);
                self.slow_ack = took.max(self.slow_ack - self.slow_ack / 8);
            }
            if let (true, Some(id)) = (msg.wants_ack, req.msg_id) {
                peer.ack_owed = Some(peer.ack_owed.map_or(id, |owed| owed.max(id)));
            }
            if let Some(counts) = msg.everyone_has {
                for peer in self.peers.values_mut() {
                    peer.known.raise(&req.src, counts);
                }
            }
        }
        self.refresh(now);
        // Our own entries may have come back higher than we had them.
        self.schedule_push(ctx);
    }

    fn on_configure(
        &mut self,
        ctx: &mut Ctx<Self>,
        fanout: Option<u64>,
        gossip_interval_ms: Option<u64>,
        strategy: Option<Strategy>,
        push_delay_ms: Option<u64>,
    ) -> Result<Reply, Error> {
        if push_delay_ms.is_some_and(|ms| ms > MAX_INTERVAL_MS) {
            return Err(Error::malformed(format!(
                "push_delay_ms must be an integer from 0 to {MAX_INTERVAL_MS}"
            )));
        }
        let old_interval = self.gossip.gossip_interval_ms;
        // Credit earned so far is earned at the old rate.
        self.refill(ctx.now());
        self.gossip.configure(fanout, gossip_interval_ms)?;
        if let Some(strategy) = strategy {
            self.strategy = strategy;
        }
        if let Some(ms) = push_delay_ms {
            self.push_delay_ms = ms;
        }
        if self.gossip.gossip_interval_ms != old_interval {
            self.arm_gossip_timer(ctx);
        }
        self.schedule_push(ctx);
        Ok(Reply::ConfigureOk {
            fanout: self.gossip.fanout,
            gossip_interval_ms: self.gossip.gossip_interval_ms,
            strategy: self.strategy,
            push_delay_ms: self.push_delay_ms,
        })
    }
}

// ----------------------------------------------------------------- handler

impl Handler for CounterNode {
    type Message = Message;
    type Timer = Timer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Counter(self.value()))
    }

    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        self.peers = ctx
            .peers()
            .map(|id| (id.clone(), Peer::default()))
            .collect();
        self.budget = Budget::full(&self.gossip, self.peers.len(), ctx.now());
        self.arm_gossip_timer(ctx);
        self.refresh(ctx.now());
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Add { delta } => {
                let me = ctx.id().to_string();
                self.counter.add(&me, delta)?;
                ctx.reply(req, &Reply::AddOk);
                if delta != 0 {
                    self.changed(ctx.now());
                    self.refresh(ctx.now());
                    self.schedule_push(ctx);
                }
            }
            Message::Read => ctx.reply(
                req,
                &Reply::ReadOk {
                    value: self.counter.value(),
                },
            ),
            Message::GossipStatus => ctx.reply(
                req,
                &Reply::GossipStatusOk {
                    local_value: self.counter.value(),
                    gossip_rounds: self.stats.gossip_rounds,
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
                let reply =
                    self.on_configure(ctx, fanout, gossip_interval_ms, strategy, push_delay_ms)?;
                ctx.reply(req, &reply);
            }
            Message::Replicate(msg) => self.on_replicate(ctx, req, msg),
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: Timer) -> anyhow::Result<()> {
        match timer {
            Timer::Gossip => self.tick(ctx),
            Timer::Push => self.push(ctx),
        }
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
