//! What a node knows of each peer's values, kept as what it does *not* know.
//!
//! A node knows that peer `p` holds value `v` once `p` sent it `v`, or
//! acknowledged a batch that carried `v`. For every peer the ledger keeps
//!
//! - `pending`: values held here that `p` is not known to hold and that are
//!   not on their way to it: what the next batch to `p` carries;
//! - `in_flight`: batches sent to `p` and not yet acknowledged, by msg_id.
//!   An acknowledgement drops the batch (its values are then known to be at
//!   `p`); a batch presumed lost goes back to `pending`;
//! - `owed_acks`: msg_ids of `p`'s batches stored here and not yet
//!   acknowledged to `p`.
//!
//! So a value is sent to a peer once, and again only if that send was
//! presumed lost: nothing is re-sent forever, and nothing is lost while a
//! partition drops batches.
//!
//! # When a batch is presumed lost
//! Fixed timeouts would have to cover the slowest link and the laziest
//! acks, and then a short cut right before a heal waits for them. So the
//! ledger learns, per peer, two smoothed times ([`Smoothed`], TCP's
//! SRTT/RTTVAR): how long the peer takes to acknowledge a batch (`ack
//! time`), and how long it usually stays quiet between two messages
//! (`gap`). A batch is presumed lost when
//!
//! 1. **it is overdue**: unacknowledged for longer than the ack time's
//!    mean + 4 deviations + [`Timing::slack`] ([`Ledger::resend_after`],
//!    at most [`Timing::resend_after`]);
//! 2. **a later one was acknowledged** (fast retransmit): the peer acks
//!    every batch it stored on its next message, so an ack for batch B
//!    means a batch sent at least [`Timing::slack`] before B and still
//!    unacknowledged was lost (the slack tolerates reordering);
//! 3. **the peer was silent** ([`Ledger::heard_from`]): a message from
//!    `p` after a gap longer than its usual gap's mean + 4 deviations +
//!    slack ([`Ledger::silence`], at most [`Timing::silence`]) means the
//!    link was cut: what is still in flight to `p` went into the cut.
//!
//! Until a peer has given a sample, the bounds themselves apply (the fixed
//! rules of old). A presumption that was wrong costs a re-sent batch, never
//! a value.
//!
//! # Prompt re-sends
//! Acks are lazy (they wait up to [`Timing::ack_delay`] for a message to
//! ride on), so the ack time is long and wide, and with it the timeout: on
//! a lossy link a value lost a few times in a row waited up to
//! [`Timing::resend_after`] per attempt. So the values of a batch presumed
//! lost are marked (`resent`) as well as pending again, and a push that
//! carries one asks its receiver to ack at once ([`Ledger::resends`],
//! [`Ledger::sent_prompt`]). Such a *prompt* batch is timed by a third
//! smoothed time, the peer's round trip (sampled from prompt batches'
//! acks no slower than `ack_delay`: a slower one was answered lazily, after
//! its prompt ack was lost): [`Ledger::prompt_resend_after`], `ack_delay`
//! before the first sample, never more than the lazy time. And once the
//! round trip is known, the lazy time is at most `ack_delay` + an interval
//! (2 × slack: an owed ack waits for a tick) + the round trip's bound: the
//! latest a lazy ack can come.
//!
//! Pure bookkeeping: no I/O, no clock (times are passed in), no randomness.

use std::collections::BTreeMap;
use std::time::Duration;

use maelstrom_framework::NodeId;

use crate::idx_set::IdxSet;
use crate::values::ValueIdx;

/// How long acknowledgements may wait, and the bounds of the adaptive
/// loss detection (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// An ack rides on the next message to its peer; one that has waited
    /// this long is sent alone.
    pub ack_delay: Duration,
    /// The longest a push may go unacknowledged before it is presumed
    /// lost: the bound of [`Ledger::resend_after`], and its value for a
    /// peer that has acknowledged nothing yet. Also the `exchange` RPC
    /// timeout.
    pub resend_after: Duration,
    /// The longest silence a peer may keep before it is presumed cut off:
    /// the bound of [`Ledger::silence`], and its value for a peer heard
    /// from less than twice.
    pub silence: Duration,
    /// What the adaptive times add to mean + 4 deviations, and how much
    /// earlier than an acknowledged batch an unacknowledged one must have
    /// been sent to be presumed lost: half an interval.
    pub slack: Duration,
}

impl Timing {
    /// `ack_delay` = max(1 s, 2 × interval): long enough that most acks
    /// ride on messages that go anyway, short enough that a lost push is
    /// re-sent seconds, not minutes, later. `resend_after` =
    /// 2 × ack_delay plus 2 × interval, well after an ack that waited its
    /// full delay. `silence` = 1.5 × ack_delay + interval, halfway between
    /// the two: later than a live peer's ack (which may wait ack_delay for
    /// a tick of its timer, then travel), sooner than the resend. `slack` =
    /// interval / 2. Saturating: no interval can overflow them.
    pub fn for_interval(interval: Duration) -> Timing {
        let ack_delay = interval.saturating_mul(2).max(Duration::from_secs(1));
        Timing {
            ack_delay,
            resend_after: ack_delay
                .saturating_mul(2)
                .saturating_add(interval.saturating_mul(2)),
            silence: ack_delay
                .saturating_add(ack_delay / 2)
                .saturating_add(interval),
            slack: interval / 2,
        }
    }
}

/// A smoothed duration and its mean deviation, kept as TCP keeps SRTT and
/// RTTVAR (RFC 6298): the first sample sets the mean, and half of it the
/// deviation; each later one moves the mean 1/8 and the deviation 1/4 of
/// the way towards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smoothed {
    pub mean: Duration,
    pub dev: Duration,
}

impl Smoothed {
    fn observe(slot: &mut Option<Smoothed>, sample: Duration) {
        *slot = Some(match *slot {
            None => Smoothed {
                mean: sample,
                dev: sample / 2,
            },
            Some(Smoothed { mean, dev }) => {
                let err = mean.abs_diff(sample);
                Smoothed {
                    mean: mean.saturating_mul(7).saturating_add(sample) / 8,
                    dev: dev.saturating_mul(3).saturating_add(err) / 4,
                }
            }
        });
    }

    /// mean + 4 × deviation + `slack`, at most `cap`: longer than all but
    /// the rarest samples.
    pub fn bound(&self, slack: Duration, cap: Duration) -> Duration {
        self.mean
            .saturating_add(self.dev.saturating_mul(4))
            .saturating_add(slack)
            .min(cap)
    }
}

/// What [`Ledger::heard_from`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Heard {
    /// The peer had been silent for its [`Ledger::silence`]: the link was
    /// probably cut, and is back.
    pub after_silence: bool,
    /// Batches in flight to the peer given up for that reason.
    pub given_up: usize,
}

/// The most acknowledgements owed to one peer. Acks are due at once when
/// this many are owed; beyond it the oldest is forgotten (the peer will
/// re-send that batch, and its re-send is acknowledged).
pub const MAX_OWED_ACKS: usize = 1024;

/// One unacknowledged batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flight {
    values: Vec<ValueIdx>,
    sent_at: Duration,
    /// It re-sends values presumed lost, and asks for a prompt ack: it is
    /// timed by the peer's round trip, not its ack time.
    prompt: bool,
}

/// The ledger of one peer.
#[derive(Debug, Clone, Default)]
struct PeerLedger {
    /// Ascending index is first-receipt order, so batches go oldest first.
    pending: IdxSet,
    /// The pending values that were presumed lost on their way to this
    /// peer: a batch that carries one asks for a prompt ack.
    resent: IdxSet,
    /// Ascending msg_id is sending order, so the oldest batch is first.
    in_flight: BTreeMap<u64, Flight>,
    owed_acks: Vec<u64>,
    /// When the oldest owed ack became owed.
    owed_since: Option<Duration>,
    /// When a message from this peer last arrived (start: time zero).
    last_heard: Duration,
    /// Whether any message from this peer arrived (the first one gives no
    /// gap sample).
    heard_any: bool,
    /// Send → acknowledgement of this peer's batches.
    ack_time: Option<Smoothed>,
    /// Send → acknowledgement of this peer's prompt batches: a round trip.
    round_trip: Option<Smoothed>,
    /// Between two messages from this peer (at least the slack apart),
    /// silences cut to the bound.
    gap: Option<Smoothed>,
}

impl PeerLedger {
    /// A batch presumed lost: its values are pending again, and marked as
    /// re-sent.
    fn give_up(&mut self, flight: Flight) {
        for idx in flight.values {
            self.pending.insert(idx);
            self.resent.insert(idx);
        }
    }

    /// Gives up every batch in flight; returns how many there were.
    fn give_up_all(&mut self) -> usize {
        let flights = std::mem::take(&mut self.in_flight);
        let given_up = flights.len();
        for flight in flights.into_values() {
            self.give_up(flight);
        }
        given_up
    }

    fn resend_after(&self, t: &Timing) -> Duration {
        let lazy = self
            .ack_time
            .map_or(t.resend_after, |s| s.bound(t.slack, t.resend_after));
        // An ack waits at most its delay and a tick, then travels like a
        // prompt one.
        let latest = self.round_trip.map(|rt| {
            t.ack_delay
                .saturating_add(t.slack.saturating_mul(2))
                .saturating_add(rt.bound(t.slack, t.resend_after))
        });
        latest.map_or(lazy, |latest| lazy.min(latest))
    }

    fn prompt_resend_after(&self, t: &Timing) -> Duration {
        let prompt = self
            .round_trip
            .map_or(t.ack_delay, |s| s.bound(t.slack, t.resend_after));
        prompt.min(self.resend_after(t))
    }
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
            ledger.resent.remove(idx);
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

    /// Whether `batch` (taken for `peer`) re-sends a value presumed lost on
    /// its way there: then it may ask for a prompt ack ([`Ledger::sent_prompt`]).
    pub fn resends(&self, peer: &str, batch: &[ValueIdx]) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|l| batch.iter().any(|&idx| l.resent.contains(idx)))
    }

    /// Records a batch sent to `peer` as message `msg_id`: it waits for an
    /// acknowledgement, for up to [`Ledger::resend_after`]. An empty batch
    /// (an ack-only message) waits for none.
    pub fn sent(&mut self, peer: &str, msg_id: u64, values: Vec<ValueIdx>, now: Duration) {
        self.record(peer, msg_id, values, now, false);
    }

    /// Like [`Ledger::sent`], for a batch whose receiver was asked to ack
    /// it at once: it waits for up to [`Ledger::prompt_resend_after`].
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
        let Some(ledger) = self.peers.get_mut(peer) else {
            return;
        };
        for &idx in &values {
            ledger.resent.remove(idx);
        }
        if !values.is_empty() {
            ledger.in_flight.insert(
                msg_id,
                Flight {
                    values,
                    sent_at: now,
                    prompt,
                },
            );
        }
    }

    /// `peer` acknowledged these batches of ours at `now`: their values are
    /// there, and each gives an ack-time sample (a prompt batch: a
    /// round-trip sample, if no slower than [`Timing::ack_delay`]). Unknown ids (late,
    /// repeated or bogus) are ignored. Then fast retransmit: a batch sent
    /// [`Timing::slack`] or more before the newest one acknowledged here
    /// and still unacknowledged is presumed lost (the peer acks all it
    /// stored on each message), and its values are pending again. Returns
    /// how many batches were given up.
    pub fn acknowledged(&mut self, peer: &str, acks: &[u64], now: Duration, t: &Timing) -> usize {
        let Some(ledger) = self.peers.get_mut(peer) else {
            return 0;
        };
        let mut newest: Option<Duration> = None;
        for id in acks {
            if let Some(flight) = ledger.in_flight.remove(id) {
                let sample = now.saturating_sub(flight.sent_at);
                if !flight.prompt {
                    Smoothed::observe(&mut ledger.ack_time, sample);
                } else if sample <= t.ack_delay {
                    // A prompt ack slower than a lazy one was not prompt:
                    // its answer was lost, or the batch sat in a cut.
                    Smoothed::observe(&mut ledger.round_trip, sample);
                }
                newest = newest.max(Some(flight.sent_at));
            }
        }
        let Some(newest) = newest else {
            return 0;
        };
        // Strictly earlier, even with no slack.
        let margin = t.slack.max(Duration::from_nanos(1));
        let mut given_up = 0;
        while let Some(entry) = ledger.in_flight.first_entry() {
            if newest.saturating_sub(entry.get().sent_at) < margin {
                break;
            }
            let flight = entry.remove();
            ledger.give_up(flight);
            given_up += 1;
        }
        given_up
    }

    /// How long a batch to `peer` may go unacknowledged before it is
    /// presumed lost: its ack time's mean + 4 deviations + slack, at most
    /// (and, before its first ack, exactly) [`Timing::resend_after`]; once
    /// a round trip is known, at most [`Timing::ack_delay`] + 2 × slack +
    /// [`Ledger::prompt_resend_after`]'s round-trip bound.
    pub fn resend_after(&self, peer: &str, t: &Timing) -> Duration {
        self.peers
            .get(peer)
            .map_or(t.resend_after, |l| l.resend_after(t))
    }

    /// How long a prompt batch to `peer` (one asking for an ack at once)
    /// may go unacknowledged: its round trip's mean + 4 deviations + slack
    /// (before the first sample, [`Timing::ack_delay`]), at most
    /// [`Ledger::resend_after`].
    pub fn prompt_resend_after(&self, peer: &str, t: &Timing) -> Duration {
        self.peers
            .get(peer)
            .map_or(t.resend_after, |l| l.prompt_resend_after(t))
    }

    /// How long `peer` may stay silent before it is presumed cut off: its
    /// usual gap's mean + 4 deviations + slack, at most (and, before a
    /// gap was seen, exactly) [`Timing::silence`].
    pub fn silence(&self, peer: &str, t: &Timing) -> Duration {
        self.peers
            .get(peer)
            .and_then(|l| l.gap)
            .map_or(t.silence, |s| s.bound(t.slack, t.silence))
    }

    /// The smoothed ack time and gap of `peer`, once sampled.
    pub fn estimates(&self, peer: &str) -> (Option<Smoothed>, Option<Smoothed>) {
        self.peers
            .get(peer)
            .map_or((None, None), |l| (l.ack_time, l.gap))
    }

    /// A message from `peer` arrived at `now` (its acks already applied).
    /// If `peer` had been silent for [`Ledger::silence`] or longer, the
    /// link was probably cut: every batch still in flight to it is
    /// presumed lost and its values are pending again. (A batch that was
    /// merely slow is then sent twice, which costs bytes, never values.)
    /// The gap is a sample of the usual gap, cut to the silence so that an
    /// outage does not teach the ledger to wait for outages.
    pub fn heard_from(&mut self, peer: &str, now: Duration, t: &Timing) -> Heard {
        let silence = self.silence(peer, t);
        let Some(ledger) = self.peers.get_mut(peer) else {
            return Heard::default();
        };
        let gap = now.saturating_sub(ledger.last_heard);
        let silent = gap >= silence;
        // Messages closer than the slack are one burst (a round's batch
        // and an extra ack, say): their short gaps say nothing about how
        // long the peer stays quiet, and would only widen the deviation.
        if ledger.heard_any && gap >= t.slack {
            Smoothed::observe(&mut ledger.gap, gap.min(silence));
        }
        ledger.heard_any = true;
        ledger.last_heard = ledger.last_heard.max(now);
        if !silent {
            return Heard::default();
        }
        Heard {
            after_silence: true,
            given_up: ledger.give_up_all(),
        }
    }

    /// Presumes every batch in flight to `peer` lost: their values are
    /// pending again (and marked as re-sent). Returns how many were given
    /// up.
    pub fn give_up_in_flight(&mut self, peer: &str) -> usize {
        self.peers.get_mut(peer).map_or(0, PeerLedger::give_up_all)
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

    /// Puts the values of batches unacknowledged for their peer's
    /// [`Ledger::resend_after`] (prompt ones: [`Ledger::prompt_resend_after`])
    /// back into its pending set, marked as re-sent: those batches are
    /// presumed lost. Returns how many batches were given up.
    pub fn requeue_expired(&mut self, now: Duration, t: &Timing) -> usize {
        let mut expired = 0;
        for ledger in self.peers.values_mut() {
            let lazy = ledger.resend_after(t);
            let prompt = ledger.prompt_resend_after(t);
            // Prompt and lazy batches time out differently, so an overdue
            // one need not be the oldest: every batch is checked.
            let overdue: Vec<u64> = ledger
                .in_flight
                .iter()
                .filter(|(_, f)| {
                    now.saturating_sub(f.sent_at) >= if f.prompt { prompt } else { lazy }
                })
                .map(|(&id, _)| id)
                .collect();
            for id in overdue {
                if let Some(flight) = ledger.in_flight.remove(&id) {
                    ledger.give_up(flight);
                    expired += 1;
                }
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
        assert_eq!(l.resend_after("n2", &timing()), ms(1000));
        assert_eq!(l.requeue_expired(ms(999), &timing()), 0);
        assert_eq!(l.requeue_expired(ms(1000), &timing()), 1);
        assert!(l.is_pending("n2", 0) && l.is_pending("n2", 1));
        assert!(!l.is_pending("n2", 2));
        // A late ack of the requeued batch changes nothing.
        assert_eq!(l.acknowledged("n2", &[7], ms(1000), &timing()), 0);
        assert_eq!(l.pending_len("n2"), 2);
    }

    #[test]
    fn the_resend_time_follows_the_peers_ack_times() {
        let mut l = ledger();
        let t = timing();
        // Before any ack: the bound.
        assert_eq!(l.resend_after("n2", &t), ms(1000));
        // Steady 200 ms acks: the resend time closes in on 200 ms + slack.
        for i in 0..40 {
            l.add_value(i, None);
            let batch = l.take_batch("n2", 1, 1000, |_| 1);
            l.sent("n2", i as u64, batch, ms(100 * i as u64));
            l.acknowledged("n2", &[i as u64], ms(100 * i as u64 + 200), &t);
        }
        let rto = l.resend_after("n2", &t);
        assert!(rto >= ms(250) && rto < ms(300), "{rto:?}");
        // The other peer still waits the bound.
        assert_eq!(l.resend_after("n3", &t), ms(1000));
        l.add_value(40, None);
        let batch = l.take_batch("n2", 1, 1000, |_| 1);
        l.sent("n2", 40, batch, ms(5000));
        assert_eq!(l.requeue_expired(ms(5000) + rto - ms(1), &t), 0);
        assert_eq!(l.requeue_expired(ms(5000) + rto, &t), 1);
        assert!(l.is_pending("n2", 40));
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
    fn a_silence_is_measured_against_the_peers_usual_gaps() {
        let mut l = ledger();
        let t = timing();
        // n2 speaks every 100 ms.
        for i in 1..=30 {
            assert_eq!(l.heard_from("n2", ms(100 * i), &t), Heard::default());
        }
        let silence = l.silence("n2", &t);
        assert!(silence > ms(100) && silence < ms(200), "{silence:?}");
        assert_eq!(l.silence("n3", &t), ms(1000), "never heard: the bound");
        l.add_value(0, None);
        let batch = l.take_batch("n2", 1, 1000, |_| 1);
        l.sent("n2", 1, batch, ms(3000));
        // Four quiet intervals: the link was cut, the batch went into it.
        assert_eq!(l.heard_from("n2", ms(3400), &t).given_up, 1);
        assert!(l.is_pending("n2", 0));
        // The outage counted as a gap of only `silence`.
        let (_, gap) = l.estimates("n2");
        assert!(gap.unwrap().mean < ms(120), "{gap:?}");
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
    fn a_batch_presumed_lost_goes_again_as_a_prompt_one_timed_by_the_round_trip() {
        let mut l = ledger();
        let t = timing();
        for i in 0..3 {
            l.add_value(i, None);
        }
        let batch = l.take_batch("n2", 2, 1000, |_| 1);
        assert!(!l.resends("n2", &batch));
        l.sent("n2", 1, batch, ms(0));
        // Before any round trip: ack_delay (500 ms), below the 1 s bound.
        assert_eq!(l.prompt_resend_after("n2", &t), ms(500));
        assert_eq!(l.requeue_expired(ms(1000), &t), 1);
        // Pending again, and marked: the batch that carries them asks for
        // a prompt ack; the value never sent is not marked.
        let again = l.take_batch("n2", 3, 1000, |_| 1);
        assert_eq!(again, [0, 1, 2]);
        assert!(l.resends("n2", &again) && !l.resends("n2", &[2]));
        l.sent_prompt("n2", 2, again, ms(1000));
        assert!(!l.resends("n2", &[0, 1]), "sent: no longer marked");
        // Prompt acks in 100 ms: the prompt timeout closes in on that,
        // and caps the lazy one at ack_delay + 2 slacks + itself.
        l.acknowledged("n2", &[2], ms(1100), &t);
        let prompt = l.prompt_resend_after("n2", &t);
        assert_eq!(prompt, ms(350), "100 + 4 × 50 + 50 ms");
        // No lazy ack yet (the bound, 1 s), but one waits at most 500 ms
        // + a tick (100 ms) and then travels like a prompt one.
        assert_eq!(l.resend_after("n2", &t), ms(950));
        // An older lazy batch waits for its own, longer, time while a
        // younger prompt one expires.
        l.add_value(3, None);
        l.add_value(4, None);
        let lazy = l.take_batch("n2", 1, 1000, |_| 1);
        l.sent("n2", 3, lazy, ms(2000));
        let prompt_batch = l.take_batch("n2", 1, 1000, |_| 1);
        l.sent_prompt("n2", 4, prompt_batch, ms(2100));
        assert_eq!(l.requeue_expired(ms(2100) + prompt, &t), 1);
        assert!(l.is_pending("n2", 4) && !l.is_pending("n2", 3));
        // A prompt ack slower than ack_delay is no round-trip sample.
        let batch = l.take_batch("n2", 1, 1000, |_| 1);
        l.sent_prompt("n2", 5, batch, ms(3000));
        l.acknowledged("n2", &[5], ms(3600), &t);
        assert_eq!(l.prompt_resend_after("n2", &t), prompt);
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
                let ledger = &l.peers["n2"];
                for flight in ledger.in_flight.values() {
                    for v in &flight.values {
                        prop_assert!(!ledger.pending.contains(*v));
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
