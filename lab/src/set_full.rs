//! Jepsen's `set-full` analysis, which Maelstrom's broadcast and g-set
//! checkers use: for each element added, whether it became *stable*
//! (every read that began after some point saw it), was *lost* (known to
//! exist, then missing from every later read), or was *never read*.
//!
//! Per element, over the history's one order of events
//! ([`Op::invoke_index`], [`Op::complete_index`]):
//! - *known*: the completion of its add, if ok, or of the first ok read
//!   that returned it, whichever comes first;
//! - *last present* / *last absent*: the latest invocation of an ok read
//!   that did / did not return it (reads that completed before the add
//!   was invoked say nothing of it);
//! - stable iff it was last present after it was last absent (or never
//!   absent); lost iff it was known, last absent after last present, and
//!   known before that last absence; never read otherwise.
//! - stable latency: from known to the last absent read's invocation (0 if
//!   that came first, or none); lost latency: from known to the last
//!   present read's invocation (0 if never present).
//!
//! Validity, as Jepsen's: invalid if anything was lost; unknown if nothing
//! became stable. Stale elements (stable latency > 0) are reported, not
//! failed. Cost: one pass over what the reads returned, plus per element
//! the reads after its last hit, not reads × elements.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::time::Duration;

use crate::lab::{History, Op, millis};

/// One element's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Stable,
    Lost,
    NeverRead,
}

/// What the analysis found for one element.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub value: u64,
    pub fate: Fate,
    /// Whether its add was acknowledged.
    pub acknowledged: bool,
    /// Stable elements: ms from known to stable; lost ones: ms from known
    /// to lost.
    pub latency_ms: Option<f64>,
}

/// The analysis of a whole history.
#[derive(Debug, Clone, Default)]
pub struct SetFull {
    /// Every element whose add was invoked, by value.
    pub elements: BTreeMap<u64, Element>,
}

impl SetFull {
    pub fn count(&self, fate: Fate) -> usize {
        self.elements.values().filter(|e| e.fate == fate).count()
    }

    pub fn values(&self, fate: Fate) -> Vec<u64> {
        self.elements
            .values()
            .filter(|e| e.fate == fate)
            .map(|e| e.value)
            .collect()
    }

    /// Stable elements that were missed by a read begun after they were
    /// known.
    pub fn stale(&self) -> Vec<&Element> {
        self.elements
            .values()
            .filter(|e| e.fate == Fate::Stable && e.latency_ms.is_some_and(|l| l > 0.0))
            .collect()
    }

    /// Latencies of the elements with `fate` (stable or lost), in ms.
    pub fn latencies(&self, fate: Fate) -> Vec<f64> {
        self.elements
            .values()
            .filter(|e| e.fate == fate)
            .filter_map(|e| e.latency_ms)
            .collect()
    }
}

/// A read as the analysis needs it.
struct Read {
    invoke_index: u64,
    invoke: Duration,
    complete_index: u64,
    complete: Duration,
}

/// Runs the analysis over `history`: `element` gives the value an add
/// operation adds (`None`: not an add), `read` the values an ok read
/// returned (`None`: not an ok read).
pub fn analyse(
    history: &History,
    element: impl Fn(&Op) -> Option<u64>,
    read: impl Fn(&Op) -> Option<Vec<u64>>,
) -> SetFull {
    // Reads in order of invocation (the history's order), and for each
    // value the positions of the reads that returned it, ascending.
    let mut reads = Vec::new();
    let mut hits: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut adds = Vec::new();
    for op in &history.ops {
        if let Some(v) = element(op) {
            adds.push((v, op));
            continue;
        }
        let Some(mut values) = read(op) else { continue };
        values.sort_unstable();
        values.dedup();
        let i = reads.len();
        for v in values {
            hits.entry(v).or_default().push(i);
        }
        reads.push(Read {
            invoke_index: op.invoke_index,
            invoke: op.invoke,
            complete_index: op.complete_index,
            complete: op.complete,
        });
    }
    let none = Vec::new();
    let mut elements = BTreeMap::new();
    for (value, add) in adds {
        if elements.contains_key(&value) {
            continue; // a value is added once; a repeat says nothing new
        }
        // Reads that completed before the add began know nothing of it.
        let relevant = |r: &Read| r.complete_index > add.invoke_index;
        let h: Vec<usize> = hits
            .get(&value)
            .unwrap_or(&none)
            .iter()
            .copied()
            .filter(|&i| relevant(&reads[i]))
            .collect();
        let mut known: Option<(u64, Duration)> =
            add.is_ok().then_some((add.complete_index, add.complete));
        if let Some(first) = h
            .iter()
            .map(|&i| &reads[i])
            .min_by_key(|r| r.complete_index)
        {
            if known.is_none_or(|(k, _)| first.complete_index < k) {
                known = Some((first.complete_index, first.complete));
            }
        }
        let last_present = h.last().map(|&i| &reads[i]);
        // The last absent read: walk back from the last read over hits and
        // reads that say nothing of this element.
        let mut last_absent = None;
        let mut j = h.len();
        for i in (0..reads.len()).rev() {
            if j > 0 && h[j - 1] == i {
                j -= 1;
                continue;
            }
            if relevant(&reads[i]) {
                last_absent = Some(&reads[i]);
                break;
            }
        }
        let stable = last_present
            .is_some_and(|p| last_absent.is_none_or(|a| a.invoke_index < p.invoke_index));
        let lost = match (known, last_absent) {
            (Some((k, _)), Some(a)) => {
                last_present.is_none_or(|p| p.invoke_index < a.invoke_index) && k < a.invoke_index
            }
            _ => false,
        };
        let since_known = |t: Option<Duration>| {
            let known = known.map_or(Duration::ZERO, |(_, t)| t);
            millis(t.unwrap_or(Duration::ZERO).saturating_sub(known))
        };
        let (fate, latency_ms) = if stable {
            (
                Fate::Stable,
                Some(since_known(last_absent.map(|a| a.invoke))),
            )
        } else if lost {
            (
                Fate::Lost,
                Some(since_known(last_present.map(|p| p.invoke))),
            )
        } else {
            (Fate::NeverRead, None)
        };
        elements.insert(
            value,
            Element {
                value,
                fate,
                acknowledged: add.is_ok(),
                latency_ms,
            },
        );
    }
    SetFull { elements }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Outcome;
    use serde_json::{Value, json};

    /// A history from (kind, value or values, invoke index, complete
    /// index, ok); times are the indices in ms.
    fn history(events: &[(&str, Value, u64, u64, bool)]) -> History {
        let ops = events
            .iter()
            .map(|(kind, v, inv, comp, ok)| Op {
                client: "c1".into(),
                node: 0,
                kind: kind.to_string(),
                request: if *kind == "add" {
                    json!({"type": "add", "element": v})
                } else {
                    json!({"type": "read"})
                },
                invoke: Duration::from_millis(*inv),
                complete: Duration::from_millis(*comp),
                outcome: if *ok {
                    Outcome::Ok {
                        body: json!({"value": v}),
                    }
                } else {
                    Outcome::Info {
                        reason: crate::lab::Indeterminate::TimedOut {
                            after: Duration::from_secs(5),
                        },
                    }
                },
                final_read: false,
                invoke_index: *inv,
                complete_index: *comp,
            })
            .collect();
        History {
            ops,
            ..History::default()
        }
    }

    fn run(events: &[(&str, Value, u64, u64, bool)]) -> SetFull {
        analyse(
            &history(events),
            |op| {
                (op.kind == "add")
                    .then(|| op.request["element"].as_u64())
                    .flatten()
            },
            |op| {
                (op.kind == "read" && op.is_ok()).then(|| {
                    op.ok_body().unwrap()["value"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect()
                })
            },
        )
    }

    #[test]
    fn an_element_seen_by_every_later_read_is_stable_at_once() {
        let r = run(&[
            ("add", json!(1), 0, 1, true),
            ("read", json!([1]), 2, 3, true),
            ("read", json!([1]), 4, 5, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Stable);
        assert_eq!(r.elements[&1].latency_ms, Some(0.0));
        assert!(r.stale().is_empty());
    }

    #[test]
    fn a_late_element_is_stale_with_the_time_to_the_last_miss() {
        let r = run(&[
            ("add", json!(1), 0, 10, true),
            ("read", json!([]), 20, 21, true),
            ("read", json!([]), 50, 51, true),
            ("read", json!([1]), 60, 61, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Stable);
        assert_eq!(r.elements[&1].latency_ms, Some(40.0));
        assert_eq!(r.stale().len(), 1);
    }

    #[test]
    fn an_element_that_disappears_is_lost_once_whatever_the_reads() {
        let r = run(&[
            ("add", json!(1), 0, 1, true),
            ("read", json!([1]), 2, 3, true),
            ("read", json!([]), 4, 5, true),
            ("read", json!([]), 6, 7, true),
            ("read", json!([]), 8, 9, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Lost);
        assert_eq!(r.count(Fate::Lost), 1, "a value, not (read, value) pairs");
        // Known at 1, last present at 2.
        assert_eq!(r.elements[&1].latency_ms, Some(1.0));
    }

    #[test]
    fn an_acknowledged_element_no_read_ever_saw_is_lost_if_read_after() {
        let r = run(&[
            ("add", json!(1), 0, 1, true),
            ("read", json!([]), 2, 3, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Lost);
        assert_eq!(r.elements[&1].latency_ms, Some(0.0));
    }

    #[test]
    fn a_read_concurrent_with_the_add_that_misses_it_is_not_a_loss() {
        // The read began before the add completed: it may have come first.
        let r = run(&[
            ("add", json!(1), 0, 5, true),
            ("read", json!([]), 2, 6, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::NeverRead);
    }

    #[test]
    fn an_unacknowledged_element_is_known_by_a_read_and_lost_after() {
        let r = run(&[
            ("add", json!(1), 0, 100, false),
            ("read", json!([1]), 10, 11, true),
            ("read", json!([]), 20, 21, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Lost);
        assert!(!r.elements[&1].acknowledged);
        // Unknown and never read: never read, not lost.
        let r = run(&[
            ("add", json!(2), 0, 100, false),
            ("read", json!([]), 10, 11, true),
        ]);
        assert_eq!(r.elements[&2].fate, Fate::NeverRead);
    }

    #[test]
    fn reads_that_ended_before_the_add_say_nothing() {
        let r = run(&[
            ("read", json!([]), 0, 1, true),
            ("add", json!(1), 2, 3, true),
            ("read", json!([1]), 4, 5, true),
        ]);
        assert_eq!(r.elements[&1].fate, Fate::Stable);
        assert_eq!(r.elements[&1].latency_ms, Some(0.0));
    }
}
