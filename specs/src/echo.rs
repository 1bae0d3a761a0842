//! Echo in the lab: clients send random values; as Maelstrom's echo
//! checker, every operation must complete with an `echo_ok` carrying
//! exactly what was sent. A timed-out or failed echo is an error too: it
//! was never echoed.

use maelstrom_lab::lab::{Field, closed_schema};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// Failure lines quoted before "and N more".
const QUOTED: usize = 10;

pub struct EchoLab;

impl Lab for EchoLab {
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        Some(json!({"type": "echo", "echo": rng.random_range(0..1_000_000u32)}))
    }

    fn final_reads(&self) -> Vec<Value> {
        vec![json!({"type": "echo", "echo": "final"})]
    }

    fn validate_reply(&self, _kind: &str, reply: &Value) -> Result<(), String> {
        closed_schema(reply, &[("echo", Field::Any)])
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let mut echoed = 0;
        let mut errors = Vec::new();
        for op in &history.ops {
            let node = &history.node_ids[op.node];
            let sent = &op.request["echo"];
            match &op.outcome {
                Outcome::Ok { body } if body.get("echo") == Some(sent) => echoed += 1,
                Outcome::Ok { body } => errors.push(format!(
                    "{} asked {node} to echo {sent} and got {body}",
                    op.client
                )),
                other => errors.push(format!(
                    "{} asked {node} to echo {sent}: {other}",
                    op.client
                )),
            }
        }
        let count = errors.len();
        for e in errors.into_iter().take(QUOTED) {
            verdict.fail(e);
        }
        if count > QUOTED {
            verdict.fail(format!("… {} more echoes went wrong", count - QUOTED));
        }
        verdict.metric("echoes", f64::from(echoed), "");
        verdict.metric("echoes wrong or unanswered", count as f64, "");
        verdict
    }
}

impl LabSpec for EchoLab {
    type Options = maelstrom_framework::NoOptions;

    fn new(_: &Self::Options, _: &LabSetup) -> Self {
        EchoLab
    }
}
