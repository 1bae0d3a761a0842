//! Replicating a [`Crdt`] across the cluster, by one of two strategies a
//! workload selects by flag (`--strategy`, or `configure {strategy}`).
//!
//! # `full-state` (the default; the seed tasks' protocol)
//! Every gossip tick (`--gossip-interval-ms`, default 100, plus up to 10 %
//! jitter) picks `--fanout` random peers (default 2) and sends each the
//! whole state. Simple and self-healing, but it costs `fanout` messages
//! per node per tick forever, idle or not, and a change waits for random
//! rounds to spread.
//!
//! # `delta-push`
//! Changes are pushed, and the tick only repairs. Per peer the node keeps
//! `known`, a lower bound of the peer's state built from evidence only:
//! what the peer sent, what it acknowledged, and `everyone_has` notices.
//! A node's *own* state is the join of its local changes
//! ([`Replicator::update`]): what it originates.
//! - *Push.* After a local change, every peer that neither is known to
//!   hold our own state nor was already sent it gets the part of our own
//!   state it is not known to hold, asking for an ack. Push rounds are at
//!   least `--push-delay-ms` apart (default 10): the first change after a
//!   quiet spell goes out right after the current input, later ones gather
//!   until the delay has passed. A change reaches every node in about one
//!   link latency. Changes received from others are not pushed on: their
//!   origin pushes them to everyone.
//! - *Ack.* The receiver merges, notes that the sender holds what it
//!   sent, and owes an ack (numbered messages on a [`Link`] per peer). The
//!   ack rides on the next message to that peer, or goes alone at the next
//!   [`CONTROL_EVERY`]th gossip tick.
//! - *Everyone has.* Once every peer is known to hold part of a node's own
//!   state ([`Crdt::meet`] over what it knows of them), the node tells
//!   them all (riding along, or at its next control tick), so that third
//!   parties know who holds what without relaying it. Only with three
//!   nodes or more.
//! - *Anti-entropy.* Each tick, peers not known to hold our whole state
//!   for `retry_after`, and sent nothing for as long, are candidates; up to
//!   `fanout` of them, at random, get what they are not known to hold. This
//!   repairs lost messages and partitions, and relays between nodes that
//!   cannot reach each other. `retry_after = 2 × (control period + push
//!   delay) +` the slowest recent ack (push to ack, a maximum decaying by
//!   1/8 per ack), long enough for acks and news to arrive first, so a
//!   healthy cluster never relays.
//! - *Budget* ([`Budget`]). delta-push never spends more messages than
//!   full-state would: a token bucket refills at `min(fanout, peers)`
//!   messages per slowest tick (interval + 10 %) and saves up at most ten
//!   ticks' worth (at least two per peer), and every delta-push message
//!   spends one. Pushes come first (peers served longest ago first when
//!   the budget runs short); repairs and lone acks or news only spend what
//!   is left above one push round. Raise `--fanout` for a larger budget.
//! - An idle cluster whose nodes know each other up to date sends nothing.
//!
//! *Lone acks and news* (those with no push or repair to ride on) go out
//! only every fourth tick: sent at every tick they were two thirds of the
//! counter's delta-push messages at low load and drained the budget the
//! pushes need. The price is slower repair of lost messages: `retry_after`
//! must cover an ack and then news each waiting four ticks.
//!
//! # Messages
//! The replicator hands each message to the workload's [`Wire`], which
//! writes it in the workload's format ([`Outgoing`]: the state or delta;
//! whether it wants an ack; the acks owed; news of what everyone has), and
//! the workload hands back what it parsed ([`Incoming`]). [`Tagged`] is a
//! ready-made wire: `{type, <the CRDT's fields>, wants_ack?, acks?,
//! everyone_has?}`, fields left out when empty; full-state messages carry
//! only the state, as the seed tasks do.
//!
//! # Using it
//! The workload keeps a `Replicator<C, W>` in its handler, calls
//! [`Replicator::start`] in `init`, [`Replicator::update`] with the delta
//! of each local change, [`Replicator::on_message`] for its gossip
//! message, and [`Replicator::on_timer`] for the [`ReplicationTimer`]s
//! (its timer type converts from them). `workloads/g_set` is the whole of
//! it; `workloads/pn_counter_gossip` adds its own wire format.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::budget::Budget;
use super::crdt::Crdt;
use super::incarnation::PeerIncarnation;
use super::link::{Link, Timing};
use crate::error::Error;
use crate::gossip::{GossipSettings, MAX_INTERVAL_MS};
use crate::node::{Ctx, Handler, Request};
use crate::protocol::NodeId;
use crate::timers::TimerId;

/// How a [`Replicator`] spreads its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The whole state to `fanout` random peers every gossip tick (the seed).
    #[default]
    FullState,
    /// Push changes at once, ack them, repair on the tick.
    DeltaPush,
}

/// The default `--push-delay-ms`: it lets changes that arrive together
/// share one push round, and keeps convergence far inside a tick.
pub const DEFAULT_PUSH_DELAY_MS: u64 = 10;

/// Lone acks and news go out every this many gossip ticks: in between they
/// wait for a push or repair to ride on.
pub const CONTROL_EVERY: u32 = 4;

/// Unacknowledged messages remembered per peer. An ack of an older one is
/// ignored (and the next ack or a repair makes up for it); the bound keeps
/// a node that talks to an unreachable peer from growing without limit.
pub const MAX_UNACKED: usize = 16;

/// A replicated workload's flags.
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationOptions {
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

impl Default for ReplicationOptions {
    fn default() -> Self {
        ReplicationOptions {
            gossip: GossipSettings::default(),
            strategy: Strategy::FullState,
            push_delay_ms: DEFAULT_PUSH_DELAY_MS,
        }
    }
}

/// The replicator's timers; a workload's timer type converts from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationTimer {
    /// The gossip tick.
    Tick,
    /// delta-push: the end of a push delay.
    Push,
}

/// News of what every node holds, as a message carries it.
#[derive(Debug, Clone, Copy)]
pub struct News<'a, C> {
    /// A state every node of the cluster is known to hold.
    pub all: &'a C,
    /// What this node last told the receiver: a wire may send only
    /// `all.delta_from(told)`, since receivers merge news.
    pub told: &'a C,
}

/// One replication message, for the workload's [`Wire`] to write.
#[derive(Debug)]
pub struct Outgoing<'a, C> {
    /// The whole state (full-state), a delta, or the bottom (only acks or
    /// news).
    pub state: &'a C,
    /// The message carries content: its receiver owes an ack.
    pub wants_ack: bool,
    /// msg_ids of the receiver's messages this node merged, ascending.
    pub acks: Vec<u64>,
    pub everyone_has: Option<News<'a, C>>,
    /// How often the sender was restarted before ([`Replicator::restarted`]):
    /// 0, and left off the wire, until its first restart.
    pub incarnation: u64,
    /// The receiver's incarnation as the sender last heard it (0, and
    /// left off, until the receiver's first restart): tells a restarted
    /// node that this peer knows it restarted.
    pub your_incarnation: u64,
}

/// One replication message as the workload parsed it.
#[derive(Debug, Clone)]
pub struct Incoming<C> {
    pub state: C,
    pub wants_ack: bool,
    pub acks: Vec<u64>,
    pub everyone_has: Option<C>,
    /// The sender's incarnation (0 when absent).
    pub incarnation: u64,
    /// Ours, as the sender knows it (0 when absent).
    pub your_incarnation: u64,
}

/// How a workload writes replication messages.
pub trait Wire<C> {
    /// Sends `msg` to `dest`; returns its msg_id.
    fn send<H: Handler>(&self, ctx: &mut Ctx<H>, dest: &str, msg: Outgoing<'_, C>) -> u64;
}

/// The ready-made wire: `{type, <the CRDT's fields>, wants_ack?, acks?,
/// everyone_has?}` with the type name given; `everyone_has` carries only
/// what the receiver was not told before. Parse with [`Gossip`].
#[derive(Debug, Clone, Copy)]
pub struct Tagged(pub &'static str);

impl<C: Crdt + Serialize> Wire<C> for Tagged {
    fn send<H: Handler>(&self, ctx: &mut Ctx<H>, dest: &str, msg: Outgoing<'_, C>) -> u64 {
        #[derive(Serialize)]
        struct Out<'a, C> {
            #[serde(rename = "type")]
            kind: &'a str,
            #[serde(flatten)]
            state: &'a C,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            wants_ack: bool,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            acks: Vec<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            everyone_has: Option<C>,
            #[serde(skip_serializing_if = "is_zero")]
            incarnation: u64,
            #[serde(skip_serializing_if = "is_zero")]
            your_incarnation: u64,
        }
        let body = Out {
            kind: self.0,
            state: msg.state,
            wants_ack: msg.wants_ack,
            acks: msg.acks,
            everyone_has: msg.everyone_has.map(|n| n.all.delta_from(n.told)),
            incarnation: msg.incarnation,
            your_incarnation: msg.your_incarnation,
        };
        ctx.send(dest, &body)
    }
}

/// A message of the [`Tagged`] wire as received.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound = "C: DeserializeOwned")]
pub struct Gossip<C> {
    #[serde(flatten)]
    pub state: C,
    #[serde(default)]
    pub wants_ack: bool,
    #[serde(default)]
    pub acks: Vec<u64>,
    #[serde(default)]
    pub everyone_has: Option<C>,
    #[serde(default)]
    pub incarnation: u64,
    #[serde(default)]
    pub your_incarnation: u64,
}

pub use super::incarnation::is_zero;

impl<C> From<Gossip<C>> for Incoming<C> {
    fn from(g: Gossip<C>) -> Incoming<C> {
        Incoming {
            state: g.state,
            wants_ack: g.wants_ack,
            acks: g.acks,
            everyone_has: g.everyone_has,
            incarnation: g.incarnation,
            your_incarnation: g.your_incarnation,
        }
    }
}

/// What the replicator did. All saturate at `u64::MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    /// Gossip ticks performed.
    pub gossip_rounds: u64,
    /// full-state: messages carrying the whole state.
    pub full_states_sent: u64,
    /// delta-push: messages carrying new own state.
    pub pushes_sent: u64,
    /// delta-push: anti-entropy messages to peers behind.
    pub repairs_sent: u64,
    /// Messages carrying only acks and/or news.
    pub control_sent: u64,
}

/// What this node knows of one peer (an id from `init` other than its own).
#[derive(Debug, Clone, Default)]
struct Peer<C> {
    /// A lower bound of the peer's state.
    known: C,
    /// Our messages with content it has not acked (payload: the content),
    /// and the acks we owe it.
    link: Link<C>,
    /// Our own state as last sent to it.
    pushed: C,
    /// When we last sent it content (a push or a repair).
    last_entries_sent: Option<Duration>,
    /// Since when `known` has not covered our state; `None` while it does.
    behind_since: Option<Duration>,
    /// What we last told it everyone holds.
    told_everyone_has: C,
    /// Its incarnation, and whether it has shown it knows ours.
    incarnation: PeerIncarnation,
}

/// A CRDT replicated across the cluster; see the module docs.
#[derive(Debug)]
pub struct Replicator<C, W> {
    wire: W,
    options: ReplicationOptions,
    state: C,
    /// The join of our local changes.
    own: C,
    peers: BTreeMap<NodeId, Peer<C>>,
    tick: Option<TimerId>,
    push_pending: bool,
    last_push: Option<Duration>,
    budget: Budget,
    /// The slowest recent ack (push to ack), decaying by 1/8 per ack.
    slow_ack: Duration,
    last_change: Option<Duration>,
    /// When every peer became known to hold our state, after `last_change`.
    synced_at: Option<Duration>,
    stats: ReplicationStats,
    /// How often this node was restarted before this run of it.
    incarnation: u64,
}

/// Acks are matched by msg_id alone: an ack of a message means the ones
/// sent before it to that peer are not coming (the peer acks the latest it
/// merged), so no slack and no timeouts are needed.
const LINK_TIMING: Timing = Timing {
    ack_delay: Duration::ZERO,
    resend_after: Duration::MAX,
    silence: Duration::MAX,
    slack: Duration::ZERO,
};

impl<C: Crdt, W: Wire<C>> Replicator<C, W> {
    pub fn new(wire: W, options: ReplicationOptions) -> Replicator<C, W> {
        Replicator {
            wire,
            options,
            state: C::default(),
            own: C::default(),
            peers: BTreeMap::new(),
            tick: None,
            push_pending: false,
            last_push: None,
            budget: Budget::default(),
            slow_ack: Duration::ZERO,
            last_change: None,
            synced_at: None,
            stats: ReplicationStats::default(),
            incarnation: 0,
        }
    }

    /// The local state.
    pub fn state(&self) -> &C {
        &self.state
    }

    pub fn options(&self) -> ReplicationOptions {
        self.options
    }

    pub fn stats(&self) -> ReplicationStats {
        self.stats
    }

    /// What this node knows `peer` holds (`None` for an id not from
    /// `init`).
    pub fn known_state_of(&self, peer: &str) -> Option<&C> {
        self.peers.get(peer).map(|p| &p.known)
    }

    /// Peers known to hold a state covering ours.
    pub fn peers_synced(&self) -> usize {
        self.peers
            .values()
            .filter(|p| p.known.covers(&self.state))
            .count()
    }

    /// Milliseconds from our latest state change until every peer was known
    /// to hold it; -1 while that is not known; 0 before any change (and with
    /// no peers).
    pub fn convergence_ms(&self) -> i64 {
        match (self.last_change, self.synced_at) {
            (None, _) => 0,
            (Some(changed), Some(synced)) => {
                i64::try_from(synced.saturating_sub(changed).as_millis()).unwrap_or(i64::MAX)
            }
            (Some(_), None) => -1,
        }
    }

    /// After [`Replicator::start`], on a node restarted before
    /// ([`Ctx::incarnation`] > 0, counted on its disk):
    /// from now on its messages carry its incarnation, and every peer hears it at once,
    /// so peers forget what they believed this node held (a restart wiped
    /// it) and repair it; `mine` is what it recovered of its own updates.
    pub fn restarted<H: Handler>(&mut self, ctx: &mut Ctx<H>, mine: C)
    where
        H::Timer: From<ReplicationTimer>,
    {
        let incarnation = ctx.incarnation();
        self.incarnation = incarnation;
        if incarnation > 0 {
            // Control ticks repeat it to every peer that has not shown it
            // heard ([`Replicator::send_owed_control`]).
            let ids: Vec<NodeId> = self.peers.keys().cloned().collect();
            for id in ids {
                let peer = self.peers.get_mut(&id).expect("listed above");
                send(&self.wire, ctx, &id, peer, C::default(), None, incarnation);
            }
        }
        // What was recovered is pushed and repaired like any update.
        if !mine.is_empty() {
            self.update(ctx, mine);
        }
    }

    /// After `init`: the peers are every other node; the tick starts.
    pub fn start<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        self.peers = ctx
            .peers()
            .map(|id| (id.clone(), Peer::default()))
            .collect();
        self.budget = Budget::full(&self.options.gossip, self.peers.len(), ctx.now());
        self.arm_tick(ctx);
        self.refresh(ctx.now());
    }

    /// Changes the settings (a workload's `configure`): every given value
    /// is valid and all are applied, or none is (error 12). A new interval
    /// re-arms the tick at once.
    pub fn configure<H: Handler>(
        &mut self,
        ctx: &mut Ctx<H>,
        fanout: Option<u64>,
        gossip_interval_ms: Option<u64>,
        strategy: Option<Strategy>,
        push_delay_ms: Option<u64>,
    ) -> Result<(), Error>
    where
        H::Timer: From<ReplicationTimer>,
    {
        if push_delay_ms.is_some_and(|ms| ms > MAX_INTERVAL_MS) {
            return Err(Error::malformed(format!(
                "push_delay_ms must be an integer from 0 to {MAX_INTERVAL_MS}"
            )));
        }
        let old_interval = self.options.gossip.gossip_interval_ms;
        // Credit earned so far is earned at the old rate.
        self.refill(ctx.now());
        self.options.gossip.configure(fanout, gossip_interval_ms)?;
        if let Some(strategy) = strategy {
            self.options.strategy = strategy;
        }
        if let Some(ms) = push_delay_ms {
            self.options.push_delay_ms = ms;
        }
        if self.options.gossip.gossip_interval_ms != old_interval {
            self.arm_tick(ctx);
        }
        self.schedule_push(ctx);
        Ok(())
    }

    /// A local change: `delta` is what it adds to the state (for a counter,
    /// this node's new entry). Merged into the state and into our own; a
    /// push follows under delta-push. Returns whether the state changed.
    pub fn update<H: Handler>(&mut self, ctx: &mut Ctx<H>, delta: C) -> bool
    where
        H::Timer: From<ReplicationTimer>,
    {
        let changed = self.state.merge(&delta);
        self.own.merge(&delta);
        if changed {
            self.changed(ctx.now());
            self.refresh(ctx.now());
            self.schedule_push(ctx);
        }
        changed
    }

    /// A replication message from `req.src`: merges it (from any sender;
    /// state is state) and keeps the books of a peer from `init`. Returns
    /// what was new here (the bottom if nothing).
    pub fn on_message<H: Handler>(&mut self, ctx: &mut Ctx<H>, req: &Request, msg: Incoming<C>) -> C
    where
        H::Timer: From<ReplicationTimer>,
    {
        let now = ctx.now();
        let new = msg.state.delta_from(&self.state);
        if self.state.merge(&new) {
            self.changed(now);
        }
        // A message from a process since killed counts for its state alone
        // (merged above): its acks and what it asked for died with it.
        let ours = self.incarnation;
        let current = self.peers.get_mut(&req.src).and_then(|peer| {
            let heard = peer
                .incarnation
                .heard(ours, msg.incarnation, msg.your_incarnation)?;
            Some((peer, heard))
        });
        if let Some((peer, heard)) = current {
            if heard.restarted {
                // Restarted: it holds only what it recovered and what it
                // says now. Forget what it acked before, and its numbering.
                *peer = Peer {
                    incarnation: peer.incarnation,
                    ..Peer::default()
                };
            }
            // A node holds what it sends.
            peer.known.merge(&msg.state);
            // The shared rule: acks count only when they name our current
            // incarnation. (Our msg_ids are apart per incarnation anyway,
            // [`Ctx::incarnation`]; the rule is what kv's per-peer seqs need.)
            let acks: &[u64] = if heard.acks_count { &msg.acks } else { &[] };
            let settled = peer.link.acknowledged(acks, now, &LINK_TIMING);
            for (content, sent) in &settled.acked {
                peer.known.merge(content);
                let took = now.saturating_sub(*sent);
                self.slow_ack = took.max(self.slow_ack - self.slow_ack / 8);
            }
            if let (true, Some(id)) = (msg.wants_ack, req.msg_id) {
                peer.link.owe_ack(id, now);
            }
            if let Some(news) = &msg.everyone_has {
                for peer in self.peers.values_mut() {
                    peer.known.merge(news);
                }
            }
        }
        self.refresh(now);
        // Our own state may have come back larger than we had it.
        self.schedule_push(ctx);
        new
    }

    /// Runs a [`ReplicationTimer`].
    pub fn on_timer<H: Handler>(&mut self, ctx: &mut Ctx<H>, timer: ReplicationTimer)
    where
        H::Timer: From<ReplicationTimer>,
    {
        match timer {
            ReplicationTimer::Tick => self.on_tick(ctx),
            ReplicationTimer::Push => self.push(ctx),
        }
    }

    fn push_delay(&self) -> Duration {
        Duration::from_millis(self.options.push_delay_ms)
    }

    /// How long a peer stays behind before the tick repairs it: long
    /// enough for acks and `everyone_has` news to arrive first.
    fn retry_after(&self) -> Duration {
        // Lone control waits up to CONTROL_EVERY ticks of up to 1.1 × the
        // interval each; an ack and then news may both have to wait.
        let interval = self.options.gossip.interval();
        let control_period = (interval * CONTROL_EVERY).saturating_mul(11) / 10;
        (control_period + self.push_delay())
            .saturating_mul(2)
            .saturating_add(self.slow_ack)
    }

    fn arm_tick<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        if let Some(id) = self.tick.take() {
            ctx.cancel_timer(id);
        }
        if !self.peers.is_empty() {
            let interval = self.options.gossip.interval();
            let tick = ctx.every(interval, interval / 10, ReplicationTimer::Tick.into());
            self.tick = Some(tick);
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
            if peer.known.covers(&self.state) {
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

    fn refill(&mut self, now: Duration) {
        self.budget
            .refill(now, &self.options.gossip, self.peers.len());
    }

    fn on_tick<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        self.stats.gossip_rounds = self.stats.gossip_rounds.saturating_add(1);
        match self.options.strategy {
            Strategy::FullState => {
                for dest in ctx.sample_peers(self.options.gossip.fanout(), &[]) {
                    let msg = Outgoing {
                        state: &self.state,
                        wants_ack: false,
                        acks: Vec::new(),
                        everyone_has: None,
                        incarnation: self.incarnation,
                        your_incarnation: self
                            .peers
                            .get(&dest)
                            .map_or(0, |p| p.incarnation.theirs()),
                    };
                    self.wire.send(ctx, &dest, msg);
                    self.stats.full_states_sent = self.stats.full_states_sent.saturating_add(1);
                }
            }
            Strategy::DeltaPush => self.repair(ctx),
        }
        if self.stats.gossip_rounds % u64::from(CONTROL_EVERY) == 0 {
            self.send_owed_control(ctx);
        }
    }

    /// What all peers are known to hold of our own state, when there is a
    /// third party to tell (two peers or more) and we are pushing.
    fn everyone_has(&self) -> Option<C> {
        if self.options.strategy != Strategy::DeltaPush || self.peers.len() < 2 {
            return None;
        }
        Some(
            self.peers
                .values()
                .fold(self.own.clone(), |all, p| all.meet(&p.known)),
        )
    }

    /// Whether a push of our own state is due to `peer`: it is neither
    /// known to hold it nor has been sent it.
    fn push_due(&self, peer: &Peer<C>) -> bool {
        self.options.strategy == Strategy::DeltaPush
            && self.own.exceeds_both(&peer.pushed, &peer.known)
    }

    /// delta-push: arms the push timer if a push is due, to fire once the
    /// last push is `push_delay` old and the budget allows a message (at
    /// once if both hold already: the push then goes out right after the
    /// current input).
    fn schedule_push<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        if self.push_pending {
            return;
        }
        if !self.peers.values().any(|peer| self.push_due(peer)) {
            return;
        }
        let now = ctx.now();
        self.refill(now);
        let since_last = self
            .last_push
            .map_or(Duration::MAX, |t| now.saturating_sub(t));
        let delay = self.push_delay().saturating_sub(since_last).max(
            self.budget
                .wait_for_one(&self.options.gossip, self.peers.len()),
        );
        self.push_pending = true;
        ctx.set_timer(delay, ReplicationTimer::Push.into());
    }

    /// Pushes our new own state to the peers due, as many as the budget
    /// allows, those served longest ago first; each push carries the acks
    /// and news its peer is owed. The rest wait for the next push.
    fn push<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        self.push_pending = false;
        let now = ctx.now();
        self.refill(now);
        let everyone_has = self.everyone_has();
        let mut due: Vec<(Option<Duration>, NodeId)> = self
            .peers
            .iter()
            .filter(|(_, peer)| self.push_due(peer))
            .map(|(id, peer)| (peer.last_entries_sent, id.clone()))
            .collect();
        due.sort();
        let allowed = usize::try_from(self.budget.available()).unwrap_or(usize::MAX);
        for (_, id) in due.into_iter().take(allowed) {
            let peer = self.peers.get_mut(&id).expect("id from peers");
            let content = self.own.delta_from(&peer.known);
            peer.pushed = self.own.clone();
            self.budget.spend();
            self.stats.pushes_sent = self.stats.pushes_sent.saturating_add(1);
            self.last_push = Some(now);
            send(
                &self.wire,
                ctx,
                &id,
                peer,
                content,
                everyone_has.as_ref(),
                self.incarnation,
            );
        }
        self.schedule_push(ctx);
    }

    /// delta-push anti-entropy: up to `fanout` random peers that have been
    /// behind, and sent nothing, for `retry_after` get what they may lack.
    fn repair<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        let now = ctx.now();
        self.refill(now);
        let grace = self.retry_after();
        let waited = |since: Option<Duration>| since.is_none_or(|t| now.saturating_sub(t) >= grace);
        let not_due: Vec<&str> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.behind_since.is_none() || !waited(p.behind_since) || !waited(p.last_entries_sent)
            })
            .map(|(id, _)| id.as_str())
            .collect();
        if not_due.len() == self.peers.len() {
            return;
        }
        let allowed = self.budget.spare(self.peers.len());
        let chosen = ctx.sample_peers(self.options.gossip.fanout().min(allowed), &not_due);
        let everyone_has = self.everyone_has();
        for id in chosen {
            let peer = self.peers.get_mut(&id).expect("sampled from init peers");
            let content = self.state.delta_from(&peer.known);
            peer.pushed.merge(&content.meet(&self.own));
            self.budget.spend();
            self.stats.repairs_sent = self.stats.repairs_sent.saturating_add(1);
            send(
                &self.wire,
                ctx,
                &id,
                peer,
                content,
                everyone_has.as_ref(),
                self.incarnation,
            );
        }
    }

    /// Acks and news that found no push or repair to ride on since the last
    /// control tick go out on their own, as far as the budget allows.
    fn send_owed_control<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        self.refill(ctx.now());
        let everyone_has = self.everyone_has();
        let reserve = self.peers.len();
        for (id, peer) in &mut self.peers {
            let news = everyone_has
                .as_ref()
                .filter(|e| !peer.told_everyone_has.covers(e));
            // A restarted node tells each peer until the peer shows it
            // heard: the first announcement may have been lost.
            let unheard = peer.incarnation.unheard(self.incarnation);
            if peer.link.owed_len() == 0 && news.is_none() && !unheard {
                continue;
            }
            if self.budget.spare(reserve) == 0 {
                break;
            }
            self.budget.spend();
            self.stats.control_sent = self.stats.control_sent.saturating_add(1);
            send(
                &self.wire,
                ctx,
                id,
                peer,
                C::default(),
                everyone_has.as_ref(),
                self.incarnation,
            );
        }
    }
}

/// Sends `peer` a message with `content` (asking for an ack when there is
/// any), the acks it is owed, and news of what everyone has if it was not
/// told that yet.
#[allow(clippy::too_many_arguments)]
fn send<C: Crdt, W: Wire<C>, H: Handler>(
    wire: &W,
    ctx: &mut Ctx<H>,
    dest: &str,
    peer: &mut Peer<C>,
    content: C,
    everyone_has: Option<&C>,
    incarnation: u64,
) {
    let news = everyone_has.filter(|e| !peer.told_everyone_has.covers(e));
    let mut acks = peer.link.take_owed_acks();
    acks.sort_unstable();
    acks.dedup();
    let msg = Outgoing {
        state: &content,
        wants_ack: !content.is_empty(),
        acks,
        everyone_has: news.map(|all| News {
            all,
            told: &peer.told_everyone_has,
        }),
        incarnation,
        your_incarnation: peer.incarnation.theirs(),
    };
    let msg_id = wire.send(ctx, dest, msg);
    if let Some(news) = news {
        peer.told_everyone_has = news.clone();
    }
    if !content.is_empty() {
        let now = ctx.now();
        peer.last_entries_sent = Some(now);
        peer.link.sent(msg_id, content, now, false);
        if peer.link.in_flight_len() > MAX_UNACKED {
            peer.link.give_up_oldest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Node, Process};
    use crate::replication::crdt::GSet;
    use crate::testing::{at, deliver, init, take_output};
    use serde_json::{Value, json};

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Add { element: u64 },
        Replicate(Gossip<GSet<u64>>),
    }

    struct SetNode(Replicator<GSet<u64>, Tagged>);

    impl Handler for SetNode {
        type Message = Msg;
        type Timer = ReplicationTimer;

        fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
            self.0.start(ctx);
            // On a disk that says it started before ([`restarted_node`]):
            // a restart that recovered nothing.
            self.0.restarted(ctx, GSet::default());
            Ok(())
        }

        fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
            match msg {
                Msg::Add { element } => {
                    let mut delta = GSet::default();
                    delta.insert(element);
                    self.0.update(ctx, delta);
                    ctx.reply(req, &json!({"type": "add_ok"}));
                }
                Msg::Replicate(gossip) => {
                    self.0.on_message(ctx, req, gossip.into());
                }
            }
            Ok(())
        }

        fn on_timer(&mut self, ctx: &mut Ctx<Self>, t: ReplicationTimer) -> anyhow::Result<()> {
            self.0.on_timer(ctx, t);
            Ok(())
        }
    }

    #[test]
    fn a_restarted_node_tells_each_peer_until_the_peer_shows_it_heard() {
        let options = ReplicationOptions {
            strategy: Strategy::DeltaPush,
            ..ReplicationOptions::default()
        };
        let mut node = restarted_node(options, 2);
        let to = |out: &[Value], peer: &str| {
            out.iter()
                .filter(|m| m["dest"] == peer && m["body"]["incarnation"] == 2)
                .count()
        };
        // The announcement, to both peers at once, before init_ok (the
        // node is ready once it has said it restarted); assume both lost.
        let init = json!({"type": "init", "msg_id": 1, "node_id": "n1",
            "node_ids": ["n1", "n2", "n3"]});
        let first = deliver(&mut node, ms(0), "c0", init);
        assert_eq!(first.last().unwrap()["body"]["type"], "init_ok");
        assert_eq!((to(&first, "n2"), to(&first, "n3")), (1, 1), "{first:?}");
        // It comes again on control ticks while no peer shows it heard.
        let out: Vec<Value> = run_restarted(&mut node, 1, 2000);
        assert!(to(&out, "n2") >= 2 && to(&out, "n3") >= 2, "{out:?}");
        // n2 answers knowing incarnation 2: n2 is told no more; n3 still is.
        let heard =
            json!({"type": "replicate", "msg_id": 1, "elements": [], "your_incarnation": 2});
        deliver(&mut node, ms(2001), "n2", heard);
        let out = run_restarted(&mut node, 2002, 5000);
        assert_eq!(to(&out, "n2"), 0, "{out:?}");
        assert!(to(&out, "n3") >= 2, "{out:?}");
    }

    #[test]
    fn an_ack_meant_for_the_previous_process_settles_nothing() {
        let options = ReplicationOptions {
            strategy: Strategy::DeltaPush,
            ..ReplicationOptions::default()
        };
        let mut node = restarted_node(options, 2);
        let init = json!({"type": "init", "msg_id": 1, "node_id": "n1",
            "node_ids": ["n1", "n2"]});
        deliver(&mut node, ms(0), "c0", init);
        let add = json!({"type": "add", "msg_id": 2, "element": 4});
        deliver(&mut node, ms(1), "c1", add);
        let push = run_restarted(&mut node, 1, 2)
            .into_iter()
            .find(|m| m["dest"] == "n2" && m["body"]["elements"] == json!([4]))
            .expect("a push of 4 to n2");
        let id = push["body"]["msg_id"].as_u64().unwrap();
        // The third process on this disk numbers from 2 × 2^32.
        let first_id = 2 << 32;
        assert!((first_id..first_id + 10).contains(&id), "{push}");
        let knows_4 = |node: &Node<SetNode>| {
            let replica = &node.handler_ref().0;
            replica.known_state_of("n2").is_some_and(|s| s.contains(&4))
        };
        // n2 acks the previous process's message of the same rank, sent
        // before n2 heard of the restart: it is not the push.
        let stale = json!({"type": "replicate", "elements": [],
            "acks": [id - first_id], "your_incarnation": 1});
        deliver(&mut node, ms(10), "n2", stale);
        assert!(!knows_4(&node), "an old process's ack settled the push");
        let ack = json!({"type": "replicate", "elements": [], "acks": [id],
            "your_incarnation": 2});
        deliver(&mut node, ms(20), "n2", ack);
        assert!(knows_4(&node), "the push's own ack settled nothing");
    }

    /// n1 under `options`, on a disk that counts `starts` starts before.
    fn restarted_node(options: ReplicationOptions, starts: u64) -> Node<SetNode> {
        let mut node = Node::new(SetNode(Replicator::new(Tagged("replicate"), options)), 7);
        let mut disk = crate::storage::SimDisk::new();
        crate::storage::Disk::replace(&mut disk, "starts", starts.to_string().as_bytes()).unwrap();
        node.attach_disk(Box::new(disk));
        node
    }

    fn run_restarted(node: &mut Node<SetNode>, from: u64, until: u64) -> Vec<Value> {
        let mut out = Vec::new();
        for t in from..=until {
            node.on_wake(at(ms(t)));
            out.extend(take_output(node));
        }
        out
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// n1 of n1, n2, n3 under `strategy`.
    fn node(strategy: Strategy) -> Node<SetNode> {
        let options = ReplicationOptions {
            strategy,
            ..ReplicationOptions::default()
        };
        let mut node = Node::new(SetNode(Replicator::new(Tagged("replicate"), options)), 7);
        init(&mut node, "n1", &["n1", "n2", "n3"]);
        node
    }

    /// Wakes the node every millisecond from `from` to `until`; returns
    /// what it wrote, each with the time it was written.
    fn run(node: &mut Node<SetNode>, from: u64, until: u64) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        for t in from..=until {
            node.on_wake(at(ms(t)));
            out.extend(take_output(node).into_iter().map(|m| (t, m)));
        }
        out
    }

    fn replica(node: &Node<SetNode>) -> &Replicator<GSet<u64>, Tagged> {
        &node.handler_ref().0
    }

    fn add(node: &mut Node<SetNode>, t: u64, element: u64) {
        let add = json!({"type": "add", "msg_id": 100 + element, "element": element});
        deliver(node, ms(t), "c1", add);
    }

    fn ack(node: &mut Node<SetNode>, t: u64, from: &str, of: &Value) {
        let ack = json!({"type": "replicate", "elements": [], "acks": [of["body"]["msg_id"]]});
        assert!(deliver(node, ms(t), from, ack).is_empty());
    }

    #[test]
    fn full_state_sends_the_whole_state_to_fanout_peers_every_tick() {
        let mut n = node(Strategy::FullState);
        add(&mut n, 0, 4);
        let out = run(&mut n, 1, 1000);
        // About ten ticks (100 ms + up to 10 ms jitter), two peers each.
        assert!((16..=20).contains(&out.len()), "{}", out.len());
        for (_, m) in &out {
            assert_eq!(
                m["body"],
                json!({"type": "replicate", "elements": [4], "msg_id": m["body"]["msg_id"]})
            );
        }
        assert_eq!(replica(&n).stats().full_states_sent, out.len() as u64);
    }

    #[test]
    fn delta_push_pushes_a_change_tells_everyone_has_and_then_is_silent() {
        let mut n = node(Strategy::DeltaPush);
        add(&mut n, 0, 4);
        let pushes = run(&mut n, 0, 1);
        let dests: Vec<&Value> = pushes.iter().map(|(_, m)| &m["dest"]).collect();
        assert_eq!(dests, ["n2", "n3"]);
        for (_, m) in &pushes {
            assert_eq!(m["body"]["elements"], json!([4]));
            assert_eq!(m["body"]["wants_ack"], true);
        }
        ack(&mut n, 50, "n2", &pushes[0].1);
        ack(&mut n, 50, "n3", &pushes[1].1);
        assert_eq!(replica(&n).peers_synced(), 2);
        assert_eq!(replica(&n).convergence_ms(), 50);
        // The fourth tick (~400–440 ms) tells both that everyone has 4;
        // then nothing, ever.
        let news = run(&mut n, 51, 10_000);
        assert_eq!(news.len(), 2, "{news:?}");
        for (t, m) in &news {
            assert!((400..=440).contains(t), "news at {t} ms");
            assert_eq!(m["body"]["everyone_has"], json!({"elements": [4]}));
            assert_eq!(m["body"]["elements"], json!([]));
            assert!(m["body"].get("wants_ack").is_none(), "news is not acked");
        }
    }

    #[test]
    fn a_third_partys_delta_is_repaired_only_when_no_news_says_it_arrived() {
        // n2 sends 9: n1 acks alone at the fourth tick, and after
        // retry_after (2 × (440 + 10) ms) repairs n3, which it does not know
        // to hold 9.
        let mut n = node(Strategy::DeltaPush);
        let delta = json!({"type": "replicate", "msg_id": 5, "elements": [9], "wants_ack": true});
        assert!(
            deliver(&mut n, ms(0), "n2", delta).is_empty(),
            "not pushed on"
        );
        let out = run(&mut n, 1, 1500);
        assert_eq!(out.len(), 2, "{out:?}");
        let (t, lone_ack) = &out[0];
        assert!((400..=440).contains(t), "ack at {t} ms");
        assert_eq!(lone_ack["dest"], "n2");
        assert_eq!(lone_ack["body"]["acks"], json!([5]));
        let (t, repair) = &out[1];
        assert!((900..=1010).contains(t), "repair at {t} ms");
        assert_eq!(repair["dest"], "n3");
        assert_eq!(repair["body"]["elements"], json!([9]));
        // With news that everyone has 9, nobody is repaired.
        let mut n = node(Strategy::DeltaPush);
        let delta = json!({"type": "replicate", "msg_id": 5, "elements": [9],
                           "wants_ack": true, "everyone_has": {"elements": [9]}});
        deliver(&mut n, ms(0), "n2", delta);
        let out = run(&mut n, 1, 5000);
        assert_eq!(out.len(), 1, "only the ack: {out:?}");
        assert_eq!(replica(&n).peers_synced(), 2);
    }

    #[test]
    fn a_silent_peer_is_repaired_every_retry_after_not_every_tick() {
        let mut n = node(Strategy::DeltaPush);
        add(&mut n, 0, 4);
        let pushes = run(&mut n, 0, 1);
        ack(&mut n, 20, "n2", &pushes[0].1);
        // n3 never answers.
        let out = run(&mut n, 21, 5000);
        let to_n3: Vec<u64> = out
            .iter()
            .filter(|(_, m)| m["dest"] == "n3")
            .map(|(t, _)| *t)
            .collect();
        assert!((4..=6).contains(&to_n3.len()), "{to_n3:?}");
        assert!(to_n3.windows(2).all(|w| w[1] - w[0] >= 900), "{to_n3:?}");
        assert!(
            out.iter().all(|(_, m)| m["dest"] == "n3"),
            "n2 is known up to date"
        );
    }

    #[test]
    fn the_budget_keeps_delta_push_at_full_states_message_rate() {
        let mut n = node(Strategy::DeltaPush);
        // An add every millisecond for a second: full-state would send
        // two messages per tick, about 20 a second.
        let mut sent = 0;
        for t in 0..1000 {
            add(&mut n, t, t);
            sent += run(&mut n, t, t).len();
        }
        // The full bucket (20 messages) plus a second's refill (~18).
        assert!((30..=40).contains(&sent), "{sent}");
        let stats = replica(&n).stats();
        assert_eq!(
            stats.pushes_sent as usize + stats.repairs_sent as usize + stats.control_sent as usize,
            sent
        );
    }

    #[test]
    fn a_message_from_a_stranger_merges_but_keeps_no_books() {
        let mut n = node(Strategy::DeltaPush);
        let delta = json!({"type": "replicate", "msg_id": 5, "elements": [3], "wants_ack": true});
        deliver(&mut n, ms(0), "n9", delta);
        assert!(replica(&n).state().contains(&3));
        assert!(replica(&n).known_state_of("n9").is_none());
        let out = run(&mut n, 1, 3000);
        assert!(out.iter().all(|(_, m)| m["dest"] != "n9"), "{out:?}");
    }
}
