//! The cluster runner (`maelstrom-node cluster`) on real processes: our
//! own nodes and nodes that are not ours pass; broken nodes fail the run,
//! named, with the offending line, without hanging.

use std::path::Path;
use std::process::{Command, Output};

fn cluster(workload: &str, extra: &[&str], results: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .args(["cluster", "--workload", workload])
        .args(["--rate", "40", "--time-limit", "1", "--settle", "0.3"])
        .arg("--results")
        .arg(results)
        .args(extra)
        .output()
        .expect("run maelstrom-node cluster")
}

fn results_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cluster-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn our_echo_nodes_pass_and_results_are_written() {
    let dir = results_dir("echo");
    let out = cluster("echo", &["--nodes", "3"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("VALID"));
    for file in [
        "report.txt",
        "report.json",
        "report.html",
        "history.jsonl",
        "messages.jsonl",
        "n0.log",
    ] {
        assert!(dir.join(file).exists(), "{file} missing");
    }
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.lines().count() >= 10, "{history}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg"));
}

#[test]
fn a_node_that_is_not_ours_runs_through_bin() {
    let dir = results_dir("python-echo");
    let bin = format!(
        "python3 {}/tests/nodes/echo_node.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = cluster("echo", &["--nodes", "2", "--bin", &bin], &dir);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn broken_nodes_fail_the_run_with_the_node_and_the_line() {
    let script = format!("{}/tests/nodes/broken_node.py", env!("CARGO_MANIFEST_DIR"));
    for (mode, expect) in [
        ("exit", "exited"),
        ("garbage", "hello, I am not JSON"),
        ("stranger", "unknown destination n99"),
        ("wrong-echo", "not what you sent"),
    ] {
        let dir = results_dir(mode);
        let bin = format!("python3 {script} {mode}");
        // The run must stop on its own rather than wait out a dead node:
        // this call returning is part of the test.
        let out = cluster("echo", &["--nodes", "2", "--bin", &bin], &dir);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {all}");
        assert!(all.contains("INVALID"), "{mode}: {all}");
        assert!(all.contains(expect), "{mode}: {all}");
    }
}

#[test]
fn our_gossip_workloads_pass_through_real_processes() {
    for (workload, extra) in [
        ("counter", &["--nodes", "3", "--strategy", "delta-push"][..]),
        ("broadcast", &["--nodes", "5", "--latency", "10"]),
        ("tuning", &["--nodes", "5", "--strategy", "hub"]),
        ("kv", &["--nodes", "3", "--keys", "4"]),
    ] {
        let dir = results_dir(workload);
        let out = cluster(workload, extra, &dir);
        assert!(out.status.success(), "{workload}: {}", text(&out));
        let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        assert!(report.contains("VALID"), "{report}");
    }
}
