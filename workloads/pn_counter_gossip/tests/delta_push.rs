//! The bookkeeping behind `peers_synced` and `convergence_ms`, and the
//! delta-push rules, on two or three in-process nodes whose lines are
//! routed by hand: each test decides what is delivered, dropped or held.

mod common;

use std::time::Duration;

use common::{ms, options};
use maelstrom_framework::testing::{at, deliver, init, take_output};
use maelstrom_framework::{Node, Process};
use pn_counter_gossip::{CounterNode, Options, Strategy};
use serde_json::{Value, json};

fn started(id: &str, ids: &[&str], options: &Options) -> Node<CounterNode> {
    let mut node = Node::new(CounterNode::new(options), 42);
    init(&mut node, id, ids);
    node
}

/// Hands `node` a message another node wrote for it, at `t`, and returns
/// what `node` wrote.
fn relay(node: &mut Node<CounterNode>, t: Duration, msg: &Value) -> Vec<Value> {
    assert_eq!(msg["dest"], node.node_id().unwrap(), "{msg}");
    let src = msg["src"].as_str().expect("a src");
    deliver(node, t, src, msg["body"].clone())
}

fn client(node: &mut Node<CounterNode>, t: Duration, body: Value) -> Value {
    let out = deliver(node, t, "c1", body);
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]["body"].clone()
}

/// Wakes `node` for everything due up to `t` and returns what it wrote.
fn wake_until(node: &mut Node<CounterNode>, t: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(due) = node.next_deadline().filter(|d| *d <= t) {
        node.on_wake(at(due));
        out.extend(take_output(node));
    }
    out
}

fn status(node: &mut Node<CounterNode>, t: Duration) -> (i64, u64, i64) {
    let body = client(node, t, json!({"type": "gossip_status", "msg_id": 99}));
    (
        body["local_value"].as_i64().unwrap(),
        body["peers_synced"].as_u64().unwrap(),
        body["convergence_ms"].as_i64().unwrap(),
    )
}

fn delta() -> Options {
    options(Strategy::DeltaPush)
}

#[test]
fn an_add_is_pushed_at_once_and_acked_at_the_receivers_fourth_tick() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &delta());
    let mut n1 = started("n1", &ids, &delta());

    let reply = client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 5, "msg_id": 2}),
    );
    assert_eq!(reply["type"], "add_ok");
    assert_eq!(status(&mut n0, ms(0)), (5, 0, -1));

    // The push goes out right after the batch: only the changed entry.
    let push = wake_until(&mut n0, ms(0));
    assert_eq!(push.len(), 1, "{push:?}");
    assert_eq!(push[0]["dest"], "n1");
    let body = &push[0]["body"];
    assert_eq!(body["p_counters"], json!({"n0": 5}));
    assert_eq!(body["n_counters"], json!({}));
    assert_eq!(body["wants_ack"], true);

    // n1 merges; it knows n0 holds what n0 sent, which is all n1 has.
    assert!(relay(&mut n1, ms(1), &push[0]).is_empty(), "acks wait");
    assert_eq!(status(&mut n1, ms(1)), (5, 1, 0));

    // With nothing going back to ride on, n1 acks alone on its fourth
    // gossip tick (ticks every 100..=110 ms: 400..=440 ms), with no entries.
    assert!(wake_until(&mut n1, ms(399)).is_empty());
    let ack = wake_until(&mut n1, ms(440));
    assert_eq!(ack.len(), 1, "{ack:?}");
    let body = &ack[0]["body"];
    assert_eq!(body["ack"], push[0]["body"]["msg_id"]);
    assert_eq!(body["p_counters"], json!({}));
    assert!(body.get("wants_ack").is_none(), "an ack is never acked");

    assert!(relay(&mut n0, ms(450), &ack[0]).is_empty());
    assert_eq!(status(&mut n0, ms(450)), (5, 1, 450));

    // Idle and known in sync: ten seconds of ticks, not one message.
    assert!(wake_until(&mut n0, ms(10_000)).is_empty());
    assert!(wake_until(&mut n1, ms(10_000)).is_empty());
    assert!(n0.handler_ref().stats().gossip_rounds >= 80);
}

#[test]
fn third_parties_learn_from_everyone_has() {
    let ids = ["n0", "n1", "n2"];
    let mut n0 = started("n0", &ids, &delta());
    let mut n1 = started("n1", &ids, &delta());
    let mut n2 = started("n2", &ids, &delta());

    client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": -3, "msg_id": 2}),
    );
    let pushes = wake_until(&mut n0, ms(0));
    assert_eq!(pushes.len(), 2);
    for push in &pushes {
        assert_eq!(push["body"]["n_counters"], json!({"n0": 3}));
        let receiver = if push["dest"] == "n1" {
            &mut n1
        } else {
            &mut n2
        };
        relay(receiver, ms(1), push);
    }
    // n1 knows n0 holds its state, but not whether n2 does.
    assert_eq!(status(&mut n1, ms(1)), (-3, 1, -1));

    // Both ack on their fourth ticks (n0's own fourth tick has nothing to
    // say yet); n0 then knows everyone has its entries…
    assert!(wake_until(&mut n0, ms(440)).is_empty());
    for ack in wake_until(&mut n1, ms(440))
        .into_iter()
        .chain(wake_until(&mut n2, ms(440)))
    {
        assert_eq!(ack["dest"], "n0");
        relay(&mut n0, ms(441), &ack);
    }
    assert_eq!(status(&mut n0, ms(441)), (-3, 2, 441));

    // …and says so on its eighth tick (800..=880 ms), to both.
    let early = wake_until(&mut n0, ms(799));
    assert!(early.is_empty(), "{early:?}");
    let news = wake_until(&mut n0, ms(880));
    assert_eq!(news.len(), 2, "{news:?}");
    for msg in &news {
        assert_eq!(msg["body"]["everyone_has"], json!({"p": 0, "n": 3}));
        assert_eq!(msg["body"]["p_counters"], json!({}));
    }
    let to_n1 = news.iter().find(|m| m["dest"] == "n1").unwrap();
    relay(&mut n1, ms(881), to_n1);
    assert_eq!(status(&mut n1, ms(881)), (-3, 2, 880));

    // Nobody relays n0's entry between n1 and n2, now or later.
    assert!(wake_until(&mut n1, ms(5_000)).is_empty());
}

#[test]
fn a_lost_push_is_repaired_once_retry_after_has_passed() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &delta());
    let mut n1 = started("n1", &ids, &delta());

    client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 2, "msg_id": 2}),
    );
    let lost = wake_until(&mut n0, ms(0));
    assert_eq!(lost.len(), 1);

    // retry_after = 2 × (4 ticks × 110 + 10) ms = 900 ms: no repair before
    // it, then one at the next tick.
    assert!(wake_until(&mut n0, ms(899)).is_empty());
    let repair = wake_until(&mut n0, ms(1_010));
    assert_eq!(repair.len(), 1, "{repair:?}");
    assert!(repair[0]["body"]["msg_id"].as_u64() > lost[0]["body"]["msg_id"].as_u64());
    assert_eq!(repair[0]["body"]["p_counters"], json!({"n0": 2}));
    assert_eq!(repair[0]["body"]["wants_ack"], true);

    relay(&mut n1, ms(1_011), &repair[0]);
    // n1's next fourth tick: its twelfth, 1200..=1320 ms.
    for ack in wake_until(&mut n1, ms(1_320)) {
        relay(&mut n0, ms(1_321), &ack);
    }
    assert_eq!(status(&mut n0, ms(1_321)), (2, 1, 1_321));
    assert!(wake_until(&mut n0, ms(5_000)).is_empty());
}

#[test]
fn an_ack_rides_on_a_push_going_the_same_way() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &delta());
    let mut n1 = started("n1", &ids, &delta());

    client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 1, "msg_id": 2}),
    );
    let push = wake_until(&mut n0, ms(0));
    relay(&mut n1, ms(1), &push[0]);
    client(
        &mut n1,
        ms(2),
        json!({"type": "add", "delta": 4, "msg_id": 2}),
    );
    let both = wake_until(&mut n1, ms(2));
    assert_eq!(both.len(), 1, "one message carries the push and the ack");
    assert_eq!(both[0]["body"]["p_counters"], json!({"n1": 4}));
    assert_eq!(both[0]["body"]["ack"], push[0]["body"]["msg_id"]);
    relay(&mut n0, ms(3), &both[0]);
    // n0 knows n1 holds n0's entry (ack) and n1's own (sent): in sync.
    assert_eq!(status(&mut n0, ms(3)), (5, 1, 0));
}

#[test]
fn pushes_never_outspend_the_full_state_budget() {
    // fanout 1, interval 100 ms: full-state sends one message per ≥ 100 ms
    // tick. Adds every 5 ms for 3 s on a 5-node cluster would want a push
    // to 4 peers every 10 ms; the budget holds n0 to 1 per 110 ms plus ten
    // saved up.
    let ids = ["n0", "n1", "n2", "n3", "n4"];
    let mut opts = delta();
    opts.gossip.fanout = 1;
    let mut n0 = started("n0", &ids, &opts);
    let mut sent = 0;
    for i in 0..600u64 {
        let t = ms(i * 5);
        sent += wake_until(&mut n0, t).len();
        client(
            &mut n0,
            t,
            json!({"type": "add", "delta": 1, "msg_id": i + 2}),
        );
    }
    sent += wake_until(&mut n0, ms(3_000)).len();
    let budget = 10 + 3_000 / 110;
    assert!(sent <= budget, "{sent} messages, budget {budget}");
    assert!(sent >= budget - 2, "the budget is used, not wasted: {sent}");
}

#[test]
fn full_state_learns_what_peers_hold_from_their_full_states() {
    let ids = ["n0", "n1"];
    let full = options(Strategy::FullState);
    let mut n0 = started("n0", &ids, &full);
    let mut n1 = started("n1", &ids, &full);

    client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 7, "msg_id": 2}),
    );
    assert!(
        wake_until(&mut n0, ms(0)).is_empty(),
        "full-state never pushes"
    );

    // n1's tick sends n0 its (empty) state: n0 learns nothing new.
    let from_n1 = wake_until(&mut n1, ms(110));
    assert_eq!(from_n1.len(), 1, "fanout 2, one peer");
    assert_eq!(
        from_n1[0]["body"],
        json!({"type": "replicate", "p_counters": {}, "n_counters": {}, "msg_id": 1})
    );
    relay(&mut n0, ms(111), &from_n1[0]);
    assert_eq!(status(&mut n0, ms(111)), (7, 0, -1));

    // n0's full state reaches n1; n1's next full state tells n0.
    for msg in wake_until(&mut n0, ms(110)) {
        relay(&mut n1, ms(112), &msg);
    }
    let back = wake_until(&mut n1, ms(220));
    relay(&mut n0, ms(221), &back[0]);
    assert_eq!(status(&mut n0, ms(221)), (7, 1, 221));
}

#[test]
fn a_seed_style_replicate_merges_and_is_never_answered() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &delta());
    let mut n1 = started("n1", &ids, &delta());
    // n1's (empty) state in the seed's format, then a state from n9.
    let seed_style = [
        ("n1", json!({"n0": 0, "n1": 0}), json!({"n0": 0, "n1": 0})),
        ("n9", json!({"n9": 10}), json!({"n9": 1})),
    ];
    for (src, p, n) in seed_style {
        let msg = json!({"src": src, "dest": "n0", "body": {"type": "replicate", "msg_id": 7,
                         "p_counters": p, "n_counters": n}});
        assert!(relay(&mut n0, ms(1), &msg).is_empty(), "one-way: no reply");
    }
    assert_eq!(n0.handler_ref().value(), 9);
    assert_eq!(n0.handler_ref().known_state_of("n9"), None);

    // n1 is not known to hold n9's entries: after retry_after, n0 repairs
    // it (never n9, which init did not give); n1's ack ends it.
    let mut sent = Vec::new();
    for step in 1..=50u64 {
        let t = ms(step * 100);
        for msg in wake_until(&mut n0, t) {
            relay(&mut n1, t, &msg);
            sent.push(msg);
        }
        for msg in wake_until(&mut n1, t) {
            relay(&mut n0, t, &msg);
        }
    }
    assert!(sent.iter().all(|m| m["dest"] == "n1"), "{sent:?}");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["body"]["p_counters"], json!({"n9": 10}));
    assert_eq!(sent[0]["body"]["n_counters"], json!({"n9": 1}));
    assert_eq!(n1.handler_ref().value(), 9);
    assert_eq!(n0.handler_ref().peers_synced(), 1);
}

#[test]
fn a_new_interval_rearms_the_gossip_timer() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &options(Strategy::FullState));
    let reply = client(
        &mut n0,
        ms(50),
        json!({"type": "configure", "gossip_interval_ms": 1000, "msg_id": 2}),
    );
    assert_eq!(reply["type"], "configure_ok");
    assert_eq!(reply["gossip_interval_ms"], 1000);
    // The old tick (due at 100..=110 ms) is gone: nothing before 1050 ms,
    // then one tick per 1000..=1100 ms.
    assert!(wake_until(&mut n0, ms(1_049)).is_empty());
    let sent = wake_until(&mut n0, ms(5_000));
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(n0.handler_ref().stats().gossip_rounds, 4);
}

#[test]
fn switching_strategy_changes_what_is_sent() {
    let ids = ["n0", "n1"];
    let mut n0 = started("n0", &ids, &options(Strategy::FullState));
    client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 1, "msg_id": 2}),
    );
    let reply = client(
        &mut n0,
        ms(1),
        json!({"type": "configure", "strategy": "delta-push", "msg_id": 3}),
    );
    assert_eq!(reply["strategy"], "delta-push");
    // The change made before the switch is pushed right away.
    let out = wake_until(&mut n0, ms(1));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["body"]["wants_ack"], true);

    client(
        &mut n0,
        ms(2),
        json!({"type": "configure", "strategy": "full-state", "msg_id": 4}),
    );
    client(
        &mut n0,
        ms(3),
        json!({"type": "add", "delta": 1, "msg_id": 5}),
    );
    let out = wake_until(&mut n0, ms(110));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        out[0]["body"],
        json!({"type": "replicate", "p_counters": {"n0": 2}, "n_counters": {},
               "msg_id": out[0]["body"]["msg_id"]})
    );
}

#[test]
fn an_add_that_would_overflow_is_refused_and_changes_nothing() {
    let mut n0 = started("n0", &["n0"], &delta());
    for (i, delta) in [i64::MAX, i64::MAX, 1].into_iter().enumerate() {
        let r = client(
            &mut n0,
            ms(0),
            json!({"type": "add", "delta": delta, "msg_id": i}),
        );
        assert_eq!(r["type"], "add_ok");
    }
    let r = client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": 1, "msg_id": 9}),
    );
    assert_eq!(r["type"], "error");
    assert_eq!(r["code"], 22);
    let r = client(&mut n0, ms(0), json!({"type": "read", "msg_id": 10}));
    assert_eq!(r["value"], json!(u64::MAX));
    for (i, delta) in [i64::MIN, i64::MIN + 1].into_iter().enumerate() {
        let r = client(
            &mut n0,
            ms(0),
            json!({"type": "add", "delta": delta, "msg_id": 20 + i}),
        );
        assert_eq!(r["type"], "add_ok");
    }
    let r = client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": -1, "msg_id": 30}),
    );
    assert_eq!(r["code"], 22);
    let r = client(&mut n0, ms(0), json!({"type": "read", "msg_id": 31}));
    assert_eq!(
        r["value"], 0,
        "u64::MAX − u64::MAX, computed without wrapping"
    );
    let r = client(
        &mut n0,
        ms(0),
        json!({"type": "add", "delta": -5, "msg_id": 32}),
    );
    assert_eq!(r["code"], 22, "N is full");
}
