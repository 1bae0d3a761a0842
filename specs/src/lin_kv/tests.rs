//! Hand-built lin-kv histories, one per anomaly the checker claims, and
//! histories that are fine.

use std::time::Duration;

use maelstrom_framework::error::Error;
use maelstrom_lab::lab::Indeterminate;
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Op, Outcome, Verdict};
use serde_json::{Value, json};

use super::linearizable::{Budget, Call, Linearizability, check};
use super::{LinKvLab, LinKvLabOptions};
use crate::lin_kv::cas_register::{CasRegister, RegisterOp};

/// What a hand-built operation returned.
enum Got {
    Ok(Value),
    Fail(u32),
    Timeout,
}

/// A history of key 0 from (client, request, invoke ms, complete ms,
/// result); positions follow the times (a completion before an
/// invocation at the same instant).
fn history(ops: &[(&str, Value, u64, u64, Got)]) -> History {
    let ops = ops
        .iter()
        .map(|(client, request, invoke, complete, got)| {
            let outcome = match got {
                Got::Ok(body) => Outcome::Ok { body: body.clone() },
                Got::Fail(code) => Outcome::from_error(&Error::new(
                    maelstrom_framework::ErrorCode::from_code(*code),
                    "refused",
                )),
                Got::Timeout => Outcome::Info {
                    reason: Indeterminate::TimedOut {
                        after: Duration::from_secs(1),
                    },
                },
            };
            Op {
                client: client.to_string(),
                node: 0,
                kind: request["type"].as_str().unwrap().to_string(),
                request: request.clone(),
                invoke: Duration::from_millis(*invoke),
                complete: Duration::from_millis(*complete),
                outcome,
                final_read: false,
                invoke_index: invoke * 2 + 1,
                complete_index: complete * 2,
            }
        })
        .collect();
    History {
        ops,
        node_ids: vec!["n0".into()],
        healed_at: None,
    }
}

fn options(steps: u64) -> LinKvLabOptions {
    LinKvLabOptions {
        process_limit: 20,
        per_key_limit: None,
        lin_steps: steps,
        lin_states: 1_000_000,
    }
}

fn judge_with(h: &History, steps: u64) -> Verdict {
    let setup = LabSetup {
        node_ids: vec!["n0".into()],
    };
    LinKvLab::new(&options(steps), &setup).check(h, &NetStats::default())
}

fn judge(h: &History) -> Verdict {
    judge_with(h, Budget::default().steps)
}

fn write(v: i64) -> Value {
    json!({"type": "write", "key": 0, "value": v})
}

fn read() -> Value {
    json!({"type": "read", "key": 0})
}

fn cas(from: i64, to: i64) -> Value {
    json!({"type": "cas", "key": 0, "from": from, "to": to})
}

fn ok() -> Got {
    Got::Ok(json!({}))
}

fn value(v: i64) -> Got {
    Got::Ok(json!({"value": v}))
}

fn assert_passes(h: &History) {
    let v = judge(h);
    assert!(
        v.valid && v.unknown.is_empty(),
        "{:?} {:?}",
        v.failures,
        v.unknown
    );
}

fn assert_fails(h: &History) -> String {
    let v = judge(h);
    assert!(!v.valid, "passed: {:?}", v.unknown);
    assert_eq!(v.failures.len(), 1, "{:?}", v.failures);
    v.failures[0].clone()
}

#[test]
fn a_stale_read_fails_and_shows_the_write_it_missed() {
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 30, ok()),
        ("c3", read(), 40, 50, value(1)),
    ]);
    let why = assert_fails(&h);
    assert!(
        why.starts_with("key 0 is not linearizable: no order of these 2 operations"),
        "{why}"
    );
    assert!(why.contains("c2 at n0 write 2 [20.0–30.0 ms] ok"), "{why}");
    assert!(why.contains("c3 at n0 read [40.0–50.0 ms] read 1"), "{why}");
    assert!(
        !why.contains("c1 "),
        "the first write explains nothing: {why}"
    );
}

#[test]
fn a_lost_write_fails() {
    // Both writes acknowledged one after the other, then the first one's
    // value comes back twice, long after: the second write was lost.
    let h = history(&[
        ("c1", write(3), 0, 10, ok()),
        ("c2", write(4), 15, 20, ok()),
        ("c3", read(), 30, 35, value(3)),
        ("c4", read(), 40, 45, value(3)),
    ]);
    let why = assert_fails(&h);
    assert!(why.contains("write 4") && why.contains("read 3"), "{why}");
}

#[test]
fn a_cas_that_succeeded_against_a_value_that_was_not_there_fails() {
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", cas(2, 3), 20, 30, ok()),
    ]);
    let why = assert_fails(&h);
    assert!(why.contains("cas 2→3 [20.0–30.0 ms] ok"), "{why}");
    assert!(why.contains("write 1"), "{why}");
}

#[test]
fn a_read_of_a_value_never_written_fails_from_the_first_state() {
    let h = history(&[("c1", read(), 0, 10, value(4))]);
    let why = assert_fails(&h);
    assert!(why.contains("from the key missing"), "{why}");
}

#[test]
fn concurrent_operations_pass_in_some_order() {
    // Read 2 then 1 while both writes overlap them: write 2, read 2,
    // write 1, read 1 is an order; the cas then finds 1.
    let h = history(&[
        ("c1", write(1), 0, 50, ok()),
        ("c2", write(2), 0, 50, ok()),
        ("c3", read(), 5, 20, value(2)),
        ("c4", read(), 25, 40, value(1)),
        ("c5", cas(1, 3), 60, 70, ok()),
        ("c6", read(), 80, 90, value(3)),
        // Refused ones did not happen.
        ("c7", cas(0, 4), 80, 90, Got::Fail(22)),
    ]);
    assert_passes(&h);
    // The reads the other way round cannot both be explained once they
    // follow one another and the writes.
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 30, ok()),
        ("c3", read(), 35, 40, value(2)),
        ("c4", read(), 45, 50, value(1)),
    ]);
    assert_fails(&h);
}

#[test]
fn an_indeterminate_write_may_or_may_not_have_happened() {
    let happened = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 1020, Got::Timeout),
        ("c3", read(), 2000, 2010, value(2)),
    ]);
    assert_passes(&happened);
    let never = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 1020, Got::Timeout),
        ("c3", read(), 2000, 2010, value(1)),
    ]);
    assert_passes(&never);
    // It can take effect late, but not before it was invoked.
    let early = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c3", read(), 12, 15, value(2)),
        ("c2", write(2), 20, 1020, Got::Timeout),
    ]);
    assert_fails(&early);
    // An indeterminate cas whose `from` never held is simply left out.
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", cas(4, 0), 20, 1020, Got::Timeout),
        ("c3", read(), 2000, 2010, value(1)),
    ]);
    assert_passes(&h);
}

#[test]
fn a_history_too_hard_for_a_tiny_budget_is_unknown() {
    // Many overlapping indeterminate writes, then reads of each value:
    // a long search, with 50 steps unknown, and linearizable with the
    // default budget.
    let mut ops = Vec::new();
    for i in 0..12 {
        ops.push((format!("c{i}"), write(i), i as u64, 5000, Got::Timeout));
    }
    ops.push(("r".into(), read(), 6000, 6010, value(11)));
    ops.push(("r2".into(), read(), 6020, 6030, value(3)));
    let ops: Vec<(&str, Value, u64, u64, Got)> = ops
        .into_iter()
        .map(|(c, r, i, e, g)| (&*String::leak(c), r, i, e, g))
        .collect();
    let h = history(&ops);
    let v = judge_with(&h, 50);
    assert!(v.failures.is_empty(), "{:?}", v.failures);
    assert_eq!(v.unknown.len(), 1, "{:?}", v.unknown);
    assert!(
        v.unknown[0]
            .starts_with("key 0: unknown whether linearizable: the search's budget ran out after"),
        "{}",
        v.unknown[0]
    );
    assert_passes(&h);
}

#[test]
fn keys_are_judged_apart() {
    let mut h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", read(), 20, 30, value(1)),
    ]);
    // Key 1 holds 2, and reading 2 there is fine; key 0 reading 2 is not.
    let mut other = history(&[
        (
            "c3",
            json!({"type": "write", "key": 1, "value": 2}),
            0,
            10,
            ok(),
        ),
        ("c4", json!({"type": "read", "key": 1}), 20, 30, value(2)),
    ]);
    h.ops.append(&mut other.ops);
    assert_passes(&h);
    h.ops[1].outcome = Outcome::Ok {
        body: json!({"value": 2}),
    };
    let why = assert_fails(&h);
    assert!(why.starts_with("key 0 "), "{why}");
}

#[test]
fn the_search_is_exact_on_small_cases() {
    // A cas chain in one order only: 0→1, 1→2, 2→3, all concurrent.
    let call = |op, invoke, complete| Call {
        op,
        invoke,
        complete: Some(complete),
    };
    let calls = vec![
        call(RegisterOp::Write(0), 0, 1),
        call(RegisterOp::Cas { from: 2, to: 3 }, 2, 10),
        call(RegisterOp::Cas { from: 1, to: 2 }, 2, 10),
        call(RegisterOp::Cas { from: 0, to: 1 }, 2, 10),
        call(RegisterOp::Read(Some(3)), 11, 12),
    ];
    let (r, _) = check(&CasRegister, None, &calls, Budget::default());
    assert_eq!(r, Linearizability::Linearizable);
    let mut broken = calls.clone();
    broken[4].op = RegisterOp::Read(Some(1));
    let (r, _) = check(&CasRegister, None, &broken, Budget::default());
    assert_eq!(r, Linearizability::NotLinearizable { stuck: 4 });
}

#[test]
fn a_concurrent_read_that_saw_nothing_wrong_is_left_out_of_the_explanation() {
    // c4's read of 2 overlaps the window but any order fails without it:
    // the window is c2's write and c3's stale read.
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 30, ok()),
        ("c4", read(), 25, 45, value(2)),
        ("c3", read(), 40, 50, value(1)),
    ]);
    let why = assert_fails(&h);
    assert!(
        why.starts_with("key 0 is not linearizable: no order of these 2 operations"),
        "{why}"
    );
    assert!(!why.contains("c4 "), "c4's read explains nothing: {why}");
}

#[test]
fn a_failure_is_drawn_with_the_stuck_operation_marked() {
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c2", write(2), 20, 30, ok()),
        ("c3", read(), 40, 50, value(1)),
        ("c5", write(3), 45, 60, Got::Timeout),
    ]);
    let v = judge(&h);
    assert!(!v.valid);
    assert_eq!(v.windows.len(), 1, "one picture per failing key");
    let w = &v.windows[0];
    // c5's write may have happened anywhere after 45 ms, so it is part of
    // the window (a write is never left out: it might explain a read).
    assert_eq!(w.lanes, ["c2 at n0", "c3 at n0", "c5 at n0"], "{w:?}");
    let stuck: Vec<&str> = w
        .bars
        .iter()
        .filter(|b| b.stuck)
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(stuck, ["read 1"], "{w:?}");
    let open: Vec<&str> = w
        .bars
        .iter()
        .filter(|b| b.complete_s.is_none())
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(open, ["write 3 ?"], "{w:?}");
    assert_eq!(w.bars[0].invoke_s, 0.020);
}

#[test]
fn a_passing_history_draws_nothing() {
    let h = history(&[
        ("c1", write(1), 0, 10, ok()),
        ("c3", read(), 40, 50, value(1)),
    ]);
    assert!(judge(&h).windows.is_empty());
}
