//! Helpers for tests that drive a node by hand: a clock reading, `init`,
//! and the node's output as parsed messages. They panic on surprises, as
//! test helpers should. (Helpers for tests on a simulated cluster are the
//! lab's: `maelstrom_lab::testing`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::node::{Now, Process};
use crate::registry::{NodeFactory, Registration};

/// A node of a registered workload with its default flags.
pub fn default_node(workload: &Registration, seed: u64) -> Box<dyn Process> {
    default_factory(workload)(seed)
}

/// Builds nodes of a registered workload with its default flags (parsing
/// them once, for callers that build many nodes).
pub fn default_factory(workload: &Registration) -> NodeFactory {
    let command = (workload.augment_args)(clap::Command::new(workload.name));
    let matches = command
        .try_get_matches_from([workload.name])
        .expect("a workload's flags all have defaults");
    (workload.build)(&matches).expect("default flags build a node")
}

/// `elapsed` since the start, on the simulator's virtual wall clock.
pub fn at(elapsed: Duration) -> Now {
    crate::log::quiet_unless_asked();
    Now::virtual_at(elapsed)
}

/// Everything the node wrote since the last call, parsed; panics on a line
/// that is not a protocol message (see [`wire_message`]).
pub fn take_output(node: &mut dyn Process) -> Vec<Value> {
    crate::log::quiet_unless_asked();
    let out = std::mem::take(node.output());
    wire_messages(&out).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks a node's output, line by line, with [`wire_message`].
pub fn wire_messages(out: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(out).map_err(|e| format!("output is not UTF-8: {e}"))?;
    text.lines().map(wire_message).collect()
}

/// Parses one output line and checks that Maelstrom would take it: a JSON
/// object with non-empty `src` and `dest`, a body with a string `type`, an
/// integer `msg_id` and, if any, an integer `in_reply_to`, none of them
/// twice; an error body has an integer `code`; a client gets only replies.
pub fn wire_message(line: &str) -> Result<Value, String> {
    // Derived structs refuse a field given twice, which `Value` would hide.
    #[derive(serde::Deserialize)]
    #[allow(dead_code, reason = "parsed for the checks serde makes")]
    struct Envelope {
        src: String,
        dest: String,
        body: Body,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code, reason = "parsed for the checks serde makes")]
    struct Body {
        #[serde(rename = "type")]
        kind: String,
        msg_id: u64,
        in_reply_to: Option<u64>,
        code: Option<u64>,
    }
    let bad = |why: String| format!("not a protocol message ({why}): {line}");
    let wire: Envelope = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    if wire.src.is_empty() || wire.dest.is_empty() {
        return Err(bad("empty src or dest".into()));
    }
    if wire.body.kind == "error" && wire.body.code.is_none() {
        return Err(bad("an error without a code".into()));
    }
    if crate::protocol::is_client(&wire.dest) && wire.body.in_reply_to.is_none() {
        return Err(bad("a client gets only replies".into()));
    }
    serde_json::from_str(line).map_err(|e| bad(e.to_string()))
}

/// Hands `node` one message at `t` and returns what it wrote.
pub fn deliver(node: &mut dyn Process, t: Duration, src: &str, body: Value) -> Vec<Value> {
    let dest = node.node_id().unwrap_or("n?").to_string();
    let line = json!({"src": src, "dest": dest, "body": body});
    node.on_line(at(t), line.to_string().as_bytes());
    take_output(node)
}

/// Initialises `node` as `id` of `node_ids` at time zero.
pub fn init(node: &mut dyn Process, id: &str, node_ids: &[&str]) {
    crate::log::quiet_unless_asked();
    let body = json!({"type": "init", "msg_id": 1, "node_id": id, "node_ids": node_ids});
    let line = json!({"src": "c0", "dest": id, "body": body});
    node.on_line(at(Duration::ZERO), line.to_string().as_bytes());
    let out = take_output(node);
    assert_eq!(out[0]["body"]["type"], "init_ok", "{out:?}");
}

#[cfg(test)]
mod tests {
    use super::wire_message;

    #[test]
    fn wire_message_refuses_what_maelstrom_would() {
        let ok = r#"{"src":"n1","dest":"c1","body":{"type":"echo_ok","msg_id":1,"in_reply_to":2}}"#;
        assert!(wire_message(ok).is_ok());
        for bad in [
            "not json",
            "[1]",
            r#"{"src":"n1","dest":"c1","body":{"type":"x","msg_id":1,"msg_id":2,"in_reply_to":2}}"#,
            r#"{"src":"n1","dest":"c1","body":{"type":"x","msg_id":1}}"#,
            r#"{"src":"","dest":"n2","body":{"type":"x","msg_id":1}}"#,
            r#"{"src":"n1","dest":"n2","body":{"type":"x"}}"#,
            r#"{"src":"n1","dest":"n2","body":{"type":"x","msg_id":-1}}"#,
            r#"{"src":"n1","dest":"n2","body":{"type":"error","msg_id":1,"in_reply_to":1}}"#,
        ] {
            assert!(wire_message(bad).is_err(), "{bad}");
        }
    }
}
