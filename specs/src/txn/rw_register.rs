//! Maelstrom's `txn-rw-register`: writes of unique values to registers,
//! and reads of one value (`null` before any write). A read names its
//! writer (values are unique), but nothing orders two writes except what
//! Maelstrom's checker also uses (Elle with `:wfr-keys? true`):
//!
//! - the initial `null` comes before every write;
//! - writes follow reads: a transaction that read `x` from a key and then
//!   wrote `y` to it puts `x` before `y`.
//!
//! From those orders: ww (the writer of `x` to the writer of `y`), wr (a
//! value's writer to its readers), rw (a reader of `x`, or of `null`, to
//! the writer of a later version). Only external reads (before a
//! transaction's own writes to the key) give edges. Without a cycle: G1a
//! (a read of a failed transaction's write), G1b (a read of a value its
//! transaction overwrote), internal (a read that disagrees with the
//! transaction's own earlier reads and writes), values never written.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::anomaly::{Anomaly, AnomalyKind};
use super::graph::{Dep, GraphBuilder, TxnId, Why};
use super::history::{Datatype, Mop, Status, Txn, describe};

pub struct RwRegister;

impl Datatype for RwRegister {
    const WRITE: &'static str = "w";
    const WROTE: &'static str = "wrote";
    type Read = Option<i64>;

    fn read_value(value: &Value) -> Option<Option<i64>> {
        match value {
            Value::Null => Some(None),
            v => v.as_i64().map(Some),
        }
    }

    fn show(read: &Option<i64>) -> String {
        read.map_or("nil".into(), |v| v.to_string())
    }

    fn infer(txns: &[Txn<Option<i64>>], graph: &mut GraphBuilder, anomalies: &mut Vec<Anomaly>) {
        let show = |t: usize| describe::<RwRegister>(&txns[t]);
        let mut writer: HashMap<(i64, i64), usize> = HashMap::new();
        // Per key, every transaction that may have written it.
        let mut writers: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (t, txn) in txns.iter().enumerate() {
            for mop in &txn.mops {
                if let Mop::Write { key, value } = mop {
                    writer.entry((*key, *value)).or_insert(t);
                    let ws = writers.entry(*key).or_default();
                    if txn.may_have_happened() && ws.last() != Some(&t) {
                        ws.push(t);
                    }
                }
            }
        }
        // Committed external reads: (key, value) → readers, and per
        // transaction (key, value read, value it then wrote).
        let mut readers: HashMap<(i64, Option<i64>), Vec<usize>> = HashMap::new();
        let mut follows: Vec<(usize, i64, Option<i64>, i64)> = Vec::new();
        for (t, txn) in txns.iter().enumerate() {
            if txn.status != Status::Committed {
                continue;
            }
            // What this transaction last saw or wrote, per key.
            let mut known: BTreeMap<i64, Option<i64>> = BTreeMap::new();
            for mop in &txn.mops {
                match *mop {
                    Mop::Write { key, value } => {
                        known.insert(key, Some(value));
                    }
                    Mop::Read { key, value } => {
                        let external = !known.contains_key(&key);
                        if let Some(&before) = known.get(&key)
                            && before != value
                        {
                            anomalies.push(Anomaly::new(
                                AnomalyKind::Internal,
                                format!(
                                    "{} read key {key} as {}, though it had just seen or \
                                     written {}",
                                    show(t),
                                    RwRegister::show(&value),
                                    RwRegister::show(&before)
                                ),
                            ));
                        }
                        known.insert(key, value);
                        if let Some(v) = value {
                            check_writer(txns, t, key, v, external, &writer, anomalies);
                        }
                        if external {
                            readers.entry((key, value)).or_default().push(t);
                            if let Some(&w) = value.and_then(|v| writer.get(&(key, v)))
                                && txns[w].may_have_happened()
                            {
                                let v = value.expect("a writer means a value");
                                graph.add(w as TxnId, t as TxnId, Dep::Wr, Why { key, value: v });
                            }
                            if let Some(y) = txn.final_write(key) {
                                follows.push((t, key, value, y));
                            }
                        }
                    }
                }
            }
        }
        // Writes follow reads: x < y.
        for &(t, key, x, y) in &follows {
            let Some(x) = x else { continue };
            let why = Why { key, value: y };
            if let Some(&w) = writer.get(&(key, x))
                && txns[w].may_have_happened()
            {
                graph.add(w as TxnId, t as TxnId, Dep::Ww, why);
            }
            for &r in readers.get(&(key, Some(x))).into_iter().flatten() {
                graph.add(r as TxnId, t as TxnId, Dep::Rw, why);
            }
        }
        // The initial null comes before every write.
        for (&(key, value), rs) in &readers {
            if value.is_some() {
                continue;
            }
            for &w in writers.get(&key).into_iter().flatten() {
                let Some(y) = txns[w].final_write(key) else {
                    continue;
                };
                for &r in rs {
                    graph.add(r as TxnId, w as TxnId, Dep::Rw, Why { key, value: y });
                }
            }
        }
    }
}

/// G1a, G1b, a read of its own write before making it, or of a value
/// never written: what `t`'s read of `v` from `key` says of its writer.
fn check_writer(
    txns: &[Txn<Option<i64>>],
    t: usize,
    key: i64,
    v: i64,
    external: bool,
    writer: &HashMap<(i64, i64), usize>,
    anomalies: &mut Vec<Anomaly>,
) {
    let show = |t: usize| describe::<RwRegister>(&txns[t]);
    let found = match writer.get(&(key, v)) {
        None => Some((
            AnomalyKind::GarbageRead,
            format!(
                "{} read {v} from key {key}, which no transaction wrote",
                show(t)
            ),
        )),
        Some(&w) if w == t => external.then(|| {
            (
                AnomalyKind::Internal,
                format!("{} read {v} from key {key} before writing it", show(t)),
            )
        }),
        Some(&w) if txns[w].status == Status::Failed => Some((
            AnomalyKind::G1a,
            format!(
                "{} read {v} from key {key}, written by a failed transaction: {}",
                show(t),
                show(w)
            ),
        )),
        Some(&w) => {
            let last = txns[w].final_write(key);
            (last != Some(v)).then(|| {
                (
                    AnomalyKind::G1b,
                    format!(
                        "{} read {v} from key {key}, an intermediate write of {}, which \
                         then wrote {}",
                        show(t),
                        show(w),
                        last.map_or("?".into(), |l| l.to_string())
                    ),
                )
            })
        }
    };
    if let Some((kind, text)) = found {
        anomalies.push(Anomaly::new(kind, text));
    }
}
