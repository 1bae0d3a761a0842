//! Golden-file tests: every `fixtures/<workload>/<case>.json` runs the real
//! `maelstrom-node` binary, writes the input lines, and checks the output.
//!
//! A fixture:
//! ```json
//! {
//!   "name": "what it shows",
//!   "timeout_ms": 5000,
//!   "args": ["--fanout", "3"],          // optional extra flags
//!   "hold_open_ms": 0,                  // optional: keep stdin open this long
//!   "input": [ {...message...}, "raw line", {"$hex": "ff0a"},
//!              {"$long": {"prefix": "{\"a\":\"", "fill": "x", "bytes": 10485760, "suffix": "\"}"}} ],
//!   "expected": [ {...message...} ],     // must appear in this order
//!   "exact": false,                      // true: the output is exactly `expected`
//!   "unexpected": [ {...} ],             // optional: none of these may appear
//!   "stderr": ["substring"]              // optional: stderr must contain these
//! }
//! ```
//! Messages are compared as parsed JSON (key order and spacing are free);
//! the string `"<any>"` in an expected message matches any value. Every
//! stdout line must be a JSON object, and the node must exit with status 0.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    name: String,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    hold_open_ms: u64,
    input: Vec<Value>,
    expected: Vec<Value>,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    unexpected: Vec<Value>,
    #[serde(default)]
    stderr: Vec<String>,
}

fn default_timeout() -> u64 {
    5000
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut trials = Vec::new();
    for path in fixture_files(&root) {
        let workload = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .expect("fixtures/<workload>/<case>.json")
            .to_string();
        let case = path.file_stem().unwrap().to_string_lossy().to_string();
        let name = format!("{workload}/{case}");
        trials.push(Trial::test(name, move || run_fixture(&workload, &path)));
    }
    libtest_mimic::run(&args, trials).exit();
}

fn fixture_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).expect("fixtures/ exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

fn input_bytes(input: &[Value]) -> Result<Vec<u8>, Failed> {
    let mut bytes = Vec::new();
    for item in input {
        match item {
            Value::String(line) => bytes.extend_from_slice(line.as_bytes()),
            Value::Object(obj) if obj.contains_key("$hex") => {
                let hex = obj["$hex"].as_str().ok_or("$hex takes a string")?;
                let hex: String = hex.split_whitespace().collect();
                for i in (0..hex.len()).step_by(2) {
                    let byte = u8::from_str_radix(&hex[i..i + 2], 16)
                        .map_err(|e| format!("bad $hex: {e}"))?;
                    bytes.push(byte);
                }
                // The hex gives the whole line, newline included if wanted.
                continue;
            }
            Value::Object(obj) if obj.contains_key("$long") => {
                let spec = &obj["$long"];
                let prefix = spec["prefix"].as_str().unwrap_or("");
                let suffix = spec["suffix"].as_str().unwrap_or("");
                let fill = spec["fill"].as_str().unwrap_or("x");
                let total = spec["bytes"].as_u64().ok_or("$long needs bytes")? as usize;
                bytes.extend_from_slice(prefix.as_bytes());
                let fill_len = total.saturating_sub(prefix.len() + suffix.len());
                bytes.extend(fill.as_bytes().iter().cycle().take(fill_len));
                bytes.extend_from_slice(suffix.as_bytes());
            }
            other => bytes.extend_from_slice(other.to_string().as_bytes()),
        }
        bytes.push(b'\n');
    }
    Ok(bytes)
}

fn run_fixture(workload: &str, path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fx: Fixture =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let input = input_bytes(&fx.input)?;

    let mut child = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .arg("--workload")
        .arg(workload)
        .args(&fx.args)
        .env("MAELSTROM_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn maelstrom-node: {e}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let hold_open = Duration::from_millis(fx.hold_open_ms);
    let writer = std::thread::spawn(move || {
        // A node may stop reading early (e.g. after an over-long line it
        // refused): a broken pipe is not this test's failure.
        let _ = stdin.write_all(&input);
        let _ = stdin.flush();
        std::thread::sleep(hold_open);
        drop(stdin);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });

    let deadline = Instant::now() + Duration::from_millis(fx.timeout_ms) + hold_open;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{}: timed out after {} ms", fx.name, fx.timeout_ms).into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    writer.join().unwrap();
    let out = out_reader.join().unwrap();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap()).to_string();

    let mut problems = Vec::new();
    if !status.success() {
        problems.push(format!("node exited with {status}"));
    }
    let out = String::from_utf8(out).map_err(|_| "stdout is not UTF-8")?;
    let mut actual = Vec::new();
    for line in out.lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => actual.push(v),
            _ => problems.push(format!("stdout line is not a JSON object: {line}")),
        }
    }
    let matched = match_in_order(&fx.expected, &actual);
    if matched.iter().any(Option::is_none) {
        problems.push("expected messages missing or out of order".into());
    }
    if fx.exact && actual.len() != fx.expected.len() {
        problems.push(format!(
            "exact case: {} lines expected, {} written",
            fx.expected.len(),
            actual.len()
        ));
    }
    for bad in &fx.unexpected {
        if let Some(line) = actual.iter().find(|a| matches(bad, a)) {
            problems.push(format!("unexpected message written: {line}"));
        }
    }
    for want in &fx.stderr {
        if !err.contains(want.as_str()) {
            problems.push(format!("stderr lacks {want:?}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n{}\n{}\nstderr:\n{}",
        fx.name,
        problems.join("\n"),
        side_by_side(&fx.expected, &actual, &matched),
        err
    )
    .into())
}

/// For each expected message, the index of the actual line it matched:
/// the earliest match after the previous one.
fn match_in_order(expected: &[Value], actual: &[Value]) -> Vec<Option<usize>> {
    let mut next = 0;
    expected
        .iter()
        .map(|want| {
            let found = (next..actual.len()).find(|&i| matches(want, &actual[i]));
            if let Some(i) = found {
                next = i + 1;
            }
            found
        })
        .collect()
}

/// Equality of JSON values where the expected string `"<any>"` matches
/// anything; numbers compare by value (1 == 1.0 is false: types matter).
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(s), _) if s == "<any>" => true,
        (Value::Object(w), Value::Object(g)) => {
            w.len() == g.len()
                && w.iter()
                    .all(|(k, wv)| g.get(k).is_some_and(|gv| matches(wv, gv)))
        }
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b))
        }
        _ => want == got,
    }
}

/// Expected and actual lines in two columns, matched pairs on one row.
fn side_by_side(expected: &[Value], actual: &[Value], matched: &[Option<usize>]) -> String {
    let width = 78;
    let cell = |v: &Value| {
        let s = v.to_string();
        if s.chars().count() > width {
            format!("{}…", s.chars().take(width - 1).collect::<String>())
        } else {
            s
        }
    };
    let mut rows = vec![format!("  {:<width$} | {}", "EXPECTED", "ACTUAL")];
    let mut shown = 0;
    for (want, m) in expected.iter().zip(matched) {
        if let Some(i) = m {
            for a in &actual[shown..*i] {
                rows.push(format!("  {:<width$} | {}", "", cell(a)));
            }
            rows.push(format!("= {:<width$} | {}", cell(want), cell(&actual[*i])));
            shown = i + 1;
        } else {
            rows.push(format!("✗ {:<width$} | (missing)", cell(want)));
        }
    }
    for a in &actual[shown.min(actual.len())..] {
        rows.push(format!("  {:<width$} | {}", "", cell(a)));
    }
    rows.join("\n")
}
