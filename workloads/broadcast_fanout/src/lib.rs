//! Workload `broadcast`: Maelstrom's broadcast by random-fanout gossip, with
//! an anti-entropy backstop so that no acknowledged value is ever missed.
//!
//! # Messages
//!
//! From clients (Maelstrom's broadcast workload):
//! - `broadcast {message}` → `broadcast_ok`. `message` may be any JSON
//!   value; equal values (compared as JSON, object key order aside) are
//!   one value. The reply is written before any gossip it causes.
//! - `read` → `read_ok {messages}`: every value held, each once, in order
//!   of first receipt.
//! - `topology {topology}` → `topology_ok`. The suggested topology is
//!   checked for shape, then ignored: nodes gossip with random peers among
//!   all of `init`'s `node_ids` (Maelstrom's grid has long paths; random
//!   peers do not).
//!
//! Between nodes:
//! - `gossip {value}` (one-way, never answered): a value's first receipt at
//!   a node, from a client or in a `gossip`, is forwarded at once to
//!   `--fanout` random peers, never to the node itself nor to the gossip's
//!   sender. A value already held is never forwarded again.
//! - `exchange {values}` → `exchange_ok {values}`: anti-entropy.
//!   Forwarding to K random peers alone misses nodes (with 25 nodes and
//!   K = 2, most values miss some node), so every `--gossip-interval-ms`
//!   (plus up to 5 % jitter) a node runs a push-pull round with `--fanout`
//!   random peers among those it has values for: it sends the values each
//!   is not known to hold (see [`ledger`]); the reply acknowledges them and
//!   carries the values the asker is not known to hold. Batches are
//!   bounded, oldest values first; an acknowledged value is never sent to
//!   that peer again, and a batch presumed lost is sent again, so values
//!   cut off by a partition arrive after it heals. Loss detection adapts
//!   per peer ([`ledger`]): a batch is presumed lost when its reply is
//!   overdue (a TCP-style smoothed ack time: mean + 4 deviations + half
//!   an interval, at most [`replica::Timing::resend_after`], 2.2 s at the
//!   default interval), when the reply to a later exchange came first
//!   (fast retransmit), or when the peer is heard from after a silence
//!   longer than its usual gaps (at most [`replica::Timing::silence`],
//!   1.6 s). A peer silent for that bound with something in flight to it
//!   gets an empty `exchange` (a probe) in rounds. So a healed partition
//!   converges in well under a second. See [`replica`] for the exact
//!   rules. Values learned by `exchange` are not forwarded by `gossip`.
//!
//! A `gossip` or `exchange` from an id that is not a peer from `init` is
//! refused with error 12 and changes nothing.
//!
//! # Flags
//! - `--fanout K` (default 2, ≥ 1): peers per forward and per anti-entropy
//!   round; more than the peers means all of them.
//! - `--gossip-interval-ms MS` (default 100, 1..=3 600 000): the
//!   anti-entropy period.
//!
//! # Counters (read through [`Broadcast::stats`]; all saturate)
//! - `broadcasts_received`: client `broadcast` requests handled, repeats
//!   of a held value included.
//! - `messages_sent`: node-to-node messages written (`gossip`, `exchange`
//!   and `exchange_ok`).
//! - `values_sent`: values carried by them, repeats included.
//!
//! # Costs
//! Forwarding costs about K × (nodes reached) messages per value, and an
//! anti-entropy round at most 2K messages per node per interval, none once
//! every peer has acknowledged every value (measured in the README,
//! "Measured figures", broadcast and tuning). Memory: every value held, plus per
//! peer the indices of values it is not known to hold.

use maelstrom_framework::topology::TopologyShape;
use maelstrom_framework::{
    Ctx, Error, GossipSettings, Handler, Registration, Request, View, Workload,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use gossip_set::replica::{Batch, HasReplica, Replica, Stats, Timing};
use gossip_set::values::{Receipt, ValueIdx};

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
    Gossip {
        value: Value,
    },
    Exchange(Batch),
}

/// What the node answers clients.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    BroadcastOk,
    ReadOk { messages: &'a [Value] },
    TopologyOk,
}

/// The eager forward, node to node.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "gossip")]
struct Gossip<'a> {
    value: &'a Value,
}

/// `--fanout` and `--gossip-interval-ms`.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    #[command(flatten)]
    pub gossip: GossipSettings,
}

/// The one timer: an anti-entropy round.
#[derive(Debug, Clone)]
pub enum Timer {
    AntiEntropy,
}

/// A broadcast node.
#[derive(Debug)]
pub struct Broadcast {
    settings: GossipSettings,
    replica: Replica,
}

impl Broadcast {
    pub fn new(settings: GossipSettings) -> Broadcast {
        Broadcast {
            settings,
            replica: Replica::new(Timing::for_interval(settings.interval())),
        }
    }

    /// Every value held, in order of first receipt.
    pub fn values(&self) -> &[Value] {
        self.replica.values()
    }

    pub fn stats(&self) -> &Stats {
        self.replica.stats()
    }

    /// The values, per-peer knowledge and counters.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Sends a value just stored for the first time to `fanout` random
    /// peers, never back to where it came from.
    fn forward(&mut self, ctx: &mut Ctx<Self>, idx: ValueIdx, from: Option<&str>) {
        let exclude: Vec<&str> = from.into_iter().collect();
        let targets = ctx.sample_peers(self.settings.fanout(), &exclude);
        let value = self.replica.values()[idx].clone();
        for peer in targets {
            self.replica.send(ctx, &peer, 1, &Gossip { value: &value });
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
}

impl HasReplica for Broadcast {
    fn replica_mut(&mut self) -> &mut Replica {
        &mut self.replica
    }
}

impl Handler for Broadcast {
    type Message = Message;
    type Timer = Timer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Values(self.values()))
    }

    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        self.replica.join(ctx.peers().cloned());
        self.replica.recover(ctx)?;
        let interval = self.settings.interval();
        ctx.every(interval, interval / 20, Timer::AntiEntropy);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Broadcast { message } => {
                self.replica.count_broadcast();
                let receipt = self.replica.accept(ctx, message, None)?;
                ctx.reply(req, &Reply::BroadcastOk);
                if let Receipt::New(idx) = receipt {
                    self.forward(ctx, idx, None);
                }
            }
            Message::Read => ctx.reply(
                req,
                &Reply::ReadOk {
                    messages: self.replica.values(),
                },
            ),
            Message::Topology { .. } => ctx.reply(req, &Reply::TopologyOk),
            Message::Gossip { value } => {
                self.check_peer(&req.src, "gossip")?;
                self.replica.heard_from(&req.src, ctx.now());
                if let Receipt::New(idx) = self.replica.accept(ctx, value, Some(&req.src))? {
                    self.forward(ctx, idx, Some(&req.src));
                }
            }
            Message::Exchange(batch) => {
                self.check_peer(&req.src, "exchange")?;
                self.replica.answer_exchange(ctx, req, batch);
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: Timer) -> anyhow::Result<()> {
        match timer {
            Timer::AntiEntropy => {
                self.replica.requeue_expired(ctx.now());
                let idle = self.replica.idle_peers(ctx.now());
                let targets = ctx.sample_peers(self.settings.fanout(), &idle);
                for peer in targets {
                    self.replica.exchange(ctx, &peer);
                }
            }
        }
        Ok(())
    }
}

impl Workload for Broadcast {
    type Options = Options;

    fn new(options: &Options) -> Self {
        Broadcast::new(options.gossip)
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<Broadcast>(
        "broadcast",
        "Maelstrom's broadcast: random-fanout gossip with acknowledged anti-entropy"
    )
    .implements(&["broadcast"])
);

#[cfg(test)]
mod tests;
