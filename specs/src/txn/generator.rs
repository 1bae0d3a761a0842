//! Maelstrom's transaction generator (Elle's `txn/gen`, as Maelstrom sets
//! it): transactions of 1..=`--max-txn-length` micro-ops drawn from
//! Elle's key pool ([`crate::key_pool`]: reads and writes with equal odds,
//! `--key-count` active keys, one hot, each retired after
//! `--max-writes-per-key` writes).

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::key_pool::{Draw, KeyPool};

#[derive(Debug, Clone)]
pub struct TxnGenerator {
    max_txn_length: usize,
    keys: KeyPool,
}

impl TxnGenerator {
    pub fn new(key_count: usize, max_txn_length: usize, max_writes_per_key: u64) -> TxnGenerator {
        TxnGenerator {
            max_txn_length: max_txn_length.max(1),
            keys: KeyPool::new(key_count, max_writes_per_key),
        }
    }

    /// The next transaction's micro-ops, with `write` as the write's `f`.
    pub fn next(&mut self, rng: &mut StdRng, write: &str) -> Value {
        let length = rng.random_range(1..=self.max_txn_length);
        let mops = (0..length)
            .map(|_| match self.keys.draw(rng) {
                Draw::Read(key) => json!(["r", key, null]),
                Draw::Write(key, n) => json!([write, key, n]),
            })
            .collect();
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
