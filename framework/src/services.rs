//! Clients for Maelstrom's services: the key-value stores `lin-kv`,
//! `seq-kv` and `lww-kv` ([`Kv`]) and the timestamp oracle `lin-tso`
//! ([`Tso`]).
//!
//! A service is a node that Maelstrom runs next to ours; a node uses it by
//! sending it requests, as it would any RPC. These clients write those
//! requests and read the replies into Rust values and a typed [`KvError`],
//! on top of [`Ctx::rpc`]: no threads, no `async`. A call sends the
//! request at once and returns; its callback runs later on the node's one
//! event loop, with `&mut H` and `&mut Ctx<H>` as every other handler call,
//! when the reply comes or the client's timeout passes, whichever is first.
//! A reply that comes after the timeout is dropped: each callback runs
//! once (unless the node's input ends first).
//!
//! What the services promise (Maelstrom's `service.clj`, `doc/services.md`):
//!
//! - **`lin-kv`** ([`Kv::lin`]): linearizable. Every operation takes effect
//!   at one instant between its request and its reply; a read sees the
//!   latest write.
//! - **`seq-kv`** ([`Kv::seq`]): sequentially consistent. All operations
//!   are in one total order, and each node sees that order only move
//!   forward, but a node may be shown an older state: reads, and a `cas`
//!   that fails, may be stale (a `cas` may fail with 22, or a read with 20,
//!   on a state that has since changed). Writes and successful `cas`es
//!   apply to the latest state, and move the node that made them there: a
//!   node's reads after its own write see at least that write.
//! - **`lww-kv`** ([`Kv::lww`]): eventually consistent, last writer wins,
//!   over several replicas that merge now and then. Reads may be stale and
//!   writes may be lost (overwritten by a concurrent one when replicas
//!   merge); `cas` ignores `create_if_not_exists`.
//! - **`lin-tso`** ([`Tso::lin`]): a linearizable timestamp oracle. Each
//!   `ts` gets an integer larger than every one handed out before it,
//!   counting up from 0.
//!
//! Keys and values are any JSON (Maelstrom's own workloads use integer
//! keys); the clients take anything [`Serialize`] and read values into
//! anything [`DeserializeOwned`]. A service answers a request it does not
//! understand with nothing at all, which the client reports as a timeout.
//!
//! # Errors
//!
//! A callback gets `Err(KvError)`: [`KvError::KeyDoesNotExist`] (code 20),
//! [`KvError::PreconditionFailed`] (code 22: a `cas` whose `from` did not
//! match), [`KvError::Timeout`] (no reply in time: the operation may or may
//! not have happened), [`KvError::Other`] for any other error the service
//! sent, and [`KvError::Malformed`] for a reply of the wrong shape. The
//! call itself fails (and nothing is sent) only when a key or value does
//! not serialise to JSON. `Error::from(kv_error)` turns it into the
//! protocol error to pass on to a client.
//!
//! # Example
//!
//! A node that serves reads from `lin-kv`, answering its client from the
//! callback:
//!
//! ```
//! use maelstrom_framework::services::{Kv, KvError};
//! use maelstrom_framework::{Ctx, Error, Handler, Request};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! enum Msg {
//!     Read { key: u64 },
//! }
//!
//! #[derive(Serialize)]
//! #[serde(tag = "type", rename_all = "snake_case")]
//! enum Out {
//!     ReadOk { value: i64 },
//! }
//!
//! struct Proxy {
//!     kv: Kv,
//!     misses: u64,
//! }
//!
//! impl Handler for Proxy {
//!     type Message = Msg;
//!     type Timer = ();
//!
//!     fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
//!         let Msg::Read { key } = msg;
//!         let req = req.clone();
//!         // Runs later, on the reply or the timeout, with this handler.
//!         let on_reply = move |node: &mut Proxy, ctx: &mut Ctx<Proxy>, result| match result {
//!             Ok(value) => {
//!                 ctx.reply(&req, &Out::ReadOk { value });
//!                 Ok(())
//!             }
//!             Err(e) => {
//!                 if let KvError::KeyDoesNotExist(_) = e {
//!                     node.misses += 1;
//!                 }
//!                 ctx.reply_error(&req, &Error::from(e));
//!                 Ok(())
//!             }
//!         };
//!         self.kv.read::<i64, _>(ctx, key, on_reply)?;
//!         Ok(())
//!     }
//! }
//!
//! // Driven by hand, the test playing lin-kv:
//! use std::time::Duration;
//! use maelstrom_framework::{Node, testing};
//! use serde_json::json;
//!
//! let t = Duration::ZERO;
//! let mut node = Node::new(Proxy { kv: Kv::lin(), misses: 0 }, 1);
//! testing::init(&mut node, "n1", &["n1"]);
//! let out = testing::deliver(&mut node, t, "c1", json!({"type": "read", "key": 3, "msg_id": 7}));
//! assert_eq!(out[0]["dest"], "lin-kv");
//! assert_eq!(out[0]["body"], json!({"type": "read", "key": 3, "msg_id": 1}));
//!
//! let read_ok = json!({"type": "read_ok", "value": 5, "in_reply_to": 1});
//! let out = testing::deliver(&mut node, t, "lin-kv", read_ok);
//! assert_eq!(out[0]["dest"], "c1");
//! assert_eq!(out[0]["body"], json!({"type": "read_ok", "value": 5, "msg_id": 2, "in_reply_to": 7}));
//!
//! testing::deliver(&mut node, t, "c1", json!({"type": "read", "key": 4, "msg_id": 8}));
//! let missing = json!({"type": "error", "code": 20, "text": "key does not exist", "in_reply_to": 3});
//! let out = testing::deliver(&mut node, t, "lin-kv", missing);
//! assert_eq!(out[0]["body"]["code"], 20);
//! assert_eq!(out[0]["body"]["in_reply_to"], 8);
//! assert_eq!(node.handler_ref().misses, 1);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorCode};
use crate::node::{Ctx, Handler};
use crate::protocol::{self, Reply};

/// How long a client waits for a reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A client of one of Maelstrom's key-value services: which service, and
/// how long to wait for its replies. Cheap to clone; keep one in the
/// handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    service: Service,
}

/// A client of Maelstrom's timestamp oracle, `lin-tso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tso {
    service: Service,
}

/// Why a service call failed, as its callback gets it. [`Tso`] reports
/// through it too (only `Timeout`, `Other` and `Malformed` happen there).
/// Each variant keeps the text the service or the client gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// Error 20: the key does not exist (definite). On `seq-kv` and
    /// `lww-kv` it may have been judged on a stale state.
    KeyDoesNotExist(String),
    /// Error 22: a `cas` whose `from` is not the current value (definite;
    /// the text says what the value was). On `seq-kv` and `lww-kv` the
    /// current value may be a stale one.
    PreconditionFailed(String),
    /// No reply within the client's timeout (or the service answered error
    /// 0): indefinite, the operation may or may not have happened.
    Timeout(String),
    /// Any other error the service answered with; definite as its code is.
    Other(Error),
    /// A reply that is not the one the request asks for: another `type`
    /// than the expected `_ok`, or a missing or ill-typed field.
    /// Indefinite: something answered, but what happened is unknown.
    Malformed(String),
}

impl Kv {
    /// The linearizable store, `lin-kv`.
    pub const fn lin() -> Kv {
        Kv::of(Service::fixed("lin-kv"))
    }

    /// The sequentially consistent store, `seq-kv`.
    pub const fn seq() -> Kv {
        Kv::of(Service::fixed("seq-kv"))
    }

    /// The eventually consistent last-writer-wins store, `lww-kv`.
    pub const fn lww() -> Kv {
        Kv::of(Service::fixed("lww-kv"))
    }

    /// A store of that name that speaks the same protocol.
    ///
    /// # Panics
    ///
    /// If the name is empty or names one of Maelstrom's clients (`c…`): a
    /// node may not send requests to those.
    pub fn named(name: impl Into<Cow<'static, str>>) -> Kv {
        Kv::of(Service::named(name.into()))
    }

    const fn of(service: Service) -> Kv {
        Kv { service }
    }

    /// The same client, waiting `timeout` for each reply.
    pub const fn with_timeout(mut self, timeout: Duration) -> Kv {
        self.service.timeout = timeout;
        self
    }

    /// The service's node id (`lin-kv`, …).
    pub fn service(&self) -> &str {
        &self.service.name
    }

    /// How long a call waits for its reply.
    pub fn timeout(&self) -> Duration {
        self.service.timeout
    }

    /// Reads `key`: sends `{"type":"read","key":K}`; the callback gets the
    /// `value` of `read_ok` as a `T`, or an error (20 if the key is
    /// missing). Returns the request's msg_id; `Err` (nothing sent, the
    /// callback dropped) only if `key` does not serialise.
    pub fn read<T, H>(
        &self,
        ctx: &mut Ctx<H>,
        key: impl Serialize,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<T, KvError>) -> anyhow::Result<()> + 'static,
    ) -> Result<u64, Error>
    where
        T: DeserializeOwned + 'static,
        H: Handler,
    {
        let body = KvRequest::Read {
            key: json("key", &key)?,
        };
        let service = self.service.name.clone();
        Ok(self.service.call(ctx, &body, move |h, ctx, result| {
            let value = ok_body(&service, "read", "read_ok", result)
                .and_then(|ok| field(&service, "read_ok", "value", ok.value));
            on_reply(h, ctx, value)
        }))
    }

    /// Writes `value` to `key`: sends `{"type":"write","key":K,"value":V}`;
    /// the callback gets `Ok(())` on `write_ok`. Returns the request's
    /// msg_id; `Err` (nothing sent) only if `key` or `value` does not
    /// serialise.
    pub fn write<H: Handler>(
        &self,
        ctx: &mut Ctx<H>,
        key: impl Serialize,
        value: impl Serialize,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<(), KvError>) -> anyhow::Result<()> + 'static,
    ) -> Result<u64, Error> {
        let body = KvRequest::Write {
            key: json("key", &key)?,
            value: json("value", &value)?,
        };
        let service = self.service.name.clone();
        Ok(self.service.call(ctx, &body, move |h, ctx, result| {
            let done = ok_body(&service, "write", "write_ok", result).map(drop);
            on_reply(h, ctx, done)
        }))
    }

    /// Compare-and-set: sets `key` to `to` if it holds `from`. Sends
    /// `{"type":"cas","key":K,"from":F,"to":T}`, with
    /// `"create_if_not_exists":true` when asked (then a missing key is
    /// created with `to` rather than failing with 20; `lww-kv` ignores
    /// it). The callback gets `Ok(())` on `cas_ok`,
    /// [`KvError::PreconditionFailed`] if the value was not `from`, and
    /// [`KvError::KeyDoesNotExist`] if the key is missing. Returns the
    /// request's msg_id; `Err` (nothing sent) only if `key`, `from` or `to`
    /// does not serialise.
    pub fn cas<H: Handler>(
        &self,
        ctx: &mut Ctx<H>,
        key: impl Serialize,
        from: impl Serialize,
        to: impl Serialize,
        create_if_not_exists: bool,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<(), KvError>) -> anyhow::Result<()> + 'static,
    ) -> Result<u64, Error> {
        let body = KvRequest::Cas {
            key: json("key", &key)?,
            from: json("from", &from)?,
            to: json("to", &to)?,
            create_if_not_exists,
        };
        let service = self.service.name.clone();
        Ok(self.service.call(ctx, &body, move |h, ctx, result| {
            let done = ok_body(&service, "cas", "cas_ok", result).map(drop);
            on_reply(h, ctx, done)
        }))
    }
}

impl Tso {
    /// The timestamp oracle, `lin-tso`.
    pub const fn lin() -> Tso {
        Tso {
            service: Service::fixed("lin-tso"),
        }
    }

    /// An oracle of that name that speaks the same protocol.
    ///
    /// # Panics
    ///
    /// If the name is empty or names one of Maelstrom's clients (`c…`).
    pub fn named(name: impl Into<Cow<'static, str>>) -> Tso {
        Tso {
            service: Service::named(name.into()),
        }
    }

    /// The same client, waiting `timeout` for each reply.
    pub const fn with_timeout(mut self, timeout: Duration) -> Tso {
        self.service.timeout = timeout;
        self
    }

    /// The service's node id (`lin-tso`).
    pub fn service(&self) -> &str {
        &self.service.name
    }

    /// How long a call waits for its reply.
    pub fn timeout(&self) -> Duration {
        self.service.timeout
    }

    /// Asks for a timestamp: sends `{"type":"ts"}`; the callback gets the
    /// `ts` of `ts_ok`, larger than any handed out before. Returns the
    /// request's msg_id.
    pub fn ts<H: Handler>(
        &self,
        ctx: &mut Ctx<H>,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<u64, KvError>) -> anyhow::Result<()> + 'static,
    ) -> u64 {
        let service = self.service.name.clone();
        self.service
            .call(ctx, &TsoRequest::Ts, move |h, ctx, result| {
                let ts = ok_body(&service, "ts", "ts_ok", result)
                    .and_then(|ok| field(&service, "ts_ok", "ts", ok.ts));
                on_reply(h, ctx, ts)
            })
    }
}

impl KvError {
    /// The error a service sent, by its code.
    fn from_error(error: Error) -> KvError {
        match error.code {
            ErrorCode::KeyDoesNotExist => KvError::KeyDoesNotExist(error.text),
            ErrorCode::PreconditionFailed => KvError::PreconditionFailed(error.text),
            ErrorCode::Timeout => KvError::Timeout(error.text),
            _ => KvError::Other(error),
        }
    }

    /// Whether the operation certainly did not happen. Timeouts and
    /// malformed replies leave it open, as do the codes Maelstrom calls
    /// indefinite (13 crash, application codes ≥ 1000).
    pub fn is_definite(&self) -> bool {
        match self {
            KvError::KeyDoesNotExist(_) | KvError::PreconditionFailed(_) => true,
            KvError::Timeout(_) | KvError::Malformed(_) => false,
            KvError::Other(e) => e.is_definite(),
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::KeyDoesNotExist(text) => write!(f, "key does not exist (error 20): {text}"),
            KvError::PreconditionFailed(text) => {
                write!(f, "precondition failed (error 22): {text}")
            }
            KvError::Timeout(text) => {
                write!(f, "timed out, may or may not have happened: {text}")
            }
            KvError::Other(e) => e.fmt(f),
            KvError::Malformed(text) => write!(f, "malformed reply: {text}"),
        }
    }
}

impl std::error::Error for KvError {}

/// The protocol error to pass a failed call on to a client: the service's
/// own code, 0 for a timeout, and 13 (crash, indefinite) for a malformed
/// reply.
impl From<KvError> for Error {
    fn from(e: KvError) -> Error {
        match e {
            KvError::KeyDoesNotExist(text) => Error::new(ErrorCode::KeyDoesNotExist, text),
            KvError::PreconditionFailed(text) => Error::new(ErrorCode::PreconditionFailed, text),
            KvError::Timeout(text) => Error::timeout(text),
            KvError::Other(e) => e,
            KvError::Malformed(text) => Error::new(ErrorCode::Crash, text),
        }
    }
}

/// A service's node id and the timeout of its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Service {
    name: Cow<'static, str>,
    timeout: Duration,
}

impl Service {
    const fn fixed(name: &'static str) -> Service {
        Service {
            name: Cow::Borrowed(name),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    fn named(name: Cow<'static, str>) -> Service {
        // `Ctx` refuses to send to these (logged, nothing sent, no callback
        // ever): refuse them here, where the mistake is made.
        assert!(
            !name.is_empty() && !protocol::is_client(&name),
            "{name:?} cannot name a service: a node sends requests only to nodes and services, not to nobody or to clients (c…)"
        );
        Service {
            name,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sends `body`; it always serialises (its parts are JSON already) and
    /// the name is a valid destination, so `on_reply` is sure to run.
    fn call<H: Handler>(
        &self,
        ctx: &mut Ctx<H>,
        body: &impl Serialize,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<Reply, Error>) -> anyhow::Result<()> + 'static,
    ) -> u64 {
        ctx.rpc(&self.name, body, self.timeout, on_reply)
    }
}

/// The key-value requests, as written on the wire. Keys and values are
/// serialised before the request is built, so that writing it cannot fail.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KvRequest {
    Read {
        key: Box<RawValue>,
    },
    Write {
        key: Box<RawValue>,
        value: Box<RawValue>,
    },
    Cas {
        key: Box<RawValue>,
        from: Box<RawValue>,
        to: Box<RawValue>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        create_if_not_exists: bool,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TsoRequest {
    Ts,
}

/// The fields of a service's `_ok` reply that the clients read. A field
/// that is present is `Some`, even when it is `null`.
#[derive(Deserialize)]
struct OkBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "present")]
    value: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "present")]
    ts: Option<Box<RawValue>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

fn json(what: &str, v: &impl Serialize) -> Result<Box<RawValue>, Error> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| Error::malformed(format!("the {what} does not serialise to JSON: {e}")))
}

/// The reply to `request`, if it is the expected `ok` one.
fn ok_body(
    service: &str,
    request: &str,
    ok: &str,
    result: Result<Reply, Error>,
) -> Result<OkBody, KvError> {
    let reply = result.map_err(KvError::from_error)?;
    let body: OkBody = serde_json::from_str(reply.body.get()).map_err(|e| {
        KvError::Malformed(format!(
            "{service} answered {request} with an unreadable body: {e}"
        ))
    })?;
    if body.kind != ok {
        return Err(KvError::Malformed(format!(
            "{service} answered {request} with {}, not {ok}",
            body.kind
        )));
    }
    Ok(body)
}

/// A field of an `_ok` reply as a `T`.
fn field<T: DeserializeOwned>(
    service: &str,
    ok: &str,
    name: &str,
    raw: Option<Box<RawValue>>,
) -> Result<T, KvError> {
    let raw = raw.ok_or_else(|| KvError::Malformed(format!("{service}'s {ok} has no {name}")))?;
    serde_json::from_str(raw.get()).map_err(|e| {
        KvError::Malformed(format!(
            "{service}'s {ok} has {name} {}, not a {}: {e}",
            raw.get(),
            std::any::type_name::<T>()
        ))
    })
}

#[cfg(test)]
mod tests {
    //! A node that uses the clients, driven by hand; the tests play the
    //! services, reading the requests it writes and scripting the replies.

    use super::*;
    use crate::node::{Node, Process, Request};
    use crate::testing;
    use serde_json::{Value, json};

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Read {
            key: Value,
        },
        ReadInt {
            key: Value,
        },
        Write {
            key: Value,
            value: Value,
        },
        Cas {
            key: Value,
            from: Value,
            to: Value,
            create: bool,
        },
        Ts,
        ReadBadKey,
    }

    /// What a callback was handed.
    #[derive(Debug, PartialEq)]
    enum Got {
        Value(Result<Value, KvError>),
        Int(Result<i64, KvError>),
        Done(Result<(), KvError>),
        Ts(Result<u64, KvError>),
    }

    struct Probe {
        kv: Kv,
        tso: Tso,
        got: Vec<Got>,
    }

    impl Handler for Probe {
        type Message = Msg;
        type Timer = ();

        fn handle(&mut self, ctx: &mut Ctx<Self>, _req: &Request, msg: Msg) -> anyhow::Result<()> {
            match msg {
                Msg::Read { key } => {
                    self.kv.read(ctx, key, |p: &mut Probe, _, r| {
                        p.got.push(Got::Value(r));
                        Ok(())
                    })?;
                }
                Msg::ReadInt { key } => {
                    self.kv.read(ctx, key, |p: &mut Probe, _, r| {
                        p.got.push(Got::Int(r));
                        Ok(())
                    })?;
                }
                Msg::Write { key, value } => {
                    self.kv.write(ctx, key, value, |p: &mut Probe, _, r| {
                        p.got.push(Got::Done(r));
                        Ok(())
                    })?;
                }
                Msg::Cas {
                    key,
                    from,
                    to,
                    create,
                } => {
                    self.kv
                        .cas(ctx, key, from, to, create, |p: &mut Probe, _, r| {
                            p.got.push(Got::Done(r));
                            Ok(())
                        })?;
                }
                Msg::Ts => {
                    self.tso.ts(ctx, |p: &mut Probe, _, r| {
                        p.got.push(Got::Ts(r));
                        Ok(())
                    });
                }
                Msg::ReadBadKey => {
                    // A map with non-string keys is not JSON.
                    let key = std::collections::BTreeMap::from([((1, 2), 3)]);
                    self.kv.read(ctx, key, |p: &mut Probe, _, r| {
                        p.got.push(Got::Value(r));
                        Ok(())
                    })?;
                }
            }
            Ok(())
        }
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn node(kv: Kv) -> Node<Probe> {
        let probe = Probe {
            kv,
            tso: Tso::lin(),
            got: Vec::new(),
        };
        let mut node = Node::new(probe, 1);
        testing::init(&mut node, "n1", &["n1", "n2"]);
        node
    }

    /// Has client c1 send `body` at `t` and returns what the node wrote.
    fn ask(node: &mut Node<Probe>, t: Duration, mut body: Value) -> Vec<Value> {
        body["msg_id"] = json!(100);
        testing::deliver(node, t, "c1", body)
    }

    /// Has client c1 send `body` at time zero; returns the one request the
    /// node sent, checking that it went from n1 to `service`.
    fn request(node: &mut Node<Probe>, service: &str, body: Value) -> Value {
        let out = ask(node, Duration::ZERO, body);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["src"], "n1", "{out:?}");
        assert_eq!(out[0]["dest"], service, "{out:?}");
        out[0]["body"].clone()
    }

    /// Has `service` answer the request `msg_id` with `body`.
    fn answer(node: &mut Node<Probe>, service: &str, msg_id: &Value, mut body: Value) {
        body["in_reply_to"] = msg_id.clone();
        let out = testing::deliver(node, ms(1), service, body);
        assert!(
            out.is_empty(),
            "the probe sends nothing on replies: {out:?}"
        );
    }

    fn got(node: &Node<Probe>) -> &[Got] {
        &node.handler_ref().got
    }

    #[test]
    fn service_names_and_timeouts() {
        assert_eq!(Kv::seq().service(), "seq-kv");
        assert_eq!(Kv::lin().service(), "lin-kv");
        assert_eq!(Kv::lww().service(), "lww-kv");
        assert_eq!(Kv::named("shard-kv").service(), "shard-kv");
        assert_eq!(Kv::named(String::from("n9")).service(), "n9");
        assert_eq!(Tso::lin().service(), "lin-tso");
        assert_eq!(Kv::lin().timeout(), DEFAULT_TIMEOUT);
        assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(1));
        assert_eq!(Kv::seq().with_timeout(ms(250)).timeout(), ms(250));
        assert_eq!(Tso::lin().with_timeout(ms(30)).timeout(), ms(30));
        const KV: Kv = Kv::lww().with_timeout(Duration::from_millis(5));
        assert_eq!(KV.timeout(), ms(5));
    }

    #[test]
    #[should_panic(expected = "cannot name a service")]
    fn a_client_cannot_be_a_service() {
        Kv::named("cache-kv");
    }

    #[test]
    #[should_panic(expected = "cannot name a service")]
    fn nobody_cannot_be_a_service() {
        Tso::named("");
    }

    #[test]
    fn read_ok_hands_the_value_to_the_callback() {
        let mut node = node(Kv::seq());
        let req = request(&mut node, "seq-kv", json!({"type": "read", "key": "x"}));
        assert_eq!(req, json!({"type": "read", "key": "x", "msg_id": 1}));
        answer(
            &mut node,
            "seq-kv",
            &req["msg_id"],
            json!({"type": "read_ok", "value": {"a": [1, 2]}}),
        );
        assert_eq!(got(&node), [Got::Value(Ok(json!({"a": [1, 2]})))]);
        // `null` is a value like any other.
        let req = request(&mut node, "seq-kv", json!({"type": "read", "key": 0}));
        assert_eq!(req, json!({"type": "read", "key": 0, "msg_id": 2}));
        answer(
            &mut node,
            "seq-kv",
            &req["msg_id"],
            json!({"type": "read_ok", "value": null}),
        );
        assert_eq!(got(&node)[1], Got::Value(Ok(Value::Null)));
    }

    #[test]
    fn read_ok_is_read_into_the_type_asked_for() {
        let mut node = node(Kv::lin());
        let req = request(&mut node, "lin-kv", json!({"type": "read_int", "key": 7}));
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "read_ok", "value": -3}),
        );
        assert_eq!(got(&node), [Got::Int(Ok(-3))]);
    }

    #[test]
    fn read_of_a_missing_key_is_key_does_not_exist() {
        let mut node = node(Kv::lin());
        let req = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "error", "code": 20, "text": "key does not exist"}),
        );
        let expected = KvError::KeyDoesNotExist("key does not exist".into());
        assert_eq!(got(&node), [Got::Value(Err(expected.clone()))]);
        assert!(expected.is_definite());
        assert_eq!(
            expected.to_string(),
            "key does not exist (error 20): key does not exist"
        );
    }

    #[test]
    fn write_ok_is_ok() {
        let mut node = node(Kv::lww());
        let req = request(
            &mut node,
            "lww-kv",
            json!({"type": "write", "key": "k", "value": [1, "two"]}),
        );
        assert_eq!(
            req,
            json!({"type": "write", "key": "k", "value": [1, "two"], "msg_id": 1})
        );
        answer(
            &mut node,
            "lww-kv",
            &req["msg_id"],
            json!({"type": "write_ok"}),
        );
        assert_eq!(got(&node), [Got::Done(Ok(()))]);
    }

    #[test]
    fn cas_ok_is_ok_and_leaves_create_if_not_exists_out_when_false() {
        let mut node = node(Kv::lin());
        let cas = json!({"type": "cas", "key": 3, "from": 1, "to": 2, "create": false});
        let req = request(&mut node, "lin-kv", cas);
        assert_eq!(
            req,
            json!({"type": "cas", "key": 3, "from": 1, "to": 2, "msg_id": 1})
        );
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "cas_ok"}),
        );
        assert_eq!(got(&node), [Got::Done(Ok(()))]);
    }

    #[test]
    fn cas_with_create_if_not_exists_says_so_on_the_wire() {
        let mut node = node(Kv::lin());
        let cas = json!({"type": "cas", "key": "k", "from": null, "to": 9, "create": true});
        let req = request(&mut node, "lin-kv", cas);
        assert_eq!(
            req,
            json!({"type": "cas", "key": "k", "from": null, "to": 9,
                   "create_if_not_exists": true, "msg_id": 1})
        );
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "cas_ok"}),
        );
        assert_eq!(got(&node), [Got::Done(Ok(()))]);
    }

    #[test]
    fn cas_mismatch_is_precondition_failed() {
        let mut node = node(Kv::seq());
        let cas = json!({"type": "cas", "key": 3, "from": 1, "to": 2, "create": false});
        let req = request(&mut node, "seq-kv", cas);
        answer(
            &mut node,
            "seq-kv",
            &req["msg_id"],
            json!({"type": "error", "code": 22, "text": "current value 4 is not 1"}),
        );
        let expected = KvError::PreconditionFailed("current value 4 is not 1".into());
        assert_eq!(got(&node), [Got::Done(Err(expected.clone()))]);
        assert!(expected.is_definite());
        let passed_on = Error::from(expected);
        assert_eq!(passed_on.code, ErrorCode::PreconditionFailed);
        assert_eq!(passed_on.text, "current value 4 is not 1");
    }

    #[test]
    fn cas_of_a_missing_key_is_key_does_not_exist() {
        let mut node = node(Kv::lin());
        let cas = json!({"type": "cas", "key": 3, "from": 1, "to": 2, "create": false});
        let req = request(&mut node, "lin-kv", cas);
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "error", "code": 20, "text": "key does not exist"}),
        );
        let expected = KvError::KeyDoesNotExist("key does not exist".into());
        assert_eq!(got(&node), [Got::Done(Err(expected))]);
    }

    #[test]
    fn other_error_codes_are_other_and_as_definite_as_their_code() {
        let mut node = node(Kv::lin());
        for (i, code) in [11u32, 13, 1005].into_iter().enumerate() {
            let req = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
            answer(
                &mut node,
                "lin-kv",
                &req["msg_id"],
                json!({"type": "error", "code": code, "text": "nope"}),
            );
            let expected = KvError::Other(Error::new(ErrorCode::from_code(code), "nope"));
            assert_eq!(got(&node)[i], Got::Value(Err(expected.clone())));
            assert_eq!(expected.is_definite(), code == 11, "{code}");
            assert_eq!(Error::from(expected).code.code(), code);
        }
        let Got::Value(Err(e)) = &got(&node)[0] else {
            unreachable!()
        };
        assert_eq!(e.to_string(), "error 11 (temporarily-unavailable): nope");
    }

    #[test]
    fn tso_ts_ok_hands_over_the_timestamp() {
        let mut node = node(Kv::lin());
        let req = request(&mut node, "lin-tso", json!({"type": "ts"}));
        assert_eq!(req, json!({"type": "ts", "msg_id": 1}));
        answer(
            &mut node,
            "lin-tso",
            &req["msg_id"],
            json!({"type": "ts_ok", "ts": 0}),
        );
        let req = request(&mut node, "lin-tso", json!({"type": "ts"}));
        answer(
            &mut node,
            "lin-tso",
            &req["msg_id"],
            json!({"type": "ts_ok", "ts": 41}),
        );
        assert_eq!(got(&node), [Got::Ts(Ok(0)), Got::Ts(Ok(41))]);
    }

    #[test]
    fn tso_ts_that_is_not_a_count_is_malformed() {
        let mut node = node(Kv::lin());
        for ts in [json!(-1), json!(1.5), json!("7")] {
            let req = request(&mut node, "lin-tso", json!({"type": "ts"}));
            answer(
                &mut node,
                "lin-tso",
                &req["msg_id"],
                json!({"type": "ts_ok", "ts": ts}),
            );
        }
        let req = request(&mut node, "lin-tso", json!({"type": "ts"}));
        answer(
            &mut node,
            "lin-tso",
            &req["msg_id"],
            json!({"type": "ts_ok"}),
        );
        let texts: Vec<String> = got(&node)
            .iter()
            .map(|g| match g {
                Got::Ts(Err(KvError::Malformed(text))) => text.clone(),
                other => panic!("not malformed: {other:?}"),
            })
            .collect();
        assert_eq!(texts.len(), 4);
        assert!(
            texts[0].starts_with("lin-tso's ts_ok has ts -1, not a u64"),
            "{texts:?}"
        );
        assert!(
            texts[2].starts_with("lin-tso's ts_ok has ts \"7\", not a u64"),
            "{texts:?}"
        );
        assert_eq!(texts[3], "lin-tso's ts_ok has no ts");
    }

    #[test]
    fn a_timeout_is_indefinite_and_comes_at_the_timeout() {
        let mut node = node(Kv::lin().with_timeout(ms(250)));
        let out = ask(
            &mut node,
            ms(100),
            json!({"type": "write", "key": 1, "value": 2}),
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(node.next_deadline(), Some(ms(350)));
        node.on_wake(testing::at(ms(349)));
        assert!(got(&node).is_empty());
        node.on_wake(testing::at(ms(350)));
        assert!(testing::take_output(&mut node).is_empty());
        let [Got::Done(Err(e))] = got(&node) else {
            panic!("not one error: {:?}", got(&node));
        };
        assert!(
            matches!(e, KvError::Timeout(text) if text.contains("lin-kv")),
            "{e:?}"
        );
        assert!(!e.is_definite());
        assert_eq!(Error::from(e.clone()).code, ErrorCode::Timeout);
        assert!(
            e.to_string()
                .starts_with("timed out, may or may not have happened")
        );
        assert_eq!(node.next_deadline(), None);
    }

    #[test]
    fn the_default_timeout_is_one_second_and_tso_times_out_too() {
        let mut node = node(Kv::seq());
        ask(&mut node, Duration::ZERO, json!({"type": "ts"}));
        assert_eq!(node.next_deadline(), Some(DEFAULT_TIMEOUT));
        node.on_wake(testing::at(DEFAULT_TIMEOUT));
        assert!(matches!(got(&node), [Got::Ts(Err(KvError::Timeout(_)))]));
    }

    #[test]
    fn an_error_0_from_the_service_is_a_timeout() {
        let mut node = node(Kv::lin());
        let req = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
        answer(
            &mut node,
            "lin-kv",
            &req["msg_id"],
            json!({"type": "error", "code": 0, "text": "took too long"}),
        );
        let expected = KvError::Timeout("took too long".into());
        assert_eq!(got(&node), [Got::Value(Err(expected))]);
    }

    #[test]
    fn a_late_reply_after_the_timeout_is_dropped() {
        let mut node = node(Kv::lin());
        let req = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
        node.on_wake(testing::at(DEFAULT_TIMEOUT));
        assert_eq!(got(&node).len(), 1);
        let late = json!({"type": "read_ok", "value": 5, "in_reply_to": req["msg_id"]});
        let out = testing::deliver(&mut node, ms(1500), "lin-kv", late);
        assert!(out.is_empty(), "{out:?}");
        assert!(matches!(got(&node), [Got::Value(Err(KvError::Timeout(_)))]));
    }

    #[test]
    fn malformed_replies_are_malformed_and_indefinite() {
        let mut node = node(Kv::lin());
        let mut texts = Vec::new();
        let cases = [
            (
                json!({"type": "read", "key": 1}),
                json!({"type": "read_ok"}),
            ),
            (
                json!({"type": "read", "key": 1}),
                json!({"type": "write_ok"}),
            ),
            (
                json!({"type": "write", "key": 1, "value": 2}),
                json!({"type": "hello", "value": 2}),
            ),
            (
                json!({"type": "cas", "key": 1, "from": 1, "to": 2, "create": false}),
                json!({"type": "write_ok"}),
            ),
            (
                json!({"type": "read_int", "key": 1}),
                json!({"type": "read_ok", "value": "x"}),
            ),
        ];
        for (i, (ask_for, reply)) in cases.into_iter().enumerate() {
            let req = request(&mut node, "lin-kv", ask_for);
            answer(&mut node, "lin-kv", &req["msg_id"], reply);
            let e = match &got(&node)[i] {
                Got::Value(Err(e)) | Got::Done(Err(e)) | Got::Int(Err(e)) => e,
                other => panic!("not an error: {other:?}"),
            };
            assert!(!e.is_definite());
            assert_eq!(Error::from(e.clone()).code, ErrorCode::Crash);
            let KvError::Malformed(text) = e else {
                panic!("not malformed: {e:?}");
            };
            texts.push(text.clone());
        }
        assert_eq!(texts[0], "lin-kv's read_ok has no value");
        assert_eq!(texts[1], "lin-kv answered read with write_ok, not read_ok");
        assert_eq!(texts[2], "lin-kv answered write with hello, not write_ok");
        assert_eq!(texts[3], "lin-kv answered cas with write_ok, not cas_ok");
        assert!(
            texts[4].starts_with("lin-kv's read_ok has value \"x\", not a i64"),
            "{texts:?}"
        );
    }

    #[test]
    fn replies_in_any_order_reach_their_own_callbacks() {
        let mut node = node(Kv::lin());
        let first = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
        let second = request(&mut node, "lin-kv", json!({"type": "read", "key": 2}));
        answer(
            &mut node,
            "lin-kv",
            &second["msg_id"],
            json!({"type": "read_ok", "value": 2}),
        );
        answer(
            &mut node,
            "lin-kv",
            &first["msg_id"],
            json!({"type": "error", "code": 20, "text": "missing"}),
        );
        assert_eq!(
            got(&node),
            [
                Got::Value(Ok(json!(2))),
                Got::Value(Err(KvError::KeyDoesNotExist("missing".into()))),
            ]
        );
    }

    #[test]
    fn a_key_that_is_not_json_fails_the_call_and_sends_nothing() {
        let mut node = node(Kv::lin());
        let out = ask(&mut node, Duration::ZERO, json!({"type": "read_bad_key"}));
        // The handler's `?` answers the client with error 12; nothing goes
        // to the service, and no msg_id is spent on it.
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["dest"], "c1");
        assert_eq!(out[0]["body"]["code"], 12);
        assert!(
            out[0]["body"]["text"]
                .as_str()
                .unwrap()
                .starts_with("the key does not serialise to JSON"),
            "{out:?}"
        );
        assert_eq!(out[0]["body"]["msg_id"], 1);
        assert_eq!(node.next_deadline(), None);
        let req = request(&mut node, "lin-kv", json!({"type": "read", "key": 1}));
        assert_eq!(req["msg_id"], 2);
    }
}
