//! Maelstrom's `unique-ids` workload: clients ask any node to `generate`
//! an id, with no coordination asked for; as Jepsen's `unique-ids`
//! checker, the run is valid iff no id acknowledged by an `ok` reply was
//! returned twice (ids of any JSON type, equal by value: `{"a":1,"b":2}`
//! and `{"b":2,"a":1}` are one id). Measured: ids attempted, acknowledged
//! and duplicated, and the range when the ids are numbers.

use std::collections::BTreeMap;

use maelstrom_lab::lab::{Field, closed_schema};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Outcome, Verdict};
use rand::rngs::StdRng;
use serde_json::{Value, json};

/// Duplicated ids quoted (Jepsen shows at most 48).
const QUOTED: usize = 8;

pub struct UniqueIdsLab;

impl Lab for UniqueIdsLab {
    fn next_op(&mut self, _rng: &mut StdRng) -> Option<Value> {
        Some(json!({"type": "generate"}))
    }

    /// Maelstrom's unique-ids has no final phase.
    fn final_reads(&self) -> Vec<Value> {
        Vec::new()
    }

    fn validate_reply(&self, _kind: &str, reply: &Value) -> Result<(), String> {
        closed_schema(reply, &[("id", Field::Any)])
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let attempted = history
            .ops
            .iter()
            .filter(|op| op.kind == "generate")
            .count();
        // Canonical text (serde_json writes object keys sorted) → who got it.
        let mut given: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
        let mut numbers: Vec<f64> = Vec::new();
        for op in &history.ops {
            let Outcome::Ok { body } = &op.outcome else {
                continue;
            };
            let Some(id) = body.get("id") else { continue };
            numbers.extend(id.as_f64());
            let node = history.node_ids[op.node].as_str();
            given
                .entry(id.to_string())
                .or_default()
                .push((op.client.as_str(), node));
        }
        let acknowledged: usize = given.values().map(Vec::len).sum();
        let duplicated: Vec<(&String, &Vec<(&str, &str)>)> =
            given.iter().filter(|(_, to)| to.len() > 1).collect();
        for (id, to) in duplicated.iter().take(QUOTED) {
            let who: Vec<String> = to
                .iter()
                .take(4)
                .map(|(client, node)| format!("to {client} by {node}"))
                .collect();
            verdict.fail(format!(
                "id {id} was returned {} times ({})",
                to.len(),
                who.join(", ")
            ));
        }
        if duplicated.len() > QUOTED {
            verdict.fail(format!(
                "… and {} more ids returned more than once",
                duplicated.len() - QUOTED
            ));
        }
        verdict.metric("ids attempted", attempted as f64, "");
        verdict.metric("ids acknowledged", acknowledged as f64, "");
        verdict.metric("ids duplicated", duplicated.len() as f64, "");
        if !numbers.is_empty() && numbers.len() == acknowledged {
            let lowest = numbers.iter().copied().fold(f64::INFINITY, f64::min);
            let highest = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            verdict.metric("lowest id", lowest, "");
            verdict.metric("highest id", highest, "");
        }
        verdict
    }
}

impl LabSpec for UniqueIdsLab {
    type Options = maelstrom_framework::NoOptions;

    fn new(_: &Self::Options, _: &LabSetup) -> Self {
        UniqueIdsLab
    }
}
