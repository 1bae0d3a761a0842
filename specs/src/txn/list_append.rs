//! Maelstrom's `txn-list-append`: appends of unique values to lists, and
//! reads of whole lists. Every read is a prefix of the key's one order of
//! appends, so the version order comes straight from the longest read:
//!
//! - ww: consecutive elements of that order, writer to writer;
//! - wr: a read ending in `v`, from `v`'s writer to the reader;
//! - rw: a read of the first `n` elements, from the reader to the writer
//!   of element `n + 1`.
//!
//! Only a transaction's external reads (before its own appends to the key)
//! give wr and rw edges; later ones must show its own appends (internal).
//! Without a cycle: G1a (an element appended by a failed transaction),
//! G1b (a read ending inside another transaction's appends to the key),
//! incompatible orders, duplicate elements, elements never appended.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::anomaly::{Anomaly, AnomalyKind};
use super::graph::{Dep, GraphBuilder, TxnId, Why};
use super::history::{Datatype, Mop, Status, Txn, describe};

pub struct ListAppend;

impl Datatype for ListAppend {
    const WRITE: &'static str = "append";
    const WROTE: &'static str = "appended";
    type Read = Vec<i64>;

    fn read_value(value: &Value) -> Option<Vec<i64>> {
        match value {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => items.iter().map(Value::as_i64).collect(),
            _ => None,
        }
    }

    fn show(read: &Vec<i64>) -> String {
        let items: Vec<String> = read.iter().map(i64::to_string).collect();
        format!("[{}]", items.join(" "))
    }

    fn infer(txns: &[Txn<Vec<i64>>], graph: &mut GraphBuilder, anomalies: &mut Vec<Anomaly>) {
        let show = |t: usize| describe::<ListAppend>(&txns[t]);
        // (key, element) → (transaction, micro-op index) that appended it.
        let mut writer: HashMap<(i64, i64), (usize, usize)> = HashMap::new();
        // Every committed read of each key.
        let mut reads: BTreeMap<i64, Vec<(usize, &Vec<i64>)>> = BTreeMap::new();
        for (t, txn) in txns.iter().enumerate() {
            for (i, mop) in txn.mops.iter().enumerate() {
                match mop {
                    Mop::Write { key, value } => {
                        writer.entry((*key, *value)).or_insert((t, i));
                    }
                    Mop::Read { key, value } if txn.status == Status::Committed => {
                        reads.entry(*key).or_default().push((t, value));
                    }
                    Mop::Read { .. } => {}
                }
            }
        }
        let happened = |t: usize| txns[t].may_have_happened();

        // The version order of each key: its longest read.
        let mut order: HashMap<i64, &Vec<i64>> = HashMap::new();
        for (&key, key_reads) in &reads {
            let longest = key_reads
                .iter()
                .map(|(_, list)| *list)
                .max_by_key(|list| list.len())
                .expect("at least one read");
            order.insert(key, longest);
            let mut incompatible = false;
            for &(t, list) in key_reads {
                let mut seen = std::collections::HashSet::new();
                if let Some(twice) = list.iter().find(|e| !seen.insert(**e)) {
                    anomalies.push(Anomaly::new(
                        AnomalyKind::DuplicateElements,
                        format!("{} read key {key} with {twice} in it twice", show(t)),
                    ));
                }
                if !incompatible && !longest.starts_with(list) {
                    incompatible = true;
                    let (l, _) = key_reads
                        .iter()
                        .find(|(_, other)| std::ptr::eq(*other, longest))
                        .expect("the longest is a read");
                    anomalies.push(Anomaly::new(
                        AnomalyKind::IncompatibleOrder,
                        format!(
                            "key {key} was read as {} and as {}: neither is a prefix of the \
                             other, so the appends have no one order ({}; {})",
                            ListAppend::show(list),
                            ListAppend::show(longest),
                            show(t),
                            show(*l)
                        ),
                    ));
                }
            }
            for pair in longest.windows(2) {
                let (Some(&(a, _)), Some(&(b, _))) =
                    (writer.get(&(key, pair[0])), writer.get(&(key, pair[1])))
                else {
                    continue;
                };
                if happened(a) && happened(b) {
                    graph.add(
                        a as TxnId,
                        b as TxnId,
                        Dep::Ww,
                        Why {
                            key,
                            value: pair[1],
                        },
                    );
                }
            }
        }

        for (t, txn) in txns.iter().enumerate() {
            if txn.status != Status::Committed {
                continue;
            }
            // Per key: the list as this transaction last saw it (if it
            // read it), and its own appends since.
            let mut seen: BTreeMap<i64, (Option<&Vec<i64>>, Vec<i64>)> = BTreeMap::new();
            for mop in &txn.mops {
                match mop {
                    Mop::Write { key, value } => seen.entry(*key).or_default().1.push(*value),
                    Mop::Read { key, value } => {
                        let key = *key;
                        for e in value {
                            match writer.get(&(key, *e)) {
                                None => anomalies.push(Anomaly::new(
                                    AnomalyKind::GarbageRead,
                                    format!(
                                        "{} read {e} in key {key}, which no transaction appended",
                                        show(t)
                                    ),
                                )),
                                Some(&(w, _)) if txns[w].status == Status::Failed => anomalies
                                    .push(Anomaly::new(
                                        AnomalyKind::G1a,
                                        format!(
                                            "{} read key {key} as {}, with {e} appended by a \
                                             failed transaction: {}",
                                            show(t),
                                            ListAppend::show(value),
                                            show(w)
                                        ),
                                    )),
                                Some(_) => {}
                            }
                        }
                        match seen.get(&key) {
                            Some((before, mine)) => {
                                let fits = match before {
                                    Some(b) => {
                                        value.len() == b.len() + mine.len()
                                            && value.starts_with(b)
                                            && value.ends_with(mine)
                                    }
                                    None => value.ends_with(mine),
                                };
                                if !fits {
                                    anomalies.push(Anomaly::new(
                                        AnomalyKind::Internal,
                                        format!(
                                            "{} read key {key} as {}, which disagrees with its \
                                             own earlier reads and appends",
                                            show(t),
                                            ListAppend::show(value)
                                        ),
                                    ));
                                }
                            }
                            None => external_read(
                                txns, t, key, value, &writer, &order, graph, anomalies,
                            ),
                        }
                        seen.insert(key, (Some(value), Vec::new()));
                    }
                }
            }
        }
    }
}

/// The wr and rw edges of transaction `t`'s first read of `key`, and G1b.
#[allow(clippy::too_many_arguments)]
fn external_read(
    txns: &[Txn<Vec<i64>>],
    t: usize,
    key: i64,
    value: &[i64],
    writer: &HashMap<(i64, i64), (usize, usize)>,
    order: &HashMap<i64, &Vec<i64>>,
    graph: &mut GraphBuilder,
    anomalies: &mut Vec<Anomaly>,
) {
    if let Some(&last) = value.last()
        && let Some(&(w, at)) = writer.get(&(key, last))
        && w != t
        && txns[w].may_have_happened()
    {
        graph.add(w as TxnId, t as TxnId, Dep::Wr, Why { key, value: last });
        let later = txns[w].mops[at + 1..].iter().find_map(|m| match m {
            Mop::Write { key: k, value } if *k == key => Some(*value),
            _ => None,
        });
        if let Some(later) = later {
            anomalies.push(Anomaly::new(
                AnomalyKind::G1b,
                format!(
                    "{} read key {key} as {}, ending in {last}, an intermediate state of {}, \
                     which appended {later} after it",
                    describe::<ListAppend>(&txns[t]),
                    ListAppend::show(&value.to_vec()),
                    describe::<ListAppend>(&txns[w])
                ),
            ));
        }
    }
    if let Some(order) = order.get(&key)
        && order.len() > value.len()
        && order.starts_with(value)
    {
        let next = order[value.len()];
        if let Some(&(w, _)) = writer.get(&(key, next))
            && txns[w].may_have_happened()
        {
            graph.add(t as TxnId, w as TxnId, Dep::Rw, Why { key, value: next });
        }
    }
}
