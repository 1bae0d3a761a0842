//! Speed of the transactional checker: 10,000 transactions from 5
//! concurrent clients, built here (no simulator), checked as
//! txn-list-append and txn-rw-register. Two histories each: one that is
//! strict serializable (every transaction takes effect at once between its
//! invocation and completion: the whole graph is searched and nothing is
//! found), and one where every transaction reads the state as of its
//! invocation and writes at its completion (snapshot-like: lost updates
//! and write skew everywhere, so hundreds of cycles to find and name).
//!
//! `cargo bench --bench txn_check`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use maelstrom_lab::lab::{History, Op, Outcome};
use maelstrom_specs::txn::check::{CheckOptions, check};
use maelstrom_specs::txn::generator::TxnGenerator;
use maelstrom_specs::txn::history::Datatype;
use maelstrom_specs::txn::models::ConsistencyModel;
use maelstrom_specs::txn::{ListAppend, RwRegister};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const TXNS: usize = 10_000;
const CLIENTS: usize = 5;

/// Per key: the list (list-append) or the last value (rw-register).
type Store = BTreeMap<i64, Vec<i64>>;

/// Runs `mops`: reads see `seen` (a snapshot) and the transaction's own
/// writes; writes go to both.
fn apply(store: &mut Store, mut seen: Store, mops: &Value, append: bool) -> Value {
    let done: Vec<Value> = mops
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let key = m[1].as_i64().unwrap();
            if m[0] == "r" {
                let value = match (append, seen.get(&key)) {
                    (_, None) => Value::Null,
                    (true, Some(list)) => json!(list),
                    (false, Some(list)) => json!(list.last()),
                };
                json!(["r", key, value])
            } else {
                let v = m[2].as_i64().unwrap();
                for s in [&mut *store, &mut seen] {
                    let list = s.entry(key).or_default();
                    if !append {
                        list.clear();
                    }
                    list.push(v);
                }
                m.clone()
            }
        })
        .collect();
    Value::Array(done)
}

/// `stale`: reads see the store as of the invocation, writes land at the
/// completion; otherwise a transaction runs whole at one instant.
fn history<D: Datatype>(seed: u64, stale: bool) -> History {
    let append = D::WRITE == "append";
    let mut rng = StdRng::seed_from_u64(seed);
    let mut generator = TxnGenerator::new(3, 4, 16);
    let mut store = Store::new();
    let mut index = 0u64;
    // Per client: (request micro-ops, invoke index, snapshot at invoke).
    let mut open: Vec<Option<(Value, u64, Store)>> = vec![None; CLIENTS];
    let mut ops = Vec::with_capacity(TXNS);
    while ops.len() < TXNS {
        let c = rng.random_range(0..CLIENTS);
        match open[c].take() {
            None => {
                open[c] = Some((generator.next(&mut rng, D::WRITE), index, store.clone()));
                index += 1;
            }
            Some((mops, invoke, snapshot)) => {
                let seen = if stale { snapshot } else { store.clone() };
                let done = apply(&mut store, seen, &mops, append);
                ops.push(Op {
                    client: format!("c{c}"),
                    node: c,
                    kind: "txn".into(),
                    request: json!({"type": "txn", "txn": mops}),
                    invoke: Duration::from_micros(invoke),
                    complete: Duration::from_micros(index),
                    outcome: Outcome::Ok {
                        body: json!({"type": "txn_ok", "txn": done}),
                    },
                    final_read: false,
                    invoke_index: invoke,
                    complete_index: index,
                });
                index += 1;
            }
        }
    }
    ops.sort_by_key(|op| op.invoke_index);
    History {
        ops,
        node_ids: (0..CLIENTS).map(|n| format!("n{n}")).collect(),
        healed_at: None,
    }
}

fn bench<D: Datatype>(name: &str, stale: bool, model: ConsistencyModel) {
    let h = history::<D>(7, stale);
    let options = CheckOptions {
        models: vec![model],
        budget: 20_000_000,
    };
    let mut best = f64::INFINITY;
    let mut verdict = None;
    for _ in 0..5 {
        let start = Instant::now();
        let v = check::<D>(&h, &options);
        best = best.min(start.elapsed().as_secs_f64());
        verdict = Some(v);
    }
    let v = verdict.unwrap();
    let metric = |n: &str| {
        v.metrics
            .iter()
            .find(|m| m.name == n)
            .map_or(0.0, |m| m.value)
    };
    let anomalies: Vec<String> = v
        .metrics
        .iter()
        .filter_map(|m| {
            Some(format!(
                "{} {}",
                m.name.strip_prefix("anomalies ")?,
                m.value
            ))
        })
        .collect();
    println!(
        "{name:<16} {:<26} {:>7.1} ms  valid {:<5} unknown {}  edges ww {} wr {} rw {} rt {}  \
         steps {}  anomalies: {}",
        format!(
            "{} {}",
            if stale { "stale" } else { "atomic" },
            model.name()
        ),
        best * 1000.0,
        v.valid,
        !v.unknown.is_empty(),
        metric("dependency edges ww"),
        metric("dependency edges wr"),
        metric("dependency edges rw"),
        metric("dependency edges real time"),
        metric("cycle search steps"),
        anomalies.join(", "),
    );
}

fn main() {
    println!("{TXNS} transactions, {CLIENTS} clients, best of 5");
    bench::<ListAppend>(
        "txn-list-append",
        false,
        ConsistencyModel::StrictSerializable,
    );
    bench::<ListAppend>("txn-list-append", true, ConsistencyModel::Serializable);
    bench::<RwRegister>(
        "txn-rw-register",
        false,
        ConsistencyModel::StrictSerializable,
    );
    bench::<RwRegister>("txn-rw-register", true, ConsistencyModel::Serializable);
}
