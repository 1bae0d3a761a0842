//! The message diagram (a Lamport diagram, like Maelstrom's
//! `messages.svg`) of a window of the run: a vertical lane per node and one
//! for all clients, time going down, an arrow per message from the sender
//! at its send time to the receiver at its delivery. A copy that never
//! arrived is a dashed line ending in ✕ at its drop time. Every message's
//! tooltip has its id, type, size, times and, when dropped, why.
//!
//! Drawn from the journal's diagram sample
//! ([`crate::network::JournalSummary::sample`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use super::chart::{WIDTH, colour, text_width};
use super::{esc, ticks};
use crate::network::PROBE_CLIENT;
use crate::network::{DIAGRAM_MESSAGES, MessageRecord};
use crate::report::Phases;

/// At most this many messages are drawn: past a few hundred arrows a
/// diagram is a smear.
pub const DEFAULT_CAP: usize = 400;
/// The window drawn unless asked otherwise.
pub const DEFAULT_LENGTH: Duration = Duration::from_secs(1);
/// Messages are labelled with their type when there are at most this many
/// (past it, the tooltip and the colour tell).
const LABELLED: usize = 60;
const LEFT: f64 = 64.0;
const RIGHT: f64 = WIDTH - 16.0;
const PLOT_HEIGHT: f64 = 640.0;
const DROP_MARK: &str = "#b00000";
/// The legend's last item, after the message types.
const DROPPED_LEGEND: &str = "✕ dropped";

/// A stretch of run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Duration,
    pub length: Duration,
}

impl Window {
    pub fn end(&self) -> Duration {
        self.start + self.length
    }

    /// The first second after setup, or of the run when no setup time was
    /// recorded.
    pub fn default_for(phases: &Phases) -> Window {
        Window {
            start: phases.setup_done,
            length: DEFAULT_LENGTH,
        }
    }

    /// `0.200–1.200 s`.
    pub fn describe(&self) -> String {
        format!(
            "{:.3}–{:.3} s",
            self.start.as_secs_f64(),
            self.end().as_secs_f64()
        )
    }
}

/// The messages a diagram draws.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    pub requested: Window,
    /// The window drawn: the requested one, shortened to end before the
    /// first message past the cap, so what is drawn is every message sent
    /// in it rather than a thinned-out scatter.
    pub shown: Window,
    /// Every message sent in `shown`, by send time then id.
    pub messages: Vec<&'a MessageRecord>,
    /// How many messages were sent in the requested window (probes apart).
    pub sent_in_requested: usize,
    /// The runner's probe reads and their replies in the requested window:
    /// instrumentation, not the workload's traffic, and left out (on a
    /// real-process run they outnumber everything else).
    pub probes_left_out: usize,
    /// The journal's sample ended before the requested window did (it keeps
    /// only its first [`DIAGRAM_MESSAGES`]): the counts are lower bounds.
    pub sample_cut: bool,
}

/// The messages of `sample` sent in `window`, at most `cap` of them (see
/// [`Selection::shown`]), the runner's probes apart.
pub fn select(sample: &[MessageRecord], window: Window, cap: usize) -> Selection<'_> {
    let (probes, mut sent): (Vec<&MessageRecord>, Vec<&MessageRecord>) = sample
        .iter()
        .filter(|m| m.sent >= window.start && m.sent < window.end())
        .partition(|m| m.src == PROBE_CLIENT || m.dest == PROBE_CLIENT);
    sent.sort_by_key(|m| (m.sent, m.id));
    let sent_in_requested = sent.len();
    let mut shown = window;
    if sent.len() > cap {
        let cut = sent[cap].sent;
        let before = sent.iter().take_while(|m| m.sent < cut).count();
        if before > 0 {
            sent.truncate(before);
        } else {
            // More than the cap sent at the window's first instant: the
            // first `cap` of them, by id.
            sent.truncate(cap);
        }
        shown.length = cut - window.start;
    }
    let last_sent = sample.iter().map(|m| m.sent).max();
    Selection {
        requested: window,
        shown,
        messages: sent,
        sent_in_requested,
        probes_left_out: probes.len(),
        sample_cut: sample.len() >= DIAGRAM_MESSAGES && last_sent.is_some_and(|t| t < window.end()),
    }
}

/// The caption: which window is drawn (`what` says why that one, "the first
/// second of the run") and how many of the messages sent in it.
pub fn caption(selection: &Selection, what: &str) -> String {
    let shown = selection.messages.len();
    let mut text = if selection.sent_in_requested == 0 {
        format!(
            "No message was sent in {} ({what}).",
            selection.requested.describe()
        )
    } else if selection.shown == selection.requested {
        format!(
            "Messages sent in {} ({what}): all {shown} of them.",
            selection.shown.describe()
        )
    } else {
        format!(
            "Messages sent in {}: {shown} of the {} sent in {} ({what}); the window is \
             shortened so the arrows stay readable.",
            selection.shown.describe(),
            selection.sent_in_requested,
            selection.requested.describe()
        )
    };
    text.push_str(
        " One lane for all clients, one per node, time going down: an arrow runs from the \
         sender at the send time to the receiver at the delivery; a dashed line ending in ✕ \
         is a copy that was dropped. Hover a message for its id, type, size, times and drop \
         reason.",
    );
    if selection.probes_left_out > 0 {
        text.push_str(&format!(
            " The runner's {} probe reads and replies in the window (client {PROBE_CLIENT}, \
             which samples node state and is no operation) are left out.",
            selection.probes_left_out
        ));
    }
    if selection.sample_cut {
        text.push_str(&format!(
            " The journal keeps only its first {DIAGRAM_MESSAGES} messages for the diagram, \
             so these counts are lower bounds."
        ));
    }
    text
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The message's tooltip.
fn describe(m: &MessageRecord) -> String {
    let mut text = format!(
        "#{} {} → {} {}, {} B; sent {}",
        m.id,
        m.src,
        m.dest,
        m.kind,
        m.bytes,
        ms(m.sent)
    );
    for at in &m.delivered {
        let _ = write!(text, "; delivered {}", ms(*at));
    }
    for d in &m.dropped {
        let _ = write!(text, "; ✕ {} at {}", d.reason, ms(d.at));
    }
    text
}

/// An arrowhead at (x2, y2), pointing away from (x1, y1).
fn arrowhead(out: &mut String, (x1, y1): (f64, f64), (x2, y2): (f64, f64), colour: &str) {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (x2 - 7.0 * ux, y2 - 7.0 * uy);
    let _ = write!(
        out,
        r#"<path d="M{x2:.1} {y2:.1}L{:.1} {:.1}L{:.1} {:.1}Z" fill="{colour}"/>"#,
        bx - 3.0 * uy,
        by + 3.0 * ux,
        bx + 3.0 * uy,
        by - 3.0 * ux
    );
}

/// The diagram of `selection` over the lanes of `nodes` (a message to or
/// from anything else is on the clients' lane).
pub fn svg(selection: &Selection, nodes: &[String]) -> String {
    let lanes = nodes.len() + 1;
    let lane_width = (RIGHT - LEFT) / lanes as f64;
    let lane_x = |i: usize| LEFT + (i as f64 + 0.5) * lane_width;
    let lane_of = |name: &str| nodes.iter().position(|n| n == name).map_or(0, |i| i + 1);

    // Colours by type, in a fixed order.
    let kinds: Vec<&str> = selection
        .messages
        .iter()
        .map(|m| m.kind.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let colour_of = |kind: &str| colour(kinds.iter().position(|k| *k == kind).unwrap_or(0));

    // The legend's rows: types, then the drop mark.
    let mut legend: Vec<(f64, usize, &str)> = Vec::new();
    let (mut lx, mut row) = (LEFT, 0);
    for kind in kinds.iter().copied().chain(std::iter::once(DROPPED_LEGEND)) {
        let width = 28.0 + text_width(kind, 12.0) + 18.0;
        if lx + width > RIGHT && lx > LEFT {
            lx = LEFT;
            row += 1;
        }
        legend.push((lx, row, kind));
        lx += width;
    }
    let top = 34.0 + (row + 1) as f64 * 18.0 + 30.0;
    let bottom = top + PLOT_HEIGHT;
    let height = bottom + 24.0;

    // Time runs down from the window's start to its end, or to the last
    // arrival of what it drew (at most one more window length).
    let start = selection.shown.start;
    let length = selection.shown.length.max(Duration::from_millis(1));
    let latest = selection
        .messages
        .iter()
        .flat_map(|m| m.delivered.iter().chain(m.dropped.iter().map(|d| &d.at)))
        .copied()
        .max()
        .unwrap_or(start);
    let until = latest.min(start + 2 * length).max(start + length);
    let span = (until - start).as_secs_f64();
    let y_of =
        |t: Duration| top + (t.saturating_sub(start).as_secs_f64() / span).min(1.0) * PLOT_HEIGHT;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart diagram" data-messages="{}" role="img" aria-label="Message diagram" font-family="sans-serif" font-size="12">"#,
        selection.messages.len()
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="20" font-size="15" font-weight="bold" fill="#222">Messages, {}</text>"##,
        selection.shown.describe()
    );

    // Time ticks and lanes.
    let t = ticks::within(start.as_secs_f64(), until.as_secs_f64(), 11);
    out.push_str(r#"<g class="y-ticks">"#);
    for &v in &t.values {
        let py = y_of(Duration::from_secs_f64(v.max(0.0)));
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{RIGHT}" y2="{py:.1}" stroke="#f0f0f0"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            LEFT - 6.0,
            py + 4.0,
            ticks::label(v, t.step)
        );
    }
    out.push_str("</g>");
    let mid = (top + bottom) / 2.0;
    let _ = write!(
        out,
        r##"<text x="14" y="{mid:.1}" transform="rotate(-90 14 {mid:.1})" text-anchor="middle" fill="#444">time (s)</text>"##
    );
    out.push_str(r#"<g class="lanes">"#);
    for i in 0..lanes {
        let x = lane_x(i);
        let name = if i == 0 { "clients" } else { &nodes[i - 1] };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#bbb"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold" fill="#333">{}</text>"##,
            top - 10.0,
            esc(name)
        );
    }
    out.push_str("</g>");
    if until > selection.shown.end() {
        let py = y_of(selection.shown.end());
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{RIGHT}" y2="{py:.1}" stroke="#888" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10" fill="#666">window ends: later sends not drawn</text>"##,
            RIGHT,
            py - 4.0
        );
    }

    out.push_str(r#"<g class="messages">"#);
    let label = selection.messages.len() <= LABELLED;
    for m in &selection.messages {
        let c = colour_of(&m.kind);
        let (a, b) = (lane_of(&m.src), lane_of(&m.dest));
        let x1 = lane_x(a);
        // A message to its own lane (a node to itself) ends a little aside.
        let x2 = if a == b { x1 + 14.0 } else { lane_x(b) };
        let from = (x1, y_of(m.sent));
        let dropped = !m.dropped.is_empty();
        let _ = write!(
            out,
            r#"<g class="message{}"><title>{}</title>"#,
            if dropped { " dropped" } else { "" },
            esc(&describe(m))
        );
        for &at in &m.delivered {
            let to = (x2, y_of(at));
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.2"/>"#,
                from.0, from.1, to.0, to.1
            );
            // An arrival past the drawn span is cut off, without a head.
            if at <= until {
                arrowhead(&mut out, from, to, c);
            }
        }
        for d in &m.dropped {
            // Dropped as it was sent (a partition or loss at the send): a
            // stub towards the receiver; dropped later: all the way, at
            // the drop time.
            let reach = if d.at > m.sent { 1.0 } else { 0.3 };
            let to = (x1 + (x2 - x1) * reach, y_of(d.at));
            let _ = write!(
                out,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}" stroke-width="1.2" stroke-dasharray="4 3"/>"#,
                from.0, from.1, to.0, to.1
            );
            if d.at <= until {
                let _ = write!(
                    out,
                    r#"<path class="drop" d="M{:.1} {:.1}l8 8M{:.1} {:.1}l8 -8" stroke="{DROP_MARK}" stroke-width="2"/>"#,
                    to.0 - 4.0,
                    to.1 - 4.0,
                    to.0 - 4.0,
                    to.1 + 4.0
                );
            }
        }
        if label {
            let end = m
                .delivered
                .first()
                .map(|&at| (x2, y_of(at)))
                .unwrap_or((x2, from.1));
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="{c}">{}</text>"#,
                (from.0 + end.0) / 2.0,
                (from.1 + end.1) / 2.0 - 3.0,
                esc(&m.kind)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</g>");

    out.push_str(r#"<g class="legend">"#);
    for (x, row, kind) in legend {
        let y = 34.0 + row as f64 * 18.0;
        if kind == DROPPED_LEGEND {
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#888" stroke-dasharray="4 3"/><path d="M{:.1} {:.1}l8 8M{:.1} {:.1}l8 -8" stroke="{DROP_MARK}" stroke-width="2"/>"##,
                x + 22.0,
                x + 18.0,
                y - 4.0,
                x + 18.0,
                y + 4.0
            );
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#333">dropped</text>"##,
                x + 32.0,
                y + 4.0
            );
        } else {
            let c = colour_of(kind);
            let _ = write!(
                out,
                r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="2"/><text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
                x + 22.0,
                x + 28.0,
                y + 4.0,
                esc(kind)
            );
        }
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{DropReason, Dropped};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn message(id: u64, src: &str, dest: &str, sent: u64, delivered: Option<u64>) -> MessageRecord {
        MessageRecord {
            id,
            src: src.into(),
            dest: dest.into(),
            kind: "gossip".into(),
            bytes: 80,
            client: src.starts_with('c') || dest.starts_with('c'),
            sent: ms(sent),
            delivered: delivered.map(ms).into_iter().collect(),
            dropped: Vec::new(),
        }
    }

    fn window(start: u64, length: u64) -> Window {
        Window {
            start: ms(start),
            length: ms(length),
        }
    }

    #[test]
    fn the_default_window_is_the_first_second_after_setup() {
        assert_eq!(Window::default_for(&Phases::default()), window(0, 1000));
        let phases = Phases {
            setup_done: ms(250),
            ..Phases::default()
        };
        assert_eq!(Window::default_for(&phases), window(250, 1000));
    }

    #[test]
    fn selection_keeps_the_window_and_shortens_it_past_the_cap() {
        // One message every 10 ms for 3 s.
        let sample: Vec<MessageRecord> = (0..300)
            .map(|i| message(i + 1, "n0", "n1", i * 10, Some(i * 10 + 5)))
            .collect();
        let s = select(&sample, window(1000, 1000), 400);
        assert_eq!(s.shown, s.requested);
        assert_eq!(s.sent_in_requested, 100);
        assert_eq!(s.messages.len(), 100);
        assert_eq!(s.messages[0].sent, ms(1000));
        assert_eq!(s.messages[99].sent, ms(1990));
        assert!(!s.sample_cut);
        assert!(caption(&s, "a test").contains("all 100 of them"));

        // A cap of 30: the first 30 sent, in a window ending before the 31st.
        let s = select(&sample, window(1000, 1000), 30);
        assert_eq!(s.messages.len(), 30);
        assert_eq!(s.sent_in_requested, 100);
        assert_eq!(s.shown, window(1000, 300));
        let text = caption(&s, "a test");
        assert!(
            text.contains("1.000–1.300 s: 30 of the 100 sent in 1.000–2.000 s"),
            "{text}"
        );

        // Nothing in the window.
        let s = select(&sample, window(5000, 1000), 30);
        assert!(s.messages.is_empty());
        assert!(caption(&s, "later").starts_with("No message was sent in 5.000–6.000 s"));

        // The runner's probes are left out, and counted.
        let mut with_probes = sample.clone();
        with_probes.push(message(1001, PROBE_CLIENT, "n0", 1500, Some(1500)));
        with_probes.push(message(1002, "n0", PROBE_CLIENT, 1500, Some(1500)));
        let s = select(&with_probes, window(1000, 1000), 400);
        assert_eq!((s.messages.len(), s.probes_left_out), (100, 2));
        assert!(caption(&s, "a test").contains("2 probe reads and replies"));

        // More than the cap at the very first instant: the cap, by id.
        let burst: Vec<MessageRecord> = (0..10)
            .map(|i| message(10 - i, "c1", "n0", 0, Some(0)))
            .collect();
        let s = select(&burst, window(0, 1000), 4);
        let ids: Vec<u64> = s.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn a_dropped_message_is_drawn_as_dropped() {
        let mut cut = message(2, "n1", "n2", 100, None);
        cut.dropped.push(Dropped {
            at: ms(100),
            reason: DropReason::Partition,
        });
        let mut late = message(3, "n2", "n0", 200, None);
        late.dropped.push(Dropped {
            at: ms(260),
            reason: DropReason::Overload,
        });
        let sample = vec![
            message(1, "c4", "n0", 50, Some(50)),
            cut,
            late,
            message(4, "n0", "n1", 300, Some(350)),
        ];
        let s = select(&sample, window(0, 1000), 400);
        let nodes: Vec<String> = ["n0", "n1", "n2"].map(String::from).to_vec();
        let svg = svg(&s, &nodes);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"data-messages="4""#));
        // Two dropped messages, each with its ✕ and its reason.
        assert_eq!(
            svg.matches(r#"<g class="message dropped">"#).count(),
            2,
            "{svg}"
        );
        assert_eq!(svg.matches(r#"class="drop""#).count(), 2, "{svg}");
        assert!(
            svg.contains(
                "#2 n1 → n2 gossip, 80 B; sent 100.000 ms; ✕ cut by a partition at 100.000 ms"
            ),
            "{svg}"
        );
        assert!(
            svg.contains("; ✕ dropped: the receiver's queue was full at 260.000 ms"),
            "{svg}"
        );
        // Delivered messages have arrowheads and no ✕; the client's is on
        // the clients' lane.
        assert_eq!(svg.matches(r#"<g class="message">"#).count(), 2);
        assert!(svg.contains("#1 c4 → n0"));
        for lane in [">clients<", ">n0<", ">n1<", ">n2<"] {
            assert!(svg.contains(lane), "{lane}");
        }
        // The drop at the send instant is a stub: it ends 30 % of the way
        // from n1's lane to n2's, at the send time.
        let lane = (RIGHT - LEFT) / 4.0;
        let (x1, x2) = (LEFT + 2.5 * lane, LEFT + 3.5 * lane);
        let stub_end = x1 + 0.3 * (x2 - x1);
        assert!(svg.contains(&format!(r#"x2="{stub_end:.1}""#)), "{svg}");
    }
}
