//! Every node of ours that implements Maelstrom's broadcast takes every
//! topology Maelstrom can send (`specs/src/topology.rs`): a line's empty
//! map for a lone node, trees' uneven lists, total. Our nodes ignore the
//! content, but must answer `topology_ok` to each shape, and only that.

use clap::ValueEnum;
use maelstrom_framework::registry;
use maelstrom_framework::testing::{default_node, deliver, init};
use maelstrom_specs::topology::Topology;
use serde_json::json;

use maelstrom_catalog as _;

#[test]
fn every_broadcast_node_answers_every_maelstrom_topology() {
    let nodes: Vec<_> = registry::workloads()
        .into_iter()
        .filter(|w| w.specs.contains(&"broadcast"))
        .collect();
    let names: Vec<&str> = nodes.iter().map(|w| w.name).collect();
    assert_eq!(names, ["broadcast", "tuning"], "our broadcast nodes");
    for workload in nodes {
        for n in [1, 2, 7] {
            let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            for &topology in Topology::value_variants() {
                let what = format!("{} given {topology:?} of {n}", workload.name);
                let mut node = default_node(workload, 1);
                init(node.as_mut(), "n1", &id_refs);
                let body = json!({"type": "topology", "msg_id": 2,
                    "topology": topology.neighbours(&ids)});
                let out = deliver(node.as_mut(), std::time::Duration::ZERO, "c1", body);
                assert_eq!(out.len(), 1, "{what}: {out:?}");
                assert_eq!(out[0]["body"]["type"], "topology_ok", "{what}");
                assert_eq!(out[0]["body"]["in_reply_to"], 2, "{what}");
            }
        }
    }
}
