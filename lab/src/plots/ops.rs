//! Maelstrom's pictures of a run's client operations (`latency-raw.png`,
//! `latency-quantiles.png`, `rate.png`) and the node-to-node messages per
//! second, as plots over run time. Colour is the operation (or message)
//! type throughout, the same type the same colour in every chart.

use std::collections::{BTreeMap, BTreeSet};

use super::ticks;
use super::{Mark, Plot, Series, Stroke};
use crate::lab::{History, Op, Outcome, quantile};
use crate::network::NetStats;

/// At most this many operations are drawn one by one; past it every k-th
/// is (the caption says so), so a long run's page stays small.
pub const MAX_POINTS: usize = 20_000;

/// How an operation ended, as the charts tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ending {
    Ok,
    /// A definite error: it did not happen.
    Fail,
    /// Timed out or an indefinite error: it may have happened.
    Info,
}

impl Ending {
    pub fn of(op: &Op) -> Ending {
        match op.outcome {
            Outcome::Ok { .. } => Ending::Ok,
            Outcome::Fail { .. } => Ending::Fail,
            Outcome::Info { .. } => Ending::Info,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Fail => "fail",
            Ending::Info => "info",
        }
    }

    fn mark(self) -> Mark {
        match self {
            Ending::Ok => Mark::Dot,
            Ending::Fail => Mark::Cross,
            Ending::Info => Mark::Ring,
        }
    }

    fn stroke(self) -> Stroke {
        match self {
            Ending::Ok => Stroke::Solid,
            Ending::Fail => Stroke::Dashed,
            Ending::Info => Stroke::Dotted,
        }
    }
}

fn latency_ms(op: &Op) -> f64 {
    op.complete.saturating_sub(op.invoke).as_secs_f64() * 1000.0
}

/// Operation types in a fixed order: a type's colour is its place here.
fn kinds(history: &History) -> Vec<&str> {
    let set: BTreeSet<&str> = history.ops.iter().map(|op| op.kind.as_str()).collect();
    set.into_iter().collect()
}

fn colour_of(kinds: &[&str], kind: &str) -> usize {
    kinds.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Log scale when every latency is above zero and they span a decade or
/// more (Maelstrom's choice); linear otherwise (a simulated run without
/// latency answers in 0 ms, which no log axis can show).
fn wants_log(latencies: impl Iterator<Item = f64>) -> bool {
    let (mut lo, mut hi, mut any) = (f64::MAX, 0.0f64, false);
    for l in latencies {
        if l <= 0.0 {
            return false;
        }
        lo = lo.min(l);
        hi = hi.max(l);
        any = true;
    }
    any && hi / lo >= 10.0
}

/// The time buckets of a run of `end_s` seconds: width `width`, except the
/// last, which runs to the end (between half and one and a half widths), so
/// no sliver of a bucket at the end shows a spike or a dip.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub width: f64,
    pub end_s: f64,
    pub count: usize,
}

impl Buckets {
    pub fn new(end_s: f64, width: f64) -> Buckets {
        let end_s = end_s.max(0.0);
        let count = ((end_s / width).round() as usize).max(1);
        Buckets {
            width,
            end_s,
            count,
        }
    }

    /// About 40 buckets of a round width over the run.
    pub fn for_run(end_s: f64) -> Buckets {
        let width = if end_s > 0.0 {
            ticks::round_step(end_s / 40.0)
        } else {
            1.0
        };
        Buckets::new(end_s, width)
    }

    /// The bucket holding time `t`.
    pub fn index(&self, t: f64) -> usize {
        ((t / self.width).floor().max(0.0) as usize).min(self.count - 1)
    }

    /// Where bucket `i` starts and ends.
    pub fn span(&self, i: usize) -> (f64, f64) {
        let from = i as f64 * self.width;
        let to = if i + 1 == self.count {
            self.end_s.max(from)
        } else {
            from + self.width
        };
        (from, to)
    }

    pub fn middle(&self, i: usize) -> f64 {
        let (a, b) = self.span(i);
        (a + b) / 2.0
    }

    /// `count` events in bucket `i` as a rate per second (zero for a bucket
    /// of no length).
    pub fn rate(&self, i: usize, count: f64) -> f64 {
        let (a, b) = self.span(i);
        if b > a { count / (b - a) } else { 0.0 }
    }
}

fn seconds(width: f64) -> String {
    ticks::label(width, width)
}

/// `latency-raw`: a mark per operation at (invocation time, latency);
/// colour by type, mark by outcome.
pub fn latency_raw(history: &History) -> Plot {
    let kinds = kinds(history);
    let stride = history.ops.len().div_ceil(MAX_POINTS).max(1);
    // By type, then outcome: the legend's order.
    let mut groups: BTreeMap<(usize, Ending), Vec<(f64, f64)>> = BTreeMap::new();
    for op in history.ops.iter().step_by(stride) {
        let key = (colour_of(&kinds, &op.kind), Ending::of(op));
        groups
            .entry(key)
            .or_default()
            .push((op.invoke.as_secs_f64(), latency_ms(op)));
    }
    let series = groups
        .into_iter()
        .map(|((kind, ending), points)| {
            Series::new(format!("{} {}", kinds[kind], ending.label()), points)
                .colour(kind)
                .mark(ending.mark())
        })
        .collect();
    let log = wants_log(history.ops.iter().map(latency_ms));
    let mut caption = "One mark per client operation, at the time it was invoked: how long \
        it took to complete (final reads included). Colour is the operation type; ● ok, \
        ✕ failed (a definite error: it did not happen), ○ indeterminate (timed out or an \
        indefinite error)."
        .to_string();
    caption.push_str(if log {
        " Log scale."
    } else {
        " Linear scale (some latencies are 0 ms or they span less than a decade)."
    });
    if stride > 1 {
        caption.push_str(&format!(
            " {} operations: every {stride}th is drawn.",
            history.ops.len()
        ));
    }
    let plot = Plot::points_over_time("Operation latency", "latency (ms)", series).caption(caption);
    if log { plot.log_y() } else { plot }
}

/// `latency-quantiles`: p50, p95, p99 and the maximum of the latencies of
/// the ok operations invoked in each time bucket, by type.
pub fn latency_quantiles(history: &History, buckets: &Buckets) -> Plot {
    let kinds = kinds(history);
    let mut series = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        let mut per_bucket: Vec<Vec<f64>> = vec![Vec::new(); buckets.count];
        for op in history
            .ops
            .iter()
            .filter(|op| op.is_ok() && op.kind == *kind)
        {
            per_bucket[buckets.index(op.invoke.as_secs_f64())].push(latency_ms(op));
        }
        if per_bucket.iter().all(Vec::is_empty) {
            continue;
        }
        for samples in &mut per_bucket {
            samples.sort_by(f64::total_cmp);
        }
        for (label, q, stroke) in [
            ("p50", 0.5, Stroke::Solid),
            ("p95", 0.95, Stroke::Dashed),
            ("p99", 0.99, Stroke::Dotted),
            ("max", 1.0, Stroke::Faint),
        ] {
            let points = per_bucket
                .iter()
                .enumerate()
                // An empty bucket has no quantile: NaN breaks the line.
                .map(|(i, s)| (buckets.middle(i), quantile(s, q)))
                .collect();
            series.push(
                Series::new(format!("{kind} {label}"), points)
                    .colour(k)
                    .stroke(stroke),
            );
        }
    }
    let log = wants_log(history.ops.iter().filter(|op| op.is_ok()).map(latency_ms));
    let plot =
        Plot::over_time("Operation latency quantiles", "latency (ms)", series).caption(format!(
            "Latencies of the ok operations invoked in each {} s of the run, by type: median \
             (solid), 95th (dashed) and 99th (dotted) percentile, and the maximum (pale). {}",
            seconds(buckets.width),
            if log { "Log scale." } else { "Linear scale." }
        ));
    if log { plot.log_y() } else { plot }
}

/// `rate`: operations completed per second in each time bucket, by type
/// (colour) and outcome (solid ok, dashed failed, dotted indeterminate).
pub fn rate(history: &History, buckets: &Buckets) -> Plot {
    let kinds = kinds(history);
    let mut counts: BTreeMap<(usize, Ending), Vec<f64>> = BTreeMap::new();
    for op in &history.ops {
        let key = (colour_of(&kinds, &op.kind), Ending::of(op));
        let i = buckets.index(op.complete.as_secs_f64());
        counts
            .entry(key)
            .or_insert_with(|| vec![0.0; buckets.count])[i] += 1.0;
    }
    let series = counts
        .into_iter()
        .map(|((kind, ending), c)| {
            let points = c
                .iter()
                .enumerate()
                .map(|(i, &n)| (buckets.middle(i), buckets.rate(i, n)))
                .collect();
            Series::new(format!("{} {}", kinds[kind], ending.label()), points)
                .colour(kind)
                .stroke(ending.stroke())
        })
        .collect();
    Plot::over_time("Operation rate", "operations / s", series).caption(format!(
        "Client operations completed per second, in buckets of {} s, by type and outcome: \
         solid ok, dashed failed, dotted indeterminate.",
        seconds(buckets.width)
    ))
}

/// Node-to-node messages sent per second of the run, by body type.
pub fn messages_per_second(net: &NetStats, end_s: f64) -> Plot {
    // The network counts whole seconds; the last one runs to the end.
    let buckets = Buckets::new(end_s, 1.0);
    let series = net
        .per_second
        .iter()
        .enumerate()
        .map(|(k, (kind, per_second))| {
            let mut counts = vec![0.0; buckets.count];
            for (s, &n) in per_second.iter().enumerate() {
                counts[buckets.index(s as f64)] += n as f64;
            }
            let points = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (buckets.middle(i), buckets.rate(i, n)))
                .collect();
            Series::new(kind.clone(), points).colour(k)
        })
        .collect();
    Plot::over_time(
        "Node-to-node messages per second, by type",
        "messages / s",
        series,
    )
    .caption(
        "Messages nodes sent each other in each second of the run, by body type (client \
         requests and replies are not counted; dropped messages are).",
    )
}

/// The latencies of the clients' ok operations (final reads apart), as a
/// distribution.
pub fn latency_histogram(history: &History) -> Plot {
    let latencies: Vec<f64> = history
        .ops
        .iter()
        .filter(|op| op.is_ok() && !op.final_read)
        .map(latency_ms)
        .collect();
    Plot::histogram("Client operation latency", "latency (ms)", &latencies).caption(
        "How many ok operations (final reads apart) took how long, in bins of a round width.",
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    /// An operation of `kind` invoked at `invoke_ms`, taking `latency_ms`
    /// (also the plots' page tests' operations).
    pub(crate) fn op(kind: &str, invoke_ms: u64, latency_ms: u64, outcome: Outcome) -> Op {
        Op {
            client: "c1".into(),
            node: 0,
            kind: kind.into(),
            request: json!({"type": kind}),
            invoke: Duration::from_millis(invoke_ms),
            complete: Duration::from_millis(invoke_ms + latency_ms),
            outcome,
            final_read: false,
            invoke_index: invoke_ms,
            complete_index: invoke_ms + latency_ms,
        }
    }

    fn ok() -> Outcome {
        Outcome::Ok { body: json!({}) }
    }

    fn history() -> History {
        History {
            ops: vec![
                op("add", 100, 2, ok()),
                op("add", 200, 40, ok()),
                op("read", 300, 5, ok()),
                op(
                    "add",
                    400,
                    1000,
                    Outcome::Info {
                        reason: crate::lab::Indeterminate::Stopped,
                    },
                ),
                op(
                    "read",
                    1500,
                    3,
                    Outcome::Fail {
                        code: 11,
                        text: "busy".into(),
                    },
                ),
            ],
            ..History::default()
        }
    }

    #[test]
    fn buckets_end_with_the_run() {
        let b = Buckets::new(5.3, 1.0);
        assert_eq!(b.count, 5);
        assert_eq!(b.span(4), (4.0, 5.3));
        assert_eq!(b.index(5.2), 4);
        assert!((b.rate(4, 13.0) - 10.0).abs() < 1e-9);
        let b = Buckets::new(5.6, 1.0);
        assert_eq!((b.count, b.span(5)), (6, (5.0, 5.6)));
        // Shorter than a bucket: one bucket, the whole run.
        let b = Buckets::new(0.4, 1.0);
        assert_eq!((b.count, b.span(0)), (1, (0.0, 0.4)));
        assert_eq!(Buckets::for_run(20.0).width, 0.5);
        assert_eq!(Buckets::for_run(1.5).width, 0.05);
    }

    #[test]
    fn latency_raw_is_a_mark_per_operation_by_type_and_outcome() {
        let p = latency_raw(&history());
        let names: Vec<&str> = p.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["add ok", "add info", "read ok", "read fail"]);
        assert_eq!(p.series.iter().map(|s| s.points.len()).sum::<usize>(), 5);
        assert_eq!(p.series[0].points, [(0.1, 2.0), (0.2, 40.0)]);
        // Same colour per type, mark per outcome.
        assert_eq!(p.series[0].style.colour, p.series[1].style.colour);
        assert_ne!(p.series[0].style.colour, p.series[2].style.colour);
        assert_eq!(p.series[1].style.mark, Mark::Ring);
        assert_eq!(p.series[3].style.mark, Mark::Cross);
        assert_eq!(p.y.scale, super::super::Scale::Log);
        // A 0 ms operation makes the scale linear.
        let mut h = history();
        h.ops.push(op("add", 10, 0, ok()));
        assert_eq!(latency_raw(&h).y.scale, super::super::Scale::Linear);
    }

    #[test]
    fn quantiles_and_rates_per_bucket() {
        let buckets = Buckets::new(2.0, 1.0);
        let q = latency_quantiles(&history(), &buckets);
        let add_max = q.series.iter().find(|s| s.name == "add max").unwrap();
        // Ok adds only: 2 and 40 ms in the first second, none in the second.
        assert_eq!(add_max.points[0], (0.5, 40.0));
        assert!(add_max.points[1].1.is_nan());
        let add_p50 = q.series.iter().find(|s| s.name == "add p50").unwrap();
        assert_eq!(add_p50.points[0].1, 2.0);
        let r = rate(&history(), &buckets);
        let add_ok = r.series.iter().find(|s| s.name == "add ok").unwrap();
        assert_eq!(add_ok.points, [(0.5, 2.0), (1.5, 0.0)]);
        // The indeterminate add completed (timed out) at 1.4 s.
        let add_info = r.series.iter().find(|s| s.name == "add info").unwrap();
        assert_eq!(add_info.points, [(0.5, 0.0), (1.5, 1.0)]);
        assert_eq!(add_info.style.stroke, Stroke::Dotted);
    }

    #[test]
    fn messages_per_second_end_with_the_run() {
        let mut net = NetStats::default();
        net.per_second.insert("gossip".into(), vec![10, 20, 3]);
        let p = messages_per_second(&net, 2.3);
        // Seconds 0, 1 and the last 1.3 s (2.0..2.3 merged into 1..2.3).
        assert_eq!(p.series[0].points.len(), 2);
        assert_eq!(p.series[0].points[0], (0.5, 10.0));
        assert!((p.series[0].points[1].1 - 23.0 / 1.3).abs() < 1e-9);
    }
}
