//! The kafka checker, as Jepsen's `jepsen.tests.kafka` judges Maelstrom's
//! kafka runs (no transactions, subscription by `assign`), in one pass
//! over the history plus sorting: O(P log P) time and O(P) memory for P
//! (key, offset, message) triples sent or polled.
//!
//! From every acknowledged send and every successful poll it builds each
//! key's log: offset → the messages seen there. Offsets may be sparse;
//! an offset's *index* is its rank among the key's offsets ever seen (a
//! skip is judged on indices, so holes no one saw are no skip). Then:
//!
//! - inconsistent offsets: one offset holding different messages;
//! - duplicates: one message at several offsets of a key;
//! - internal poll skips / non-monotonic polls: two consecutive pairs of
//!   one poll whose indices do not follow one another;
//! - poll skips / non-monotonic polls: a client's poll of a key that does
//!   not begin right after where its previous poll of that key ended (with
//!   `assign`, both fail the run);
//! - non-monotonic sends: a client's send to a key at an index no higher
//!   than its previous send's;
//! - lost writes: an acknowledged message never polled, though some poll
//!   read the key beyond its index;
//! - unseen: an acknowledged message no poll ever returned, beyond every
//!   poll (Jepsen's `:unseen` at the end of the history);
//! - aborted reads (G1a): a poll returned a message whose send failed;
//! - future reads: a poll returned a message whose send began only after
//!   the poll completed — the wr/realtime cycle Elle reports as
//!   G1c-realtime. Without transactions (one send or one poll per
//!   operation) and without ww edges (Maelstrom sets no `ww-deps`), every
//!   cycle of Elle's graph is of this kind: along a cycle, each realtime
//!   edge A→B has A's completion before B's invocation and each wr edge
//!   S→P, when P read no future, has S invoked before P completed, so the
//!   invocations of the operations entered by realtime edges would rise all
//!   the way round. So checking the pairs is checking the cycles.
//!
//! Precommitted reads (a transaction polling its own sends) cannot happen
//! here: no operation both sends and polls. Internal send skips, allowed by
//! Maelstrom, cannot either (one send per operation).
//!
//! A client's *session* is what Jepsen calls a process: it begins at the
//! client's `list_committed_offsets` (Maelstrom's `assign`), so a client
//! that crashed and assigned again starts over; every final poll is a
//! session of its own (Jepsen's final polls crash the client and assign
//! every key from offset 0).

use std::collections::{BTreeMap, HashMap};

use maelstrom_lab::{History, Op, Outcome};
use serde_json::Value;

/// A message as the checker compares them: its canonical JSON text
/// (serde_json writes object keys sorted), so any JSON value can be one.
type Msg = String;

/// One key's (offset, message) pairs, in the order a poll returned them.
type Pairs = Vec<(i64, Msg)>;

/// An ok poll: its position in the history and its pairs by key.
type Poll = (usize, Vec<(String, Pairs)>);

/// An error class, named as Jepsen names it, and whether it fails a run
/// (Maelstrom's `allowed-error-types` with `:assign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorClass {
    InconsistentOffsets,
    Duplicate,
    IntPollSkip,
    IntNonmonotonicPoll,
    PollSkip,
    NonmonotonicPoll,
    NonmonotonicSend,
    LostWrite,
    Unseen,
    G1a,
    FutureRead,
}

impl ErrorClass {
    /// Jepsen's name for it.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::InconsistentOffsets => "inconsistent-offsets",
            ErrorClass::Duplicate => "duplicate",
            ErrorClass::IntPollSkip => "int-poll-skip",
            ErrorClass::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            ErrorClass::PollSkip => "poll-skip",
            ErrorClass::NonmonotonicPoll => "nonmonotonic-poll",
            ErrorClass::NonmonotonicSend => "nonmonotonic-send",
            ErrorClass::LostWrite => "lost-write",
            ErrorClass::Unseen => "unseen",
            ErrorClass::G1a => "G1a",
            ErrorClass::FutureRead => "G1c-realtime",
        }
    }

    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::InconsistentOffsets,
        ErrorClass::Duplicate,
        ErrorClass::IntPollSkip,
        ErrorClass::IntNonmonotonicPoll,
        ErrorClass::PollSkip,
        ErrorClass::NonmonotonicPoll,
        ErrorClass::NonmonotonicSend,
        ErrorClass::LostWrite,
        ErrorClass::Unseen,
        ErrorClass::G1a,
        ErrorClass::FutureRead,
    ];
}

/// What the checker found: every error in words, by class; what it could
/// not tell; and counts for the report.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: BTreeMap<ErrorClass, Vec<String>>,
    pub unknown: Vec<String>,
    pub sends_acknowledged: usize,
    pub sends_failed: usize,
    pub sends_indeterminate: usize,
    pub polls_ok: usize,
    pub messages_polled: usize,
}

impl Findings {
    fn error(&mut self, class: ErrorClass, line: String) {
        self.errors.entry(class).or_default().push(line);
    }

    pub fn count(&self, class: ErrorClass) -> usize {
        self.errors.get(&class).map_or(0, Vec::len)
    }
}

/// A key's name in words: its JSON text when it is not a string.
fn key_name(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// An operation in words: who, through which node, when.
fn who(history: &History, op: &Op) -> String {
    format!(
        "{}'s {} via {} at {:.3} s",
        op.client,
        op.kind,
        history.node_ids[op.node],
        op.invoke.as_secs_f64()
    )
}

/// The (offset, message) pairs of an ok poll, by key; `None` for anything
/// that is not a well-formed ok poll (the lab's schema lets none through).
fn poll_pairs(op: &Op) -> Option<Vec<(String, Pairs)>> {
    let msgs = op.ok_body()?.get("msgs")?.as_object()?;
    let mut keys = Vec::with_capacity(msgs.len());
    for (key, pairs) in msgs {
        let pairs = pairs
            .as_array()?
            .iter()
            .map(|pair| {
                let pair = pair.as_array().filter(|p| p.len() == 2)?;
                Some((pair[0].as_i64()?, pair[1].to_string()))
            })
            .collect::<Option<Vec<_>>>()?;
        keys.push((key.clone(), pairs));
    }
    Some(keys)
}

/// One send of the history.
struct Send<'a> {
    op: &'a Op,
    /// Its position in the history.
    index: usize,
    key: String,
    msg: Msg,
    /// Where it was acknowledged, for an ok send.
    offset: Option<i64>,
}

/// One key's log as seen: offset → message → the first operation that
/// showed it there (history index).
#[derive(Default)]
struct Log {
    at: BTreeMap<i64, BTreeMap<Msg, usize>>,
    /// The offsets in order, for indices.
    offsets: Vec<i64>,
}

impl Log {
    fn saw(&mut self, offset: i64, msg: &str, op: usize) {
        self.at
            .entry(offset)
            .or_default()
            .entry(msg.to_string())
            .or_insert(op);
    }

    fn index(&self, offset: i64) -> usize {
        self.offsets.binary_search(&offset).unwrap_or_else(|i| i)
    }
}

/// Judges a kafka history.
pub fn check(history: &History) -> Findings {
    let mut findings = Findings::default();
    let ops = &history.ops;
    let mut sends: Vec<Send> = Vec::new();
    let mut polls: Vec<Poll> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op.kind.as_str() {
            "send" => {
                let offset = op.ok_body().and_then(|b| b["offset"].as_i64());
                match op.outcome {
                    Outcome::Ok { .. } => findings.sends_acknowledged += 1,
                    Outcome::Fail { .. } => findings.sends_failed += 1,
                    Outcome::Info { .. } => findings.sends_indeterminate += 1,
                }
                sends.push(Send {
                    op,
                    index: i,
                    key: key_name(&op.request["key"]),
                    msg: op.request["msg"].to_string(),
                    offset,
                });
            }
            "poll" => {
                if let Some(pairs) = poll_pairs(op) {
                    findings.polls_ok += 1;
                    findings.messages_polled += pairs.iter().map(|(_, p)| p.len()).sum::<usize>();
                    polls.push((i, pairs));
                }
            }
            _ => {}
        }
    }
    // The logs, from acknowledged sends and ok polls.
    let mut logs: BTreeMap<String, Log> = BTreeMap::new();
    for send in &sends {
        if let Some(offset) = send.offset {
            logs.entry(send.key.clone())
                .or_default()
                .saw(offset, &send.msg, send.index);
        }
    }
    for (i, keys) in &polls {
        for (key, pairs) in keys {
            let log = logs.entry(key.clone()).or_default();
            for (offset, msg) in pairs {
                log.saw(*offset, msg, *i);
            }
        }
    }
    for log in logs.values_mut() {
        log.offsets = log.at.keys().copied().collect();
    }

    version_order_errors(history, &logs, &mut findings);
    internal_poll_errors(history, &logs, &polls, &mut findings);
    session_errors(history, &logs, &sends, &polls, &mut findings);
    read_errors(history, &logs, &sends, &polls, &mut findings);
    findings
}

/// Inconsistent offsets and duplicates: the logs themselves.
fn version_order_errors(history: &History, logs: &BTreeMap<String, Log>, f: &mut Findings) {
    let ops = &history.ops;
    for (key, log) in logs {
        let mut offsets_of: HashMap<&str, Vec<(i64, usize)>> = HashMap::new();
        for (offset, msgs) in &log.at {
            for (msg, op) in msgs {
                offsets_of.entry(msg).or_default().push((*offset, *op));
            }
            if msgs.len() > 1 {
                let shown: Vec<String> = msgs
                    .iter()
                    .map(|(msg, op)| format!("{msg} (first shown by {})", who(history, &ops[*op])))
                    .collect();
                f.error(
                    ErrorClass::InconsistentOffsets,
                    format!(
                        "key {key} offset {offset} holds different messages: {}",
                        shown.join(", ")
                    ),
                );
            }
        }
        let mut dups: Vec<(&str, Vec<(i64, usize)>)> = offsets_of
            .into_iter()
            .filter(|(_, at)| at.len() > 1)
            .collect();
        dups.sort();
        for (msg, at) in dups {
            let shown: Vec<String> = at
                .iter()
                .map(|(offset, op)| format!("{offset} (shown by {})", who(history, &ops[*op])))
                .collect();
            f.error(
                ErrorClass::Duplicate,
                format!(
                    "key {key}: message {msg} is at {} offsets: {}",
                    at.len(),
                    shown.join(", ")
                ),
            );
        }
    }
}

/// Offsets of `log` strictly between two indices, for a skip's words.
fn skipped(log: &Log, from: usize, to: usize) -> String {
    let between = &log.offsets[from + 1..to];
    let shown: Vec<String> = between.iter().take(5).map(i64::to_string).collect();
    let more = between.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Within one poll, each key's pairs must follow one another in the log.
fn internal_poll_errors(
    history: &History,
    logs: &BTreeMap<String, Log>,
    polls: &[Poll],
    f: &mut Findings,
) {
    for (i, keys) in polls {
        for (key, pairs) in keys {
            let log = &logs[key];
            for w in pairs.windows(2) {
                let (a, b) = (log.index(w[0].0), log.index(w[1].0));
                let op = who(history, &history.ops[*i]);
                if b > a + 1 {
                    f.error(
                        ErrorClass::IntPollSkip,
                        format!(
                            "{op} returned key {key} offset {} then {}, skipping offset(s) {} \
                             that the log holds",
                            w[0].0,
                            w[1].0,
                            skipped(log, a, b)
                        ),
                    );
                } else if b <= a {
                    f.error(
                        ErrorClass::IntNonmonotonicPoll,
                        format!(
                            "{op} returned key {key} offset {} then {}: a poll's offsets must rise",
                            w[0].0, w[1].0
                        ),
                    );
                }
            }
        }
    }
}

/// Each operation's session: a client's operations from one
/// `list_committed_offsets` to the next; a final read alone.
fn sessions(history: &History) -> Vec<(usize, usize)> {
    let mut current: HashMap<&str, usize> = HashMap::new();
    let mut next = 0;
    let mut of = Vec::with_capacity(history.ops.len());
    for (i, op) in history.ops.iter().enumerate() {
        let fresh = op.final_read || op.kind == "list_committed_offsets";
        let session = match current.get(op.client.as_str()) {
            Some(&s) if !fresh => s,
            _ => {
                next += 1;
                if !op.final_read {
                    current.insert(op.client.as_str(), next);
                }
                next
            }
        };
        of.push((session, i));
    }
    of
}

/// Between a session's polls and sends of a key: monotonic, no skips.
fn session_errors(
    history: &History,
    logs: &BTreeMap<String, Log>,
    sends: &[Send],
    polls: &[Poll],
    f: &mut Findings,
) {
    let session_of: Vec<usize> = sessions(history).into_iter().map(|(s, _)| s).collect();
    let poll_at: HashMap<usize, &Vec<(String, Pairs)>> =
        polls.iter().map(|(i, keys)| (*i, keys)).collect();
    let send_at: HashMap<usize, &Send> = sends
        .iter()
        .filter(|s| s.offset.is_some())
        .map(|s| (s.index, s))
        .collect();
    // (session, key) → (offset, op) where the last poll of it ended.
    let mut last_poll: HashMap<(usize, &str), (i64, usize)> = HashMap::new();
    let mut last_send: HashMap<(usize, &str), (i64, usize)> = HashMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        let session = session_of[i];
        if let Some(keys) = poll_at.get(&i) {
            for (key, pairs) in keys.iter() {
                let (Some(first), Some(last)) = (pairs.first(), pairs.last()) else {
                    continue;
                };
                let log = &logs[key];
                if let Some(&(prev, prev_op)) = last_poll.get(&(session, key.as_str())) {
                    let (a, b) = (log.index(prev), log.index(first.0));
                    let ops = format!(
                        "{} ended key {key} at offset {prev}; {} began it at {}",
                        who(history, &history.ops[prev_op]),
                        who(history, op),
                        first.0
                    );
                    if b > a + 1 {
                        f.error(
                            ErrorClass::PollSkip,
                            format!("{ops}, skipping offset(s) {}", skipped(log, a, b)),
                        );
                    } else if b <= a {
                        f.error(
                            ErrorClass::NonmonotonicPoll,
                            format!("{ops}: the client's polls went back"),
                        );
                    }
                }
                last_poll.insert((session, key.as_str()), (last.0, i));
            }
        }
        if let Some(send) = send_at.get(&i) {
            let offset = send.offset.unwrap_or_default();
            let log = &logs[&send.key];
            if let Some(&(prev, prev_op)) = last_send.get(&(session, send.key.as_str())) {
                if log.index(offset) <= log.index(prev) {
                    f.error(
                        ErrorClass::NonmonotonicSend,
                        format!(
                            "{} was acknowledged at key {} offset {prev}, then {} at offset \
                             {offset}: one client's sends must rise",
                            who(history, &history.ops[prev_op]),
                            send.key,
                            who(history, op)
                        ),
                    );
                }
            }
            last_send.insert((session, send.key.as_str()), (offset, i));
        }
    }
}

/// Lost writes, unseen messages, aborted and future reads.
fn read_errors(
    history: &History,
    logs: &BTreeMap<String, Log>,
    sends: &[Send],
    polls: &[Poll],
    f: &mut Findings,
) {
    let ops = &history.ops;
    // Every message polled, by key, with its first reader.
    let mut read: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, keys) in polls {
        for (key, pairs) in keys {
            for (_, msg) in pairs {
                read.entry((key.as_str(), msg.as_str())).or_insert(*i);
            }
        }
    }
    // A message's first and last index in its key's log.
    let mut span: HashMap<(&str, &str), (usize, usize)> = HashMap::new();
    for (key, log) in logs {
        for (index, msgs) in log.at.values().enumerate() {
            for msg in msgs.keys() {
                let s = span
                    .entry((key.as_str(), msg.as_str()))
                    .or_insert((index, index));
                s.1 = index;
            }
        }
    }
    // The highest index each key was read to (Jepsen: the latest first
    // index of any value read), and a poll that read it.
    let mut bound: HashMap<&str, (usize, usize)> = HashMap::new();
    for ((key, msg), reader) in &read {
        let first = span[&(*key, *msg)].0;
        let b = bound.entry(key).or_insert((first, *reader));
        if first > b.0 || (first == b.0 && *reader < b.1) {
            *b = (first, *reader);
        }
    }
    let mut writer: HashMap<(&str, &str), &Send> = HashMap::new();
    for s in sends {
        writer.entry((s.key.as_str(), s.msg.as_str())).or_insert(s);
    }
    for s in sends {
        let Some(offset) = s.offset else { continue };
        let here = (s.key.as_str(), s.msg.as_str());
        if read.contains_key(&here) {
            continue;
        }
        let sent = format!(
            "{} of message {} to key {} was acknowledged at offset {offset}",
            who(history, s.op),
            s.msg,
            s.key
        );
        match bound.get(s.key.as_str()) {
            Some(&(to, reader)) if span[&here].1 <= to => {
                let log = &logs[&s.key];
                f.error(
                    ErrorClass::LostWrite,
                    format!(
                        "{sent} but never polled, though {} read the key up to offset {}",
                        who(history, &ops[reader]),
                        log.offsets[to]
                    ),
                );
            }
            _ => unseen(history, s, offset, &sent, polls, f),
        }
    }
    // Polls of messages whose sends failed, or had not begun.
    for (i, keys) in polls {
        let poll = &ops[*i];
        for (key, pairs) in keys {
            for (offset, msg) in pairs {
                let Some(w) = writer.get(&(key.as_str(), msg.as_str())) else {
                    continue;
                };
                if w.op.is_fail() {
                    f.error(
                        ErrorClass::G1a,
                        format!(
                            "{} returned message {msg} at key {key} offset {offset}, but {} \
                             failed ({}): an aborted read",
                            who(history, poll),
                            who(history, w.op),
                            w.op.outcome
                        ),
                    );
                } else if w.op.invoke_index > poll.complete_index {
                    f.error(
                        ErrorClass::FutureRead,
                        format!(
                            "{} (completed at {:.3} s) returned message {msg} at key {key} \
                             offset {offset}, which {} sent only later: a read from the future",
                            who(history, poll),
                            poll.complete.as_secs_f64(),
                            who(history, w.op)
                        ),
                    );
                }
            }
        }
    }
}

/// An acknowledged message beyond every poll: unseen, unless the final
/// polls of its key returned pages that stop short of it (a node may
/// answer a poll with any number of messages; Maelstrom polls again until
/// it catches up, which one round of final polls cannot).
fn unseen(history: &History, s: &Send, offset: i64, sent: &str, polls: &[Poll], f: &mut Findings) {
    let ops = &history.ops;
    // Final ok polls asked for the key from at most this offset: did any
    // of them answer nothing for it?
    let mut asked = 0;
    let mut answered_nothing = false;
    for (i, keys) in polls.iter().filter(|(i, _)| ops[*i].final_read) {
        let from = ops[*i].request["offsets"][&s.key].as_i64();
        if from.is_none_or(|from| from > offset) {
            continue;
        }
        asked += 1;
        let got = keys.iter().find(|(k, _)| *k == s.key);
        if got.is_none_or(|(_, pairs)| pairs.is_empty()) {
            answered_nothing = true;
        }
    }
    if asked > 0 && !answered_nothing {
        f.unknown.push(format!(
            "{sent}; no poll returned it, but every final poll of the key returned a page \
             that stops short of it, so it may be beyond what they returned"
        ));
        return;
    }
    let why = if asked == 0 {
        "no final poll of the key succeeded".to_string()
    } else {
        format!("{asked} final poll(s) from at or before it returned nothing for the key")
    };
    f.error(
        ErrorClass::Unseen,
        format!("{sent} but no poll ever returned it ({why})"),
    );
}

#[cfg(test)]
mod tests {
    //! Hand-built histories: one for each error class, and a valid one.
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    /// Builds a history op by op; each op takes two steps of time.
    #[derive(Default)]
    struct Builder {
        ops: Vec<Op>,
    }

    impl Builder {
        fn op(&mut self, client: &str, request: Value, outcome: Outcome) -> &mut Self {
            let at = self.ops.len() as u64 * 2;
            self.ops.push(Op {
                client: client.into(),
                node: 0,
                kind: request["type"].as_str().unwrap().into(),
                request,
                invoke: Duration::from_millis(at),
                complete: Duration::from_millis(at + 1),
                outcome,
                final_read: false,
                invoke_index: at,
                complete_index: at + 1,
            });
            self
        }

        fn ok(&mut self, client: &str, request: Value, body: Value) -> &mut Self {
            self.op(client, request, Outcome::Ok { body })
        }

        fn assign(&mut self, client: &str) -> &mut Self {
            self.ok(
                client,
                json!({"type": "list_committed_offsets", "keys": ["a"]}),
                json!({"type": "list_committed_offsets_ok", "offsets": {}}),
            )
        }

        fn send(&mut self, client: &str, key: &str, msg: i64, offset: i64) -> &mut Self {
            self.ok(
                client,
                json!({"type": "send", "key": key, "msg": msg}),
                json!({"type": "send_ok", "offset": offset}),
            )
        }

        fn poll(&mut self, client: &str, key: &str, from: i64, pairs: Value) -> &mut Self {
            self.ok(
                client,
                json!({"type": "poll", "offsets": {key: from}}),
                json!({"type": "poll_ok", "msgs": {key: pairs}}),
            )
        }

        fn final_poll(&mut self, client: &str, key: &str, from: i64, pairs: Value) -> &mut Self {
            self.poll(client, key, from, pairs);
            self.ops.last_mut().unwrap().final_read = true;
            self
        }

        fn check(&self) -> Findings {
            check(&History {
                ops: self.ops.clone(),
                node_ids: vec!["n0".into()],
                healed_at: None,
            })
        }
    }

    /// The classes found, and the first line of each.
    fn found(f: &Findings) -> Vec<ErrorClass> {
        f.errors.keys().copied().collect()
    }

    #[test]
    fn a_valid_history_passes() {
        let f = Builder::default()
            .assign("c1")
            .send("c1", "a", 1, 0)
            .send("c2", "a", 2, 1)
            .send("c1", "a", 3, 5) // sparse offsets are fine
            .poll("c1", "a", 0, json!([[0, 1], [1, 2]]))
            .poll("c1", "a", 2, json!([[5, 3]]))
            .final_poll("c3", "a", 0, json!([[0, 1], [1, 2], [5, 3]]))
            .check();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert!(f.unknown.is_empty());
        assert_eq!(
            (f.sends_acknowledged, f.polls_ok, f.messages_polled),
            (3, 3, 6)
        );
    }

    #[test]
    fn two_messages_at_one_offset_are_inconsistent() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c2", "a", 2, 0)
            .final_poll("c3", "a", 0, json!([[0, 1]]))
            .check();
        assert!(
            found(&f).contains(&ErrorClass::InconsistentOffsets),
            "{:?}",
            f.errors
        );
        let line = &f.errors[&ErrorClass::InconsistentOffsets][0];
        assert!(
            line.contains("key a offset 0 holds different messages: 1"),
            "{line}"
        );
        assert!(line.contains("c2's send"), "{line}");
    }

    #[test]
    fn one_message_at_two_offsets_is_a_duplicate() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .final_poll("c3", "a", 0, json!([[0, 1], [1, 1]]))
            .check();
        assert_eq!(found(&f), [ErrorClass::Duplicate]);
        assert!(f.errors[&ErrorClass::Duplicate][0].contains("message 1 is at 2 offsets: 0"));
    }

    #[test]
    fn a_poll_that_skips_or_goes_back_within_itself() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .send("c1", "a", 3, 2)
            .poll("c2", "a", 0, json!([[0, 1], [2, 3]]))
            .poll("c4", "a", 0, json!([[1, 2], [0, 1]]))
            .final_poll("c3", "a", 0, json!([[0, 1], [1, 2], [2, 3]]))
            .check();
        assert_eq!(
            found(&f),
            [ErrorClass::IntPollSkip, ErrorClass::IntNonmonotonicPoll]
        );
        let skip = &f.errors[&ErrorClass::IntPollSkip][0];
        assert!(
            skip.contains("offset 0 then 2, skipping offset(s) 1"),
            "{skip}"
        );
    }

    #[test]
    fn a_client_whose_polls_skip_or_go_back() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .send("c1", "a", 3, 2)
            .assign("c2")
            .poll("c2", "a", 0, json!([[0, 1]]))
            .poll("c2", "a", 2, json!([[2, 3]])) // skips offset 1
            .poll("c2", "a", 2, json!([[2, 3]])) // again from 2
            .final_poll("c3", "a", 0, json!([[0, 1], [1, 2], [2, 3]]))
            .check();
        assert_eq!(
            found(&f),
            [ErrorClass::PollSkip, ErrorClass::NonmonotonicPoll]
        );
        let skip = &f.errors[&ErrorClass::PollSkip][0];
        assert!(skip.contains("ended key a at offset 0"), "{skip}");
        assert!(skip.contains("skipping offset(s) 1"), "{skip}");
    }

    #[test]
    fn a_client_may_start_over_after_it_assigns_again() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .assign("c2")
            .poll("c2", "a", 0, json!([[0, 1], [1, 2]]))
            .assign("c2") // crashed: committed nothing, starts at 0 again
            .poll("c2", "a", 0, json!([[0, 1], [1, 2]]))
            .check();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
    }

    #[test]
    fn a_client_whose_sends_go_back() {
        let f = Builder::default()
            .send("c1", "a", 1, 1)
            .send("c1", "a", 2, 0)
            .final_poll("c3", "a", 0, json!([[0, 2], [1, 1]]))
            .check();
        assert_eq!(found(&f), [ErrorClass::NonmonotonicSend]);
        let line = &f.errors[&ErrorClass::NonmonotonicSend][0];
        assert!(line.contains("offset 1, then c1's send"), "{line}");
    }

    #[test]
    fn an_acknowledged_message_polled_past_is_lost() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .final_poll("c3", "a", 0, json!([[0, 1]]))
            .final_poll("c3", "a", 1, json!([]))
            .poll("c4", "a", 1, json!([[2, 9]])) // someone read beyond it
            .check();
        assert!(found(&f).contains(&ErrorClass::LostWrite), "{:?}", f.errors);
        let line = &f.errors[&ErrorClass::LostWrite][0];
        assert!(line.contains("message 2 to key a was acknowledged at offset 1 but never polled"));
        assert!(line.contains("c4's poll"), "{line}");
    }

    #[test]
    fn an_acknowledged_message_no_poll_reached_is_unseen() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .final_poll("c3", "a", 0, json!([[0, 1]]))
            .final_poll("c3", "a", 1, json!([]))
            .check();
        assert_eq!(found(&f), [ErrorClass::Unseen]);
        assert!(f.errors[&ErrorClass::Unseen][0].contains("returned nothing for the key"));
        // With no final poll at all, it is unseen too.
        let f = Builder::default().send("c1", "a", 1, 0).check();
        assert_eq!(found(&f), [ErrorClass::Unseen]);
    }

    #[test]
    fn final_pages_that_stop_short_cannot_tell() {
        let f = Builder::default()
            .send("c1", "a", 1, 0)
            .send("c1", "a", 2, 1)
            .final_poll("c3", "a", 0, json!([[0, 1]]))
            .check();
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.unknown.len(), 1);
        assert!(f.unknown[0].contains("stops short"), "{}", f.unknown[0]);
    }

    #[test]
    fn a_poll_of_a_failed_send_is_an_aborted_read() {
        let f = Builder::default()
            .op(
                "c1",
                json!({"type": "send", "key": "a", "msg": 1}),
                Outcome::Fail {
                    code: 11,
                    text: "no".into(),
                },
            )
            .final_poll("c3", "a", 0, json!([[0, 1]]))
            .check();
        assert_eq!(found(&f), [ErrorClass::G1a]);
        assert!(f.errors[&ErrorClass::G1a][0].contains("an aborted read"));
    }

    #[test]
    fn a_poll_of_a_message_sent_after_it_is_a_read_from_the_future() {
        let f = Builder::default()
            .poll("c2", "a", 0, json!([[0, 1]]))
            .send("c1", "a", 1, 0)
            .check();
        assert_eq!(found(&f), [ErrorClass::FutureRead]);
        assert!(f.errors[&ErrorClass::FutureRead][0].contains("sent only later"));
    }

    #[test]
    fn a_long_valid_history_passes() {
        // 20,000 sends and as many polls over 4 keys.
        let mut b = Builder::default();
        let mut next = [0i64; 4];
        for i in 0..20_000i64 {
            let k = (i % 4) as usize;
            let key = k.to_string();
            b.send("c1", &key, i, next[k]);
            b.poll("c2", &key, next[k], json!([[next[k], i]]));
            next[k] += 1;
        }
        let f = b.check();
        assert!(f.errors.is_empty(), "{:?}", f.errors.keys());
        assert_eq!(f.messages_polled, 20_000);
    }
}
