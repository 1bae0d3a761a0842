//! A node's queue of things due at a time: its timers and its RPC timeouts.
//!
//! Both runtimes only ask "when is the next thing due?" and "it is now t,
//! give me what is due"; the queue decides the order, so the same node
//! behaves the same under real and virtual time. Entries due at the same
//! instant come out in the order they were scheduled.
//!
//! A cancelled timer, or the timeout of an RPC that was answered, leaves
//! its slot in the heap (removing from the middle of a heap is costly).
//! Such dead slots are swept once they outnumber the live ones, so a node
//! that sets and cancels long timers, or sends many RPCs that are answered
//! long before their timeout, holds memory for what is live, not for
//! everything it ever scheduled.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use foldhash::{HashMap, HashMapExt};
use std::time::Duration;

use rand::Rng;

/// The shortest delay: nothing scheduled from a wake-up is due in it.
const MIN_DELAY: Duration = Duration::from_micros(1);

/// A handle to cancel a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// Dead heap slots tolerated before a sweep, on top of one per live entry:
/// sweeping a tiny heap often would cost more than it saves.
const SWEEP_SLACK: usize = 64;

/// What a live entry stands for.
enum Entry<T> {
    Timer {
        timer: T,
        /// `Some((interval, jitter))` for a periodic timer.
        every: Option<(Duration, Duration)>,
    },
    /// The timeout of the RPC with this msg_id.
    RpcTimeout(u64),
}

pub(crate) struct Timers<T> {
    /// Exactly one slot per live entry, plus dead slots of cancelled ones.
    heap: BinaryHeap<Reverse<(Duration, u64, TimerId)>>,
    entries: HashMap<TimerId, Entry<T>>,
    seq: u64,
}

impl<T: Clone> Timers<T> {
    pub fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            entries: HashMap::new(),
            seq: 0,
        }
    }

    fn push(&mut self, at: Duration, id: TimerId) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, id)));
    }

    /// Adds a live entry due at `at`; its id is the seq of its first slot.
    fn add(&mut self, at: Duration, entry: Entry<T>) -> TimerId {
        let id = TimerId(self.seq + 1);
        self.entries.insert(id, entry);
        self.push(at, id);
        id
    }

    pub fn once(&mut self, now: Duration, delay: Duration, timer: T) -> TimerId {
        // A zero delay means "as soon as the current event is handled"; it
        // never fires within the wake-up that set it (see `pop_due`).
        let entry = Entry::Timer { timer, every: None };
        self.add(now.saturating_add(delay), entry)
    }

    pub fn every(
        &mut self,
        now: Duration,
        interval: Duration,
        jitter: Duration,
        timer: T,
        rng: &mut impl Rng,
    ) -> TimerId {
        // A zero interval would fire forever without time passing.
        let interval = interval.max(MIN_DELAY);
        let first = now
            .saturating_add(interval)
            .saturating_add(sample_jitter(jitter, rng));
        let entry = Entry::Timer {
            timer,
            every: Some((interval, jitter)),
        };
        self.add(first, entry)
    }

    /// Cancels a timer or an RPC timeout; whether it was still live.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        let live = self.entries.remove(&id).is_some();
        // Dead slots at the front go at once, so that the next deadline is
        // a live one's (no wake-up, or none an hour later, for nothing).
        while let Some(Reverse((_, _, first))) = self.heap.peek() {
            if self.entries.contains_key(first) {
                break;
            }
            self.heap.pop();
        }
        // Its heap slot stays, skipped when it comes due, until dead slots
        // outnumber live ones: then one pass drops them all (amortised
        // O(1) per cancel, and the heap stays within twice the live count).
        if self.heap.len() > 2 * self.entries.len() + SWEEP_SLACK {
            let entries = &self.entries;
            self.heap
                .retain(|Reverse((_, _, id))| entries.contains_key(id));
        }
        live
    }

    /// Schedules the timeout of the RPC `msg_id`; cancel it with the id
    /// returned when the reply comes.
    pub fn rpc_timeout(&mut self, now: Duration, timeout: Duration, msg_id: u64) -> TimerId {
        let at = now.saturating_add(timeout.max(MIN_DELAY));
        self.add(at, Entry::RpcTimeout(msg_id))
    }

    /// When the earliest entry is due (possibly one that was cancelled
    /// behind a live one: a wake-up for nothing is harmless).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The mark to pass to [`Timers::pop_due`] for one wake-up.
    pub fn mark(&self) -> u64 {
        self.seq
    }

    /// Takes the next entry due at or before `now` that was scheduled
    /// before `mark` was taken: what a handler schedules during a wake-up
    /// waits for the next one, so a zero-delay timer that re-arms itself
    /// cannot keep a wake-up going forever. A periodic timer is scheduled
    /// again before it is handed out; a one-shot one is removed.
    pub fn pop_due(&mut self, now: Duration, mark: u64, rng: &mut impl Rng) -> Option<Fired<T>> {
        loop {
            let Reverse((at, seq, id)) = *self.heap.peek()?;
            // Entries scheduled during this wake-up are due at `now` or
            // later, after every older entry due at `now`: stop at the first.
            if at > now || seq > mark {
                return None;
            }
            self.heap.pop();
            match self.entries.get(&id) {
                None => continue, // cancelled
                Some(Entry::RpcTimeout(msg_id)) => {
                    let msg_id = *msg_id;
                    self.entries.remove(&id);
                    return Some(Fired::RpcTimeout(msg_id));
                }
                Some(Entry::Timer { timer, every }) => {
                    let timer = timer.clone();
                    match *every {
                        Some((interval, jitter)) => {
                            // Keep the cadence of the schedule, but never
                            // fire a burst of missed ticks after a stall.
                            let mut next = at
                                .saturating_add(interval)
                                .saturating_add(sample_jitter(jitter, rng));
                            if next < now {
                                next = now.saturating_add(interval);
                            }
                            self.push(next, id);
                        }
                        None => {
                            self.entries.remove(&id);
                        }
                    }
                    return Some(Fired::Timer(timer));
                }
            }
        }
    }

    #[cfg(test)]
    fn active_timers(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn heap_slots(&self) -> usize {
        self.heap.len()
    }
}

pub(crate) enum Fired<T> {
    Timer(T),
    RpcTimeout(u64),
}

fn sample_jitter(jitter: Duration, rng: &mut impl Rng) -> Duration {
    if jitter.is_zero() {
        Duration::ZERO
    } else {
        Duration::from_micros(rng.random_range(0..=jitter.as_micros() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(t: &mut Timers<&'static str>, now: Duration, rng: &mut StdRng) -> Vec<String> {
        let mut fired = Vec::new();
        let mark = t.mark();
        while let Some(f) = t.pop_due(now, mark, rng) {
            fired.push(match f {
                Fired::Timer(name) => name.to_string(),
                Fired::RpcTimeout(id) => format!("rpc{id}"),
            });
        }
        fired
    }

    #[test]
    fn fire_in_deadline_then_schedule_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Timers::new();
        t.once(ms(0), ms(30), "c");
        t.once(ms(0), ms(10), "a");
        t.rpc_timeout(ms(0), ms(10), 7);
        t.every(ms(0), ms(20), Duration::ZERO, "tick", &mut rng);
        assert_eq!(t.next_deadline(), Some(ms(10)));
        assert!(drain(&mut t, ms(9), &mut rng).is_empty());
        assert_eq!(drain(&mut t, ms(10), &mut rng), ["a", "rpc7"]);
        // The tick due at 20 is re-armed for 40 during this wake-up: it
        // waits for the next one, even though it is due.
        assert_eq!(drain(&mut t, ms(40), &mut rng), ["tick", "c"]);
        assert_eq!(drain(&mut t, ms(40), &mut rng), ["tick"]);
        assert_eq!(t.next_deadline(), Some(ms(60)));
    }

    #[test]
    fn cancelled_timers_do_not_fire() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Timers::new();
        let id = t.every(ms(0), ms(5), Duration::ZERO, "tick", &mut rng);
        t.once(ms(0), ms(7), "once");
        assert_eq!(drain(&mut t, ms(5), &mut rng), ["tick"]);
        assert!(t.cancel(id));
        assert!(!t.cancel(id));
        assert_eq!(drain(&mut t, ms(100), &mut rng), ["once"]);
        assert_eq!(t.active_timers(), 0);
    }

    #[test]
    fn cancelled_timers_and_answered_rpc_timeouts_are_swept() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Timers::new();
        let keep = t.every(ms(0), ms(5), Duration::ZERO, "tick", &mut rng);
        // Many RPCs answered long before their one-hour timeout, and
        // as many one-hour timers set and cancelled: nothing of them may
        // stay queued until the hour is up.
        for i in 0..100_000u64 {
            let rpc = t.rpc_timeout(ms(0), Duration::from_secs(3600), i);
            assert!(t.cancel(rpc));
            let timer = t.once(ms(0), Duration::from_secs(3600), "late");
            assert!(t.cancel(timer));
            assert!(t.heap_slots() <= 2 * t.active_timers() + SWEEP_SLACK + 1);
        }
        assert_eq!(t.active_timers(), 1);
        assert_eq!(drain(&mut t, ms(5), &mut rng), ["tick"]);
        assert!(t.cancel(keep));
        assert!(drain(&mut t, Duration::from_secs(7200), &mut rng).is_empty());
    }

    #[test]
    fn an_rpc_timeout_fires_once_unless_cancelled() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Timers::new();
        let answered = t.rpc_timeout(ms(0), ms(10), 1);
        t.rpc_timeout(ms(0), ms(10), 2);
        assert!(t.cancel(answered));
        assert_eq!(drain(&mut t, ms(10), &mut rng), ["rpc2"]);
        assert_eq!(t.active_timers(), 0);
        assert!(drain(&mut t, ms(100), &mut rng).is_empty());
    }

    #[test]
    fn a_stalled_periodic_timer_fires_once_not_a_burst() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Timers::new();
        t.every(ms(0), ms(10), Duration::ZERO, "tick", &mut rng);
        assert_eq!(drain(&mut t, ms(1000), &mut rng), ["tick"]);
        assert_eq!(t.next_deadline(), Some(ms(1010)));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut t = Timers::new();
        t.every(ms(0), ms(100), ms(20), "tick", &mut rng);
        let mut last = Duration::ZERO;
        for _ in 0..50 {
            let at = t.next_deadline().unwrap();
            let gap = at - last;
            assert!(gap >= ms(100) && gap <= ms(120), "{gap:?}");
            assert_eq!(drain(&mut t, at, &mut rng), ["tick"]);
            last = at;
        }
    }
}
