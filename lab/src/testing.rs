//! Helpers for tests that drive a simulated [`Cluster`] by hand, and the
//! lab of a registered workload with its default flags. They panic on
//! surprises, as test helpers should.

use std::time::Duration;

use maelstrom_framework::node::{Handler, Node, Process};
use serde_json::{Value, json};

use crate::config::sub_seed;
use crate::network::NetConfig;
use crate::{Cluster, Lab, LabSetup};

/// The lab of a registered workload with its default flags, if it has one.
pub fn default_lab(workload: &str, node_ids: &[&str]) -> Option<Box<dyn Lab>> {
    let entry = crate::registry::choose(workload, None).ok()?.spec;
    let command = (entry.augment_args)(clap::Command::new(entry.name));
    let matches = command
        .try_get_matches_from([entry.name])
        .expect("a lab's flags all have defaults");
    let factory = (entry.build)(&matches).expect("default flags build a lab");
    Some(factory(&LabSetup {
        node_ids: node_ids.iter().map(|id| id.to_string()).collect(),
    }))
}

/// A simulated cluster of `handlers` as nodes n0, n1, … on `net`, not yet
/// initialised (the simulator's driver, [`crate::run::run_on`], sends
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
