//! Echo in the simulator: clients send random values; every reply must
//! echo exactly what was sent.

use maelstrom_framework::sim::cluster::NetStats;
use maelstrom_framework::sim::{History, Lab, LabSetup, LabSpec, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

pub struct EchoLab;

impl Lab for EchoLab {
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        Some(json!({"type": "echo", "echo": rng.random_range(0..1_000_000u32)}))
    }

    fn final_reads(&self) -> Vec<Value> {
        vec![json!({"type": "echo", "echo": "final"})]
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let mut echoed = 0;
        for op in &history.ops {
            let Some(body) = op.ok_body() else { continue };
            echoed += 1;
            if body.get("echo") != op.request.get("echo") {
                verdict.fail(format!(
                    "{} asked {} to echo {} and got {}",
                    op.client, history.node_ids[op.node], op.request["echo"], body
                ));
            }
        }
        verdict.metric("echoes", f64::from(echoed), "");
        verdict
    }
}

impl LabSpec for EchoLab {
    type Options = maelstrom_framework::NoOptions;

    fn new(_: &Self::Options, _: &LabSetup) -> Self {
        EchoLab
    }
}
