//! Pictures of a run, as one self-contained HTML page with inline SVG: no
//! scripts, no external files, so it opens anywhere (and renders the same
//! in a headless browser).
//!
//! - this module: what a chart is ([`Plot`], [`Series`], their axes and
//!   styles), and [`html`], a page of charts (the sweep's).
//! - [`ticks`]: round axis ticks (1, 2, 5 × 10^k; powers of ten).
//! - [`chart`]: one chart as SVG, over a run's [`TimeFrame`] when its x axis
//!   is run time.
//! - [`timeline`]: the run's time frame: its span, fault bands and phases.
//! - [`ops`]: Maelstrom's pictures of client operations (latency, latency
//!   quantiles, rate) and the messages per second.
//! - [`diagram`]: the message (Lamport) diagram of a window of the run.
//! - [`page`]: the report page a user opens first.
//!
//! The charts are drawn by hand rather than with a plotting crate: they need
//! tooltips (`<title>`) on fault bands and dropped messages and a shared
//! time frame, which a drawing backend of lines and text cannot give.

pub mod chart;
pub mod diagram;
pub mod ops;
pub mod page;
pub mod ticks;
pub mod timeline;

use serde::Serialize;

pub use timeline::TimeFrame;

/// A chart: several named series of (x, y) points, drawn as lines or as
/// marks, or one series of samples drawn as a histogram.
#[derive(Debug, Clone, Serialize)]
pub struct Plot {
    pub title: String,
    pub x: XAxis,
    pub y: YAxis,
    pub kind: PlotKind,
    pub series: Vec<Series>,
    /// What the chart shows and how it was computed, under it (empty:
    /// none).
    pub caption: String,
}

/// What a chart's x axis measures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    /// Seconds since the run started. On a report page every such chart
    /// spans the whole run, with its faults and phases drawn in.
    RunTime,
    /// Anything else, labelled with its unit (`latency (ms)`).
    Value { label: String },
}

impl XAxis {
    pub fn label(&self) -> &str {
        match self {
            XAxis::RunTime => "time (s)",
            XAxis::Value { label } => label,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YAxis {
    /// With its unit: `messages / s`.
    pub label: String,
    pub scale: Scale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Linear,
    /// Powers of ten; values at or below zero are not drawn.
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    /// Points joined in order; a point whose y is not a number breaks the
    /// line (an empty time bucket).
    Lines,
    /// One mark per point, unjoined (a point per operation).
    Points,
    /// `series[0].points` are samples `(value, 1.0)`, binned along x.
    Histogram,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

/// How a series is drawn. Several series can share a colour (one per
/// operation type) and differ by stroke or mark (one per outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Style {
    /// An index into the palette; `None`: the series' own position.
    pub colour: Option<usize>,
    pub stroke: Stroke,
    pub mark: Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stroke {
    #[default]
    Solid,
    Dashed,
    Dotted,
    /// Thin and pale: a bound (a maximum) behind the lines that matter.
    Faint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Lines: a dot on each point of a sparse series (a line through one
    /// point draws nothing). Points: a dot.
    #[default]
    Auto,
    /// A filled dot.
    Dot,
    /// An open circle.
    Ring,
    /// A ✕.
    Cross,
    /// No marks.
    None,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            style: Style::default(),
        }
    }

    pub fn colour(mut self, index: usize) -> Series {
        self.style.colour = Some(index);
        self
    }

    pub fn stroke(mut self, stroke: Stroke) -> Series {
        self.style.stroke = stroke;
        self
    }

    pub fn mark(mut self, mark: Mark) -> Series {
        self.style.mark = mark;
        self
    }
}

impl Plot {
    /// Lines over any x axis (the sweep's trade-offs).
    pub fn lines(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Plot {
        Plot {
            title: title.into(),
            x: XAxis::Value {
                label: x_label.into(),
            },
            y: YAxis {
                label: y_label.into(),
                scale: Scale::Linear,
            },
            kind: PlotKind::Lines,
            series,
            caption: String::new(),
        }
    }

    /// Lines over the run's time (x in seconds since the start): drawn over
    /// the whole run, aligned with every other time chart of the page.
    pub fn over_time(title: &str, y_label: &str, series: Vec<Series>) -> Plot {
        Plot {
            x: XAxis::RunTime,
            ..Plot::lines(title, "", y_label, series)
        }
    }

    /// One mark per point over the run's time.
    pub fn points_over_time(title: &str, y_label: &str, series: Vec<Series>) -> Plot {
        Plot {
            kind: PlotKind::Points,
            ..Plot::over_time(title, y_label, series)
        }
    }

    pub fn histogram(title: &str, x_label: &str, samples: &[f64]) -> Plot {
        Plot {
            kind: PlotKind::Histogram,
            ..Plot::lines(
                title,
                x_label,
                "count",
                vec![Series::new(
                    title,
                    samples.iter().map(|&v| (v, 1.0)).collect(),
                )],
            )
        }
    }

    pub fn log_y(mut self) -> Plot {
        self.y.scale = Scale::Log;
        self
    }

    pub fn caption(mut self, caption: impl Into<String>) -> Plot {
        self.caption = caption.into();
        self
    }

    pub fn is_over_time(&self) -> bool {
        self.x == XAxis::RunTime
    }
}

/// Escapes text for HTML and SVG.
pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page's style: charts scale to the page width (never wider than
/// they were drawn), so nothing scrolls sideways.
pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:16px auto;padding:0 16px;max-width:1100px;color:#222}\
pre{background:#f6f6f6;padding:12px;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px}\
figure{margin:28px 0}figure svg{display:block;width:100%;height:auto;max-width:1100px}\
figcaption{font-size:13px;color:#555;margin-top:4px}p.how,p.missing{font-size:14px;color:#444}\
h2{font-size:17px;margin-top:36px;border-bottom:1px solid #ddd}";

/// The page's head and heading, up to the opened body.
pub(crate) fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = esc(title)
    )
}

/// One chart in its figure, with its caption.
pub(crate) fn figure(svg: &str, caption: &str) -> String {
    if caption.is_empty() {
        format!("<figure>{svg}</figure>")
    } else {
        format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>",
            esc(caption)
        )
    }
}

/// A page of charts under a preformatted text (the sweep's table): charts
/// over run time span their own data, as there is no run to align them to.
pub fn html(title: &str, report_text: &str, plots: &[Plot]) -> String {
    let mut out = page_start(title);
    out.push_str(&format!("<pre>{}</pre>", esc(report_text)));
    for plot in plots {
        out.push_str(&figure(&chart::svg(plot, None), &plot.caption));
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_charts_escapes_its_text() {
        let lines = Plot::lines(
            "msgs/s",
            "msgs-per-op",
            "latency (ms)",
            vec![Series::new("fanout <2>", vec![(1.0, 3.0), (2.0, 2.0)])],
        );
        let page = html("sweep", "a < b", &[lines]);
        assert!(page.contains("<pre>a &lt; b</pre>"));
        assert!(page.contains("fanout &lt;2&gt;"));
        assert_eq!(page.matches("<figure>").count(), 1);
        assert!(page.contains("<svg") && page.ends_with("</html>\n"));
    }
}
