//! The binary's command line: the workload list, unknown names, help.

use std::process::Command;

fn node(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .args(args)
        .output()
        .expect("run maelstrom-node")
}

#[test]
fn lists_every_registered_workload_and_node_apart_sorted() {
    let out = node(&["--list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (specs, nodes) = text.split_once("nodes (").expect("two sections");
    let names = |section: &str| -> Vec<String> {
        section
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    // The binary must link every workload and node crate, or inventory
    // drops it (the catalog links them; tests/catalog.rs checks it has
    // every crate). Sorted, each once; ours at least.
    let ours: [&[&str]; 2] = [
        &["broadcast", "echo", "g-counter", "kv", "pn-counter"],
        &["broadcast", "counter", "echo", "kv", "tuning"],
    ];
    for (section, ours) in [names(specs), names(nodes)].into_iter().zip(ours) {
        let mut sorted = section.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(section, sorted, "sorted, each once");
        for name in ours {
            assert!(section.iter().any(|n| n == name), "{name} missing: {text}");
        }
    }
    assert!(text.contains("[our nodes: broadcast, tuning]"), "{text}");
    assert!(
        text.contains("[implements: pn-counter, g-counter]"),
        "{text}"
    );
}

#[test]
fn a_workload_is_named_by_its_spec_or_by_one_of_our_nodes() {
    // Maelstrom's name runs our node for it on stdin/stdout, as our node's
    // name does; another of our nodes is picked with --node.
    for args in [
        &["--workload", "pn-counter"][..],
        &["--workload", "counter"],
        &["--workload", "broadcast", "--node", "tuning"],
    ] {
        let out = init_only(args, "n1");
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("init_ok"),
            "{args:?}"
        );
    }
    // A node that does not implement the workload is refused.
    let out = node(&["--workload", "echo", "--node", "counter"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node `counter` does not implement `echo`"),
        "{err}"
    );
    // And the simulator runs the spec with the node chosen.
    let out = node(&[
        "sim",
        "--workload",
        "broadcast",
        "--node",
        "tuning",
        "--strategy",
        "hub",
        "--nodes",
        "5",
        "--time-limit",
        "2",
    ]);
    assert!(out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("node          maelstrom-node --workload tuning --strategy hub"),
        "{report}"
    );
}

#[test]
fn an_unknown_workload_exits_2_and_names_the_known_ones() {
    let out = node(&["--workload", "no-such-thing"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no-such-thing"));
    assert!(err.contains("echo"));
}

#[test]
fn maelstrom_style_arguments_work() {
    // Maelstrom runs `--bin maelstrom-node -- --workload echo`: the flags
    // arrive as plain argv, also in `--workload=NAME` form.
    for args in [
        &["--workload", "echo"][..],
        &["--workload=echo"],
        &["-w", "echo"],
    ] {
        let out = init_only(args, "n3");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("\"init_ok\""), "{args:?}: {text}");
    }
}

#[test]
fn a_missing_workload_is_an_error() {
    let out = node(&[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn absurd_sim_settings_are_refused_not_a_panic() {
    for args in [
        &["--time-limit", "1e20"][..],
        &["--latency", "1e30"],
        &["--rate", "0"],
        &["--loss", "1"],
        &["--nodes", "0"],
    ] {
        let mut all = vec!["sim", "--workload", "echo"];
        all.extend_from_slice(args);
        let out = node(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{args:?}"
        );
    }
}

#[test]
fn availability_bounds_the_share_of_operations_that_succeed() {
    // kv refuses some operations during partitions (about 1.4 % here).
    let run = |bound: &str| {
        let out = node(&[
            "sim",
            "--workload",
            "kv",
            "--keys",
            "20",
            "--rate",
            "400",
            "--latency",
            "20",
            "--time-limit",
            "5",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
            "--seed",
            "4",
            "--availability",
            bound,
        ]);
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, report) = run("0.9");
    assert_eq!(code, Some(0), "{report}");
    assert!(!report.contains("availability:"), "{report}");
    for bound in ["0.999", "total"] {
        let (code, report) = run(bound);
        assert_eq!(code, Some(1), "--availability {bound}: {report}");
        let line = report
            .lines()
            .find(|l| l.contains("availability:"))
            .unwrap_or_else(|| panic!("no availability failure: {report}"));
        assert!(
            line.contains(" of 2112 client operations succeeded"),
            "{line}"
        );
        assert!(
            line.contains(&format!("{bound} (--availability")) || bound == "total",
            "{line}"
        );
    }
    let out = node(&["sim", "--workload", "echo", "--availability", "1.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`total` or a fraction"));
}

#[test]
fn a_sweep_runs_every_setting_and_prints_one_row_each() {
    let html = std::env::temp_dir().join(format!("sweep-{}.html", std::process::id()));
    let out = node(&[
        "sim",
        "--workload",
        "counter",
        "--gossip-interval-ms",
        "999",
        "--nodes",
        "3",
        "--rate",
        "50",
        "--time-limit",
        "3",
        "--settle",
        "2",
        "--seeds",
        "1..2",
        "--sweep",
        "gossip-interval-ms=20,200",
        "--sweep",
        "fanout=1,2",
        "--sweep-html",
        html.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("gossip-interval-ms"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    let settings: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        settings,
        [("20", "1"), ("20", "2"), ("200", "1"), ("200", "2")],
        "{text}"
    );
    // The swept value replaced the one on the command line: gossiping ten
    // times as often costs more messages per operation.
    let msgs = |row: &Vec<&str>| row[3].parse::<f64>().unwrap();
    assert!(msgs(&rows[0]) > msgs(&rows[2]) * 3.0, "{text}");
    assert!(msgs(&rows[1]) > msgs(&rows[0]), "{text}");
    let page = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_file(&html);
    // One trade-off chart per time column: convergence after the last add.
    assert!(text.contains("convergence after last add"), "{text}");
    assert_eq!(page.matches("<svg").count(), 1, "{page}");
    assert_eq!(
        page.matches("<polyline").count(),
        2,
        "a line per interval: {page}"
    );
}

#[test]
fn a_sweep_of_an_unknown_flag_or_a_bad_value_is_refused() {
    for sweep in ["no-such-flag=1,2", "fanout", "fanout=zero"] {
        let out = node(&["sim", "--workload", "counter", "--sweep", sweep]);
        assert_eq!(out.status.code(), Some(2), "--sweep {sweep}");
    }
}

#[test]
fn an_operation_budget_without_a_time_limit_runs_every_operation() {
    let acked = |extra: &[&str]| {
        let mut args = vec![
            "sim",
            "--workload",
            "counter",
            "--nodes",
            "3",
            "--adds",
            "300",
            "--rate",
            "20",
        ];
        args.extend_from_slice(extra);
        let out = node(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{text}");
        text.lines()
            .find_map(|l| l.trim().strip_prefix("adds acknowledged"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{text}"))
    };
    // 300 adds at 20/s need 15 s: the default 10 s limit makes room...
    assert_eq!(acked(&[]), 300);
    // ...but a limit given on the command line is kept.
    assert!(acked(&["--time-limit", "10"]) < 300);
}

/// The README's main command, read from the README itself, runs as it
/// says: a real cluster, 1000 adds, partitions that really happen, a valid
/// check, and a report page (written to a temporary folder instead of
/// `results/main`).
#[test]
fn the_readme_main_command_runs_with_partitions() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("cargo run --release -- cluster")
        .expect("README has the main command");
    // The command, with its `\` line continuations joined.
    let mut command = String::new();
    for line in readme[start..].lines() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(part) => command.push_str(part),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-main");
    let _ = std::fs::remove_dir_all(&dir);
    let mut args: Vec<String> = command
        .trim_start_matches("cargo run --release --")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let results = args
        .iter()
        .position(|a| a == "--results")
        .expect("the main command names its results folder");
    args[results + 1] = dir.to_string_lossy().into_owned();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = node(&args);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{command}\n{report}");
    assert!(report.contains("add 1000"), "{report}");
    assert!(report.contains("\nVALID"), "{report}");
    // "faults        2 partition(s):"
    let partitions: u32 = report
        .lines()
        .find_map(|l| l.strip_prefix("faults"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(partitions > 0, "the main run has no partition:\n{report}");
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(page.contains("<svg"), "the report has its pictures");
}

/// `sim --results DIR` writes the folder `cluster` writes — the page with
/// its message diagram, the journal — and the report it prints is the one
/// a run without it prints: journaling changes nothing of the run.
#[test]
fn sim_results_write_the_page_and_change_nothing() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-results");
    let _ = std::fs::remove_dir_all(&dir);
    let run = [
        "sim",
        "--workload",
        "broadcast",
        "--nodes",
        "4",
        "--latency",
        "20",
    ];
    let run = [
        &run[..],
        &[
            "--rate",
            "50",
            "--time-limit",
            "3",
            "--nemesis",
            "partition",
        ],
    ]
    .concat();
    let mut with = run.clone();
    let dir_arg = dir.to_string_lossy().into_owned();
    with.extend(["--nemesis-interval", "1", "--results", &dir_arg]);
    let mut without = run.clone();
    without.extend(["--nemesis-interval", "1"]);
    let a = node(&with);
    let b = node(&without);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout, "the report is the same with a journal");
    for file in [
        "report.txt",
        "report.json",
        "report.html",
        "history.jsonl",
        "messages.jsonl",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        page.contains("Messages, "),
        "the page has its message diagram"
    );
    let journal = std::fs::read_to_string(dir.join("messages.jsonl")).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let server = journal
        .lines()
        .filter(|l| l.contains("\"client\":false"))
        .count();
    assert_eq!(server as u64, report["net"]["sent"].as_u64().unwrap());
}

/// Maelstrom's command line: `maelstrom-node test` takes Maelstrom's flags
/// (`-w`, `--bin FILE`, `--node-count`, args for the node after `--`),
/// exits as Maelstrom does, and keeps the run in `store/` with
/// `store/latest` pointing at it.
#[test]
fn maelstroms_test_command_runs_a_node_into_store_latest() {
    let dir = std::env::temp_dir().join(format!("maelstrom-node-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let nodes = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nodes");
    let run = |script: &str, mode: &str| {
        Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
            .current_dir(&dir)
            .args([
                "test",
                "-w",
                "echo",
                "--bin",
                "python3",
                "--node-count",
                "2",
            ])
            .args(["--time-limit", "2", "--rate", "10", "--"])
            .arg(format!("{nodes}/{script}"))
            .args((!mode.is_empty()).then_some(mode))
            .output()
            .unwrap()
    };
    // The exit status, and the report store/latest points at.
    let latest = |out: std::process::Output, code: i32| {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let link = std::fs::read_link(dir.join("store/latest")).unwrap();
        (
            link,
            std::fs::read_to_string(dir.join("store/latest/report.txt")).unwrap(),
        )
    };
    let (first, report) = latest(run("echo_node.py", ""), 0);
    assert!(
        report.contains("nodes 2") && report.contains("\nVALID"),
        "{report}"
    );
    // A broken node: Maelstrom's exit status 1, and latest moves to it.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (second, report) = latest(run("broken_node.py", "echo-off-by-one"), 1);
    assert_ne!(first, second);
    assert!(report.contains("INVALID"), "{report}");
    // A flag Maelstrom has and this lab not yet: refused by name.
    let out = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .current_dir(&dir)
        .args(["test", "-w", "echo", "--bin", "x", "--test-count", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`--test-count`"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `test --sim`: Maelstrom's command line on our node in the simulator,
/// deterministic from `--seed`, into the same store.
#[test]
fn maelstroms_test_command_with_sim_replays_our_node_exactly() {
    let dir = std::env::temp_dir().join(format!("maelstrom-node-sim-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
            .current_dir(&dir)
            .args([
                "test",
                "-w",
                "g-counter",
                "--sim",
                "--node",
                "seq-kv-counter",
            ])
            .args([
                "--time-limit",
                "20",
                "--rate",
                "20",
                "--nemesis",
                "partition",
            ])
            .args([
                "--nemesis-interval",
                "3",
                "--concurrency",
                "2n",
                "--seed",
                "5",
            ])
            .args(["--availability", "total"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("store/latest/report.json")).unwrap(),
        )
        .unwrap();
        report
    };
    let first = run();
    assert_eq!(first["workload"], "g-counter");
    assert_eq!(first["config"]["availability"], "total");
    assert!(
        first["faults"].as_array().is_some_and(|f| !f.is_empty()),
        "partitions ran: {}",
        first["faults"]
    );
    // Maelstrom's final reads: one per client thread, 2n = 10 of them.
    let history = std::fs::read_to_string(dir.join("store/latest/history.jsonl")).unwrap();
    let finals = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["final_read"] == true)
        .map(|op| op["node"].as_u64().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(finals, [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = run();
    assert_eq!(first, second, "one seed replays the run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `maelstrom-node ARGS` on stdin/stdout with one `init` (as node
/// `id`, alone) for input; what it did once its input ended.
fn init_only(args: &[&str], id: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let init = format!(
        r#"{{"src":"c0","dest":"{id}","body":{{"type":"init","msg_id":1,"node_id":"{id}","node_ids":["{id}"]}}}}"#
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{init}\n").as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}
