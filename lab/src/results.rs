//! A run's results folder, as Maelstrom's store: the text and JSON reports,
//! the history, and the page with the run's charts.

use crate::figure::Plot;
use crate::plots::ops;
use crate::report::Report;

impl Report {
    /// The run's own charts, from its history and traffic: Maelstrom's
    /// operation latency, latency quantiles and operation rate over time,
    /// node-to-node messages per second by type, and the distribution of
    /// operation latency.
    pub fn run_plots(&self) -> Vec<Plot> {
        // The run's end, not the clock after the checker (real processes).
        let run_s = self.phases.end.as_secs_f64();
        let buckets = ops::Buckets::for_run(run_s);
        vec![
            ops::latency_raw(&self.history),
            ops::latency_quantiles(&self.history, &buckets),
            ops::rate(&self.history, &buckets),
            ops::messages_per_second(&self.net, run_s),
            ops::latency_histogram(&self.history),
        ]
    }

    /// Writes the run into `dir`, like Maelstrom's store: `report.txt`,
    /// `report.json`, `history.jsonl` (one operation a line) and
    /// `report.html` (the table, the charts and the message diagram).
    pub fn write_results(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        let table = self.table();
        std::fs::write(dir.join("report.txt"), &table)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json + "\n")?;
        let mut history =
            std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
        for op in &self.history.ops {
            serde_json::to_writer(&mut history, op).map_err(std::io::Error::other)?;
            history.write_all(b"\n")?;
        }
        history.flush()?;
        std::fs::write(
            dir.join("report.html"),
            crate::plots::page::report_page(self, &table),
        )
    }
}
