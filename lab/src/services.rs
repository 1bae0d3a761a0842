//! Maelstrom's services as network endpoints: `lin-kv`, `seq-kv`,
//! `lww-kv` and `lin-tso` (Maelstrom's `service.clj`, `doc/services.md`).
//! Both runners route a node's message to one of these names here, and
//! deliver the reply after a link latency each way; service traffic is
//! never partitioned, lost or duplicated (Maelstrom's grudges cover nodes
//! only, and it has no loss), and counts as server messages.
//!
//! - `lin-kv`: linearizable: one map; each request takes effect when the
//!   service handles it (between the node's send and its reply).
//! - `seq-kv`: sequentially consistent, as Maelstrom's `sequential 32`: the
//!   last 32 states are kept and, per node, the latest state it has seen.
//!   A request is first tried on a random state between that one and the
//!   latest; if it changes nothing there (a read, a failed cas) it is
//!   answered from that possibly stale state, otherwise it runs on the
//!   latest state and makes a new one. Each node sees states in order.
//! - `lww-kv`: eventually consistent, as Maelstrom's `eventual`: two
//!   replicas of key → (value, Lamport time), each with its own Lamport
//!   clock; each request first merges one random replica into the other
//!   (last writer by Lamport time wins), then runs on a random replica.
//!   Reads may be stale, and a write on a replica whose clock lags can
//!   lose to an earlier one; `cas` ignores `create_if_not_exists`.
//! - `lin-tso`: `ts` → `ts_ok {ts}`, 0, 1, 2, … .
//!
//! KV requests: `read {key}` → `read_ok {value}` or error 20; `write {key,
//! value}` → `write_ok`; `cas {key, from, to, create_if_not_exists?}` →
//! `cas_ok`, error 22 when the value is not `from`, error 20 when the key
//! is missing (unless `create_if_not_exists`). Keys and values are any
//! JSON; keys compare by value.
//!
//! Where Maelstrom's service thread throws and answers nothing (an
//! unknown request type, a missing field), these answer error 10
//! (not-supported) or 12 (malformed) naming the problem: a node that calls
//! a service wrongly should be told so, not left waiting for a timeout that
//! looks like a slow network. A request without a `msg_id` gets no answer
//! (there is nothing to answer to). Each such misuse is a bug in the node,
//! so the services also remember them ([`Misuses`]) and the run's report
//! lists them as failures.
//!
//! Deterministic: every random choice comes from the seed.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// The services' names, as nodes address them.
pub const SERVICES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// How many past states `seq-kv` keeps (Maelstrom's `sequential 32`).
const SEQ_STATES: usize = 32;

/// `lww-kv`'s replicas (Maelstrom's code: `(eventual persistent-service)`
/// defaults to 2).
const LWW_REPLICAS: usize = 2;

pub fn is_service(name: &str) -> bool {
    SERVICES.contains(&name)
}

/// A map keyed by the key's canonical JSON text.
type Map = BTreeMap<String, Value>;

/// What a request asks of a key-value store.
enum KvOp {
    Read(String),
    Write(String, Value),
    Cas {
        key: String,
        from: Value,
        to: Value,
        create: bool,
    },
}

/// A reply body, `in_reply_to` aside.
fn error(code: u32, text: impl Into<String>) -> Value {
    json!({"type": "error", "code": code, "text": text.into()})
}

/// The error a service answers a request it cannot serve with: the node's
/// fault, unlike errors 20 and 22, which are ordinary answers.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// Error 10: the service has no such request type.
    NotSupported,
    /// Error 12: the request lacks a field.
    Malformed,
}

impl Refused {
    fn code(self) -> u32 {
        match self {
            Refused::NotSupported => 10,
            Refused::Malformed => 12,
        }
    }

    /// Maelstrom's name for the code (`doc/protocol.md`).
    fn name(self) -> &'static str {
        match self {
            Refused::NotSupported => "not-supported",
            Refused::Malformed => "malformed-request",
        }
    }
}

/// A request refused, and why.
struct Refusal {
    refused: Refused,
    text: String,
}

impl Refusal {
    fn new(refused: Refused, text: impl Into<String>) -> Refusal {
        Refusal {
            refused,
            text: text.into(),
        }
    }
}

impl KvOp {
    fn parse(body: &Value) -> Result<KvOp, Refusal> {
        let kind = body["type"].as_str().unwrap_or("");
        let field = |name: &str| {
            body.get(name)
                .cloned()
                .ok_or_else(|| Refusal::new(Refused::Malformed, format!("{kind} needs `{name}`")))
        };
        let key = || field("key").map(|k| k.to_string());
        match kind {
            "read" => Ok(KvOp::Read(key()?)),
            "write" => Ok(KvOp::Write(key()?, field("value")?)),
            "cas" => Ok(KvOp::Cas {
                key: key()?,
                from: field("from")?,
                to: field("to")?,
                create: body["create_if_not_exists"].as_bool().unwrap_or(false),
            }),
            other => Err(Refusal::new(
                Refused::NotSupported,
                format!("a key-value service does not support `{other}` (read, write, cas)"),
            )),
        }
    }

    fn changes_nothing(&self, map: &Map) -> bool {
        match self {
            KvOp::Read(_) => true,
            KvOp::Write(..) => false,
            KvOp::Cas {
                key, from, create, ..
            } => match map.get(key) {
                Some(current) => current != from,
                None => !create,
            },
        }
    }

    /// Runs the op on `map`; the reply body.
    fn apply(self, map: &mut Map) -> Value {
        match self {
            KvOp::Read(key) => match map.get(&key) {
                Some(value) => json!({"type": "read_ok", "value": value}),
                None => error(20, "key does not exist"),
            },
            KvOp::Write(key, value) => {
                map.insert(key, value);
                json!({"type": "write_ok"})
            }
            KvOp::Cas {
                key,
                from,
                to,
                create,
            } => match map.get(&key) {
                Some(current) if *current == from => {
                    map.insert(key, to);
                    json!({"type": "cas_ok"})
                }
                Some(current) => error(22, format!("current value {current} is not {from}")),
                None if create => {
                    map.insert(key, to);
                    json!({"type": "cas_ok"})
                }
                None => error(20, "key does not exist"),
            },
        }
    }
}

/// `seq-kv`'s states and what each node has seen.
#[derive(Default)]
struct SeqKv {
    /// The last states, oldest first; `base` is the first one's number.
    states: VecDeque<Map>,
    base: u64,
    seen: HashMap<String, u64>,
}

impl SeqKv {
    fn handle(&mut self, src: &str, op: KvOp, rng: &mut StdRng) -> Value {
        if self.states.is_empty() {
            self.states.push_back(Map::new());
        }
        let latest = self.base + self.states.len() as u64 - 1;
        let from = self.seen.get(src).copied().unwrap_or(0).max(self.base);
        let tried = rng.random_range(from..=latest);
        let state = &self.states[(tried - self.base) as usize];
        if op.changes_nothing(state) {
            let mut stale = state.clone();
            self.seen.insert(src.to_string(), tried);
            return op.apply(&mut stale);
        }
        let mut next = self.states[self.states.len() - 1].clone();
        let reply = op.apply(&mut next);
        self.states.push_back(next);
        if self.states.len() > SEQ_STATES {
            self.states.pop_front();
            self.base += 1;
        }
        self.seen.insert(src.to_string(), latest + 1);
        reply
    }
}

/// One `lww-kv` replica: key → (value, Lamport time of its write: the
/// replica's clock then, and the replica's number to break ties), and its
/// Lamport clock.
#[derive(Clone, Default)]
struct Replica {
    map: BTreeMap<String, (Value, (u64, usize))>,
    clock: u64,
}

/// `lww-kv`'s replicas.
struct LwwKv {
    replicas: Vec<Replica>,
}

impl LwwKv {
    fn handle(&mut self, op: KvOp, rng: &mut StdRng) -> Value {
        // Anti-entropy first: one replica merged into another, last writer
        // (by Lamport time) winning, clocks brought up to the larger.
        let (a, b) = (
            rng.random_range(0..LWW_REPLICAS),
            rng.random_range(0..LWW_REPLICAS),
        );
        if a != b {
            let from = self.replicas[a].clone();
            let into = &mut self.replicas[b];
            for (key, (value, t)) in from.map {
                if into.map.get(&key).is_none_or(|(_, mine)| *mine < t) {
                    into.map.insert(key, (value, t));
                }
            }
            into.clock = into.clock.max(from.clock);
        }
        let r = rng.random_range(0..LWW_REPLICAS);
        let replica = &mut self.replicas[r];
        let mut plain: Map = replica
            .map
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        let op = match op {
            // No create_if_not_exists here (Maelstrom's lww-kv).
            KvOp::Cas { key, from, to, .. } => KvOp::Cas {
                key,
                from,
                to,
                create: false,
            },
            other => other,
        };
        let written = match &op {
            KvOp::Write(key, _) | KvOp::Cas { key, .. } => Some(key.clone()),
            KvOp::Read(_) => None,
        };
        let reply = op.apply(&mut plain);
        // A write or a cas that succeeded is this replica's newest write.
        if let (Some(key), false) = (written, reply["type"] == "error") {
            if let Some(value) = plain.remove(&key) {
                replica.clock += 1;
                replica.map.insert(key, (value, (replica.clock, r)));
            }
        }
        reply
    }
}

/// One way a node misused a service, and how often: a bug in the node.
#[derive(Debug)]
struct Misuse {
    node: String,
    service: String,
    /// The request's `type`.
    kind: String,
    /// The error it was answered with; `None`: it had no `msg_id`, so it
    /// could not be answered.
    answered: Option<Refused>,
    /// What was wrong with it.
    text: String,
    times: u64,
}

impl std::fmt::Display for Misuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Misuse {
            node,
            service,
            kind,
            text,
            ..
        } = self;
        let times = match self.times {
            1 => String::new(),
            n => format!(" {n} times"),
        };
        match self.answered {
            None => write!(
                f,
                "{node} sent {service} a `{kind}` {text}{times}: no reply is possible"
            ),
            Some(refused) => {
                let what = match refused {
                    Refused::NotSupported => "an unsupported",
                    Refused::Malformed => "a malformed",
                };
                write!(
                    f,
                    "{node} sent {service} {what} `{kind}`{times}: {text} (answered with \
                     error {}, {}; Maelstrom's own service would not answer)",
                    refused.code(),
                    refused.name()
                )
            }
        }
    }
}

/// The misuses of a run's services: the first [`Misuses::KEPT`] distinct
/// ones (node, service, type, text) with their repeats counted, and how
/// many requests misused them otherwise. A broken node repeats one mistake
/// thousands of times, and one that keeps making new ones must not grow
/// this without bound; a linear search over so few stays cheap.
#[derive(Debug, Default)]
pub struct Misuses {
    first: Vec<Misuse>,
    others: u64,
}

impl Misuses {
    pub const KEPT: usize = 20;

    fn record(
        &mut self,
        node: &str,
        service: &str,
        kind: &str,
        answered: Option<Refused>,
        text: String,
    ) {
        let same = |m: &&mut Misuse| {
            m.node == node && m.service == service && m.kind == kind && m.text == text
        };
        if let Some(m) = self.first.iter_mut().find(same) {
            m.times += 1;
        } else if self.first.len() < Misuses::KEPT {
            self.first.push(Misuse {
                node: node.to_string(),
                service: service.to_string(),
                kind: kind.to_string(),
                answered,
                text,
                times: 1,
            });
        } else {
            self.others += 1;
        }
    }

    /// The failure lines they give a run.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.first.iter().map(Misuse::to_string).collect();
        if self.others > 0 {
            out.push(format!(
                "and {} more misused service request(s) unlike those above",
                self.others
            ));
        }
        out
    }
}

/// Every service of a run.
pub struct Services {
    lin: Map,
    seq: SeqKv,
    lww: LwwKv,
    next_ts: u64,
    next_msg_id: u64,
    rng: StdRng,
    misuses: Misuses,
}

impl Services {
    /// The services of a run with this seed.
    pub fn new(seed: u64) -> Services {
        Services {
            lin: Map::new(),
            seq: SeqKv::default(),
            lww: LwwKv {
                replicas: vec![Replica::default(); LWW_REPLICAS],
            },
            next_ts: 0,
            next_msg_id: 0,
            // Apart from the network's and the nodes' randomness.
            rng: StdRng::seed_from_u64(seed ^ 0x5e41_ce5e_41ce_5e41),
            misuses: Misuses::default(),
        }
    }

    /// The requests the services could not serve so far.
    pub fn misuses(&self) -> &Misuses {
        &self.misuses
    }

    /// Service `service`'s answer to node `src`'s request `body`: the reply
    /// body with its `msg_id` and `in_reply_to`, or `None` when the request
    /// has no `msg_id` to answer. A request refused, or one without a
    /// `msg_id`, is recorded in [`Services::misuses`].
    pub fn handle(&mut self, service: &str, src: &str, body: &Value) -> Option<Value> {
        let kind = body["type"].as_str().unwrap_or("");
        let Some(msg_id) = body.get("msg_id").and_then(Value::as_u64) else {
            let text = match body.get("msg_id") {
                None => "without msg_id".to_string(),
                Some(id) => format!("with msg_id {id}, not an unsigned integer"),
            };
            self.misuses.record(src, service, kind, None, text);
            return None;
        };
        let mut reply = match self.serve(service, src, body) {
            Ok(reply) => reply,
            Err(Refusal { refused, text }) => {
                let reply = error(refused.code(), &text);
                self.misuses.record(src, service, kind, Some(refused), text);
                reply
            }
        };
        reply["msg_id"] = json!(self.next_msg_id);
        reply["in_reply_to"] = json!(msg_id);
        self.next_msg_id += 1;
        Some(reply)
    }

    /// The reply body to a request with a `msg_id`, or why it is refused.
    fn serve(&mut self, service: &str, src: &str, body: &Value) -> Result<Value, Refusal> {
        if service == "lin-tso" {
            return match body["type"].as_str() {
                Some("ts") => {
                    let ts = self.next_ts;
                    self.next_ts += 1;
                    Ok(json!({"type": "ts_ok", "ts": ts}))
                }
                other => Err(Refusal::new(
                    Refused::NotSupported,
                    format!("lin-tso does not support `{}` (ts)", other.unwrap_or("")),
                )),
            };
        }
        let op = KvOp::parse(body)?;
        Ok(match service {
            "lin-kv" => op.apply(&mut self.lin),
            "seq-kv" => self.seq.handle(src, op, &mut self.rng),
            "lww-kv" => self.lww.handle(op, &mut self.rng),
            other => {
                return Err(Refusal::new(
                    Refused::NotSupported,
                    format!("no service `{other}`"),
                ));
            }
        })
    }
}

/// Node `from` (named `node`) sent `service` a request (`kind`, `body`,
/// `bytes` on the wire) at `at`: the service handles it as it is sent, and
/// both messages are counted and journaled on `network`, each delayed by
/// one latency sample. Returns the reply line for the runner to deliver
/// to `from`, when it is due, and its journal id (to settle it with);
/// `None` when there is nothing to answer.
#[allow(clippy::too_many_arguments)]
pub fn exchange(
    services: &mut Services,
    network: &mut crate::network::Network,
    at: std::time::Duration,
    from: usize,
    node: &str,
    service: &str,
    kind: &str,
    body: &str,
    bytes: u64,
) -> Option<(Vec<u8>, std::time::Duration, u64)> {
    let there = network.sample_latency();
    network.service_message(at, from, service, true, kind, bytes, at + there);
    let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let reply = services.handle(service, node, &request)?;
    let due = at + there + network.sample_latency();
    let reply_kind = reply["type"].as_str().unwrap_or("").to_string();
    let line = json!({"src": service, "dest": node, "body": reply})
        .to_string()
        .into_bytes();
    let reply_bytes = line.len() as u64 + 1;
    let id = network.service_message(at, from, service, false, &reply_kind, reply_bytes, due);
    Some((line, due, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(s: &mut Services, service: &str, src: &str, body: Value) -> Value {
        let mut body = body;
        body["msg_id"] = json!(1);
        let mut reply = s.handle(service, src, &body).expect("a reply");
        assert_eq!(reply["in_reply_to"], 1);
        let obj = reply.as_object_mut().unwrap();
        obj.remove("msg_id");
        obj.remove("in_reply_to");
        reply
    }

    #[test]
    fn lin_kv_reads_writes_and_cases_as_maelstrom() {
        let mut s = Services::new(1);
        let read = json!({"type": "read", "key": 1});
        assert_eq!(ask(&mut s, "lin-kv", "n0", read.clone())["code"], 20);
        let cas = json!({"type": "cas", "key": 1, "from": 0, "to": 5});
        assert_eq!(ask(&mut s, "lin-kv", "n0", cas.clone())["code"], 20);
        let create =
            json!({"type": "cas", "key": 1, "from": 0, "to": 5, "create_if_not_exists": true});
        assert_eq!(
            ask(&mut s, "lin-kv", "n0", create),
            json!({"type": "cas_ok"})
        );
        assert_eq!(
            ask(&mut s, "lin-kv", "n1", read.clone()),
            json!({"type": "read_ok", "value": 5})
        );
        let bad_cas = ask(&mut s, "lin-kv", "n1", cas);
        assert_eq!(
            (bad_cas["code"].clone(), bad_cas["text"].clone()),
            (json!(22), json!("current value 5 is not 0"))
        );
        let write = json!({"type": "write", "key": 1, "value": {"a": [1]}});
        assert_eq!(
            ask(&mut s, "lin-kv", "n2", write),
            json!({"type": "write_ok"})
        );
        assert_eq!(
            ask(&mut s, "lin-kv", "n0", read)["value"],
            json!({"a": [1]})
        );
        // Keys compare by value: "1" is another key.
        assert_eq!(
            ask(&mut s, "lin-kv", "n0", json!({"type": "read", "key": "1"}))["code"],
            20
        );
    }

    #[test]
    fn wrong_requests_are_refused_by_name_and_one_without_msg_id_is_not_answered() {
        let mut s = Services::new(1);
        let r = ask(&mut s, "lin-kv", "n0", json!({"type": "delete", "key": 1}));
        assert_eq!(r["code"], 10, "{r}");
        assert!(r["text"].as_str().unwrap().contains("`delete`"), "{r}");
        let r = ask(&mut s, "seq-kv", "n0", json!({"type": "write", "key": 1}));
        assert_eq!(r["code"], 12, "{r}");
        assert!(r["text"].as_str().unwrap().contains("`value`"), "{r}");
        let r = ask(&mut s, "lin-tso", "n0", json!({"type": "read", "key": 1}));
        assert_eq!(r["code"], 10, "{r}");
        assert!(
            s.handle("lin-kv", "n0", &json!({"type": "read", "key": 1}))
                .is_none()
        );
    }

    #[test]
    fn misuses_are_kept_once_each_with_repeats_counted_and_ordinary_errors_are_not() {
        let mut s = Services::new(1);
        let typo = json!({"type": "cas", "key": "counter", "from": 0, "value": 1});
        for _ in 0..3 {
            ask(&mut s, "seq-kv", "n1", typo.clone());
        }
        ask(&mut s, "lin-kv", "n0", json!({"type": "delete", "key": 1}));
        s.handle("seq-kv", "n0", &json!({"type": "read", "key": 1}));
        // Errors 20 and 22 are answers, not misuse.
        ask(&mut s, "lin-kv", "n0", json!({"type": "read", "key": 1}));
        ask(
            &mut s,
            "lin-kv",
            "n0",
            json!({"type": "write", "key": 1, "value": 2}),
        );
        let cas = json!({"type": "cas", "key": 1, "from": 0, "to": 5});
        assert_eq!(ask(&mut s, "lin-kv", "n0", cas)["code"], 22);
        assert_eq!(
            s.misuses().failures(),
            [
                "n1 sent seq-kv a malformed `cas` 3 times: cas needs `to` (answered with \
                 error 12, malformed-request; Maelstrom's own service would not answer)",
                "n0 sent lin-kv an unsupported `delete`: a key-value service does not \
                 support `delete` (read, write, cas) (answered with error 10, \
                 not-supported; Maelstrom's own service would not answer)",
                "n0 sent seq-kv a `read` without msg_id: no reply is possible",
            ]
        );
        // Past the distinct ones kept, the rest are counted.
        for n in 0..Misuses::KEPT + 2 {
            ask(&mut s, "lin-tso", &format!("n{n}"), json!({"type": "read"}));
        }
        let failures = s.misuses().failures();
        assert_eq!(failures.len(), Misuses::KEPT + 1, "{failures:#?}");
        assert_eq!(
            failures.last().unwrap(),
            "and 5 more misused service request(s) unlike those above"
        );
    }

    #[test]
    fn lin_tso_counts_up_from_zero() {
        let mut s = Services::new(1);
        for n in 0..5 {
            assert_eq!(
                ask(&mut s, "lin-tso", "n0", json!({"type": "ts"})),
                json!({"type": "ts_ok", "ts": n})
            );
        }
    }

    #[test]
    fn seq_kv_reads_may_be_stale_but_never_go_back_and_writes_apply_to_the_latest() {
        let mut stale_reads = 0;
        for seed in 0..20 {
            let mut s = Services::new(seed);
            for v in 0..10 {
                let w = json!({"type": "write", "key": "k", "value": v});
                assert_eq!(ask(&mut s, "seq-kv", "n0", w), json!({"type": "write_ok"}));
            }
            // n1 has seen nothing: its reads go forward, from any state.
            let mut last = -1;
            for _ in 0..20 {
                let r = ask(&mut s, "seq-kv", "n1", json!({"type": "read", "key": "k"}));
                let value = r["value"].as_i64().unwrap_or(-1);
                assert!(value >= last, "seed {seed}: {value} after {last}");
                if value < 9 {
                    stale_reads += 1;
                }
                last = value;
            }
            // The writer's own reads see its last write.
            let r = ask(&mut s, "seq-kv", "n0", json!({"type": "read", "key": "k"}));
            assert_eq!(r["value"], 9, "seed {seed}");
            // A cas that succeeds applies to the latest state.
            let cas = json!({"type": "cas", "key": "k", "from": 9, "to": 10});
            if ask(&mut s, "seq-kv", "n2", cas)["type"] == "cas_ok" {
                let r = ask(&mut s, "seq-kv", "n2", json!({"type": "read", "key": "k"}));
                assert_eq!(r["value"], 10);
            }
        }
        assert!(stale_reads > 20, "seq-kv never served a stale read");
    }

    #[test]
    fn lww_kv_may_lose_a_write_and_never_creates_by_cas() {
        let mut lost = 0;
        for seed in 0..50 {
            let mut s = Services::new(seed);
            let a = json!({"type": "write", "key": "k", "value": "a"});
            ask(&mut s, "lww-kv", "n0", a);
            let b = json!({"type": "write", "key": "k", "value": "b"});
            ask(&mut s, "lww-kv", "n1", b);
            // Many reads merge the replicas: one value wins everywhere.
            let mut value = Value::Null;
            for _ in 0..30 {
                value = ask(&mut s, "lww-kv", "n2", json!({"type": "read", "key": "k"}))["value"]
                    .clone();
            }
            assert!(value == "a" || value == "b", "seed {seed}: {value}");
            if value == "a" {
                lost += 1; // the later write lost to an earlier one's replica
            }
            let create = json!({"type": "cas", "key": "new", "from": 0, "to": 1, "create_if_not_exists": true});
            assert_eq!(
                ask(&mut s, "lww-kv", "n0", create)["code"],
                20,
                "seed {seed}"
            );
        }
        assert!(lost > 0, "lww-kv never lost a write in 50 seeds");
    }
}
