//! Kills and pauses on real processes: a killed node's process is gone
//! and its restart is a new one that wants `init`; what was sent to the
//! dead process never reaches the new one; a paused node answers nothing
//! until resumed, then everything in order, and is not taken for a stalled
//! one; dropping the cluster ends every process. First on a cluster driven
//! through the `Backend` trait with `tests/nodes/notes_node.py`, then
//! through `maelstrom-node cluster --nemesis`. Clock faults: our node's
//! wall clock (through its offset file) and a foreign node's (through
//! libfaketime) read skewed.

#![cfg(unix)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use maelstrom_framework::node::View;
use maelstrom_lab::clock::ClockSkew;
use maelstrom_lab::node_clocks::{ClockHook, NodeClocks};
use maelstrom_lab::processes::ProcessCluster;
use maelstrom_lab::{Backend, NetConfig};
use serde_json::{Value, json};
use support::{cluster, report_json, results_dir, text};

/// `nodes` notes nodes on links of 50 ms, logging into `logs`.
fn notes_cluster(nodes: usize, stall_limit: Duration, logs: Option<&Path>) -> ProcessCluster {
    python_cluster(&["notes_node.py"], nodes, stall_limit, logs)
}

/// `nodes` processes of `python3 tests/nodes/NODE ARGS…` on links of 50 ms.
fn python_cluster(
    node: &[&str],
    nodes: usize,
    stall_limit: Duration,
    logs: Option<&Path>,
) -> ProcessCluster {
    let ids: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
    let script = format!("{}/tests/nodes/{}", env!("CARGO_MANIFEST_DIR"), node[0]);
    let mut command = vec!["python3".to_string(), script];
    command.extend(node[1..].iter().map(|a| a.to_string()));
    let commands = vec![command; nodes];
    let net = NetConfig {
        latency: Duration::from_millis(50),
        ..NetConfig::default()
    };
    ProcessCluster::start(commands, ids, net, 1, stall_limit, logs).expect("start the nodes")
}

fn nothing() -> impl FnMut(Duration, usize, Option<View<'_>>) {
    |_, _, _| {}
}

/// Lets the cluster run for `d`.
fn run_for(c: &mut ProcessCluster, d: Duration) {
    let until = c.now() + d;
    c.run_until(until, &mut nothing());
}

/// Runs the cluster until `count` replies have reached clients, and
/// returns them as they came. A generous guard against a runner that loses
/// them, not a measure of speed.
fn replies(c: &mut ProcessCluster, count: usize) -> Vec<Value> {
    let guard = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < count {
        assert!(Instant::now() < guard, "{} of {count} replies", got.len());
        assert_eq!(c.fatal(), None);
        run_for(c, Duration::from_millis(10));
        got.extend(c.take_client_messages().into_iter().map(|d| d.body));
    }
    assert_eq!(got.len(), count, "more replies than asked for: {got:?}");
    got
}

/// Sends `body` to `node` as request `msg_id` and returns the reply: the
/// only one that comes (a reply to an earlier request fails the test).
fn ask(c: &mut ProcessCluster, node: usize, msg_id: u64, body: Value) -> Value {
    c.client_request("c1", node, msg_id, &body, &mut nothing());
    let reply = replies(c, 1).remove(0);
    assert_eq!(reply["in_reply_to"], msg_id, "{reply}");
    reply
}

fn init(c: &mut ProcessCluster, node: usize, msg_id: u64) {
    let ids = c.node_ids();
    let body = json!({"type": "init", "node_id": ids[node], "node_ids": ids});
    assert_eq!(ask(c, node, msg_id, body)["type"], "init_ok");
}

/// Asks `node` to send `to` a note of `value`.
fn note(c: &mut ProcessCluster, node: usize, msg_id: u64, to: usize, value: u64) {
    let body = json!({"type": "note", "to": format!("n{to}"), "value": value});
    assert_eq!(ask(c, node, msg_id, body)["type"], "note_ok");
}

fn read(c: &mut ProcessCluster, node: usize, msg_id: u64) -> Value {
    ask(c, node, msg_id, json!({"type": "read"}))
}

/// The state letter of process `pid` (`S`, `T` for stopped, …), or `None`
/// once it is gone (reaped).
#[cfg(target_os = "linux")]
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) STATE ...": the state follows the last ')'.
    stat.rsplit(')').next()?.trim_start().chars().next()
}

#[cfg(target_os = "linux")]
#[test]
fn a_killed_node_is_gone_and_its_restart_is_a_new_process_that_needs_init() {
    let dir = results_dir("faults-kill");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = notes_cluster(2, Duration::from_secs(5), Some(&dir));
    init(&mut c, 0, 1);
    init(&mut c, 1, 2);
    let old = c.pid(1).unwrap();
    c.kill(1);
    // Killed and reaped before `kill` returns.
    assert_eq!(c.pid(1), None);
    assert_eq!(state(old), None, "process {old} still exists");
    // A request to the dead node is lost (journaled so, below); were it
    // handed to the new process, `ask` would see its reply.
    c.client_request("c1", 1, 3, &json!({"type": "read"}), &mut nothing());
    // A note to n1 while it is down, due after the restart: lost too.
    note(&mut c, 0, 4, 1, 7);
    c.restart(1);
    let new = c.pid(1).unwrap();
    assert_ne!(new, old);
    init(&mut c, 1, 5);
    run_for(&mut c, Duration::from_millis(200));
    let after = read(&mut c, 1, 6);
    assert_eq!(after["pid"], new, "{after}");
    assert_eq!(after["notes"], json!([]), "the note died with n1: {after}");
    assert_eq!(c.stats().dropped_by_crash, 1);
    // Restarted and initialised, it hears new notes.
    note(&mut c, 0, 7, 1, 8);
    run_for(&mut c, Duration::from_millis(200));
    assert_eq!(read(&mut c, 1, 8)["notes"], json!([8]));
    assert_eq!(c.fatal(), None);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
    c.finish();
    drop(c);

    let journal = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    let crashed: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| {
            m["dropped"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["reason"] == "crash")
        })
        .map(|m| json!([m["type"], m["dest"], m["client"]]))
        .collect();
    assert_eq!(
        crashed,
        [json!(["read", "n1", true]), json!(["note", "n1", false])],
        "{journal}"
    );
    let log = std::fs::read_to_string(dir.join("n1.log")).unwrap();
    assert_eq!(log.matches("--- restarted at ").count(), 1, "{log}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_paused_node_answers_nothing_until_resumed_then_everything_in_order() {
    let mut c = notes_cluster(2, Duration::from_secs(5), None);
    init(&mut c, 0, 1);
    init(&mut c, 1, 2);
    let pid = c.pid(1).unwrap();
    c.pause(1);
    c.client_request("c1", 1, 3, &json!({"type": "read"}), &mut nothing());
    // `ask` takes n0's reply as the only one: n1 has answered nothing.
    note(&mut c, 0, 4, 1, 5);
    // The note reaches n1's input at 50 ms, after the first read.
    run_for(&mut c, Duration::from_millis(200));
    c.client_request("c1", 1, 5, &json!({"type": "read"}), &mut nothing());
    run_for(&mut c, Duration::from_millis(200));
    assert!(c.take_client_messages().is_empty());
    assert_eq!(state(pid), Some('T'), "SIGSTOPped");
    c.resume(1);
    let got = replies(&mut c, 2);
    assert_eq!(got[0]["in_reply_to"], 3);
    assert_eq!(got[0]["notes"], json!([]), "read before the note");
    assert_eq!(got[1]["in_reply_to"], 5);
    assert_eq!(got[1]["notes"], json!([5]), "and after it");
    assert_eq!(c.stats().dropped_by_crash, 0, "nothing is lost");
    assert_eq!(c.pid(1), Some(pid), "the same process");
    assert_eq!(c.fatal(), None);
}

#[test]
fn a_paused_node_with_a_full_queue_is_not_stalled() {
    // Stalled after 0.5 s of a full queue unread, were it not paused.
    let mut c = notes_cluster(1, Duration::from_millis(500), None);
    init(&mut c, 0, 1);
    c.pause(0);
    // More than its input queue, headroom and pipe hold.
    let sent = 8000;
    for msg_id in 0..sent {
        c.client_request(
            "c1",
            0,
            10 + msg_id,
            &json!({"type": "read"}),
            &mut nothing(),
        );
    }
    let dropped = c.stats().client_dropped_by_overload;
    assert!(dropped > 0, "the queue never filled");
    run_for(&mut c, Duration::from_millis(1500));
    assert_eq!(c.fatal(), None, "{:?}", c.problems());
    c.resume(0);
    let got = replies(&mut c, (sent - dropped) as usize);
    assert!(got.iter().all(|r| r["type"] == "read_ok"));
    assert_eq!(c.fatal(), None, "{:?}", c.problems());
}

#[cfg(target_os = "linux")]
#[test]
fn dropping_the_cluster_kills_restarted_and_paused_nodes() {
    let mut c = notes_cluster(2, Duration::from_secs(5), None);
    init(&mut c, 0, 1);
    init(&mut c, 1, 2);
    c.kill(0);
    c.restart(0);
    init(&mut c, 0, 3);
    c.pause(1);
    let pids = [c.pid(0).unwrap(), c.pid(1).unwrap()];
    drop(c);
    // Killed and reaped by the drop.
    for pid in pids {
        assert_eq!(state(pid), None, "process {pid} still exists");
    }
}

/// A node's log keeps one 16 MiB bound over all its processes: a restarted
/// one's stderr is appended after a marker, and what passes the bound is
/// counted, not kept.
#[test]
fn a_node_log_keeps_its_bound_across_restarts() {
    let dir = results_dir("faults-log-bound");
    std::fs::create_dir_all(&dir).unwrap();
    // Writes 21 003 500 bytes of stderr once initialised, then echoes.
    let mut c = python_cluster(
        &["broken_node.py", "stderr-flood"],
        1,
        Duration::from_secs(5),
        Some(&dir),
    );
    for round in 0..2 {
        init(&mut c, 0, 10 * round + 1);
        // Answered after the flood: it is all written.
        ask(
            &mut c,
            0,
            10 * round + 2,
            json!({"type": "echo", "echo": 1}),
        );
        c.kill(0);
        // Waits for the killed process's stderr to be copied.
        c.restart(0);
    }
    drop(c);
    let log = std::fs::read(dir.join("n0.log")).unwrap();
    let size = log.len() as u64;
    let max = maelstrom_lab::processes::MAX_LOG_BYTES;
    assert!(size > max && size < max + 300, "{size} bytes");
    let tail = String::from_utf8_lossy(&log[max as usize - 100..]);
    assert_eq!(tail.matches("--- restarted at ").count(), 2, "{tail}");
    assert_eq!(
        tail.matches("this log stops at 16 MiB;").count(),
        2,
        "{tail}"
    );
    // The second process had no room left: all its stderr was counted.
    assert!(
        tail.contains("; 21003500 more bytes of stderr were discarded"),
        "{tail}"
    );
}

/// The fault events of a report: (action, nodes) in order.
fn faults(report: &Value) -> Vec<(String, Vec<String>)> {
    report["faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let nodes = f["groups"].as_str().unwrap_or("");
            let nodes = nodes.trim_matches(['[', ']']).split_whitespace();
            (
                f["action"].as_str().unwrap().to_string(),
                nodes.map(String::from).collect(),
            )
        })
        .collect()
}

/// Failures the runner reports for a node rather than for its answers.
fn runner_failures(report: &Value) -> Vec<&str> {
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|f| {
            [
                "exited",
                "closed its stdout",
                "has not read",
                "run stopped",
                "`init`",
            ]
            .iter()
            .any(|w| f.contains(w))
        })
        .collect()
}

#[test]
fn kills_restart_our_broadcast_nodes_and_the_books_balance() {
    let dir = results_dir("faults-broadcast-kill");
    let out = cluster(
        "broadcast",
        &[
            "--nodes",
            "3",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "0.5",
            "--time-limit",
            "3",
            "--latency",
            "10",
        ],
        &dir,
    );
    // Our broadcast nodes keep their values on disk and should lose none;
    // this test is about the books, so any verdict will do, but the run
    // must go to its end.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let report = report_json(&dir);
    assert_eq!(runner_failures(&report), Vec::<&str>::new(), "{report}");
    let faults = faults(&report);
    let kills: Vec<_> = faults.iter().filter(|(a, _)| a == "kill").collect();
    let restarts: Vec<_> = faults.iter().filter(|(a, _)| a == "restart").collect();
    assert!(!kills.is_empty(), "{faults:?}");
    assert_eq!(kills.len(), restarts.len(), "every kill ends: {faults:?}");
    // Each restart is a new process, whose stderr follows a marker.
    for node in ["n0", "n1", "n2"] {
        let restarted = restarts
            .iter()
            .filter(|(_, nodes)| nodes.iter().any(|n| n == node))
            .count();
        let log = std::fs::read_to_string(dir.join(format!("{node}.log"))).unwrap();
        assert_eq!(
            log.matches("--- restarted at ").count(),
            restarted,
            "{node}"
        );
    }
    // Every copy sent was delivered, dropped or still in flight; what went
    // to dead processes is counted, and journaled, as lost to kills.
    let net = &report["net"];
    let n = |k: &str| net[k].as_u64().unwrap_or(0);
    assert!(n("dropped_by_crash") > 0, "{net}");
    assert_eq!(
        n("sent") + n("duplicated"),
        n("delivered")
            + n("dropped_by_partition")
            + n("dropped_by_loss")
            + n("dropped_by_overload")
            + n("dropped_by_crash")
            + n("in_flight_at_end"),
        "{net}"
    );
    let journal = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    let crashed = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["client"] == false)
        .flat_map(|m| m["dropped"].as_array().unwrap().clone())
        .filter(|d| d["reason"] == "crash")
        .count() as u64;
    assert_eq!(crashed, n("dropped_by_crash"));
}

#[test]
fn echo_under_kills_and_pauses_fails_only_the_echoes_the_faults_left_unanswered() {
    let dir = results_dir("faults-echo");
    let out = cluster(
        "echo",
        &[
            "--nodes",
            "3",
            "--nemesis",
            "pause,kill",
            "--nemesis-interval",
            "0.5",
            "--time-limit",
            "3",
            "--op-timeout",
            "1",
        ],
        &dir,
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let report = report_json(&dir);
    let faults = faults(&report);
    for action in ["kill", "restart", "pause", "resume"] {
        assert!(
            faults.iter().any(|(a, _)| a == action),
            "{action}: {faults:?}"
        );
    }
    // The echo checker fails each unanswered echo (as Maelstrom's does),
    // and that is all that fails.
    for failure in report["failures"].as_array().unwrap() {
        let failure = failure.as_str().unwrap();
        assert!(
            failure.contains("no reply within 1 s") || failure.contains("more echoes went wrong"),
            "{failure}"
        );
    }
    // Every echo left unanswered went to a node that was down or paused
    // while it waited.
    let mut down: Vec<(String, f64, f64)> = Vec::new(); // node, from, to (ms)
    let events = report["faults"].as_array().unwrap();
    for (i, (action, nodes)) in faults.iter().enumerate() {
        let end = match action.as_str() {
            "kill" => "restart",
            "pause" => "resume",
            _ => continue,
        };
        let from = events[i]["at"].as_f64().unwrap() * 1000.0;
        for node in nodes {
            let to = faults[i..]
                .iter()
                .zip(&events[i..])
                .find(|((a, ns), _)| a == end && ns.contains(node))
                .map(|(_, e)| e["at"].as_f64().unwrap() * 1000.0)
                .expect("every fault ends");
            down.push((node.clone(), from, to));
        }
    }
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let mut unanswered = 0u32;
    for line in history.lines() {
        let op: Value = serde_json::from_str(line).unwrap();
        if op["outcome"]["outcome"] == "ok" {
            continue;
        }
        unanswered += 1;
        assert_eq!(op["outcome"]["reason"], "no reply within 1 s", "{op}");
        let node = format!("n{}", op["node"]);
        let (invoke, complete) = (
            op["invoke"].as_f64().unwrap(),
            op["complete"].as_f64().unwrap(),
        );
        assert!(
            down.iter()
                .any(|(n, from, to)| *n == node && *from <= complete && *to >= invoke),
            "{op} unanswered, its node neither down nor paused: {down:?}"
        );
    }
    assert_eq!(
        report["checker"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "echoes wrong or unanswered")
            .and_then(|m| m["value"].as_f64()),
        Some(f64::from(unanswered))
    );
}

/// Our durable nodes through real kills: each node process gets
/// `--data-dir results/data/<node>`, syncs its own updates there before it
/// acknowledges them, and a restarted process recovers them: the counter
/// and g-set lose nothing (both strategies), unique-ids never repeats.
#[test]
fn our_durable_nodes_lose_nothing_across_real_kills_and_pauses() {
    for (workload, strategy) in [
        ("counter", Some("full-state")),
        ("counter", Some("delta-push")),
        ("g-set", Some("delta-push")),
        ("unique-ids", None),
    ] {
        let dir = results_dir(&format!("faults-durable-{workload}-{strategy:?}"));
        let mut flags = vec![
            "--nodes",
            "3",
            "--nemesis",
            "partition,kill,pause",
            "--nemesis-interval",
            "0.5",
            "--time-limit",
            "3",
            "--latency",
            "5",
            // Delta-push repairs a restarted peer after its resend
            // grace: seconds, as in the simulator's campaigns.
            "--settle",
            "5",
        ];
        if let Some(strategy) = strategy {
            flags.extend(["--strategy", strategy]);
        }
        let out = cluster(workload, &flags, &dir);
        let what = format!("{workload} {strategy:?}");
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out));
        let faults = faults(&report_json(&dir));
        assert!(
            faults.iter().any(|(a, _)| a == "kill"),
            "{what}: {faults:?}"
        );
        // The state a killed node recovered was on its disk.
        assert!(dir.join("data/n0/starts").is_file(), "{what}");
    }
}

/// A service's reply that a kill took is journaled as lost to the crash,
/// not as delivered: the journal's crash losses are the report's.
#[test]
fn service_replies_lost_to_kills_are_journaled_so() {
    let mut service_replies_lost = 0;
    for seed in ["1", "2"] {
        let dir = results_dir(&format!("sim-service-kill-{seed}"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
            .args(["sim", "--workload", "counter", "--node", "seq-kv-counter"])
            .args(["--nodes", "3", "--rate", "100", "--time-limit", "10"])
            .args([
                "--latency",
                "20",
                "--nemesis",
                "kill",
                "--nemesis-interval",
                "1",
            ])
            .args(["--seed", seed, "--json", "--results"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let journal = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
        let records: Vec<Value> = journal
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|m: &Value| m["client"] == false)
            .collect();
        let crashed = |m: &&Value| {
            m["dropped"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["reason"] == "crash")
                .count() as u64
        };
        let all: u64 = records.iter().map(|m| crashed(&m)).sum();
        assert_eq!(all, report["net"]["dropped_by_crash"], "seed {seed}");
        service_replies_lost += records
            .iter()
            .filter(|m| m["src"] == "seq-kv")
            .map(|m| crashed(&m))
            .sum::<u64>();
    }
    assert!(service_replies_lost > 0, "no service reply met a kill");
}

/// The wall clock now, in seconds since the epoch.
fn true_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A cluster of `nodes` processes of `command` whose clocks the runner
/// skews through `hook`, with their offset files in `dir`.
fn skewable_cluster(
    command: Vec<String>,
    nodes: usize,
    hook: ClockHook,
    dir: &Path,
) -> ProcessCluster {
    let ids: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
    let clocks = NodeClocks::new(hook, &dir.join("clock"), &ids).unwrap();
    ProcessCluster::start_with_clocks(
        vec![command; nodes],
        ids,
        NetConfig::default(),
        1,
        Duration::from_secs(5),
        Some(dir),
        Some(clocks),
    )
    .expect("start the nodes")
}

/// Our kv node's `write_ok` carries the write's timestamp, from
/// `ctx.unix_micros()` (`max(now, last own + 1 µs)`): it reads the offset
/// the runner wrote into the node's offset file, forward and back, and
/// true time after the reset.
#[test]
fn our_nodes_clocks_read_skewed_by_the_runners_offset() {
    let dir = results_dir("clock-ours");
    std::fs::create_dir_all(&dir).unwrap();
    let ours = vec![
        env!("CARGO_BIN_EXE_maelstrom-node").to_string(),
        "--workload".into(),
        "kv".into(),
    ];
    let mut c = skewable_cluster(ours, 2, ClockHook::Framework, &dir);
    init(&mut c, 0, 1);
    init(&mut c, 1, 2);
    let mut msg_id = 10;
    let mut write_ts = |c: &mut ProcessCluster, node: usize| {
        msg_id += 1;
        let reply = ask(
            c,
            node,
            msg_id,
            json!({"type": "write", "key": "k", "value": msg_id}),
        );
        assert_eq!(reply["type"], "write_ok", "{reply}");
        reply["ts"].as_f64().unwrap() - true_now()
    };
    let off = write_ts(&mut c, 0);
    assert!(off.abs() < 0.5, "on time before any fault: {off}");
    c.set_clock(0, ClockSkew::Offset { micros: 5_000_000 });
    let off = write_ts(&mut c, 0);
    assert!((off - 5.0).abs() < 0.5, "bumped forward 5 s: {off}");
    // n1 has written nothing yet: its timestamps follow its clock back.
    c.set_clock(1, ClockSkew::Offset { micros: -5_000_000 });
    let off = write_ts(&mut c, 1);
    assert!((off + 5.0).abs() < 0.5, "bumped back 5 s: {off}");
    c.set_clock(1, ClockSkew::OnTime);
    let off = write_ts(&mut c, 1);
    assert!(off.abs() < 0.5, "reset: {off}");
    assert!(c.notes().is_empty(), "{:?}", c.notes());
}

/// A foreign (Python) node's `time.time()` under libfaketime: skewed by a
/// bump, flipping under a strobe, true after the reset; and libfaketime's
/// per-process files are gone once the processes are. Skips when
/// libfaketime is missing, unless `REQUIRE_FAKETIME=1` (CI installs it).
#[cfg(target_os = "linux")]
#[test]
fn a_foreign_nodes_clock_reads_skewed_through_libfaketime() {
    let hook = ClockHook::for_node(false);
    if hook == ClockHook::Unavailable {
        assert!(
            std::env::var_os("REQUIRE_FAKETIME").is_none_or(|v| v != "1"),
            "REQUIRE_FAKETIME=1 but libfaketime is not installed"
        );
        eprintln!(
            "SKIPPED: libfaketime is not installed (apt-get install faketime; \
             REQUIRE_FAKETIME=1 makes this a failure)"
        );
        return;
    }
    let dir = results_dir("clock-foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!("{}/tests/nodes/clock_node.py", env!("CARGO_MANIFEST_DIR"));
    let mut c = skewable_cluster(vec!["python3".into(), script], 2, hook, &dir);
    init(&mut c, 0, 1);
    init(&mut c, 1, 2);
    let mut msg_id = 10;
    let mut offset = |c: &mut ProcessCluster, node: usize| {
        msg_id += 1;
        let reply = ask(c, node, msg_id, json!({"type": "time"}));
        reply["unix_micros"].as_f64().unwrap() / 1e6 - true_now()
    };
    assert!(offset(&mut c, 0).abs() < 0.5);
    c.set_clock(0, ClockSkew::Offset { micros: -3_000_000 });
    let (n0, n1) = (offset(&mut c, 0), offset(&mut c, 1));
    assert!((n0 + 3.0).abs() < 0.5 && n1.abs() < 0.5, "{n0} {n1}");
    // A strobe of +2 s every 300 ms: both states within a couple of seconds.
    let since = c.now();
    c.set_clock(
        1,
        ClockSkew::Strobe {
            micros: 2_000_000,
            period: Duration::from_millis(300),
            since,
        },
    );
    let (mut ahead, mut true_time) = (0, 0);
    let guard = Instant::now() + Duration::from_secs(20);
    while (ahead == 0 || true_time == 0) && Instant::now() < guard {
        let off = offset(&mut c, 1);
        if (off - 2.0).abs() < 0.5 {
            ahead += 1;
        } else if off.abs() < 0.5 {
            true_time += 1;
        } else {
            panic!("a strobed clock off by {off} s");
        }
        run_for(&mut c, Duration::from_millis(70));
    }
    assert!(ahead > 0 && true_time > 0, "{ahead} {true_time}");
    c.set_clock(0, ClockSkew::OnTime);
    c.set_clock(1, ClockSkew::OnTime);
    assert!(offset(&mut c, 0).abs() < 0.5 && offset(&mut c, 1).abs() < 0.5);
    let pids: Vec<u32> = (0..2).map(|n| c.pid(n).unwrap()).collect();
    drop(c);
    for pid in pids {
        let shm = format!("/dev/shm/faketime_shm_{pid}");
        assert!(!Path::new(&shm).exists(), "{shm} left behind");
    }
}

/// `cluster --nemesis clock` on our kv nodes: clock faults in the report's
/// fault list with their offsets, a skew figure, an offset file per node.
#[test]
fn the_clock_nemesis_runs_on_our_nodes_and_shows_in_the_report() {
    let dir = results_dir("faults-clock-kv");
    let out = cluster(
        "kv",
        &[
            "--nodes",
            "3",
            "--nemesis",
            "clock",
            "--nemesis-interval",
            "0.3",
            "--time-limit",
            "2",
        ],
        &dir,
    );
    // kv orders writes by its nodes' clocks: skew may make it lose some
    // (INVALID); the run goes to its end either way.
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let report = report_json(&dir);
    assert_eq!(runner_failures(&report), Vec::<&str>::new(), "{report}");
    let events = report["faults"].as_array().unwrap();
    let skews: Vec<&Value> = events
        .iter()
        .filter(|f| f["action"] == "clock-bump" || f["action"] == "clock-strobe")
        .collect();
    assert!(!skews.is_empty(), "{events:?}");
    assert!(
        skews
            .iter()
            .all(|f| !f["clocks"].as_array().unwrap().is_empty())
    );
    assert!(events.iter().any(|f| f["action"] == "clock-reset"));
    assert!(report.get("notes").is_none(), "{report}");
    for node in ["n0", "n1", "n2"] {
        let file = dir.join(format!("clock/{node}.offset"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, "+0.000000\n", "reset at the end: {}", file.display());
    }
    assert!(
        support::report_txt(&dir).contains("clock fault(s) (skew up to"),
        "{}",
        support::report_txt(&dir)
    );
}
