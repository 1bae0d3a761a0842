//! The PN-counter CRDT: per node an increment count (P) and a decrement
//! count (N), merged entry-wise by maximum; its value is ΣP − ΣN.

use std::collections::BTreeMap;

use maelstrom_framework::replication::Crdt;
use maelstrom_framework::{Error, ErrorCode, NodeId};
use serde::{Deserialize, Serialize};

/// One vector of the counter: node id → count. Absent ids count 0.
pub type Counts = BTreeMap<NodeId, u64>;

/// One node's pair of entries: its P count and its N count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounts {
    pub p: u64,
    pub n: u64,
}

/// The PN-counter CRDT. Zero counts are never stored, so two counters are
/// equal (`==`) exactly when they count the same. Stored (the node's
/// durable log) as `{p, n}`, read back through [`PnCounter::from_counts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vectors")]
pub struct PnCounter {
    pub(crate) p: Counts,
    pub(crate) n: Counts,
}

/// A counter's vectors as stored, before zero counts are dropped.
#[derive(Deserialize)]
struct Vectors {
    p: Counts,
    n: Counts,
}

impl From<Vectors> for PnCounter {
    fn from(v: Vectors) -> PnCounter {
        PnCounter::from_counts(&v.p, &v.n)
    }
}

impl PnCounter {
    /// A counter holding these vectors (zero counts dropped).
    pub fn from_counts(p: &Counts, n: &Counts) -> PnCounter {
        let mut counter = PnCounter::default();
        counter.merge_counts(p, n);
        counter
    }

    pub fn p(&self) -> &Counts {
        &self.p
    }

    pub fn n(&self) -> &Counts {
        &self.n
    }

    pub fn is_empty(&self) -> bool {
        self.p.is_empty() && self.n.is_empty()
    }

    /// `ΣP − ΣN`, exact: see the crate docs on overflow.
    pub fn value(&self) -> i128 {
        let sum = |counts: &Counts| {
            counts
                .values()
                .fold(0i128, |acc, &c| acc.saturating_add(i128::from(c)))
        };
        sum(&self.p).saturating_sub(sum(&self.n))
    }

    /// `node`'s P and N counts.
    pub fn entries_of(&self, node: &str) -> NodeCounts {
        NodeCounts {
            p: self.p.get(node).copied().unwrap_or(0),
            n: self.n.get(node).copied().unwrap_or(0),
        }
    }

    /// Adds `delta` to `node`'s P (positive) or N (negative) entry. Refused
    /// with error 22, the counter unchanged, if the entry would pass
    /// u64::MAX.
    pub fn add(&mut self, node: &str, delta: i64) -> Result<(), Error> {
        let (counts, vector) = if delta >= 0 {
            (&mut self.p, "P")
        } else {
            (&mut self.n, "N")
        };
        let amount = delta.unsigned_abs();
        if amount == 0 {
            return Ok(());
        }
        let current = counts.get(node).copied().unwrap_or(0);
        let Some(sum) = current.checked_add(amount) else {
            return Err(Error::new(
                ErrorCode::PreconditionFailed,
                format!(
                    "add {delta} refused: {node}'s {vector} entry {current} would pass u64::MAX"
                ),
            ));
        };
        counts.insert(node.to_string(), sum);
        Ok(())
    }

    /// Merges another counter's vectors; whether anything changed.
    pub fn merge(&mut self, other: &PnCounter) -> bool {
        self.merge_counts(&other.p, &other.n)
    }

    /// Merges vectors as they come on the wire; whether anything changed.
    pub fn merge_counts(&mut self, p: &Counts, n: &Counts) -> bool {
        let p_changed = merge_max(&mut self.p, p);
        let n_changed = merge_max(&mut self.n, n);
        p_changed || n_changed
    }

    /// Raises `node`'s two entries to at least `counts`.
    pub fn raise(&mut self, node: &str, counts: NodeCounts) -> bool {
        let one = |c: u64| Counts::from([(node.to_string(), c)]);
        self.merge_counts(&one(counts.p), &one(counts.n))
    }

    /// Whether every entry of `other` is at most ours.
    pub fn covers(&self, other: &PnCounter) -> bool {
        let covers = |mine: &Counts, theirs: &Counts| {
            theirs
                .iter()
                .all(|(id, &c)| mine.get(id).is_some_and(|&m| m >= c))
        };
        covers(&self.p, &other.p) && covers(&self.n, &other.n)
    }

    /// Our entries that are above `known`'s: what a holder of `known` may
    /// lack. `known` merged with the result covers `self`.
    pub fn missing_from(&self, known: &PnCounter) -> PnCounter {
        let above = |mine: &Counts, theirs: &Counts| -> Counts {
            mine.iter()
                .filter(|(id, c)| theirs.get(*id).is_none_or(|t| t < *c))
                .map(|(id, &c)| (id.clone(), c))
                .collect()
        };
        PnCounter {
            p: above(&self.p, &known.p),
            n: above(&self.n, &known.n),
        }
    }

    /// Only `node`'s entries of this counter.
    pub fn only(&self, node: &str) -> PnCounter {
        let mut only = PnCounter::default();
        only.raise(node, self.entries_of(node));
        only
    }

    /// The change an `add {delta}` at `node` makes: `node`'s entries with
    /// the delta applied (`None` for a zero delta). Error 22 if the entry
    /// would pass u64::MAX; the counter is not changed either way.
    pub fn after_add(&self, node: &str, delta: i64) -> Result<Option<PnCounter>, Error> {
        if delta == 0 {
            return Ok(None);
        }
        let mut change = self.only(node);
        change.add(node, delta)?;
        Ok(Some(change))
    }

    /// Entry-wise minimum: what both counters hold.
    pub fn meet(&self, other: &PnCounter) -> PnCounter {
        let min = |mine: &Counts, theirs: &Counts| -> Counts {
            mine.iter()
                .filter_map(|(id, &c)| Some((id.clone(), c.min(*theirs.get(id)?))))
                .filter(|(_, c)| *c > 0)
                .collect()
        };
        PnCounter {
            p: min(&self.p, &other.p),
            n: min(&self.n, &other.n),
        }
    }
}

/// The PN-counter as the framework replicates it: merge is the entry-wise
/// maximum, meet the minimum, a delta the entries above what is known.
impl Crdt for PnCounter {
    type Value = i128;

    fn merge(&mut self, other: &Self) -> bool {
        PnCounter::merge(self, other)
    }

    fn delta_from(&self, known: &Self) -> Self {
        self.missing_from(known)
    }

    fn meet(&self, other: &Self) -> Self {
        PnCounter::meet(self, other)
    }

    fn is_empty(&self) -> bool {
        PnCounter::is_empty(self)
    }

    fn covers(&self, other: &Self) -> bool {
        PnCounter::covers(self, other)
    }

    fn exceeds_both(&self, a: &Self, b: &Self) -> bool {
        let above = |mine: &Counts, x: &Counts, y: &Counts| {
            mine.iter().any(|(id, &c)| {
                let held = |m: &Counts| m.get(id).copied().unwrap_or(0);
                c > held(x) && c > held(y)
            })
        };
        above(&self.p, &a.p, &b.p) || above(&self.n, &a.n, &b.n)
    }

    fn value(&self) -> i128 {
        PnCounter::value(self)
    }
}

/// Entry-wise maximum of `from` into `into`, zeros skipped; whether `into`
/// changed.
pub(crate) fn merge_max(into: &mut Counts, from: &Counts) -> bool {
    let mut changed = false;
    for (id, &count) in from {
        if count > into.get(id).copied().unwrap_or(0) {
            into.insert(id.clone(), count);
            changed = true;
        }
    }
    changed
}
