//! A sweep: the same test over a grid of workload settings (`--sweep
//! fanout=1,2,4 --sweep gossip-interval-ms=50,100,200`), each setting run
//! over the same seeds, summarised as one table row per setting and a chart
//! of the trade-off (messages per operation against latency).

use std::fmt::Write as _;

use serde::Serialize;

use crate::plots::{Plot, Series};
use crate::report::{Spread, Summary};

/// The statistics over seeds a column can ask for (`NAME:p99`).
pub const STATS: [&str; 5] = ["min", "p50", "p99", "max", "mean"];

/// One flag and the values it takes in a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    /// The flag's long name, without dashes (`fanout`).
    pub flag: String,
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `flag=v1,v2,...`.
    pub fn parse(text: &str) -> Result<Axis, String> {
        let (flag, values) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected FLAG=V1,V2,..."))?;
        let flag = flag.trim().trim_start_matches('-').to_string();
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if flag.is_empty() || values.is_empty() {
            return Err(format!("`{text}`: expected FLAG=V1,V2,..."));
        }
        Ok(Axis { flag, values })
    }
}

/// Every combination of the axes' values, the first axis varying slowest:
/// each combination is a list of `(flag, value)`.
pub fn grid(axes: &[Axis]) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                axis.values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((axis.flag.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    combos
}

/// One setting of the grid and what its seeds measured.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub settings: Vec<(String, String)>,
    pub summary: Summary,
}

impl SweepPoint {
    /// A column's value. `column` is a metric's name, optionally followed
    /// by `:STAT` (`min`, `p50`, `p99`, `max` or `mean` over the seeds).
    /// Without it: the median over seeds, except for a worst-case metric
    /// (its name ends in `max`), which shows the worst seed, so the table
    /// never hides a bad run.
    pub fn cell(&self, column: &str) -> Option<f64> {
        let (metric, stat) = metric_and_stat(column);
        let s = self.spread(metric)?;
        Some(match stat {
            "min" => s.min,
            "p99" => s.p99,
            "max" => s.max,
            "mean" => s.mean,
            _ => s.p50,
        })
    }

    /// The unit of a column's metric (`ms`, `B`, or empty for a count).
    pub fn unit(&self, column: &str) -> Option<&str> {
        Some(&self.spread(metric_and_stat(column).0)?.unit)
    }

    fn spread(&self, metric: &str) -> Option<&Spread> {
        self.summary.metrics.iter().find(|m| m.name == metric)
    }
}

/// A column's metric and statistic (see [`SweepPoint::cell`]).
fn metric_and_stat(column: &str) -> (&str, &str) {
    match column.rsplit_once(':') {
        Some((m, stat)) if STATS.contains(&stat) => (m, stat),
        _ if column.ends_with("max") => (column, "max"),
        _ => (column, "p50"),
    }
}

/// The columns shown by default: messages per operation, then every
/// metric in milliseconds except the p95 and p99 ones (medians, maxima and
/// single times such as convergence after the last add).
pub fn default_columns(points: &[SweepPoint]) -> Vec<String> {
    let mut cols = vec!["msgs-per-op".to_string()];
    if let Some(first) = points.first() {
        for m in &first.summary.metrics {
            if m.unit == "ms" && !m.name.ends_with("p95") && !m.name.ends_with("p99") {
                cols.push(m.name.clone());
            }
        }
    }
    cols
}

/// One row per setting: the settings, how many seeds failed, the columns.
pub fn table(points: &[SweepPoint], columns: &[String]) -> String {
    let mut out = String::new();
    let Some(first) = points.first() else {
        return "empty sweep\n".into();
    };
    let flags: Vec<&str> = first.settings.iter().map(|(f, _)| f.as_str()).collect();
    let _ = writeln!(
        out,
        "sweep of {} over {} settings × {} seeds; cells are medians over seeds (`max` columns: the worst seed; `NAME:STAT`: that statistic)",
        first.summary.workload,
        points.len(),
        first.summary.seeds.len()
    );
    let width = |s: &str| s.len().max(8);
    for f in &flags {
        let _ = write!(out, "{:>w$} ", f, w = width(f));
    }
    let _ = write!(out, "{:>6} ", "failed");
    for c in columns {
        let _ = write!(out, "{:>w$} ", c, w = width(c));
    }
    out.push('\n');
    for p in points {
        for (f, v) in &p.settings {
            let _ = write!(out, "{:>w$} ", v, w = width(f));
        }
        let _ = write!(out, "{:>6} ", p.summary.failing_seeds.len());
        for c in columns {
            let cell = p.cell(c).map_or("-".to_string(), |v| format!("{v:.2}"));
            let _ = write!(out, "{:>w$} ", cell, w = width(c));
        }
        out.push('\n');
    }
    let failing: Vec<String> = points
        .iter()
        .flat_map(|p| {
            p.summary.failing_seeds.iter().map(move |(seed, why)| {
                let settings: Vec<String> = p
                    .settings
                    .iter()
                    .map(|(f, v)| format!("--{f} {v}"))
                    .collect();
                format!("  {} --seed {seed}: {why}", settings.join(" "))
            })
        })
        .collect();
    if failing.is_empty() {
        out.push_str("\nALL VALID\n");
    } else {
        out.push_str("\nFAILING RUNS (replay with these flags):\n");
        out.push_str(&failing.join("\n"));
        out.push('\n');
    }
    out
}

/// The trade-off charts: for each column (latencies by default), messages
/// per operation (x) against that column (y, labelled with its metric's
/// unit), one line per value of the first axis through the values of the
/// others.
pub fn plots(points: &[SweepPoint], columns: &[String]) -> Vec<Plot> {
    let Some(first) = points.first() else {
        return Vec::new();
    };
    let Some((line_flag, _)) = first.settings.first() else {
        return Vec::new();
    };
    let mut lines: Vec<(String, Vec<&SweepPoint>)> = Vec::new();
    for p in points {
        let key = p.settings[0].1.clone();
        match lines.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(p),
            None => lines.push((key, vec![p])),
        }
    }
    columns
        .iter()
        .filter(|c| c.as_str() != "msgs-per-op")
        .map(|metric| {
            let series = lines
                .iter()
                .map(|(value, pts)| {
                    let mut points: Vec<(f64, f64)> = pts
                        .iter()
                        .filter_map(|p| Some((p.cell("msgs-per-op")?, p.cell(metric)?)))
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Series::new(format!("{line_flag} {value}"), points)
                })
                .collect();
            let unit = points.iter().find_map(|p| p.unit(metric)).unwrap_or("");
            let y_label = if unit.is_empty() {
                metric.clone()
            } else {
                format!("{metric} ({unit})")
            };
            Plot::lines(
                &format!("Trade-off: messages per operation against {metric}"),
                "msgs-per-op",
                &y_label,
                series,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_and_expand_first_axis_slowest() {
        let a = Axis::parse("--fanout=1, 2").unwrap();
        assert_eq!(a.flag, "fanout");
        assert_eq!(a.values, ["1", "2"]);
        assert!(Axis::parse("fanout").is_err());
        assert!(Axis::parse("fanout=").is_err());
        let b = Axis::parse("gossip-interval-ms=50,100,200").unwrap();
        let g = grid(&[a, b]);
        assert_eq!(g.len(), 6);
        assert_eq!(
            g[1],
            [
                ("fanout".to_string(), "1".to_string()),
                ("gossip-interval-ms".to_string(), "100".to_string())
            ]
        );
        assert_eq!(g[3][0].1, "2");
        assert_eq!(grid(&[]), vec![Vec::<(String, String)>::new()]);
    }

    #[test]
    fn cells_are_medians_worst_seeds_for_maxima_or_the_named_statistic() {
        let spread = |name: &str| Spread {
            name: name.into(),
            unit: "ms".into(),
            runs: 3,
            min: 1.0,
            p50: 2.0,
            p99: 9.0,
            max: 10.0,
            mean: 4.0,
        };
        let point = SweepPoint {
            settings: vec![("fanout".into(), "2".into())],
            summary: Summary {
                workload: "w".into(),
                seeds: vec![1, 2, 3],
                failing_seeds: vec![],
                metrics: vec![spread("latency"), spread("latency max")],
            },
        };
        assert_eq!(point.cell("latency"), Some(2.0));
        assert_eq!(point.cell("latency max"), Some(10.0));
        assert_eq!(point.cell("latency:p99"), Some(9.0));
        assert_eq!(point.cell("latency max:min"), Some(1.0));
        assert_eq!(point.cell("latency:mean"), Some(4.0));
        assert_eq!(point.cell("nothing"), None);
    }

    #[test]
    fn trade_off_charts_label_y_with_the_metrics_own_unit() {
        let spread = |name: &str, unit: &str| Spread {
            name: name.into(),
            unit: unit.into(),
            runs: 1,
            min: 1.0,
            p50: 1.0,
            p99: 1.0,
            max: 1.0,
            mean: 1.0,
        };
        let point = |fanout: &str| SweepPoint {
            settings: vec![("fanout".into(), fanout.into())],
            summary: Summary {
                workload: "w".into(),
                seeds: vec![1],
                failing_seeds: vec![],
                metrics: vec![
                    spread("msgs-per-op", ""),
                    spread("latency", "ms"),
                    spread("bytes-per-op", "B"),
                    spread("ops", ""),
                ],
            },
        };
        let columns: Vec<String> = ["msgs-per-op", "latency:p99", "bytes-per-op", "ops"]
            .map(String::from)
            .into();
        let labels: Vec<String> = plots(&[point("1"), point("2")], &columns)
            .into_iter()
            .map(|p| p.y.label)
            .collect();
        assert_eq!(labels, ["latency:p99 (ms)", "bytes-per-op (B)", "ops"]);
    }
}
