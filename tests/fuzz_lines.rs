//! A line fuzzer for every registered workload, short enough for CI.
//!
//! Each case feeds node `n1` of a workload (peers `n2`, `n3`) a sequence of
//! lines through the framework's line handling (`Process::on_line`): valid
//! client requests from the workload's lab, valid node-to-node messages a
//! peer really sent, and those same lines mutated — bytes flipped, inserted,
//! cut; a field replaced by any JSON value, removed, or nested deep; the
//! type swapped — plus random bytes and wake-ups. It checks that
//!
//! - nothing panics, in the framework or in a handler;
//! - every output line is a protocol message Maelstrom would take
//!   ([`testing::wire_message`]);
//! - a line answered with an error changes no state: a twin node that is
//!   fed every line except the rejected ones answers the lab's final reads
//!   exactly as the node does.
//!
//! `FUZZ_LINES_CASES` sets the cases per workload (default 200).

use std::time::Duration;

use maelstrom_framework::serde_json::{Value, json};
use maelstrom_framework::testing::{self, at, default_node, wire_messages};
use maelstrom_framework::{Process, Registration, registry};
use maelstrom_lab::testing::default_lab;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::SeedableRng;
use rand::rngs::StdRng;

// `inventory` only registers workloads from crates the test links.
use maelstrom_catalog as _;

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// How one input line is made.
#[derive(Debug, Clone)]
enum Make {
    /// A template as it is.
    Valid(Index),
    /// A template with byte edits: (position, byte, 0 flip / 1 insert / 2 cut).
    Bytes(Index, Vec<(Index, u8, u8)>),
    /// A template with one field of its body (any depth) replaced.
    Replace(Index, Index, Value),
    /// A template with one field of its body removed.
    Remove(Index, Index),
    /// A template with one field of its body wrapped in `n` arrays.
    Deep(Index, Index, usize),
    /// A template with another body `type`.
    Retype(Index, String),
    /// A template with `src`, `dest` or `body` replaced.
    Envelope(Index, u8, Value),
    /// Any bytes.
    Raw(Vec<u8>),
    /// No line: time passes and the node wakes, `ms` later.
    Wake(u64),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(0), Just(1)].prop_map(Value::from),
        prop_oneof![Just(i64::MIN), Just(-1)].prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z0-9_ ]{0,6}".prop_map(Value::from),
        "n[0-9]|c[0-9]|".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,6}|n[1-3]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn make() -> impl Strategy<Value = Make> {
    let types =
        "[a-z_]{1,12}|init|read|error|add|broadcast|gossip|exchange|replicate|write|kv_merge";
    prop_oneof![
        3 => any::<Index>().prop_map(Make::Valid),
        2 => (any::<Index>(), prop::collection::vec((any::<Index>(), any::<u8>(), 0..3u8), 1..4))
            .prop_map(|(t, edits)| Make::Bytes(t, edits)),
        3 => (any::<Index>(), any::<Index>(), json_value()).prop_map(|(t, f, v)| Make::Replace(t, f, v)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(t, f)| Make::Remove(t, f)),
        1 => (any::<Index>(), any::<Index>(), 95..130usize).prop_map(|(t, f, n)| Make::Deep(t, f, n)),
        1 => (any::<Index>(), types).prop_map(|(t, k)| Make::Retype(t, k)),
        1 => (any::<Index>(), 0..3u8, json_value()).prop_map(|(t, w, v)| Make::Envelope(t, w, v)),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Make::Raw),
        1 => (1..3000u64).prop_map(Make::Wake),
    ]
}

/// Every path to a field or element of `v`.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(Value::from(k.as_str()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Value::from(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// Applies `f` to the parent of the field at a path chosen by `which`.
fn at_path(body: &mut Value, which: &Index, f: impl FnOnce(&mut Value, &Value)) {
    let mut all = Vec::new();
    paths(body, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let path = which.get(&all);
    let (last, parents) = path.split_last().unwrap();
    let mut parent = body;
    for step in parents {
        parent = match step {
            Value::String(k) => &mut parent[k.as_str()],
            other => &mut parent[other.as_u64().unwrap() as usize],
        };
    }
    f(parent, last);
}

fn field<'a>(parent: &'a mut Value, key: &Value) -> Option<&'a mut Value> {
    match key {
        Value::String(k) => parent.get_mut(k.as_str()),
        other => parent.get_mut(other.as_u64()? as usize),
    }
}

fn build(make: &Make, templates: &[Value], msg_id: u64) -> Option<Vec<u8>> {
    let template = |t: &Index| {
        let mut m = t.get(templates).clone();
        if m["body"].get("in_reply_to").is_none() {
            m["body"]["msg_id"] = json!(msg_id);
        }
        m
    };
    let line = match make {
        Make::Wake(_) => return None,
        Make::Raw(bytes) => return Some(bytes.clone()),
        Make::Valid(t) => template(t),
        Make::Bytes(t, edits) => {
            let mut bytes = template(t).to_string().into_bytes();
            for (pos, byte, how) in edits {
                let i = pos.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => bytes[i] ^= byte | 1,
                    1 => bytes.insert(i, *byte),
                    _ => bytes.truncate(i),
                }
            }
            return Some(bytes);
        }
        Make::Replace(t, f, v) => {
            let mut m = template(t);
            at_path(&mut m["body"], f, |parent, key| {
                if let Some(slot) = field(parent, key) {
                    *slot = v.clone();
                }
            });
            m
        }
        Make::Remove(t, f) => {
            let mut m = template(t);
            at_path(&mut m["body"], f, |parent, key| match (parent, key) {
                (Value::Object(o), Value::String(k)) => {
                    o.remove(k);
                }
                (Value::Array(a), Value::Number(i)) => {
                    a.remove(i.as_u64().unwrap() as usize);
                }
                _ => {}
            });
            m
        }
        Make::Deep(t, f, n) => {
            let mut m = template(t);
            at_path(&mut m["body"], f, |parent, key| {
                if let Some(slot) = field(parent, key) {
                    for _ in 0..*n {
                        *slot = Value::Array(vec![slot.take()]);
                    }
                }
            });
            m
        }
        Make::Retype(t, kind) => {
            let mut m = template(t);
            m["body"]["type"] = json!(kind);
            m
        }
        Make::Envelope(t, which, v) => {
            let mut m = template(t);
            m[["src", "dest", "body"][*which as usize]] = v.clone();
            m
        }
    };
    Some(line.to_string().into_bytes())
}

/// Valid lines for `n1`: the lab's client requests and final reads, and
/// what a busy peer `n2` of the same workload sends `n1`.
fn templates(workload: &Registration) -> (Vec<Value>, Vec<Value>) {
    let Some(mut lab) = default_lab(workload.name, &NODES) else {
        return (Vec::new(), Vec::new());
    };
    let mut rng = StdRng::seed_from_u64(1);
    let ops: Vec<Value> = (0..30).filter_map(|_| lab.next_op(&mut rng)).collect();
    let reads = lab.final_reads();
    let client = |body: &Value| json!({"src": "c1", "dest": "n1", "body": body});
    let mut lines: Vec<Value> = ops.iter().chain(&reads).map(client).collect();
    let mut peer = default_node(workload, 2);
    testing::init(peer.as_mut(), "n2", &NODES);
    for (i, op) in ops.iter().enumerate() {
        let mut body = op.clone();
        body["msg_id"] = json!(1000 + i);
        testing::deliver(peer.as_mut(), Duration::from_millis(i as u64), "c2", body);
    }
    for ms in [100, 200, 500, 1000, 2000, 5000] {
        peer.on_wake(at(Duration::from_millis(ms)));
    }
    let sent = testing::take_output(peer.as_mut());
    lines.extend(sent.into_iter().filter(|m| m["dest"] == "n1"));
    (lines, reads)
}

/// The reply bodies without ids: what must match between the twins.
fn answers(node: &mut dyn Process, t: Duration, reads: &[Value]) -> Vec<Value> {
    reads
        .iter()
        .enumerate()
        .map(|(i, read)| {
            let mut body = read.clone();
            body["msg_id"] = json!(1_000_000 + i);
            let line = json!({"src": "c9", "dest": "n1", "body": body});
            node.on_line(at(t), line.to_string().as_bytes());
            let mut out = wire_messages(&std::mem::take(node.output())).unwrap();
            let mut reply = out
                .iter_mut()
                .find(|m| m["dest"] == "c9")
                .map(|m| m["body"].take())
                .unwrap_or(Value::Null);
            if let Some(b) = reply.as_object_mut() {
                b.remove("msg_id");
                b.remove("in_reply_to");
            }
            reply
        })
        .collect()
}

/// Whether `out` is exactly one error reply to the line with `msg_id`.
fn rejected(out: &[Value], msg_id: u64) -> bool {
    matches!(out, [reply] if reply["body"]["type"] == "error"
        && reply["body"]["in_reply_to"] == json!(msg_id))
}

fn fuzz(workload: &'static Registration, cases: u32) {
    let (lines, reads) = templates(workload);
    assert!(!lines.is_empty(), "{}: no templates", workload.name);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = prop::collection::vec(make(), 1..12);
    let result = runner.run(&strategy, |makes| {
        let mut node = default_node(workload, 7);
        let mut twin = default_node(workload, 7);
        testing::init(node.as_mut(), "n1", &NODES);
        testing::init(twin.as_mut(), "n1", &NODES);
        let mut t = Duration::ZERO;
        for (i, make) in makes.iter().enumerate() {
            t += Duration::from_millis(1);
            let msg_id = 10 + i as u64;
            let Some(line) = build(make, &lines, msg_id) else {
                if let Make::Wake(ms) = make {
                    t += Duration::from_millis(*ms);
                }
                node.on_wake(at(t));
                twin.on_wake(at(t));
                let out = wire_messages(&std::mem::take(node.output()));
                prop_assert!(out.is_ok(), "{}", out.unwrap_err());
                twin.output().clear();
                continue;
            };
            node.on_line(at(t), &line);
            let out = wire_messages(&std::mem::take(node.output())).map_err(|e| {
                TestCaseError::fail(format!(
                    "{e}\nafter line: {}",
                    String::from_utf8_lossy(&line)
                ))
            })?;
            if !rejected(&out, msg_id) {
                twin.on_line(at(t), &line);
                twin.output().clear();
            }
        }
        prop_assert_eq!(node.panics(), 0, "a handler panicked");
        let t = t + Duration::from_millis(1);
        prop_assert_eq!(
            answers(node.as_mut(), t, &reads),
            answers(twin.as_mut(), t, &reads),
            "a rejected line changed the state"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", workload.name);
    }
}

#[test]
fn random_and_mutated_lines_never_break_a_node() {
    let cases = std::env::var("FUZZ_LINES_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200);
    // Bad input is logged, once a line: thousands of lines of noise here.
    maelstrom_framework::log::set_level(maelstrom_framework::Level::Off);
    let workloads = registry::workloads();
    assert_eq!(workloads.len(), 11, "every workload crate is linked");
    for workload in workloads {
        fuzz(workload, cases);
    }
}
