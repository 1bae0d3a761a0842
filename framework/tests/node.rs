//! The node core through its runtime interface: failing handlers, timers,
//! RPCs and peer sampling, with a test-only handler.

use std::io::Cursor;
use std::time::Duration;

use maelstrom_framework::{Ctx, Error, ErrorCode, Handler, Node, Now, Process, Request, stdio};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Msg {
    Fail {
        code: u32,
    },
    Crash,
    Panic,
    ReplyThenFail,
    Ok,
    Tick {
        every_ms: u64,
        once_ms: u64,
    },
    Ask {
        dest: String,
        timeout_ms: u64,
    },
    Sample {
        k: usize,
        exclude: Vec<String>,
    },
    /// Types the framework handles itself, here readable as requests too:
    /// answered `ok_ok` should one ever reach the handler.
    Init {},
    Error {},
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out {
    OkOk,
    Fired { name: String, at_ms: u64 },
    Answer { result: String },
    Sampled { peers: Vec<String> },
}

#[derive(Default)]
struct Probe {
    timeouts: u32,
}

#[derive(Debug, Clone)]
enum Timer {
    Every,
    Once,
}

impl Handler for Probe {
    type Message = Msg;
    type Timer = Timer;

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
        match msg {
            Msg::Fail { code } => {
                return Err(Error::new(ErrorCode::from_code(code), "asked to fail").into());
            }
            Msg::Crash => anyhow::bail!("something broke"),
            Msg::Panic => panic!("handler bug"),
            Msg::ReplyThenFail => {
                ctx.reply(req, &Out::OkOk);
                anyhow::bail!("failed after replying");
            }
            Msg::Ok | Msg::Init {} | Msg::Error {} => ctx.reply(req, &Out::OkOk),
            Msg::Tick { every_ms, once_ms } => {
                ctx.every(
                    Duration::from_millis(every_ms),
                    Duration::ZERO,
                    Timer::Every,
                );
                ctx.set_timer(Duration::from_millis(once_ms), Timer::Once);
            }
            Msg::Ask { dest, timeout_ms } => {
                let req = req.clone();
                ctx.rpc(
                    &dest,
                    &json!({"type": "question"}),
                    Duration::from_millis(timeout_ms),
                    move |probe: &mut Probe, ctx, result| {
                        let result = match result {
                            Ok(reply) => reply.parse::<Value>()?["type"].to_string(),
                            Err(e) => {
                                probe.timeouts += 1;
                                format!("error {}", e.code.code())
                            }
                        };
                        ctx.reply(&req, &Out::Answer { result });
                        Ok(())
                    },
                );
            }
            Msg::Sample { k, exclude } => {
                let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
                let peers = ctx.sample_peers(k, &exclude);
                ctx.reply(req, &Out::Sampled { peers });
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: Timer) -> anyhow::Result<()> {
        let at_ms = ctx.now().as_millis() as u64;
        ctx.send(
            "n9",
            &Out::Fired {
                name: format!("{timer:?}"),
                at_ms,
            },
        );
        Ok(())
    }
}

fn at(ms: u64) -> Now {
    // These nodes get bad input on purpose: no WARN lines on a green run.
    maelstrom_framework::log::quiet_unless_asked();
    Now {
        elapsed: Duration::from_millis(ms),
        unix_micros: 1_700_000_000_000_000 + ms * 1000,
    }
}

fn line(src: &str, body: Value) -> Vec<u8> {
    json!({"src": src, "dest": "n1", "body": body})
        .to_string()
        .into_bytes()
}

fn take(node: &mut Node<Probe>) -> Vec<Value> {
    let out = std::mem::take(node.output());
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn started(nodes: &[&str]) -> Node<Probe> {
    let mut node = Node::new(Probe::default(), 7);
    node.on_line(
        at(0),
        &line(
            "c0",
            json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": nodes}),
        ),
    );
    let out = take(&mut node);
    assert_eq!(out[0]["body"]["type"], "init_ok");
    node
}

#[test]
fn failing_handlers_get_error_replies_and_the_node_goes_on() {
    let mut node = started(&["n1"]);
    node.on_line(
        at(1),
        &line("c1", json!({"type": "fail", "code": 22, "msg_id": 2})),
    );
    node.on_line(at(1), &line("c1", json!({"type": "crash", "msg_id": 3})));
    node.on_line(at(1), &line("c1", json!({"type": "panic", "msg_id": 4})));
    node.on_line(
        at(1),
        &line("c1", json!({"type": "reply_then_fail", "msg_id": 5})),
    );
    node.on_line(at(1), &line("c1", json!({"type": "ok", "msg_id": 6})));
    let out = take(&mut node);
    let bodies: Vec<&Value> = out.iter().map(|m| &m["body"]).collect();
    assert_eq!(bodies.len(), 5, "{out:?}");
    assert_eq!(bodies[0]["code"], 22);
    assert_eq!(bodies[0]["in_reply_to"], 2);
    assert_eq!(bodies[1]["code"], 13);
    assert!(
        bodies[1]["text"]
            .as_str()
            .unwrap()
            .contains("something broke")
    );
    assert_eq!(bodies[2]["code"], 13);
    assert!(bodies[2]["text"].as_str().unwrap().contains("handler bug"));
    // Replied, then failed: no second reply.
    assert_eq!(bodies[3]["type"], "ok_ok");
    assert_eq!(bodies[3]["in_reply_to"], 5);
    assert_eq!(bodies[4]["type"], "ok_ok");
    assert_eq!(bodies[4]["in_reply_to"], 6);
    // msg_ids are consecutive across replies and errors.
    let ids: Vec<u64> = bodies
        .iter()
        .map(|b| b["msg_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(node.panics(), 1);
}

#[test]
fn timers_fire_in_order() {
    let mut node = started(&["n1"]);
    node.on_line(
        at(0),
        &line("c1", json!({"type": "tick", "every_ms": 10, "once_ms": 25})),
    );
    assert_eq!(node.next_deadline(), Some(Duration::from_millis(10)));
    node.on_wake(at(9));
    assert!(take(&mut node).is_empty());
    node.on_wake(at(30));
    let fired: Vec<(String, u64)> = take(&mut node)
        .iter()
        .map(|m| {
            (
                m["body"]["name"].as_str().unwrap().to_string(),
                m["body"]["at_ms"].as_u64().unwrap(),
            )
        })
        .collect();
    // A late wake at 30 ms runs the tick due at 10 once (the missed tick at
    // 20 is not replayed as a burst), then the one-shot due at 25.
    assert_eq!(fired, [("Every".into(), 30), ("Once".into(), 30)]);
    assert_eq!(node.next_deadline(), Some(Duration::from_millis(40)));
    node.on_wake(at(40));
    assert_eq!(take(&mut node).len(), 1);
    assert_eq!(node.next_deadline(), Some(Duration::from_millis(50)));
}

#[test]
fn rpc_replies_run_the_continuation_and_timeouts_clean_up() {
    let mut node = started(&["n1", "n2"]);
    node.on_line(
        at(0),
        &line(
            "c1",
            json!({"type": "ask", "dest": "n2", "timeout_ms": 100, "msg_id": 2}),
        ),
    );
    node.on_line(
        at(0),
        &line(
            "c1",
            json!({"type": "ask", "dest": "n2", "timeout_ms": 100, "msg_id": 3}),
        ),
    );
    let asks = take(&mut node);
    assert_eq!(asks.len(), 2);
    let first_id = asks[0]["body"]["msg_id"].as_u64().unwrap();
    let second_id = asks[1]["body"]["msg_id"].as_u64().unwrap();

    // The first is answered in time.
    node.on_line(
        at(50),
        &line(
            "n2",
            json!({"type": "answer_ok", "in_reply_to": first_id, "msg_id": 1}),
        ),
    );
    let out = take(&mut node);
    assert_eq!(out[0]["body"]["result"], "\"answer_ok\"");
    assert_eq!(out[0]["body"]["in_reply_to"], 2);

    // The second times out: the continuation sees code 0.
    node.on_wake(at(100));
    let out = take(&mut node);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["body"]["result"], "error 0");
    assert_eq!(out[0]["body"]["in_reply_to"], 3);
    assert_eq!(node.handler_ref().timeouts, 1);

    // A late reply is dropped: no continuation runs twice, nothing is sent.
    node.on_line(
        at(150),
        &line(
            "n2",
            json!({"type": "answer_ok", "in_reply_to": second_id, "msg_id": 2}),
        ),
    );
    assert!(take(&mut node).is_empty());
    assert_eq!(node.handler_ref().timeouts, 1);
}

#[test]
fn rpc_pending_entries_do_not_leak() {
    let mut node = started(&["n1", "n2"]);
    for i in 0..1000 {
        node.on_line(
            at(i),
            &line(
                "c1",
                json!({"type": "ask", "dest": "n2", "timeout_ms": 10, "msg_id": i}),
            ),
        );
    }
    node.on_wake(at(2000));
    take(&mut node);
    assert_eq!(node.handler_ref().timeouts, 1000);
    // Nothing is left to wake for.
    assert_eq!(node.next_deadline(), None);
}

#[test]
fn rpc_replies_from_the_wrong_node_are_ignored() {
    let mut node = started(&["n1", "n2", "n3"]);
    node.on_line(
        at(0),
        &line(
            "c1",
            json!({"type": "ask", "dest": "n2", "timeout_ms": 100, "msg_id": 2}),
        ),
    );
    let id = take(&mut node)[0]["body"]["msg_id"].as_u64().unwrap();
    node.on_line(
        at(1),
        &line("n3", json!({"type": "answer_ok", "in_reply_to": id})),
    );
    assert!(take(&mut node).is_empty());
    node.on_line(
        at(2),
        &line(
            "n2",
            json!({"type": "error", "code": 20, "text": "nope", "in_reply_to": id}),
        ),
    );
    let out = take(&mut node);
    assert_eq!(out[0]["body"]["result"], "error 20");
}

#[test]
fn sample_peers_excludes_self_and_given_ids_and_is_seeded() {
    let nodes = ["n1", "n2", "n3", "n4", "n5"];
    let sample = |seed_line: u64| {
        let mut node = started(&nodes);
        let mut all = Vec::new();
        for i in 0..50 {
            node.on_line(
                at(seed_line + i),
                &line(
                    "c1",
                    json!({"type": "sample", "k": 2, "exclude": ["n3"], "msg_id": i}),
                ),
            );
            for m in take(&mut node) {
                let peers: Vec<String> =
                    serde_json::from_value(m["body"]["peers"].clone()).unwrap();
                assert_eq!(peers.len(), 2);
                assert_ne!(peers[0], peers[1]);
                assert!(peers.iter().all(|p| p != "n1" && p != "n3"), "{peers:?}");
                all.push(peers);
            }
        }
        all
    };
    let a = sample(0);
    assert_eq!(a, sample(0), "same seed, same samples");
    // Every allowed peer shows up.
    for p in ["n2", "n4", "n5"] {
        assert!(a.iter().flatten().any(|x| x == p));
    }
    let mut node = started(&nodes);
    node.on_line(
        at(0),
        &line(
            "c1",
            json!({"type": "sample", "k": 10, "exclude": [], "msg_id": 1}),
        ),
    );
    let out = take(&mut node);
    assert_eq!(out[0]["body"]["peers"].as_array().unwrap().len(), 4);
}

#[test]
fn stdio_runtime_stops_timers_at_eof_and_flushes() {
    // Input ends right away: the periodic timer never fires, the replies
    // are all written, and the runtime returns.
    let input = [
        line(
            "c0",
            json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1"]}),
        ),
        line("c1", json!({"type": "tick", "every_ms": 1, "once_ms": 1})),
        line("c1", json!({"type": "ok", "msg_id": 2})),
    ]
    .join(&b'\n');
    let mut node = Node::new(Probe::default(), 1);
    let mut output = Vec::new();
    let started = std::time::Instant::now();
    stdio::run_with(&mut node, Cursor::new(input), &mut output, 1 << 20).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8(output).unwrap();
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["body"]["type"].to_string())
        .collect();
    assert_eq!(types.first().map(String::as_str), Some("\"init_ok\""));
    assert!(types.contains(&"\"ok_ok\"".to_string()));
}

#[test]
fn stdio_runtime_fires_timers_while_input_is_open() {
    // A reader that hands out the init, then blocks for a while before EOF:
    // meanwhile the 5 ms timer must fire several times.
    struct SlowInput {
        first: Option<Vec<u8>>,
        wait: Duration,
    }
    impl std::io::Read for SlowInput {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if let Some(data) = self.first.take() {
                buf[..data.len()].copy_from_slice(&data);
                return Ok(data.len());
            }
            std::thread::sleep(self.wait);
            Ok(0)
        }
    }
    let mut data = line(
        "c0",
        json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1"]}),
    );
    data.push(b'\n');
    data.extend(line(
        "c1",
        json!({"type": "tick", "every_ms": 5, "once_ms": 1000000}),
    ));
    data.push(b'\n');
    let input = SlowInput {
        first: Some(data),
        wait: Duration::from_millis(200),
    };
    let mut node = Node::new(Probe::default(), 1);
    let mut output = Vec::new();
    stdio::run_with(&mut node, input, &mut output, 1 << 20).unwrap();
    let ticks = String::from_utf8(output)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"fired\""))
        .count();
    // Not a timing assertion: 200 ms of open input leaves room for at least
    // a few of the 5 ms ticks on any machine; the one-shot never fires.
    assert!(ticks >= 2, "only {ticks} ticks");
}

#[test]
fn answered_rpcs_leave_nothing_queued() {
    let mut node = started(&["n1", "n2"]);
    for i in 0..1000 {
        node.on_line(
            at(i),
            &line(
                "c1",
                json!({"type": "ask", "dest": "n2", "timeout_ms": 3_600_000, "msg_id": i}),
            ),
        );
        let id = take(&mut node)[0]["body"]["msg_id"].as_u64().unwrap();
        node.on_line(
            at(i),
            &line("n2", json!({"type": "answer", "in_reply_to": id})),
        );
        assert_eq!(take(&mut node).len(), 1);
    }
    // Their hour-long timeouts were cancelled with the replies, not kept
    // until they would have fired.
    assert_eq!(node.next_deadline(), None);
    assert_eq!(node.handler_ref().timeouts, 0);
}

#[test]
fn nothing_is_sent_to_a_client_or_to_nobody_except_replies() {
    let mut node = started(&["n1", "n2"]);
    for (i, dest) in ["c5", ""].into_iter().enumerate() {
        let msg_id = 2 + i as u64;
        node.on_line(
            at(0),
            &line(
                "c1",
                json!({"type": "ask", "dest": dest, "timeout_ms": 10, "msg_id": msg_id}),
            ),
        );
        assert!(take(&mut node).is_empty());
    }
    // No RPC waits, and no msg_id was spent: the next reply has id 1.
    node.on_wake(at(1000));
    assert!(take(&mut node).is_empty());
    node.on_line(at(1000), &line("c1", json!({"type": "ok", "msg_id": 9})));
    let out = take(&mut node);
    assert_eq!(out[0]["dest"], "c1");
    assert_eq!(out[0]["body"]["msg_id"], 1);
    assert_eq!(out[0]["body"]["in_reply_to"], 9);
}

/// `{"type":"ok","msg_id":ID,"x":[[…]]}` nested `depth` deep in all.
fn nested_line(src: &str, msg_id: u64, depth: usize) -> Vec<u8> {
    // The envelope and the body are two levels.
    let inner = depth - 2;
    format!(
        r#"{{"src":"{src}","dest":"n1","body":{{"type":"ok","msg_id":{msg_id},"x":{}{}}}}}"#,
        "[".repeat(inner),
        "]".repeat(inner)
    )
    .into_bytes()
}

#[test]
fn deep_nesting_is_a_malformed_request() {
    use maelstrom_framework::protocol::{MAX_CLIENT_DEPTH, MAX_NODE_DEPTH};
    let mut node = started(&["n1", "n2"]);
    let reply = |node: &mut Node<Probe>, src: &str, msg_id: u64, depth: usize| {
        node.on_line(at(0), &nested_line(src, msg_id, depth));
        take(node)
    };
    // At the limits: handled.
    let out = reply(&mut node, "c1", 2, MAX_CLIENT_DEPTH);
    assert_eq!(out[0]["body"]["type"], "ok_ok", "{out:?}");
    let out = reply(&mut node, "n2", 3, MAX_NODE_DEPTH);
    assert_eq!(out[0]["body"]["type"], "ok_ok", "{out:?}");
    // One deeper: error 12 to the sender, whose msg_id is still readable.
    let out = reply(&mut node, "c1", 4, MAX_CLIENT_DEPTH + 1);
    assert_eq!(out[0]["body"]["code"], 12, "{out:?}");
    assert_eq!(out[0]["body"]["in_reply_to"], 4);
    let out = reply(&mut node, "n2", 5, MAX_NODE_DEPTH + 1);
    assert_eq!(out[0]["body"]["code"], 12, "{out:?}");
    assert_eq!(out[0]["body"]["in_reply_to"], 5);
    // Far deeper than any parser would follow: still error 12 (the sender
    // is read while skipping the rest), and no stack trouble.
    let out = reply(&mut node, "c1", 6, 1_000_000);
    assert_eq!(out[0]["body"]["code"], 12, "{out:?}");
    assert_eq!(out[0]["body"]["in_reply_to"], 6);
    let out = reply(&mut node, "c1", 7, 3);
    assert_eq!(out[0]["body"]["type"], "ok_ok");
}

/// A node started on `disk`, as `init` finds it.
fn started_on(disk: maelstrom_framework::storage::SimDisk) -> (Node<Probe>, Vec<Value>) {
    let mut node = Node::new(Probe::default(), 7);
    node.attach_disk(Box::new(disk));
    let init = json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2"]});
    node.on_line(at(0), &line("c0", init));
    let out = take(&mut node);
    (node, out)
}

#[test]
fn a_restarted_process_numbers_apart_and_drops_replies_meant_for_the_last() {
    let disk = maelstrom_framework::storage::SimDisk::new();
    // The first process on the disk numbers from 0 and asks n2 once.
    let (mut first, _) = started_on(disk.clone());
    let ask = json!({"type": "ask", "dest": "n2", "timeout_ms": 1000, "msg_id": 2});
    first.on_line(at(1), &line("c1", ask.clone()));
    let old_id = take(&mut first)[0]["body"]["msg_id"].as_u64().unwrap();
    assert!(old_id < 10, "{old_id}");
    // It dies; the next process on the disk counts from 2^32.
    let (mut second, out) = started_on(disk);
    assert_eq!(out[0]["body"]["type"], "init_ok");
    assert_eq!(out[0]["body"]["msg_id"], 1u64 << 32);
    second.on_line(at(1), &line("c1", ask));
    let new_id = take(&mut second)[0]["body"]["msg_id"].as_u64().unwrap();
    assert_eq!(new_id, (1 << 32) + 1);
    // n2's answer to the dead process's question is not this one's answer.
    let late = json!({"type": "answer_ok", "in_reply_to": old_id, "msg_id": 5});
    second.on_line(at(2), &line("n2", late));
    assert!(take(&mut second).is_empty());
    let answer = json!({"type": "answer_ok", "in_reply_to": new_id, "msg_id": 6});
    second.on_line(at(3), &line("n2", answer));
    assert_eq!(take(&mut second)[0]["body"]["result"], "\"answer_ok\"");
}

#[test]
fn a_garbled_count_of_starts_fails_init_with_a_reason() {
    let mut disk = maelstrom_framework::storage::SimDisk::new();
    maelstrom_framework::storage::Disk::replace(&mut disk, "starts", b"many").unwrap();
    let (_, out) = started_on(disk);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["body"]["type"], "error");
    assert_eq!(out[0]["body"]["code"], 13);
    let text = out[0]["body"]["text"].as_str().unwrap();
    assert!(
        text.contains("starts") && text.contains("not a count"),
        "{text}"
    );
}

/// The header decides what a line is before the handler's type does: a
/// reply, an `error`, an `init` or anything before init is never handled
/// as a request, even when the handler's message type could read it.
#[test]
fn lines_the_handler_could_read_are_routed_by_their_header() {
    let mut fresh = Node::new(Probe::default(), 7);
    fresh.on_line(at(0), &line("c1", json!({"type": "ok", "msg_id": 1})));
    let out = take(&mut fresh);
    assert_eq!(out[0]["body"]["type"], "error");
    assert_eq!(out[0]["body"]["code"], 11);

    let mut node = started(&["n1", "n2"]);
    let ask = json!({"type": "ask", "dest": "n2", "timeout_ms": 100, "msg_id": 2});
    node.on_line(at(0), &line("c1", ask));
    let asked = take(&mut node)[0]["body"]["msg_id"].as_u64().unwrap();
    // `ok` is one of the handler's requests; with in_reply_to it answers
    // the ask.
    let reply = json!({"type": "ok", "in_reply_to": asked, "msg_id": 1});
    node.on_line(at(10), &line("n2", reply));
    let out = take(&mut node);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["body"]["result"], "\"ok\"");

    // An error answering nothing is logged, not handled.
    node.on_line(
        at(20),
        &line(
            "n2",
            json!({"type": "error", "code": 13, "text": "x", "msg_id": 9}),
        ),
    );
    assert!(take(&mut node).is_empty());
    // A repeated init is answered by the framework again.
    let init = json!({"type": "init", "msg_id": 5, "node_id": "n1", "node_ids": ["n1", "n2"]});
    node.on_line(at(30), &line("c0", init));
    let out = take(&mut node);
    assert_eq!(out[0]["body"]["type"], "init_ok", "{out:?}");
    // The same types as plain requests do reach the handler.
    node.on_line(at(40), &line("c1", json!({"type": "ok", "msg_id": 6})));
    assert_eq!(take(&mut node)[0]["body"]["type"], "ok_ok");
}
