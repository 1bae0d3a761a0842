//! One `kv` node fed lines by hand: what it makes durable before it
//! acknowledges, what it recovers after a crash, how it tells its peers it
//! restarted and how it treats a restarted peer, and how its timestamps
//! order writes under a clock that is behind (`--timestamps wall|hlc`).

use std::time::Duration;

use kv_bench::{KvNode, Options};
use maelstrom_framework::storage::{Disk, SimDisk};
use maelstrom_framework::testing::deliver;
use maelstrom_framework::testing::{at, take_output};
use maelstrom_framework::{Node, Process, Timestamps};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

const EPOCH_SECS: f64 = 1_704_067_200.0;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n1` of n1, n2 on `disk`.
fn started(disk: &SimDisk, options: Options) -> Node<KvNode> {
    started_saying(disk, options).0
}

/// `n1` of n1, n2 on `disk`, and what it sent n2 while it started.
fn started_saying(disk: &SimDisk, options: Options) -> (Node<KvNode>, Vec<Value>) {
    let mut node = Node::new(KvNode::new(&options), 1);
    node.attach_disk(Box::new(disk.clone()));
    let body = json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2"]});
    let out = deliver(&mut node, s(0), "c0", body);
    assert!(
        out.iter().any(|m| m["body"]["type"] == "init_ok"),
        "{out:?}"
    );
    let said = out.into_iter().filter(|m| m["dest"] == "n2");
    (node, said.map(|m| m["body"].clone()).collect())
}

fn client(node: &mut Node<KvNode>, t: Duration, body: Value) -> Value {
    let out = deliver(node, t, "c1", body);
    let reply: Vec<&Value> = out.iter().filter(|m| m["dest"] == "c1").collect();
    assert_eq!(reply.len(), 1, "{out:?}");
    reply[0]["body"].clone()
}

fn write(node: &mut Node<KvNode>, t: Duration, key: &str, value: Value) -> f64 {
    let reply = client(
        node,
        t,
        json!({"type": "write", "key": key, "value": value, "msg_id": 1}),
    );
    assert_eq!(reply["type"], "write_ok", "{reply}");
    reply["ts"].as_f64().unwrap()
}

fn read(node: &mut Node<KvNode>, t: Duration, key: &str) -> Value {
    client(node, t, json!({"type": "kv_read", "key": key, "msg_id": 2}))
}

/// What the node sends n2 until `until`, waking it every 10 ms.
fn to_n2(node: &mut Node<KvNode>, from: Duration, until: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= until {
        node.on_wake(at(t));
        out.extend(take_output(node));
        t += Duration::from_millis(10);
    }
    out.into_iter()
        .filter(|m| m["dest"] == "n2")
        .map(|m| m["body"].clone())
        .collect()
}

#[test]
fn acknowledged_writes_survive_a_crash_and_the_restart_is_announced() {
    let disk = SimDisk::new();
    let mut node = started(&disk, Options::default());
    let mut acked = Vec::new();
    for i in 0..50u64 {
        let key = format!("k{}", i % 7);
        let ts = write(&mut node, s(1), &key, json!(i));
        acked.push((key, i, ts));
    }
    // No kv_merge went before any peer was told: nothing to announce yet.
    let first = to_n2(&mut node, s(1), ms(1300));
    assert!(
        first.iter().all(|m| m.get("incarnation").is_none()),
        "{first:?}"
    );

    disk.crash(&mut StdRng::seed_from_u64(7));
    // The restart is told at once: an empty kv_merge with incarnation 1.
    let (mut node, announced) = started_saying(&disk, Options::default());
    assert_eq!(announced.len(), 1, "{announced:?}");
    let mut announcement = announced[0].clone();
    announcement.as_object_mut().unwrap().remove("msg_id");
    assert_eq!(
        announcement,
        json!({"type": "kv_merge", "entries": {}, "seq": 1, "incarnation": 1})
    );
    for (key, value, ts) in acked.iter().rev().take(7) {
        let reply = read(&mut node, s(3), key);
        assert_eq!(
            (&reply["value"], reply["ts"].as_f64()),
            (&json!(value), Some(*ts))
        );
    }
    // Later writes are stamped after the recovered ones, even though the
    // clock reads earlier now.
    let ts = write(&mut node, s(0), "k0", json!("after"));
    assert!(ts > acked.last().unwrap().2, "{ts}");
    // Then the recovered keys go to the peer again.
    let sent = to_n2(&mut node, s(0), ms(300));
    let keys: usize = sent
        .iter()
        .map(|m| m["entries"].as_object().unwrap().len())
        .sum();
    assert!(keys >= 7, "{sent:?}");
    // The announcement goes again until n2 names incarnation 1...
    let again = to_n2(&mut node, s(1), s(3));
    assert!(
        again
            .iter()
            .any(|m| m["entries"] == json!({}) && m["seq"].is_u64()),
        "{again:?}"
    );
    deliver(
        &mut node,
        s(3),
        "n2",
        json!({"type": "kv_merge", "entries": {}, "seq": 1, "acks": [1], "your_incarnation": 1}),
    );
    // ...and then no more (nothing else is due: keys were pushed, then
    // acknowledged by nobody, so only entries go again, never an empty one).
    let later = to_n2(&mut node, s(3), s(8));
    assert!(
        later
            .iter()
            .all(|m| m["entries"] != json!({}) || m.get("acks").is_some()),
        "{later:?}"
    );
}

#[test]
fn a_corrupt_log_refuses_init_with_an_error() {
    let disk = SimDisk::new();
    let mut node = started(&disk, Options::default());
    for i in 0..3u64 {
        write(&mut node, s(1), "k", json!(i));
    }
    let mut bytes = disk.contents("own-updates.log").unwrap();
    bytes[12] ^= 0x55;
    disk.clone().replace("own-updates.log", &bytes).unwrap();
    let mut node = Node::new(KvNode::new(&Options::default()), 1);
    node.attach_disk(Box::new(disk.clone()));
    let out = deliver(
        &mut node,
        s(0),
        "c0",
        json!({"type": "init", "node_id": "n1", "node_ids": ["n1", "n2"], "msg_id": 1}),
    );
    assert_eq!(out[0]["body"]["type"], "error", "{out:?}");
    let text = out[0]["body"]["text"].as_str().unwrap();
    assert!(text.contains("own-updates.log is corrupt"), "{text}");
}

/// n2 acknowledged our kv_merge, then restarted: it lost what it had not
/// made durable, so everything goes to it again; an ack it sent before it
/// heard of our own restart settles nothing.
#[test]
fn a_restarted_peer_gets_every_key_again() {
    let disk = SimDisk::new();
    let mut node = started(&disk, Options::default());
    write(&mut node, s(1), "a", json!(1));
    let pushed = to_n2(&mut node, s(1), ms(1300));
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let seq = pushed[0]["seq"].clone();
    deliver(
        &mut node,
        s(2),
        "n2",
        json!({"type": "kv_merge", "entries": {}, "seq": 1, "acks": [seq]}),
    );
    assert!(
        to_n2(&mut node, s(2), s(5)).is_empty(),
        "synced: nothing more"
    );
    // n2's new process announces itself: we acknowledge it and push "a".
    deliver(
        &mut node,
        s(5),
        "n2",
        json!({"type": "kv_merge", "entries": {}, "seq": 1, "incarnation": 1}),
    );
    let again = to_n2(&mut node, s(5), ms(5300));
    assert_eq!(again[0]["entries"]["a"]["value"], 1, "{again:?}");
    assert_eq!(again[0]["acks"], json!([1]));
    assert_eq!(again[0]["your_incarnation"], 1);
    // A message its killed process sent is state alone: no ack owed.
    deliver(
        &mut node,
        s(6),
        "n2",
        json!({"type": "kv_merge", "entries": {"b": {"value": 2, "ts": 1.0}}, "seq": 9}),
    );
    assert_eq!(read(&mut node, s(6), "b")["value"], 2);
    let after = to_n2(&mut node, s(6), s(7));
    assert!(after.iter().all(|m| m.get("acks").is_none()), "{after:?}");
}

/// n2's clock is 100 s ahead; n1 (this node) sees n2's write and then
/// writes the key itself. Under `wall` its own clock stamps the newer
/// write earlier and it loses; under `hlc` it is stamped after what it saw
/// and wins.
#[test]
fn under_hlc_a_write_after_seeing_one_from_a_clock_ahead_wins_under_wall_it_loses() {
    for (mode, wins) in [(Timestamps::Wall, false), (Timestamps::Hlc, true)] {
        let options = Options {
            timestamps: mode,
            ..Options::default()
        };
        let mut node = started(&SimDisk::new(), options);
        let ahead = EPOCH_SECS + 100.0;
        let merge = json!({"type": "kv_merge", "seq": 1,
            "entries": {"k": {"value": "from n2", "ts": ahead, "node": "n2"}}});
        deliver(&mut node, s(1), "n2", merge);
        assert_eq!(read(&mut node, s(1), "k")["value"], "from n2");
        let ts = write(&mut node, s(2), "k", json!("newer, from n1"));
        assert_eq!(ts > ahead, wins, "{mode:?}: ts {ts}");
        let shown = if wins { "newer, from n1" } else { "from n2" };
        assert_eq!(read(&mut node, s(2), "k")["value"], shown, "{mode:?}");
    }
}
