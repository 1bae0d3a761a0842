//! Maelstrom's workloads as the lab runs them, apart from any node: each is
//! its clients' operations, final reads, checker and metrics, named as
//! Maelstrom names it, and judges a node through its messages only (ours,
//! or any program under `--bin`). A node that shows its state through
//! `maelstrom_framework::View` also gets the simulator's exact
//! measurements.
//!
//! - [`echo`]: Maelstrom's `echo`.
//! - [`broadcast`]: Maelstrom's `broadcast` (Jepsen's set-full, delivery
//!   latency).
//!   The same module is Maelstrom's `g-set` ([`broadcast::GSetLab`]).
//! - [`counter`]: Maelstrom's `g-counter` and `pn-counter`.
//! - [`kafka`]: Maelstrom's `kafka` (Jepsen's kafka checker, `assign`
//!   clients).
//! - [`kv`]: our `kv`, the seed's last-writer-wins store.
//! - [`lin_kv`]: Maelstrom's `lin-kv` (a linearizability checker per key).
//! - [`key_pool`]: Elle's active keys, which the txn and kafka clients
//!   draw from.
//! - [`topology`]: Maelstrom's `--topology` shapes, for `broadcast`.
//! - [`unique_ids`]: Maelstrom's `unique-ids`.
//! - [`txn`]: Maelstrom's `txn-list-append` and `txn-rw-register`, with an
//!   Elle-style checker.

pub mod broadcast;
pub mod counter;
pub mod echo;
pub mod kafka;
pub mod key_pool;
pub mod kv;
pub mod lin_kv;
pub mod topology;
pub mod txn;
pub mod unique_ids;

use maelstrom_lab::{SpecRegistration, inventory};

inventory::submit!(SpecRegistration::new::<echo::EchoLab>(
    "echo",
    "Maelstrom's echo: every echo comes back with what was sent"
));
inventory::submit!(SpecRegistration::new::<broadcast::BroadcastLab>(
    "broadcast",
    "Maelstrom's broadcast: every acknowledged value in every node's reads (set-full)"
));
inventory::submit!(SpecRegistration::new::<broadcast::GSetLab>(
    "g-set",
    "Maelstrom's g-set: every acknowledged element in every node's reads (set-full)"
));
inventory::submit!(SpecRegistration::new::<counter::CounterLab<false>>(
    "pn-counter",
    "Maelstrom's pn-counter: adds of -5..4; final reads equal the acknowledged sum"
));
inventory::submit!(SpecRegistration::new::<counter::CounterLab<true>>(
    "g-counter",
    "Maelstrom's g-counter: adds of 0..4; final reads equal the acknowledged sum"
));
inventory::submit!(SpecRegistration::new::<unique_ids::UniqueIdsLab>(
    "unique-ids",
    "Maelstrom's unique-ids: no acknowledged id returned twice"
));
inventory::submit!(SpecRegistration::new::<kv::KvLab>(
    "kv",
    "the seed's last-writer-wins store: no lost writes, stale reads and convergence measured"
));
inventory::submit!(SpecRegistration::new::<lin_kv::LinKvLab>(
    "lin-kv",
    "Maelstrom's lin-kv: read, write and cas on independent keys; each key linearizable (cas-register)"
));
inventory::submit!(SpecRegistration::new::<kafka::KafkaLab>(
    "kafka",
    "Maelstrom's kafka: no lost, duplicate, skipped or inconsistent offsets in per-key logs"
));
inventory::submit!(SpecRegistration::new::<txn::TxnLab<txn::ListAppend>>(
    "txn-list-append",
    "Maelstrom's txn-list-append: no G0, G1, G-single, G2 (Elle-style) under --consistency-models"
));
inventory::submit!(SpecRegistration::new::<txn::TxnLab<txn::RwRegister>>(
    "txn-rw-register",
    "Maelstrom's txn-rw-register: no G0, G1, G-single, G2 (Elle-style) under --consistency-models"
));
