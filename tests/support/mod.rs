//! What the real-process cluster tests share: running `maelstrom-node
//! cluster` on a results folder of its own, reading what it wrote, and the
//! test nodes in `tests/nodes/`.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `maelstrom-node cluster --workload W` with `extra`, by default at 40
/// ops/s for 1 s with a 0.3 s settle, writing into `results`.
pub fn cluster(workload: &str, extra: &[&str], results: &Path) -> Output {
    command(workload, extra, results)
        .output()
        .expect("run maelstrom-node cluster")
}

/// The command [`cluster`] runs, to spawn it instead.
pub fn command(workload: &str, extra: &[&str], results: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"));
    cmd.args(["cluster", "--workload", workload]);
    for (flag, value) in [("--rate", "40"), ("--time-limit", "1"), ("--settle", "0.3")] {
        if !extra.contains(&flag) {
            cmd.args([flag, value]);
        }
    }
    cmd.arg("--results").arg(results).args(extra);
    cmd
}

/// A fresh results folder for test `name`.
pub fn results_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cluster-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `python3 tests/nodes/NAME args…` as a `--bin` command.
pub fn python_node(name: &str, args: &str) -> String {
    format!(
        "python3 {}/tests/nodes/{name} {args}",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub fn report_txt(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("report.txt")).expect("report.txt written")
}

pub fn report_json(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// A metric of the checker's (or the runner's) in `report.json`.
pub fn metric(report: &Value, name: &str) -> Option<f64> {
    ["checker", "runner"]
        .iter()
        .filter_map(|section| report[section].as_array())
        .flatten()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
}

/// Waits for `child`, killing it after `limit`: a guard against a runner
/// that never ends (which is what some of these tests look for), not a
/// measure of how long a run takes.
pub fn wait_or_kill(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "the runner did not end within {} s:\n{}",
                limit.as_secs(),
                text(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `cmd` with its output captured.
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the runner")
}
