//! A node: the workload's [`Handler`] plus everything the framework keeps for
//! it (ids, msg_id counter, output, timers, pending RPCs, RNG, clock).
//!
//! A runtime drives a node through [`Process`]: it hands it input lines and
//! wake-ups, asks when it next wants to wake, and takes its output. The node
//! never reads a clock, stdin or stdout itself, so the stdin/stdout runtime
//! and the deterministic simulator run the very same code.

use foldhash::{HashMap, HashMapExt};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorCode};
use crate::log::Level;
use crate::protocol::{self, BodyHeader, Init, InitOk, LineHead, NodeId, Reply, WireIn};
use crate::timers::{Fired, TimerId, Timers};

/// A workload's node logic. One value owns all of a node's state; the
/// framework calls it with one event at a time, so it needs no locks.
pub trait Handler: Sized + 'static {
    /// Every message this node accepts, usually an enum tagged by `type`:
    /// `#[serde(tag = "type", rename_all = "snake_case")]`.
    type Message: DeserializeOwned;
    /// The timers this node sets; `()` if it sets none.
    type Timer: Clone + std::fmt::Debug + 'static;

    /// Called once, when `init` arrives; the framework answers `init_ok`
    /// after it returns `Ok` (and the error, if it fails).
    fn init(&mut self, _ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        Ok(())
    }

    /// Handles one message. An `Err` is answered with an error reply
    /// (its [`Error`] code, or 13 crash) unless the handler already replied.
    fn handle(
        &mut self,
        ctx: &mut Ctx<Self>,
        req: &Request,
        msg: Self::Message,
    ) -> anyhow::Result<()>;

    /// Handles a timer set with [`Ctx::set_timer`] or [`Ctx::every`].
    fn on_timer(&mut self, _ctx: &mut Ctx<Self>, _timer: Self::Timer) -> anyhow::Result<()> {
        Ok(())
    }

    /// What a simulator may see of this node's state, for the exact
    /// measurements only a simulator can make (when a value reached every
    /// node, when all nodes agreed). Optional: a node without it is judged
    /// by its messages alone, as any node that is not ours.
    fn view(&self) -> Option<View<'_>> {
        None
    }
}

/// A node's state as a test may see it, in the shapes Maelstrom's
/// workloads have.
#[derive(Clone, Copy)]
pub enum View<'a> {
    /// Every value held, in order of first receipt (broadcast, g-set): so
    /// that values past a length seen before are the new ones.
    Values(&'a [serde_json::Value]),
    /// A counter's value (g-counter, pn-counter).
    Counter(i128),
    /// A key-value store: the version (`ts`, last writer wins) of a key.
    Versions(&'a dyn KeyVersions),
}

/// The versions a key-value store holds.
pub trait KeyVersions {
    /// The version (`ts`, last writer wins) of `key`, if held.
    fn version(&self, key: &str) -> Option<crate::Ts>;
}

/// Who sent the message being handled, and its msg_id: what a reply needs.
/// Clone it to reply later (after an RPC, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub src: NodeId,
    pub msg_id: Option<u64>,
}

/// The time as a runtime sees it: since the runtime started (monotonic), and
/// since the Unix epoch (wall clock; virtual in the simulator).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    pub elapsed: Duration,
    pub unix_micros: u64,
}

/// The virtual wall clock at time zero, for the simulator and for tests
/// that drive a node by hand: 2024-01-01T00:00:00Z.
pub const VIRTUAL_EPOCH_MICROS: u64 = 1_704_067_200_000_000;

impl Now {
    /// `elapsed` since the start, on the virtual wall clock.
    pub fn virtual_at(elapsed: Duration) -> Now {
        Now {
            elapsed,
            unix_micros: VIRTUAL_EPOCH_MICROS + elapsed.as_micros() as u64,
        }
    }
}

/// The continuation of an RPC: runs on the reply, or on `Err` with code 0
/// when the timeout passes first.
pub type RpcCallback<H> =
    Box<dyn FnOnce(&mut H, &mut Ctx<H>, Result<Reply, Error>) -> anyhow::Result<()>>;

struct PendingRpc<H: Handler> {
    dest: NodeId,
    on_reply: RpcCallback<H>,
    /// Cancelled when the reply comes, so an answered RPC holds nothing.
    timeout: TimerId,
}

/// The request being handled. Its `src` buffer is reused, so tracking it
/// costs no allocation per message.
#[derive(Default)]
struct Current {
    active: bool,
    src: String,
    msg_id: Option<u64>,
    replied: bool,
}

impl Current {
    fn begin(&mut self, req: &Request) {
        self.active = true;
        self.src.clear();
        self.src.push_str(&req.src);
        self.msg_id = req.msg_id;
        self.replied = false;
    }

    /// Ends the request; returns whether it was replied to.
    fn end(&mut self) -> bool {
        self.active = false;
        self.replied
    }
}

/// The framework's side of a node, handed to every [`Handler`] call.
pub struct Ctx<H: Handler> {
    id: NodeId,
    node_ids: Vec<NodeId>,
    /// Positions in `node_ids`, in order of id: a node's position found by
    /// binary search (4 bytes a node, where a map by id cost a copy of
    /// every id in each of a large cluster's nodes).
    by_id: Vec<u32>,
    next_msg_id: u64,
    out: Vec<u8>,
    /// Where `out`'s lines have their `dest` and `type`, kept once the
    /// runtime drains `out` through [`Process::swap_output`] (the
    /// simulator); `None` otherwise, so nothing grows unread.
    heads: Option<Vec<LineHead>>,
    rng: StdRng,
    now: Now,
    timers: Timers<H::Timer>,
    rpcs: HashMap<u64, PendingRpc<H>>,
    /// The request being handled and whether it has been answered, so that a
    /// failing handler gets an error reply only if it did not reply already.
    current: Current,
    label: String,
    /// Where durable state goes ([`crate::storage`]): `--data-dir`, the
    /// simulator's disk, or by default a disk in memory that dies with
    /// the process.
    disk: Box<dyn crate::storage::Disk>,
    /// How often the node started before on its disk (set at `init`).
    incarnation: u64,
}

/// A restarted process's msg_ids start at `incarnation × 2^32`: each
/// process on a disk numbers in a range of its own (4 billion messages
/// each, 2 million restarts below 2^53, JSON's exact integers).
const MSG_IDS_PER_INCARNATION: u64 = 1 << 32;

/// The position of the `c`-th (from 0) position not in `left_out` (sorted,
/// each once): the least `p` with `p = c + |{e ∈ left_out : e ≤ p}|`,
/// reached from below in a few binary searches.
fn nth_not_left_out(c: usize, left_out: &[usize]) -> usize {
    let mut p = c;
    loop {
        let next = c + left_out.partition_point(|&e| e <= p);
        if next == p {
            return p;
        }
        p = next;
    }
}

impl<H: Handler> Ctx<H> {
    fn new(seed: u64) -> Self {
        Ctx {
            disk: Box::new(crate::storage::SimDisk::new()),
            id: String::new(),
            node_ids: Vec::new(),
            by_id: Vec::new(),
            next_msg_id: 0,
            out: Vec::with_capacity(64 * 1024),
            heads: None,
            rng: StdRng::seed_from_u64(seed),
            now: Now::default(),
            timers: Timers::new(),
            rpcs: HashMap::new(),
            current: Current::default(),
            label: "node".to_string(),
            incarnation: 0,
        }
    }

    /// How often this node started before on its disk: 0 the first time
    /// (and always, without a durable disk). Counted at `init`, before the
    /// workload's init. A restarted process numbers its messages from
    /// `incarnation × 2^32`, so that a reply or an acknowledgement meant
    /// for an earlier process on this disk (its msg_ids restarted from 0)
    /// never matches a message of this one.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// This node's id (empty before `init`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node's disk, for state that must outlive a crash
    /// ([`crate::storage::DurableLog`]).
    pub fn disk(&mut self) -> &mut dyn crate::storage::Disk {
        self.disk.as_mut()
    }

    /// Every node of the cluster, this one included, as `init` gave them.
    pub fn node_ids(&self) -> &[NodeId] {
        &self.node_ids
    }

    /// Every node but this one.
    pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
        self.node_ids.iter().filter(move |n| **n != self.id)
    }

    /// Time since the runtime started (virtual time in the simulator).
    pub fn now(&self) -> Duration {
        self.now.elapsed
    }

    /// Wall-clock time in microseconds since the Unix epoch (virtual in the
    /// simulator, where it starts at 2024-01-01T00:00:00Z).
    pub fn unix_micros(&self) -> u64 {
        self.now.unix_micros
    }

    /// The node's one source of randomness, seeded by the runtime.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Sorts the positions of `node_ids` by id, for [`Ctx::position`].
    fn index_ids(&mut self) {
        let ids = &self.node_ids;
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
        self.by_id = by_id;
    }

    /// Where node `id` is in `node_ids`.
    fn position(&self, id: &str) -> Option<usize> {
        let ids = &self.node_ids;
        self.by_id
            .binary_search_by(|&i| ids[i as usize].as_str().cmp(id))
            .ok()
            .map(|found| self.by_id[found] as usize)
    }

    /// Up to `k` distinct peers in random order, never this node nor any id
    /// in `exclude`.
    pub fn sample_peers(&mut self, k: usize, exclude: &[&str]) -> Vec<NodeId> {
        // The nodes left out, as sorted positions in `node_ids`: found by
        // binary search over the ids, so a call costs what it excludes and
        // samples, not a pass over the cluster (every forward and gossip
        // round calls this).
        let mut left_out: Vec<usize> = std::iter::once(self.id.as_str())
            .chain(exclude.iter().copied())
            .filter_map(|n| self.position(n))
            .collect();
        left_out.sort_unstable();
        left_out.dedup();
        let candidates = self.node_ids.len() - left_out.len();
        let k = k.min(candidates);
        // The same draws as sampling the list of candidates itself, which
        // this did once: seeded runs choose the same peers.
        rand::seq::index::sample(&mut self.rng, candidates, k)
            .into_iter()
            .map(|c| self.node_ids[nth_not_left_out(c, &left_out)].clone())
            .collect()
    }

    /// Sends `body` to `dest` and returns the msg_id it was given. The id is
    /// allocated here, as the line is written, so it can be neither
    /// forgotten nor reused.
    pub fn send(&mut self, dest: &str, body: &impl Serialize) -> u64 {
        self.write(dest, body, None)
    }

    /// Replies to `req`; `in_reply_to` is filled in from it.
    pub fn reply(&mut self, req: &Request, body: &impl Serialize) {
        let Some(in_reply_to) = req.msg_id else {
            crate::log!(
                Level::Warn,
                &self.label,
                "not replying to {}: its request had no msg_id",
                req.src
            );
            return;
        };
        self.write(&req.src, body, Some(in_reply_to));
        if self.current.active && self.current.msg_id == req.msg_id && self.current.src == req.src {
            self.current.replied = true;
        }
    }

    /// Replies to `req` with an error body.
    pub fn reply_error(&mut self, req: &Request, error: &Error) {
        self.reply(req, error);
    }

    /// Sends a request and runs `on_reply` with the reply, or with a timeout
    /// error (code 0) once `timeout` passes; the pending entry is removed
    /// either way, and a reply that comes later is dropped.
    pub fn rpc(
        &mut self,
        dest: &str,
        body: &impl Serialize,
        timeout: Duration,
        on_reply: impl FnOnce(&mut H, &mut Ctx<H>, Result<Reply, Error>) -> anyhow::Result<()> + 'static,
    ) -> u64 {
        let msg_id = self.send(dest, body);
        if self.next_msg_id == msg_id {
            // Nothing was written (the body did not serialise; logged): no
            // reply can come, and the id will be given to the next message.
            return msg_id;
        }
        let timeout = self.timers.rpc_timeout(self.now.elapsed, timeout, msg_id);
        self.rpcs.insert(
            msg_id,
            PendingRpc {
                dest: dest.to_string(),
                on_reply: Box::new(on_reply),
                timeout,
            },
        );
        msg_id
    }

    /// How many RPCs are waiting for a reply.
    pub fn pending_rpcs(&self) -> usize {
        self.rpcs.len()
    }

    /// Fires `timer` once, after `delay`.
    pub fn set_timer(&mut self, delay: Duration, timer: H::Timer) -> TimerId {
        self.timers.once(self.now.elapsed, delay, timer)
    }

    /// Fires `timer` every `interval` plus a random jitter in `0..=jitter`,
    /// until cancelled or until input ends.
    pub fn every(&mut self, interval: Duration, jitter: Duration, timer: H::Timer) -> TimerId {
        self.timers
            .every(self.now.elapsed, interval, jitter, timer, &mut self.rng)
    }

    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id)
    }

    /// Logs a line to stderr, prefixed with the node id.
    pub fn log(&self, level: Level, message: std::fmt::Arguments<'_>) {
        crate::log::write(level, &self.label, message);
    }

    fn write(&mut self, dest: &str, body: &impl Serialize, in_reply_to: Option<u64>) -> u64 {
        let msg_id = self.next_msg_id;
        // Maelstrom's clients only take replies, and a message to a client
        // that has closed (or never was) makes Maelstrom throw; an empty
        // destination reaches nobody. Refuse both, as an unserialisable
        // body is refused: logged, nothing written, the id not spent.
        if dest.is_empty() || (in_reply_to.is_none() && protocol::is_client(dest)) {
            crate::log!(
                Level::Error,
                &self.label,
                "not sending to {dest:?}: clients only get replies, and a message needs a destination"
            );
            return msg_id;
        }
        let src = if self.id.is_empty() { "" } else { &self.id };
        let start = self.out.len();
        match protocol::write_line(&mut self.out, src, dest, body, msg_id, in_reply_to) {
            Ok(()) => {
                self.next_msg_id += 1;
                if let Some(heads) = &mut self.heads {
                    let line = &self.out[start..self.out.len() - 1];
                    heads.extend(LineHead::of_written(line, start, src, dest));
                }
            }
            Err(e) => crate::log!(
                Level::Error,
                &self.label,
                "cannot send to {dest}: {e} (a body is a JSON object without msg_id or in_reply_to)"
            ),
        }
        msg_id
    }

    /// Writes an error reply from `src` (the node's id, or before `init` the
    /// request's `dest`).
    fn write_error(&mut self, src: &str, dest: &str, in_reply_to: u64, error: &Error) {
        if src.is_empty() || dest.is_empty() {
            // `"src": ""` names nobody to answer, and before `init` an
            // empty `dest` leaves us no name to answer from (the fuzzer
            // found an error line sent with `"src": ""`).
            return;
        }
        protocol::write_error_line(
            &mut self.out,
            src,
            dest,
            error,
            self.next_msg_id,
            in_reply_to,
        );
        self.next_msg_id += 1;
    }
}

/// A node as a runtime sees it: lines in, wake-ups, lines out.
pub trait Process {
    /// Handles one input line (without its newline).
    fn on_line(&mut self, now: Now, line: &[u8]);
    /// Runs every timer and RPC timeout due at or before `now`.
    fn on_wake(&mut self, now: Now);
    /// When the node next wants [`Process::on_wake`].
    fn next_deadline(&self) -> Option<Duration>;
    /// Output lines written so far; the runtime drains it.
    fn output(&mut self) -> &mut Vec<u8>;
    /// Swaps the output written so far with `spare` (drained), and hands
    /// over in `heads` where its lines have their `dest` and `type`
    /// ([`LineHead`]), as far as the node knows: a line without a head is
    /// parsed. A node that keeps no heads leaves `heads` empty.
    fn swap_output(&mut self, spare: &mut Vec<u8>, heads: &mut Vec<LineHead>) {
        std::mem::swap(self.output(), spare);
        heads.clear();
    }
    /// The node's id once initialised.
    fn node_id(&self) -> Option<&str>;
    /// How many handler calls panicked (each answered with error 13).
    fn panics(&self) -> u64;
    /// The handler, for white-box tests of a node of known type.
    fn handler(&self) -> &dyn Any;
    /// The handler's [`Handler::view`].
    fn view(&self) -> Option<View<'_>>;
    /// Gives the node the disk its durable state lives on, before any
    /// line (the runtime's `--data-dir`, the simulator's disk).
    fn attach_disk(&mut self, disk: Box<dyn crate::storage::Disk>);
}

/// A [`Handler`] with its framework state.
pub struct Node<H: Handler> {
    handler: H,
    ctx: Ctx<H>,
    panics: u64,
}

impl<H: Handler> Node<H> {
    pub fn new(handler: H, seed: u64) -> Self {
        Node {
            handler,
            ctx: Ctx::new(seed),
            panics: 0,
        }
    }

    pub fn handler_ref(&self) -> &H {
        &self.handler
    }

    /// Runs one handler call, catching a panic so that one bad message
    /// cannot take the node down; a panic counts as a failed call.
    fn call(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut H, &mut Ctx<H>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let Node { handler, ctx, .. } = self;
        match catch_unwind(AssertUnwindSafe(|| f(handler, ctx))) {
            Ok(result) => result,
            Err(panic) => {
                self.panics += 1;
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(anyhow::Error::new(Error::new(
                    ErrorCode::Crash,
                    format!("handler panicked in {what}: {text}"),
                )))
            }
        }
    }

    fn handle_line(&mut self, line: &[u8]) {
        // Refuse deep nesting before parsing: nothing downstream (serde,
        // value hashing, drops) has to cope with it.
        let depth = protocol::depth_beyond(line, protocol::MAX_CLIENT_DEPTH);
        if let Some(depth) = depth.filter(|&d| d > protocol::MAX_NODE_DEPTH) {
            let why = format!(
                "nested {depth} deep; a message may nest {} deep",
                protocol::MAX_NODE_DEPTH
            );
            return self.reject(line, &why);
        }
        // Checked as UTF-8 once, the line parses without serde_json checking
        // each string again; a line that is not UTF-8 takes the byte
        // parser, for its error.
        let text = std::str::from_utf8(line).ok();
        // The common case, a request to an initialised node, in one pass;
        // anything else (replies, init, errors, deep or doubtful lines)
        // the long way, which decides and words every refusal.
        if depth.is_none() && !self.ctx.id.is_empty() {
            let parsed = text.and_then(crate::one_pass::parse_line::<H::Message>);
            if let Some(p) = parsed.filter(|p| {
                p.header.in_reply_to.is_none() && !matches!(&*p.header.kind, "init" | "error")
            }) {
                return self.handle_request(p.src.into_owned(), &p.header, p.msg);
            }
        }
        let parsed = match text {
            Some(text) => serde_json::from_str::<WireIn>(text),
            None => serde_json::from_slice::<WireIn>(line),
        };
        let wire = match parsed {
            Ok(w) => w,
            Err(e) => return self.reject(line, &format!("malformed message: {e}")),
        };
        let header: BodyHeader = match serde_json::from_str(wire.body.get()) {
            Ok(h) => h,
            Err(e) => return self.reject(line, &format!("malformed body: {e}")),
        };
        if let Some(depth) = depth.filter(|_| protocol::is_client(&wire.src)) {
            let error = Error::malformed(format!(
                "nested {depth} deep; a client message may nest {} deep",
                protocol::MAX_CLIENT_DEPTH
            ));
            return self.answer_error(&wire, &header, &error);
        }
        if header.kind == "init" {
            return self.handle_init(&wire, &header);
        }
        if self.ctx.id.is_empty() {
            let error = Error::new(
                ErrorCode::TemporarilyUnavailable,
                format!("not initialised yet: {} before init", header.kind),
            );
            return self.answer_error(&wire, &header, &error);
        }
        if let Some(in_reply_to) = header.in_reply_to {
            return self.handle_reply(&wire, &header, in_reply_to);
        }
        if header.kind == "error" {
            crate::log!(
                Level::Warn,
                &self.ctx.label,
                "error from {} that answers nothing: {}",
                wire.src,
                wire.body.get()
            );
            return;
        }
        let msg = match serde_json::from_str::<H::Message>(wire.body.get()) {
            Ok(msg) => msg,
            Err(e) => {
                let error = if is_unknown_type(&e, &header.kind) {
                    Error::not_supported(format!("unknown message type `{}`", header.kind))
                } else {
                    Error::malformed(format!("malformed {}: {e}", header.kind))
                };
                return self.answer_error(&wire, &header, &error);
            }
        };
        self.handle_request(wire.src.into_owned(), &header, msg);
    }

    /// Runs the handler on a request from `src`; a failure it did not
    /// answer itself is answered with its error.
    fn handle_request(&mut self, src: String, header: &BodyHeader, msg: H::Message) {
        let req = Request {
            src,
            msg_id: header.msg_id,
        };
        self.ctx.current.begin(&req);
        let result = self.call(&header.kind, |h, ctx| h.handle(ctx, &req, msg));
        let replied = self.ctx.current.end();
        if let Err(err) = result {
            let error = Error::from_handler_error(&err);
            crate::log!(
                Level::Warn,
                &self.ctx.label,
                "{} from {} failed: {}",
                header.kind,
                req.src,
                error
            );
            if !replied && req.msg_id.is_some() {
                self.ctx.reply_error(&req, &error);
            }
        }
    }

    fn handle_init(&mut self, wire: &WireIn, header: &BodyHeader) {
        let init: Init = match serde_json::from_str(wire.body.get()) {
            Ok(init) => init,
            Err(e) => {
                let error = Error::malformed(format!("malformed init: {e}"));
                return self.answer_error(wire, header, &error);
            }
        };
        if !self.ctx.id.is_empty() {
            // Maelstrom sends init once. A repeat of the same init is
            // answered again (a retry); a different one is refused.
            let same = init.node_id == self.ctx.id && init.node_ids == self.ctx.node_ids;
            if !same {
                let error = Error::new(
                    ErrorCode::PreconditionFailed,
                    format!("already initialised as {}", self.ctx.id),
                );
                return self.answer_error(wire, header, &error);
            }
            // A retry: answer again, but the workload's init runs once.
            let req = Request {
                src: wire.src.to_string(),
                msg_id: header.msg_id,
            };
            self.ctx.reply(&req, &InitOk {});
            return;
        } else if init.node_id.is_empty() {
            let error = Error::malformed("init: node_id must not be empty");
            return self.answer_error(wire, header, &error);
        } else {
            let mut node_ids = init.node_ids;
            // Keep the order, drop repeats: peers are sampled from this list.
            let mut seen = std::collections::HashSet::new();
            node_ids.retain(|id| seen.insert(id.clone()));
            if !node_ids.contains(&init.node_id) {
                crate::log!(
                    Level::Warn,
                    &self.ctx.label,
                    "init: node_ids {:?} lack node_id {}; adding it",
                    node_ids,
                    init.node_id
                );
                node_ids.push(init.node_id.clone());
            }
            self.ctx.label = init.node_id.clone();
            self.ctx.id = init.node_id;
            self.ctx.node_ids = node_ids;
            self.ctx.index_ids();
        }
        let req = Request {
            src: wire.src.to_string(),
            msg_id: header.msg_id,
        };
        match crate::storage::count_start(self.ctx.disk()) {
            Ok(before) => {
                self.ctx.incarnation = before;
                // Errors answered before init have used ids already.
                let first = before.saturating_mul(MSG_IDS_PER_INCARNATION);
                self.ctx.next_msg_id = self.ctx.next_msg_id.max(first);
            }
            Err(err) => {
                crate::log!(Level::Error, &self.ctx.label, "cannot start: {err}");
                let error = Error::new(ErrorCode::Crash, format!("init failed: {err}"));
                return self.ctx.reply_error(&req, &error);
            }
        }
        // `init_ok` says the node is ready: only after the workload's init
        // (which recovers durable state) succeeded. A node that cannot
        // start answers `init` with the error and says why on stderr.
        match self.call("init", |h, ctx| h.init(ctx)) {
            Ok(()) => self.ctx.reply(&req, &InitOk {}),
            Err(err) => {
                crate::log!(
                    Level::Error,
                    &self.ctx.label,
                    "workload init failed: {err:#}"
                );
                let error = Error::new(ErrorCode::Crash, format!("init failed: {err:#}"));
                self.ctx.reply_error(&req, &error);
            }
        }
    }

    fn handle_reply(&mut self, wire: &WireIn, header: &BodyHeader, in_reply_to: u64) {
        let ours = self
            .ctx
            .rpcs
            .get(&in_reply_to)
            .is_some_and(|p| p.dest == wire.src);
        if !ours {
            crate::log!(
                Level::Debug,
                &self.ctx.label,
                "dropping {} from {} in reply to {in_reply_to}: no RPC waits for it (late or unsolicited)",
                header.kind,
                wire.src
            );
            return;
        }
        let pending = self.ctx.rpcs.remove(&in_reply_to).expect("checked above");
        self.ctx.timers.cancel(pending.timeout);
        let result = if header.kind == "error" {
            Err(serde_json::from_str::<Error>(wire.body.get())
                .unwrap_or_else(|e| Error::malformed(format!("malformed error reply: {e}"))))
        } else {
            Ok(Reply {
                src: wire.src.to_string(),
                body: wire.body.to_owned(),
            })
        };
        if let Err(err) = self.call("rpc reply", |h, ctx| (pending.on_reply)(h, ctx, result)) {
            crate::log!(
                Level::Warn,
                &self.ctx.label,
                "rpc continuation failed: {err:#}"
            );
        }
    }

    /// Answers a message the workload never saw with an error, from the
    /// node's id or, before `init`, from the message's `dest`; logs it when
    /// no reply is possible.
    fn answer_error(&mut self, wire: &WireIn, header: &BodyHeader, error: &Error) {
        crate::log!(
            Level::Warn,
            &self.ctx.label,
            "{} from {}: {}",
            header.kind,
            wire.src,
            error
        );
        // Never answer an error or a reply with an error: two nodes must not
        // bounce errors at each other forever.
        if header.kind == "error" || header.in_reply_to.is_some() {
            return;
        }
        if let Some(msg_id) = header.msg_id {
            let src = if self.ctx.id.is_empty() {
                wire.dest.to_string()
            } else {
                self.ctx.id.clone()
            };
            self.ctx.write_error(&src, &wire.src, msg_id, error);
        }
    }

    /// A line that is not a message: error 12 to its sender if one can be
    /// found, a log line either way.
    fn reject(&mut self, line: &[u8], why: &str) {
        let shown = String::from_utf8_lossy(&line[..line.len().min(200)]);
        crate::log!(
            Level::Warn,
            &self.ctx.label,
            "rejected line: {why}; line: {shown}"
        );
        if let Some(s) = protocol::salvage(line).filter(|s| !s.is_reply) {
            let src = match (self.ctx.id.is_empty(), &s.dest) {
                (false, _) => self.ctx.id.clone(),
                (true, Some(dest)) => dest.clone(),
                (true, None) => return,
            };
            self.ctx
                .write_error(&src, &s.src, s.msg_id, &Error::malformed(why));
        }
    }
}

/// Whether serde rejected a body because its `type` is none of the
/// message enum's variants (→ error 10) rather than for a bad field (→ 12).
/// serde reports an unknown tag as "unknown variant `TYPE`, expected …".
fn is_unknown_type(e: &serde_json::Error, kind: &str) -> bool {
    e.to_string()
        .strip_prefix("unknown variant `")
        .and_then(|rest| rest.strip_prefix(kind))
        .is_some_and(|rest| rest.starts_with('`'))
}

impl<H: Handler> Process for Node<H> {
    fn attach_disk(&mut self, disk: Box<dyn crate::storage::Disk>) {
        self.ctx.disk = disk;
    }

    fn on_line(&mut self, now: Now, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        self.ctx.now = now;
        self.handle_line(line);
    }

    fn on_wake(&mut self, now: Now) {
        self.ctx.now = now;
        let mark = self.ctx.timers.mark();
        while let Some(fired) = self
            .ctx
            .timers
            .pop_due(now.elapsed, mark, &mut self.ctx.rng)
        {
            match fired {
                Fired::Timer(timer) => {
                    let what = format!("timer {timer:?}");
                    if let Err(err) = self.call(&what, |h, ctx| h.on_timer(ctx, timer)) {
                        crate::log!(Level::Warn, &self.ctx.label, "{what} failed: {err:#}");
                    }
                }
                Fired::RpcTimeout(msg_id) => {
                    let Some(pending) = self.ctx.rpcs.remove(&msg_id) else {
                        continue; // answered in time
                    };
                    let error = Error::timeout(format!(
                        "no reply from {} to msg {msg_id} in time",
                        pending.dest
                    ));
                    if let Err(err) = self.call("rpc timeout", |h, ctx| {
                        (pending.on_reply)(h, ctx, Err(error))
                    }) {
                        crate::log!(
                            Level::Warn,
                            &self.ctx.label,
                            "rpc timeout handler failed: {err:#}"
                        );
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.ctx.timers.next_deadline()
    }

    fn output(&mut self) -> &mut Vec<u8> {
        // Whoever drains `out` this way does not take the heads: keeping
        // them would let them outgrow the lines they describe.
        self.ctx.heads = None;
        &mut self.ctx.out
    }

    fn swap_output(&mut self, spare: &mut Vec<u8>, heads: &mut Vec<LineHead>) {
        // From the first call on, every line written has its head kept
        // (if it has one); lines from before have none, and are parsed.
        heads.clear();
        std::mem::swap(self.ctx.heads.get_or_insert_with(Vec::new), heads);
        std::mem::swap(&mut self.ctx.out, spare);
    }

    fn node_id(&self) -> Option<&str> {
        (!self.ctx.id.is_empty()).then_some(self.ctx.id.as_str())
    }

    fn panics(&self) -> u64 {
        self.panics
    }

    fn handler(&self) -> &dyn Any {
        &self.handler
    }

    fn view(&self) -> Option<View<'_>> {
        self.handler.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A handler with nothing to it: a `Ctx` needs a handler type.
    struct Nothing;

    impl Handler for Nothing {
        type Message = serde_json::Value;
        type Timer = ();

        fn handle(
            &mut self,
            _: &mut Ctx<Self>,
            _: &Request,
            _: Self::Message,
        ) -> anyhow::Result<()> {
            Ok(())
        }
    }

    /// Heads are kept from the first `swap_output` on, describe exactly the
    /// lines handed over with them, and stop when `out` is drained another
    /// way (nothing then keeps them in step with the lines).
    #[test]
    fn heads_describe_the_lines_they_are_handed_over_with() {
        let mut node = Node::new(Nothing, 1);
        node.ctx.id = "n1".into();
        let (mut out, mut heads) = (Vec::new(), Vec::new());
        node.ctx.send("n2", &serde_json::json!({"type": "before"}));
        node.swap_output(&mut out, &mut heads);
        assert!(
            !out.is_empty() && heads.is_empty(),
            "written before heads were kept"
        );
        out.clear();
        node.ctx.send("n2", &serde_json::json!({"type": "one"}));
        node.ctx
            .send("n3", &serde_json::json!({"b": 1, "type": "sorted after b"}));
        node.ctx.send("n4", &serde_json::json!({"type": "three"}));
        node.swap_output(&mut out, &mut heads);
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let read: Vec<(usize, (&str, &str))> = heads
            .iter()
            .map(|h| (h.start, h.read(&out[h.start..h.start + h.len]).unwrap()))
            .collect();
        let second = lines[0].len() + 1;
        let third = second + lines[1].len() + 1;
        assert_eq!(read, [(0, ("n2", "one")), (third, ("n4", "three"))]);
        out.clear();
        node.ctx.send("n2", &serde_json::json!({"type": "drained"}));
        node.output().clear();
        node.ctx.send("n2", &serde_json::json!({"type": "after"}));
        node.swap_output(&mut out, &mut heads);
        assert!(heads.is_empty(), "{heads:?}");
    }

    proptest! {
        /// The draws and choices of sampling the list of candidates
        /// itself (what `sample_peers` did before it used positions), for
        /// any cluster, this node anywhere in it, and any ids excluded:
        /// repeats, ids of no node, this node's own.
        #[test]
        fn sample_peers_chooses_as_sampling_the_candidate_list(
            nodes in 1usize..40,
            me in 0usize..40,
            exclude in proptest::collection::vec(0usize..45, 0..30),
            k in 0usize..45,
            seed in any::<u64>(),
        ) {
            let node_ids: Vec<NodeId> = (0..nodes).map(|i| format!("n{i}")).collect();
            let id = node_ids[me % nodes].clone();
            let exclude: Vec<String> = exclude.iter().map(|i| format!("n{i}")).collect();
            let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
            let mut ctx = Ctx::<Nothing>::new(seed);
            ctx.node_ids = node_ids.clone();
            ctx.index_ids();
            ctx.id = id.clone();
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..3 {
                let candidates: Vec<&NodeId> = node_ids
                    .iter()
                    .filter(|n| **n != id && !exclude.contains(&n.as_str()))
                    .collect();
                let want: Vec<NodeId> =
                    rand::seq::index::sample(&mut rng, candidates.len(), k.min(candidates.len()))
                        .into_iter()
                        .map(|i| candidates[i].clone())
                        .collect();
                prop_assert_eq!(ctx.sample_peers(k, &exclude), want);
            }
        }
    }
}
