//! The report page (`report.html`), the page a user opens first: the text
//! report, a line on how to read the page, the checker's pictures of why
//! the run failed, then every chart over the run's time on one shared time
//! frame, the message diagram, and the distributions.

use super::diagram::{self, Window};
use super::{Plot, TimeFrame, chart, esc, figure, ops_window, page_start};
use crate::report::Report;

/// The page of `report`, under its text report `table`.
pub fn report_page(report: &Report, table: &str) -> String {
    let frame = TimeFrame::of(report);
    let title = format!("{} — seed {}", report.workload, report.config.seed);
    let mut out = page_start(&title);
    out.push_str(&format!("<pre>{}</pre>", esc(table)));
    out.push_str(&format!(
        "<p class=\"how\">{}</p>",
        esc(&how_to_read(&frame))
    ));

    let plots: Vec<Plot> = report
        .run_plots()
        .into_iter()
        .chain(report.plots.iter().cloned())
        .collect();
    let (over_time, others): (Vec<&Plot>, Vec<&Plot>) =
        plots.iter().partition(|p| p.is_over_time());

    if !report.windows.is_empty() {
        out.push_str("<h2>Why it failed</h2>");
        for window in &report.windows {
            out.push_str(&figure(&ops_window::svg(window), &window.caption));
        }
    }

    out.push_str("<h2>Over the run</h2>");
    for plot in over_time {
        out.push_str(&figure(&chart::svg(plot, Some(&frame)), &plot.caption));
    }

    out.push_str("<h2>Messages</h2>");
    out.push_str(&message_diagram(report));

    if !others.is_empty() {
        out.push_str("<h2>Distributions</h2>");
        for plot in others {
            out.push_str(&figure(&chart::svg(plot, None), &plot.caption));
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn how_to_read(frame: &TimeFrame) -> String {
    let mut text = format!(
        "How to read this page: above is the text report (report.txt). Every chart over \
         time spans the whole run, 0 to {:.3} s, on the same x axis, so the charts line up \
         one above the other",
        frame.end_s
    );
    if !frame.faults.is_empty() {
        text.push_str(
            "; shaded bands are faults: partitions pink, kills lilac, pauses sand (hover one \
             for its pattern or target, and its nodes)",
        );
    }
    if !frame.phases.is_empty() {
        let names: Vec<&str> = frame.phases.iter().map(|m| m.phase.label()).collect();
        text.push_str(&format!("; thin dashed lines mark {}", names.join(", ")));
    }
    text.push_str(
        ". Colour is the operation or message type, the same in every chart; ● ok, \
         ✕ failed, ○ indeterminate. The message diagram shows one window of the run, message \
         by message.",
    );
    text
}

/// The diagram of the default window, or why there is none.
fn message_diagram(report: &Report) -> String {
    let Some(journal) = &report.journal else {
        return "<p class=\"missing\">No message diagram: this run kept no message journal. \
                The simulator keeps none unless asked; <code>maelstrom-node cluster … \
                --results DIR</code> journals every message (DIR/messages.jsonl) and draws \
                the diagram here.</p>"
            .to_string();
    };
    let window = Window::default_for(&report.phases);
    let what = if report.phases.setup_done.is_zero() {
        "the first second of the run"
    } else {
        "the first second after setup"
    };
    let selection = diagram::select(&journal.sample, window, diagram::DEFAULT_CAP);
    let nodes = if report.history.node_ids.is_empty() {
        report.config.node_ids()
    } else {
        report.history.node_ids.clone()
    };
    figure(
        &diagram::svg(&selection, &nodes),
        &diagram::caption(&selection, what),
    )
}

#[cfg(test)]
mod tests {
    use crate::plots::ops::tests::op;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::lab::{History, Outcome};
    use crate::network::NetStats;
    use crate::network::{JournalSummary, MessageRecord, Partition, PartitionPattern};
    use crate::plots::Series;
    use crate::report::{FaultEvent, OpCounts, Phases};
    use crate::run::SimConfig;

    fn report(journal: Option<JournalSummary>) -> Report {
        let mut net = NetStats::default();
        net.per_second.insert("gossip".into(), vec![4, 9, 7, 1]);
        Report {
            workload: "counter".into(),
            config: SimConfig::default(),
            tested: Default::default(),
            validity: crate::report::Validity::Valid,
            valid: true,
            failures: Vec::new(),
            unknown: Vec::new(),
            ops: OpCounts::default(),
            msgs_per_op: 0.0,
            bytes_per_op: 0.0,
            net,
            faults: vec![
                FaultEvent::partition(
                    Duration::from_millis(1200),
                    PartitionPattern::One,
                    &Partition::groups(3, &[vec![0], vec![1, 2]]),
                ),
                FaultEvent::heal(Duration::from_millis(2100)),
                FaultEvent::partition(
                    Duration::from_millis(3000),
                    PartitionPattern::Majority,
                    &Partition::groups(3, &[vec![2], vec![0, 1]]),
                ),
            ],
            notes: Vec::new(),
            checker: Vec::new(),
            runner: Vec::new(),
            probes: None,
            panics: 0,
            replies: Default::default(),
            events: 0,
            simulated_s: 3.7,
            phases: Phases {
                setup_done: Duration::from_millis(100),
                clients_done: Duration::from_millis(3200),
                final_reads: Duration::from_millis(3500),
                end: Duration::from_millis(3700),
            },
            journal,
            history: History {
                ops: (0..30)
                    .map(|i| {
                        let kind = if i % 3 == 0 { "read" } else { "add" };
                        op(kind, i * 100, 1 + i, Outcome::Ok { body: json!({}) })
                    })
                    .collect(),
                node_ids: vec!["n0".into(), "n1".into(), "n2".into()],
                healed_at: None,
            },
            // A checker chart over time that ends long before the run, and
            // one that is not over time.
            plots: vec![
                Plot::over_time(
                    "Nodes holding the final value",
                    "nodes",
                    vec![Series::new("value 7", vec![(0.2, 1.0), (0.9, 3.0)])],
                ),
                Plot::histogram("Convergence", "convergence (ms)", &[3.0, 5.0, 8.0]),
            ],
            windows: Vec::new(),
        }
    }

    /// The value of `attr="…"` in `tag`.
    fn attr<'a>(tag: &'a str, attr: &str) -> &'a str {
        let start = tag.find(&format!("{attr}=\"")).expect("attribute") + attr.len() + 2;
        &tag[start..start + tag[start..].find('"').expect("closing quote")]
    }

    #[test]
    fn every_time_chart_of_a_page_shares_the_same_x_range() {
        let page = report_page(&report(None), "the table");
        let charts: Vec<&str> = page.split("<svg").skip(1).collect();
        let time: Vec<&str> = charts
            .iter()
            .copied()
            .filter(|c| c[..c.find('>').unwrap()].contains("chart time"))
            .collect();
        // Latency, quantiles, rate, messages per second, and the checker's.
        assert_eq!(time.len(), 5, "{page}");
        for chart in &time {
            assert_eq!(attr(chart, "data-x-from"), "0");
            assert_eq!(attr(chart, "data-x-to"), "3.7");
        }
        // The same ticks at the same places: the x axes line up exactly.
        let x_ticks = |c: &str| {
            let from = c.find(r#"<g class="x-ticks">"#).expect("x ticks");
            c[from..from + c[from..].find("</g>").unwrap()].to_string()
        };
        for chart in &time[1..] {
            assert_eq!(x_ticks(chart), x_ticks(time[0]));
        }
        // Two partitions, the second open to the end, on every time chart.
        for chart in &time {
            assert_eq!(chart.matches("<title>partition ").count(), 2, "{chart}");
            assert!(
                chart.contains("partition 3.000–3.700 s (majority): [n2] | [n0 n1]; never healed")
            );
            for phase in ["setup done", "clients stop", "final reads"] {
                assert!(chart.contains(&format!("{phase} at ")), "{phase}");
            }
        }
        // The histograms are no time charts.
        assert_eq!(charts.len(), 7);
        assert!(page.contains("<pre>the table</pre>"));
        assert!(page.contains("How to read this page"));
    }

    #[test]
    fn the_diagram_is_drawn_from_the_journal_or_its_absence_explained() {
        let page = report_page(&report(None), "");
        assert!(page.contains("No message diagram: this run kept no message journal"));
        assert!(!page.contains("class=\"chart diagram\""));

        let record = |id: u64, sent_ms: u64| MessageRecord {
            id,
            src: "n0".into(),
            dest: "n1".into(),
            kind: "gossip".into(),
            bytes: 50,
            client: false,
            sent: Duration::from_millis(sent_ms),
            delivered: vec![Duration::from_millis(sent_ms + 5)],
            dropped: Vec::new(),
        };
        let journal = JournalSummary {
            written: 3,
            skipped: 0,
            // Sent before setup (not in the window), in it, and after it.
            sample: vec![record(1, 50), record(2, 300), record(3, 1500)],
        };
        let page = report_page(&report(Some(journal)), "");
        assert!(!page.contains("No message diagram"));
        assert!(
            page.contains(r#"class="chart diagram" data-messages="1""#),
            "{page}"
        );
        assert!(page.contains(
            "Messages sent in 0.100–1.100 s (the first second after setup): all 1 of them."
        ));
    }

    #[test]
    fn a_checkers_windows_are_drawn_first_under_why_it_failed() {
        let page = report_page(&report(None), "");
        assert!(
            !page.contains("Why it failed"),
            "a valid run has no such section"
        );

        let mut failed = report(None);
        failed.windows.push(crate::figure::OpsWindow {
            title: "key 0 is not linearizable".into(),
            lanes: vec!["c1 at n0".into()],
            bars: vec![crate::figure::OpBar {
                lane: 0,
                invoke_s: 0.1,
                complete_s: Some(0.2),
                label: "read 3".into(),
                detail: "c1 at n0 read [100.0–200.0 ms] read 3".into(),
                stuck: true,
            }],
            caption: "the read saw a value never written".into(),
        });
        let page = report_page(&failed, "");
        let why = page.find("<h2>Why it failed</h2>").expect("the section");
        let picture = page
            .find("class=\"chart ops-window\"")
            .expect("the picture");
        assert!(why < picture && picture < page.find("<h2>Over the run</h2>").unwrap());
        assert!(page.contains("<figcaption>the read saw a value never written</figcaption>"));
    }
}
