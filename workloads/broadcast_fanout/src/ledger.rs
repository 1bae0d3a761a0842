//! What a node knows of each peer's values, kept as what it does *not* know.
//!
//! A node knows that peer `p` holds value `v` once `p` sent it `v`, or
//! acknowledged a batch that carried `v`. For every peer the ledger keeps
//!
//! - `pending`: values held here that `p` is not known to hold and that are
//!   not on their way to it: what the next batch to `p` carries;
//! - `in_flight`: batches sent to `p` and not yet acknowledged, by msg_id.
//!   An acknowledgement drops the batch (its values are then known to be at
//!   `p`); a batch unacknowledged for too long is presumed lost, and its
//!   values go back to `pending`;
//! - `owed_acks`: msg_ids of `p`'s batches stored here and not yet
//!   acknowledged to `p`.
//!
//! So a value is sent to a peer once, and again only if that send was not
//! acknowledged in time: nothing is re-sent forever, and nothing is lost
//! while a partition drops batches.
//!
//! A peer silent for a while (a partition) whose message then arrives is
//! reachable again: its batches still in flight are presumed lost at once
//! instead of at their resend time, so a heal is followed by prompt
//! exchanges rather than by seconds of waiting ([`Ledger::heard_from`]).
//!
//! Pure bookkeeping: no I/O, no clock (times are passed in), no randomness.

use std::collections::BTreeMap;
use std::time::Duration;

use maelstrom_framework::NodeId;

use crate::idx_set::IdxSet;
use crate::values::ValueIdx;

/// The most acknowledgements owed to one peer. Acks are due at once when
/// this many are owed; beyond it the oldest is forgotten (the peer will
/// re-send that batch, and its re-send is acknowledged).
pub const MAX_OWED_ACKS: usize = 1024;

/// One unacknowledged batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flight {
    values: Vec<ValueIdx>,
    sent_at: Duration,
}

/// The ledger of one peer.
#[derive(Debug, Clone, Default)]
struct PeerLedger {
    /// Ascending index is first-receipt order, so batches go oldest first.
    pending: IdxSet,
    /// Ascending msg_id is sending order, so the oldest batch is first.
    in_flight: BTreeMap<u64, Flight>,
    owed_acks: Vec<u64>,
    /// When the oldest owed ack became owed.
    owed_since: Option<Duration>,
    /// When a message from this peer last arrived (start: time zero).
    last_heard: Duration,
}

/// Per-peer knowledge for every peer from `init`.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    peers: BTreeMap<NodeId, PeerLedger>,
}

impl Ledger {
    /// A ledger for these peers (never this node itself).
    pub fn new(peers: impl IntoIterator<Item = NodeId>) -> Ledger {
        Ledger {
            peers: peers
                .into_iter()
                .map(|p| (p, PeerLedger::default()))
                .collect(),
        }
    }

    pub fn is_peer(&self, id: &str) -> bool {
        self.peers.contains_key(id)
    }

    /// Every peer, in sorted order.
    pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
        self.peers.keys()
    }

    /// A value this node has just stored: every peer but `holder` (the peer
    /// it came from, if any) may lack it.
    pub fn add_value(&mut self, idx: ValueIdx, holder: Option<&str>) {
        for (peer, ledger) in &mut self.peers {
            if Some(peer.as_str()) != holder {
                ledger.pending.insert(idx);
            }
        }
    }

    /// `peer` is now known to hold `idx`: no batch needs to carry it there.
    pub fn peer_holds(&mut self, peer: &str, idx: ValueIdx) {
        if let Some(ledger) = self.peers.get_mut(peer) {
            ledger.pending.remove(idx);
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
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        for idx in ledger.pending.iter() {
            if batch.len() >= max_values {
                break;
            }
            // `+ 1` for the comma; saturating so that no size can wrap.
            let next = bytes.saturating_add(size_of(idx)).saturating_add(1);
            if !batch.is_empty() && next > max_bytes {
                break;
            }
            bytes = next;
            batch.push(idx);
        }
        batch
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
            for idx in &batch {
                ledger.pending.remove(*idx);
            }
        }
        batch
    }

    /// Records a batch sent to `peer` as message `msg_id`: it waits for an
    /// acknowledgement. An empty batch (an ack-only message) waits for none.
    pub fn sent(&mut self, peer: &str, msg_id: u64, values: Vec<ValueIdx>, now: Duration) {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return;
        };
        if !values.is_empty() {
            ledger.in_flight.insert(
                msg_id,
                Flight {
                    values,
                    sent_at: now,
                },
            );
        }
    }

    /// `peer` acknowledged these batches of ours: their values are there.
    /// Unknown ids (late, repeated or bogus) are ignored.
    pub fn acknowledged(&mut self, peer: &str, acks: &[u64]) {
        if let Some(ledger) = self.peers.get_mut(peer) {
            for id in acks {
                ledger.in_flight.remove(id);
            }
        }
    }

    /// A message from `peer` arrived at `now` (its acks already applied).
    /// If `peer` had been silent for `silence` or longer, the link was
    /// probably cut: every batch still in flight to it is presumed lost and
    /// its values are pending again. (A batch that was merely slow is then
    /// sent twice, which costs bytes, never values.) Returns how many
    /// batches were given up.
    pub fn heard_from(&mut self, peer: &str, now: Duration, silence: Duration) -> usize {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return 0;
        };
        let silent = now.saturating_sub(ledger.last_heard) >= silence;
        ledger.last_heard = ledger.last_heard.max(now);
        if !silent {
            return 0;
        }
        let flights = std::mem::take(&mut ledger.in_flight);
        let given_up = flights.len();
        for flight in flights.into_values() {
            ledger.pending.extend(flight.values);
        }
        given_up
    }

    /// How long since a message from `peer` last arrived (or since time
    /// zero, if none has).
    pub fn silent_for(&self, peer: &str, now: Duration) -> Duration {
        self.peers
            .get(peer)
            .map_or(Duration::ZERO, |l| now.saturating_sub(l.last_heard))
    }

    /// This node stored `peer`'s batch `msg_id` and owes it an ack.
    pub fn owe_ack(&mut self, peer: &str, msg_id: u64, now: Duration) {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return;
        };
        ledger.owed_acks.push(msg_id);
        if ledger.owed_acks.len() > MAX_OWED_ACKS {
            ledger.owed_acks.remove(0);
        }
        ledger.owed_since.get_or_insert(now);
    }

    /// Takes every ack owed to `peer`, to send now.
    pub fn take_owed_acks(&mut self, peer: &str) -> Vec<u64> {
        match self.peers.get_mut(peer) {
            Some(ledger) => {
                ledger.owed_since = None;
                std::mem::take(&mut ledger.owed_acks)
            }
            None => Vec::new(),
        }
    }

    /// Peers whose acks have waited `delay` for a message to ride on, or
    /// have piled up to [`MAX_OWED_ACKS`]: they get a message of their own.
    pub fn acks_due(&self, now: Duration, delay: Duration) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, l)| {
                l.owed_since
                    .is_some_and(|since| now.saturating_sub(since) >= delay)
                    || l.owed_acks.len() >= MAX_OWED_ACKS
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Puts the values of batches unacknowledged for `after` back into
    /// their peer's pending set: those batches are presumed lost. Returns
    /// how many batches were given up.
    pub fn requeue_expired(&mut self, now: Duration, after: Duration) -> usize {
        let mut expired = 0;
        for ledger in self.peers.values_mut() {
            while let Some(entry) = ledger.in_flight.first_entry() {
                if now.saturating_sub(entry.get().sent_at) < after {
                    break;
                }
                ledger.pending.extend(entry.remove().values);
                expired += 1;
            }
        }
        expired
    }

    /// Peers with nothing pending: the ones a push round can skip.
    pub fn peers_without_pending(&self) -> Vec<&str> {
        self.peers
            .iter()
            .filter(|(_, l)| l.pending.is_empty())
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// How many values wait to be sent to `peer`.
    pub fn pending_len(&self, peer: &str) -> usize {
        self.peers.get(peer).map_or(0, |l| l.pending.len())
    }

    /// Whether `idx` waits to be sent to `peer`.
    pub fn is_pending(&self, peer: &str, idx: ValueIdx) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|l| l.pending.contains(idx))
    }

    /// How many values are in unacknowledged batches to `peer`.
    pub fn in_flight_len(&self, peer: &str) -> usize {
        self.peers
            .get(peer)
            .map_or(0, |l| l.in_flight.values().map(|f| f.values.len()).sum())
    }

    /// When the oldest unacknowledged batch to `peer` was sent.
    pub fn oldest_in_flight(&self, peer: &str) -> Option<Duration> {
        self.peers
            .get(peer)
            .and_then(|l| l.in_flight.first_key_value())
            .map(|(_, f)| f.sent_at)
    }

    /// How many acks this node owes `peer`.
    pub fn owed_len(&self, peer: &str) -> usize {
        self.peers.get(peer).map_or(0, |l| l.owed_acks.len())
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
        l.acknowledged("n2", &[8, 99]);
        assert_eq!(l.in_flight_len("n2"), 2);
        assert_eq!(l.oldest_in_flight("n2"), Some(ms(0)));
        assert_eq!(l.requeue_expired(ms(999), ms(1000)), 0);
        assert_eq!(l.requeue_expired(ms(1000), ms(1000)), 1);
        assert!(l.is_pending("n2", 0) && l.is_pending("n2", 1));
        assert!(!l.is_pending("n2", 2));
        // A late ack of the requeued batch changes nothing.
        l.acknowledged("n2", &[7]);
        assert_eq!(l.pending_len("n2"), 2);
    }

    #[test]
    fn owed_acks_come_due_after_the_delay_or_when_many() {
        let mut l = ledger();
        l.owe_ack("n2", 5, ms(100));
        l.owe_ack("n2", 6, ms(150));
        assert!(l.acks_due(ms(1099), ms(1000)).is_empty());
        assert_eq!(l.acks_due(ms(1100), ms(1000)), ["n2"]);
        assert_eq!(l.take_owed_acks("n2"), [5, 6]);
        assert!(l.acks_due(ms(5000), ms(1000)).is_empty());
        for id in 0..(MAX_OWED_ACKS as u64 + 5) {
            l.owe_ack("n3", id, ms(0));
        }
        assert_eq!(l.owed_len("n3"), MAX_OWED_ACKS);
        assert_eq!(l.acks_due(ms(0), ms(1000)), ["n3"]);
        // The oldest were forgotten, the newest kept.
        assert_eq!(l.take_owed_acks("n3")[0], 5);
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
        assert_eq!(l.heard_from("n2", ms(900), ms(1000)), 0);
        let batch = l.take_batch("n2", 2, 1000, |_| 1);
        l.sent("n2", 2, batch, ms(950));
        assert_eq!(l.heard_from("n2", ms(1899), ms(1000)), 0);
        assert_eq!(l.in_flight_len("n2"), 3);
        // Silent from 1899 ms to 2899 ms: both batches are given up.
        assert_eq!(l.heard_from("n2", ms(2899), ms(1000)), 2);
        assert_eq!(l.in_flight_len("n2"), 0);
        assert_eq!(l.pending_len("n2"), 3);
        // The other peer's books are untouched.
        assert_eq!(l.pending_len("n3"), 3);
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
                    2 => { if let Some(id) = sent.get(x % sent.len().max(1)) { l.acknowledged("n2", &[*id]); } }
                    3 => { l.requeue_expired(now, ms(50)); }
                    _ => { l.peer_holds("n2", x); }
                }
                let ledger = &l.peers["n2"];
                for flight in ledger.in_flight.values() {
                    for v in &flight.values {
                        prop_assert!(!ledger.pending.contains(*v));
                    }
                }
            }
            l.acknowledged("n2", &sent);
            while !l.take_batch("n2", 1000, 1 << 20, |_| 3).is_empty() {}
            prop_assert_eq!(l.in_flight_len("n2"), 0);
            prop_assert_eq!(l.requeue_expired(now + ms(10_000), ms(50)), 0);
            prop_assert_eq!(l.pending_len("n2"), 0);
        }
    }
}
