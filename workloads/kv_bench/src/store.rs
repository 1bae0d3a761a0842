//! The last-writer-wins map: timestamps, entries, their total order, and
//! the merge every replica applies, in any order, to reach the same state.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use maelstrom_framework::replication::Crdt;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use maelstrom_framework::Ts;

/// What tells two writes apart before their values do: the timestamp, then
/// the writer's node id, an absent id before any present one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version<'a> {
    pub ts: Ts,
    pub node: Option<&'a str>,
}

/// One key's value as replicas exchange it in `kv_merge`:
/// `{"value": V, "ts": T, "node": "n1"}`; `node` (the writer) is optional
/// so that peers without it interoperate.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub value: Value,
    pub ts: Ts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Only the object form: a derived parse would also take `[value, ts]`.
impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            value: Value,
            ts: Ts,
            #[serde(default)]
            node: Option<String>,
        }
        let object = serde_json::Map::deserialize(d)?;
        let Fields { value, ts, node } =
            serde_json::from_value(Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Entry { value, ts, node })
    }
}

impl Entry {
    pub fn version(&self) -> Version<'_> {
        Version {
            ts: self.ts,
            node: self.node.as_deref(),
        }
    }

    /// The last-writer-wins order, total, so every replica picks the same
    /// winner: by [`Version`], then by the canonical JSON text of the value.
    /// The value is only looked at on a version tie, which a writer never
    /// makes for itself (its timestamps strictly increase).
    pub fn lww_cmp(&self, other: &Entry) -> Ordering {
        self.version()
            .cmp(&other.version())
            .then_with(|| canonical(&self.value).cmp(&canonical(&other.value)))
    }
}

/// The same write: same timestamp, same writer, same value (compared as
/// canonical text, so key order inside objects does not matter).
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.version() == other.version() && canonical(&self.value) == canonical(&other.value)
    }
}

impl Eq for Entry {}

/// `value` as compact JSON with object keys sorted at every level, whatever
/// map type serde_json was built with, so that equal values have one text.
pub fn canonical(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                let mut fields: Vec<(&String, &Value)> = map.iter().collect();
                fields.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, item)) in fields.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// What merging one entry did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The entry won: the key is new or its value changed.
    Changed,
    /// The store already held this very entry.
    Same,
    /// The store holds a newer entry; the older one is handed back.
    Older(Entry),
}

/// One key's current entry and what the node keeps about it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entry: Entry,
    /// Changes whenever the key's entry does: tells "the peer acknowledged
    /// the entry we hold now" from "an entry we held before".
    pub rev: u64,
    /// Size of the key and entry inside a `kv_merge`, for batch limits.
    pub wire_bytes: usize,
}

/// The last-writer-wins map. Merging is a join: commutative, associative
/// and idempotent, so replicas that merged the same entries, in any order
/// or grouping, hold the same map.
#[derive(Debug, Clone, Default)]
pub struct Store {
    entries: BTreeMap<String, Stored>,
    last_rev: u64,
}

impl Store {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|s| &s.entry)
    }

    pub fn stored(&self, key: &str) -> Option<&Stored> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every key and entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, s)| (k.as_str(), &s.entry))
    }

    /// Keeps `entry` for `key` if it wins over the current one.
    pub fn merge(&mut self, key: &str, entry: Entry) -> Outcome {
        // Revisions only order changes of one process; 2^64 of them are out
        // of reach, and saturating keeps even that from wrapping.
        let rev = self.last_rev.saturating_add(1);
        match self.entries.get_mut(key) {
            Some(current) => match entry.lww_cmp(&current.entry) {
                Ordering::Greater => {
                    *current = Stored {
                        wire_bytes: wire_bytes(key, &entry),
                        entry,
                        rev,
                    };
                }
                Ordering::Equal => return Outcome::Same,
                Ordering::Less => return Outcome::Older(entry),
            },
            None => {
                let stored = Stored {
                    wire_bytes: wire_bytes(key, &entry),
                    entry,
                    rev,
                };
                self.entries.insert(key.to_owned(), stored);
            }
        }
        self.last_rev = rev;
        Outcome::Changed
    }

    /// Merges every entry of `other`; returns how many changed this store.
    pub fn merge_from(&mut self, other: &Store) -> usize {
        other
            .iter()
            .filter(|(key, entry)| self.merge(key, (*entry).clone()) == Outcome::Changed)
            .count()
    }
}

/// The store as a [`Crdt`], so that a node's own writes can be kept by the
/// framework's [`maelstrom_framework::replication::DurableUpdates`] (a
/// write is a store of one entry; their join is the node's own
/// contribution, what it must not lose).
impl Crdt for Store {
    /// Each key's value.
    type Value = BTreeMap<String, Value>;

    fn merge(&mut self, other: &Store) -> bool {
        self.merge_from(other) > 0
    }

    /// The entries that beat `known`'s (or that it lacks).
    fn delta_from(&self, known: &Store) -> Store {
        let mut delta = Store::default();
        for (key, entry) in self.iter() {
            if known
                .get(key)
                .is_none_or(|k| entry.lww_cmp(k) == Ordering::Greater)
            {
                delta.merge(key, entry.clone());
            }
        }
        delta
    }

    /// The keys both hold, each with the older of the two entries: a
    /// replica holding either holds that one or newer.
    fn meet(&self, other: &Store) -> Store {
        let mut meet = Store::default();
        for (key, entry) in self.iter() {
            if let Some(theirs) = other.get(key) {
                let older = if entry.lww_cmp(theirs) == Ordering::Greater {
                    theirs
                } else {
                    entry
                };
                meet.merge(key, older.clone());
            }
        }
        meet
    }

    fn value(&self) -> BTreeMap<String, Value> {
        self.iter()
            .map(|(key, entry)| (key.to_owned(), entry.value.clone()))
            .collect()
    }
}

/// On disk as `kv_merge` carries entries: `{key: {value, ts, node?}}`.
impl Serialize for Store {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Store {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Store, D::Error> {
        let entries = BTreeMap::<String, Entry>::deserialize(d)?;
        let mut store = Store::default();
        for (key, entry) in entries {
            store.merge(&key, entry);
        }
        Ok(store)
    }
}

/// Stores are equal when they hold equal entries for the same keys
/// (revisions are local bookkeeping).
impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// `"key":{entry},` inside a `kv_merge`.
fn wire_bytes(key: &str, entry: &Entry) -> usize {
    json_len(&key)
        .saturating_add(json_len(entry))
        .saturating_add(2)
}

/// The length of `value` as compact JSON, without building the text.
pub fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: Value, ts: f64, node: Option<&str>) -> Entry {
        Entry {
            value,
            ts: Ts::from_secs(ts).unwrap(),
            node: node.map(str::to_owned),
        }
    }

    #[test]
    fn newer_timestamp_wins_older_is_handed_back() {
        let mut store = Store::default();
        assert_eq!(
            store.merge("k", entry(json!(1), 10.5, None)),
            Outcome::Changed
        );
        assert_eq!(
            store.merge("k", entry(json!(2), 11.0, None)),
            Outcome::Changed
        );
        let old = entry(json!(3), 9.0, Some("n9"));
        assert_eq!(store.merge("k", old.clone()), Outcome::Older(old));
        assert_eq!(store.merge("k", entry(json!(2), 11.0, None)), Outcome::Same);
        assert_eq!(store.get("k").unwrap().value, json!(2));
    }

    #[test]
    fn ties_break_by_node_absent_first_then_value_text() {
        let mut store = Store::default();
        store.merge("k", entry(json!("z"), 5.0, None));
        assert_eq!(
            store.merge("k", entry(json!("a"), 5.0, Some("n1"))),
            Outcome::Changed
        );
        assert_eq!(
            store.merge("k", entry(json!("a"), 5.0, Some("n2"))),
            Outcome::Changed
        );
        assert!(matches!(
            store.merge("k", entry(json!("z"), 5.0, Some("n10"))),
            Outcome::Older(_)
        ));
        assert_eq!(
            store.merge("k", entry(json!("b"), 5.0, Some("n2"))),
            Outcome::Changed
        );
        assert_eq!(store.get("k").unwrap().value, json!("b"));
    }

    #[test]
    fn canonical_text_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":[1,{"y":2,"x":1}],"a":null}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":null,"b":[1,{"x":1,"y":2}]}"#);
        assert_eq!(canonical(&json!("q\"uote")), r#""q\"uote""#);
    }

    #[test]
    fn entries_need_a_finite_ts_and_a_value() {
        assert!(serde_json::from_str::<Entry>("[1, 2.5]").is_err());
        assert!(serde_json::from_str::<Entry>(r#"{"ts": "1", "value": 1}"#).is_err());
        let e: Entry = serde_json::from_str(r#"{"ts": 2.5, "value": [1], "x": 0}"#).unwrap();
        assert_eq!((e.ts.secs(), e.node), (2.5, None));
    }

    #[test]
    fn json_len_matches_serialisation() {
        let e = entry(json!({"a": [1, 2, "x"]}), 1.5, Some("n1"));
        assert_eq!(json_len(&e), serde_json::to_vec(&e).unwrap().len());
    }
}
