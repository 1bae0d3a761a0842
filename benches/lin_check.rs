//! The lin-kv checker on a 10,000-operation history of 5 keys: 10 clients
//! per key (Maelstrom's 2 × 5 nodes), each operation taking 1–10 ms and
//! overlapping several others, half reads, the rest write/cas/cas of
//! values 0..4, 1 % indeterminate; results computed by a correct register
//! at a random instant inside each operation, so the history is
//! linearizable and the search must find every order. Then the same with
//! 20 % indeterminate operations and a budget of 100,000 steps per key:
//! it must end (unknown or not) within the bound.
//!
//! `cargo bench --bench lin_check` (SEED: the history's seed, default 1)

use std::time::{Duration, Instant};

use maelstrom_lab::lab::Indeterminate;
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Op, Outcome};
use maelstrom_specs::lin_kv::{self, LinKvLab, LinKvLabOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const KEYS: u64 = 5;
const CLIENTS_PER_KEY: u64 = 10;
const OPS: usize = 10_000;

/// One generated operation before its result is known.
struct Planned {
    key: u64,
    client: u64,
    request: Value,
    invoke: u64,
    complete: u64,
    /// When it takes effect (µs), or never (an indeterminate one that did
    /// not happen).
    point: Option<u64>,
    indeterminate: bool,
}

fn plan(rng: &mut StdRng, indeterminate: f64) -> Vec<Planned> {
    let mut ops = Vec::new();
    let per_client = OPS as u64 / (KEYS * CLIENTS_PER_KEY);
    for key in 0..KEYS {
        for c in 0..CLIENTS_PER_KEY {
            let client = key * CLIENTS_PER_KEY + c;
            let mut t = rng.random_range(0..5_000u64);
            for _ in 0..per_client {
                let request = lin_kv::request(key, c < CLIENTS_PER_KEY / 2, rng);
                let took = rng.random_range(1_000..10_000u64);
                let info = rng.random_bool(indeterminate);
                let point = t + rng.random_range(0..took);
                let point = (!info || rng.random_bool(0.5)).then_some(point);
                ops.push(Planned {
                    key,
                    client,
                    request,
                    invoke: t,
                    complete: t + took,
                    point,
                    indeterminate: info,
                });
                t += took + rng.random_range(0..5_000u64);
            }
        }
    }
    ops
}

/// A correct register's answers, in the order the operations take effect.
fn outcomes(ops: &[Planned]) -> Vec<Outcome> {
    let mut outcome = vec![
        Outcome::Info {
            reason: Indeterminate::TimedOut {
                after: Duration::from_secs(1)
            }
        };
        ops.len()
    ];
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].point.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].key, ops[i].point));
    let mut state: Vec<Option<i64>> = vec![None; KEYS as usize];
    let fail = |code| Outcome::Fail {
        code,
        text: String::new(),
    };
    for i in order {
        let (r, reg) = (&ops[i].request, &mut state[ops[i].key as usize]);
        let result = match r["type"].as_str().unwrap() {
            "read" => match reg {
                Some(v) => Outcome::Ok {
                    body: json!({"value": v}),
                },
                None => fail(20),
            },
            "write" => {
                *reg = r["value"].as_i64();
                Outcome::Ok { body: json!({}) }
            }
            _ => match reg {
                Some(v) if Some(*v) == r["from"].as_i64() => {
                    *reg = r["to"].as_i64();
                    Outcome::Ok { body: json!({}) }
                }
                Some(_) => fail(22),
                None => fail(20),
            },
        };
        if !ops[i].indeterminate {
            outcome[i] = result;
        }
    }
    outcome
}

fn history(seed: u64, indeterminate: f64) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut planned = plan(&mut rng, indeterminate);
    planned.sort_by_key(|p| (p.invoke, p.client));
    let results = outcomes(&planned);
    // Positions in one order of events: completions before invocations
    // at the same instant.
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        events.push((p.invoke, true, i));
        events.push((p.complete, false, i));
    }
    events.sort();
    let mut index = vec![(0, 0); planned.len()];
    for (pos, &(_, is_invoke, i)) in events.iter().enumerate() {
        if is_invoke {
            index[i].0 = pos as u64;
        } else {
            index[i].1 = pos as u64;
        }
    }
    let ops = planned
        .into_iter()
        .zip(results)
        .enumerate()
        .map(|(i, (p, outcome))| Op {
            client: format!("c{}", p.client),
            node: (p.client % 5) as usize,
            kind: p.request["type"].as_str().unwrap().to_string(),
            request: p.request,
            invoke: Duration::from_micros(p.invoke),
            complete: Duration::from_micros(p.complete),
            outcome,
            final_read: false,
            invoke_index: index[i].0,
            complete_index: index[i].1,
        })
        .collect();
    History {
        ops,
        node_ids: (0..5).map(|n| format!("n{n}")).collect(),
        healed_at: None,
    }
}

fn run(name: &str, h: &History, options: &LinKvLabOptions) {
    let setup = LabSetup {
        node_ids: h.node_ids.clone(),
    };
    let mut lab = LinKvLab::new(options, &setup);
    let start = Instant::now();
    let verdict = lab.check(h, &NetStats::default());
    let secs = start.elapsed().as_secs_f64();
    let judged = if !verdict.valid {
        "not linearizable"
    } else if !verdict.unknown.is_empty() {
        "unknown"
    } else {
        "linearizable"
    };
    let metric = |name: &str| {
        verdict
            .metrics
            .iter()
            .find(|m| m.name == name)
            .map_or(0.0, |m| m.value)
    };
    println!(
        "{name:<28} {:>6} ops {:>10.0} steps {:>9.0} states {secs:>8.3} s  {judged}",
        h.ops.len(),
        metric("search steps, most on a key"),
        metric("search states, most on a key"),
    );
    for line in verdict.failures.iter().chain(&verdict.unknown).take(3) {
        println!("  {line}");
    }
}

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let defaults = LinKvLabOptions {
        process_limit: 20,
        per_key_limit: None,
        lin_steps: maelstrom_specs::lin_kv::linearizable::Budget::default().steps,
        lin_states: maelstrom_specs::lin_kv::linearizable::Budget::default().states,
    };
    println!("lin-kv checker, seed {seed}");
    run("1 % indeterminate", &history(seed, 0.01), &defaults);
    let tight = LinKvLabOptions {
        lin_steps: 100_000,
        ..defaults
    };
    run("20 % indeterminate, 100k", &history(seed, 0.2), &tight);
}
