//! What a chart is, as data: named series of points over an x and a y
//! axis, or samples for a histogram. Checkers build them; `crate::plots`
//! draws them.

use serde::Serialize;

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

/// A window of the history as bars: a lane per client, each operation a
/// bar from its invocation to its completion (Knossos's `linear.svg`).
/// A checker draws one to show which operations no order explains.
#[derive(Debug, Clone, Serialize)]
pub struct OpsWindow {
    pub title: String,
    /// One per lane, top to bottom (`c4 at n0`).
    pub lanes: Vec<String>,
    pub bars: Vec<OpBar>,
    /// Under the picture (empty: none).
    pub caption: String,
}

/// One operation of an [`OpsWindow`].
#[derive(Debug, Clone, Serialize)]
pub struct OpBar {
    /// An index into [`OpsWindow::lanes`].
    pub lane: usize,
    /// Seconds since the run started.
    pub invoke_s: f64,
    /// `None`: it never completed (indeterminate), so it may have taken
    /// effect at any time after its invocation.
    pub complete_s: Option<f64>,
    /// On the bar: `write 3`, `cas 1→2`, `read 2`.
    pub label: String,
    /// The tooltip: the whole operation in words.
    pub detail: String,
    /// The operation the explanation ends at (the checker got stuck at its
    /// completion): drawn outlined.
    pub stuck: bool,
}
