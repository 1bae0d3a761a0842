//! `maelstrom-node golden`: the real binary checks nodes written in any
//! language (here Python and shell) against fixture files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn golden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .arg("golden")
        .args(args)
        .output()
        .expect("run maelstrom-node golden")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn both(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn python_node(script: &str) -> String {
    format!("python3 {}", repo(&format!("tests/nodes/{script}")))
}

/// A fresh folder for one test's fixtures.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("golden_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_fixture(dir: &Path, file: &str, fixture: &Value) -> String {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(fixture).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

/// `fixtures/echo/echo.json`, with `changes` applied on top.
fn echo_fixture(changes: Value) -> Value {
    let text = std::fs::read_to_string(repo("fixtures/echo/echo.json")).unwrap();
    let mut fixture: Value = serde_json::from_str(&text).unwrap();
    for (key, value) in changes.as_object().unwrap() {
        fixture[key] = value.clone();
    }
    fixture
}

/// The lines of the runner's output that report a case.
fn case_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| ["PASS ", "FAIL ", "SKIP "].iter().any(|p| l.starts_with(p)))
        .collect()
}

#[test]
fn a_correct_python_echo_node_passes_the_smoke_test() {
    let node = python_node("echo_node.py");
    let out = golden(&["--bin", &node, &repo("fixtures/echo/echo.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/echo\n1 passed, 0 failed, 0 skipped\n"
    );
}

#[test]
fn a_node_answering_the_wrong_request_fails_with_expected_and_actual_side_by_side() {
    let node = python_node("broken_node.py echo-off-by-one");
    let out = golden(&["--bin", &node, &repo("fixtures/echo/echo.json")]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.starts_with("FAIL echo/echo\n"), "{text}");
    assert!(text.contains("1 of 2 expected messages missing"), "{text}");
    // The missing expected line and the line written in its place share a
    // row, and the difference is named.
    let rows: Vec<&str> = text.lines().collect();
    let missing = rows
        .iter()
        .position(|l| l.trim_start().starts_with('✗'))
        .unwrap_or_else(|| panic!("no row of a missing message: {text}"));
    let (expected, actual) = rows[missing].split_once(" | ").unwrap();
    assert!(expected.contains(r#""in_reply_to":2"#), "{}", rows[missing]);
    assert!(
        actual.contains(r#""echo_ok""#) && actual.contains(r#""in_reply_to":3"#),
        "{}",
        rows[missing]
    );
    assert_eq!(
        rows[missing + 1].trim(),
        "differs at body.in_reply_to: expected 2, actual 3"
    );
    assert!(text.ends_with("0 passed, 1 failed, 0 skipped\n"), "{text}");
}

#[test]
fn a_node_that_hangs_is_killed_with_its_process_group_at_the_timeout() {
    let dir = temp_dir("hang");
    let fixture = write_fixture(
        &dir,
        "echo/hang.json",
        &echo_fixture(json!({"timeout_ms": 300})),
    );
    // The shell and the sleep it started are one group: both must die.
    let node = "sh -c 'sleep 600 & echo sleeper $! >&2; wait'";
    // The kill is judged by what the runner says and by the sleeper's
    // death, not by the test's own clock.
    let out = golden(&["--bin", node, &fixture]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.starts_with("FAIL echo/hang\n"), "{text}");
    assert!(
        text.contains("- timed out after 300 ms: killed the node and its process group"),
        "{text}"
    );
    let sleeper = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("sleeper "))
        .unwrap_or_else(|| panic!("the node's stderr is shown: {text}"));
    assert_dies(sleeper);
}

/// Waits up to 5 s for process `pid` to be gone (or a zombie).
fn assert_dies(pid: &str) {
    let stat = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = std::fs::read_to_string(&stat).is_ok_and(|s| {
            s.rsplit(") ")
                .next()
                .is_some_and(|rest| !rest.starts_with('Z'))
        });
        if !alive {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn what_a_node_leaves_in_its_group_is_killed_when_it_exits() {
    let dir = temp_dir("leftover");
    let fixture = write_fixture(&dir, "echo/leftover.json", &echo_fixture(json!({})));
    // A correct node whose wrapper leaves a process behind that holds
    // stdout open after the node exits.
    let pid_file = dir.join("sleeper.pid");
    let node = format!(
        "sh -c 'sleep 600 & echo $! > {}; exec {}'",
        pid_file.display(),
        python_node("echo_node.py")
    );
    let out = golden(&["--bin", &node, &fixture]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/leftover\n1 passed, 0 failed, 0 skipped\n"
    );
    let sleeper = std::fs::read_to_string(&pid_file).unwrap();
    assert_dies(sleeper.trim());
}

#[test]
fn a_process_that_leaves_the_group_holding_the_output_fails_the_case_without_a_hang() {
    let dir = temp_dir("escapee");
    let fixture = write_fixture(&dir, "echo/escapee.json", &echo_fixture(json!({})));
    // setsid puts the sleeper in a session (and group) of its own, out of
    // the runner's reach; it still holds the node's stdout and stderr.
    let node = format!(
        "sh -c 'setsid sleep 600 & echo sleeper $! >&2; exec {}'",
        python_node("echo_node.py")
    );
    let out = golden(&["--bin", &node, &fixture]);
    let text = stdout(&out);
    let sleeper = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("sleeper "))
        .map(str::to_string);
    // This test started it: this test ends it.
    if let Some(pid) = &sleeper {
        let _ = Command::new("kill").arg(pid).status();
    }
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        text.contains("the node's output was still open 3 s after it ended"),
        "{text}"
    );
    assert!(sleeper.is_some(), "the node's stderr is shown: {text}");
    assert!(
        text.contains(r#"= {"body":{"in_reply_to":1"#),
        "what came is checked: {text}"
    );
}

#[test]
fn a_flooding_node_is_cut_at_16_mib_and_killed() {
    let dir = temp_dir("flood");
    let fixture = write_fixture(
        &dir,
        "echo/flood.json",
        &echo_fixture(json!({"timeout_ms": 1000})),
    );
    // `yes` writes `{}` lines (JSON objects) as fast as it can, forever.
    let out = golden(&["--bin", "yes {}", &fixture]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.contains("- timed out after 1000 ms"), "{text}");
    assert!(
        text.contains("the first 16 MiB are kept and checked"),
        "{text}"
    );
    assert!(text.contains("the first 100000 are checked"), "{text}");
    assert!(text.contains("more rows"), "the table is cut too");
    assert!(text.len() < 100_000, "{} bytes of report", text.len());
}

#[test]
fn a_node_that_cannot_start_fails_with_the_os_error() {
    let out = golden(&[
        "--bin",
        "/no/such/node --flag",
        &repo("fixtures/echo/echo.json"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.starts_with("FAIL echo/echo\n"), "{text}");
    assert!(
        text.contains("cannot run `/no/such/node`: No such file or directory"),
        "{text}"
    );
}

#[test]
fn output_that_is_not_utf8_is_shown_lossily() {
    // printf turns the octal escapes into bytes 0xff 0xfe.
    let out = golden(&[
        "--bin",
        r"printf '\377\376 not json\n'",
        &repo("fixtures/echo/echo.json"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("stdout line 1 is not a JSON object: \u{FFFD}\u{FFFD} not json"),
        "{text}"
    );
}

#[test]
fn a_folder_runs_every_case_in_it_and_in_its_workload_folders() {
    let dir = temp_dir("folder");
    write_fixture(&dir, "echo/a_passes.json", &echo_fixture(json!({})));
    let wrong = json!([{"src": "n1", "dest": "c0", "body": {"type": "nope"}}]);
    write_fixture(
        &dir,
        "echo/b_fails.json",
        &echo_fixture(json!({"expected": wrong})),
    );
    std::fs::write(dir.join("echo/notes.txt"), "not a fixture").unwrap();
    let node = python_node("echo_node.py");
    for folder in [dir.join("echo"), dir.clone()] {
        let out = golden(&["--bin", &node, folder.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        let text = stdout(&out);
        let cases: Vec<&str> = case_lines(&text)
            .iter()
            .map(|l| l.split_whitespace().take(2).last().unwrap())
            .collect();
        assert_eq!(cases, ["echo/a_passes", "echo/b_fails"], "{text}");
        assert!(
            text.starts_with("PASS echo/a_passes\nFAIL echo/b_fails\n"),
            "{text}"
        );
        assert!(text.ends_with("1 passed, 1 failed, 0 skipped\n"), "{text}");
    }
}

#[test]
fn without_bin_each_case_runs_on_maelstrom_node_as_its_folders_workload() {
    // A root like fixtures/: one folder per workload.
    let dir = temp_dir("ours");
    for case in [
        "echo/echo.json",
        "echo/unknown_type.json",
        "kv/tie_break_by_node.json",
    ] {
        let to = dir.join(case);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(repo(&format!("fixtures/{case}")), to).unwrap();
    }
    let out = golden(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/echo\nPASS echo/unknown_type\nPASS kv/tie_break_by_node\n3 passed, 0 failed, 0 skipped\n"
    );
}

#[test]
fn cases_with_maelstrom_node_flags_are_skipped_for_another_node() {
    let dir = temp_dir("flags");
    let fixture = write_fixture(
        &dir,
        "echo/flags.json",
        &echo_fixture(json!({"args": ["--seed", "1"]})),
    );
    let out = golden(&["--bin", &python_node("echo_node.py"), &fixture]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a skip is no failure: {}",
        both(&out)
    );
    assert_eq!(
        stdout(&out),
        "SKIP echo/flags: needs maelstrom-node flags: --seed 1\n0 passed, 0 failed, 1 skipped\n"
    );
    // maelstrom-node itself takes them.
    let out = golden(&[&fixture]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/flags\n1 passed, 0 failed, 0 skipped\n"
    );
}

#[test]
fn stderr_expectations_are_maelstrom_nodes_and_not_checked_for_another_node() {
    let dir = temp_dir("stderr");
    let fixture = write_fixture(
        &dir,
        "echo/logs.json",
        &echo_fixture(json!({"stderr": ["a line only maelstrom-node writes"]})),
    );
    let out = golden(&["--bin", &python_node("echo_node.py"), &fixture]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out)
            .starts_with("PASS echo/logs (stderr not checked: maelstrom-node's log wording)\n"),
        "{}",
        both(&out)
    );
    // Ours is held to it.
    let out = golden(&[&fixture]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("- stderr lacks \"a line only maelstrom-node writes\""),
        "{}",
        both(&out)
    );
}

#[test]
fn bin_is_split_as_a_shell_splits_it() {
    let node = format!(
        "sh -c 'exec python3 \"$0\"' {}",
        repo("tests/nodes/echo_node.py")
    );
    let out = golden(&["--bin", &node, &repo("fixtures/echo/echo.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/echo\n1 passed, 0 failed, 0 skipped\n"
    );

    for (bin, says) in [
        (
            "python3 'unclosed",
            "--bin \"python3 'unclosed\": missing closing quote",
        ),
        ("  ", "--bin is empty"),
    ] {
        let out = golden(&["--bin", bin, &repo("fixtures/echo/echo.json")]);
        assert_eq!(out.status.code(), Some(2), "{}", both(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{}",
            both(&out)
        );
    }
}

#[test]
fn workload_with_bin_is_a_usage_error() {
    let out = golden(&[
        "--workload",
        "echo",
        "--bin",
        "python3 x.py",
        &repo("fixtures/echo/echo.json"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn workload_overrides_the_folder_name() {
    let dir = temp_dir("workload");
    let fixture = write_fixture(&dir, "not-a-workload/smoke.json", &echo_fixture(json!({})));
    let out = golden(&[&fixture]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("unknown workload `not-a-workload`"),
        "the node's own complaint is shown: {}",
        both(&out)
    );
    let out = golden(&["--workload", "echo", &fixture]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS not-a-workload/smoke\n1 passed, 0 failed, 0 skipped\n"
    );
}

#[test]
fn unreadable_or_malformed_fixtures_exit_2_naming_the_file_and_run_nothing() {
    let dir = temp_dir("malformed");
    let good = write_fixture(&dir, "echo/good.json", &echo_fixture(json!({})));
    let broken = dir.join("echo/broken.json");
    std::fs::write(&broken, "{\n  \"name\": \"x\",\n  \"input\": [1,,\n").unwrap();
    let misspelt = write_fixture(
        &dir,
        "echo/misspelt.json",
        &json!({"name": "x", "input": [], "expect": []}),
    );
    let not_a_message = write_fixture(
        &dir,
        "echo/number.json",
        &json!({"name": "x", "input": [], "expected": [42]}),
    );
    let broken = broken.to_string_lossy().into_owned();
    for (file, says) in [
        (&broken, "expected value at line 3 column 15"),
        (&misspelt, "unknown field `expect`"),
        (
            &not_a_message,
            "an expected message is a JSON object, not 42",
        ),
    ] {
        let out = golden(&[&good, file]);
        assert_eq!(out.status.code(), Some(2), "{}", both(&out));
        assert!(stdout(&out).is_empty(), "nothing runs: {}", both(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{file}: not a fixture: ")), "{err}");
        assert!(err.contains(says), "{err}");
    }

    let missing = dir.join("no-such.json");
    let empty = temp_dir("malformed-empty");
    for (path, says) in [
        (missing.to_string_lossy().into_owned(), "cannot read"),
        (
            empty.to_string_lossy().into_owned(),
            "no fixtures (*.json) in",
        ),
    ] {
        let out = golden(&[&path]);
        assert_eq!(out.status.code(), Some(2), "{}", both(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&path) && err.contains(says), "{err}");
    }
}

#[test]
fn the_readme_echo_node_passes() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let section = readme
        .split_once("## Checking any node against the fixtures")
        .expect("the README has the section")
        .1;
    let code = section
        .split_once("```python\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("the section shows a Python node")
        .0;
    let dir = temp_dir("readme");
    let script = dir.join("echo.py");
    std::fs::write(&script, code).unwrap();
    let node = format!("python3 {}", script.display());
    let out = golden(&["--bin", &node, &repo("fixtures/echo/echo.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "PASS echo/echo\n1 passed, 0 failed, 0 skipped\n"
    );
}
