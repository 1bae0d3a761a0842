//! State-based CRDTs: a state that replicas merge, in any order and any
//! number of times, into the same result.
//!
//! A [`Crdt`] is a lattice: [`Crdt::merge`] is the join, so it must be
//! commutative, associative and idempotent, and the default value is the
//! bottom (the empty state); [`Crdt::meet`] is what two states both hold. [`Crdt::delta_from`] is what makes
//! delta replication possible: given a lower bound of what a peer holds,
//! the part of this state it may lack. [`laws::check`] tests all of that
//! for any `Crdt`; a workload's proptest calls it with its own states.
//!
//! Two CRDTs come with the framework: [`GSet`], a grow-only set, and
//! [`MaxRegister`], the largest value seen. A workload defines its own
//! (the PN-counter, say) by implementing the trait.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A state-based CRDT (see the module docs for the laws).
pub trait Crdt: Clone + Default + PartialEq + std::fmt::Debug {
    /// What a read of the state returns.
    type Value;

    /// Joins `other` into `self`; returns whether `self` changed.
    fn merge(&mut self, other: &Self) -> bool;

    /// The part of `self` that a replica holding at least `known` may lack:
    /// a state `d` with `known ⊔ d = known ⊔ self`, as small as the type
    /// can tell. The bottom when `known` covers `self`.
    fn delta_from(&self, known: &Self) -> Self;

    /// A state both `self` and `other` hold (`⊑` both), as large as the
    /// type can tell: the meet. What a node knows every peer holds is the
    /// meet of what it knows of each.
    fn meet(&self, other: &Self) -> Self;

    /// Whether this is the bottom, the empty state.
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `self` holds everything `other` holds (`other ⊑ self`).
    fn covers(&self, other: &Self) -> bool {
        other.delta_from(self).is_empty()
    }

    /// Whether `self` holds something that neither `a` nor `b` holds (is
    /// not covered by `a ⊔ b`, for join-decomposable states such as maps
    /// of maxima and sets). A type can answer without building the deltas:
    /// the replicator asks it for every peer after every message.
    fn exceeds_both(&self, a: &Self, b: &Self) -> bool {
        !self.delta_from(a).delta_from(b).is_empty()
    }

    /// The state's value, as a read returns it.
    fn value(&self) -> Self::Value;
}

/// A grow-only set: merge is union.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de> + Ord"))]
pub struct GSet<T> {
    elements: BTreeSet<T>,
}

impl<T> Default for GSet<T> {
    fn default() -> Self {
        GSet {
            elements: BTreeSet::new(),
        }
    }
}

impl<T: Ord + Clone> GSet<T> {
    /// Adds `element`; returns whether it was new.
    pub fn insert(&mut self, element: T) -> bool {
        self.elements.insert(element)
    }

    pub fn contains(&self, element: &T) -> bool {
        self.elements.contains(element)
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The elements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.elements.iter()
    }
}

impl<T: Ord + Clone + std::fmt::Debug> Crdt for GSet<T> {
    type Value = Vec<T>;

    fn merge(&mut self, other: &Self) -> bool {
        let before = self.elements.len();
        self.elements.extend(other.elements.iter().cloned());
        self.elements.len() != before
    }

    fn delta_from(&self, known: &Self) -> Self {
        GSet {
            elements: self.elements.difference(&known.elements).cloned().collect(),
        }
    }

    fn meet(&self, other: &Self) -> Self {
        GSet {
            elements: self
                .elements
                .intersection(&other.elements)
                .cloned()
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    fn value(&self) -> Vec<T> {
        self.elements.iter().cloned().collect()
    }
}

/// The largest value written: merge is maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxRegister {
    pub value: u64,
}

impl Crdt for MaxRegister {
    type Value = u64;

    fn merge(&mut self, other: &Self) -> bool {
        let changed = other.value > self.value;
        self.value = self.value.max(other.value);
        changed
    }

    fn delta_from(&self, known: &Self) -> Self {
        if self.value > known.value {
            *self
        } else {
            MaxRegister::default()
        }
    }

    fn meet(&self, other: &Self) -> Self {
        MaxRegister {
            value: self.value.min(other.value),
        }
    }

    fn value(&self) -> u64 {
        self.value
    }
}

/// A JSON value with a total order, so that sets of arbitrary JSON (what
/// Maelstrom's clients send) can be CRDT state: integers first, by value
/// (a `u64` and an `i64` that are equal are one value, as `Value`'s `==`
/// says), then everything else by its canonical JSON text (serde_json
/// writes object keys sorted, so equal values have equal text; `1` and
/// `1.0` stay different). On the wire it is the value itself.
#[derive(Debug, Clone)]
pub struct OrdJson {
    value: Value,
    key: Key,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i128),
    Text(String),
}

impl OrdJson {
    pub fn new(value: Value) -> OrdJson {
        let int = match &value {
            Value::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
            _ => None,
        };
        let key = int.map_or_else(|| Key::Text(value.to_string()), Key::Int);
        OrdJson { value, key }
    }

    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl PartialEq for OrdJson {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for OrdJson {}

impl PartialOrd for OrdJson {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdJson {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl Serialize for OrdJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for OrdJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(OrdJson::new)
    }
}

/// The laws every [`Crdt`] must keep, as assertions over sample states: a
/// workload's proptest feeds it arbitrary states of its own type.
pub mod laws {
    use super::Crdt;

    fn join<C: Crdt>(a: &C, b: &C) -> C {
        let mut joined = a.clone();
        joined.merge(b);
        joined
    }

    /// Panics, naming the law, unless `merge` is commutative, associative
    /// and idempotent on `a`, `b`, `c`, the bottom is its identity, its
    /// "changed" answer is true exactly when the state changed, and
    /// `delta_from` gives what `known ⊔ delta = known ⊔ self` requires.
    pub fn check<C: Crdt>(a: &C, b: &C, c: &C) {
        assert_eq!(join(a, b), join(b, a), "merge must be commutative");
        assert_eq!(
            join(&join(a, b), c),
            join(a, &join(b, c)),
            "merge must be associative"
        );
        assert_eq!(join(a, a), *a, "merge must be idempotent");
        assert_eq!(join(a, &C::default()), *a, "the default must be the bottom");
        let mut merged = a.clone();
        let changed = merged.merge(b);
        assert_eq!(changed, merged != *a, "merge must say whether it changed");
        for (state, known) in [(a, b), (b, a), (a, &join(b, c)), (&join(a, b), a)] {
            let delta = state.delta_from(known);
            assert_eq!(
                join(known, &delta),
                join(known, state),
                "known ⊔ delta_from(known) must equal known ⊔ state"
            );
            assert!(join(known, state).covers(state), "a join covers its parts");
        }
        let meet = a.meet(b);
        assert_eq!(meet, b.meet(a), "meet must be commutative");
        assert!(a.covers(&meet) && b.covers(&meet), "a meet is held by both");
        assert_eq!(
            a.meet(&join(a, b)),
            *a,
            "a state is the meet of itself and a join"
        );
        assert_eq!(
            a.exceeds_both(b, c),
            !a.delta_from(b).delta_from(c).is_empty(),
            "exceeds_both must agree with delta_from"
        );
        assert!(a.delta_from(a).is_empty(), "a state covers itself");
        assert!(
            a.delta_from(&join(a, b)).is_empty(),
            "a join covers its parts"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn gset(elements: Vec<u8>) -> GSet<u8> {
        let mut set = GSet::default();
        for e in elements {
            set.insert(e);
        }
        set
    }

    proptest! {
        #[test]
        fn a_gset_keeps_the_laws(
            a in proptest::collection::vec(0u8..20, 0..10),
            b in proptest::collection::vec(0u8..20, 0..10),
            c in proptest::collection::vec(0u8..20, 0..10),
        ) {
            laws::check(&gset(a), &gset(b), &gset(c));
        }

        #[test]
        fn a_max_register_keeps_the_laws(a in 0u64..5, b in 0u64..5, c in 0u64..5) {
            let r = |value| MaxRegister { value };
            laws::check(&r(a), &r(b), &r(c));
        }
    }

    /// The laws can fail: a "CRDT" whose merge keeps the newer operand is
    /// not commutative, and `check` says so.
    #[test]
    #[should_panic(expected = "merge must be commutative")]
    fn a_last_writer_merge_breaks_the_laws() {
        #[derive(Debug, Clone, Default, PartialEq)]
        struct Overwrite(u8);
        impl Crdt for Overwrite {
            type Value = u8;
            fn merge(&mut self, other: &Self) -> bool {
                let changed = self.0 != other.0;
                self.0 = other.0;
                changed
            }
            fn delta_from(&self, _known: &Self) -> Self {
                self.clone()
            }
            fn meet(&self, _other: &Self) -> Self {
                Overwrite::default()
            }
            fn value(&self) -> u8 {
                self.0
            }
        }
        laws::check(&Overwrite(1), &Overwrite(2), &Overwrite(3));
    }

    #[test]
    fn json_values_order_integers_by_value_and_the_rest_canonically() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":2,"b":1}"#).unwrap();
        assert_eq!(OrdJson::new(a), OrdJson::new(b));
        assert_eq!(OrdJson::new(json!(1u64)), OrdJson::new(json!(1i64)));
        assert_ne!(OrdJson::new(json!(1)), OrdJson::new(json!(1.0)));
        assert!(OrdJson::new(json!(-5)) < OrdJson::new(json!(3)));
        assert!(OrdJson::new(json!(10)) > OrdJson::new(json!(9)));
        let set: GSet<OrdJson> =
            serde_json::from_str(r#"{"elements":[3,"x",3,{"k":[]}]}"#).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(
            serde_json::to_value(&set).unwrap(),
            json!({"elements": [3, "x", {"k": []}]})
        );
    }
}
