//! A broadcast node's state, shared by the `broadcast` and `tuning`
//! workloads: the values it holds, what it knows each peer holds, its
//! traffic counters, and the node-to-node messages that carry values.
//!
//! Workloads decide *when* and *to whom* values go (their strategies); the
//! replica decides *what* a message carries and keeps the books.
//!
//! # Messages between nodes
//! - `exchange {values, acks?}` → `exchange_ok {values, acks?}`: push-pull.
//!   The request carries the values the receiver is not known to hold; the
//!   reply acknowledges them and carries the values the asker is not known
//!   to hold. (A reply cannot be acknowledged, so its values stay pending
//!   at the replier: a later push may carry some of them again.)
//! - `batch {values, acks?, resend?}`: one-way push. It is acknowledged
//!   by an entry in `acks` of a later message the other way: acks ride on
//!   the next message to their peer, or, after [`Timing::ack_delay`], go
//!   alone in a `batch` without values, which needs no ack (acks never
//!   beget acks). `resend: true` (left out when false) marks a batch that
//!   re-sends values presumed lost: its receiver acks it at once (the
//!   workload pushes back on [`BatchReceipt::ack_now`]), and the sender
//!   times it by the round trip rather than the lazy ack time.
//!
//! `acks` lists msg_ids of the receiver's batches that the sender has
//! stored; it is left out when empty. Each message carries at most
//! [`MAX_BATCH_VALUES`] values and [`MAX_BATCH_BYTES`] bytes of them, oldest
//! first. A push presumed lost has its values pending again: what a
//! partition cut off goes out again after it heals, and nothing
//! acknowledged is ever sent again.
//!
//! # Loss detection
//! A push is presumed lost (see [`maelstrom_framework::replication::link`] for
//! the exact rules)
//! when it is unacknowledged for longer than its peer usually takes to
//! acknowledge (a smoothed ack time, TCP-style, at most
//! [`Timing::resend_after`]); when the peer acknowledged a batch sent
//! later (fast retransmit); or when the peer's next message comes after a
//! silence longer than its usual gaps (at most [`Timing::silence`]): the
//! link was cut. A peer silent for [`Timing::silence`] while something is
//! in flight to it is due a probe (a push or exchange with nothing to
//! carry, sent in the workload's rounds), so that both sides of a healed
//! link notice ([`Replica::heard_from`]); a `batch` probe re-sends, as a
//! prompt batch, everything in flight to that peer (a message that goes
//! anyway: it costs bytes, and a cut link's first message after the heal
//! then carries what it missed). A batch that was merely slow is then
//! sent twice, which costs bytes, never values. See
//! [`maelstrom_framework::replication::link`] ("Prompt re-sends") for the timing of re-sends.
//!
//! So a link with steady traffic (a hub's batch every interval) notices a
//! cut of a few intervals, and a heal, within a round trip or two; links
//! with sparse, irregular traffic fall back towards the fixed bounds.
//!
//! # Durability
//! Every value is made durable on the node's disk ([`DurableUpdates`]:
//! logged and synced) the moment it is stored: before `broadcast_ok`,
//! before a batch is owed its ack, before `exchange_ok` (which acknowledges
//! the exchange's values), and so before this node sends it anywhere (a
//! peer that gets a value from us takes us to hold it). A kill thus loses
//! no value this node acknowledged or passed on: the restarted node
//! recovers them all ([`Replica::recover`]) and, not knowing what its
//! peers hold, has them all pending for every peer again. What was on its
//! way to the killed node dies with it, unacknowledged, and its senders
//! re-send it. Acks and `exchange_ok`s meant for the killed process name
//! its msg_ids, which the restarted one never reuses
//! ([`Ctx::incarnation`]): they settle nothing. Values from a message whose
//! write fails are not stored and not acknowledged (the sender re-sends);
//! a client's broadcast gets an error.

use std::time::Duration;

use maelstrom_framework::replication::{DurableUpdates, GSet, OrdJson};
use maelstrom_framework::storage::RecoveryError;
use maelstrom_framework::{Ctx, Handler, NodeId, Request};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ledger::Ledger;
use crate::values::{Key, Receipt, ValueIdx, ValueStore};
pub use maelstrom_framework::replication::Timing;

/// The most values one message carries.
pub const MAX_BATCH_VALUES: usize = 1000;

/// The most bytes of value text one message carries (one value larger than
/// this goes alone): a quarter of a node's default 1 MiB line limit, so a
/// batch of large values is never refused by its receiver.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The body of `batch`, `exchange` and `exchange_ok` as received.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Batch {
    pub values: Vec<Value>,
    #[serde(default)]
    pub acks: Vec<u64>,
    /// The sender re-sends values it presumed lost, and asks for an ack at
    /// once (`batch` only).
    #[serde(default)]
    pub resend: bool,
}

/// `exchange_ok` as received by the asker's RPC continuation.
#[derive(Debug, Deserialize)]
struct ExchangeReply {
    values: Vec<Value>,
    #[serde(default)]
    acks: Vec<u64>,
    in_reply_to: u64,
}

/// What the replica sends, borrowing the values from the store.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    Batch {
        values: Vec<&'a Value>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        acks: Vec<u64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        resend: bool,
    },
    Exchange {
        values: Vec<&'a Value>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        acks: Vec<u64>,
    },
    ExchangeOk {
        values: Vec<&'a Value>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        acks: Vec<u64>,
    },
}

/// What [`Replica::on_batch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    /// Indices of the values that were new here.
    pub new: Vec<ValueIdx>,
    /// The sender had been silent for longer than its usual gaps: the link
    /// was probably cut, and is back (see [`Replica::heard_from`]).
    pub reconnected: bool,
    /// Batches in flight to the sender were given up (it had been silent,
    /// or it acknowledged a later batch): their values are pending again.
    pub requeued: bool,
    /// The batch re-sent values and asked for an ack at once: the caller
    /// should push to the sender now ([`Replica::push`] carries the ack).
    pub ack_now: bool,
    /// Its new values could not be made durable: nothing of it was stored,
    /// and it is owed no ack (the sender re-sends). Said on stderr.
    pub not_stored: bool,
}

/// A handler built on a [`Replica`], so that an `exchange`'s RPC
/// continuation can reach it.
pub trait HasReplica {
    fn replica_mut(&mut self) -> &mut Replica;
}

/// A node's traffic counters. All saturate at `u64::MAX` rather than wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client `broadcast` requests handled by this node, repeats of a value
    /// already held included (malformed ones are refused before this).
    pub broadcasts_received: u64,
    /// Node-to-node messages this node wrote, of every type: requests,
    /// replies to peers, ack-only batches. Replies to clients are not
    /// counted.
    pub messages_sent: u64,
    /// Values carried by those messages, repeats included. Divided by
    /// distinct values × (nodes − 1) it gives the payload redundancy.
    pub values_sent: u64,
}

impl Stats {
    /// messages_sent / broadcasts_received, or `None` before any broadcast.
    pub fn messages_per_broadcast(&self) -> Option<f64> {
        (self.broadcasts_received > 0)
            .then(|| self.messages_sent as f64 / self.broadcasts_received as f64)
    }

    fn count_sent(&mut self, values: usize) {
        self.messages_sent = self.messages_sent.saturating_add(1);
        let values = u64::try_from(values).unwrap_or(u64::MAX);
        self.values_sent = self.values_sent.saturating_add(values);
    }
}

/// Values held, per-peer knowledge, counters.
#[derive(Debug)]
pub struct Replica {
    store: ValueStore,
    ledger: Ledger,
    stats: Stats,
    timing: Timing,
    durable: DurableUpdates<GSet<OrdJson>>,
}

impl Replica {
    pub fn new(timing: Timing) -> Replica {
        Replica {
            store: ValueStore::new(),
            ledger: Ledger::default(),
            stats: Stats::default(),
            timing,
            durable: DurableUpdates::default(),
        }
    }

    /// Sets the peers (from `init`: every node but this one).
    pub fn join(&mut self, peers: impl IntoIterator<Item = NodeId>) {
        self.ledger = Ledger::new(peers);
    }

    /// After [`Replica::join`], in `init`: takes back every value made
    /// durable by an earlier process on this disk, pending for every peer.
    /// Returns how many. A corrupt log is an error: the node must not
    /// start with fewer values than it acknowledged.
    pub fn recover<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Result<usize, RecoveryError> {
        let recovered = self.durable.recover(ctx)?;
        for value in recovered.iter() {
            let value = value.value().clone();
            self.store_value(Key::of(&value), value, None);
        }
        Ok(recovered.len())
    }

    /// Every value held, each once, in order of first receipt.
    pub fn values(&self) -> &[Value] {
        self.store.as_slice()
    }

    pub fn store(&self) -> &ValueStore {
        &self.store
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
    }

    pub fn is_peer(&self, id: &str) -> bool {
        self.ledger.is_peer(id)
    }

    /// Counts a client `broadcast` request.
    pub fn count_broadcast(&mut self) {
        self.stats.broadcasts_received = self.stats.broadcasts_received.saturating_add(1);
    }

    /// Stores `value`, from a client (`from` = `None`) or from peer `from`,
    /// which is then known to hold it; a new value is made durable first
    /// (an error if that fails: nothing is stored).
    pub fn accept<H: Handler>(
        &mut self,
        ctx: &mut Ctx<H>,
        value: Value,
        from: Option<&str>,
    ) -> std::io::Result<Receipt> {
        let key = Key::of(&value);
        if self.store.position_of(&key).is_none() {
            let mut fresh = GSet::default();
            fresh.insert(OrdJson::new(value.clone()));
            self.durable.persist(ctx, &fresh)?;
        }
        Ok(self.store_value(key, value, from))
    }

    /// [`Replica::accept`] for a value already durable.
    fn store_value(&mut self, key: Key, value: Value, from: Option<&str>) -> Receipt {
        let receipt = self.store.insert_keyed(key, value);
        match (receipt, from) {
            (Receipt::New(idx), _) => self.ledger.add_value(idx, from),
            (Receipt::Known(idx), Some(peer)) => self.ledger.peer_holds(peer, idx),
            (Receipt::Known(_), None) => {}
        }
        receipt
    }

    /// Handles peer `from`'s values and acks: the acks settle our pushes,
    /// the values are made durable (in one write) and stored (and known to
    /// be at `from`). A one-way batch with values and a msg_id is then owed
    /// an ack.
    pub fn on_batch<H: Handler>(
        &mut self,
        ctx: &mut Ctx<H>,
        from: &str,
        owe_ack_for: Option<u64>,
        batch: Batch,
    ) -> BatchReceipt {
        let now = ctx.now();
        let overtaken = self
            .ledger
            .acknowledged(from, &batch.acks, now, &self.timing);
        let heard = self.ledger.heard_from(from, now, &self.timing);
        let mut receipt = BatchReceipt {
            new: Vec::new(),
            reconnected: heard.after_silence,
            requeued: overtaken > 0 || heard.given_up > 0,
            ack_now: false,
            not_stored: false,
        };
        // Each value looked up once: where it is held, or `None` (new here,
        // unless an equal value came earlier in this batch).
        let values: Vec<(Key, Value, Option<ValueIdx>)> = batch
            .values
            .into_iter()
            .map(|v| {
                let key = Key::of(&v);
                let held = self.store.position_of(&key);
                (key, v, held)
            })
            .collect();
        let mut fresh = GSet::default();
        for (_, value, _) in values.iter().filter(|(_, _, held)| held.is_none()) {
            fresh.insert(OrdJson::new(value.clone()));
        }
        if !fresh.is_empty()
            && let Err(e) = self.durable.persist(ctx, &fresh)
        {
            ctx.log(
                maelstrom_framework::Level::Error,
                format_args!("{} values from {from} not stored: {e}", fresh.len()),
            );
            receipt.not_stored = true;
            return receipt;
        }
        // An ack-only batch is owed no ack: acks never beget acks.
        let owed = owe_ack_for.filter(|_| !values.is_empty());
        if let Some(id) = owed {
            self.ledger.owe_ack(from, id, now);
        }
        receipt.ack_now = owed.is_some() && batch.resend;
        // What `from` sent it holds; recorded once for the whole batch (the
        // peer looked up once), which commutes with storing the new values:
        // those touch only the other peers' ledgers.
        let mut held = Vec::new();
        for (key, value, idx) in values {
            let stored = match idx {
                Some(idx) => Receipt::Known(idx),
                None => self.store.insert_keyed(key, value),
            };
            match stored {
                Receipt::New(idx) => {
                    self.ledger.add_value(idx, Some(from));
                    receipt.new.push(idx);
                }
                Receipt::Known(idx) => held.push(idx),
            }
        }
        self.ledger.peer_holds_all(from, held);
        receipt
    }

    /// A message from peer `from` arrived. If it had been silent for
    /// longer than its usual gaps ([`Link::silence`](maelstrom_framework::replication::Link::silence)), the link was
    /// probably cut: what is still in flight to it is pending again at once
    /// rather than when it is overdue, so a heal is followed by prompt
    /// exchanges. Returns whether it had been silent. Call after applying
    /// the message's acks.
    pub fn heard_from(&mut self, from: &str, now: Duration) -> bool {
        self.ledger
            .heard_from(from, now, &self.timing)
            .after_silence
    }

    /// Sends a node-to-node message that carries `values` values, counting
    /// it. A workload's own node-to-node messages go through here.
    pub fn send<H: Handler>(
        &mut self,
        ctx: &mut Ctx<H>,
        dest: &str,
        values: usize,
        body: &impl Serialize,
    ) -> u64 {
        self.stats.count_sent(values);
        ctx.send(dest, body)
    }

    /// Takes `peer`'s next batch out of its pending set, and the acks owed
    /// to it; `None` when there is neither and `probe` is false.
    fn next_push(&mut self, peer: &str, probe: bool) -> Option<(Vec<ValueIdx>, Vec<u64>)> {
        let store = &self.store;
        let batch = self
            .ledger
            .take_batch(peer, MAX_BATCH_VALUES, MAX_BATCH_BYTES, |i| store.size(i));
        let acks = self.ledger.take_owed_acks(peer);
        let worth_sending = !batch.is_empty() || !acks.is_empty() || probe;
        worth_sending.then_some((batch, acks))
    }

    /// Whether a push or exchange to `peer` is due as a probe, carrying
    /// nothing: something is in flight to it, and it has been silent for
    /// [`Timing::silence`] (the fixed bound: a live peer answers an
    /// exchange within a round trip and acks a push within about
    /// ack_delay), so the link is probably cut. Once the link is back, the
    /// probe's arrival and its answer end the silence on both sides
    /// ([`Replica::heard_from`]), and what each had in flight goes again at
    /// once instead of when it is overdue. (Not the adaptive silence: on a
    /// link with steady traffic the first message after a heal tells both
    /// sides anyway, and a lost batch is re-sent when overdue, so earlier
    /// probes would cost a message a round during every cut for little.)
    pub fn probe_due(&self, peer: &str, now: Duration) -> bool {
        self.ledger.probe_due(peer, now, self.timing.silence)
    }

    fn values_of(&self, batch: &[ValueIdx]) -> Vec<&Value> {
        batch.iter().filter_map(|&i| self.store.get(i)).collect()
    }

    /// One-way push to `peer`: a `batch` of its pending values with every
    /// ack owed to it, marked `resend` (and timed as prompt) when it
    /// carries a value presumed lost. When a probe is due, everything in
    /// flight to `peer` is presumed lost first, so the probe carries it.
    /// Sends nothing, and returns false, when there is nothing to carry
    /// and no probe is due.
    pub fn push<H: Handler>(&mut self, ctx: &mut Ctx<H>, peer: &str) -> bool {
        let probe = self.probe_due(peer, ctx.now());
        if probe {
            self.ledger.give_up_in_flight(peer);
        }
        let Some((batch, acks)) = self.next_push(peer, probe) else {
            return false;
        };
        self.stats.count_sent(batch.len());
        let resend = self.ledger.resends(peer, &batch);
        let body = Out::Batch {
            values: self.values_of(&batch),
            acks,
            resend,
        };
        let msg_id = ctx.send(peer, &body);
        if resend {
            self.ledger.sent_prompt(peer, msg_id, batch, ctx.now());
        } else {
            self.ledger.sent(peer, msg_id, batch, ctx.now());
        }
        true
    }

    /// Push-pull with `peer`: an `exchange` RPC carrying its pending values
    /// and owed acks; the reply acknowledges them and brings what this node
    /// is not known to hold. Sends nothing, and returns false, when there is
    /// nothing to carry and no probe is due. A lost request or reply is
    /// covered by the resend.
    pub fn exchange<H: Handler + HasReplica>(&mut self, ctx: &mut Ctx<H>, peer: &str) -> bool {
        let probe = self.probe_due(peer, ctx.now());
        let Some((batch, acks)) = self.next_push(peer, probe) else {
            return false;
        };
        self.stats.count_sent(batch.len());
        let body = Out::Exchange {
            values: self.values_of(&batch),
            acks,
        };
        let from = peer.to_string();
        let msg_id = ctx.rpc(
            peer,
            &body,
            self.timing.resend_after,
            move |h: &mut H, ctx, result| {
                // On a timeout the batch stays unacknowledged until it is
                // requeued: nothing to do here.
                let Ok(reply) = result else { return Ok(()) };
                let reply: ExchangeReply = reply.parse()?;
                let replica = h.replica_mut();
                let timing = replica.timing;
                replica
                    .ledger
                    .acknowledged(&from, &[reply.in_reply_to], ctx.now(), &timing);
                let pulled = Batch {
                    values: reply.values,
                    acks: reply.acks,
                    resend: false,
                };
                replica.on_batch(ctx, &from, None, pulled);
                Ok(())
            },
        );
        self.ledger.sent(peer, msg_id, batch, ctx.now());
        true
    }

    /// Answers peer `req.src`'s `exchange`: stores its values, then replies
    /// with the values it is not known to hold and any acks owed to it.
    pub fn answer_exchange<H: Handler>(&mut self, ctx: &mut Ctx<H>, req: &Request, batch: Batch) {
        let peer = req.src.as_str();
        if self.on_batch(ctx, peer, None, batch).not_stored {
            // Unanswered, as if lost: the asker's exchange times out and
            // its values go again.
            return;
        }
        let store = &self.store;
        let pull = self
            .ledger
            .peek_batch(peer, MAX_BATCH_VALUES, MAX_BATCH_BYTES, |i| store.size(i));
        let acks = self.ledger.take_owed_acks(peer);
        self.stats.count_sent(pull.len());
        let body = Out::ExchangeOk {
            values: self.values_of(&pull),
            acks,
        };
        ctx.reply(req, &body);
    }

    /// Sends the acks that have waited [`Timing::ack_delay`] for a message
    /// to ride on: each peer's in one `batch` without values.
    pub fn send_due_acks<H: Handler>(&mut self, ctx: &mut Ctx<H>) {
        for peer in self.ledger.acks_due(ctx.now(), self.timing.ack_delay) {
            let acks = self.ledger.take_owed_acks(&peer);
            self.stats.count_sent(0);
            let body = Out::Batch {
                values: Vec::new(),
                acks,
                resend: false,
            };
            ctx.send(&peer, &body);
        }
    }

    /// Gives up on pushes unacknowledged for longer than their peer
    /// usually takes ([`Link::resend_after`](maelstrom_framework::replication::Link::resend_after)): their values are pending
    /// again. Returns how many were given up.
    pub fn requeue_expired(&mut self, now: Duration) -> usize {
        self.ledger.requeue_expired(now, &self.timing)
    }

    /// Peers an exchange round can leave out: nothing pending for them, and
    /// no probe due ([`Replica::probe_due`]).
    pub fn idle_peers(&self, now: Duration) -> Vec<&str> {
        self.ledger.idle_peers(now, self.timing.silence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maelstrom_framework::storage::SimDisk;
    use maelstrom_framework::testing::{deliver, init};
    use maelstrom_framework::{Node, Process};
    use rand::SeedableRng;
    use serde_json::json;

    #[test]
    fn batch_parses_with_or_without_acks() {
        let b: Batch = serde_json::from_str(r#"{"type":"batch","values":[1,"a"]}"#).unwrap();
        assert_eq!(b.values.len(), 2);
        assert!(b.acks.is_empty());
        let b: Batch = serde_json::from_str(r#"{"values":[],"acks":[3,4]}"#).unwrap();
        assert_eq!(b.acks, [3, 4]);
        assert!(serde_json::from_str::<Batch>(r#"{"acks":[1]}"#).is_err());
        assert!(serde_json::from_str::<Batch>(r#"{"values":[],"acks":[-1]}"#).is_err());
    }

    #[test]
    fn outgoing_messages_leave_out_empty_acks() {
        let v = json!(7);
        let body = Out::Exchange {
            values: vec![&v],
            acks: vec![],
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"type": "exchange", "values": [7]})
        );
        let body = Out::Batch {
            values: vec![],
            acks: vec![1, 2],
            resend: false,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"type": "batch", "values": [], "acks": [1, 2]})
        );
    }

    /// A node that hands every `batch` to its replica and keeps the
    /// receipts, and answers `add {value}` as a client's broadcast.
    struct Probe {
        replica: Replica,
        receipts: Vec<BatchReceipt>,
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum ProbeMsg {
        Batch(Batch),
        Add { value: Value },
    }

    impl Handler for Probe {
        type Message = ProbeMsg;
        type Timer = ();

        fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
            self.replica.join(ctx.peers().cloned());
            self.replica.recover(ctx)?;
            Ok(())
        }

        fn handle(
            &mut self,
            ctx: &mut Ctx<Self>,
            req: &Request,
            msg: ProbeMsg,
        ) -> anyhow::Result<()> {
            match msg {
                ProbeMsg::Batch(batch) => {
                    let receipt = self.replica.on_batch(ctx, &req.src, req.msg_id, batch);
                    self.receipts.push(receipt);
                }
                ProbeMsg::Add { value } => {
                    self.replica.accept(ctx, value, None)?;
                    ctx.reply(req, &json!({"type": "add_ok"}));
                }
            }
            Ok(())
        }
    }

    /// n1 of n1, n2, n3, on `disk`.
    fn probe(disk: SimDisk) -> Node<Probe> {
        let replica = Replica::new(Timing::for_interval(Duration::from_millis(100)));
        let mut node = Node::new(
            Probe {
                replica,
                receipts: Vec::new(),
            },
            7,
        );
        node.attach_disk(Box::new(disk));
        init(&mut node, "n1", &["n1", "n2", "n3"]);
        node
    }

    /// Delivers `body` from `src`; returns the receipt of the batch.
    fn batch(node: &mut Node<Probe>, src: &str, body: Value) -> BatchReceipt {
        deliver(node, Duration::ZERO, src, body);
        node.handler_ref()
            .receipts
            .last()
            .cloned()
            .expect("a receipt")
    }

    #[test]
    fn a_resend_with_values_wants_its_ack_now() {
        let mut n = probe(SimDisk::new());
        let b = json!({"type": "batch", "msg_id": 3, "values": [1], "resend": true});
        assert!(batch(&mut n, "n2", b).ack_now);
        // Without values, or without a msg_id to ack, there is nothing to
        // acknowledge; a plain batch waits for the ack delay.
        let b = json!({"type": "batch", "msg_id": 4, "values": [], "resend": true});
        assert!(!batch(&mut n, "n2", b).ack_now);
        let b = json!({"type": "batch", "values": [2], "resend": true});
        assert!(!batch(&mut n, "n2", b).ack_now);
        let b = json!({"type": "batch", "msg_id": 6, "values": [5]});
        assert!(!batch(&mut n, "n2", b).ack_now);
        let v = json!(7);
        let body = Out::Batch {
            values: vec![&v],
            acks: vec![],
            resend: true,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"type": "batch", "values": [7], "resend": true})
        );
    }

    #[test]
    fn values_from_a_peer_are_known_there_and_a_batch_is_owed_an_ack() {
        let mut n = probe(SimDisk::new());
        deliver(
            &mut n,
            Duration::ZERO,
            "c1",
            json!({"type": "add", "msg_id": 1, "value": 1}),
        );
        let receipt = batch(
            &mut n,
            "n2",
            json!({"type": "batch", "msg_id": 9, "values": [1, 2]}),
        );
        assert_eq!(receipt.new, [1]);
        let r = &n.handler_ref().replica;
        assert_eq!(r.ledger().pending_len("n2"), 0, "n2 sent both");
        assert_eq!(r.ledger().pending_len("n3"), 2);
        assert_eq!(r.ledger().owed_len("n2"), 1);
        // A batch without values (acks only) is owed nothing.
        batch(
            &mut n,
            "n3",
            json!({"type": "batch", "msg_id": 4, "values": [], "acks": [1]}),
        );
        assert_eq!(n.handler_ref().replica.ledger().owed_len("n3"), 0);
    }

    #[test]
    fn what_was_acknowledged_or_stored_survives_a_crash_pending_for_everyone() {
        let disk = SimDisk::new();
        let mut n = probe(disk.clone());
        let out = deliver(
            &mut n,
            Duration::ZERO,
            "c1",
            json!({"type": "add", "msg_id": 1, "value": "a"}),
        );
        assert_eq!(out[0]["body"]["type"], "add_ok");
        batch(
            &mut n,
            "n2",
            json!({"type": "batch", "msg_id": 9, "values": [2, {"k": 1}]}),
        );
        // The process dies with nothing unsynced kept; the next one on the
        // disk holds all three, and owes every peer all of them.
        disk.crash(&mut rand::rngs::StdRng::seed_from_u64(1));
        let n = probe(disk);
        let r = &n.handler_ref().replica;
        let mut held: Vec<String> = r.values().iter().map(Value::to_string).collect();
        held.sort();
        assert_eq!(held, ["\"a\"", "2", r#"{"k":1}"#]);
        assert_eq!(r.ledger().pending_len("n2"), 3);
        assert_eq!(r.ledger().pending_len("n3"), 3);
    }

    #[test]
    fn a_corrupt_log_fails_init_rather_than_starting_with_fewer_values() {
        let disk = SimDisk::new();
        let mut n = probe(disk.clone());
        for v in 0..3 {
            let add = json!({"type": "add", "msg_id": v, "value": v});
            deliver(&mut n, Duration::ZERO, "c1", add);
        }
        // DurableUpdates' log.
        let log = "own-updates.log";
        let mut bytes = disk.contents(log).expect("the log");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        let mut broken = disk.clone();
        maelstrom_framework::storage::Disk::replace(&mut broken, log, &bytes).unwrap();
        let mut n = Node::new(
            Probe {
                replica: Replica::new(Timing::for_interval(Duration::from_millis(100))),
                receipts: Vec::new(),
            },
            7,
        );
        n.attach_disk(Box::new(broken));
        let init = json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2"]});
        let out = deliver(&mut n, Duration::ZERO, "c0", init);
        assert_eq!(out[0]["body"]["type"], "error", "{out:?}");
        assert_eq!(out[0]["body"]["code"], 13);
    }
}
