//! Replicating a [`Crdt`] across the cluster, by one of two strategies a
//! workload selects by flag (`--strategy`).
//!
//! # `full-state` (the seed tasks' protocol)
//! Every gossip tick (`--gossip-interval-ms`, default 100, plus up to 10 %
//! jitter) the whole state goes to `--fanout` random peers (default 2). No
//! acks, nothing to keep per peer; self-healing after any loss or
//! partition. It costs `fanout` messages per node per tick forever, idle or
//! not, each as large as the state.
//!
//! # `delta-push`
//! Changes are pushed over an acknowledged link per peer
//! ([`super::link`]), and the tick only repairs.
//! - *Knowledge.* Per peer the node keeps `known`, a lower bound of the
//!   peer's state built from evidence only: what the peer sent, and what it
//!   acknowledged; and `covered`: `known` joined with what is in flight to
//!   it.
//! - *Push.* A local change ([`Replicator::update`]) is pushed, after at
//!   most `--push-delay-ms` (default 10; the first change after a quiet
//!   spell goes right after the current input), to every peer: each gets
//!   [`Crdt::delta_from`] its `covered` state, asking for an ack
//!   (`wants_ack`). So a change reaches every node in one link latency,
//!   and a push also carries whatever else the peer is not known to hold.
//!   Deltas received are not pushed on: their origin pushes them to
//!   everyone.
//! - *Acks* ride on the next message to the sender, or go alone once the
//!   oldest has waited the link's ack delay (checked each tick). An ack
//!   moves the delta into `known`. A delta presumed lost by the link (an
//!   overdue ack, a later one acked, a silence) leaves `covered`, so the
//!   next push or repair carries it again; one that re-sends content asks
//!   for a prompt ack (`resend`).
//! - *Anti-entropy.* Each tick, up to `fanout` random peers whose
//!   `covered` state lacks part of ours, and has for longer than the
//!   link's resend time (long enough for the origin's push and its ack to
//!   have come), get that delta. This repairs losses and partitions and
//!   relays between nodes that cannot reach each other. Once every node
//!   knows its peers hold its state, an idle cluster sends nothing.
//!
//! # Messages (the type name is the workload's)
//! `{type, <the CRDT's fields>, wants_ack?, acks?, resend?}`: the state
//! or a delta, flattened into the body; `wants_ack: true` on a delta-push
//! message with content; `acks`, msg_ids of the receiver's messages the
//! sender has merged; `resend: true` when it re-sends content presumed
//! lost (ack at once). Full-state messages carry only the state, as the
//! seed tasks do. Fields left out when empty or false.
//!
//! # Using it
//! The workload keeps a `Replicator<C>` in its handler, calls
//! [`Replicator::start`] in `init`, [`Replicator::update`] for local
//! changes, [`Replicator::on_message`] for the message type it names, and
//! [`Replicator::on_timer`] for the [`ReplicationTimer`]s (its timer type
//! converts from them). See the `g_set` workload for the whole of it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::crdt::Crdt;
use super::link::{Link, Timing};
use crate::gossip::{GossipSettings, MAX_INTERVAL_MS};
use crate::node::{Ctx, Handler, Request};
use crate::protocol::NodeId;
use crate::timers::TimerId;

/// How a [`Replicator`] spreads its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The whole state to `fanout` random peers every gossip tick.
    #[default]
    FullState,
    /// Changes pushed at once over acknowledged links; the tick repairs.
    DeltaPush,
}

/// The default `--push-delay-ms`: adds that arrive together share a push,
/// and convergence stays well inside a tick.
pub const DEFAULT_PUSH_DELAY_MS: u64 = 10;

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
    /// delta-push: the push delay is over.
    Push,
}

/// A replication message as received: the state or delta, and the link's
/// fields.
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
    pub resend: bool,
}

/// A replication message as sent.
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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    resend: bool,
}

/// What the replicator sent. Saturating counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    pub ticks: u64,
    /// full-state messages.
    pub states_sent: u64,
    /// delta-push messages with content, pushes and repairs.
    pub deltas_sent: u64,
    /// delta-push messages with only acks.
    pub acks_sent: u64,
}

/// What this node knows of one peer (delta-push).
#[derive(Debug, Clone, Default)]
struct Peer<C> {
    /// A lower bound of the peer's state.
    known: C,
    /// `known` and what is in flight to the peer.
    covered: C,
    link: Link<C>,
    /// Since when `covered` has lacked part of our state.
    behind_since: Option<Duration>,
    /// A message from the peer asked for a prompt ack.
    ack_now: bool,
    /// A delta was presumed lost since the last push: the next one asks
    /// for a prompt ack.
    resending: bool,
}

impl<C: Crdt> Peer<C> {
    /// Deltas the link presumed lost leave `covered`.
    fn lost(&mut self, lost: Vec<C>) -> bool {
        if lost.is_empty() {
            return false;
        }
        self.resending = true;
        let mut covered = self.known.clone();
        for delta in self.link.in_flight() {
            covered.merge(delta);
        }
        self.covered = covered;
        true
    }
}

/// A CRDT replicated across the cluster.
#[derive(Debug)]
pub struct Replicator<C> {
    kind: &'static str,
    options: ReplicationOptions,
    timing: Timing,
    state: C,
    peers: BTreeMap<NodeId, Peer<C>>,
    tick: Option<TimerId>,
    push_armed: bool,
    last_push: Option<Duration>,
    stats: ReplicationStats,
}

impl<C: Crdt + Serialize + DeserializeOwned> Replicator<C> {
    /// A replicator that sends its state in messages of type `kind`.
    pub fn new(kind: &'static str, options: ReplicationOptions) -> Replicator<C> {
        Replicator {
            kind,
            timing: Timing::for_interval(options.gossip.interval()),
            options,
            state: C::default(),
            peers: BTreeMap::new(),
            tick: None,
            push_armed: false,
            last_push: None,
            stats: ReplicationStats::default(),
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

    /// What this node knows `peer` holds (delta-push; the bottom under
    /// full-state, and `None` for an id not from `init`).
    pub fn known_state_of(&self, peer: &str) -> Option<&C> {
        self.peers.get(peer).map(|p| &p.known)
    }

    /// How many peers are known to hold our whole state.
    pub fn peers_synced(&self) -> usize {
        self.peers
            .values()
            .filter(|p| p.known.covers(&self.state))
            .count()
    }

    /// After `init`: the peers are every other node; the tick starts.
    pub fn start<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        self.peers = ctx.peers().map(|p| (p.clone(), Peer::default())).collect();
        self.arm_tick(ctx);
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

    /// Changes the options (a workload's `configure`): a new interval
    /// re-arms the tick at once and rescales the link's timing.
    pub fn configure<H: Handler>(&mut self, ctx: &mut Ctx<H>, options: ReplicationOptions)
    where
        H::Timer: From<ReplicationTimer>,
    {
        let old = self.options;
        self.options = options;
        if options.gossip.gossip_interval_ms != old.gossip.gossip_interval_ms {
            self.timing = Timing::for_interval(options.gossip.interval());
            self.arm_tick(ctx);
        }
        self.schedule_push(ctx);
    }

    /// A local change: `change` edits the state and says whether it changed
    /// it. Returns what `change` returned.
    pub fn update<H: Handler, R>(&mut self, ctx: &mut Ctx<H>, change: impl FnOnce(&mut C) -> R) -> R
    where
        H::Timer: From<ReplicationTimer>,
    {
        let result = change(&mut self.state);
        self.refresh(ctx.now());
        self.schedule_push(ctx);
        result
    }

    /// A replication message from `req.src`: merges it (from any sender;
    /// state is state) and keeps the books of a peer from `init`. Returns
    /// what was new here (the bottom if nothing).
    pub fn on_message<H: Handler>(&mut self, ctx: &mut Ctx<H>, req: &Request, msg: Gossip<C>) -> C
    where
        H::Timer: From<ReplicationTimer>,
    {
        let now = ctx.now();
        let new = msg.state.delta_from(&self.state);
        self.state.merge(&new);
        if let Some(peer) = self.peers.get_mut(&req.src) {
            let settled = peer.link.acknowledged(&msg.acks, now, &self.timing);
            for delta in &settled.acked {
                peer.known.merge(delta);
            }
            peer.lost(settled.lost);
            let heard = peer.link.heard_from(now, &self.timing);
            peer.lost(heard.lost);
            // A node holds what it sends.
            peer.known.merge(&msg.state);
            peer.covered.merge(&msg.state);
            if let (true, Some(id)) = (msg.wants_ack && !msg.state.is_empty(), req.msg_id) {
                peer.link.owe_ack(id, now);
                peer.ack_now |= msg.resend;
            }
            if peer.ack_now {
                let src = req.src.clone();
                self.send_to(ctx, &src, false);
            }
        }
        self.refresh(now);
        new
    }

    /// Runs a [`ReplicationTimer`].
    pub fn on_timer<H: Handler>(&mut self, ctx: &mut Ctx<H>, timer: ReplicationTimer)
    where
        H::Timer: From<ReplicationTimer>,
    {
        match timer {
            ReplicationTimer::Tick => self.on_tick(ctx),
            ReplicationTimer::Push => {
                self.push_armed = false;
                self.push(ctx);
            }
        }
    }

    fn on_tick<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        self.stats.ticks = self.stats.ticks.saturating_add(1);
        match self.options.strategy {
            Strategy::FullState => {
                let body = Out {
                    kind: self.kind,
                    state: &self.state,
                    wants_ack: false,
                    acks: Vec::new(),
                    resend: false,
                };
                for dest in ctx.sample_peers(self.options.gossip.fanout(), &[]) {
                    ctx.send(&dest, &body);
                    self.stats.states_sent = self.stats.states_sent.saturating_add(1);
                }
            }
            Strategy::DeltaPush => {
                self.repair(ctx);
                self.send_due_acks(ctx);
            }
        }
    }

    /// Whether our state has something `peer`'s covered state lacks.
    fn is_behind(state: &C, peer: &Peer<C>) -> bool {
        !peer.covered.covers(state)
    }

    /// Brings each peer's `behind_since` up to date.
    fn refresh(&mut self, now: Duration) {
        for peer in self.peers.values_mut() {
            if Self::is_behind(&self.state, peer) {
                peer.behind_since.get_or_insert(now);
            } else {
                peer.behind_since = None;
            }
        }
    }

    /// delta-push: arms the push timer, to fire once the last push is a
    /// push delay old (at once if it is already).
    fn schedule_push<H: Handler>(&mut self, ctx: &mut Ctx<H>)
    where
        H::Timer: From<ReplicationTimer>,
    {
        if self.options.strategy != Strategy::DeltaPush || self.push_armed {
            return;
        }
        if !self.peers.values().any(|p| Self::is_behind(&self.state, p)) {
            return;
        }
        let now = ctx.now();
        let since_last = self
            .last_push
            .map_or(Duration::MAX, |t| now.saturating_sub(t));
        let delay = Duration::from_millis(self.options.push_delay_ms).saturating_sub(since_last);
        self.push_armed = true;
        ctx.set_timer(delay, ReplicationTimer::Push.into());
    }

    /// Every peer whose covered state lacks part of ours gets that delta.
    fn push<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        if self.options.strategy != Strategy::DeltaPush {
            return;
        }
        let behind: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| Self::is_behind(&self.state, p))
            .map(|(id, _)| id.clone())
            .collect();
        if !behind.is_empty() {
            self.last_push = Some(ctx.now());
        }
        for id in behind {
            self.send_to(ctx, &id, false);
        }
    }

    /// delta-push anti-entropy: expired deltas leave `covered`; then up to
    /// `fanout` random peers behind for longer than their link's resend
    /// time get what they lack.
    fn repair<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        let now = ctx.now();
        let timing = self.timing;
        for peer in self.peers.values_mut() {
            if peer.link.probe_due(now, &timing) {
                let lost = peer.link.give_up_all();
                peer.lost(lost);
            }
            let lost = peer.link.expired(now, &timing);
            peer.lost(lost);
        }
        self.refresh(now);
        let not_due: Vec<&str> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.behind_since
                    .is_none_or(|since| now.saturating_sub(since) < p.link.resend_after(&timing))
            })
            .map(|(id, _)| id.as_str())
            .collect();
        if not_due.len() == self.peers.len() {
            return;
        }
        for id in ctx.sample_peers(self.options.gossip.fanout(), &not_due) {
            self.send_to(ctx, &id, false);
        }
    }

    /// Acks that found no message to ride on within the ack delay go alone.
    fn send_due_acks<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        let now = ctx.now();
        let due: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.link.ack_due(now, self.timing.ack_delay))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.send_to(ctx, &id, true);
        }
    }

    /// Sends `dest` what its covered state lacks, with the acks owed to it.
    /// Sends nothing when there is neither, unless `ack_only` asked for
    /// the acks to go in any case.
    fn send_to<H: Handler>(&mut self, ctx: &mut Ctx<H>, dest: &str, ack_only: bool) {
        let Some(peer) = self.peers.get_mut(dest) else {
            return;
        };
        let delta = if ack_only {
            C::default()
        } else {
            self.state.delta_from(&peer.covered)
        };
        let acks = peer.link.take_owed_acks();
        peer.ack_now = false;
        if delta.is_empty() && acks.is_empty() {
            return;
        }
        let resend = !delta.is_empty() && std::mem::take(&mut peer.resending);
        let body = Out {
            kind: self.kind,
            state: &delta,
            wants_ack: !delta.is_empty(),
            acks,
            resend,
        };
        let msg_id = ctx.send(dest, &body);
        let now = ctx.now();
        if delta.is_empty() {
            self.stats.acks_sent = self.stats.acks_sent.saturating_add(1);
        } else {
            self.stats.deltas_sent = self.stats.deltas_sent.saturating_add(1);
            peer.covered.merge(&delta);
            peer.link.sent(msg_id, delta, now, resend);
            peer.behind_since = None;
        }
    }
}
