//! The clock nemesis in the simulator, with a test-only node, `Wall`, that
//! answers `time` with what its clocks read: its wall clock
//! (`ctx.unix_micros()`) reads skewed by the offset the nemesis applied and
//! lists, and true again after the reset; its monotonic clock and its
//! timers are untouched; a fixed seed replays exactly with every fault at
//! once; and clock faults, drawing from a stream of their own, leave a
//! partition-only run's partitions where they were.

use std::time::Duration;

use maelstrom_framework::{Ctx, Handler, Node, NodeFactory, Process, Request, View};
use maelstrom_lab::clock::ClockSkew;
use maelstrom_lab::cluster::UNIX_BASE_MICROS;
use maelstrom_lab::network::NetStats;
use maelstrom_lab::report::{FaultAction, FaultEvent};
use maelstrom_lab::{
    self as sim, Cluster, Faults, History, Lab, LabFactory, LabSetup, Nemesis, NetConfig,
    SimConfig, Verdict,
};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Msg {
    Time,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out {
    TimeOk {
        unix_micros: u64,
        elapsed_micros: u64,
        /// What the clocks read at the last timer tick.
        tick_unix_micros: u64,
        tick_elapsed_micros: u64,
    },
}

/// Answers `time`; ticks every 10 ms, noting its clocks.
#[derive(Default)]
struct Wall {
    tick: (u64, u64),
}

#[derive(Debug, Clone)]
struct Tick;

impl Handler for Wall {
    type Message = Msg;
    type Timer = Tick;

    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        ctx.every(Duration::from_millis(10), Duration::ZERO, Tick);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
        let Msg::Time = msg;
        let out = Out::TimeOk {
            unix_micros: ctx.unix_micros(),
            elapsed_micros: ctx.now().as_micros() as u64,
            tick_unix_micros: self.tick.0,
            tick_elapsed_micros: self.tick.1,
        };
        ctx.reply(req, &out);
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, _: Tick) -> anyhow::Result<()> {
        self.tick = (ctx.unix_micros(), ctx.now().as_micros() as u64);
        Ok(())
    }
}

fn wall_nodes() -> NodeFactory {
    std::sync::Arc::new(|seed| Box::new(Node::new(Wall::default(), seed)) as Box<dyn Process>)
}

/// Two initialised Wall nodes.
fn wall_cluster() -> Cluster {
    let ids: Vec<String> = vec!["n0".into(), "n1".into()];
    let nodes = wall_nodes();
    let processes = (0..2).map(|s| nodes(s)).collect();
    let mut cluster = Cluster::new(ids.clone(), processes, NetConfig::default(), 1);
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    for i in 0..2 {
        let init = json!({"type": "init", "node_id": ids[i], "node_ids": ids});
        cluster.client_request("c0", i, 1, &init, &mut nothing);
    }
    cluster.take_client_messages();
    cluster
}

/// Runs to `at` and asks `node` what its clocks read.
fn time_at(cluster: &mut Cluster, at: Duration, node: usize) -> Value {
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    cluster.run_until(at, &mut nothing);
    cluster.client_request("c1", node, 1, &json!({"type": "time"}), &mut nothing);
    let mut replies = cluster.take_client_messages();
    assert_eq!(replies.len(), 1);
    replies.remove(0).body
}

fn micros(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap()
}

#[test]
fn a_bumped_clock_reads_skewed_while_timers_keep_virtual_time() {
    let mut cluster = wall_cluster();
    let s = Duration::from_secs;
    let true_at = |t: Duration| (UNIX_BASE_MICROS + t.as_micros() as u64) as i64;
    assert_eq!(
        micros(&time_at(&mut cluster, s(1), 1), "unix_micros"),
        true_at(s(1))
    );
    cluster.set_clock(1, ClockSkew::Offset { micros: -250_000 });
    let n1 = time_at(&mut cluster, s(2), 1);
    let n0 = time_at(&mut cluster, s(2), 0);
    assert_eq!(micros(&n1, "unix_micros"), true_at(s(2)) - 250_000, "{n1}");
    assert_eq!(
        micros(&n0, "unix_micros"),
        true_at(s(2)),
        "only n1 is skewed"
    );
    // Its monotonic clock and timers are untouched: it ticked on time, and
    // saw the skewed wall clock when it did.
    assert_eq!(micros(&n1, "elapsed_micros"), 2_000_000);
    assert_eq!(micros(&n1, "tick_elapsed_micros"), 2_000_000);
    assert_eq!(micros(&n1, "tick_unix_micros"), true_at(s(2)) - 250_000);
    // A clock set back reads earlier than it did before: it went backwards.
    assert!(micros(&n1, "unix_micros") < true_at(s(1)) + 1_000_000);
    cluster.set_clock(1, ClockSkew::OnTime);
    let n1 = time_at(&mut cluster, s(3), 1);
    assert_eq!(
        micros(&n1, "unix_micros"),
        true_at(s(3)),
        "reset: true again"
    );
}

#[test]
fn a_strobed_clock_flips_at_its_edges_when_the_node_wakes() {
    let mut cluster = wall_cluster();
    let ms = Duration::from_millis;
    let true_at = |t: Duration| (UNIX_BASE_MICROS + t.as_micros() as u64) as i64;
    time_at(&mut cluster, ms(1000), 0);
    cluster.set_clock(
        0,
        ClockSkew::Strobe {
            micros: 40_000,
            period: ms(25),
            since: ms(1000),
        },
    );
    for (t, skewed) in [
        (1000, true),
        (1024, true),
        (1025, false),
        (1049, false),
        (1050, true),
    ] {
        let v = time_at(&mut cluster, ms(t), 0);
        let offset = if skewed { 40_000 } else { 0 };
        assert_eq!(
            micros(&v, "unix_micros"),
            true_at(ms(t)) + offset,
            "at {t} ms"
        );
    }
    // Woken by its timer at 1060 ms (third period: skewed) and 1080 ms
    // (fourth: true).
    let v = time_at(&mut cluster, ms(1065), 0);
    assert_eq!(micros(&v, "tick_unix_micros"), true_at(ms(1060)) + 40_000);
    let v = time_at(&mut cluster, ms(1085), 0);
    assert_eq!(micros(&v, "tick_unix_micros"), true_at(ms(1080)));
}

/// Asks random nodes the time; checks every answer against the offsets
/// the report's fault list gives.
struct WallLab;

impl Lab for WallLab {
    fn next_op(&mut self, _: &mut StdRng) -> Option<Value> {
        Some(json!({"type": "time"}))
    }
    fn final_reads(&self) -> Vec<Value> {
        Vec::new()
    }
    fn check(&mut self, _: &History, _: &NetStats) -> Verdict {
        Verdict::new()
    }
}

fn wall_lab() -> LabFactory {
    Box::new(|_: &LabSetup| Box::new(WallLab) as Box<dyn Lab>)
}

/// The offset of node `node` at `t`, in microseconds, as the fault list
/// says, and the clock fault that set it: the last bump, strobe or reset
/// of that node before `t`.
fn listed_offset(faults: &[FaultEvent], node: &str, t: Duration) -> (i64, Option<FaultAction>) {
    let mut last = (0, None);
    for f in faults.iter().filter(|f| f.at <= t) {
        let names = f.groups.as_deref().unwrap_or("");
        let named = names
            .trim_matches(['[', ']'])
            .split_whitespace()
            .any(|n| n == node);
        match f.action {
            FaultAction::ClockReset if named => last = (0, None),
            FaultAction::ClockBump | FaultAction::ClockStrobe => {
                if let Some(c) = f.clocks.iter().find(|c| c.node == node) {
                    let offset = match c.period_ms {
                        None => c.offset_ms * 1000,
                        Some(period) => {
                            let periods = (t - f.at).as_micros() / (u128::from(period) * 1000);
                            if periods % 2 == 0 {
                                c.offset_ms * 1000
                            } else {
                                0
                            }
                        }
                    };
                    last = (offset, Some(f.action));
                }
            }
            _ => {}
        }
    }
    last
}

fn clock_config(seed: u64, nemesis: &[Nemesis]) -> SimConfig {
    SimConfig {
        nodes: 5,
        latency: 10.0,
        rate: 200.0,
        time_limit: 20.0,
        nemesis: Faults::of(nemesis),
        nemesis_interval: 1.0,
        settle: 0.0,
        seed,
        ..SimConfig::default()
    }
}

#[test]
fn nodes_read_the_offsets_the_report_lists_and_true_time_after_the_reset() {
    let (mut bumped, mut strobed, mut true_ops) = (0, 0, 0);
    for seed in 1..=3 {
        let cfg = clock_config(seed, &[Nemesis::Clock]);
        let report = sim::run_one("wall", &wall_nodes(), &wall_lab(), &cfg);
        let actions: Vec<FaultAction> = report.faults.iter().map(|f| f.action).collect();
        assert!(actions.contains(&FaultAction::ClockReset), "{actions:?}");
        assert_eq!(
            report.max_clock_skew_ms(),
            report
                .faults
                .iter()
                .flat_map(|f| &f.clocks)
                .map(|c| c.offset_ms.unsigned_abs())
                .max()
                .unwrap()
        );
        for op in &report.history.ops {
            let body = op.ok_body().expect("every time request is answered");
            // The simulator answers a client at once: invoked == completed.
            assert_eq!(op.invoke, op.complete);
            let node = &report.history.node_ids[op.node];
            let (offset, by) = listed_offset(&report.faults, node, op.invoke);
            let true_now = (UNIX_BASE_MICROS + op.invoke.as_micros() as u64) as i64;
            assert_eq!(
                micros(body, "unix_micros"),
                true_now + offset,
                "seed {seed}, {node} at {:?}",
                op.invoke
            );
            match (offset, by) {
                (0, _) => true_ops += 1,
                (_, Some(FaultAction::ClockStrobe)) => strobed += 1,
                _ => bumped += 1,
            }
        }
        let table = report.table();
        assert!(table.contains("clock fault(s) (skew up to"), "{table}");
    }
    // Not vacuous: answers read skewed, by bumps and by strobes, and true.
    assert!(
        bumped > 100 && strobed > 100 && true_ops > 100,
        "{bumped} {strobed} {true_ops}"
    );
}

#[test]
fn every_fault_at_once_replays_from_the_seed() {
    let all = [
        Nemesis::Partition,
        Nemesis::Kill,
        Nemesis::Pause,
        Nemesis::Clock,
    ];
    let cfg = clock_config(7, &all);
    let json = || {
        let report = sim::run_one("wall", &wall_nodes(), &wall_lab(), &cfg);
        serde_json::to_string(&report).unwrap() + &report.table()
    };
    let a = json();
    assert_eq!(a, json(), "one seed, one run");
    for action in [
        "partition",
        "heal",
        "kill",
        "restart",
        "pause",
        "resume",
        "clock-bump",
        "clock-strobe",
        "clock-reset",
    ] {
        assert!(a.contains(&format!("\"action\":\"{action}\"")), "{action}");
    }
    let other = SimConfig { seed: 8, ..cfg };
    let b = sim::run_one("wall", &wall_nodes(), &wall_lab(), &other);
    let skew = b.metrics().into_iter().find(|m| m.name == "max clock skew");
    assert_eq!(skew.map(|m| m.value), Some(b.max_clock_skew_ms() as f64));
    assert!(b.max_clock_skew_ms() > 0);
    assert_ne!(a, serde_json::to_string(&b).unwrap() + &b.table());
}

#[test]
fn clock_faults_leave_the_partitions_where_they_were() {
    // A node that never reads its clock behaves the same under clock
    // faults; they draw from their own stream, so the partitions (the
    // driver's draws) and the clients' operations stay as they were.
    let run = |nemesis: &[Nemesis]| {
        let report = sim::run_one(
            "wall",
            &wall_nodes(),
            &wall_lab(),
            &clock_config(3, nemesis),
        );
        let partitions: Vec<String> = report
            .faults
            .iter()
            .filter(|f| matches!(f.action, FaultAction::Partition | FaultAction::Heal))
            .map(|f| serde_json::to_string(f).unwrap())
            .collect();
        let ops: Vec<(Duration, usize)> = report
            .history
            .ops
            .iter()
            .map(|o| (o.invoke, o.node))
            .collect();
        (partitions, ops)
    };
    let (parts, ops) = run(&[Nemesis::Partition]);
    let (parts_clock, ops_clock) = run(&[Nemesis::Partition, Nemesis::Clock]);
    assert!(parts.len() > 4, "{parts:?}");
    assert_eq!(parts, parts_clock);
    assert_eq!(ops, ops_clock);
}
