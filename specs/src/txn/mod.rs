//! Maelstrom's transactional workloads, `txn-list-append` and
//! `txn-rw-register`: clients send `txn {txn: [[f, k, v], …]}` and expect
//! `txn_ok {txn: […]}` with every read's value filled in (`["r", k,
//! null]` → `["r", k, [1, 2]]` or `["r", k, 3]`) and writes echoed
//! (`["append", k, v]`, `["w", k, v]`).
//!
//! - [`generator`]: Maelstrom's generator (`--key-count`,
//!   `--max-txn-length`, `--max-writes-per-key`).
//! - [`history`]: the run's operations as typed transactions.
//! - [`list_append`], [`rw_register`]: each datatype's dependencies (ww,
//!   wr, rw) and the anomalies that need no cycle.
//! - [`graph`], [`cycles`]: the dependency graph, its strongly connected
//!   components and the cycle anomalies in them, within a step budget.
//! - [`models`]: `--consistency-models` and what each forbids.
//! - [`check`]: all of it, as a verdict.
//!
//! Why our own checker, not the `adya` crate (an Elle port on crates.io,
//! 0.1.0): its cycle search is bounded by wall-clock time, so one history
//! could be judged "unknown" on a loaded machine and valid on an idle one;
//! this lab's verdicts must be the same on every machine. It also brings
//! its own history format and database drivers.

pub mod anomaly;
pub mod check;
pub mod cycles;
pub mod generator;
pub mod graph;
pub mod history;
pub mod list_append;
pub mod models;
pub mod rw_register;

#[cfg(test)]
mod tests;

use std::marker::PhantomData;

use maelstrom_lab::lab::{Field, closed_schema};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Verdict};
use rand::rngs::StdRng;
use serde_json::{Value, json};

use check::CheckOptions;
use generator::TxnGenerator;
use history::Datatype;
use models::{ConsistencyModel, parse_model};

pub use list_append::ListAppend;
pub use rw_register::RwRegister;

/// The lab's flags, Maelstrom's names and defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct TxnOptions {
    /// Keys written at a time (Maelstrom sets none; Elle's default).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub key_count: u64,
    /// Micro-ops per transaction, at most.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_txn_length: u64,
    /// Writes to a key before it retires.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_writes_per_key: u64,
    /// The models the history must hold, comma-separated:
    /// read-uncommitted, read-committed, serializable, strict-serializable.
    #[arg(long, value_delimiter = ',', value_parser = parse_model,
          default_value = "strict-serializable")]
    pub consistency_models: Vec<ConsistencyModel>,
    /// Steps (edges looked at) the cycle search may take before the
    /// components it has not searched are "unknown".
    #[arg(long, default_value_t = 20_000_000)]
    pub cycle_search_budget: u64,
}

/// `txn-list-append` (`D` = [`ListAppend`]) or `txn-rw-register`
/// ([`RwRegister`]).
pub struct TxnLab<D> {
    options: TxnOptions,
    generator: TxnGenerator,
    datatype: PhantomData<D>,
}

impl<D: Datatype> Lab for TxnLab<D> {
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        let txn = self.generator.next(rng, D::WRITE);
        Some(json!({"type": "txn", "txn": txn}))
    }

    /// Maelstrom's txn workloads have no final phase.
    fn final_reads(&self) -> Vec<Value> {
        Vec::new()
    }

    fn validate_reply(&self, _kind: &str, reply: &Value) -> Result<(), String> {
        closed_schema(reply, &[("txn", Field::Array)])
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        check::check::<D>(
            history,
            &CheckOptions {
                models: self.options.consistency_models.clone(),
                budget: self.options.cycle_search_budget,
            },
        )
    }
}

impl<D: Datatype> LabSpec for TxnLab<D> {
    type Options = TxnOptions;

    fn new(options: &TxnOptions, _: &LabSetup) -> Self {
        TxnLab {
            options: options.clone(),
            generator: TxnGenerator::new(
                options.key_count as usize,
                options.max_txn_length as usize,
                options.max_writes_per_key,
            ),
            datatype: PhantomData,
        }
    }
}
