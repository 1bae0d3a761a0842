//! Pictures of a run, as one self-contained HTML page with inline SVG: no
//! scripts, no external files, so it opens anywhere (and renders the same
//! in a headless browser).
//!
//! - this module: [`html`], a page of charts (the sweep's); what a chart
//!   is ([`Plot`], [`Series`], their axes and styles) is `crate::figure`.
//! - [`ticks`]: round axis ticks (1, 2, 5 × 10^k; powers of ten).
//! - [`chart`]: one chart as SVG, over a run's [`TimeFrame`] when its x axis
//!   is run time.
//! - [`timeline`]: the run's time frame: its span, fault bands and phases.
//! - [`ops`]: Maelstrom's pictures of client operations (latency, latency
//!   quantiles, rate) and the messages per second.
//! - [`diagram`]: the message (Lamport) diagram of a window of the run.
//! - [`ops_window`]: a checker's window of operations, a lane per client.
//! - [`page`]: the report page a user opens first.
//!
//! The charts are drawn by hand rather than with a plotting crate: they need
//! tooltips (`<title>`) on fault bands and dropped messages and a shared
//! time frame, which a drawing backend of lines and text cannot give.

pub mod chart;
pub mod diagram;
pub mod ops;
pub mod ops_window;
pub mod page;
pub mod ticks;
pub mod timeline;

pub use crate::figure::{
    Mark, OpBar, OpsWindow, Plot, PlotKind, Scale, Series, Stroke, Style, XAxis, YAxis,
};
pub use timeline::TimeFrame;

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
