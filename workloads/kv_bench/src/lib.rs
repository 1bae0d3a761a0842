//! Workload `kv`: a last-writer-wins key-value store replicated by gossip,
//! with the endpoints that benchmark it (convergence time, messages per
//! write, stale reads).
//!
//! # The store
//! Keys are strings, values any JSON value (`null` included).
//! - `write {key, value}` → `write_ok {ts}`: the write's timestamp.
//! - `kv_read {key}` → `kv_read_ok {key, value, ts}`; `read {key}` →
//!   `read_ok {value}` for generic clients. A missing key is
//!   `{"type": "error", "code": 20, "text": "Key not found"}`.
//! - `kv_merge {entries: {key: {value, ts, node?}}}` → `kv_merge_ok
//!   {updated}`, the number of entries that won: a way for clients (and
//!   for peers speaking the seed track's request/reply form) to inject
//!   entries, which are then replicated like any change. Between our own
//!   nodes `kv_merge` also carries `seq` (and maybe `acks`, `incarnation`,
//!   `your_incarnation`) and is one-way: never answered (see Replication
//!   and Restarts). A `seq` or `acks` from a non-peer is error 12.
//!
//! Last writer wins, by a total order every replica agrees on: the
//! timestamp ([`Ts`]: seconds since the epoch, kept as the exact `f64`
//! received, compared by `total_cmp`), then the writer's node id (`node`,
//! optional on the wire: absent before present), then the canonical JSON
//! text of the value (object keys sorted). So merging is commutative,
//! associative and idempotent. A node's own timestamps come from
//! `ctx.unix_micros()` through the framework's
//! [`WriteClock`], as `--timestamps` says:
//! - `wall` (the default): `max(now, last own + 1 µs)`. They never go back
//!   when the wall clock does, never repeat, and only our own writes count
//!   as "last own", so an entry from the far future is accepted (and wins,
//!   as LWW says, over our later writes) without dragging our clock. The
//!   price under clock skew: a node whose clock is behind stamps a write
//!   it makes after seeing a newer one from a node whose clock is ahead
//!   with an older timestamp, and the newer write loses (the lab's checker
//!   fails such a run: "write lost to an older one").
//! - `hlc`: a hybrid logical clock, `max(now, last seen + 1 µs)`, where
//!   "seen" is every timestamp this node stamped, merged (from peers and
//!   clients, winning or not) or recovered. A write made after the node
//!   saw another one is stamped after it, whatever the clocks, so it wins.
//!   The price: one entry from the far future drags every later write of
//!   the node there. A restarted node resumes after its own recovered
//!   writes only (what it merged before the crash is not on disk) until
//!   gossip brings the rest back.
//!
//! # Durability
//! A write is acknowledged only once it is durable: `write` (and
//! `bench_write`, and a client's `kv_merge`) appends the entry to the
//! node's log of its own updates and syncs it before the reply
//! ([`DurableUpdates`] of the store, which is a
//! [`maelstrom_framework::replication::Crdt`]). After a crash `init`
//! merges them back before anything else, stamps later writes after them,
//! and queues them for every peer. A corrupt log refuses `init` with an
//! error naming the file and byte; a write a crash cut short (never
//! acknowledged) is dropped. Without `--data-dir` the disk is in memory
//! and dies with the process, as before. Entries from peers are not made
//! durable: what this node must not lose is what only it has, and what a
//! peer sent, the peer keeps (its own writes on its disk) and sends again
//! once it hears that this node restarted (see Restarts).
//!
//! # Restarts
//! A node counts its starts on its disk (the framework's `starts` file)
//! and, once restarted, every `kv_merge` it sends carries `incarnation`
//! (how often it started before) and `your_incarnation` (the receiver's,
//! as last heard); both are left off while 0, so runs without kills send
//! the same bytes. The rules are the framework's
//! ([`maelstrom_framework::replication::incarnation`], shared with the
//! replicator):
//! - A peer on a newer incarnation is a new process that holds only what
//!   it recovered: what we sent the old one, acknowledged or not, is
//!   forgotten, and every key is due to it again until it shows it holds
//!   it. So acknowledging a peer's entries before making them durable is
//!   safe: if we die before we pass them on, the writer re-sends them.
//! - A `kv_merge` from an older incarnation (sent by a process since
//!   killed) counts for its entries alone: no acks, nothing owed.
//! - Acks count only when the message names our current incarnation: a
//!   restarted process numbers its `seq`s from 1 again.
//! - A restarted node announces itself to every peer at `init`: a
//!   `kv_merge` with no entries and no acks (an ack-only one always has
//!   acks), which the peer acknowledges. Until a peer names our
//!   incarnation, anti-entropy repeats it every two merge timeouts.
//!
//! # Replication
//! One-way `kv_merge {entries, seq, acks?}` between nodes, with
//! acknowledgements piggy-backed on the traffic going the other way.
//! - `seq`: the message's number in the sender's stream to that one peer
//!   (1, 2, … per peer). `acks`: the seqs of the destination's
//!   `kv_merge`s with entries that the sender has received since it last
//!   acknowledged (omitted when empty). A receiver that got a message
//!   acknowledged holds what it carried (or newer).
//! - Per peer, each node keeps the keys whose current entry the peer is not
//!   known to hold, each either due or in flight in one `kv_merge`. A key
//!   leaves that set when the peer acknowledges a `kv_merge` that carried
//!   our current entry, or sends us that entry (or a newer one); it enters
//!   it (due) when our entry changes, or when the peer sends us an older
//!   one.
//! - Push: a change arms a timer (`--push-delay-ms`); when it fires, every
//!   responsive peer with due keys gets one `kv_merge` with them (as many as
//!   fit), and with every acknowledgement we owe it. Writes within the
//!   delay share a message per peer; pushes are pipelined (no waiting for
//!   the previous one's acknowledgement).
//! - Acknowledgement: a peer's `kv_merge` with entries is acknowledged on
//!   our next `kv_merge` to it. If none goes within `--ack-delay-ms` of the
//!   oldest seq we owe it, an ack-only `kv_merge` (`entries: {}`, a seq of
//!   its own, never acknowledged) goes alone. Under steady writes on both
//!   sides almost every acknowledgement rides on a push.
//! - Relay: an entry that arrives straight from its writer (`node` is the
//!   sender) is not relayed, because its writer keeps it queued for every
//!   peer until acknowledged. Any other change (relayed entries, entries
//!   without a writer, entries from clients) is queued for every peer but
//!   the sender. The price: a peer that others can reach but the writer
//!   cannot gets the write only once the writer reaches it again.
//! - Loss detection is the framework's acknowledged link
//!   ([`maelstrom_framework::replication::link`], numbered by `seq`): a
//!   `kv_merge` is presumed lost when it is unacknowledged for the peer's
//!   usual ack time (smoothed, mean + 4 deviations + half an interval; at
//!   most `--merge-timeout-ms`), when the peer acknowledged one sent at
//!   least half an interval later (fast retransmit), or when the peer's
//!   next message comes after a merge timeout of silence (the link was
//!   cut). Its keys are then due again.
//! - Anti-entropy, every `--gossip-interval-ms` (+ up to 10 % jitter): a
//!   `kv_merge` overdue by those rules makes the peer count as silent:
//!   pushes skip it, and up to `--fanout` silent peers per round get their
//!   due keys, first at once, then after one merge timeout, then every two
//!   (the backoff cap, [`MAX_BACKOFF_DOUBLINGS`]). Anything received from a
//!   silent peer makes it responsive again. So a lost message costs one
//!   retry, and a peer cut off by a partition costs one message per second
//!   (with defaults), whatever the write rate; it catches up within about
//!   a second of the heal. With no loss nothing times out, and an idle
//!   cluster is silent.
//! - Bounded: at most 1,000 entries and about 512 KiB of entries per
//!   `kv_merge` (lines stay well under the 1 MiB input limit; a single
//!   entry bigger than that cannot be replicated); per peer at most 1,024
//!   unacknowledged messages and 1,024 owed seqs ([`MAX_PENDING_SEQS`],
//!   the oldest forgotten and re-sent beyond that). The due/in-flight sets
//!   hold at most every stored key once per peer.
//!
//! `configure {fanout?, gossip_interval_ms?, push_delay_ms?,
//! ack_delay_ms?, merge_timeout_ms?}` → `configure_ok` changes those at run
//! time, validated as a whole (error 12 and nothing changed on a bad
//! value: fanout ≥ 1, interval 1..=3,600,000 ms, delays 0..=3,600,000 ms,
//! timeout 1..=3,600,000 ms).
//!
//! # Flags
//! - `--fanout K` (default 2) and `--gossip-interval-ms MS` (default 100):
//!   anti-entropy, as above.
//! - `--push-delay-ms MS` (default 40): how long a change waits for others
//!   to share its push. 40 ms keeps convergence within 2 × 20 ms + 50 ms
//!   at 20 ms links with room to spare while coalescing enough for ≤ 2
//!   messages per write (README, "Measured figures", KV).
//! - `--ack-delay-ms MS` (default 100): how long an owed acknowledgement
//!   waits for a push to carry it.
//! - `--merge-timeout-ms MS` (default 500): the longest a `kv_merge` waits
//!   for its acknowledgement (the link waits less once it knows the peer's
//!   acks come sooner), and the silence after which a peer counts as cut
//!   off; keep it above the ack delay plus a round trip.
//! - `--timestamps wall|hlc` (default `wall`): how writes are stamped, as
//!   above. Not changed by `configure`.
//!
//! # Measured
//! In the README ("Measured figures", KV): messages and bytes per write,
//! convergence, stale reads, with and without partitions, against the seed
//! protocol (every `kv_merge` answered by `kv_merge_ok`).
//!
//! # Benchmark endpoints and metric definitions
//! - `bench_write {key, value}` → `bench_write_ok {write_id}`: a `write`
//!   whose convergence is tracked; ids are 1, 2, … per node.
//! - `bench_report` → `bench_report_ok {total_writes, total_gossip_msgs,
//!   msgs_per_write, keys_stored}`:
//!   - `total_writes`: `write` and `bench_write` requests this node
//!     accepted;
//!   - `total_gossip_msgs`: node-to-node messages this node sent: every
//!     `kv_merge` to a peer (pushes, retries, ack-only ones) and every
//!     `kv_merge_ok` answering a peer's `kv_merge` without `seq`;
//!   - `msgs_per_write`: `total_gossip_msgs / total_writes` as a float;
//!     the integer `0` when there were no writes;
//!   - `keys_stored`: keys in the local store.
//! - `bench_stats` → `bench_stats_ok` with:
//!   - `tracked_writes`: `bench_write`s accepted;
//!   - `converged_writes`: tracked writes that every peer acknowledged
//!     holding (or holding a newer entry of the key): by acknowledging a
//!     `kv_merge` that carried it, by sending it (or newer) to us, or by a
//!     `kv_merge_ok` to a seed-style merge; on a one-node cluster a write
//!     converges at once. Caveat: acknowledgements are delayed on purpose,
//!     so this is later than the moment the last peer got the write — by
//!     up to `--ack-delay-ms` plus a link latency when the peer has nothing
//!     to push (e.g. 160 ms instead of 50 ms for a lone write at 10 ms
//!     links), by the peer's push delay when it has. The cluster lab's
//!     convergence, which watches the replicas themselves, has no such
//!     lag;
//!   - `unconverged_writes`: tracked writes still waiting;
//!   - `abandoned_writes`: tracked writes given up unconverged because
//!     more than 10,000 (or 4 MiB of keys) were waiting;
//!   - `convergence_p50_ms`, `convergence_p99_ms`, `convergence_max_ms`:
//!     over converged writes, the time from the write to its convergence
//!     on this node's monotonic clock; quantiles by nearest rank from a
//!     fixed log-linear histogram (at most 3.1 % high), the max exact;
//!     `null` until a write has converged;
//!   - `gossip_msgs_sent`: as `total_gossip_msgs`;
//!   - `gossip_bytes_sent`: bytes of those messages' bodies as serialised
//!     JSON, without the envelope and the `msg_id`/`in_reply_to` the
//!     framework adds;
//!   - `merge_timeouts`: `kv_merge`s with entries presumed lost by the
//!     rules above (their entries were then re-sent);
//!   - `unsynced_keys`: keys whose current entry a peer is not yet known
//!     to hold, summed over peers (0 once replication has caught up);
//!   - `reads`: `read` and `kv_read` requests answered (found or not);
//!   - `stale_reads`: reads among the last 1,024 (and 1 MiB of keys) that
//!     this node later learned returned stale data: a `kv_merge` brought an
//!     entry of the key newer than the version returned (or any entry, if
//!     the read found nothing) with a timestamp before the read. A lower
//!     bound, and an estimate when clocks are skewed.
//!
//! Every counter saturates at `u64::MAX` instead of wrapping.
//!
//! # Bad input
//! Missing or ill-typed fields (a non-string key, a missing value, an entry
//! without `ts` or with a non-numeric one, an entry that is not an object)
//! are error 12 from the typed parse, before anything is applied: a
//! `kv_merge` with one bad entry changes nothing. A `ts` out of `f64`
//! range (`1e400`) is error 12 too, and non-finite timestamps are refused
//! by [`Ts`]'s own parse. So are a `seq` that is not a `u64`, `acks` that
//! are not a list of them, `acks` without `seq`, and `seq`/`acks` from a
//! non-peer, and `acks`, `incarnation` or `your_incarnation` without
//! `seq`; acks of seqs we never sent (or already had acknowledged) are
//! ignored. A bad `configure` is error 12 and changes nothing. A write the
//! disk refuses is answered with an error and not applied.

mod replication;
mod stats;
mod store;

use replication::{Peer, count};

use std::collections::BTreeMap;
use std::time::Duration;

use maelstrom_framework::gossip::MAX_INTERVAL_MS;
use maelstrom_framework::replication::DurableUpdates;
use maelstrom_framework::replication::incarnation::is_zero;
use maelstrom_framework::{
    Ctx, Error, GossipSettings, Handler, KeyVersions, Registration, Request, TimerId, Timestamps,
    View, Workload, WriteClock,
};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use stats::{MAX_TRACKED_WRITES, READ_WINDOW};
pub use store::{Entry, Outcome, Store, Ts, Version, canonical};

/// At most this many entries go in one `kv_merge`.
pub const MAX_MERGE_ENTRIES: usize = 1000;
/// A `kv_merge` stops taking entries once they reach this many bytes.
pub const MAX_MERGE_BYTES: usize = 512 << 10;
/// At most this many of a peer's seqs wait for our acknowledgement, and at
/// most this many of our `kv_merge`s wait for the peer's: beyond it the
/// oldest is forgotten (and its entries re-sent), so a peer that floods us
/// or never answers costs bounded memory.
pub const MAX_PENDING_SEQS: usize = 1024;
/// Retries to a silent peer back off: the first at once, then one merge
/// timeout later, then every two (2^1).
pub const MAX_BACKOFF_DOUBLINGS: u32 = 1;

// ---------------------------------------------------------------- messages

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Write {
        key: String,
        value: Value,
    },
    BenchWrite {
        key: String,
        value: Value,
    },
    KvRead {
        key: String,
    },
    Read {
        key: String,
    },
    KvMerge {
        entries: BTreeMap<String, Entry>,
        /// Only between nodes: this message's number in the sender's
        /// stream to us. Its presence makes the message one-way.
        seq: Option<u64>,
        /// Only with `seq`: the sender's acknowledgement of our messages.
        acks: Option<Vec<u64>>,
        /// Only with `seq`: how often the sender restarted before, and
        /// how often we did as it last heard (absent while 0).
        incarnation: Option<u64>,
        your_incarnation: Option<u64>,
    },
    Configure(Configure),
    BenchReport,
    BenchStats,
}

/// `configure`: every field optional; all valid or nothing changes.
#[derive(Debug, Default, Deserialize)]
pub struct Configure {
    pub fanout: Option<u64>,
    pub gossip_interval_ms: Option<u64>,
    pub push_delay_ms: Option<u64>,
    pub ack_delay_ms: Option<u64>,
    pub merge_timeout_ms: Option<u64>,
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    WriteOk {
        ts: Ts,
    },
    BenchWriteOk {
        write_id: u64,
    },
    KvReadOk {
        key: &'a str,
        value: &'a Value,
        ts: Ts,
    },
    ReadOk {
        value: &'a Value,
    },
    KvMergeOk {
        updated: u64,
    },
    ConfigureOk,
    BenchReportOk(BenchReport),
    BenchStatsOk(BenchStats),
}

/// What the node sends its peers: one-way, never answered.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Gossip<'a> {
    KvMerge {
        entries: BTreeMap<&'a str, &'a Entry>,
        seq: u64,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        acks: Vec<u64>,
        #[serde(skip_serializing_if = "is_zero")]
        incarnation: u64,
        #[serde(skip_serializing_if = "is_zero")]
        your_incarnation: u64,
    },
}

/// `bench_report_ok`; see the crate docs for each field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub total_writes: u64,
    pub total_gossip_msgs: u64,
    pub msgs_per_write: MsgsPerWrite,
    pub keys_stored: u64,
}

/// A ratio over writes: the integer `0` when there were no writes, else a
/// float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsgsPerWrite(pub Option<f64>);

impl Serialize for MsgsPerWrite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_u64(0),
            Some(ratio) => s.serialize_f64(ratio),
        }
    }
}

/// `bench_stats_ok`; see the crate docs for each field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchStats {
    pub tracked_writes: u64,
    pub converged_writes: u64,
    pub unconverged_writes: u64,
    pub abandoned_writes: u64,
    pub convergence_p50_ms: Option<f64>,
    pub convergence_p99_ms: Option<f64>,
    pub convergence_max_ms: Option<f64>,
    pub gossip_msgs_sent: u64,
    pub gossip_bytes_sent: u64,
    pub merge_timeouts: u64,
    pub unsynced_keys: u64,
    pub reads: u64,
    pub stale_reads: u64,
}

// ------------------------------------------------------------------- state

/// The workload's flags; `configure` changes them at run time.
#[derive(clap::Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    #[command(flatten)]
    pub gossip: GossipSettings,
    /// Milliseconds a change waits before it is pushed, so that writes close
    /// together share one kv_merge per peer.
    #[arg(long = "push-delay-ms", default_value_t = 40,
          value_parser = clap::value_parser!(u64).range(0..=MAX_INTERVAL_MS))]
    pub push_delay_ms: u64,
    /// Milliseconds a peer's kv_merge waits for a push of ours to carry its
    /// acknowledgement before one is sent alone.
    #[arg(long = "ack-delay-ms", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=MAX_INTERVAL_MS))]
    pub ack_delay_ms: u64,
    /// Milliseconds a kv_merge waits for its acknowledgement before its
    /// entries are sent again.
    #[arg(long = "merge-timeout-ms", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=MAX_INTERVAL_MS))]
    pub merge_timeout_ms: u64,
    /// How writes are stamped: `wall` (the node's own clock, monotonic)
    /// or `hlc` (a hybrid logical clock: after every timestamp seen).
    #[arg(long, value_enum, default_value_t = Timestamps::Wall)]
    pub timestamps: Timestamps,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            gossip: GossipSettings::default(),
            push_delay_ms: 40,
            ack_delay_ms: 100,
            merge_timeout_ms: 500,
            timestamps: Timestamps::Wall,
        }
    }
}

impl Options {
    /// These options with `c` applied, or error 12 naming the first bad
    /// value.
    fn configured(mut self, c: &Configure) -> Result<Options, Error> {
        self.gossip.configure(c.fanout, c.gossip_interval_ms)?;
        let fields = [
            ("push_delay_ms", c.push_delay_ms, 0, &mut self.push_delay_ms),
            ("ack_delay_ms", c.ack_delay_ms, 0, &mut self.ack_delay_ms),
            (
                "merge_timeout_ms",
                c.merge_timeout_ms,
                1,
                &mut self.merge_timeout_ms,
            ),
        ];
        for (name, value, min, field) in fields {
            if let Some(ms) = value {
                if !(min..=MAX_INTERVAL_MS).contains(&ms) {
                    return Err(Error::malformed(format!(
                        "{name} must be an integer from {min} to {MAX_INTERVAL_MS}"
                    )));
                }
                *field = ms;
            }
        }
        Ok(self)
    }

    fn push_delay(&self) -> Duration {
        Duration::from_millis(self.push_delay_ms)
    }

    fn ack_delay(&self) -> Duration {
        Duration::from_millis(self.ack_delay_ms)
    }

    fn merge_timeout(&self) -> Duration {
        Duration::from_millis(self.merge_timeout_ms)
    }
}

#[derive(Debug, Clone)]
pub enum Timer {
    Push,
    Ack,
    AntiEntropy,
}

/// One replica of the store and its benchmark counters.
#[derive(Debug)]
pub struct KvNode {
    options: Options,
    store: Store,
    clock: WriteClock,
    /// The writes made here (and entries clients merged here), durable
    /// before they are acknowledged.
    durable: DurableUpdates<Store>,
    /// How often this node started before, on its disk.
    incarnation: u64,
    /// Every node from `init` but this one, in `init` order.
    peers: Vec<Peer>,
    push_armed: bool,
    ack_armed: bool,
    anti_entropy: Option<TimerId>,
    last_write_id: u64,
    total_writes: u64,
    gossip_msgs: u64,
    gossip_bytes: u64,
    presumed_lost: u64,
    convergence: stats::Convergence,
    reads: stats::ReadLog,
}

impl KvNode {
    pub fn new(options: &Options) -> KvNode {
        KvNode {
            options: *options,
            store: Store::default(),
            clock: WriteClock::new(options.timestamps),
            durable: DurableUpdates::default(),
            incarnation: 0,
            peers: Vec::new(),
            push_armed: false,
            ack_armed: false,
            anti_entropy: None,
            last_write_id: 0,
            total_writes: 0,
            gossip_msgs: 0,
            gossip_bytes: 0,
            presumed_lost: 0,
            convergence: stats::Convergence::default(),
            reads: stats::ReadLog::default(),
        }
    }

    /// The replica's entries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings in force (flags, then `configure`).
    pub fn options(&self) -> Options {
        self.options
    }

    pub fn report(&self) -> BenchReport {
        BenchReport {
            total_writes: self.total_writes,
            total_gossip_msgs: self.gossip_msgs,
            msgs_per_write: MsgsPerWrite(
                (self.total_writes > 0).then(|| self.gossip_msgs as f64 / self.total_writes as f64),
            ),
            keys_stored: count(self.store.len()),
        }
    }

    pub fn stats(&self) -> BenchStats {
        let c = self.convergence.stats();
        BenchStats {
            tracked_writes: c.tracked,
            converged_writes: c.converged,
            unconverged_writes: c.unconverged,
            abandoned_writes: c.abandoned,
            convergence_p50_ms: c.p50_ms,
            convergence_p99_ms: c.p99_ms,
            convergence_max_ms: c.max_ms,
            gossip_msgs_sent: self.gossip_msgs,
            gossip_bytes_sent: self.gossip_bytes,
            merge_timeouts: self.presumed_lost,
            unsynced_keys: self.unsynced_keys(),
            reads: self.reads.reads(),
            stale_reads: self.reads.stale(),
        }
    }

    /// (peer, key) pairs not yet known to be in sync: 0 once replication
    /// has caught up.
    pub fn unsynced_keys(&self) -> u64 {
        self.peers
            .iter()
            .fold(0u64, |n, p| n.saturating_add(count(p.unsynced.len())))
    }

    /// Our `kv_merge`s waiting for an acknowledgement and peers' waiting
    /// for ours, over all peers: what replication holds in memory besides
    /// the unsynced keys.
    pub fn pending_seqs(&self) -> usize {
        self.peers
            .iter()
            .map(|p| p.link.in_flight_len() + p.link.owed_len())
            .sum()
    }

    fn peer_index(&self, id: &str) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }

    /// A client's write: stamped, made durable, stored (it may lose to an
    /// entry from the future) and queued for every peer either way, so
    /// that its convergence can be acknowledged. A write the disk refused
    /// is not applied (the client gets the error).
    fn write(&mut self, ctx: &mut Ctx<Self>, key: &str, value: Value) -> std::io::Result<Ts> {
        let ts = self.clock.stamp(ctx.unix_micros());
        let entry = Entry {
            value,
            ts,
            node: Some(ctx.id().to_owned()),
        };
        self.persist(ctx, [(key, &entry)])?;
        self.store.merge(key, entry);
        self.total_writes = self.total_writes.saturating_add(1);
        self.queue_for_peers(ctx, key, None);
        Ok(ts)
    }

    /// Makes `entries` durable before they are acknowledged.
    fn persist<'e>(
        &mut self,
        ctx: &mut Ctx<Self>,
        entries: impl IntoIterator<Item = (&'e str, &'e Entry)>,
    ) -> std::io::Result<()> {
        let mut delta = Store::default();
        for (key, entry) in entries {
            delta.merge(key, entry.clone());
        }
        self.durable.persist(ctx, &delta)
    }

    /// After a restart: what this node acknowledged before comes back
    /// into the store and goes to every peer again; later writes are
    /// stamped after it.
    fn recovered(&mut self, ctx: &mut Ctx<Self>, mine: Store) {
        for (key, entry) in mine.iter() {
            if entry.node.as_deref() == Some(ctx.id()) {
                self.clock.own(entry.ts);
            } else {
                self.clock.seen(entry.ts);
            }
            self.store.merge(key, entry.clone());
            self.queue_for_peers(ctx, key, None);
        }
    }

    fn read(&mut self, ctx: &Ctx<Self>, key: &str) -> Option<&Entry> {
        let entry = self.store.get(key);
        let at = Ts::from_micros(ctx.unix_micros());
        self.reads.record(key, entry.map(Entry::version), at);
        entry
    }
}

// ----------------------------------------------------------------- handler

impl KeyVersions for KvNode {
    fn version(&self, key: &str) -> Option<Ts> {
        self.store().get(key).map(|entry| entry.ts)
    }
}

impl Handler for KvNode {
    type Message = Message;
    type Timer = Timer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Versions(self))
    }

    /// Recovers the writes this node acknowledged before a crash (a
    /// corrupt log refuses init), then tells every peer it restarted.
    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        let mine = self.durable.recover(ctx)?;
        self.incarnation = ctx.incarnation();
        for id in ctx.peers() {
            // An id listed twice in init is still one peer.
            if !self.peers.iter().any(|p| p.id == *id) {
                self.peers.push(Peer::new(id.clone()));
            }
        }
        self.start_anti_entropy(ctx);
        self.recovered(ctx, mine);
        if self.incarnation > 0 {
            for i in 0..self.peers.len() {
                self.announce(ctx, i);
            }
        }
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Write { key, value } => {
                let ts = self.write(ctx, &key, value)?;
                ctx.reply(req, &Reply::WriteOk { ts });
            }
            Message::BenchWrite { key, value } => {
                let ts = self.write(ctx, &key, value)?;
                self.last_write_id = self.last_write_id.saturating_add(1);
                let write_id = self.last_write_id;
                let peers = self.peers.len();
                self.convergence
                    .track(write_id, &key, ts, ctx.id(), peers, ctx.now());
                ctx.reply(req, &Reply::BenchWriteOk { write_id });
            }
            Message::KvRead { key } => match self.read(ctx, &key) {
                Some(entry) => {
                    let (value, ts) = (&entry.value, entry.ts);
                    ctx.reply(
                        req,
                        &Reply::KvReadOk {
                            key: &key,
                            value,
                            ts,
                        },
                    );
                }
                None => ctx.reply_error(req, &key_not_found()),
            },
            Message::Read { key } => match self.read(ctx, &key) {
                Some(entry) => ctx.reply(
                    req,
                    &Reply::ReadOk {
                        value: &entry.value,
                    },
                ),
                None => ctx.reply_error(req, &key_not_found()),
            },
            Message::KvMerge {
                entries,
                seq,
                acks,
                incarnation,
                your_incarnation,
            } => {
                let between_nodes = replication::BetweenNodes {
                    seq,
                    acks,
                    incarnation,
                    your_incarnation,
                };
                self.on_merge(ctx, req, entries, between_nodes)?;
            }
            Message::Configure(c) => {
                let next = self.options.configured(&c)?;
                let restart =
                    next.gossip.gossip_interval_ms != self.options.gossip.gossip_interval_ms;
                self.options = next;
                if restart {
                    self.start_anti_entropy(ctx);
                }
                ctx.reply(req, &Reply::ConfigureOk);
            }
            Message::BenchReport => ctx.reply(req, &Reply::BenchReportOk(self.report())),
            Message::BenchStats => ctx.reply(req, &Reply::BenchStatsOk(self.stats())),
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: Timer) -> anyhow::Result<()> {
        match timer {
            Timer::Push => {
                self.push_armed = false;
                for i in 0..self.peers.len() {
                    let peer = &self.peers[i];
                    if !peer.silent && peer.has_due() {
                        self.send_merge(ctx, i);
                    }
                }
            }
            Timer::Ack => self.send_owed_acks(ctx),
            Timer::AntiEntropy => self.anti_entropy(ctx),
        }
        Ok(())
    }
}

/// Error 20 with the text the track's tests expect.
fn key_not_found() -> Error {
    Error::key_does_not_exist("Key not found")
}

// ------------------------------------------------------------ registration

impl Workload for KvNode {
    type Options = Options;

    fn new(options: &Options) -> Self {
        KvNode::new(options)
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<KvNode>(
        "kv",
        "last-writer-wins KV store replicated by one-way pushes with piggy-backed acks, with bench_write/bench_report/bench_stats"
    )
    .implements(&["kv"])
);
