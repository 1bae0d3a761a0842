//! An [`OpsWindow`] as SVG: a lane per client, time going right, each
//! operation a bar from its invocation to its completion with what it did
//! above it, like Knossos's `linear.svg`. An operation that never
//! completed is an open bar to the window's end (it may have taken effect
//! anywhere on it); the operation the checker could not get past is
//! outlined in red, with a line at its completion.

use std::fmt::Write as _;

use super::chart::{WIDTH, colour, text_width};
use super::{esc, ticks};
use crate::figure::OpsWindow;

const RIGHT: f64 = WIDTH - 24.0;
const TOP: f64 = 44.0;
const LANE: f64 = 38.0;
const BAR: f64 = 14.0;
const STUCK: &str = "#b00000";
/// Lane labels wider than this are cut (a client name is short).
const MAX_LABEL: f64 = 220.0;

/// The picture of `window`.
pub fn svg(window: &OpsWindow) -> String {
    let left = window
        .lanes
        .iter()
        .map(|l| text_width(l, 12.0))
        .fold(40.0, f64::max)
        .min(MAX_LABEL)
        + 16.0;
    let (lo, hi) = span(window);
    // A margin either side, so a bar at the edge shows its ends.
    let pad = (hi - lo) * 0.04;
    let (lo, hi) = (lo - pad, hi + pad);
    let x_of = |t: f64| left + (t - lo) / (hi - lo) * (RIGHT - left);
    let bottom = TOP + window.lanes.len() as f64 * LANE;
    let height = bottom + 30.0;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart ops-window" data-ops="{}" role="img" aria-label="{}" font-family="sans-serif" font-size="12">"#,
        window.bars.len(),
        esc(&window.title)
    );
    let _ = write!(
        out,
        r#"<text x="{left}" y="16" font-size="14" font-weight="bold">{}</text>"#,
        esc(&window.title)
    );

    // The time axis, in milliseconds, at the top and as faint lines.
    let axis = ticks::within(lo * 1000.0, hi * 1000.0, 8);
    for &ms in &axis.values {
        let x = x_of(ms / 1000.0);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP - 6.0,
            TOP - 10.0,
            ticks::label(ms, axis.step)
        );
    }
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#555">ms</text>"##,
        left - 8.0,
        TOP - 10.0
    );

    for (i, lane) in window.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE + LANE / 2.0 + 4.0;
        let _ = write!(
            out,
            r#"<text x="{}" y="{y:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            esc(lane)
        );
    }

    for bar in &window.bars {
        let y = TOP + bar.lane as f64 * LANE + (LANE - BAR) / 2.0 + 6.0;
        let x1 = x_of(bar.invoke_s);
        let x2 = x_of(bar.complete_s.unwrap_or(hi)).max(x1 + 2.0);
        let (fill, stroke, dash) = match (bar.complete_s, bar.stuck) {
            (_, true) => (colour(0), STUCK, ""),
            (Some(_), false) => (colour(0), "#245", ""),
            (None, false) => ("#dde6ee", "#678", r#" stroke-dasharray="4 3""#),
        };
        let width = if bar.stuck { 2.5 } else { 1.0 };
        let _ = write!(
            out,
            r#"<g class="op"><title>{}</title><rect x="{x1:.1}" y="{y:.1}" width="{:.1}" height="{BAR}" rx="2" fill="{fill}" fill-opacity="0.55" stroke="{stroke}" stroke-width="{width}"{dash}/><text x="{x1:.1}" y="{:.1}">{}</text></g>"#,
            esc(&bar.detail),
            x2 - x1,
            y - 4.0,
            esc(&bar.label)
        );
        if let (true, Some(done)) = (bar.stuck, bar.complete_s) {
            let x = x_of(done);
            // The note runs away from the nearer edge, so it is never cut.
            let anchor = if x > (left + RIGHT) / 2.0 {
                "end"
            } else {
                "start"
            };
            let _ = write!(
                out,
                r#"<line class="stuck" x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="{STUCK}" stroke-dasharray="5 3"/><text x="{x:.1}" y="{}" text-anchor="{anchor}" fill="{STUCK}">no order gets past here</text>"#,
                TOP - 2.0,
                bottom + 16.0
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// From the first invocation to the last completion (or invocation, when
/// nothing completed after it).
fn span(window: &OpsWindow) -> (f64, f64) {
    let lo = window
        .bars
        .iter()
        .map(|b| b.invoke_s)
        .fold(f64::INFINITY, f64::min);
    let hi = window
        .bars
        .iter()
        .map(|b| b.complete_s.unwrap_or(b.invoke_s))
        .fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    // An instant (or a window of indeterminate bars alone) still gets width.
    (lo, if hi > lo { hi } else { lo + 0.001 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::OpBar;

    fn bar(lane: usize, invoke_s: f64, complete_s: Option<f64>, label: &str) -> OpBar {
        OpBar {
            lane,
            invoke_s,
            complete_s,
            label: label.into(),
            detail: format!("c{lane} {label} <detail>"),
            stuck: false,
        }
    }

    #[test]
    fn every_operation_is_a_bar_in_its_clients_lane_and_the_stuck_one_is_marked() {
        let mut stuck = bar(1, 0.040, Some(0.050), "read 1");
        stuck.stuck = true;
        let window = OpsWindow {
            title: "key 0".into(),
            lanes: vec!["c2 at n0".into(), "c3 at n1".into()],
            bars: vec![
                bar(0, 0.020, Some(0.030), "write 2"),
                stuck,
                bar(0, 0.035, None, "cas 2→3"),
            ],
            caption: String::new(),
        };
        let svg = svg(&window);
        assert_eq!(svg.matches("<g class=\"op\">").count(), 3, "{svg}");
        assert!(svg.contains(">c2 at n0</text>") && svg.contains(">c3 at n1</text>"));
        assert!(svg.contains(">write 2</text>") && svg.contains(">read 1</text>"));
        assert!(svg.contains("&lt;detail&gt;"), "tooltips are escaped");
        assert_eq!(svg.matches("class=\"stuck\"").count(), 1);
        assert_eq!(svg.matches(STUCK).count(), 3, "outline, line, words");
        assert!(svg.contains("stroke-dasharray=\"4 3\""), "the open bar");

        // The stuck read's bar begins right of the write's and lies in the
        // second lane, below the first.
        let rects: Vec<(f64, f64)> = svg
            .split("<rect ")
            .skip(1)
            .map(|r| (attr(r, "x"), attr(r, "y")))
            .collect();
        assert!(
            rects[1].0 > rects[0].0 && rects[1].1 > rects[0].1,
            "{rects:?}"
        );
        // The open bar runs to the window's right end.
        let open = svg.split("<rect ").nth(3).unwrap();
        let end = attr(open, "x") + attr(open, "width");
        assert!(end > RIGHT - 60.0, "{end}");
    }

    #[test]
    fn an_empty_or_instant_window_still_draws() {
        let empty = OpsWindow {
            title: "nothing".into(),
            lanes: vec![],
            bars: vec![],
            caption: String::new(),
        };
        assert!(svg(&empty).ends_with("</svg>"));
        let instant = OpsWindow {
            bars: vec![bar(0, 1.0, Some(1.0), "read")],
            lanes: vec!["c1".into()],
            ..empty
        };
        let drawn = svg(&instant);
        assert!(!drawn.contains("NaN") && !drawn.contains("inf"), "{drawn}");
    }

    /// The first `name="…"` attribute of the tag that `tag` starts inside.
    fn attr(tag: &str, name: &str) -> f64 {
        let needle = format!("{name}=\"");
        let at = tag
            .match_indices(&needle)
            .map(|(i, _)| i)
            .find(|&i| i == 0 || tag.as_bytes()[i - 1] == b' ')
            .unwrap();
        let rest = &tag[at + needle.len()..];
        rest.split('"').next().unwrap().parse().unwrap()
    }
}
