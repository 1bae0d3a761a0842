//! The readable report: a run's table, two runs side by side, and the
//! distribution of metrics over seeds.

use std::fmt::Write as _;

use crate::lab::Metric;
use crate::report::{FaultAction, Report, Summary, Validity};

impl Report {
    /// The readable report.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "workload {}  nodes {}  seed {}  latency {} ms ({})  rate {}/s  time {} s{}{}{}",
            self.workload,
            c.nodes,
            c.seed,
            c.latency,
            format!("{:?}", c.latency_dist).to_lowercase(),
            c.rate,
            c.time_limit,
            if c.nemesis.is_empty() {
                String::new()
            } else {
                format!("  nemesis {} every ~{} s", c.nemesis, c.nemesis_interval)
            },
            if c.loss > 0.0 {
                format!("  loss {}", c.loss)
            } else {
                String::new()
            },
            if c.duplicate > 0.0 {
                format!("  duplicate {}", c.duplicate)
            } else {
                String::new()
            },
        );
        let t = &self.tested;
        let _ = writeln!(out, "node          {}", t.node);
        for f in &t.files {
            let _ = writeln!(
                out,
                "              {}: {} bytes, fnv64 {}",
                f.path, f.bytes, f.fnv64
            );
        }
        let _ = writeln!(out, "tool          {}", t.tool);
        let _ = writeln!(
            out,
            "settings      settle {} s, op timeout {} s, concurrency {}{}{}{}",
            c.settle,
            c.op_timeout,
            c.concurrency.unwrap_or(c.nodes),
            c.ops
                .map(|n| format!(", at most {n} ops"))
                .unwrap_or_default(),
            c.partition_pattern
                .map(|p| format!(", partitions only {p}"))
                .unwrap_or_default(),
            // The simulator sees every step and never probes.
            if self.probes.is_some() {
                format!(", probes {}", c.probe_ms)
            } else {
                String::new()
            },
        );
        for note in &self.notes {
            let _ = writeln!(out, "note          {note}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "operations    {} ({} ok, {} failed, {} indeterminate)  {}",
            self.ops.total,
            self.ops.ok,
            self.ops.fail,
            self.ops.info,
            self.ops
                .by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "messages      {} between nodes{}, {:.2} msgs-per-op, {:.0} bytes-per-op",
            self.net.sent,
            match self.net.service_messages {
                0 => String::new(),
                n => format!(" and services ({n} to or from services)"),
            },
            self.msgs_per_op,
            self.bytes_per_op
        );
        let _ = writeln!(
            out,
            "network       {} delivered, {} dropped by partitions, {} lost, {} duplicated{}{}{}",
            self.net.delivered,
            self.net.dropped_by_partition,
            self.net.dropped_by_loss,
            self.net.duplicated,
            match self.net.dropped_by_crash {
                0 => String::new(),
                n => format!(", {n} lost to kills (their receiver was down or restarted)"),
            },
            match self.net.in_flight_at_end {
                0 => String::new(),
                n => format!(", {n} in flight at the end"),
            },
            match self.net.dropped_by_overload {
                0 => String::new(),
                n => format!(", {n} dropped by overload (a node read slower than it was sent to)"),
            }
        );
        for (kind, t) in &self.net.by_type {
            let _ = writeln!(
                out,
                "  {:<18} {:>9} msgs {:>12} bytes",
                kind, t.messages, t.bytes
            );
        }
        let busiest = self
            .net
            .per_node
            .iter()
            .enumerate()
            .max_by_key(|(_, t)| t.sent);
        if let Some((i, t)) = busiest {
            let _ = writeln!(
                out,
                "  busiest node       n{i}: {} sent, {} received",
                t.sent, t.received
            );
        }
        if !self.faults.is_empty() {
            let parts = self.fault_count(FaultAction::Partition);
            let kills = self.fault_count(FaultAction::Kill);
            let pauses = self.fault_count(FaultAction::Pause);
            let mut counts = format!("{parts} partition(s)");
            if kills + pauses > 0 {
                counts.push_str(&format!(", {kills} kill(s), {pauses} pause(s)"));
            }
            if self.clock_faults() > 0 {
                counts.push_str(&format!(
                    ", {} clock fault(s) (skew up to {} ms)",
                    self.clock_faults(),
                    self.max_clock_skew_ms()
                ));
            }
            let _ = writeln!(out, "faults        {counts}:");
            for f in &self.faults {
                let mut what = match (f.pattern.as_deref(), f.groups.as_deref()) {
                    (Some(p), groups) => format!("{p} {}", groups.unwrap_or("")),
                    (None, Some(nodes)) => nodes.to_string(),
                    (None, None) => String::new(),
                };
                for (i, c) in f.clocks.iter().enumerate() {
                    what.push_str(if i == 0 { ": " } else { ", " });
                    what.push_str(&c.to_string());
                }
                let _ = writeln!(out, "  {:>8.3} s  {} {what}", f.at.as_secs_f64(), f.action);
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "checker");
        for m in &self.checker {
            metric_line(&mut out, m);
        }
        let reply_counts = [
            ("late replies (to closed clients)", self.replies.late),
            ("duplicate replies (ignored)", self.replies.duplicate),
            ("replies to no request", self.replies.stray),
            ("malformed replies", self.replies.malformed),
            (
                "client requests dropped by overload",
                self.net.client_dropped_by_overload,
            ),
        ];
        let any_count = reply_counts.iter().any(|(_, n)| *n > 0);
        if !self.runner.is_empty() || self.probes.is_some() || any_count {
            let _ = writeln!(out, "runner");
            for m in &self.runner {
                metric_line(&mut out, m);
            }
        }
        if let Some(p) = &self.probes {
            let every = p
                .every_node_ms
                .map(|ms| format!(", each node every {}", format_ms(ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<34} {:>12} ({:.1}/s, {:.0}% of client requests{every})",
                format!("probe reads (--probe-ms {})", p.setting),
                p.requests,
                p.per_second,
                p.share_of_client_requests * 100.0
            );
            if let Some(ms) = p.sampled_every_ms {
                let _ = writeln!(
                    out,
                    "  {:<34} {:>12} ms (probes and client reads: times the checker saw are late by up to ~this)",
                    "node state sampled every",
                    format_value(ms.round())
                );
            }
        }
        for (what, n) in reply_counts {
            if n > 0 {
                let _ = writeln!(out, "  {what:<34} {n:>12}");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.validity.word());
        let reasons: Vec<&String> = match self.validity {
            Validity::Valid => Vec::new(),
            Validity::Invalid => self.failures.iter().collect(),
            Validity::Unknown => self.unknown.iter().collect(),
        };
        for f in reasons.iter().take(20) {
            let _ = writeln!(out, "  - {f}");
        }
        if reasons.len() > 20 {
            let _ = writeln!(out, "  … and {} more (see report.json)", reasons.len() - 20);
        }
        out
    }
}

impl Summary {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "workload {}: {} seeds ({}..{}), {} failed",
            self.workload,
            self.seeds.len(),
            self.seeds.first().copied().unwrap_or(0),
            self.seeds.last().copied().unwrap_or(0),
            self.failing_seeds.len()
        );
        let _ = writeln!(
            out,
            "  {:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "metric", "min", "p50", "p99", "max", "mean"
        );
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "  {:<34} {:>10} {:>10} {:>10} {:>10} {:>10} {}",
                m.name,
                format_value(m.min),
                format_value(m.p50),
                format_value(m.p99),
                format_value(m.max),
                format!("{:.2}", m.mean),
                m.unit
            );
        }
        if self.failing_seeds.is_empty() {
            let _ = writeln!(out, "\nALL VALID");
        } else {
            let _ = writeln!(out, "\nFAILING SEEDS (replay with --seed N):");
            for (seed, why) in &self.failing_seeds {
                let _ = writeln!(out, "  {seed}: {why}");
            }
        }
        out
    }
}

/// Milliseconds as a person reads them: "250 ms", "2.5 s".
fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", format_value((ms / 100.0).round() / 10.0))
    } else {
        format!("{} ms", format_value(ms.round()))
    }
}

/// One metric of a section: name, value, unit, in aligned columns.
fn metric_line(out: &mut String, m: &Metric) {
    let _ = writeln!(
        out,
        "  {:<34} {:>12} {}",
        m.name,
        format_value(m.value),
        m.unit
    );
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Two runs of the same settings, without and with partitions, as one
/// table: every metric side by side, then each run's verdict.
pub fn side_by_side(normal: &Report, partitioned: &Report) -> String {
    let mut out = String::new();
    let c = &normal.config;
    let _ = writeln!(
        out,
        "workload {}  nodes {}  seed {}  latency {} ms  rate {}/s  time {} s  (partitions every ~{} s on the right)\n",
        normal.workload,
        c.nodes,
        c.seed,
        c.latency,
        c.rate,
        c.time_limit,
        partitioned.config.nemesis_interval
    );
    let _ = writeln!(
        out,
        "  {:<46} {:>14} {:>14}",
        "metric", "normal", "partitioned"
    );
    let left = normal.metrics();
    let right = partitioned.metrics();
    for m in &left {
        let other = right
            .iter()
            .find(|r| r.name == m.name)
            .map_or("-".to_string(), |r| format_value(r.value));
        let _ = writeln!(
            out,
            "  {:<46} {:>14} {:>14} {}",
            m.name,
            format_value(m.value),
            other,
            m.unit
        );
    }
    for r in right
        .iter()
        .filter(|r| !left.iter().any(|m| m.name == r.name))
    {
        let _ = writeln!(
            out,
            "  {:<46} {:>14} {:>14} {}",
            r.name,
            "-",
            format_value(r.value),
            r.unit
        );
    }
    for (label, r) in [("normal", normal), ("partitioned", partitioned)] {
        let _ = writeln!(out, "\n{label}: {}", r.validity.word());
        for f in r.failures.iter().chain(&r.unknown).take(10) {
            let _ = writeln!(out, "  - {f}");
        }
    }
    out
}
