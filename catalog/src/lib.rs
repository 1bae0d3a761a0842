//! Every workload spec and every node of ours, in one place. `inventory`
//! only registers what a binary links, so whatever needs them all (the
//! binary, the tests, the benches, the fuzz targets) links this crate —
//! `use maelstrom_catalog as _;` — instead of naming each one. Adding a
//! node crate: one line in `Cargo.toml` here and one `use` below; a test
//! (`tests/catalog.rs` at the root) fails if a crate under `workloads/` is
//! missing.

use broadcast_fanout as _;
use echo as _;
use g_set as _;
use gossip_tuning as _;
use kafka_log as _;
use kv_bench as _;
use lin_kv_proxy as _;
use maelstrom_specs as _;
use pn_counter_gossip as _;
use seq_kv_counter as _;
use txn_kv as _;
use unique_ids as _;
