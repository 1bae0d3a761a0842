//! Hand-built histories, one per anomaly the checker claims, and valid
//! ones that must pass.

use std::time::Duration;

use maelstrom_lab::lab::Indeterminate;
use maelstrom_lab::{History, Op, Outcome, Verdict};
use serde_json::{Value, json};

use super::check::{CheckOptions, check};
use super::history::Datatype;
use super::models::ConsistencyModel::{self, *};
use super::{ListAppend, RwRegister};

#[derive(Clone, Copy)]
enum End {
    Ok,
    Fail,
    Info,
}

/// A transaction that ran from history index `invoke` to `complete`;
/// `mops` as the reply has them (the request has reads of `null`).
fn txn(end: End, mops: Value, invoke: u64, complete: u64) -> Op {
    let request_mops: Vec<Value> = mops
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            if m[0] == "r" {
                json!(["r", m[1], null])
            } else {
                m.clone()
            }
        })
        .collect();
    let outcome = match end {
        End::Ok => Outcome::Ok {
            body: json!({"type": "txn_ok", "txn": mops}),
        },
        End::Fail => Outcome::Fail {
            code: 30,
            text: "conflict".into(),
        },
        End::Info => Outcome::Info {
            reason: Indeterminate::TimedOut {
                after: Duration::from_secs(1),
            },
        },
    };
    Op {
        client: format!("c{invoke}"),
        node: 0,
        kind: "txn".into(),
        request: json!({"type": "txn", "txn": request_mops}),
        invoke: Duration::from_millis(invoke),
        complete: Duration::from_millis(complete),
        outcome,
        final_read: false,
        invoke_index: invoke,
        complete_index: complete,
    }
}

/// Transactions one after another, in the order given.
fn serial(txns: &[(End, Value)]) -> History {
    let ops = txns
        .iter()
        .enumerate()
        .map(|(i, (end, mops))| txn(*end, mops.clone(), 2 * i as u64, 2 * i as u64 + 1))
        .collect();
    History {
        ops,
        node_ids: vec!["n0".into()],
        healed_at: None,
    }
}

fn judge<D: Datatype>(h: &History, models: &[ConsistencyModel]) -> Verdict {
    check::<D>(
        h,
        &CheckOptions {
            models: models.to_vec(),
            budget: 1_000_000,
        },
    )
}

fn found(v: &Verdict, kind: &str) -> f64 {
    v.metrics
        .iter()
        .find(|m| m.name == format!("anomalies {kind}"))
        .map_or(0.0, |m| m.value)
}

#[track_caller]
fn fails_with(v: &Verdict, kind: &str) {
    assert!(!v.valid, "expected {kind}: {v:#?}");
    assert!(
        v.failures
            .iter()
            .any(|f| f.starts_with(&format!("{kind}: "))),
        "expected {kind}: {:#?}",
        v.failures
    );
}

#[track_caller]
fn passes(v: &Verdict) {
    assert!(v.valid && v.unknown.is_empty(), "{v:#?}");
}

use End::{Fail, Info, Ok};

// ---- list-append ----

#[test]
fn a_serial_list_append_history_is_strict_serializable() {
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["r", 2, null]])),
        (
            Ok,
            json!([["r", 1, [1]], ["append", 1, 2], ["append", 2, 1]]),
        ),
        (Fail, json!([["append", 2, 2]])),
        (Info, json!([["append", 1, 3]])),
        (
            Ok,
            json!([
                ["r", 1, [1, 2]],
                ["r", 2, [1]],
                ["append", 2, 3],
                ["r", 2, [1, 3]]
            ]),
        ),
    ]);
    let v = judge::<ListAppend>(&h, &[StrictSerializable]);
    passes(&v);
    assert_eq!(found(&v, "G0"), 0.0);
}

#[test]
fn list_append_g0_is_found_even_under_read_uncommitted() {
    // Maelstrom's checker misses G0 under read-uncommitted (its #56).
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["append", 2, 1]])),
        (Ok, json!([["append", 1, 2], ["append", 2, 2]])),
        (Ok, json!([["r", 1, [1, 2]], ["r", 2, [2, 1]]])),
    ]);
    let v = judge::<ListAppend>(&h, &[ReadUncommitted]);
    fails_with(&v, "G0");
    assert!(
        v.failures[0].starts_with("G0: a cycle T0 → T1 → T0"),
        "{:?}",
        v.failures
    );
}

#[test]
fn list_append_g1a_aborted_read() {
    let h = serial(&[
        (Fail, json!([["append", 1, 1]])),
        (Ok, json!([["r", 1, [1]]])),
    ]);
    fails_with(&judge::<ListAppend>(&h, &[ReadCommitted]), "G1a");
    passes(&judge::<ListAppend>(&h, &[ReadUncommitted]));
}

#[test]
fn list_append_g1b_intermediate_read() {
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["append", 1, 2]])),
        (Ok, json!([["r", 1, [1]]])),
        (Ok, json!([["r", 1, [1, 2]]])),
    ]);
    fails_with(&judge::<ListAppend>(&h, &[ReadCommitted]), "G1b");
    passes(&judge::<ListAppend>(&h, &[ReadUncommitted]));
}

#[test]
fn list_append_g1c_circular_information_flow() {
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["r", 2, [1]]])),
        (Ok, json!([["append", 2, 1], ["r", 1, [1]]])),
    ]);
    fails_with(&judge::<ListAppend>(&h, &[ReadCommitted]), "G1c");
    passes(&judge::<ListAppend>(&h, &[ReadUncommitted]));
}

#[test]
fn list_append_g_single_read_skew() {
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["append", 2, 1]])),
        (Ok, json!([["r", 1, []], ["r", 2, [1]]])),
        (Ok, json!([["r", 1, [1]]])),
    ]);
    fails_with(&judge::<ListAppend>(&h, &[Serializable]), "G-single");
    passes(&judge::<ListAppend>(&h, &[ReadCommitted]));
}

#[test]
fn list_append_g2_write_skew() {
    let h = serial(&[
        (Ok, json!([["r", 1, null], ["append", 2, 1]])),
        (Ok, json!([["r", 2, null], ["append", 1, 1]])),
        (Ok, json!([["r", 1, [1]], ["r", 2, [1]]])),
    ]);
    let v = judge::<ListAppend>(&h, &[Serializable]);
    fails_with(&v, "G2");
    assert_eq!(found(&v, "G-single"), 0.0);
    passes(&judge::<ListAppend>(&h, &[ReadCommitted]));
}

#[test]
fn a_stale_read_after_completion_breaks_strict_serializability_only() {
    // T1 completes its append before T2 starts; T2 does not see it.
    let ops = vec![
        txn(Ok, json!([["append", 1, 1]]), 0, 1),
        txn(Ok, json!([["r", 1, []]]), 2, 3),
        txn(Ok, json!([["r", 1, [1]]]), 4, 5),
    ];
    let h = History {
        ops,
        node_ids: vec!["n0".into()],
        healed_at: None,
    };
    passes(&judge::<ListAppend>(&h, &[Serializable]));
    fails_with(
        &judge::<ListAppend>(&h, &[StrictSerializable]),
        "G-single-realtime",
    );
    // Concurrent, the same reads are fine.
    let mut concurrent = h.clone();
    concurrent.ops[0].complete_index = 3;
    concurrent.ops[1].invoke_index = 1;
    passes(&judge::<ListAppend>(&concurrent, &[StrictSerializable]));
}

#[test]
fn list_append_broken_lists_fail_under_every_model() {
    let h = serial(&[
        (Ok, json!([["append", 1, 1], ["append", 1, 2]])),
        (Ok, json!([["r", 1, [2, 1]]])),
        (Ok, json!([["r", 1, [1, 2]]])),
    ]);
    fails_with(
        &judge::<ListAppend>(&h, &[ReadCommitted]),
        "incompatible-order",
    );
    let unsure = judge::<ListAppend>(&h, &[ReadUncommitted]);
    assert!(unsure.valid && !unsure.unknown.is_empty(), "{unsure:#?}");

    let h = serial(&[
        (Ok, json!([["append", 1, 1]])),
        (Ok, json!([["r", 1, [1, 1]]])),
        (Ok, json!([["r", 1, [9]]])),
    ]);
    let v = judge::<ListAppend>(&h, &[ReadUncommitted]);
    assert_eq!(found(&v, "duplicate-elements"), 1.0);
    assert_eq!(found(&v, "garbage-read"), 1.0);
    assert!(!v.valid);
}

#[test]
fn a_read_turned_into_an_append_is_a_malformed_reply() {
    // Maelstrom's #14: the checker accepted it.
    let mut h = serial(&[(Ok, json!([["r", 1, null]]))]);
    h.ops[0].outcome = Outcome::Ok {
        body: json!({"type": "txn_ok", "txn": [["append", 1, 5]]}),
    };
    let v = judge::<ListAppend>(&h, &[ReadUncommitted]);
    fails_with(&v, "malformed-reply");
    assert!(v.failures[0].contains("not its request's"), "{v:#?}");
}

#[test]
fn internal_inconsistency_fails_serializable() {
    let h = serial(&[(Ok, json!([["r", 1, []], ["append", 1, 1], ["r", 1, []]]))]);
    assert_eq!(
        found(&judge::<ListAppend>(&h, &[Serializable]), "internal"),
        1.0
    );
    assert!(!judge::<ListAppend>(&h, &[Serializable]).valid);
    passes(&judge::<ListAppend>(&h, &[ReadCommitted]));
}

#[test]
fn a_search_out_of_budget_is_unknown_not_valid() {
    let h = serial(&[
        (Ok, json!([["r", 1, null], ["append", 2, 1]])),
        (Ok, json!([["r", 2, null], ["append", 1, 1]])),
        (Ok, json!([["r", 1, [1]], ["r", 2, [1]]])),
    ]);
    let v = check::<ListAppend>(
        &h,
        &CheckOptions {
            models: vec![Serializable],
            budget: 3,
        },
    );
    assert!(v.valid, "nothing found: {v:#?}");
    assert!(
        v.unknown
            .iter()
            .any(|u| u.contains("ran out of its budget")),
        "{v:#?}"
    );
    // Three steps do not even find the components: the report says so,
    // not "1 of 0 components left unsearched".
    assert!(
        v.unknown.iter().any(|u| u.contains(
            "while finding the cyclic components of the dependency graph of 3 transactions"
        )),
        "{v:#?}"
    );
    assert!(!v.unknown.iter().any(|u| u.contains(" of 0 ")), "{v:#?}");
}

// ---- rw-register ----

#[test]
fn a_serial_rw_register_history_is_strict_serializable() {
    let h = serial(&[
        (Ok, json!([["r", 1, null], ["w", 1, 1]])),
        (Ok, json!([["r", 1, 1], ["w", 1, 2], ["r", 1, 2]])),
        (Fail, json!([["w", 1, 3]])),
        (Ok, json!([["r", 1, 2], ["w", 2, 1]])),
        (Ok, json!([["r", 2, 1], ["r", 1, 2]])),
    ]);
    passes(&judge::<RwRegister>(&h, &[StrictSerializable]));
}

#[test]
fn rw_register_g0_is_found_under_read_uncommitted() {
    // Each transaction read the other's write of one key and overwrote it:
    // the versions of key 1 go T0 → T1, those of key 2 T1 → T0.
    let h = serial(&[
        (Ok, json!([["w", 1, 1], ["r", 2, 2], ["w", 2, 1]])),
        (Ok, json!([["r", 1, 1], ["w", 1, 2], ["w", 2, 2]])),
    ]);
    fails_with(&judge::<RwRegister>(&h, &[ReadUncommitted]), "G0");
}

#[test]
fn rw_register_g1a_aborted_read() {
    let h = serial(&[(Fail, json!([["w", 1, 1]])), (Ok, json!([["r", 1, 1]]))]);
    fails_with(&judge::<RwRegister>(&h, &[ReadCommitted]), "G1a");
    passes(&judge::<RwRegister>(&h, &[ReadUncommitted]));
}

#[test]
fn rw_register_g1b_intermediate_read() {
    let h = serial(&[
        (Ok, json!([["w", 1, 1], ["w", 1, 2]])),
        (Ok, json!([["r", 1, 1]])),
    ]);
    fails_with(&judge::<RwRegister>(&h, &[ReadCommitted]), "G1b");
    passes(&judge::<RwRegister>(&h, &[ReadUncommitted]));
}

#[test]
fn rw_register_g1c_and_g_single() {
    let h = serial(&[
        (Ok, json!([["w", 1, 1], ["r", 2, 1]])),
        (Ok, json!([["w", 2, 1], ["r", 1, 1]])),
    ]);
    fails_with(&judge::<RwRegister>(&h, &[ReadCommitted]), "G1c");
    let h = serial(&[
        (Ok, json!([["w", 1, 1], ["w", 2, 1]])),
        (Ok, json!([["r", 1, null], ["r", 2, 1]])),
    ]);
    fails_with(&judge::<RwRegister>(&h, &[Serializable]), "G-single");
    passes(&judge::<RwRegister>(&h, &[ReadCommitted]));
}

#[test]
fn rw_register_lost_update_is_g2_or_g_single_under_serializable() {
    // Both read nil and wrote: each missed the other's write.
    let h = serial(&[
        (Ok, json!([["r", 1, null], ["w", 1, 1]])),
        (Ok, json!([["r", 1, null], ["w", 1, 2]])),
    ]);
    assert!(!judge::<RwRegister>(&h, &[Serializable]).valid);
    passes(&judge::<RwRegister>(&h, &[ReadCommitted]));
}

#[test]
fn rw_register_reads_of_values_never_written_fail() {
    let h = serial(&[(Ok, json!([["r", 1, 7]]))]);
    fails_with(&judge::<RwRegister>(&h, &[ReadUncommitted]), "garbage-read");
    // An indeterminate write may have happened: reading it is fine.
    let h = serial(&[(Info, json!([["w", 1, 7]])), (Ok, json!([["r", 1, 7]]))]);
    passes(&judge::<RwRegister>(&h, &[StrictSerializable]));
}
