//! The values a node holds: each once, in order of first receipt.
//!
//! Values are arbitrary JSON. `serde_json::Value` is neither `Hash` nor
//! `Ord`, so a value is identified by its canonical JSON text: serde_json
//! writes an object's keys in sorted order (its default map is a
//! `BTreeMap`), so two equal values always have the same text, and `1` and
//! `1.0` stay different, as they are for `Value`'s own `==`.

use serde_json::Value;

/// A value's place in a [`ValueStore`]: its rank in first-receipt order.
/// Local to one node: two nodes may give one value different indices.
pub type ValueIdx = usize;

/// What [`ValueStore::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The value was new and now has this index.
    New(ValueIdx),
    /// The value was already held at this index; nothing changed.
    Known(ValueIdx),
}

impl Receipt {
    pub fn idx(self) -> ValueIdx {
        match self {
            Receipt::New(idx) | Receipt::Known(idx) => idx,
        }
    }

    pub fn is_new(self) -> bool {
        matches!(self, Receipt::New(_))
    }
}

/// How a value is looked up. Integers, what clients broadcast almost
/// always, are keyed by themselves, sparing a JSON text per lookup; a `u64`
/// and an `i64` that are equal are one value, as `Value` compares them.
/// Worked out once per value received ([`Key::of`]), then used for both the
/// lookup and the insert.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Int(i128),
    Text(String),
}

impl Key {
    pub fn of(value: &Value) -> Key {
        let int = match value {
            Value::Number(n) => n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)),
            _ => None,
        };
        int.map_or_else(|| Key::Text(value.to_string()), Key::Int)
    }
}

/// Every value a node holds, each once, in order of first receipt.
#[derive(Debug, Default)]
pub struct ValueStore {
    values: Vec<Value>,
    /// Length of each value's JSON text, to bound batches in bytes.
    sizes: Vec<usize>,
    /// Canonical key → index. Only looked up, never iterated.
    index: foldhash::HashMap<Key, ValueIdx>,
}

impl ValueStore {
    pub fn new() -> Self {
        ValueStore::default()
    }

    /// Adds `value` unless an equal value is held already.
    pub fn insert(&mut self, value: Value) -> Receipt {
        self.insert_keyed(Key::of(&value), value)
    }

    /// [`ValueStore::insert`] of a value whose key is worked out already.
    pub fn insert_keyed(&mut self, key: Key, value: Value) -> Receipt {
        debug_assert_eq!(key, Key::of(&value));
        if let Some(&idx) = self.index.get(&key) {
            return Receipt::Known(idx);
        }
        let idx = self.values.len();
        self.sizes.push(match &key {
            Key::Int(n) => n.to_string().len(),
            Key::Text(text) => text.len(),
        });
        self.index.insert(key, idx);
        self.values.push(value);
        Receipt::New(idx)
    }

    /// The index of a value equal to `value`, if one is held.
    pub fn position(&self, value: &Value) -> Option<ValueIdx> {
        self.position_of(&Key::of(value))
    }

    /// The index of the value with this key, if one is held.
    pub fn position_of(&self, key: &Key) -> Option<ValueIdx> {
        self.index.get(key).copied()
    }

    pub fn get(&self, idx: ValueIdx) -> Option<&Value> {
        self.values.get(idx)
    }

    /// The length of the value's JSON text (0 for an index not held).
    pub fn size(&self, idx: ValueIdx) -> usize {
        self.sizes.get(idx).copied().unwrap_or(0)
    }

    /// Every value, in order of first receipt.
    pub fn as_slice(&self) -> &[Value] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn equal_values_are_one_value_whatever_their_key_order() {
        let mut store = ValueStore::new();
        let a: Value = serde_json::from_str(r#"{"b":1,"a":[2,{"y":3,"x":4}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[2,{"x":4,"y":3}],"b":1}"#).unwrap();
        assert_eq!(store.insert(a), Receipt::New(0));
        assert_eq!(store.insert(b), Receipt::Known(0));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn distinct_json_values_stay_distinct() {
        let mut store = ValueStore::new();
        for v in [
            json!(1),
            json!(1.0),
            json!("1"),
            json!([1]),
            json!(null),
            json!(false),
        ] {
            assert!(store.insert(v).is_new());
        }
        assert_eq!(store.len(), 6);
        assert_eq!(store.position(&json!("1")), Some(2));
        assert_eq!(store.size(2), 3);
        assert_eq!(store.size(99), 0);
    }

    fn small_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..20).prop_map(|n| json!(n)),
            "[a-c]{0,2}".prop_map(|s| json!(s)),
            (0u64..5, 0u64..5).prop_map(|(a, b)| json!({"a": a, "b": b})),
        ]
    }

    proptest! {
        /// The store is the input with repeats removed, in first-seen order.
        #[test]
        fn holds_each_value_once_in_first_receipt_order(
            input in proptest::collection::vec(small_value(), 0..60)
        ) {
            let mut store = ValueStore::new();
            let mut expected: Vec<Value> = Vec::new();
            for v in input {
                let was_known = expected.contains(&v);
                let receipt = store.insert(v.clone());
                prop_assert_eq!(receipt.is_new(), !was_known);
                if !was_known {
                    expected.push(v);
                }
            }
            prop_assert_eq!(store.as_slice(), expected.as_slice());
            for (i, v) in expected.iter().enumerate() {
                prop_assert_eq!(store.position(v), Some(i));
            }
        }
    }
}
