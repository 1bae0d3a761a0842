//! Helpers for tests that drive a node by hand: a clock reading, `init`,
//! and the node's output as parsed messages. They panic on surprises, as
//! test helpers should.

use std::time::Duration;

use serde_json::{Value, json};

use crate::node::{Now, Process};

/// `elapsed` since the start, on the simulator's virtual wall clock.
pub fn at(elapsed: Duration) -> Now {
    Now {
        elapsed,
        unix_micros: crate::sim::cluster::UNIX_BASE_MICROS + elapsed.as_micros() as u64,
    }
}

/// Everything the node wrote since the last call, parsed.
pub fn take_output(node: &mut dyn Process) -> Vec<Value> {
    let out = std::mem::take(node.output());
    String::from_utf8(out)
        .expect("nodes write UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("nodes write JSON lines"))
        .collect()
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
    let body = json!({"type": "init", "msg_id": 1, "node_id": id, "node_ids": node_ids});
    let line = json!({"src": "c0", "dest": id, "body": body});
    node.on_line(at(Duration::ZERO), line.to_string().as_bytes());
    let out = take_output(node);
    assert_eq!(out[0]["body"]["type"], "init_ok", "{out:?}");
}
