//! Maelstrom's transaction generator (Elle's `txn/gen`, as Maelstrom sets
//! it): transactions of 1..=`--max-txn-length` micro-ops, each a read or a
//! write (an append) with equal odds, on one of `--key-count` active keys.
//! Each key's written values are 1, 2, 3, … (unique per key); after
//! `--max-writes-per-key` writes a key retires and a fresh one takes its
//! place, so version orders stay short.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct TxnGenerator {
    max_txn_length: usize,
    max_writes_per_key: u64,
    /// Active keys and the writes each has had.
    active: Vec<(i64, u64)>,
    next_key: i64,
}

impl TxnGenerator {
    pub fn new(key_count: usize, max_txn_length: usize, max_writes_per_key: u64) -> TxnGenerator {
        let key_count = key_count.max(1);
        TxnGenerator {
            max_txn_length: max_txn_length.max(1),
            max_writes_per_key: max_writes_per_key.max(1),
            active: (0..key_count as i64).map(|k| (k, 0)).collect(),
            next_key: key_count as i64,
        }
    }

    /// The next transaction's micro-ops, with `write` as the write's `f`.
    pub fn next(&mut self, rng: &mut StdRng, write: &str) -> Value {
        let length = rng.random_range(1..=self.max_txn_length);
        let mut mops = Vec::with_capacity(length);
        for _ in 0..length {
            let slot = rng.random_range(0..self.active.len());
            let key = self.active[slot].0;
            if rng.random_bool(0.5) {
                mops.push(json!(["r", key, null]));
                continue;
            }
            let written = &mut self.active[slot].1;
            *written += 1;
            mops.push(json!([write, key, *written]));
            if *written >= self.max_writes_per_key {
                self.active[slot] = (self.next_key, 0);
                self.next_key += 1;
            }
        }
        Value::Array(mops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn values_are_unique_per_key_and_keys_retire() {
        let mut g = TxnGenerator::new(2, 4, 3);
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let txn = g.next(&mut rng, "w");
            let mops = txn.as_array().unwrap();
            assert!((1..=4).contains(&mops.len()));
            for m in mops {
                keys.insert(m[1].as_i64().unwrap());
                if m[0] == "w" {
                    assert!(seen.insert((m[1].as_i64(), m[2].as_i64())), "{m}");
                    assert!((1..=3).contains(&m[2].as_i64().unwrap()));
                }
            }
        }
        assert!(keys.len() > 2, "retired keys are replaced: {keys:?}");
    }
}
