//! What a node knows of each peer's values, kept as what it does *not*
//! know, on top of the framework's acknowledged link
//! ([`maelstrom_framework::replication::link`]).
//!
//! A node knows that peer `p` holds value `v` once `p` sent it `v`, or
//! acknowledged a batch that carried `v`. For every peer the ledger keeps
//!
//! - `pending`: values held here that `p` is not known to hold and that are
//!   not on their way to it: what the next batch to `p` carries;
//! - `resent`: the pending values that were presumed lost on their way to
//!   `p`: a batch that carries one asks for a prompt ack;
//! - the link to `p`: batches in flight (their payload: the values they
//!   carry), acks owed, and when a batch is presumed lost. A batch
//!   acknowledged is done (its values are at `p`); one presumed lost goes
//!   back to `pending`, marked as re-sent.
//!
//! So a value is sent to a peer once, and again only if that send was
//! presumed lost: nothing is re-sent forever, and nothing is lost while a
//! partition drops batches.
//!
//! Pure bookkeeping: no I/O, no clock (times are passed in), no randomness.

use std::collections::BTreeSet;
use std::time::Duration;

use maelstrom_framework::NodeId;
use maelstrom_framework::replication::{BatchLimit, Link, Timing};

use crate::idx_set::IdxSet;
use crate::values::ValueIdx;

/// What [`Ledger::heard_from`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Heard {
    /// The peer had been silent for its silence bound: the link was
    /// probably cut, and is back.
    pub after_silence: bool,
    /// Batches in flight to the peer given up for that reason.
    pub given_up: usize,
}

/// The ledger of one peer. Its pending values are kept as their
/// complement, `settled` (known to be at the peer, or on their way there):
/// a new value is then pending for every peer without touching any of them,
/// where a pending set per peer cost an insert per peer per value (nodes²
/// per value over the cluster, most of a large run).
#[derive(Debug, Clone, Default)]
struct PeerLedger {
    /// Never holds a value the ledger does not (`settled ⊆ all`).
    settled: IdxSet,
    /// Every word before this one is full in `all` and settled (so stays
    /// settled until a value is given up): where a batch starts looking.
    settled_words: usize,
    resent: IdxSet,
    link: Link<Vec<ValueIdx>>,
}

impl PeerLedger {
    fn probe_due(&self, now: Duration, silence: Duration) -> bool {
        self.link.oldest_in_flight().is_some() && self.link.silent_for(now) >= silence
    }

    /// `idx` (a value of `all`) needs no batch to this peer.
    fn settle(&mut self, all: &IdxSet, idx: ValueIdx) {
        if all.contains(idx) {
            self.settled.insert(idx);
            while all.word_full_within(&self.settled, self.settled_words) {
                self.settled_words += 1;
            }
        }
    }

    /// `idx` is pending again.
    fn unsettle(&mut self, idx: ValueIdx) {
        self.settled.remove(idx);
        self.settled_words = self.settled_words.min(idx / 64);
    }

    fn pending<'a>(&'a self, all: &'a IdxSet) -> impl Iterator<Item = ValueIdx> + 'a {
        all.difference(&self.settled, self.settled_words)
    }

    fn pending_len(&self, all: &IdxSet) -> usize {
        all.len() - self.settled.len()
    }

    fn is_pending(&self, all: &IdxSet, idx: ValueIdx) -> bool {
        all.contains(idx) && !self.settled.contains(idx)
    }

    /// Batches presumed lost: their values are pending again, and marked
    /// as re-sent. Returns how many there were.
    fn give_up(&mut self, lost: Vec<Vec<ValueIdx>>) -> usize {
        let batches = lost.len();
        for idx in lost.into_iter().flatten() {
            self.unsettle(idx);
            self.resent.insert(idx);
        }
        batches
    }
}

/// The peers' ledgers in sorted id order, found by id through a hash
/// index: a message looks its peer up several times, and a sorted map's
/// string comparisons per lookup grow with the cluster.
#[derive(Debug, Clone, Default)]
struct Peers {
    ids: Vec<NodeId>,
    ledgers: Vec<PeerLedger>,
    index: foldhash::HashMap<NodeId, usize>,
}

impl Peers {
    fn new(peers: impl IntoIterator<Item = NodeId>) -> Peers {
        let ids: Vec<NodeId> = peers
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        Peers {
            ledgers: vec![PeerLedger::default(); ids.len()],
            ids,
            index,
        }
    }

    /// The peer's position in sorted id order.
    fn position(&self, peer: &str) -> Option<usize> {
        self.index.get(peer).copied()
    }

    fn contains_key(&self, peer: &str) -> bool {
        self.index.contains_key(peer)
    }

    fn get(&self, peer: &str) -> Option<&PeerLedger> {
        self.index.get(peer).map(|&i| &self.ledgers[i])
    }

    fn get_mut(&mut self, peer: &str) -> Option<&mut PeerLedger> {
        self.index.get(peer).map(|&i| &mut self.ledgers[i])
    }

    fn keys(&self) -> impl Iterator<Item = &NodeId> {
        self.ids.iter()
    }

    fn iter(&self) -> impl Iterator<Item = (&NodeId, &PeerLedger)> {
        self.ids.iter().zip(&self.ledgers)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut PeerLedger> {
        self.ledgers.iter_mut()
    }
}

/// Per-peer knowledge for every peer from `init`.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    peers: Peers,
    /// Every value this node holds.
    all: IdxSet,
    /// The peers (by position) this node owes acks: the only ones whose
    /// acks can be due, found without visiting every peer every round.
    owing: BTreeSet<usize>,
    /// The peers (by position) a batch went to since they were last seen
    /// with nothing in flight: a superset of those that have batches to
    /// give up, so a round visits these, not every peer (a hub's leaves
    /// each know every node, and send only to the hub).
    sending: BTreeSet<usize>,
}

impl Ledger {
    /// A ledger for these peers (never this node itself).
    pub fn new(peers: impl IntoIterator<Item = NodeId>) -> Ledger {
        Ledger {
            peers: Peers::new(peers),
            all: IdxSet::default(),
            owing: BTreeSet::new(),
            sending: BTreeSet::new(),
        }
    }

    pub fn is_peer(&self, id: &str) -> bool {
        self.peers.contains_key(id)
    }

    /// Every peer, in sorted order.
    pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
        self.peers.keys()
    }

    /// The link to `peer`, for its timing estimates.
    pub fn link(&self, peer: &str) -> Option<&Link<Vec<ValueIdx>>> {
        self.peers.get(peer).map(|l| &l.link)
    }

    /// A value this node has just stored: every peer but `holder` (the peer
    /// it came from, if any) may lack it.
    pub fn add_value(&mut self, idx: ValueIdx, holder: Option<&str>) {
        if !self.all.insert(idx) {
            // Held already: as before, pending again for every peer but
            // `holder` (a new value is never held already).
            for ledger in self.peers.values_mut() {
                ledger.unsettle(idx);
            }
        }
        if let Some(ledger) = holder.and_then(|h| self.peers.get_mut(h)) {
            ledger.settle(&self.all, idx);
        }
    }

    /// `peer` is now known to hold `idx`: no batch needs to carry it there.
    pub fn peer_holds(&mut self, peer: &str, idx: ValueIdx) {
        self.peer_holds_all(peer, [idx]);
    }

    /// [`Ledger::peer_holds`] for every value of a batch, the peer looked
    /// up once.
    pub fn peer_holds_all(&mut self, peer: &str, held: impl IntoIterator<Item = ValueIdx>) {
        if let Some(ledger) = self.peers.get_mut(peer) {
            for idx in held {
                ledger.settle(&self.all, idx);
                ledger.resent.remove(idx);
            }
        }
    }

    /// The next batch for `peer`, oldest pending values first: at most
    /// `max_values` values and, past the first, at most `max_bytes` by
    /// `size_of`. Leaves them pending.
    pub fn peek_batch(
        &self,
        peer: &str,
        max_values: usize,
        max_bytes: usize,
        size_of: impl Fn(ValueIdx) -> usize,
    ) -> Vec<ValueIdx> {
        let Some(ledger) = self.peers.get(peer) else {
            return Vec::new();
        };
        let mut fill = BatchLimit {
            max_items: max_values,
            max_bytes,
        }
        .start();
        ledger
            .pending(&self.all)
            // `+ 1` for the comma.
            .take_while(|&idx| fill.admit(size_of(idx).saturating_add(1)))
            .collect()
    }

    /// Like [`Ledger::peek_batch`], but takes the batch out of the pending
    /// set, to be recorded as sent with [`Ledger::sent`].
    pub fn take_batch(
        &mut self,
        peer: &str,
        max_values: usize,
        max_bytes: usize,
        size_of: impl Fn(ValueIdx) -> usize,
    ) -> Vec<ValueIdx> {
        let batch = self.peek_batch(peer, max_values, max_bytes, size_of);
        if let Some(ledger) = self.peers.get_mut(peer) {
            for &idx in &batch {
                ledger.settle(&self.all, idx);
            }
        }
        batch
    }

    /// Whether `batch` (taken for `peer`) re-sends a value presumed lost on
    /// its way there: then it may ask for a prompt ack ([`Ledger::sent_prompt`]).
    pub fn resends(&self, peer: &str, batch: &[ValueIdx]) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|l| batch.iter().any(|&idx| l.resent.contains(idx)))
    }

    /// Records a batch sent to `peer` as message `msg_id`: it waits for an
    /// acknowledgement, for up to the link's resend time. An empty batch
    /// (an ack-only message) waits for none.
    pub fn sent(&mut self, peer: &str, msg_id: u64, values: Vec<ValueIdx>, now: Duration) {
        self.record(peer, msg_id, values, now, false);
    }

    /// Like [`Ledger::sent`], for a batch whose receiver was asked to ack
    /// it at once: it waits for up to the link's prompt resend time.
    pub fn sent_prompt(&mut self, peer: &str, msg_id: u64, values: Vec<ValueIdx>, now: Duration) {
        self.record(peer, msg_id, values, now, true);
    }

    fn record(
        &mut self,
        peer: &str,
        msg_id: u64,
        values: Vec<ValueIdx>,
        now: Duration,
        prompt: bool,
    ) {
        let Some(i) = self.peers.position(peer) else {
            return;
        };
        let ledger = &mut self.peers.ledgers[i];
        for &idx in &values {
            ledger.resent.remove(idx);
        }
        if !values.is_empty() {
            ledger.link.sent(msg_id, values, now, prompt);
            self.sending.insert(i);
        }
    }

    /// `peer` acknowledged these batches of ours at `now`: their values are
    /// there. Batches the acks overtook are presumed lost (fast
    /// retransmit) and their values are pending again. Returns how many
    /// batches were given up.
    pub fn acknowledged(&mut self, peer: &str, acks: &[u64], now: Duration, t: &Timing) -> usize {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return 0;
        };
        let settled = ledger.link.acknowledged(acks, now, t);
        ledger.give_up(settled.lost)
    }

    /// A message from `peer` arrived at `now` (its acks already applied).
    /// After a silence, every batch still in flight to it is presumed lost
    /// and its values are pending again.
    pub fn heard_from(&mut self, peer: &str, now: Duration, t: &Timing) -> Heard {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return Heard::default();
        };
        let heard = ledger.link.heard_from(now, t);
        Heard {
            after_silence: heard.after_silence,
            given_up: ledger.give_up(heard.lost),
        }
    }

    /// Presumes every batch in flight to `peer` lost: their values are
    /// pending again (and marked as re-sent). Returns how many were given
    /// up.
    pub fn give_up_in_flight(&mut self, peer: &str) -> usize {
        self.peers.get_mut(peer).map_or(0, |l| {
            let lost = l.link.give_up_all();
            l.give_up(lost)
        })
    }

    /// How long since a message from `peer` last arrived (or since time
    /// zero, if none has).
    pub fn silent_for(&self, peer: &str, now: Duration) -> Duration {
        self.peers
            .get(peer)
            .map_or(Duration::ZERO, |l| l.link.silent_for(now))
    }

    /// This node stored `peer`'s batch `msg_id` and owes it an ack.
    pub fn owe_ack(&mut self, peer: &str, msg_id: u64, now: Duration) {
        if let Some(i) = self.peers.position(peer) {
            self.peers.ledgers[i].link.owe_ack(msg_id, now);
            self.owing.insert(i);
        }
    }

    /// Takes every ack owed to `peer`, to send now.
    pub fn take_owed_acks(&mut self, peer: &str) -> Vec<u64> {
        let Some(i) = self.peers.position(peer) else {
            return Vec::new();
        };
        self.owing.remove(&i);
        self.peers.ledgers[i].link.take_owed_acks()
    }

    /// Peers whose acks have waited `delay` for a message to ride on, or
    /// have piled up: they get a message of their own. In sorted order.
    pub fn acks_due(&self, now: Duration, delay: Duration) -> Vec<NodeId> {
        self.owing
            .iter()
            .filter(|&&i| self.peers.ledgers[i].link.ack_due(now, delay))
            .map(|&i| self.peers.ids[i].clone())
            .collect()
    }

    /// Puts the values of batches overdue for their acknowledgement back
    /// into their peer's pending set, marked as re-sent: those batches are
    /// presumed lost. Returns how many batches were given up.
    pub fn requeue_expired(&mut self, now: Duration, t: &Timing) -> usize {
        let mut given_up = 0;
        let ledgers = &mut self.peers.ledgers;
        // In sorted peer order, as over every peer.
        self.sending.retain(|&i| {
            let l = &mut ledgers[i];
            if l.link.oldest_in_flight().is_some() {
                let lost = l.link.expired(now, t);
                given_up += l.give_up(lost);
            }
            l.link.oldest_in_flight().is_some()
        });
        given_up
    }

    /// Whether a probe to `peer` is due: something is in flight to it, and
    /// it has been silent for `silence`.
    pub fn probe_due(&self, peer: &str, now: Duration, silence: Duration) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|l| l.probe_due(now, silence))
    }

    /// Peers with nothing pending and no probe due, in one pass over the
    /// peers: the ones a round can leave out.
    pub fn idle_peers(&self, now: Duration, silence: Duration) -> Vec<&str> {
        self.peers
            .iter()
            .filter(|(_, l)| l.pending_len(&self.all) == 0 && !l.probe_due(now, silence))
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// How many values wait to be sent to `peer`.
    pub fn pending_len(&self, peer: &str) -> usize {
        self.peers.get(peer).map_or(0, |l| l.pending_len(&self.all))
    }

    /// Whether `idx` waits to be sent to `peer`.
    pub fn is_pending(&self, peer: &str, idx: ValueIdx) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|l| l.is_pending(&self.all, idx))
    }

    /// How many values are in unacknowledged batches to `peer`.
    pub fn in_flight_len(&self, peer: &str) -> usize {
        self.peers
            .get(peer)
            .map_or(0, |l| l.link.in_flight().map(Vec::len).sum())
    }

    /// When the oldest unacknowledged batch to `peer` was sent.
    pub fn oldest_in_flight(&self, peer: &str) -> Option<Duration> {
        self.peers.get(peer).and_then(|l| l.link.oldest_in_flight())
    }

    /// How many acks this node owes `peer`.
    pub fn owed_len(&self, peer: &str) -> usize {
        self.peers.get(peer).map_or(0, |l| l.link.owed_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ledger() -> Ledger {
        Ledger::new(["n2".to_string(), "n3".to_string()])
    }

    /// Bounds of 1 s (resend), 1 s (silence), slack 50 ms.
    fn timing() -> Timing {
        Timing {
            ack_delay: ms(500),
            resend_after: ms(1000),
            silence: ms(1000),
            slack: ms(50),
        }
    }

    #[test]
    fn a_new_value_is_pending_for_every_peer_but_its_holder() {
        let mut l = ledger();
        l.add_value(0, Some("n2"));
        l.add_value(1, None);
        assert!(!l.is_pending("n2", 0));
        assert!(l.is_pending("n3", 0));
        assert!(l.is_pending("n2", 1) && l.is_pending("n3", 1));
        l.peer_holds("n3", 1);
        assert!(!l.is_pending("n3", 1));
        // Unknown peers are ignored, not added.
        l.peer_holds("n9", 1);
        assert!(!l.is_peer("n9"));
    }

    #[test]
    fn batches_are_bounded_oldest_first_and_leave_pending() {
        let mut l = ledger();
        for i in 0..10 {
            l.add_value(i, None);
        }
        assert_eq!(l.take_batch("n2", 3, 1000, |_| 5), [0, 1, 2]);
        // 6 bytes per value with its comma: two fit in 12, the third not.
        assert_eq!(l.take_batch("n2", 100, 12, |_| 5), [3, 4]);
        // A value larger than the byte cap still goes, alone.
        assert_eq!(l.take_batch("n2", 100, 12, |_| 50), [5]);
        assert_eq!(l.pending_len("n2"), 4);
        assert_eq!(l.pending_len("n3"), 10);
    }

    #[test]
    fn acknowledged_batches_are_done_and_lost_ones_come_back() {
        let mut l = ledger();
        for i in 0..4 {
            l.add_value(i, None);
        }
        let first = l.take_batch("n2", 2, 1000, |_| 1);
        l.sent("n2", 7, first, ms(0));
        let second = l.take_batch("n2", 2, 1000, |_| 1);
        l.sent("n2", 8, second, ms(10));
        assert_eq!(l.pending_len("n2"), 0);
        assert_eq!(l.in_flight_len("n2"), 4);
        // Batch 7 was sent only 10 ms before 8: not overtaken.
        assert_eq!(l.acknowledged("n2", &[8, 99], ms(500), &timing()), 0);
        assert_eq!(l.in_flight_len("n2"), 2);
        assert_eq!(l.oldest_in_flight("n2"), Some(ms(0)));
        // One slow ack (490 ms) gives a bound past the 1 s cap.
        assert_eq!(l.requeue_expired(ms(999), &timing()), 0);
        assert_eq!(l.requeue_expired(ms(1000), &timing()), 1);
        assert!(l.is_pending("n2", 0) && l.is_pending("n2", 1));
        assert!(!l.is_pending("n2", 2));
        // A late ack of the requeued batch changes nothing.
        assert_eq!(l.acknowledged("n2", &[7], ms(1000), &timing()), 0);
        assert_eq!(l.pending_len("n2"), 2);
    }

    #[test]
    fn an_ack_for_a_later_batch_gives_up_the_earlier_ones() {
        let mut l = ledger();
        let t = timing();
        for i in 0..4 {
            l.add_value(i, None);
            let batch = l.take_batch("n2", 1, 1000, |_| 1);
            // Sent at 0, 100, 130 and 200 ms.
            l.sent("n2", i as u64, batch, ms([0, 100, 130, 200][i]));
        }
        // 2 is acknowledged: 0 (130 ms older) was lost, 1 (30 ms older,
        // within the slack) may merely be late; 3 was sent after it.
        assert_eq!(l.acknowledged("n2", &[2], ms(400), &t), 1);
        assert!(l.is_pending("n2", 0));
        assert!(!l.is_pending("n2", 1) && !l.is_pending("n2", 3));
        assert_eq!(l.in_flight_len("n2"), 2);
        // An ack of nothing in flight gives up nothing.
        assert_eq!(l.acknowledged("n2", &[2, 77], ms(500), &t), 0);
    }

    #[test]
    fn a_peer_heard_after_a_silence_gets_its_lost_batches_again() {
        let mut l = ledger();
        for i in 0..3 {
            l.add_value(i, None);
        }
        let batch = l.take_batch("n2", 2, 1000, |_| 1);
        l.sent("n2", 1, batch, ms(100));
        // Heard within the silence: nothing changes.
        assert_eq!(l.heard_from("n2", ms(900), &timing()).given_up, 0);
        let batch = l.take_batch("n2", 2, 1000, |_| 1);
        l.sent("n2", 2, batch, ms(950));
        assert_eq!(l.heard_from("n2", ms(1899), &timing()).given_up, 0);
        assert_eq!(l.in_flight_len("n2"), 3);
        // Silent from 1899 ms to 2899 ms: both batches are given up.
        assert_eq!(l.heard_from("n2", ms(2899), &timing()).given_up, 2);
        assert_eq!(l.in_flight_len("n2"), 0);
        assert_eq!(l.pending_len("n2"), 3);
        // The other peer's books are untouched.
        assert_eq!(l.pending_len("n3"), 3);
    }

    #[test]
    fn giving_up_everything_in_flight_marks_it_for_a_prompt_resend() {
        let mut l = ledger();
        for i in 0..4 {
            l.add_value(i, None);
            let batch = l.take_batch("n2", 1, 1000, |_| 1);
            l.sent("n2", i as u64, batch, ms(10 * i as u64));
        }
        assert_eq!(l.give_up_in_flight("n2"), 4);
        assert_eq!(l.in_flight_len("n2"), 0);
        assert_eq!(l.pending_len("n2"), 4);
        assert!(l.resends("n2", &[3]));
        // Known to be there after all: neither pending nor marked.
        l.peer_holds("n2", 3);
        assert!(!l.resends("n2", &[3]) && !l.is_pending("n2", 3));
        assert_eq!(l.give_up_in_flight("n9"), 0);
    }

    #[test]
    fn a_batch_presumed_lost_is_marked_as_a_resend_until_sent_again() {
        let mut l = ledger();
        let t = timing();
        for i in 0..3 {
            l.add_value(i, None);
        }
        let batch = l.take_batch("n2", 2, 1000, |_| 1);
        assert!(!l.resends("n2", &batch));
        l.sent("n2", 1, batch, ms(0));
        assert_eq!(l.requeue_expired(ms(1000), &t), 1);
        // Pending again, and marked; the value never sent is not marked.
        let again = l.take_batch("n2", 3, 1000, |_| 1);
        assert_eq!(again, [0, 1, 2]);
        assert!(l.resends("n2", &again) && !l.resends("n2", &[2]));
        l.sent_prompt("n2", 2, again, ms(1000));
        assert!(!l.resends("n2", &[0, 1]), "sent: no longer marked");
        assert_eq!(l.in_flight_len("n2"), 3);
    }

    proptest! {
        /// Whatever happens, a value is in at most one of a peer's pending
        /// set and its in-flight batches; and once every batch is
        /// acknowledged and nothing is pending, nothing is sent again.
        #[test]
        fn a_value_is_pending_or_in_flight_never_both(
            ops in proptest::collection::vec((0u8..5, 0usize..20, 1usize..6), 1..80)
        ) {
            let mut l = ledger();
            let t = Timing { resend_after: ms(50), silence: ms(40), slack: ms(10), ..timing() };
            let mut next_msg = 0u64;
            let mut sent: Vec<u64> = Vec::new();
            let mut now = Duration::ZERO;
            let mut added = 0usize;
            for (op, x, k) in ops {
                now += ms(10);
                match op {
                    0 => { l.add_value(added, None); added += 1; }
                    1 => {
                        let batch = l.take_batch("n2", k, 1 << 20, |_| 3);
                        if !batch.is_empty() {
                            l.sent("n2", next_msg, batch, now);
                            sent.push(next_msg);
                            next_msg += 1;
                        }
                    }
                    2 => { if let Some(id) = sent.get(x % sent.len().max(1)) { l.acknowledged("n2", &[*id], now, &t); } }
                    3 => { l.requeue_expired(now, &t); }
                    4 if x % 2 == 0 => { l.heard_from("n2", now, &t); }
                    _ => { l.peer_holds("n2", x); }
                }
                let ledger = l.peers.get("n2").unwrap();
                for flight in ledger.link.in_flight() {
                    for v in flight {
                        prop_assert!(!ledger.is_pending(&l.all, *v));
                    }
                }
            }
            l.acknowledged("n2", &sent, now, &t);
            while !l.take_batch("n2", 1000, 1 << 20, |_| 3).is_empty() {}
            prop_assert_eq!(l.in_flight_len("n2"), 0);
            prop_assert_eq!(l.requeue_expired(now + ms(10_000), &t), 0);
            prop_assert_eq!(l.pending_len("n2"), 0);
        }
    }
}
