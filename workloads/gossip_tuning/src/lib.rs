//! Workload `tuning`: broadcast whose dissemination can be tuned at run
//! time, and which reports what it costs in messages.
//!
//! It stands on the `gossip_set` library ([`Replica`]), as `broadcast`
//! does: values held once in order of first receipt, per-peer sets of
//! values a peer is not known to hold, bounded batches, and the
//! framework's acknowledged link for acks and resends.
//!
//! # Messages
//!
//! From clients:
//! - `broadcast {message}` → `broadcast_ok`, `read` → `read_ok {messages}`,
//!   `topology {topology}` → `topology_ok`: as in the `broadcast` workload
//!   (any JSON value, deduplicated as JSON; every value once, in order of
//!   first receipt; the suggested topology is checked for shape, then
//!   ignored). The reply is written before any message it causes.
//! - `configure {fanout?, gossip_interval_ms?, strategy?}` →
//!   `configure_ok`. Every field is optional. `fanout` is an integer ≥ 1
//!   (more than the peers means all of them), `gossip_interval_ms` an
//!   integer from 1 to 3 600 000, `strategy` `"random"` or `"hub"`. Any bad
//!   field → error 12 and nothing changes. A new interval re-arms the
//!   gossip timer at once (and rescales the ack and resend times).
//! - `gossip_stats` → `gossip_stats_ok {broadcasts_received,
//!   gossip_messages_sent, messages_per_op, unique_messages}`:
//!   - `broadcasts_received`: client `broadcast` requests this node
//!     handled, repeats of a value it held included;
//!   - `gossip_messages_sent`: every node-to-node message this node wrote:
//!     `exchange`, `exchange_ok` and `batch`, ack-only batches included;
//!   - `messages_per_op`: gossip_messages_sent / broadcasts_received as a
//!     float, or the integer `0` when no broadcast was received;
//!   - `unique_messages`: distinct values this node holds.
//!
//!   Counters saturate at 2^64 − 1 instead of wrapping.
//!
//! Between nodes (see [`gossip_set::replica`] for the exact rules):
//! - `exchange {values, acks?}` → `exchange_ok {values, acks?}`: push-pull;
//!   the request carries what the receiver is not known to hold, the reply
//!   acknowledges it and carries what the asker is not known to hold.
//! - `batch {values, acks?, resend?}`: one-way push, acknowledged by
//!   `acks` on a later message the other way (or alone, after max(1 s,
//!   2 × interval)); a batch with `resend: true` re-sends values presumed
//!   lost and is acknowledged at once, by a push back.
//!
//! Values go oldest first, at most 1000 or 256 KiB per message; nothing
//! acknowledged is ever sent to that peer again, and a push presumed lost
//! is sent again. Loss detection adapts to each peer (exact rules in
//! [`gossip_set::ledger`]); a push is presumed lost when
//! - it is overdue: unacknowledged for longer than that peer's smoothed
//!   ack time (TCP's SRTT + 4 × RTTVAR) + interval / 2, at most the old
//!   fixed 2 × max(1 s, 2 × interval) + 2 × interval (also the value
//!   before the first ack), and at most max(1 s, 2 × interval) + interval
//!   + the round-trip bound below, once that is known;
//! - it re-sent values (`resend`) and is unacknowledged for longer than
//!   the peer's smoothed round trip (SRTT + 4 × RTTVAR + interval / 2,
//!   max(1 s, 2 × interval) before the first sample), at most the above;
//! - a push sent at least interval / 2 later was acknowledged (fast
//!   retransmit: a node acks every batch it stored on its next message);
//! - the peer is heard from after a silence longer than its smoothed gap
//!   between messages + 4 deviations + interval / 2, at most the old
//!   1.5 × max(1 s, 2 × interval) + interval: the link was cut. A node
//!   gets a hub batch every interval, so a cut of two intervals is noticed
//!   by the first batch after the heal.
//!
//! A hub link on which something was presumed lost (or which was silent)
//! pushes at once rather than at the next tick, with the acks owed: so a
//! node that notices a heal tells the hub at once, and its acks show the
//! hub which of its batches were lost. Values presumed lost go again in a
//! `resend` batch, acked at once, so a value lost several times in a row
//! (20 % loss each way) is re-sent every round trip or tick instead of
//! every 1.5–2.2 s. A peer silent for the fixed bound with something in
//! flight to it gets probes: an `exchange` with no values, or a `batch`
//! that re-sends everything in flight to it (costs bytes: in `hub` the
//! link gets a batch every interval anyway).
//! `batch` or `exchange` from an id that is not a peer from `init` is
//! refused with error 12 and changes nothing.
//!
//! # Strategies (`--strategy`, or `strategy` in `configure`)
//! - `random` (default): every interval (plus up to 5 % jitter), and at
//!   once when a client's value arrives, a node runs `exchange` with
//!   `fanout` random peers among those it has values for.
//! - `hub`: the hub is the first of `init`'s node ids in sorted order.
//!   Another node sends each new client value to the hub at once in a
//!   `batch` (one message per broadcast, never more), and anything else
//!   pending for the hub every interval; its acks for the hub ride on
//!   those. The hub sends every peer, every interval, one `batch` of what
//!   that peer is not known to hold, with its acks. Worst path: 2 hops +
//!   one interval. If the hub stays silent for the fixed resend time while
//!   a node's batch is in flight to it (hub down or cut off), that node
//!   also runs `random` rounds until a `batch` from the hub arrives, so
//!   partitions heal through the other nodes too. `fanout` matters only
//!   for those rounds.
//!
//! # Knobs and what they trade
//! With N nodes, link latency L and B broadcasts/s, `hub` costs about
//! (N − 1) / interval + B messages/s, whatever the fanout, and delivers
//! within 2L + interval; a longer interval buys fewer messages with
//! latency. `random` costs up to 2 × fanout messages per node per interval
//! plus 2 × fanout per broadcast, and spreads in O(log N) rounds.
//!
//! Measured in the README ("Measured figures", broadcast and tuning): both
//! strategies at 25 nodes, 100 ms links, 100 ops/s, with and without
//! partitions, and the fanout × interval trade-off.
//!
//! Under every fault at once (`--nemesis partition --nemesis-interval 3
//! --duplicate 0.1 --latency-dist exponential --seeds 1..200 --sweep
//! loss=0.1,0.2`, 25 nodes as above) `hub` loses nothing in any of the 400
//! runs, at 100 ms and at 600 ms: after the final heal every node holds
//! every value within 1.7 / 2.3 s (median at 10 / 20 % loss; p99 3.1 /
//! 3.9 s, worst 4.5 s) at 100 ms, 4.6 / 5.8 s (worst 9.5 s) at 600 ms, at
//! 4.3 / 4.5 and 1.3 / 1.4 msgs/op. Before prompt re-sends a value lost
//! several times in a row waited up to 2.2 s (3.6 s at 600 ms) per
//! attempt: 2 of the 400 runs at 100 ms (p99 5.7 / 8.4 s, worst 9.0 s,
//! 3.9 / 4.1 msgs/op) and 132 at 600 ms still lacked a value at the final
//! read, 10 s after the heal.

use gossip_set::replica::{Batch, HasReplica, Replica, Stats, Timing};
use maelstrom_framework::topology::TopologyShape;
use maelstrom_framework::{
    Ctx, Error, GossipSettings, Handler, NodeId, Registration, Request, TimerId, View, Workload,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How values travel between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Push-pull with `fanout` random peers every interval.
    #[default]
    Random,
    /// Every node through one hub, batched per interval.
    Hub,
}

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Broadcast {
        message: Value,
    },
    Read,
    Topology {
        #[allow(dead_code, reason = "validated, then ignored by design")]
        topology: TopologyShape,
    },
    Configure {
        #[serde(default)]
        fanout: Option<u64>,
        #[serde(default)]
        gossip_interval_ms: Option<u64>,
        #[serde(default)]
        strategy: Option<Strategy>,
    },
    GossipStats,
    Batch(Batch),
    Exchange(Batch),
}

/// What the node answers clients.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    BroadcastOk,
    ReadOk {
        messages: &'a [Value],
    },
    TopologyOk,
    ConfigureOk,
    GossipStatsOk {
        broadcasts_received: u64,
        gossip_messages_sent: u64,
        messages_per_op: MessagesPerOp,
        unique_messages: usize,
    },
}

/// gossip_messages_sent / broadcasts_received, written as a float, or as
/// the integer `0` when no broadcast was received (never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MessagesPerOp(pub Option<f64>);

impl Serialize for MessagesPerOp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(ratio) => s.serialize_f64(ratio),
            None => s.serialize_u64(0),
        }
    }
}

/// `--fanout`, `--gossip-interval-ms` and `--strategy`.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    #[command(flatten)]
    pub gossip: GossipSettings,
    /// How values travel between nodes: `random` peers or through a `hub`.
    #[arg(long, value_enum, default_value_t = Strategy::Random)]
    pub strategy: Strategy,
}

/// The one timer: a gossip round.
#[derive(Debug, Clone)]
pub enum Timer {
    Gossip,
}

/// A tunable broadcast node.
#[derive(Debug)]
pub struct Tuning {
    settings: GossipSettings,
    strategy: Strategy,
    replica: Replica,
    /// The first node id in sorted order (set by `init`).
    hub: Option<NodeId>,
    /// Set when the hub left a batch unacknowledged for the resend time,
    /// cleared when a batch from the hub arrives; while set, this node runs
    /// `random` rounds too.
    hub_unresponsive: bool,
    gossip_timer: Option<TimerId>,
}

impl Tuning {
    pub fn new(settings: GossipSettings, strategy: Strategy) -> Tuning {
        Tuning {
            settings,
            strategy,
            replica: Replica::new(Timing::for_interval(settings.interval())),
            hub: None,
            hub_unresponsive: false,
            gossip_timer: None,
        }
    }

    /// Every value held, in order of first receipt.
    pub fn values(&self) -> &[Value] {
        self.replica.values()
    }

    pub fn stats(&self) -> &Stats {
        self.replica.stats()
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn settings(&self) -> GossipSettings {
        self.settings
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The hub of the `hub` strategy (whatever the current strategy).
    pub fn hub(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    /// The hub, when this node uses the `hub` strategy and is not the hub.
    fn my_hub(&self, ctx: &Ctx<Self>) -> Option<NodeId> {
        match (&self.hub, self.strategy) {
            (Some(hub), Strategy::Hub) if hub != ctx.id() => Some(hub.clone()),
            _ => None,
        }
    }

    fn arm_timer(&mut self, ctx: &mut Ctx<Self>) {
        if let Some(old) = self.gossip_timer.take() {
            ctx.cancel_timer(old);
        }
        let interval = self.settings.interval();
        self.gossip_timer = Some(ctx.every(interval, interval / 20, Timer::Gossip));
    }

    /// Push-pull with `fanout` random peers among those with values
    /// pending.
    fn random_round(&mut self, ctx: &mut Ctx<Self>) {
        let idle = self.replica.idle_peers(ctx.now());
        let targets = ctx.sample_peers(self.settings.fanout(), &idle);
        for peer in targets {
            self.replica.exchange(ctx, &peer);
        }
    }

    /// Sends `peer` (the hub, or from the hub a node) what it is not known
    /// to hold, if anything, or a probe if it is overdue. (Acks owed to it
    /// wait for this or for their delay.)
    fn push_if_due(&mut self, ctx: &mut Ctx<Self>, peer: &str) {
        let due =
            self.replica.ledger().pending_len(peer) > 0 || self.replica.probe_due(peer, ctx.now());
        if due {
            self.replica.push(ctx, peer);
        }
    }

    fn check_peer(&self, src: &str, kind: &str) -> Result<(), Error> {
        if self.replica.is_peer(src) {
            Ok(())
        } else {
            Err(Error::malformed(format!(
                "{kind} is a node-to-node message, and {src} is not a peer"
            )))
        }
    }

    /// Whether the hub is down or cut off: it has been silent for the
    /// longest resend time ([`Timing::resend_after`]) while something of
    /// ours is in flight to it. (Not the adaptive times: a lost batch or
    /// two must not send every node into random rounds.)
    fn hub_overdue(&self, ctx: &Ctx<Self>, hub: &str) -> bool {
        let ledger = self.replica.ledger();
        ledger.oldest_in_flight(hub).is_some()
            && ledger.silent_for(hub, ctx.now()) >= self.replica.timing().resend_after
    }
}

impl HasReplica for Tuning {
    fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }
}

impl Handler for Tuning {
    type Message = Message;
    type Timer = Timer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Values(self.values()))
    }

    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        self.replica.join(ctx.peers().cloned());
        self.replica.recover(ctx)?;
        self.hub = ctx.node_ids().iter().min().cloned();
        self.arm_timer(ctx);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Broadcast { message } => {
                self.replica.count_broadcast();
                let new = self.replica.accept(ctx, message, None)?.is_new();
                ctx.reply(req, &Reply::BroadcastOk);
                if new {
                    match (self.strategy, self.my_hub(ctx)) {
                        (Strategy::Random, _) => self.random_round(ctx),
                        (Strategy::Hub, Some(hub)) => self.push_if_due(ctx, &hub),
                        (Strategy::Hub, None) => {}
                    }
                }
            }
            Message::Read => ctx.reply(
                req,
                &Reply::ReadOk {
                    messages: self.replica.values(),
                },
            ),
            Message::Topology { .. } => ctx.reply(req, &Reply::TopologyOk),
            Message::Configure {
                fanout,
                gossip_interval_ms,
                strategy,
            } => {
                let old_interval = self.settings.interval();
                self.settings.configure(fanout, gossip_interval_ms)?;
                if let Some(strategy) = strategy {
                    self.strategy = strategy;
                }
                if self.settings.interval() != old_interval {
                    self.replica
                        .set_timing(Timing::for_interval(self.settings.interval()));
                    self.arm_timer(ctx);
                }
                ctx.reply(req, &Reply::ConfigureOk);
            }
            Message::GossipStats => {
                let stats = self.replica.stats();
                ctx.reply(
                    req,
                    &Reply::GossipStatsOk {
                        broadcasts_received: stats.broadcasts_received,
                        gossip_messages_sent: stats.messages_sent,
                        messages_per_op: MessagesPerOp(stats.messages_per_broadcast()),
                        unique_messages: self.replica.values().len(),
                    },
                );
            }
            Message::Exchange(batch) => {
                self.check_peer(&req.src, "exchange")?;
                self.replica.answer_exchange(ctx, req, batch);
            }
            Message::Batch(batch) => {
                self.check_peer(&req.src, "batch")?;
                if self.hub.as_deref() == Some(req.src.as_str()) {
                    self.hub_unresponsive = false;
                }
                let receipt = self.replica.on_batch(ctx, &req.src, req.msg_id, batch);
                // A hub link back after a silence (a healed partition), or
                // a batch of ours overtaken by a later one: what was lost
                // goes now, not at the next tick, and so do the acks owed
                // for this batch, which tell the other side what of its own
                // was lost (fast retransmit there). A batch that re-sent
                // values wants its ack now, whatever the link.
                let hub_link = self.hub.as_deref() == Some(req.src.as_str())
                    || self.hub.as_deref() == Some(ctx.id());
                let lost = receipt.reconnected || receipt.requeued;
                if receipt.ack_now || (lost && self.strategy == Strategy::Hub && hub_link) {
                    self.replica.push(ctx, &req.src);
                }
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: Timer) -> anyhow::Result<()> {
        match timer {
            Timer::Gossip => {
                let hub = self.my_hub(ctx);
                if let Some(hub) = &hub {
                    self.hub_unresponsive |= self.hub_overdue(ctx, hub);
                }
                self.replica.requeue_expired(ctx.now());
                match (self.strategy, hub) {
                    (Strategy::Random, _) => self.random_round(ctx),
                    (Strategy::Hub, Some(hub)) => {
                        if self.hub_unresponsive {
                            self.random_round(ctx);
                        }
                        self.push_if_due(ctx, &hub);
                    }
                    (Strategy::Hub, None) => {
                        // This node is the hub: every peer gets its batch.
                        let peers: Vec<NodeId> = self.replica.ledger().peers().cloned().collect();
                        for peer in peers {
                            self.push_if_due(ctx, &peer);
                        }
                    }
                }
                self.replica.send_due_acks(ctx);
            }
        }
        Ok(())
    }
}

impl Workload for Tuning {
    type Options = Options;

    fn new(options: &Options) -> Self {
        Tuning::new(options.gossip, options.strategy)
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<Tuning>(
        "tuning",
        "Broadcast with tunable gossip (random or hub, fanout, interval) and gossip_stats"
    )
    .implements(&["broadcast"])
);

#[cfg(test)]
mod tests;
