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
//!   `covered` state lacks part of ours get that delta: at once when a
//!   delta to them was presumed lost (re-sends to a peer that stays
//!   silent back off, 1, 2, then 4 of the link's prompt timeouts apart,
//!   [`MAX_BACKOFF_DOUBLINGS`]; anything heard from it resets that), else once it
//!   has lacked it for
//!   longer than the link's resend time (long enough for the origin's
//!   push and its ack to have come). This repairs losses and partitions and
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

/// Re-sends to a peer that stays silent back off ([`Link::retried`]):
/// the link's prompt timeout (1 s before it has a round trip), then twice
/// and four times that: a cut-off peer costs a message every few seconds,
/// and hears again within as long of a heal.
pub const MAX_BACKOFF_DOUBLINGS: u32 = 2;

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
            let lost = peer.link.expired(now, &timing);
            peer.lost(lost);
        }
        self.refresh(now);
        let not_due: Vec<&str> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                // What we sent and lost goes again at once (backing off
                // while the peer stays silent); what a third party sent us
                // waits for its origin's push and ack.
                if p.resending {
                    !p.link.retry_due(now)
                } else {
                    p.behind_since.is_none_or(|since| {
                        now.saturating_sub(since) < p.link.resend_after(&timing)
                    })
                }
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
        if resend {
            let prompt = peer.link.prompt_resend_after(&self.timing);
            peer.link.retried(ctx.now(), prompt, MAX_BACKOFF_DOUBLINGS);
        }
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

    struct SetNode(Replicator<GSet<u64>>);

    impl Handler for SetNode {
        type Message = Msg;
        type Timer = ReplicationTimer;

        fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
            self.0.start(ctx);
            Ok(())
        }

        fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
            match msg {
                Msg::Add { element } => {
                    self.0.update(ctx, |s| s.insert(element));
                    ctx.reply(req, &json!({"type": "add_ok"}));
                }
                Msg::Replicate(gossip) => {
                    self.0.on_message(ctx, req, gossip);
                }
            }
            Ok(())
        }

        fn on_timer(&mut self, ctx: &mut Ctx<Self>, t: ReplicationTimer) -> anyhow::Result<()> {
            self.0.on_timer(ctx, t);
            Ok(())
        }
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
        let mut node = Node::new(SetNode(Replicator::new("replicate", options)), 7);
        init(&mut node, "n1", &["n1", "n2", "n3"]);
        node
    }

    /// Wakes the node every millisecond up to `until`; returns what it
    /// wrote, each with the time it was written.
    fn run_until(node: &mut Node<SetNode>, from: u64, until: u64) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        for t in from..=until {
            node.on_wake(at(ms(t)));
            out.extend(take_output(node).into_iter().map(|m| (t, m)));
        }
        out
    }

    fn replica(node: &Node<SetNode>) -> &Replicator<GSet<u64>> {
        &node.handler_ref().0
    }

    #[test]
    fn full_state_sends_the_whole_state_to_fanout_peers_every_tick() {
        let mut n = node(Strategy::FullState);
        deliver(
            &mut n,
            ms(0),
            "c1",
            json!({"type": "add", "msg_id": 1, "element": 4}),
        );
        let out = run_until(&mut n, 1, 1000);
        // About ten ticks (100 ms + up to 10 ms jitter), two peers each.
        let sent: Vec<_> = out
            .iter()
            .filter(|(_, m)| m["body"]["type"] == "replicate")
            .collect();
        assert!((16..=20).contains(&sent.len()), "{}", sent.len());
        for (_, m) in sent {
            assert_eq!(m["body"]["elements"], json!([4]));
            assert!(m["body"].get("wants_ack").is_none(), "{m}");
        }
    }

    #[test]
    fn delta_push_sends_a_change_at_once_and_nothing_more_once_acked() {
        let mut n = node(Strategy::DeltaPush);
        deliver(
            &mut n,
            ms(0),
            "c1",
            json!({"type": "add", "msg_id": 1, "element": 4}),
        );
        let out = run_until(&mut n, 0, 1);
        let pushes: Vec<&Value> = out.iter().map(|(_, m)| m).collect();
        assert_eq!(pushes.len(), 2, "{pushes:?}");
        let ids: Vec<u64> = pushes
            .iter()
            .map(|m| m["body"]["msg_id"].as_u64().unwrap())
            .collect();
        for (m, peer) in pushes.iter().zip(["n2", "n3"]) {
            assert_eq!(m["dest"], peer);
            assert_eq!(m["body"]["elements"], json!([4]));
            assert_eq!(m["body"]["wants_ack"], true);
        }
        for (peer, id) in ["n2", "n3"].into_iter().zip(ids) {
            let ack = json!({"type": "replicate", "elements": [], "acks": [id]});
            assert!(deliver(&mut n, ms(50), peer, ack).is_empty());
        }
        assert_eq!(replica(&n).peers_synced(), 2);
        // Known everywhere: the next ten seconds are silent.
        assert!(run_until(&mut n, 51, 10_000).is_empty());
    }

    #[test]
    fn delta_push_resends_an_unacknowledged_delta_asking_for_a_prompt_ack() {
        let mut n = node(Strategy::DeltaPush);
        deliver(
            &mut n,
            ms(0),
            "c1",
            json!({"type": "add", "msg_id": 1, "element": 4}),
        );
        let pushes = run_until(&mut n, 0, 1);
        let to_n2 = pushes.iter().find(|(_, m)| m["dest"] == "n2").unwrap();
        let id = to_n2.1["body"]["msg_id"].clone();
        // n2 acks; n3 never answers: its push is given up after the resend
        // time (2.2 s before any ack: Timing::for_interval(100 ms)) and
        // goes again at the next tick, marked as a resend.
        let ack = json!({"type": "replicate", "elements": [], "acks": [id]});
        deliver(&mut n, ms(20), "n2", ack);
        let out = run_until(&mut n, 2, 2600);
        assert_eq!(out.len(), 1, "{out:?}");
        let (t, m) = &out[0];
        assert!((2200..=2320).contains(t), "resent at {t} ms");
        assert_eq!(m["dest"], "n3");
        assert_eq!(m["body"]["elements"], json!([4]));
        assert_eq!(m["body"]["resend"], true);
        assert_eq!(replica(&n).peers_synced(), 1);
    }

    #[test]
    fn delta_push_relays_what_a_peer_sent_only_after_a_grace() {
        let mut n = node(Strategy::DeltaPush);
        let delta = json!({"type": "replicate", "msg_id": 5, "elements": [9], "wants_ack": true});
        assert!(
            deliver(&mut n, ms(0), "n2", delta).is_empty(),
            "not pushed on"
        );
        let out = run_until(&mut n, 1, 3000);
        // The ack goes alone after the ack delay (1 s)…
        let (t, ack) = &out[0];
        assert!((1000..=1110).contains(t), "ack at {t} ms");
        assert_eq!(ack["dest"], "n2");
        assert_eq!(ack["body"]["acks"], json!([5]));
        assert_eq!(ack["body"]["elements"], json!([]));
        // …and n3, not known to hold 9, gets it by anti-entropy once the
        // resend time (2.2 s) has passed, when its origin's push and ack
        // would have come.
        let (t, relay) = &out[1];
        assert!((2200..=2320).contains(t), "relayed at {t} ms");
        assert_eq!(relay["dest"], "n3");
        assert_eq!(relay["body"]["elements"], json!([9]));
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn a_message_from_a_stranger_merges_but_keeps_no_books() {
        let mut n = node(Strategy::DeltaPush);
        let delta = json!({"type": "replicate", "msg_id": 5, "elements": [3], "wants_ack": true});
        deliver(&mut n, ms(0), "n9", delta);
        assert!(replica(&n).state().contains(&3));
        assert!(replica(&n).known_state_of("n9").is_none());
        let out = run_until(&mut n, 1, 3000);
        assert!(out.iter().all(|(_, m)| m["dest"] != "n9"), "{out:?}");
    }

    #[test]
    fn re_sends_to_a_silent_peer_back_off_and_stop_once_it_answers() {
        let mut n = node(Strategy::DeltaPush);
        deliver(
            &mut n,
            ms(0),
            "c1",
            json!({"type": "add", "msg_id": 1, "element": 4}),
        );
        let pushes = run_until(&mut n, 0, 1);
        for (_, m) in &pushes {
            if m["dest"] == "n2" {
                let ack =
                    json!({"type": "replicate", "elements": [], "acks": [m["body"]["msg_id"]]});
                deliver(&mut n, ms(20), "n2", ack);
            }
        }
        // n3 is cut off for 20 s: re-sends at ~2.2 s, then 1, 2, 4, 4, …
        // seconds apart (the prompt timeout, doubling up to 4×).
        let out = run_until(&mut n, 2, 20_000);
        let times: Vec<u64> = out.iter().map(|(t, _)| *t).collect();
        assert!(
            out.iter()
                .all(|(_, m)| m["dest"] == "n3" && m["body"]["resend"] == true)
        );
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(times.len() >= 5 && times.len() <= 8, "{times:?}");
        assert!(gaps.iter().all(|&g| g >= 1000), "{gaps:?}");
        assert!(
            gaps.iter().skip(3).all(|&g| (4000..=4300).contains(&g)),
            "{gaps:?}"
        );
        // n3 comes back, too late to ack the latest (given up after its
        // prompt timeout): heard after a silence, it gets the delta again
        // at the next tick, at once; once that is acked nothing more goes.
        let last = out.last().unwrap().1["body"]["msg_id"].clone();
        let ack = json!({"type": "replicate", "elements": [], "acks": [last]});
        deliver(&mut n, ms(20_001), "n3", ack);
        let again = run_until(&mut n, 20_002, 20_200);
        assert_eq!(again.len(), 1, "{again:?}");
        let ack =
            json!({"type": "replicate", "elements": [], "acks": [again[0].1["body"]["msg_id"]]});
        deliver(&mut n, ms(20_201), "n3", ack);
        assert_eq!(replica(&n).peers_synced(), 2);
        assert!(run_until(&mut n, 20_202, 40_000).is_empty());
    }
}
