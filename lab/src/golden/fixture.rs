//! The fixture file: its format (see the parent module's docs), how it is
//! read, and the bytes its input stands for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// The string that, in an expected message, matches any value.
pub const ANY: &str = "<any>";

/// The longest a case may run (`timeout_ms` plus `hold_open_ms`): a case
/// that needs longer is no golden case, and the deadline must not overflow.
const MAX_CASE_MS: u64 = 3_600_000;

/// The longest `$long` line: it is built in memory before it is written.
const MAX_LONG_LINE_BYTES: usize = 256 << 20;

/// One case, read from `fixtures/<workload>/<case>.json` (or any file).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The file, as it was named.
    pub path: PathBuf,
    /// `workload/case`: the file's folder and stem, as the runner prints it.
    pub name: String,
    /// The file's folder: the workload that runs it when none is given.
    pub folder: String,
    /// What the file says.
    pub spec: FixtureSpec,
}

/// A fixture file's contents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    /// What the case shows (the file's `name`).
    #[serde(rename = "name")]
    pub about: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Flags of maelstrom-node's workloads, after `--workload W`.
    #[serde(default)]
    pub args: Vec<String>,
    /// How long stdin stays open after the input is written.
    #[serde(default)]
    pub hold_open_ms: u64,
    pub input: Vec<InputLine>,
    /// Must appear in this order, other lines between them allowed.
    pub expected: Vec<MessagePattern>,
    /// The output is exactly `expected`, no other line.
    #[serde(default)]
    pub exact: bool,
    /// None of these may appear.
    #[serde(default)]
    pub unexpected: Vec<MessagePattern>,
    /// Substrings of stderr: maelstrom-node's own log wording.
    #[serde(default)]
    pub stderr: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    5000
}

impl FixtureSpec {
    /// From the start of the node to the latest it may exit.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.saturating_add(self.hold_open_ms))
    }

    /// How long stdin stays open once the input is written.
    pub fn hold_open(&self) -> Duration {
        Duration::from_millis(self.hold_open_ms)
    }

    /// Everything written to the node's stdin.
    pub fn input_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for line in &self.input {
            line.write_to(&mut bytes);
        }
        bytes
    }
}

/// Why a path gives no fixture.
#[derive(Debug)]
pub enum FixtureError {
    /// Neither a readable file nor a readable folder.
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Read, but not a fixture: the reason names the place (serde's line
    /// and column) where there is one.
    Malformed { path: PathBuf, reason: String },
    /// The paths given hold no `*.json` file.
    NoFixtures { paths: Vec<PathBuf> },
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixtureError::Unreadable { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            FixtureError::Malformed { path, reason } => {
                write!(f, "{}: not a fixture: {reason}", path.display())
            }
            FixtureError::NoFixtures { paths } => {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "no fixtures (*.json) in {}", names.join(", "))
            }
        }
    }
}

impl std::error::Error for FixtureError {}

impl Fixture {
    /// Reads and checks one fixture file.
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        let unreadable = |error| FixtureError::Unreadable {
            path: path.to_path_buf(),
            error,
        };
        let malformed = |reason: String| FixtureError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        // Bytes, so that invalid UTF-8 is told with its line and column.
        let bytes = std::fs::read(path).map_err(unreadable)?;
        let spec: FixtureSpec =
            serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if spec.timeout_ms.saturating_add(spec.hold_open_ms) > MAX_CASE_MS {
            return Err(malformed(format!(
                "timeout_ms + hold_open_ms is {} ms, over the limit of {MAX_CASE_MS} ms",
                spec.timeout_ms.saturating_add(spec.hold_open_ms)
            )));
        }
        // The folder of the real file: `./x.json` and `../echo/x.json`
        // name theirs only once resolved.
        let folder = std::fs::canonicalize(path)
            .map_err(unreadable)?
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let case = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Fixture {
            path: path.to_path_buf(),
            name: format!("{folder}/{case}"),
            folder,
            spec,
        })
    }
}

/// The fixture files that `paths` name, in order: a file is itself; a
/// folder gives every `*.json` in it and in its immediate subfolders
/// (`fixtures/` gives every workload's), sorted by path.
pub fn find_fixtures(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FixtureError> {
    let mut found = Vec::new();
    for path in paths {
        let unreadable = |error| FixtureError::Unreadable {
            path: path.clone(),
            error,
        };
        if !std::fs::metadata(path).map_err(unreadable)?.is_dir() {
            found.push(path.clone());
            continue;
        }
        let mut in_folder = Vec::new();
        for entry in std::fs::read_dir(path).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?.path();
            if entry.is_dir() {
                let sub_unreadable = |error| FixtureError::Unreadable {
                    path: entry.clone(),
                    error,
                };
                for file in std::fs::read_dir(&entry).map_err(sub_unreadable)? {
                    let file = file.map_err(sub_unreadable)?.path();
                    if is_fixture_file(&file) {
                        in_folder.push(file);
                    }
                }
            } else if is_fixture_file(&entry) {
                in_folder.push(entry);
            }
        }
        in_folder.sort();
        found.extend(in_folder);
    }
    if found.is_empty() {
        return Err(FixtureError::NoFixtures {
            paths: paths.to_vec(),
        });
    }
    Ok(found)
}

/// `*.json`, not hidden (an editor's `.x.json` swap file is no case).
fn is_fixture_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        && path.is_file()
}

/// Every fixture that `paths` name ([`find_fixtures`]), loaded; or every
/// reason one could not be, so that all are told at once.
pub fn load_fixtures(paths: &[PathBuf]) -> Result<Vec<Fixture>, Vec<FixtureError>> {
    let files = find_fixtures(paths).map_err(|e| vec![e])?;
    let mut fixtures = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match Fixture::load(&file) {
            Ok(fixture) => fixtures.push(fixture),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(fixtures)
    } else {
        Err(errors)
    }
}

/// One line of a fixture's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub enum InputLine {
    /// Any JSON value but a string or a `$hex`/`$long` object (usually a
    /// message), written as compact JSON and a newline.
    Json(Value),
    /// A string: written as it is (it need not be JSON), and a newline.
    Text(String),
    /// `{"$hex": "7b0a"}` (spaces allowed): exactly these bytes, with no
    /// newline added, so a line can be cut or invalid UTF-8.
    Bytes(Vec<u8>),
    /// `{"$long": {...}}`: a generated line, and a newline.
    Long(LongLine),
}

/// `{"$long": {"prefix": "...", "fill": "x", "bytes": N, "suffix": "..."}}`:
/// `prefix`, then `fill` repeated, then `suffix`, `bytes` bytes in all (the
/// newline not counted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongLine {
    #[serde(default)]
    pub prefix: String,
    #[serde(default = "default_fill")]
    pub fill: String,
    pub bytes: usize,
    #[serde(default)]
    pub suffix: String,
}

fn default_fill() -> String {
    "x".into()
}

impl TryFrom<Value> for InputLine {
    type Error = String;

    fn try_from(value: Value) -> Result<InputLine, String> {
        let Value::Object(object) = &value else {
            return Ok(match value {
                Value::String(text) => InputLine::Text(text),
                other => InputLine::Json(other),
            });
        };
        let special = |key: &str| -> Result<Option<Value>, String> {
            match object.get(key) {
                Some(_) if object.len() > 1 => {
                    Err(format!("an input `{key}` object has no other keys"))
                }
                found => Ok(found.cloned()),
            }
        };
        if let Some(hex) = special("$hex")? {
            let Value::String(hex) = hex else {
                return Err(format!("`$hex` takes a string, not {hex}"));
            };
            return decode_hex(&hex).map(InputLine::Bytes);
        }
        if let Some(spec) = special("$long")? {
            let long: LongLine =
                serde_json::from_value(spec).map_err(|e| format!("`$long`: {e}"))?;
            if long.fill.is_empty() {
                return Err("`$long`: `fill` must not be empty".into());
            }
            if long.bytes > MAX_LONG_LINE_BYTES {
                return Err(format!(
                    "`$long`: {} bytes, over the limit of {MAX_LONG_LINE_BYTES}",
                    long.bytes
                ));
            }
            return Ok(InputLine::Long(long));
        }
        Ok(InputLine::Json(value))
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(format!("`$hex` has an odd number of digits: {hex:?}"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "`$hex`: not a hex byte: {:?}",
                        String::from_utf8_lossy(pair)
                    )
                })
        })
        .collect()
}

impl InputLine {
    fn write_to(&self, bytes: &mut Vec<u8>) {
        match self {
            InputLine::Json(value) => bytes.extend_from_slice(value.to_string().as_bytes()),
            InputLine::Text(text) => bytes.extend_from_slice(text.as_bytes()),
            InputLine::Bytes(raw) => {
                // The hex gives the whole line, newline included if wanted.
                bytes.extend_from_slice(raw);
                return;
            }
            InputLine::Long(long) => {
                bytes.extend_from_slice(long.prefix.as_bytes());
                let fill_len = long
                    .bytes
                    .saturating_sub(long.prefix.len() + long.suffix.len());
                bytes.extend(long.fill.as_bytes().iter().cycle().take(fill_len));
                bytes.extend_from_slice(long.suffix.as_bytes());
            }
        }
        bytes.push(b'\n');
    }
}

/// An expected (or unexpected) message: a JSON object in which the string
/// `"<any>"` matches any value.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct MessagePattern(Value);

impl TryFrom<Value> for MessagePattern {
    type Error = String;

    fn try_from(value: Value) -> Result<MessagePattern, String> {
        if value.is_object() {
            Ok(MessagePattern(value))
        } else {
            Err(format!("an expected message is a JSON object, not {value}"))
        }
    }
}

impl MessagePattern {
    /// The pattern as written.
    pub fn json(&self) -> &Value {
        &self.0
    }

    /// Whether `message` is this one, as parsed JSON: key order and
    /// spacing are free, `"<any>"` matches anything, and numbers compare
    /// by value and type (1 and 1.0 differ).
    pub fn matches(&self, message: &Value) -> bool {
        matches(&self.0, message)
    }
}

fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::String(s), _) if s == ANY => true,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(value: Value) -> Result<InputLine, String> {
        InputLine::try_from(value)
    }

    fn bytes(lines: Vec<Value>) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            line(l).unwrap().write_to(&mut out);
        }
        out
    }

    #[test]
    fn input_forms_become_the_bytes_they_stand_for() {
        assert_eq!(bytes(vec![json!({"a": 1})]), b"{\"a\":1}\n");
        assert_eq!(bytes(vec![json!("not json")]), b"not json\n");
        assert_eq!(bytes(vec![json!(42)]), b"42\n");
        assert_eq!(bytes(vec![json!({"$hex": "ff 0a 7b"})]), b"\xff\n{");
        assert_eq!(
            bytes(vec![
                json!({"$long": {"prefix": "<", "fill": "ab", "bytes": 7, "suffix": ">"}})
            ]),
            b"<ababa>\n"
        );
    }

    #[test]
    fn bad_input_forms_are_refused_with_a_reason() {
        for (value, reason) in [
            (json!({"$hex": "abc"}), "odd number"),
            (json!({"$hex": "zz"}), "not a hex byte"),
            (json!({"$hex": "éé"}), "not a hex byte"),
            (json!({"$hex": 12}), "takes a string"),
            (json!({"$hex": "0a", "x": 1}), "no other keys"),
            (json!({"$long": {"fill": "x"}}), "missing field `bytes`"),
            (
                json!({"$long": {"bytes": 3, "fil": "x"}}),
                "unknown field `fil`",
            ),
            (
                json!({"$long": {"bytes": 3, "fill": ""}}),
                "must not be empty",
            ),
            (json!({"$long": {"bytes": 1u64 << 40}}), "over the limit"),
        ] {
            let err = line(value.clone()).unwrap_err();
            assert!(err.contains(reason), "{value}: {err}");
        }
    }

    #[test]
    fn patterns_match_as_parsed_json_with_wildcards() {
        let pattern = MessagePattern::try_from(
            json!({"src": "n1", "body": {"type": "x", "msg_id": "<any>", "v": [1, "<any>"]}}),
        )
        .unwrap();
        assert!(pattern.matches(
            &json!({"body": {"v": [1, {"deep": true}], "msg_id": 7, "type": "x"}, "src": "n1"})
        ));
        assert!(
            !pattern
                .matches(&json!({"src": "n1", "body": {"type": "x", "msg_id": 7, "v": [1.0, 2]}})),
            "1 is not 1.0"
        );
        assert!(
            !pattern.matches(&json!({"src": "n1", "body": {"type": "x", "v": [1, 2]}})),
            "a wildcard still needs its key"
        );
        assert!(
            !pattern.matches(
                &json!({"src": "n1", "extra": 0, "body": {"type": "x", "msg_id": 7, "v": [1, 2]}})
            ),
            "no extra keys"
        );
        assert!(
            MessagePattern::try_from(json!([1]))
                .unwrap_err()
                .contains("JSON object")
        );
    }
}
