//! The LWW merge is a join: whatever the order, grouping or repetition in
//! which replicas merge the same entries, they end with the same store.

use kv_bench::{Entry, Store, Ts};
use maelstrom_framework::replication::crdt::laws;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Few keys, timestamps, writers and values, so that ties are common.
fn entry() -> impl Strategy<Value = (String, Entry)> {
    let key = prop::sample::select(vec!["a", "b", "c"]);
    let ts = prop::sample::select(vec![0.0, -0.0, 1.0, 1.5, 1704067200.123456, -3.0]);
    let node = prop::option::of(prop::sample::select(vec!["n1", "n2", "n10"]));
    let value = prop::sample::select(vec![
        json!(null),
        json!(1),
        json!(1.0),
        json!("x"),
        json!({"a": 1, "b": [2]}),
        serde_json::from_str::<Value>(r#"{"b":[2],"a":1}"#).unwrap(),
        json!([{"z": 0}]),
    ]);
    (key, ts, node, value).prop_map(|(key, ts, node, value)| {
        let entry = Entry {
            value,
            ts: Ts::from_secs(ts).unwrap(),
            node: node.map(str::to_owned),
        };
        (key.to_owned(), entry)
    })
}

fn store_of(entries: &[(String, Entry)]) -> Store {
    let mut store = Store::default();
    for (key, entry) in entries {
        store.merge(key, entry.clone());
    }
    store
}

fn joined(a: &Store, b: &Store) -> Store {
    let mut out = a.clone();
    out.merge_from(b);
    out
}

proptest! {
    #[test]
    fn order_does_not_matter(
        (entries, shuffled) in prop::collection::vec(entry(), 0..12)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        prop_assert_eq!(store_of(&entries), store_of(&shuffled));
    }

    #[test]
    fn merge_is_commutative(
        a in prop::collection::vec(entry(), 0..8),
        b in prop::collection::vec(entry(), 0..8),
    ) {
        let (a, b) = (store_of(&a), store_of(&b));
        prop_assert_eq!(joined(&a, &b), joined(&b, &a));
    }

    #[test]
    fn merge_is_associative(
        a in prop::collection::vec(entry(), 0..8),
        b in prop::collection::vec(entry(), 0..8),
        c in prop::collection::vec(entry(), 0..8),
    ) {
        let (a, b, c) = (store_of(&a), store_of(&b), store_of(&c));
        prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
    }

    #[test]
    fn merge_is_idempotent(a in prop::collection::vec(entry(), 0..8)) {
        let a = store_of(&a);
        let mut twice = a.clone();
        prop_assert_eq!(twice.merge_from(&a), 0);
        prop_assert_eq!(&twice, &a);
    }

    /// The store is a [`Crdt`] (what the durable log of own writes needs),
    /// and keeps every law the framework checks.
    #[test]
    fn the_store_keeps_the_crdt_laws(
        a in prop::collection::vec(entry(), 0..8),
        b in prop::collection::vec(entry(), 0..8),
        c in prop::collection::vec(entry(), 0..8),
    ) {
        laws::check(&store_of(&a), &store_of(&b), &store_of(&c));
    }

    /// On disk a store is its entries; read back, it is the same store.
    #[test]
    fn a_store_reads_back_as_written(a in prop::collection::vec(entry(), 0..8)) {
        let store = store_of(&a);
        let text = serde_json::to_string(&store).unwrap();
        prop_assert_eq!(serde_json::from_str::<Store>(&text).unwrap(), store);
    }

    #[test]
    fn the_winner_is_the_greatest_entry(entries in prop::collection::vec(entry(), 1..12)) {
        let store = store_of(&entries);
        for (key, held) in store.iter() {
            for (k, e) in entries.iter().filter(|(k, _)| k == key) {
                prop_assert!(held.lww_cmp(e).is_ge(), "{k}: {held:?} < {e:?}");
            }
        }
    }
}
