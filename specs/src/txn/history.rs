//! A run's `txn` operations as transactions of micro-ops, typed: what each
//! requested, and for a committed one what its reads returned. A reply
//! whose micro-ops are not its request's (a read turned into an append,
//! Maelstrom's issue #14; a key or a written value changed; ops missing)
//! is an anomaly of its own, and its transaction counts as indeterminate.

use maelstrom_lab::{History, Outcome};
use serde_json::Value;

use super::anomaly::{Anomaly, AnomalyKind};
use super::graph::GraphBuilder;

/// One of Maelstrom's two transactional datatypes: what a write is called
/// and what a read returns.
pub trait Datatype: 'static {
    /// The write micro-op's `f`: `append` or `w`.
    const WRITE: &'static str;
    /// What the checker says of a write ("appended", "wrote").
    const WROTE: &'static str;
    /// A read's value (list-append: the list, `null` read as empty;
    /// rw-register: the value or `None` for `null`).
    type Read: Clone + Default + std::fmt::Debug + PartialEq;

    /// A read's value from a reply, `None` if it has the wrong shape.
    fn read_value(value: &Value) -> Option<Self::Read>;

    fn show(read: &Self::Read) -> String;

    /// Adds the dependencies the transactions show to `graph`, and the
    /// anomalies found without a cycle to `anomalies`.
    fn infer(txns: &[Txn<Self::Read>], graph: &mut GraphBuilder, anomalies: &mut Vec<Anomaly>);
}

/// One micro-op.
#[derive(Debug, Clone, PartialEq)]
pub enum Mop<R> {
    /// A read; its value means something only in a committed transaction.
    Read { key: i64, value: R },
    /// An append (list-append) or write (rw-register) of a unique value.
    Write { key: i64, value: i64 },
}

impl<R> Mop<R> {
    pub fn key(&self) -> i64 {
        match self {
            Mop::Read { key, .. } | Mop::Write { key, .. } => *key,
        }
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `txn_ok`: it happened, and its reads are known.
    Committed,
    /// A definite error: it did not happen.
    Failed,
    /// It may or may not have happened; its reads are unknown.
    Unknown,
}

/// One `txn` operation.
#[derive(Debug, Clone)]
pub struct Txn<R> {
    /// Its operation's position in the history (named `T<op>` in reports).
    pub op: usize,
    pub status: Status,
    pub mops: Vec<Mop<R>>,
    /// History indices of its invocation and, unless it is indeterminate,
    /// completion.
    pub invoke: u64,
    pub complete: Option<u64>,
    /// "c3 at n1".
    pub who: String,
}

impl<R> Txn<R> {
    /// In the graph: committed, or indeterminate and maybe committed.
    pub fn may_have_happened(&self) -> bool {
        self.status != Status::Failed
    }

    /// The value of this transaction's last write of `key`, if any.
    pub fn final_write(&self, key: i64) -> Option<i64> {
        self.mops.iter().rev().find_map(|m| match m {
            Mop::Write { key: k, value } if *k == key => Some(*value),
            _ => None,
        })
    }
}

/// `T12 (c3 at n1, committed): [r 1 [1 2]] [append 2 5]`.
pub fn describe<D: Datatype>(txn: &Txn<D::Read>) -> String {
    let status = match txn.status {
        Status::Committed => "committed",
        Status::Failed => "failed",
        Status::Unknown => "indeterminate",
    };
    let mops: Vec<String> = txn
        .mops
        .iter()
        .map(|m| match m {
            Mop::Read { key, value } if txn.status == Status::Committed => {
                format!("[r {key} {}]", D::show(value))
            }
            Mop::Read { key, .. } => format!("[r {key} ?]"),
            Mop::Write { key, value } => format!("[{} {key} {value}]", D::WRITE),
        })
        .collect();
    format!("T{} ({}, {status}): {}", txn.op, txn.who, mops.join(" "))
}

/// The request's micro-ops, reads without values; `None` if the request
/// is not a transaction (the lab's own generator never sends one).
fn requested<D: Datatype>(request: &Value) -> Option<Vec<Mop<D::Read>>> {
    request["txn"]
        .as_array()?
        .iter()
        .map(|m| {
            let [f, k, v] = m.as_array()?.as_slice() else {
                return None;
            };
            let key = k.as_i64()?;
            match f.as_str()? {
                "r" => Some(Mop::Read {
                    key,
                    value: D::Read::default(),
                }),
                w if w == D::WRITE => Some(Mop::Write {
                    key,
                    value: v.as_i64()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// The reply's micro-ops, if they are the request's with read values
/// filled in; else what is wrong.
fn replied<D: Datatype>(
    asked: &[Mop<D::Read>],
    reply: &Value,
) -> Result<Vec<Mop<D::Read>>, String> {
    let Some(got) = reply["txn"].as_array() else {
        return Err("`txn` is not a list".into());
    };
    if got.len() != asked.len() {
        return Err(format!(
            "{} micro-ops asked for, {} returned",
            asked.len(),
            got.len()
        ));
    }
    asked
        .iter()
        .zip(got)
        .enumerate()
        .map(|(i, (a, g))| {
            let wrong = || format!("micro-op {i} came back as {g}");
            let [f, k, v] = g.as_array().map(Vec::as_slice).ok_or_else(wrong)? else {
                return Err(wrong());
            };
            if k.as_i64() != Some(a.key()) {
                return Err(wrong());
            }
            match a {
                Mop::Read { key, .. } if f == "r" => Ok(Mop::Read {
                    key: *key,
                    value: D::read_value(v).ok_or_else(wrong)?,
                }),
                Mop::Write { key, value } if *f == D::WRITE && v.as_i64() == Some(*value) => {
                    Ok(Mop::Write {
                        key: *key,
                        value: *value,
                    })
                }
                _ => Err(wrong()),
            }
        })
        .collect()
}

/// Every `txn` operation of `history`, and the malformed replies found.
pub fn transactions<D: Datatype>(history: &History) -> (Vec<Txn<D::Read>>, Vec<Anomaly>) {
    let mut txns = Vec::new();
    let mut anomalies = Vec::new();
    for (op_index, op) in history.ops.iter().enumerate() {
        if op.kind != "txn" {
            continue;
        }
        let Some(asked) = requested::<D>(&op.request) else {
            continue;
        };
        let node = history.node_ids.get(op.node).map_or("?", String::as_str);
        let mut txn = Txn {
            op: op_index,
            status: Status::Unknown,
            mops: asked,
            invoke: op.invoke_index,
            complete: None,
            who: format!("{} at {node}", op.client),
        };
        match &op.outcome {
            Outcome::Ok { body } => match replied::<D>(&txn.mops, body) {
                Ok(mops) => {
                    txn.mops = mops;
                    txn.status = Status::Committed;
                    txn.complete = Some(op.complete_index);
                }
                Err(why) => anomalies.push(Anomaly::new(
                    AnomalyKind::MalformedReply,
                    format!(
                        "T{op_index} ({}): the reply is not its request's: {why}",
                        txn.who
                    ),
                )),
            },
            Outcome::Fail { .. } => txn.status = Status::Failed,
            Outcome::Info { .. } => {}
        }
        txns.push(txn);
    }
    (txns, anomalies)
}
