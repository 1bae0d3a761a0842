//! One chart as an SVG element, drawn at a fixed width and scaled by the
//! page (`viewBox`, width 100 %): every chart has the same plot area left
//! and right, so the x axes of the time charts of a page line up exactly.
//!
//! Only data marks are coloured; text, axes, grid, fault bands and phase
//! lines are grey or pale, so a screenshot shows where the data is.

use std::fmt::Write as _;

use super::ticks::{self, Ticks};
use super::timeline::TimeFrame;
use super::{Mark, Plot, PlotKind, Scale, Series, Stroke, esc};
use crate::report::FaultAction;

/// The width every chart is drawn at (the page's widest).
pub const WIDTH: f64 = 1100.0;
/// The plot area's edges: room for the y tick labels and y label on the
/// left, for the last x tick label on the right.
pub const LEFT: f64 = 78.0;
pub const RIGHT: f64 = WIDTH - 28.0;
const PLOT_HEIGHT: f64 = 240.0;
const LEGEND_ROW: f64 = 18.0;
const MAX_X_TICKS: usize = 12;
const MAX_Y_TICKS: usize = 6;
/// Lines with at most this many points get a dot on each.
const MARKED_POINTS: usize = 60;

/// Colours of series: distinct, and saturated enough to tell from grey (a
/// workload with its client messages has a dozen types).
pub const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#e7298a", "#1b9e77", "#7570b3",
];
/// Pale red: a partition, behind the data.
pub const FAULT_FILL: &str = "#f2dede";
const KILL_FILL: &str = "#e0d4ec";
const PAUSE_FILL: &str = "#f6ecc8";
const CLOCK_FILL: &str = "#d6e6f2";
const FAULT_TEXT: &str = "#a08888";

/// A fault band's colour: partitions pink, kills lilac, pauses sand,
/// clock faults pale blue.
fn fault_fill(kind: FaultAction) -> &'static str {
    match kind {
        FaultAction::Kill | FaultAction::Restart => KILL_FILL,
        FaultAction::Pause | FaultAction::Resume => PAUSE_FILL,
        FaultAction::ClockBump | FaultAction::ClockStrobe | FaultAction::ClockReset => CLOCK_FILL,
        _ => FAULT_FILL,
    }
}

/// Which line of a band's label it takes, so overlapping bands' labels do
/// not cover each other.
fn fault_row(kind: FaultAction) -> f64 {
    match kind {
        FaultAction::Kill | FaultAction::Restart => 1.0,
        FaultAction::Pause | FaultAction::Resume => 2.0,
        FaultAction::ClockBump | FaultAction::ClockStrobe | FaultAction::ClockReset => 3.0,
        _ => 0.0,
    }
}
const PHASE_STROKE: &str = "#666";

pub fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// The width of `text` at `size` px, estimated (no font metrics here): an
/// average sans-serif glyph is about 0.55 em wide.
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.55
}

/// A linear or log mapping of data values onto pixels.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    scale: Scale,
    /// Pixels at `lo` and `hi`.
    from: f64,
    to: f64,
}

impl Axis {
    fn at(&self, v: f64) -> f64 {
        let f = match self.scale {
            Scale::Linear => (v - self.lo) / (self.hi - self.lo),
            Scale::Log => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
        };
        self.from + f * (self.to - self.from)
    }
}

/// The y axis's range and its ticks, each with its label when it has one
/// (a log axis labels only some).
fn y_ticks(plot: &Plot, values: &[f64]) -> (f64, f64, Vec<(f64, Option<String>)>) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    match plot.y.scale {
        Scale::Linear => {
            let (lo, hi) = finite.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            let t = ticks::covering(lo, hi, MAX_Y_TICKS);
            let marks = t
                .values
                .iter()
                .map(|&v| (v, Some(ticks::label(v, t.step))))
                .collect();
            (t.values[0], *t.values.last().expect("two ticks"), marks)
        }
        Scale::Log => {
            let positive: Vec<f64> = finite.filter(|&v| v > 0.0).collect();
            let lo = positive.iter().copied().fold(f64::MAX, f64::min);
            let hi = positive.iter().copied().fold(f64::MIN, f64::max);
            let t = ticks::log_covering(lo, hi);
            let marks = t
                .values
                .iter()
                .map(|&v| {
                    let labelled = t.labelled.iter().any(|l| (l / v - 1.0).abs() < 1e-9);
                    (v, labelled.then(|| ticks::log_label(v)))
                })
                .collect();
            (10f64.powi(t.from), 10f64.powi(t.to), marks)
        }
    }
}

/// Samples binned into round bins (a 1, 2 or 5 × 10^k width, about 40 of
/// them): (from, to, count).
pub fn bins(samples: &[f64]) -> Vec<(f64, f64, f64)> {
    let finite: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Vec::new();
    }
    let lo = finite.iter().copied().fold(f64::MAX, f64::min);
    let hi = finite.iter().copied().fold(f64::MIN, f64::max);
    let width = ticks::round_step((hi - lo) / 40.0);
    let start = (lo / width + 1e-9).floor() * width;
    let n = (((hi - start) / width + 1e-9).floor() as usize + 1).max(1);
    let mut counts = vec![0.0; n];
    for v in finite {
        let i = (((v - start) / width + 1e-9).floor() as usize).min(n - 1);
        counts[i] += 1.0;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let from = start + i as f64 * width;
            (from, from + width, c)
        })
        .collect()
}

/// The legend's items laid out in rows from the left edge of the plot
/// area: (x, row) per series.
fn legend_layout(series: &[Series]) -> Vec<(f64, usize)> {
    let mut x = LEFT;
    let mut row = 0;
    series
        .iter()
        .map(|s| {
            let width = 28.0 + text_width(&s.name, 12.0) + 18.0;
            if x + width > RIGHT && x > LEFT {
                x = LEFT;
                row += 1;
            }
            let at = (x, row);
            x += width;
            at
        })
        .collect()
}

fn dash(stroke: Stroke) -> &'static str {
    match stroke {
        Stroke::Solid => "",
        Stroke::Dashed => r#" stroke-dasharray="7 4""#,
        Stroke::Dotted => r#" stroke-dasharray="2 3""#,
        Stroke::Faint => r#" stroke-opacity="0.45""#,
    }
}

fn stroke_width(stroke: Stroke) -> f64 {
    match stroke {
        Stroke::Faint => 1.0,
        _ => 1.6,
    }
}

/// Marks at `points` (pixels), as few elements as possible: thousands of
/// operations draw as one path.
fn marks(out: &mut String, points: &[(f64, f64)], mark: Mark, colour: &str) {
    if points.is_empty() {
        return;
    }
    let mut d = String::new();
    match mark {
        Mark::None => {}
        Mark::Auto | Mark::Dot => {
            // A zero-length segment with a round cap is a dot.
            for (x, y) in points {
                let _ = write!(d, "M{x:.1} {y:.1}h0");
            }
            let _ = write!(
                out,
                r#"<path d="{d}" stroke="{colour}" stroke-width="5" stroke-linecap="round" stroke-opacity="0.8"/>"#
            );
        }
        Mark::Ring => {
            for (x, y) in points {
                let _ = write!(d, "M{:.1} {y:.1}a3 3 0 1 0 6 0a3 3 0 1 0 -6 0", x - 3.0);
            }
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="1.3"/>"#
            );
        }
        Mark::Cross => {
            for (x, y) in points {
                let _ = write!(
                    d,
                    "M{:.1} {:.1}l7 7M{:.1} {:.1}l7 -7",
                    x - 3.5,
                    y - 3.5,
                    x - 3.5,
                    y + 3.5
                );
            }
            let _ = write!(
                out,
                r#"<path d="{d}" stroke="{colour}" stroke-width="1.6"/>"#
            );
        }
    }
}

/// A legend swatch: a short line in the series' stroke for lines, and its
/// mark when it has one.
fn swatch(out: &mut String, x: f64, y: f64, s: &Series, kind: PlotKind, colour: &str) {
    if kind == PlotKind::Lines {
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="{}"{}/>"#,
            x + 22.0,
            stroke_width(s.style.stroke),
            dash(s.style.stroke)
        );
    }
    let explicit = matches!(s.style.mark, Mark::Dot | Mark::Ring | Mark::Cross);
    if kind == PlotKind::Points || explicit {
        marks(out, &[(x + 11.0, y)], s.style.mark, colour);
    }
}

/// `plot` as one `<svg>`. A chart over run time spans `frame` (0 to the
/// run's end, with its fault bands and phase lines) when given, and its
/// own data otherwise. Time charts carry `data-x-from`/`data-x-to`, the
/// span they show.
pub fn svg(plot: &Plot, frame: Option<&TimeFrame>) -> String {
    let histogram = plot.kind == PlotKind::Histogram;
    let bars = if histogram {
        bins(
            &plot
                .series
                .first()
                .map(|s| s.points.iter().map(|p| p.0).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
    } else {
        Vec::new()
    };
    let drawable = |&(x, y): &(f64, f64)| {
        x.is_finite() && y.is_finite() && (plot.y.scale == Scale::Linear || y > 0.0)
    };
    let data: Vec<(f64, f64)> = if histogram {
        bars.iter()
            .flat_map(|&(a, b, c)| [(a, c), (b, 0.0)])
            .collect()
    } else {
        plot.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(drawable)
            .collect()
    };
    let empty = data.is_empty();

    // The x axis: the run's span for time charts, the data's otherwise.
    let over_time = plot.is_over_time();
    let (x_lo, x_hi, x_ticks): (f64, f64, Ticks) = if over_time {
        let end = match frame {
            Some(f) => f.end_s,
            None => data.iter().map(|p| p.0).fold(0.0, f64::max),
        };
        let end = if end > 0.0 { end } else { 1.0 };
        (0.0, end, ticks::within(0.0, end, MAX_X_TICKS))
    } else {
        let lo = data.iter().map(|p| p.0).fold(f64::MAX, f64::min);
        let hi = data.iter().map(|p| p.0).fold(f64::MIN, f64::max);
        let t = if empty {
            ticks::covering(0.0, 1.0, MAX_X_TICKS)
        } else {
            ticks::covering(lo, hi, MAX_X_TICKS)
        };
        (t.values[0], *t.values.last().expect("two ticks"), t)
    };

    let legend: Vec<(f64, usize)> = if histogram {
        Vec::new()
    } else {
        legend_layout(&plot.series)
    };
    let rows = legend.iter().map(|l| l.1 + 1).max().unwrap_or(0);
    let top = 34.0 + rows as f64 * LEGEND_ROW + 6.0;
    let bottom = top + PLOT_HEIGHT;
    let height = bottom + 46.0;

    let x = Axis {
        lo: x_lo,
        hi: x_hi,
        scale: Scale::Linear,
        from: LEFT,
        to: RIGHT,
    };
    let mut out = String::new();
    let time_attrs = if over_time {
        // Microseconds: the run's clock, without floating-point noise.
        let us = |v: f64| (v * 1e6).round() / 1e6;
        format!(r#" data-x-from="{}" data-x-to="{}""#, us(x_lo), us(x_hi))
    } else {
        String::new()
    };
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart{}"{time_attrs} role="img" aria-label="{}" font-family="sans-serif" font-size="12">"#,
        if over_time { " time" } else { "" },
        esc(&plot.title)
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
        esc(&plot.title)
    );

    // Fault bands and phase lines first: the data is drawn over them.
    if let (true, Some(frame)) = (over_time, frame) {
        out.push_str(r#"<g class="faults">"#);
        for band in &frame.faults {
            let (a, b) = (
                x.at(band.from.as_secs_f64().clamp(x_lo, x_hi)),
                x.at(band.to.as_secs_f64().clamp(x_lo, x_hi)),
            );
            let fill = fault_fill(band.kind);
            let _ = write!(
                out,
                r#"<rect x="{a:.1}" y="{top:.1}" width="{:.1}" height="{PLOT_HEIGHT}" fill="{fill}" fill-opacity="0.7"><title>{}</title></rect>"#,
                (b - a).max(1.0),
                esc(&band.describe())
            );
            if b - a > 60.0 {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{FAULT_TEXT}">{}</text>"#,
                    a + 4.0,
                    bottom - 5.0 - 12.0 * fault_row(band.kind),
                    band.kind
                );
            }
        }
        out.push_str("</g>");
    }

    // Grid, ticks and axes.
    let _ = write!(out, r#"<g class="x-ticks">"#);
    for &v in &x_ticks.values {
        let px = x.at(v);
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            bottom + 16.0,
            ticks::label(v, x_ticks.step)
        );
    }
    out.push_str("</g>");
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
        (LEFT + RIGHT) / 2.0,
        height - 8.0,
        esc(plot.x.label())
    );
    let mid = (top + bottom) / 2.0;
    let _ = write!(
        out,
        r##"<text x="16" y="{mid:.1}" transform="rotate(-90 16 {mid:.1})" text-anchor="middle" fill="#444">{}</text>"##,
        esc(&plot.y.label)
    );

    if empty {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{bottom:.1}" x2="{RIGHT}" y2="{bottom:.1}" stroke="#333"/><text x="{:.1}" y="{mid:.1}" text-anchor="middle" fill="#666">no data</text>"##,
            (LEFT + RIGHT) / 2.0
        );
        phases(&mut out, plot, frame, &x, top, bottom);
        out.push_str("</svg>");
        return out;
    }

    let ys: Vec<f64> = data.iter().map(|p| p.1).collect();
    let (y_lo, y_hi, y_marks) = y_ticks(plot, &ys);
    let y = Axis {
        lo: y_lo,
        hi: y_hi,
        scale: plot.y.scale,
        from: bottom,
        to: top,
    };
    out.push_str(r#"<g class="y-ticks">"#);
    for (v, label) in &y_marks {
        let py = y.at(*v);
        let grid = if label.is_some() {
            "#e2e2e2"
        } else {
            "#f2f2f2"
        };
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{py:.1}" x2="{RIGHT}" y2="{py:.1}" stroke="{grid}"/>"#
        );
        if let Some(label) = label {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{label}</text>"##,
                LEFT - 6.0,
                py + 4.0
            );
        }
    }
    out.push_str("</g>");
    let _ = write!(
        out,
        r##"<path d="M{LEFT} {top:.1}V{bottom:.1}H{RIGHT}" fill="none" stroke="#333"/>"##
    );

    out.push_str(r#"<g class="marks">"#);
    if histogram {
        for &(a, b, c) in &bars {
            if c > 0.0 {
                let _ = write!(
                    out,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                    x.at(a),
                    y.at(c),
                    (x.at(b) - x.at(a) - 1.0).max(1.0),
                    y.at(0.0) - y.at(c),
                    colour(0)
                );
            }
        }
    }
    for (i, s) in plot.series.iter().enumerate().filter(|_| !histogram) {
        let c = colour(s.style.colour.unwrap_or(i));
        match plot.kind {
            PlotKind::Points => {
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .filter(|p| drawable(p) && p.0 >= x_lo && p.0 <= x_hi)
                    .map(|&(px, py)| (x.at(px), y.at(py)))
                    .collect();
                marks(&mut out, &pts, s.style.mark, c);
            }
            PlotKind::Lines | PlotKind::Histogram => {
                // Runs of drawable points; a gap (an empty bucket) breaks
                // the line.
                let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
                for p in &s.points {
                    if drawable(p) {
                        let px = x.at(p.0.clamp(x_lo, x_hi));
                        runs.last_mut().expect("a run").push((px, y.at(p.1)));
                    } else if !runs.last().expect("a run").is_empty() {
                        runs.push(Vec::new());
                    }
                }
                let sparse = s.points.len() <= MARKED_POINTS;
                for run in runs.iter().filter(|r| !r.is_empty()) {
                    if run.len() > 1 {
                        let path: Vec<String> =
                            run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                        let _ = write!(
                            out,
                            r#"<polyline fill="none" stroke="{c}" stroke-width="{}"{} points="{}"/>"#,
                            stroke_width(s.style.stroke),
                            dash(s.style.stroke),
                            path.join(" ")
                        );
                    }
                    // A line through one point draws nothing, and sparse
                    // series read better with their samples marked.
                    let mark = match s.style.mark {
                        Mark::Auto if sparse || run.len() == 1 => Mark::Dot,
                        Mark::Auto => Mark::None,
                        Mark::None if run.len() == 1 => Mark::Dot,
                        other => other,
                    };
                    marks(&mut out, run, mark, c);
                }
            }
        }
    }
    out.push_str("</g>");
    phases(&mut out, plot, frame, &x, top, bottom);

    if !legend.is_empty() {
        out.push_str(r#"<g class="legend">"#);
        for (s, (i, &(lx, row))) in plot.series.iter().zip(legend.iter().enumerate()) {
            let c = colour(s.style.colour.unwrap_or(i));
            let ly = 34.0 + row as f64 * LEGEND_ROW;
            swatch(&mut out, lx, ly, s, plot.kind, c);
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
                lx + 28.0,
                ly + 4.0,
                esc(&s.name)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// The run's phases as thin dashed lines across the plot area, labelled at
/// the top (staggered, as phases can be close together).
fn phases(
    out: &mut String,
    plot: &Plot,
    frame: Option<&TimeFrame>,
    x: &Axis,
    top: f64,
    bottom: f64,
) {
    let Some(frame) = frame.filter(|_| plot.is_over_time()) else {
        return;
    };
    if frame.phases.is_empty() {
        return;
    }
    out.push_str(r#"<g class="phases">"#);
    for (i, mark) in frame.phases.iter().enumerate() {
        let at = mark.at.as_secs_f64();
        if at < x.lo || at > x.hi {
            continue;
        }
        let px = x.at(at);
        let label = mark.phase.label();
        // Labels near the right edge go to the left of their line.
        let (lx, anchor) = if px + text_width(label, 10.0) + 4.0 > RIGHT {
            (px - 3.0, "end")
        } else {
            (px + 3.0, "start")
        };
        let _ = write!(
            out,
            r#"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="{PHASE_STROKE}" stroke-dasharray="3 3"><title>{label} at {at:.3} s</title></line><text x="{lx:.1}" y="{:.1}" font-size="10" text-anchor="{anchor}" fill="{PHASE_STROKE}">{label}</text>"#,
            top + 11.0 + 11.0 * (i % 3) as f64
        );
    }
    out.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::Series;
    use crate::plots::timeline::{FaultBand, Phase, PhaseMark};
    use std::time::Duration;

    fn lines() -> Plot {
        Plot::over_time(
            "msgs/s",
            "messages / s",
            vec![Series::new(
                "gossip <x>",
                vec![(0.5, 1.0), (1.5, 3.0), (2.5, 2.0)],
            )],
        )
    }

    #[test]
    fn lines_points_histograms_and_empty_charts() {
        let s = svg(&lines(), None);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains(r#"viewBox="0 0 1100 "#), "{s}");
        assert!(s.contains("<polyline"));
        assert!(s.contains("gossip &lt;x&gt;"));
        // Three sparse points: three dots (in one path); the legend shows
        // the line.
        assert_eq!(s.matches("h0").count(), 3, "{s}");
        // Without a frame a time chart spans its data, from 0.
        assert!(s.contains(r#"data-x-from="0" data-x-to="2.5""#), "{s}");

        let one = Plot::over_time("one", "m", vec![Series::new("g", vec![(0.5, 68.0)])]);
        assert!(svg(&one, None).contains("h0"), "a single point is drawn");

        let h = svg(
            &Plot::histogram("latency", "latency (ms)", &[1.0, 2.0, 2.0, 9.0]),
            None,
        );
        // Bins of a round width (0.2 ms here), empty ones not drawn.
        assert_eq!(h.matches("<rect").count(), 3, "{h}");
        assert!(!h.contains("data-x-from"), "not a time chart");
        assert!(!h.contains(r#"class="legend""#));
        let e = svg(&Plot::histogram("none", "ms", &[]), None);
        assert!(e.contains(">no data<"));
    }

    /// The browser test finds charts by their coloured pixels: every
    /// series colour must be saturated, and nothing drawn behind the data.
    #[test]
    fn only_data_marks_are_coloured() {
        let spread = |hex: &str| {
            let hex = hex.trim_start_matches('#');
            let channel = |i: usize| {
                if hex.len() == 3 {
                    u8::from_str_radix(&hex[i..=i].repeat(2), 16).unwrap()
                } else {
                    u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()
                }
            };
            let rgb = [channel(0), channel(1), channel(2)];
            rgb.iter().max().unwrap() - rgb.iter().min().unwrap()
        };
        for c in PALETTE {
            assert!(spread(c) > 60, "{c} is too grey for a series");
        }
        for c in [FAULT_FILL, FAULT_TEXT, PHASE_STROKE] {
            assert!(spread(c) <= 60, "{c} would look like data");
        }
    }

    #[test]
    fn histogram_bins_are_round_and_hold_every_sample() {
        let samples = [0.3, 1.0, 2.0, 2.0, 9.0, 9.99];
        let b = bins(&samples);
        let width = b[0].1 - b[0].0;
        assert!((width - 0.5).abs() < 1e-9, "{b:?}");
        assert!(b.len() <= 41);
        assert_eq!(b.iter().map(|x| x.2).sum::<f64>(), samples.len() as f64);
        assert!(b[0].0 <= 0.3 && b.last().unwrap().1 >= 9.99);
        assert_eq!(bins(&[4.0, 4.0]), [(4.0, 5.0, 2.0)]);
    }

    #[test]
    fn a_frame_draws_faults_and_phases_and_fixes_the_span() {
        let frame = TimeFrame {
            end_s: 10.0,
            faults: vec![FaultBand {
                kind: crate::report::FaultAction::Partition,
                from: Duration::from_secs(2),
                to: Duration::from_secs(4),
                pattern: Some("majority".into()),
                groups: Some("[n0] | [n1 n2]".into()),
                clocks: Vec::new(),
                healed: true,
            }],
            phases: vec![PhaseMark {
                phase: Phase::SetupDone,
                at: Duration::from_millis(300),
            }],
        };
        let s = svg(&lines(), Some(&frame));
        assert!(s.contains(r#"data-x-from="0" data-x-to="10""#), "{s}");
        assert!(s.contains("<title>partition 2.000–4.000 s (majority): [n0] | [n1 n2]</title>"));
        assert!(s.contains("setup done at 0.300 s"));
        // The band spans 2..4 s of a 0..10 s axis over the plot area.
        let a = LEFT + 0.2 * (RIGHT - LEFT);
        assert!(s.contains(&format!(r#"<rect x="{a:.1}""#)), "{s}");
        // Charts that are not over time ignore the frame.
        let h = svg(&Plot::histogram("h", "ms", &[1.0]), Some(&frame));
        assert!(!h.contains("partition") && !h.contains("setup done"));
    }

    #[test]
    fn log_axes_have_round_ticks_and_skip_zeros() {
        let plot = Plot::points_over_time(
            "latency",
            "latency (ms)",
            vec![Series::new(
                "add ok",
                vec![(0.1, 0.4), (0.2, 35.0), (0.3, 0.0), (0.4, 1200.0)],
            )],
        )
        .log_y();
        let s = svg(&plot, None);
        for label in [">0.1<", ">1<", ">10<", ">100<", ">1000<", ">10000<"] {
            assert!(s.contains(label), "{label} in {s}");
        }
        // Three positive latencies drawn, the zero not (log axis), plus the
        // legend's dot.
        assert_eq!(s.matches("h0").count(), 4, "{s}");
    }

    #[test]
    fn gaps_break_lines() {
        let plot = Plot::over_time(
            "p50",
            "ms",
            vec![
                Series::new(
                    "add p50",
                    vec![
                        (0.5, 1.0),
                        (1.5, 2.0),
                        (2.5, f64::NAN),
                        (3.5, 3.0),
                        (4.5, 1.0),
                    ],
                )
                .mark(Mark::None),
            ],
        );
        let s = svg(&plot, None);
        assert_eq!(s.matches("<polyline").count(), 2, "{s}");
    }
}
