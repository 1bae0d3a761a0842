//! Helpers for tests that drive a node by hand: a clock reading, `init`,
//! and the node's output as parsed messages; and for tests that drive a
//! simulated [`Cluster`] by hand. They panic on surprises, as test helpers
//! should.

use std::time::Duration;

use serde_json::{Value, json};

use crate::node::{Handler, Node, Now, Process};
use crate::sim::Cluster;
use crate::sim::network::NetConfig;
use crate::sim::run::sub_seed;

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

/// A simulated cluster of `handlers` as nodes n0, n1, … on `net`, not yet
/// initialised (the simulator's driver, [`crate::sim::run::run_on`], sends
/// `init` itself; [`sim_init`] does it for tests that drive by hand). Node
/// RNGs and the network are seeded from `seed` as the `sim` command does.
pub fn sim_cluster<H: Handler>(
    handlers: impl IntoIterator<Item = H>,
    net: NetConfig,
    seed: u64,
) -> Cluster {
    let processes: Vec<Box<dyn Process>> = handlers
        .into_iter()
        .enumerate()
        .map(|(i, h)| Box::new(Node::new(h, sub_seed(seed, 1000 + i as u64))) as Box<dyn Process>)
        .collect();
    let ids = (0..processes.len()).map(|i| format!("n{i}")).collect();
    Cluster::new(ids, processes, net, sub_seed(seed, 1))
}

/// Sends `init` to every node of `cluster`, now, and checks the answers.
pub fn sim_init(cluster: &mut Cluster) {
    let ids = cluster.node_ids();
    for (i, id) in ids.iter().enumerate() {
        let body = json!({"type": "init", "node_id": id, "node_ids": ids});
        cluster.client_request("c0", i, 1, &body, &mut |_, _, _| {});
    }
    for reply in cluster.take_client_messages() {
        assert_eq!(reply.body["type"], "init_ok", "{:?}", reply.body);
    }
}

/// Client `c1`'s request `body` to `node`, handled now; returns the bodies
/// nodes wrote to clients meanwhile (its reply).
pub fn sim_request(cluster: &mut Cluster, node: usize, body: Value) -> Vec<Value> {
    let msg_id = cluster.stats().client_requests + 1;
    cluster.client_request("c1", node, msg_id, &body, &mut |_, _, _| {});
    cluster
        .take_client_messages()
        .into_iter()
        .map(|d| d.body)
        .collect()
}

/// The handler of `node`, as the workload's type.
pub fn sim_handler<H: Handler>(cluster: &Cluster, node: usize) -> &H {
    cluster
        .handler(node)
        .downcast_ref()
        .expect("the cluster runs this handler type")
}

/// Lets `cluster` run until `until` (nobody observing).
pub fn sim_run(cluster: &mut Cluster, until: Duration) {
    cluster.run_until(until, &mut |_, _, _| {});
}
