//! What the benchmark measures, in bounded memory: convergence times of
//! tracked writes and stale reads.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use crate::store::{Entry, Ts, Version};

/// At most this many tracked writes wait for convergence at once; beyond
/// it the oldest is given up (counted as abandoned).
pub const MAX_TRACKED_WRITES: usize = 10_000;
/// At most this many bytes of keys are held by waiting tracked writes.
pub const MAX_TRACKED_KEY_BYTES: usize = 4 << 20;
/// Stale reads are looked for among the last this many reads.
pub const READ_WINDOW: usize = 1024;
/// At most this many bytes of keys and writer ids are held by that window.
pub const READ_WINDOW_BYTES: usize = 1 << 20;

/// Durations in microseconds, in fixed log-linear buckets: exact below
/// 64 µs, then 32 buckets per power of two, so a quantile is reported
/// within 1/32 (3.1 %) above the true value. 1,920 counters, whatever
/// is recorded.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = 1920;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let i = bucket(micros);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.max = self.max.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max)
    }

    /// The nearest-rank `q` quantile (0 < q ≤ 1): the top of the bucket
    /// holding it, never above the largest value recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // `as` saturates; the clamp keeps the rank inside 1..=total.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(bucket_top(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

fn bucket(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    // v >> shift is in SUB..2*SUB: the top SUB_BITS+1 bits of v.
    let shift = 63 - v.leading_zeros() - SUB_BITS;
    (shift as usize + 1) * SUB as usize + ((v >> shift) - SUB) as usize
}

fn bucket_top(i: usize) -> u64 {
    if i < 2 * SUB as usize {
        return i as u64;
    }
    let shift = (i / SUB as usize - 1) as u32;
    let mantissa = (i % SUB as usize) as u128 + u128::from(SUB);
    u64::try_from(((mantissa + 1) << shift) - 1).unwrap_or(u64::MAX)
}

/// The convergence figures of `bench_stats_ok`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConvergenceStats {
    pub tracked: u64,
    pub converged: u64,
    pub unconverged: u64,
    pub abandoned: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// A tracked write waiting until every peer is known to hold it (or newer).
#[derive(Debug)]
struct Waiting {
    key: String,
    ts: Ts,
    node: String,
    started: Duration,
    /// By peer index: not yet known to hold the write.
    peers: Vec<bool>,
    remaining: usize,
}

/// Convergence of tracked writes: from the write (the node's monotonic
/// clock) to the moment the last peer acknowledged holding it or a newer
/// entry of its key. Waiting writes are bounded by count and key bytes;
/// finished ones only feed the histogram.
#[derive(Debug, Default)]
pub struct Convergence {
    waiting: BTreeMap<u64, Waiting>,
    /// Waiting write ids by key. A node's own timestamps strictly increase,
    /// so on one key a later id is a newer version.
    by_key: BTreeMap<String, BTreeSet<u64>>,
    key_bytes: usize,
    times: Histogram,
    tracked: u64,
    abandoned: u64,
}

impl Convergence {
    /// Starts tracking write `id`, written by `node` at `ts`, which `peers`
    /// peers must come to hold.
    pub fn track(&mut self, id: u64, key: &str, ts: Ts, node: &str, peers: usize, now: Duration) {
        self.tracked = self.tracked.saturating_add(1);
        if peers == 0 {
            self.times.record(0);
            return;
        }
        self.waiting.insert(
            id,
            Waiting {
                key: key.to_owned(),
                ts,
                node: node.to_owned(),
                started: now,
                peers: vec![true; peers],
                remaining: peers,
            },
        );
        self.by_key.entry(key.to_owned()).or_default().insert(id);
        self.key_bytes = self.key_bytes.saturating_add(key.len());
        while self.waiting.len() > MAX_TRACKED_WRITES || self.key_bytes > MAX_TRACKED_KEY_BYTES {
            let Some(&oldest) = self.waiting.keys().next() else {
                break;
            };
            self.remove(oldest);
            self.abandoned = self.abandoned.saturating_add(1);
        }
    }

    /// Peer number `peer` is known to hold `held` (or newer) for `key`.
    pub fn peer_holds(&mut self, peer: usize, key: &str, held: Version<'_>, now: Duration) {
        let Some(ids) = self.by_key.get(key) else {
            return;
        };
        let mut done = Vec::new();
        for id in ids {
            let Some(w) = self.waiting.get_mut(id) else {
                continue;
            };
            let version = Version {
                ts: w.ts,
                node: Some(&w.node),
            };
            if version > held {
                break; // later ids are newer still
            }
            if let Some(flag) = w.peers.get_mut(peer).filter(|f| **f) {
                *flag = false;
                w.remaining = w.remaining.saturating_sub(1);
                if w.remaining == 0 {
                    done.push((*id, w.started));
                }
            }
        }
        for (id, started) in done {
            self.remove(id);
            let micros = now.saturating_sub(started).as_micros();
            self.times.record(u64::try_from(micros).unwrap_or(u64::MAX));
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(w) = self.waiting.remove(&id) else {
            return;
        };
        self.key_bytes = self.key_bytes.saturating_sub(w.key.len());
        if let Some(ids) = self.by_key.get_mut(&w.key) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_key.remove(&w.key);
            }
        }
    }

    pub fn stats(&self) -> ConvergenceStats {
        let ms = |micros: u64| micros as f64 / 1000.0;
        ConvergenceStats {
            tracked: self.tracked,
            converged: self.times.count(),
            unconverged: u64::try_from(self.waiting.len()).unwrap_or(u64::MAX),
            abandoned: self.abandoned,
            p50_ms: self.times.quantile(0.5).map(ms),
            p99_ms: self.times.quantile(0.99).map(ms),
            max_ms: self.times.max().map(ms),
        }
    }
}

/// A read as answered: the key, the version returned (`None`: not found)
/// and when (this node's wall clock).
#[derive(Debug)]
struct Read {
    key: String,
    returned: Option<(Ts, Option<String>)>,
    at: Ts,
    stale: bool,
}

/// Stale-read detection over a bounded window of recent reads. A read is
/// stale when this node later receives, in a `kv_merge`, an entry of the
/// same key that is newer than the version the read returned and whose
/// timestamp is before the read. Timestamps are the writers' clocks, so
/// with skewed clocks this is an estimate; reads that left the window are
/// no longer checked, so the count is a lower bound.
#[derive(Debug, Default)]
pub struct ReadLog {
    recent: VecDeque<Read>,
    bytes: usize,
    reads: u64,
    stale: u64,
}

impl ReadLog {
    pub fn record(&mut self, key: &str, returned: Option<Version<'_>>, at: Ts) {
        self.reads = self.reads.saturating_add(1);
        let read = Read {
            key: key.to_owned(),
            returned: returned.map(|v| (v.ts, v.node.map(str::to_owned))),
            at,
            stale: false,
        };
        self.bytes = self.bytes.saturating_add(read_bytes(&read));
        self.recent.push_back(read);
        while self.recent.len() > READ_WINDOW || self.bytes > READ_WINDOW_BYTES {
            let Some(old) = self.recent.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(read_bytes(&old));
        }
    }

    /// Looks at entries just received for reads they prove stale.
    pub fn check(&mut self, incoming: &BTreeMap<String, Entry>) {
        for read in self.recent.iter_mut().filter(|r| !r.stale) {
            let Some(entry) = incoming.get(&read.key) else {
                continue;
            };
            let newer = match &read.returned {
                None => true,
                Some((ts, node)) => {
                    entry.version()
                        > Version {
                            ts: *ts,
                            node: node.as_deref(),
                        }
                }
            };
            if newer && entry.ts < read.at {
                read.stale = true;
                self.stale = self.stale.saturating_add(1);
            }
        }
    }

    pub fn reads(&self) -> u64 {
        self.reads
    }

    pub fn stale(&self) -> u64 {
        self.stale
    }
}

fn read_bytes(read: &Read) -> usize {
    let node = read.returned.as_ref().and_then(|(_, n)| n.as_ref());
    read.key.len().saturating_add(node.map_or(0, String::len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buckets_are_contiguous_and_tops_bound_their_values() {
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let i = bucket(v);
            assert!(i < BUCKETS, "{v}");
            assert!(bucket_top(i) >= v, "{v}");
            if i > 0 {
                assert!(bucket_top(i - 1) < v, "{v}");
            }
            // Within 1/32 above the true value.
            assert!(bucket_top(i) - v <= v / 32, "{v}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=100 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((50_000..=50_000 + 50_000 / 32).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((99_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(100_000));
        assert_eq!(h.max(), Some(100_000));
        assert_eq!(h.count(), 100);
    }

    fn ts(secs: f64) -> Ts {
        Ts::from_secs(secs).unwrap()
    }

    #[test]
    fn a_write_converges_when_every_peer_holds_it_or_newer() {
        let mut c = Convergence::default();
        let ms = Duration::from_millis;
        c.track(1, "k", ts(10.0), "n1", 2, ms(0));
        c.track(2, "k", ts(11.0), "n1", 2, ms(5));
        // Peer 0 holds write 1 only; peer 1 holds something newer than both.
        let v1 = Version {
            ts: ts(10.0),
            node: Some("n1"),
        };
        c.peer_holds(0, "k", v1, ms(10));
        assert_eq!(c.stats().converged, 0);
        let newer = Version {
            ts: ts(12.0),
            node: Some("n3"),
        };
        c.peer_holds(1, "k", newer, ms(20));
        let s = c.stats();
        assert_eq!((s.converged, s.unconverged), (1, 1));
        assert_eq!(s.max_ms, Some(20.0));
        // An older version does not count, nor does another key.
        c.peer_holds(
            0,
            "k",
            Version {
                ts: ts(10.5),
                node: None,
            },
            ms(30),
        );
        c.peer_holds(0, "other", newer, ms(30));
        assert_eq!(c.stats().converged, 1);
        c.peer_holds(0, "k", newer, ms(45));
        let s = c.stats();
        assert_eq!((s.converged, s.unconverged, s.abandoned), (2, 0, 0));
        assert_eq!(s.max_ms, Some(40.0));
        assert!(c.by_key.is_empty() && c.key_bytes == 0);
    }

    #[test]
    fn waiting_writes_are_bounded() {
        let mut c = Convergence::default();
        let n = MAX_TRACKED_WRITES + 5;
        for id in 1..=n as u64 {
            c.track(id, "k", ts(id as f64), "n1", 1, Duration::ZERO);
        }
        let s = c.stats();
        assert_eq!(s.unconverged as usize, MAX_TRACKED_WRITES);
        assert_eq!(s.abandoned, 5);
        assert_eq!(s.tracked as usize, n);
        // Big keys hit the byte bound first.
        let mut c = Convergence::default();
        let key = "x".repeat(1 << 20);
        for id in 1..=6 {
            c.track(id, &key, ts(id as f64), "n1", 1, Duration::ZERO);
        }
        assert_eq!(c.stats().unconverged, 4);
        assert_eq!(c.stats().abandoned, 2);
    }

    #[test]
    fn stale_reads_are_reads_of_an_older_version_than_one_written_before() {
        let mut log = ReadLog::default();
        let old = Entry {
            value: json!(1),
            ts: ts(5.0),
            node: Some("n2".into()),
        };
        log.record("a", Some(old.version()), ts(10.0));
        log.record("b", None, ts(10.0));
        log.record("c", None, ts(10.0));
        let mut incoming = BTreeMap::new();
        // Newer and written before the read: stale.
        incoming.insert(
            "a".to_string(),
            Entry {
                value: json!(2),
                ts: ts(7.0),
                node: None,
            },
        );
        // Written after the read: not stale.
        incoming.insert(
            "b".to_string(),
            Entry {
                value: json!(2),
                ts: ts(11.0),
                node: None,
            },
        );
        log.check(&incoming);
        assert_eq!((log.reads(), log.stale()), (3, 1));
        // A read is counted once.
        log.check(&incoming);
        assert_eq!(log.stale(), 1);
        // The same version again is not newer.
        let mut log = ReadLog::default();
        log.record("a", Some(old.version()), ts(10.0));
        log.check(&BTreeMap::from([("a".to_string(), old)]));
        assert_eq!(log.stale(), 0);
    }

    #[test]
    fn the_read_window_is_bounded() {
        let mut log = ReadLog::default();
        for _ in 0..READ_WINDOW * 2 {
            log.record("k", None, ts(1.0));
        }
        assert_eq!(log.recent.len(), READ_WINDOW);
        assert_eq!(log.reads() as usize, READ_WINDOW * 2);
        let key = "x".repeat(READ_WINDOW_BYTES / 2 + 1);
        log.record(&key, None, ts(1.0));
        log.record(&key, None, ts(1.0));
        assert!(log.bytes <= READ_WINDOW_BYTES);
    }
}
