//! Linearizability of one object's history: the Wing–Gong–Lowe search
//! (as Porcupine and Knossos's `linear` do), over any sequential
//! [`Model`].
//!
//! The calls' invocations and completions form one list in real-time
//! order. The search walks it: at an invocation it tries to linearize
//! that call now (the model accepts it in the current state), lifting it
//! out of the list; at a completion of a call not yet linearized it has
//! gone too far and undoes the last choice. A call without a completion
//! (an indeterminate one: it may have taken effect at any point after its
//! invocation, or never) is never forced: the history is linearizable
//! once every call that completed is linearized.
//!
//! Memoisation: a (set of linearized calls, model state) pair seen once
//! is never explored again — what follows depends on nothing else.
//! Both the steps and the memo are bounded by a [`Budget`]; past it the
//! answer is [`Linearizability::Unknown`], never a guess.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification: which operations a state allows, and
/// what state each leads to.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Op;

    /// The state after `op` in `state`, or `None` if `op` (with the
    /// result it returned) cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether `op` never changes the state (a read). Leaving such a call
    /// out of calls that no order explains leaves calls that none explains
    /// either (any order of the whole, without it, is still an order of
    /// the rest), so an explanation can drop it when the rest still fails.
    fn changes_nothing(&self, _op: &Self::Op) -> bool {
        false
    }
}

/// One call of the history. Positions are the history's event order
/// (Jepsen's index): `a` precedes `b` in real time iff
/// `a.complete < b.invoke`.
#[derive(Debug, Clone)]
pub struct Call<O> {
    pub op: O,
    pub invoke: u64,
    /// `None`: indeterminate — it may take effect at any point after its
    /// invocation, or never.
    pub complete: Option<u64>,
}

/// How far a search may go before it says "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Steps of the search (a linearization tried or undone).
    pub steps: u64,
    /// (linearized set, state) pairs remembered.
    pub states: usize,
}

impl Default for Budget {
    /// Enough for Maelstrom's lin-kv histories of minutes (the 10,000-op
    /// benchmark takes a small fraction of it), small enough to end in
    /// seconds and some hundreds of MB at worst.
    fn default() -> Budget {
        Budget {
            steps: 10_000_000,
            states: 1_000_000,
        }
    }
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linearizability {
    Linearizable,
    /// No order explains the calls completed up to the completion of
    /// call `stuck` (its index): the furthest completion any attempt
    /// reached without linearizing its call. (No attempt got past it:
    /// had one linearized every call completed by then, no later
    /// completion could have stopped it, as none did.)
    NotLinearizable {
        stuck: usize,
    },
    /// The budget ran out first.
    Unknown {
        steps: u64,
        states: usize,
    },
}

/// The figures of one search, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effort {
    pub steps: u64,
    pub states: usize,
}

/// One entry of the event list: the invocation or the completion of a
/// call, linked to its neighbours.
#[derive(Clone, Copy)]
struct Event {
    call: usize,
    is_invoke: bool,
    /// The completion's entry, for an invocation of a call that has one.
    completion: Option<usize>,
    prev: usize,
    next: usize,
}

/// The event list with a sentinel head at index 0 (`NONE` ends it).
struct Events {
    list: Vec<Event>,
}

const NONE: usize = usize::MAX;

impl Events {
    fn new<O>(calls: &[Call<O>]) -> Events {
        let mut points: Vec<(u64, bool, usize)> = Vec::with_capacity(calls.len() * 2);
        for (i, c) in calls.iter().enumerate() {
            points.push((c.invoke, true, i));
            if let Some(done) = c.complete {
                points.push((done, false, i));
            }
        }
        // By position; a completion at the same position as an invocation
        // (hand-built histories) comes first: they did not overlap.
        points.sort_by_key(|&(at, invoke, call)| (at, invoke, call));
        let mut list = vec![Event {
            call: NONE,
            is_invoke: false,
            completion: None,
            prev: NONE,
            next: NONE,
        }];
        let mut completion_of = vec![None; calls.len()];
        for &(_, is_invoke, call) in &points {
            let index = list.len();
            if !is_invoke {
                completion_of[call] = Some(index);
            }
            list.push(Event {
                call,
                is_invoke,
                completion: None,
                prev: index - 1,
                next: if index == points.len() {
                    NONE
                } else {
                    index + 1
                },
            });
        }
        if list.len() > 1 {
            list[0].next = 1;
        }
        for e in list.iter_mut().skip(1) {
            if e.is_invoke {
                e.completion = completion_of[e.call];
            }
        }
        Events { list }
    }

    fn unlink(&mut self, i: usize) {
        let Event { prev, next, .. } = self.list[i];
        self.list[prev].next = next;
        if next != NONE {
            self.list[next].prev = prev;
        }
    }

    /// Puts `i` back where it was (its neighbours are as they were when
    /// it was unlinked: lifts are undone last first).
    fn relink(&mut self, i: usize) {
        let Event { prev, next, .. } = self.list[i];
        self.list[prev].next = i;
        if next != NONE {
            self.list[next].prev = i;
        }
    }

    /// Takes call `invoke`'s invocation (and its completion) out.
    fn lift(&mut self, invoke: usize) {
        self.unlink(invoke);
        if let Some(done) = self.list[invoke].completion {
            self.unlink(done);
        }
    }

    fn unlift(&mut self, invoke: usize) {
        if let Some(done) = self.list[invoke].completion {
            self.relink(done);
        }
        self.relink(invoke);
    }
}

/// A set of calls, as bits.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    fn flip(&mut self, i: usize) {
        self.0[i / 64] ^= 1 << (i % 64);
    }

    /// A compact exact key: the words from the first one not full to the
    /// last one not empty, after the index of the first (the calls before
    /// it are all linearized). Calls are in invocation order, so a search
    /// front keeps it short.
    fn key(&self) -> Box<[u64]> {
        let lo = self
            .0
            .iter()
            .position(|w| *w != u64::MAX)
            .unwrap_or(self.0.len());
        let hi = self
            .0
            .iter()
            .rposition(|w| *w != 0)
            .map_or(lo, |h| h + 1)
            .max(lo);
        let mut key = Vec::with_capacity(hi - lo + 1);
        key.push(lo as u64);
        key.extend_from_slice(&self.0[lo..hi]);
        key.into_boxed_slice()
    }
}

/// Whether `calls`, from `init`, have a linearization; calls are best in
/// invocation order (the memo's keys stay short).
pub fn check<M: Model>(
    model: &M,
    init: M::State,
    calls: &[Call<M::Op>],
    budget: Budget,
) -> (Linearizability, Effort) {
    let mut events = Events::new(calls);
    let mut pending_completions = calls.iter().filter(|c| c.complete.is_some()).count();
    let mut linearized = Bits::new(calls.len());
    let mut memo: HashSet<(Box<[u64]>, M::State)> = HashSet::new();
    // The invocation entries lifted, with the state before each.
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = init;
    let mut effort = Effort::default();
    let mut entry = events.list[0].next;
    // The furthest completion that sent the search back (its entry).
    let mut furthest = 0;
    loop {
        if pending_completions == 0 {
            return (Linearizability::Linearizable, effort);
        }
        effort.steps += 1;
        effort.states = memo.len();
        if effort.steps > budget.steps || memo.len() > budget.states {
            let Effort { steps, states } = effort;
            return (Linearizability::Unknown { steps, states }, effort);
        }
        // While completions are pending the walk meets one before the
        // end of the list (each follows its invocation); the end is
        // treated as one all the same.
        let here = if entry == NONE {
            None
        } else {
            Some(events.list[entry])
        };
        match here {
            Some(e) if e.is_invoke => {
                let next = model.step(&state, &calls[e.call].op);
                let mut took = false;
                if let Some(next) = next {
                    linearized.flip(e.call);
                    if memo.insert((linearized.key(), next.clone())) {
                        stack.push((entry, std::mem::replace(&mut state, next)));
                        events.lift(entry);
                        if e.completion.is_some() {
                            pending_completions -= 1;
                        }
                        entry = events.list[0].next;
                        took = true;
                    } else {
                        linearized.flip(e.call);
                    }
                }
                if !took {
                    entry = e.next;
                }
            }
            _ => {
                // A completion of a call not linearized (or the end of
                // the list): undo the last choice and try the next event
                // after it.
                if entry != NONE {
                    furthest = furthest.max(entry);
                }
                let Some((lifted, before)) = stack.pop() else {
                    let stuck = events.list[furthest].call;
                    return (Linearizability::NotLinearizable { stuck }, effort);
                };
                state = before;
                let call = events.list[lifted].call;
                linearized.flip(call);
                events.unlift(lifted);
                if events.list[lifted].completion.is_some() {
                    pending_completions += 1;
                }
                entry = events.list[lifted].next;
            }
        }
    }
}
