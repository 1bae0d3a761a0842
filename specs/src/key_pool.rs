//! Elle's pool of active keys (`elle.txn/wr-txns`), which Maelstrom's
//! transactional and kafka generators draw from: each draw is a read or a
//! write with equal odds, on one of `key_count` active keys picked with
//! Elle's default exponential distribution (the key in slot `i` is `2^i`
//! times as likely as the one in slot 0, so one key is hot and conflicts
//! are common). A key's writes are numbered 1, 2, 3, … (unique per key);
//! a write past `max_writes` retires the key, a fresh one (one above the
//! highest active) takes its slot, and the draw starts over — so version
//! orders stay short and every key's history is small.

use std::collections::HashMap;

use rand::Rng;
use rand::rngs::StdRng;

/// One draw from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    Read(i64),
    /// A write of the key's `n`th value, `n` in `1..=max_writes`.
    Write(i64, u64),
}

#[derive(Debug, Clone)]
pub struct KeyPool {
    active: Vec<i64>,
    /// Writes each key has had (kept for retired keys too, as Elle does).
    writes: HashMap<i64, u64>,
    max_writes: u64,
    /// Elle's is one half; kafka's `--send-fraction` sets it.
    write_chance: f64,
}

impl KeyPool {
    pub fn new(key_count: usize, max_writes: u64) -> KeyPool {
        KeyPool {
            active: (0..key_count.max(1) as i64).collect(),
            writes: HashMap::new(),
            max_writes: max_writes.max(1),
            write_chance: 0.5,
        }
    }

    /// The pool with writes drawn with odds `chance` (clamped to 0..=1).
    pub fn with_write_chance(mut self, chance: f64) -> KeyPool {
        self.write_chance = if chance.is_nan() {
            0.5
        } else {
            chance.clamp(0.0, 1.0)
        };
        self
    }

    /// The next micro-op: Elle draws read-or-write first, then the key.
    pub fn draw(&mut self, rng: &mut StdRng) -> Draw {
        loop {
            let write = rng.random_bool(self.write_chance);
            let slot = exponential_slot(self.active.len(), rng);
            let key = self.active[slot];
            if !write {
                return Draw::Read(key);
            }
            let n = self.writes.get(&key).copied().unwrap_or(0) + 1;
            if n > self.max_writes {
                let fresh = self.active.iter().max().copied().unwrap_or(0) + 1;
                self.active[slot] = fresh;
                continue;
            }
            self.writes.insert(key, n);
            return Draw::Write(key, n);
        }
    }
}

/// A slot in `0..n`, slot `i` drawn with weight `2^i` (Elle's
/// `rand-key`: `floor(log2(u·2(2^n−1) + 2) − 1)` for `u` uniform in
/// `[0, 1)`).
fn exponential_slot(n: usize, rng: &mut StdRng) -> usize {
    let u: f64 = rng.random();
    let i = if n <= 1000 {
        let scale = 2.0 * (2f64.powi(n as i32) - 1.0);
        ((u * scale + 2.0).log2() - 1.0).floor()
    } else {
        // 2^n overflows; log2(u·2^(n+1)) − 1 is the same to the digit.
        (n as f64 + u.log2()).floor()
    };
    (i.max(0.0) as usize).min(n - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn slot_i_is_twice_as_likely_as_slot_i_minus_1() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut count = [0u32; 3];
        for _ in 0..70_000 {
            count[exponential_slot(3, &mut rng)] += 1;
        }
        // Expected 10,000, 20,000, 40,000.
        for (slot, want) in [(0, 10_000.0), (1, 20_000.0), (2, 40_000.0)] {
            let got = f64::from(count[slot]);
            assert!((got - want).abs() < want * 0.05, "{count:?}");
        }
        let mut rng = StdRng::seed_from_u64(4);
        for n in [1, 2, 60, 1000, 5000] {
            for _ in 0..1000 {
                assert!(exponential_slot(n, &mut rng) < n);
            }
        }
    }

    #[test]
    fn writes_are_numbered_per_key_and_keys_retire() {
        let mut pool = KeyPool::new(2, 3);
        let mut rng = StdRng::seed_from_u64(7);
        let mut last: HashMap<i64, u64> = HashMap::new();
        let mut reads = 0;
        for _ in 0..300 {
            match pool.draw(&mut rng) {
                Draw::Read(key) => {
                    assert!(pool.active.contains(&key));
                    reads += 1;
                }
                Draw::Write(key, n) => {
                    assert!((1..=3).contains(&n), "{key} {n}");
                    let before = last.insert(key, n).unwrap_or(0);
                    assert_eq!(n, before + 1, "key {key}: writes 1, 2, 3 in order");
                }
            }
        }
        assert!(reads > 100, "about half are reads: {reads}");
        assert!(last.len() > 20, "retired keys are replaced: {last:?}");
        assert_eq!(pool.active.len(), 2);
    }
}
