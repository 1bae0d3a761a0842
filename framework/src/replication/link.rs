//! An acknowledged link to one peer: numbered one-way messages,
//! acknowledgements that ride on traffic the other way, and adaptive loss
//! detection. What a message carries is the workload's: the link keeps an
//! opaque payload `P` per unacknowledged message and hands it back when
//! the message is acknowledged (the peer holds it) or presumed lost (its
//! content is due again).
//!
//! # The protocol
//! - Every message with content is numbered by its `msg_id` and, once
//!   sent, *in flight* ([`Link::sent`]).
//! - The receiver owes the sender an ack for it ([`Link::owe_ack`]). Owed
//!   acks ride on the next message to the sender ([`Link::take_owed_acks`]),
//!   or, once the oldest has waited [`Timing::ack_delay`], go in a message
//!   of their own ([`Link::ack_due`]), which carries no content and is owed
//!   no ack: acks never beget acks.
//! - An ack settles its message ([`Link::acknowledged`]): the payload comes
//!   back as *acked*.
//!
//! # When a message is presumed lost
//! Fixed timeouts would have to cover the slowest link and the laziest
//! acks, and then a short cut right before a heal waits for them. So the
//! link learns two smoothed times ([`Smoothed`], TCP's SRTT/RTTVAR): how
//! long the peer takes to acknowledge (`ack time`), and how long it usually
//! stays quiet between two messages (`gap`). A message is presumed lost when
//!
//! 1. **it is overdue**: unacknowledged for longer than the ack time's
//!    mean + 4 deviations + [`Timing::slack`] ([`Link::resend_after`], at
//!    most [`Timing::resend_after`]);
//! 2. **a later one was acknowledged** (fast retransmit): the peer acks
//!    every message it stored on its next message, so an ack for M means a
//!    message sent at least [`Timing::slack`] before M and still
//!    unacknowledged was lost (the slack tolerates reordering);
//! 3. **the peer was silent** ([`Link::heard_from`]): a message from the
//!    peer after a gap longer than its usual gap's mean + 4 deviations +
//!    slack ([`Link::silence`], at most [`Timing::silence`]) means the link
//!    was cut: what is still in flight went into the cut. This is the
//!    "peer is silent / heard again" signal ([`Heard::after_silence`]).
//!
//! Until the peer has given a sample, the bounds themselves apply. A
//! presumption that was wrong costs a message sent twice, never content.
//!
//! # Prompt re-sends
//! Acks are lazy (they wait up to [`Timing::ack_delay`] for a message to
//! ride on), so the ack time is long and wide, and with it the timeout: on
//! a lossy link content lost a few times in a row would wait up to
//! [`Timing::resend_after`] per attempt. So a message that re-sends content
//! presumed lost asks its receiver to ack at once (`prompt`, see
//! [`Link::sent`]; the receiver's side is [`Link::owe_ack`]'s return). Such
//! a message is timed by a third smoothed time, the round trip (sampled
//! from prompt acks no slower than `ack_delay`: a slower one was answered
//! lazily, after its prompt ack was lost): [`Link::prompt_resend_after`],
//! `ack_delay` before the first sample, never more than the lazy time.
//! Once the round trip is known, the lazy time is at most `ack_delay` + 2
//! × slack (an owed ack waits for a tick) + the round trip's bound: the
//! latest a lazy ack can come.
//!
//! # Probes
//! A peer silent for [`Timing::silence`] while something is in flight to
//! it is due a probe ([`Link::probe_due`]): a message the workload sends
//! even with nothing new to carry, so that both sides of a healed link
//! notice. The workload gives up what is in flight first
//! ([`Link::give_up_all`]) so that the probe carries it.
//!
//! Pure bookkeeping: no I/O, no clock (times are passed in), no randomness.

use std::collections::BTreeMap;
use std::time::Duration;

/// How long acknowledgements may wait, and the bounds of the adaptive
/// loss detection (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// An ack rides on the next message to its peer; one that has waited
    /// this long is sent alone.
    pub ack_delay: Duration,
    /// The longest a message may go unacknowledged before it is presumed
    /// lost: the bound of [`Link::resend_after`], and its value for a peer
    /// that has acknowledged nothing yet.
    pub resend_after: Duration,
    /// The longest silence a peer may keep before it is presumed cut off:
    /// the bound of [`Link::silence`], and its value for a peer heard from
    /// less than twice.
    pub silence: Duration,
    /// What the adaptive times add to mean + 4 deviations, and how much
    /// earlier than an acknowledged message an unacknowledged one must have
    /// been sent to be presumed lost.
    pub slack: Duration,
}

impl Timing {
    /// The timing for a workload that ticks every `interval`:
    ///
    /// - `ack_delay` = max(1 s, 2 × interval): long enough that most acks
    ///   ride on messages that go anyway, short enough that a lost message
    ///   is re-sent seconds, not minutes, later;
    /// - `resend_after` = 2 × ack_delay plus 2 × interval, well after an
    ///   ack that waited its full delay;
    /// - `silence` = 1.5 × ack_delay plus an interval, halfway between the
    ///   two: later than a live peer's ack (which may wait ack_delay for a
    ///   tick of its timer, then travel), sooner than the resend;
    /// - `slack` = interval / 2.
    ///
    /// Saturating: no interval can overflow them.
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

/// How much one message may carry: at most `max_items` items and, past
/// the first, at most `max_bytes` bytes of them (one item larger than that
/// still goes, alone). Fill a message with [`BatchLimit::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimit {
    pub max_items: usize,
    pub max_bytes: usize,
}

impl BatchLimit {
    /// An empty message being filled under this limit.
    pub fn start(self) -> Batch {
        Batch {
            limit: self,
            items: 0,
            bytes: 0,
        }
    }
}

/// A message being filled under a [`BatchLimit`].
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    limit: BatchLimit,
    items: usize,
    bytes: usize,
}

impl Batch {
    /// Takes one more item of `bytes` bytes if the limit allows it;
    /// returns whether it did (once it does not, the message is full).
    pub fn admit(&mut self, bytes: usize) -> bool {
        // Saturating, so that no size can wrap.
        let next = self.bytes.saturating_add(bytes);
        let full =
            self.items >= self.limit.max_items || (self.items > 0 && next > self.limit.max_bytes);
        if !full {
            self.items += 1;
            self.bytes = next;
        }
        !full
    }
}

/// The most acknowledgements owed to one peer. Acks are due at once when
/// this many are owed; beyond it the oldest is forgotten (the peer will
/// re-send that message, and its re-send is acknowledged).
pub const MAX_OWED_ACKS: usize = 1024;

/// What [`Link::acknowledged`] settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked<P> {
    /// Payloads of the messages acknowledged (the peer holds them), each
    /// with when it was sent.
    pub acked: Vec<(P, Duration)>,
    /// Payloads of earlier messages presumed lost (fast retransmit).
    pub lost: Vec<P>,
}

/// What [`Link::heard_from`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard<P> {
    /// The peer had been silent for its [`Link::silence`]: the link was
    /// probably cut, and is back.
    pub after_silence: bool,
    /// Payloads in flight given up for that reason.
    pub lost: Vec<P>,
}

/// One unacknowledged message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flight<P> {
    payload: P,
    sent_at: Duration,
    /// It asked for a prompt ack: timed by the round trip, not the ack
    /// time.
    prompt: bool,
}

/// The acknowledged link to one peer.
#[derive(Debug, Clone)]
pub struct Link<P> {
    /// Ascending msg_id is sending order, so the oldest message is first.
    in_flight: BTreeMap<u64, Flight<P>>,
    owed_acks: Vec<u64>,
    /// When the oldest owed ack became owed.
    owed_since: Option<Duration>,
    /// When a message from this peer last arrived (start: time zero).
    last_heard: Duration,
    /// Whether any message from this peer arrived (the first one gives no
    /// gap sample).
    heard_any: bool,
    /// Send → acknowledgement of lazy messages.
    ack_time: Option<Smoothed>,
    /// Send → acknowledgement of prompt messages: a round trip.
    round_trip: Option<Smoothed>,
    /// Between two messages from this peer (at least the slack apart),
    /// silences cut to the bound.
    gap: Option<Smoothed>,
    /// Retries to a silent peer back off ([`Link::retried`]): the next not
    /// before this.
    retry_at: Option<Duration>,
    doublings: u32,
}

impl<P> Default for Link<P> {
    fn default() -> Self {
        Link {
            in_flight: BTreeMap::new(),
            owed_acks: Vec::new(),
            owed_since: None,
            last_heard: Duration::ZERO,
            heard_any: false,
            ack_time: None,
            round_trip: None,
            gap: None,
            retry_at: None,
            doublings: 0,
        }
    }
}

impl<P> Link<P> {
    /// Records message `msg_id`, carrying `payload`, as sent at `now`: it
    /// waits for an acknowledgement for up to [`Link::resend_after`] or,
    /// when `prompt` (its receiver was asked to ack at once),
    /// [`Link::prompt_resend_after`]. Record only messages with content: an
    /// ack-only message waits for nothing.
    pub fn sent(&mut self, msg_id: u64, payload: P, now: Duration, prompt: bool) {
        self.in_flight.insert(
            msg_id,
            Flight {
                payload,
                sent_at: now,
                prompt,
            },
        );
    }

    /// The peer acknowledged these messages at `now`: each gives an
    /// ack-time sample (a prompt one: a round-trip sample, if no slower
    /// than [`Timing::ack_delay`]). Unknown ids (late, repeated or bogus)
    /// are ignored. Then fast retransmit: a message sent [`Timing::slack`]
    /// or more before the newest one acknowledged here and still
    /// unacknowledged is presumed lost.
    pub fn acknowledged(&mut self, acks: &[u64], now: Duration, t: &Timing) -> Acked<P> {
        let mut settled = Acked {
            acked: Vec::new(),
            lost: Vec::new(),
        };
        let mut newest: Option<Duration> = None;
        for id in acks {
            if let Some(flight) = self.in_flight.remove(id) {
                let sample = now.saturating_sub(flight.sent_at);
                if !flight.prompt {
                    Smoothed::observe(&mut self.ack_time, sample);
                } else if sample <= t.ack_delay {
                    // A prompt ack slower than a lazy one was not prompt:
                    // its answer was lost, or the message sat in a cut.
                    Smoothed::observe(&mut self.round_trip, sample);
                }
                newest = newest.max(Some(flight.sent_at));
                settled.acked.push((flight.payload, flight.sent_at));
            }
        }
        let Some(newest) = newest else {
            return settled;
        };
        // Strictly earlier, even with no slack.
        let margin = t.slack.max(Duration::from_nanos(1));
        while let Some(entry) = self.in_flight.first_entry() {
            if newest.saturating_sub(entry.get().sent_at) < margin {
                break;
            }
            settled.lost.push(entry.remove().payload);
        }
        settled
    }

    /// How long a message may go unacknowledged before it is presumed
    /// lost: the ack time's mean + 4 deviations + slack, at most (and,
    /// before the first ack, exactly) [`Timing::resend_after`]; once a
    /// round trip is known, at most [`Timing::ack_delay`] + 2 × slack + the
    /// round trip's bound.
    pub fn resend_after(&self, t: &Timing) -> Duration {
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

    /// How long a prompt message may go unacknowledged: the round trip's
    /// mean + 4 deviations + slack (before the first sample,
    /// [`Timing::ack_delay`]), at most [`Link::resend_after`].
    pub fn prompt_resend_after(&self, t: &Timing) -> Duration {
        let prompt = self
            .round_trip
            .map_or(t.ack_delay, |s| s.bound(t.slack, t.resend_after));
        prompt.min(self.resend_after(t))
    }

    /// How long the peer may stay silent before it is presumed cut off: its
    /// usual gap's mean + 4 deviations + slack, at most (and, before a gap
    /// was seen, exactly) [`Timing::silence`].
    pub fn silence(&self, t: &Timing) -> Duration {
        self.gap.map_or(t.silence, |s| s.bound(t.slack, t.silence))
    }

    /// The smoothed ack time and gap, once sampled.
    pub fn estimates(&self) -> (Option<Smoothed>, Option<Smoothed>) {
        (self.ack_time, self.gap)
    }

    /// A message from the peer arrived at `now` (its acks already
    /// applied). If the peer had been silent for [`Link::silence`] or
    /// longer, the link was probably cut: every message still in flight is
    /// presumed lost. The gap is a sample of the usual gap, cut to the
    /// silence so that an outage does not teach the link to wait for
    /// outages.
    pub fn heard_from(&mut self, now: Duration, t: &Timing) -> Heard<P> {
        let silence = self.silence(t);
        let gap = now.saturating_sub(self.last_heard);
        let silent = gap >= silence;
        // Messages closer than the slack are one burst (a round's message
        // and an extra ack, say): their short gaps say nothing about how
        // long the peer stays quiet, and would only widen the deviation.
        if self.heard_any && gap >= t.slack {
            Smoothed::observe(&mut self.gap, gap.min(silence));
        }
        self.heard_any = true;
        self.last_heard = self.last_heard.max(now);
        self.retry_at = None;
        self.doublings = 0;
        Heard {
            after_silence: silent,
            lost: if silent {
                self.give_up_all()
            } else {
                Vec::new()
            },
        }
    }

    /// Presumes every message in flight lost; returns their payloads,
    /// oldest first.
    pub fn give_up_all(&mut self) -> Vec<P> {
        std::mem::take(&mut self.in_flight)
            .into_values()
            .map(|f| f.payload)
            .collect()
    }

    /// Gives up the messages unacknowledged for [`Link::resend_after`]
    /// (prompt ones: [`Link::prompt_resend_after`]) at `now`; returns their
    /// payloads, oldest first.
    pub fn expired(&mut self, now: Duration, t: &Timing) -> Vec<P> {
        // Checked every round for every peer: most links have nothing out.
        if self.in_flight.is_empty() {
            return Vec::new();
        }
        let lazy = self.resend_after(t);
        let prompt = self.prompt_resend_after(t);
        // Prompt and lazy messages time out differently, so an overdue one
        // need not be the oldest: every message is checked.
        let overdue: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| now.saturating_sub(f.sent_at) >= if f.prompt { prompt } else { lazy })
            .map(|(&id, _)| id)
            .collect();
        overdue
            .into_iter()
            .filter_map(|id| self.in_flight.remove(&id))
            .map(|f| f.payload)
            .collect()
    }

    /// How long since a message from the peer last arrived (or since time
    /// zero, if none has).
    pub fn silent_for(&self, now: Duration) -> Duration {
        now.saturating_sub(self.last_heard)
    }

    /// Whether a probe is due: something is in flight, and the peer has
    /// been silent for [`Timing::silence`] (the fixed bound: a live peer
    /// acks within about ack_delay, so the link is probably cut). Not the
    /// adaptive silence: on a link with steady traffic the first message
    /// after a heal tells both sides anyway, and an overdue message is
    /// re-sent, so earlier probes would cost a message a round during every
    /// cut for little.
    pub fn probe_due(&self, now: Duration, t: &Timing) -> bool {
        !self.in_flight.is_empty() && self.silent_for(now) >= t.silence
    }

    /// Gives up the oldest message in flight (a workload that bounds what
    /// it keeps in flight); returns its payload.
    pub fn give_up_oldest(&mut self) -> Option<P> {
        self.in_flight.pop_first().map(|(_, f)| f.payload)
    }

    /// How many messages are in flight.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether a retry to the peer may go at `now`: none has gone since the
    /// peer was last heard from, or its backoff has passed.
    pub fn retry_due(&self, now: Duration) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// A retry (a re-send to a peer that has been silent since) went at
    /// `now`: the next waits `base`, then twice as long each time, up to
    /// `base` × 2^`max_doublings`. Anything heard from the peer
    /// ([`Link::heard_from`]) ends the backoff.
    pub fn retried(&mut self, now: Duration, base: Duration, max_doublings: u32) {
        let wait = base.saturating_mul(1 << self.doublings.min(16));
        self.retry_at = Some(now.saturating_add(wait));
        self.doublings = (self.doublings + 1).min(max_doublings);
    }

    /// When the oldest unacknowledged message was sent.
    pub fn oldest_in_flight(&self) -> Option<Duration> {
        self.in_flight.first_key_value().map(|(_, f)| f.sent_at)
    }

    /// The payloads in flight, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &P> {
        self.in_flight.values().map(|f| &f.payload)
    }

    /// The peer's message `msg_id` was stored here: it is owed an ack.
    /// (If that message asked for a prompt ack, the caller sends to the
    /// peer now, and the ack rides on it.)
    pub fn owe_ack(&mut self, msg_id: u64, now: Duration) {
        self.owed_acks.push(msg_id);
        if self.owed_acks.len() > MAX_OWED_ACKS {
            self.owed_acks.remove(0);
        }
        self.owed_since.get_or_insert(now);
    }

    /// Takes every ack owed to the peer, to send now.
    pub fn take_owed_acks(&mut self) -> Vec<u64> {
        self.owed_since = None;
        std::mem::take(&mut self.owed_acks)
    }

    /// Whether the owed acks have waited `delay` for a message to ride on,
    /// or have piled up to [`MAX_OWED_ACKS`]: they get a message of their
    /// own.
    pub fn ack_due(&self, now: Duration, delay: Duration) -> bool {
        self.owed_since
            .is_some_and(|since| now.saturating_sub(since) >= delay)
            || self.owed_acks.len() >= MAX_OWED_ACKS
    }

    /// When the owed acks come due by their delay (`None`: none owed).
    pub fn acks_due_at(&self, delay: Duration) -> Option<Duration> {
        self.owed_since.map(|since| since.saturating_add(delay))
    }

    /// Whether an ack for `msg_id` is owed already (a duplicate message).
    pub fn owes(&self, msg_id: u64) -> bool {
        self.owed_acks.contains(&msg_id)
    }

    /// How many acks this node owes the peer.
    pub fn owed_len(&self) -> usize {
        self.owed_acks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
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
    fn timing_grows_with_the_interval_and_never_overflows() {
        let t = Timing::for_interval(ms(100));
        assert_eq!(t.ack_delay, Duration::from_secs(1));
        assert_eq!(t.resend_after, ms(2200));
        assert_eq!(t.silence, ms(1600));
        assert_eq!(t.slack, ms(50));
        let t = Timing::for_interval(Duration::from_secs(3));
        assert_eq!(t.ack_delay, Duration::from_secs(6));
        assert_eq!(t.resend_after, Duration::from_secs(18));
        let t = Timing::for_interval(Duration::MAX);
        assert_eq!(t.resend_after, Duration::MAX);
    }

    #[test]
    fn acks_settle_messages_and_an_overdue_one_is_given_up() {
        let t = timing();
        let mut l = Link::default();
        l.sent(7, "a", ms(0), false);
        l.sent(8, "b", ms(10), false);
        // 7 was sent only 10 ms before 8: not overtaken.
        let settled = l.acknowledged(&[8, 99], ms(500), &t);
        assert_eq!(settled.acked, [("b", ms(10))]);
        assert!(settled.lost.is_empty());
        assert_eq!(l.oldest_in_flight(), Some(ms(0)));
        // One slow ack (490 ms) gives a bound past the 1 s cap.
        assert_eq!(l.resend_after(&t), ms(1000));
        assert!(l.expired(ms(999), &t).is_empty());
        assert_eq!(l.expired(ms(1000), &t), ["a"]);
        // A late ack of the given-up message settles nothing.
        assert!(l.acknowledged(&[7], ms(1000), &t).acked.is_empty());
    }

    #[test]
    fn the_resend_time_follows_the_peers_ack_times() {
        let t = timing();
        let mut l = Link::default();
        assert_eq!(l.resend_after(&t), ms(1000));
        // Steady 200 ms acks: the resend time closes in on 200 ms + slack.
        for i in 0..40u64 {
            l.sent(i, i, ms(100 * i), false);
            l.acknowledged(&[i], ms(100 * i + 200), &t);
        }
        let rto = l.resend_after(&t);
        assert!(rto >= ms(250) && rto < ms(300), "{rto:?}");
        l.sent(40, 40, ms(5000), false);
        assert!(l.expired(ms(5000) + rto - ms(1), &t).is_empty());
        assert_eq!(l.expired(ms(5000) + rto, &t), [40]);
    }

    #[test]
    fn an_ack_for_a_later_message_gives_up_the_earlier_ones() {
        let t = timing();
        let mut l = Link::default();
        for (i, at) in [0, 100, 130, 200].into_iter().enumerate() {
            l.sent(i as u64, i, ms(at), false);
        }
        // 2 is acknowledged: 0 (130 ms older) was lost, 1 (30 ms older,
        // within the slack) may merely be late; 3 was sent after it.
        let settled = l.acknowledged(&[2], ms(400), &t);
        assert_eq!((settled.acked, settled.lost), (vec![(2, ms(130))], vec![0]));
        assert_eq!(l.in_flight().copied().collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn a_silence_is_measured_against_the_peers_usual_gaps() {
        let t = timing();
        let mut l = Link::default();
        // The peer speaks every 100 ms.
        for i in 1..=30 {
            assert!(!l.heard_from(ms(100 * i), &t).after_silence);
        }
        let silence = l.silence(&t);
        assert!(silence > ms(100) && silence < ms(200), "{silence:?}");
        assert_eq!(Link::<()>::default().silence(&t), ms(1000));
        l.sent(1, "x", ms(3000), false);
        // Four quiet intervals: the link was cut, the message went into it.
        let heard = l.heard_from(ms(3400), &t);
        assert!(heard.after_silence);
        assert_eq!(heard.lost, ["x"]);
        // The outage counted as a gap of only `silence`.
        let (_, gap) = l.estimates();
        assert!(gap.unwrap().mean < ms(120), "{gap:?}");
    }

    #[test]
    fn a_probe_is_due_when_something_is_in_flight_to_a_silent_peer() {
        let t = timing();
        let mut l = Link::default();
        assert!(!l.probe_due(ms(5000), &t), "nothing in flight");
        l.sent(1, (), ms(100), false);
        assert!(!l.probe_due(ms(999), &t));
        assert!(l.probe_due(ms(1000), &t));
        // Heard from after its silence: what was in flight is given up.
        assert_eq!(l.heard_from(ms(1200), &t).lost, [()]);
        l.sent(2, (), ms(1300), false);
        assert!(!l.probe_due(ms(2199), &t), "silent since 1200 ms only");
        assert!(l.probe_due(ms(2200), &t));
        assert_eq!(l.give_up_all(), [()]);
        assert!(!l.probe_due(ms(9000), &t));
    }

    #[test]
    fn owed_acks_come_due_after_the_delay_or_when_many() {
        let mut l: Link<()> = Link::default();
        l.owe_ack(5, ms(100));
        l.owe_ack(6, ms(150));
        assert_eq!(l.acks_due_at(ms(1000)), Some(ms(1100)));
        assert!(!l.ack_due(ms(1099), ms(1000)));
        assert!(l.ack_due(ms(1100), ms(1000)));
        assert_eq!(l.take_owed_acks(), [5, 6]);
        assert!(!l.ack_due(ms(5000), ms(1000)));
        for id in 0..(MAX_OWED_ACKS as u64 + 5) {
            l.owe_ack(id, ms(0));
        }
        assert_eq!(l.owed_len(), MAX_OWED_ACKS);
        assert!(l.ack_due(ms(0), ms(1000)));
        // The oldest were forgotten, the newest kept.
        assert_eq!(l.take_owed_acks()[0], 5);
    }

    #[test]
    fn a_prompt_message_is_timed_by_the_round_trip() {
        let t = timing();
        let mut l = Link::default();
        // Before any round trip: ack_delay (500 ms), below the 1 s bound.
        assert_eq!(l.prompt_resend_after(&t), ms(500));
        l.sent(2, 'a', ms(1000), true);
        // Prompt acks in 100 ms: the prompt timeout closes in on that,
        // and caps the lazy one at ack_delay + 2 slacks + itself.
        l.acknowledged(&[2], ms(1100), &t);
        let prompt = l.prompt_resend_after(&t);
        assert_eq!(prompt, ms(350), "100 + 4 × 50 + 50 ms");
        assert_eq!(l.resend_after(&t), ms(950));
        // An older lazy message waits for its own, longer, time while a
        // younger prompt one expires.
        l.sent(3, 'b', ms(2000), false);
        l.sent(4, 'c', ms(2100), true);
        assert_eq!(l.expired(ms(2100) + prompt, &t), ['c']);
        // A prompt ack slower than ack_delay is no round-trip sample.
        l.sent(5, 'd', ms(3000), true);
        l.acknowledged(&[5], ms(3600), &t);
        assert_eq!(l.prompt_resend_after(&t), prompt);
    }

    #[test]
    fn retries_to_a_silent_peer_back_off_until_it_is_heard() {
        let t = timing();
        let mut l: Link<()> = Link::default();
        assert!(l.retry_due(ms(0)));
        l.retried(ms(0), ms(100), 2);
        assert!(!l.retry_due(ms(99)) && l.retry_due(ms(100)));
        l.retried(ms(100), ms(100), 2);
        assert!(!l.retry_due(ms(299)) && l.retry_due(ms(300)));
        l.retried(ms(300), ms(100), 2);
        assert!(!l.retry_due(ms(699)) && l.retry_due(ms(700)), "4 × base");
        l.retried(ms(700), ms(100), 2);
        assert!(l.retry_due(ms(1100)), "capped at 4 × base");
        l.heard_from(ms(800), &t);
        assert!(l.retry_due(ms(800)), "heard: no backoff");
        l.retried(ms(800), ms(100), 2);
        assert!(l.retry_due(ms(900)), "and it starts over");
    }

    #[test]
    fn in_flight_can_be_bounded_oldest_first_and_duplicates_are_seen() {
        let mut l = Link::default();
        l.sent(3, 'a', ms(0), false);
        l.sent(4, 'b', ms(1), false);
        assert_eq!(l.in_flight_len(), 2);
        assert_eq!(l.give_up_oldest(), Some('a'));
        assert_eq!(l.in_flight_len(), 1);
        l.owe_ack(9, ms(0));
        assert!(l.owes(9) && !l.owes(8));
    }

    #[test]
    fn a_batch_is_bounded_by_items_and_bytes_but_takes_one_large_item() {
        let limit = BatchLimit {
            max_items: 3,
            max_bytes: 10,
        };
        let mut b = limit.start();
        assert!(b.admit(4) && b.admit(6), "10 bytes fit");
        assert!(!b.admit(1), "11 do not");
        let mut b = limit.start();
        assert!(b.admit(50), "one item larger than the limit goes alone");
        assert!(!b.admit(0));
        let mut b = limit.start();
        assert!(b.admit(0) && b.admit(0) && b.admit(0));
        assert!(!b.admit(0), "at most three items");
        let mut b = limit.start();
        assert!(b.admit(usize::MAX) && !b.admit(usize::MAX), "no overflow");
    }
}
