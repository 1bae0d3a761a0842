//! Pictures of a run, as one self-contained HTML page with inline SVG: no
//! scripts, no external files, so it opens anywhere (and renders the same
//! in a headless browser).

use std::fmt::Write as _;

use serde::Serialize;

/// A chart: several named series of (x, y) points, drawn as lines, or one
/// series of samples drawn as a histogram.
#[derive(Debug, Clone, Serialize)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub kind: PlotKind,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    Lines,
    /// `series[0].points` are samples `(value, 1.0)`, binned along x.
    Histogram,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Plot {
    pub fn lines(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Plot {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            kind: PlotKind::Lines,
            series,
        }
    }

    pub fn histogram(title: &str, x_label: &str, samples: &[f64]) -> Plot {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: "count".into(),
            kind: PlotKind::Histogram,
            series: vec![Series {
                name: title.into(),
                points: samples.iter().map(|&v| (v, 1.0)).collect(),
            }],
        }
    }
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const W: f64 = 720.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 160.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 45.0;
/// Series with at most this many points get a dot at each point.
const MARKED_POINTS: usize = 60;

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn nice(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// One chart as an SVG element.
pub fn svg(plot: &Plot) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif" font-size="12">"#,
        W + RIGHT,
        H,
        W + RIGHT,
        H
    );
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(&plot.title)
    );
    let bars = match plot.kind {
        PlotKind::Lines => None,
        PlotKind::Histogram => Some(bins(&plot.series[0].points)),
    };
    let points: Vec<(f64, f64)> = match &bars {
        Some(b) => b
            .iter()
            .flat_map(|&(x0, x1, c)| [(x0, c), (x1, 0.0)])
            .collect(),
        None => plot
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .collect(),
    };
    if points.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{}">no data</text></svg>"#,
            H / 2.0
        );
        return out;
    }
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in &points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - 10.0);
    let sy = |y: f64| H - BOTTOM - y / y1 * (H - TOP - BOTTOM);
    // Axes and ticks.
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{b}" stroke="#333"/>"##,
        b = H - BOTTOM,
        r = W - 10.0
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let (xv, yv) = (x0 + f * (x1 - x0), f * y1);
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="end">{}</text><line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            sx(xv),
            H - BOTTOM + 16.0,
            nice(xv),
            LEFT - 6.0,
            sy(yv) + 4.0,
            nice(yv),
            sy(yv),
            W - 10.0,
            sy(yv)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
        (LEFT + W) / 2.0,
        H - 8.0,
        esc(&plot.x_label),
        H / 2.0,
        H / 2.0,
        esc(&plot.y_label)
    );
    match bars {
        Some(bars) => {
            for (a, b, c) in bars {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
                    sx(a),
                    sy(c),
                    (sx(b) - sx(a) - 1.0).max(1.0),
                    sy(0.0) - sy(c),
                    COLORS[0]
                );
            }
        }
        None => {
            for (i, s) in plot.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let path: Vec<String> = s
                    .points
                    .iter()
                    .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                    .collect();
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
                    path.join(" ")
                );
                // A line through one point draws nothing (a run of one
                // second has one messages-per-second sample), and sparse
                // series read better with their samples marked.
                if s.points.len() <= MARKED_POINTS {
                    for &(x, y) in &s.points {
                        let _ = write!(
                            out,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                            sx(x),
                            sy(y)
                        );
                    }
                }
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
                    W + 5.0,
                    TOP + 16.0 * i as f64,
                    W + 20.0,
                    TOP + 9.0 + 16.0 * i as f64,
                    esc(&s.name)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// Samples binned into at most 40 equal bins: (from, to, count).
fn bins(samples: &[(f64, f64)]) -> Vec<(f64, f64, f64)> {
    if samples.is_empty() {
        return Vec::new();
    }
    let lo = samples.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    let hi = samples.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    let n = 40usize;
    let width = ((hi - lo) / n as f64).max(1e-9);
    let mut counts = vec![0.0; n];
    for &(v, w) in samples {
        let i = (((v - lo) / width) as usize).min(n - 1);
        counts[i] += w;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c))
        .collect()
}

/// The page: a heading, a preformatted report, and the charts.
pub fn html(title: &str, report_text: &str, plots: &[Plot]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:24px;max-width:960px}}pre{{background:#f6f6f6;padding:12px;overflow-x:auto}}figure{{margin:24px 0}}</style>\
         </head><body><h1>{t}</h1><pre>{}</pre>",
        esc(report_text),
        t = esc(title)
    );
    for plot in plots {
        let _ = write!(out, "<figure>{}</figure>", svg(plot));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_lines_histograms_and_empty_charts() {
        let lines = Plot::lines(
            "msgs/s",
            "time (s)",
            "messages",
            vec![Series {
                name: "gossip <x>".into(),
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            }],
        );
        let s = svg(&lines);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("<polyline"));
        assert!(s.contains("gossip &lt;x&gt;"));
        assert_eq!(s.matches("<circle").count(), 3);
        let one = Plot::lines(
            "one second",
            "time (s)",
            "messages",
            vec![Series {
                name: "gossip".into(),
                points: vec![(0.0, 68.0)],
            }],
        );
        assert_eq!(svg(&one).matches("<circle").count(), 1);
        let h = svg(&Plot::histogram("latency", "ms", &[1.0, 2.0, 2.0, 9.0]));
        assert_eq!(h.matches("<rect").count(), 40);
        let e = svg(&Plot::histogram("none", "ms", &[]));
        assert!(e.contains("no data"));
        let page = html("run", "a < b", &[lines]);
        assert!(page.contains("a &lt; b"));
        assert!(page.contains("<svg"));
    }
}
