//! Why a history is not linearizable, small enough to read: the shortest
//! window of calls that no order explains, whatever the object held when
//! the window began.
//!
//! The search ([`super::linearizable::check`]) stops at the completion of
//! a call that no order of what came before allows; call that completion
//! `T`. A window from position `s` holds every call invoked by `T` that
//! had not completed before `s`. Those invoked at or after `s` and
//! completed by `T` must be linearized; the others (begun before `s`,
//! completing after `T`, or indeterminate) may be or not, anywhere after
//! their invocation; the first state is any state. If no such window is
//! linearizable, neither is the history: a linearization of the history
//! would give one, starting from its state at `s`, with the calls whose
//! points fall in `s..=T` (this is looser than the history, so a window
//! never fails where the history passes). Windows are tried from the
//! shortest back; past the budget, or if none fails from every state, the
//! whole prefix up to `T` from the real first state is the explanation.
//! A failing window then loses, one by one, the reads it fails without
//! ([`Model::changes_nothing`]): concurrent reads that saw nothing wrong
//! explain nothing.

use super::linearizable::{Budget, Call, Linearizability, Model, check};

/// The calls that explain a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Indices of the calls, in invocation order.
    pub calls: Vec<usize>,
    /// Whether they fail from every first state (else: only from the
    /// history's first state, as the whole prefix up to the stuck call).
    pub from_any_state: bool,
}

/// The smallest failing window ending at call `stuck`'s completion, for
/// a history that failed from its first state; `states` are the object's
/// possible first states, `budget` bounds all
/// the searches together.
pub fn smallest_window<M: Model>(
    model: &M,
    states: &[M::State],
    calls: &[Call<M::Op>],
    stuck: usize,
    budget: Budget,
) -> Window
where
    M::Op: Clone,
{
    let prefix = |s: u64| -> Vec<usize> {
        let Some(end) = calls.get(stuck).and_then(|c| c.complete) else {
            return (0..calls.len()).collect();
        };
        (0..calls.len())
            .filter(|&i| calls[i].invoke <= end && calls[i].complete.is_none_or(|c| c >= s))
            .collect()
    };
    let Some(end) = calls.get(stuck).and_then(|c| c.complete) else {
        return Window {
            calls: prefix(0),
            from_any_state: false,
        };
    };
    let mut starts: Vec<u64> = calls
        .iter()
        .filter(|c| c.complete.is_some_and(|done| done <= end) && c.invoke <= calls[stuck].invoke)
        .map(|c| c.invoke)
        .collect();
    starts.sort_unstable_by(|a, b| b.cmp(a));
    starts.dedup();
    let mut left = budget;
    for s in starts {
        let members = prefix(s);
        let window: Vec<Call<M::Op>> = members
            .iter()
            .map(|&i| {
                let c = &calls[i];
                let must = c.invoke >= s && c.complete.is_some_and(|done| done <= end);
                Call {
                    op: c.op.clone(),
                    invoke: c.invoke,
                    complete: if must { c.complete } else { None },
                }
            })
            .collect();
        match fails_everywhere(model, states, &window, &mut left) {
            Some(true) => {
                return prune_reads(model, states, members, window, stuck, &mut left);
            }
            Some(false) => {}
            None => {
                return Window {
                    calls: prefix(0),
                    from_any_state: false,
                };
            }
        }
        if left.steps == 0 {
            break;
        }
    }
    Window {
        calls: prefix(0),
        from_any_state: false,
    }
}

/// Whether no order explains `window` from any of `states`; `None` when
/// the budget ran out before that was known.
fn fails_everywhere<M: Model>(
    model: &M,
    states: &[M::State],
    window: &[Call<M::Op>],
    left: &mut Budget,
) -> Option<bool>
where
    M::Op: Clone,
{
    for state in states {
        let (verdict, effort) = check(model, state.clone(), window, *left);
        left.steps = left.steps.saturating_sub(effort.steps);
        match verdict {
            Linearizability::NotLinearizable { .. } => {}
            Linearizability::Linearizable => return Some(false),
            Linearizability::Unknown { .. } => return None,
        }
    }
    Some(true)
}

/// `members` (whose calls are `window`, failing from every state) without
/// each read it still fails without; the stuck call stays, as the
/// explanation ends at it.
fn prune_reads<M: Model>(
    model: &M,
    states: &[M::State],
    mut members: Vec<usize>,
    mut window: Vec<Call<M::Op>>,
    stuck: usize,
    left: &mut Budget,
) -> Window
where
    M::Op: Clone,
{
    for i in (0..members.len()).rev() {
        if members[i] == stuck || !model.changes_nothing(&window[i].op) {
            continue;
        }
        let mut without = window.clone();
        without.remove(i);
        match fails_everywhere(model, states, &without, left) {
            Some(true) => {
                window = without;
                members.remove(i);
            }
            Some(false) => {}
            None => break,
        }
    }
    Window {
        calls: members,
        from_any_state: true,
    }
}
