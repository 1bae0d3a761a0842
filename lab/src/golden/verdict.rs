//! Judging a node's run against its fixture, and explaining a failure: the
//! problems, the expected and actual messages side by side, the stderr.

use std::ops::Range;

use serde_json::Value;

use super::fixture::{ANY, FixtureSpec, MessagePattern};
use super::node_run::{CLOSE_GRACE, Captured, KEPT_BYTES, NodeRun, RunEnd};

/// Lines of the side-by-side table past which it is cut (a flooding node
/// writes millions).
const MAX_TABLE_ROWS: usize = 200;
/// Stdout lines past which the rest are counted, not checked: no case
/// wants that many, and each checked line is kept parsed.
const MAX_CHECKED_LINES: usize = 100_000;
/// Lines that are not messages, listed one by one before they are counted.
const MAX_LISTED_BAD_LINES: usize = 10;
/// The tail of stderr shown with a failure.
const STDERR_LINES_SHOWN: usize = 40;
/// Longest stdout or stderr line quoted in a problem.
const QUOTE_CHARS: usize = 300;
/// Width of a table column.
const CELL_CHARS: usize = 78;

/// Whether a fixture's `stderr` substrings are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StderrExpectations {
    Check,
    /// They are maelstrom-node's own log wording: no other node is held to it.
    Ignore,
}

/// What a run did wrong, if anything, and what to show for it.
#[derive(Debug)]
pub struct Verdict {
    /// Empty: the case passed.
    pub problems: Vec<String>,
    /// The expected and actual messages side by side.
    pub table: String,
    /// The end of the node's stderr, trimmed.
    pub stderr: String,
}

impl Verdict {
    /// The problems, the table and the stderr, one block of text.
    pub fn explanation(&self, about: &str) -> String {
        let mut text = String::from(about);
        for problem in &self.problems {
            text.push_str("\n- ");
            text.push_str(problem);
        }
        text.push('\n');
        text.push_str(&self.table);
        text.push_str("\nstderr:");
        if self.stderr.is_empty() {
            text.push_str(" (empty)");
        } else {
            text.push('\n');
            text.push_str(&self.stderr);
        }
        text
    }
}

/// One line of the node's stdout.
enum OutputLine {
    Message(Value),
    /// Not a JSON object: shown as text (lossily, if not UTF-8).
    NotMessage(String),
}

/// Judges `run` against `spec`: how the node ended, what it wrote (every
/// line a JSON object; the expected messages in order; with `exact`,
/// nothing else; none of the unexpected ones) and, when checked, its stderr.
pub fn judge(
    spec: &FixtureSpec,
    run: &NodeRun,
    stderr_expectations: StderrExpectations,
) -> Verdict {
    let mut problems = Vec::new();
    match &run.end {
        RunEnd::TimedOut => problems.push(format!(
            "timed out after {} ms{}: killed the node and its process group",
            spec.timeout_ms,
            if spec.hold_open_ms > 0 {
                format!(" (+ {} ms holding stdin open)", spec.hold_open_ms)
            } else {
                String::new()
            }
        )),
        RunEnd::Exited(status) if !status.success() => {
            problems.push(format!("the node exited with {status}"))
        }
        RunEnd::Exited(_) => {}
    }
    if run.stdout.left_open || run.stderr.left_open {
        problems.push(format!(
            "the node's output was still open {} s after it ended and its process group was \
             killed: a process that left the group holds it (and still runs)",
            CLOSE_GRACE.as_secs()
        ));
    }
    if run.stdout.was_cut() {
        problems.push(format!(
            "stdout cut: the node wrote {} bytes, the first {} MiB are kept and checked",
            run.stdout.total,
            KEPT_BYTES >> 20
        ));
    }

    let (lines, line_count) = output_lines(&run.stdout);
    if line_count > lines.len() {
        problems.push(format!(
            "stdout has {line_count} lines: the first {} are checked",
            lines.len()
        ));
    }
    let mut bad_lines = 0;
    for (number, line) in lines.iter().enumerate() {
        if let OutputLine::NotMessage(text) = line {
            bad_lines += 1;
            if bad_lines <= MAX_LISTED_BAD_LINES {
                problems.push(format!(
                    "stdout line {} is not a JSON object: {}",
                    number + 1,
                    quote(text)
                ));
            }
        }
    }
    if bad_lines > MAX_LISTED_BAD_LINES {
        problems.push(format!(
            "… and {} more lines that are not JSON objects",
            bad_lines - MAX_LISTED_BAD_LINES
        ));
    }

    let messages: Vec<&Value> = lines
        .iter()
        .filter_map(|l| match l {
            OutputLine::Message(m) => Some(m),
            OutputLine::NotMessage(_) => None,
        })
        .collect();
    let matched = match_in_order(&spec.expected, &messages);
    let missing = matched.iter().filter(|m| m.is_none()).count();
    if missing > 0 {
        problems.push(format!(
            "{missing} of {} expected messages missing or out of order (✗ below)",
            spec.expected.len()
        ));
    }
    if spec.exact && messages.len() != spec.expected.len() {
        problems.push(format!(
            "exact case: {} messages expected, {} written",
            spec.expected.len(),
            messages.len()
        ));
    }
    for pattern in &spec.unexpected {
        if let Some(message) = messages.iter().find(|m| pattern.matches(m)) {
            problems.push(format!(
                "unexpected message written: {}",
                quote(&message.to_string())
            ));
        }
    }
    let stderr_text = String::from_utf8_lossy(&run.stderr.kept);
    if stderr_expectations == StderrExpectations::Check {
        for want in &spec.stderr {
            if !stderr_text.contains(want.as_str()) {
                problems.push(format!("stderr lacks {want:?}"));
            }
        }
    }
    Verdict {
        problems,
        table: side_by_side(&spec.expected, &lines, &matched),
        stderr: stderr_tail(&stderr_text, run.stderr.was_cut()),
    }
}

/// Stdout split into lines, at most [`MAX_CHECKED_LINES`], and how many
/// there are in all. A last line cut by [`KEPT_BYTES`] is left out (the
/// node did not write it so); a last line without a newline is kept.
fn output_lines(stdout: &Captured) -> (Vec<OutputLine>, usize) {
    let mut bytes = &stdout.kept[..];
    if stdout.was_cut() {
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes = &bytes[..end];
    }
    if bytes.is_empty() {
        return (Vec::new(), 0);
    }
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut lines = Vec::new();
    let mut total = 0;
    for line in bytes.split(|&b| b == b'\n') {
        total += 1;
        if total > MAX_CHECKED_LINES {
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        lines.push(match serde_json::from_slice::<Value>(line) {
            Ok(message @ Value::Object(_)) => OutputLine::Message(message),
            Ok(_) => OutputLine::NotMessage(quote(&String::from_utf8_lossy(line))),
            Err(e) => {
                OutputLine::NotMessage(format!("{} ({e})", quote(&String::from_utf8_lossy(line))))
            }
        });
    }
    (lines, total)
}

/// For each expected message, the index (among the messages) of the one it
/// matched: the earliest match after the previous one.
fn match_in_order(expected: &[MessagePattern], messages: &[&Value]) -> Vec<Option<usize>> {
    let mut next = 0;
    expected
        .iter()
        .map(|want| {
            let found = (next..messages.len()).find(|&i| want.matches(messages[i]));
            if let Some(i) = found {
                next = i + 1;
            }
            found
        })
        .collect()
}

/// Expected and actual lines in two columns, every stdout line in its
/// place (lines that are not messages marked): a matched pair on one row
/// (`=`), and an expected message that is missing (`✗`) beside the first
/// line written in its place, if one was, so that a near miss reads as
/// one.
fn side_by_side(
    expected: &[MessagePattern],
    lines: &[OutputLine],
    matched: &[Option<usize>],
) -> String {
    let width = CELL_CHARS;
    let cell = |text: &str| {
        if text.chars().count() > width {
            format!("{}…", text.chars().take(width - 1).collect::<String>())
        } else {
            text.to_string()
        }
    };
    let want = |pattern: &MessagePattern| cell(&pattern.json().to_string());
    let actual = |i: usize| match &lines[i] {
        OutputLine::Message(m) => cell(&m.to_string()),
        OutputLine::NotMessage(text) => cell(&format!("(not a message) {text}")),
    };
    // Where each message sits among all the lines.
    let message_lines: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, OutputLine::Message(_)))
        .map(|(i, _)| i)
        .collect();
    let mut table = Table::default();
    table.push(|| format!("  {:<width$} | {}", "EXPECTED", "ACTUAL"));
    // The missing expected messages since the last match, and the lines
    // written since it: they share rows, in order.
    let mut missing: Vec<&MessagePattern> = Vec::new();
    let mut next_line = 0;
    let gap = |table: &mut Table, missing: &mut Vec<&MessagePattern>, unmatched: Range<usize>| {
        for row in 0..missing.len().max(unmatched.len()) {
            let line = Some(unmatched.start + row).filter(|a| unmatched.contains(a));
            match (missing.get(row), line.as_ref()) {
                (Some(w), Some(&a)) => {
                    table.push(|| format!("✗ {:<width$} | {}", want(w), actual(a)));
                    // The cells may be cut before the difference.
                    if let OutputLine::Message(got) = &lines[a] {
                        if let Some(difference) = first_difference(w.json(), got, "") {
                            table.push(|| format!("    {}", quote(&difference)));
                        }
                    }
                }
                (Some(w), None) => table.push(|| format!("✗ {:<width$} | (missing)", want(w))),
                (None, Some(&a)) => table.push(|| format!("  {:<width$} | {}", "", actual(a))),
                (None, None) => unreachable!("row < the longer of the two"),
            }
        }
        missing.clear();
    };
    for (pattern, m) in expected.iter().zip(matched) {
        match m {
            None => missing.push(pattern),
            Some(i) => {
                let line = message_lines[*i];
                gap(&mut table, &mut missing, next_line..line);
                table.push(|| format!("= {:<width$} | {}", want(pattern), actual(line)));
                next_line = line + 1;
            }
        }
    }
    gap(&mut table, &mut missing, next_line..lines.len());
    table.render()
}

/// Where `got` first departs from the pattern `want` (same rules as
/// [`MessagePattern::matches`]), as `differs at body.msg_id: expected 0,
/// actual 1`.
fn first_difference(want: &Value, got: &Value, path: &str) -> Option<String> {
    let at = |key: &dyn std::fmt::Display| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (want, got) {
        (Value::String(s), _) if s == ANY => None,
        (Value::Object(w), Value::Object(g)) => {
            for (key, wv) in w {
                match g.get(key) {
                    None => return Some(format!("differs at {}: missing", at(key))),
                    Some(gv) => {
                        if let Some(d) = first_difference(wv, gv, &at(key)) {
                            return Some(d);
                        }
                    }
                }
            }
            g.iter()
                .find(|(k, _)| !w.contains_key(*k))
                .map(|(extra, value)| format!("differs at {}: not expected ({value})", at(extra)))
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (wv, gv))| first_difference(wv, gv, &at(&i))),
        _ if want == got => None,
        _ => Some(format!(
            "differs at {}: expected {want}, actual {got}",
            if path.is_empty() { "the top" } else { path }
        )),
    }
}

/// Rows of the side-by-side table: the first [`MAX_TABLE_ROWS`], then a
/// count of the rest.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
    hidden: usize,
}

impl Table {
    /// Adds a row, made only if it is shown.
    fn push(&mut self, row: impl FnOnce() -> String) {
        if self.rows.len() <= MAX_TABLE_ROWS {
            self.rows.push(row());
        } else {
            self.hidden += 1;
        }
    }

    fn render(mut self) -> String {
        if self.hidden > 0 {
            self.rows.push(format!("  … {} more rows", self.hidden));
        }
        self.rows.join("\n")
    }
}

fn stderr_tail(text: &str, cut: bool) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    let skipped = lines.len().saturating_sub(STDERR_LINES_SHOWN);
    let mut shown: Vec<String> = lines[skipped..].iter().map(|l| quote(l)).collect();
    if skipped > 0 {
        shown.insert(0, format!("… {skipped} earlier lines"));
    }
    if cut {
        shown.push(format!("… (stderr cut at {} MiB)", KEPT_BYTES >> 20));
    }
    shown.join("\n")
}

fn quote(text: &str) -> String {
    if text.chars().count() > QUOTE_CHARS {
        format!("{}…", text.chars().take(QUOTE_CHARS).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let want = json!({"body": {"type": "x", "msg_id": 0, "v": [1, "<any>"], "text": "<any>"}});
        for (got, says) in [
            (
                json!({"body": {"type": "x", "msg_id": 1, "v": [1, 2], "text": ""}}),
                Some("differs at body.msg_id: expected 0, actual 1"),
            ),
            (
                json!({"body": {"type": "x", "msg_id": 0, "v": [1.0, 2], "text": ""}}),
                Some("differs at body.v.0: expected 1, actual 1.0"),
            ),
            (
                json!({"body": {"type": "x", "msg_id": 0, "v": [1]}}),
                Some("differs at body.text: missing"),
            ),
            (
                json!({"body": {"type": "x", "msg_id": 0, "v": [1, 2], "text": "", "extra": 5}}),
                Some("differs at body.extra: not expected (5)"),
            ),
            (
                json!({"body": {"type": "x", "msg_id": 0, "v": [1, {"any": "thing"}], "text": 3}}),
                None,
            ),
        ] {
            assert_eq!(first_difference(&want, &got, "").as_deref(), says, "{got}");
            let pattern = MessagePattern::try_from(want.clone()).unwrap();
            assert_eq!(
                pattern.matches(&got),
                says.is_none(),
                "agrees with matches: {got}"
            );
        }
    }
}
