//! The cluster runner (`maelstrom-node cluster`) on real processes: our
//! own nodes pass and write their results; nodes that break the protocol
//! fail the run, named, with the offending line, without hanging; every
//! node is killed on every way out; the page renders in a browser. (How
//! wrong nodes are judged: `cluster_judging.rs`; the runner's bounds and
//! its journal: `cluster_runner.rs`.)

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{cluster, python_node, results_dir, text};

#[test]
fn our_echo_nodes_pass_and_results_are_written() {
    let dir = results_dir("echo");
    let out = cluster("echo", &["--nodes", "3"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("VALID"));
    for file in [
        "report.txt",
        "report.json",
        "report.html",
        "history.jsonl",
        "messages.jsonl",
        "n0.log",
    ] {
        assert!(dir.join(file).exists(), "{file} missing");
    }
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(history.lines().count() >= 10, "{history}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg"));
}

#[test]
fn broken_nodes_fail_the_run_with_the_node_and_the_line() {
    let script = format!("{}/tests/nodes/broken_node.py", env!("CARGO_MANIFEST_DIR"));
    for (mode, expect) in [
        ("exit", "exited"),
        ("garbage", "hello, I am not JSON"),
        (
            "stranger",
            "to n99, which is neither a node of this cluster",
        ),
        ("wrong-echo", "not what you sent"),
    ] {
        let dir = results_dir(mode);
        let bin = format!("python3 {script} {mode}");
        // The run must stop on its own rather than wait out a dead node:
        // this call returning is part of the test.
        let out = cluster("echo", &["--nodes", "2", "--bin", &bin], &dir);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {all}");
        assert!(all.contains("INVALID"), "{mode}: {all}");
        assert!(all.contains(expect), "{mode}: {all}");
    }
}

/// Three nodes for 2 s with a partition every ~0.5 s.
const PARTITIONED: &[&str] = &[
    "--nodes",
    "3",
    "--time-limit",
    "2",
    "--nemesis",
    "partition",
    "--nemesis-interval",
    "0.5",
];

#[test]
fn our_gossip_workloads_pass_through_real_processes() {
    for (workload, extra) in [
        ("counter", &["--nodes", "3", "--strategy", "delta-push"][..]),
        ("broadcast", &["--nodes", "5", "--latency", "10"]),
        ("tuning", &["--nodes", "5", "--strategy", "hub"]),
        ("kv", &["--nodes", "3", "--keys", "4"]),
        // Maelstrom's workloads on our nodes for them, with a partition.
        ("g-set", PARTITIONED),
        ("unique-ids", PARTITIONED),
        ("pn-counter", PARTITIONED),
    ] {
        let dir = results_dir(workload);
        let out = cluster(workload, extra, &dir);
        assert!(out.status.success(), "{workload}: {}", text(&out));
        let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
        assert!(report.contains("\nVALID"), "{report}");
        if extra.contains(&"--nemesis") {
            assert!(report.contains("partition("), "no partition ran: {report}");
        }
    }
}

/// A headless Chromium on PATH, if there is one.
fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|b| dir.join(b)))
        .find(|p| p.is_file())
}

/// Runs the browser on `page` with `args`, killing it if it hangs.
fn run_browser(browser: &Path, page: &Path, args: &[String]) -> Output {
    let profile = results_dir("chromium-profile");
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the browser");
    let id = child.id();
    // A watchdog, not a timing assertion: a wedged browser must not hang CI.
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = Command::new("kill").arg(id.to_string()).status();
        }
    });
    let out = child.wait_with_output().expect("wait for the browser");
    let _ = done.send(());
    let _ = watchdog.join();
    let _ = std::fs::remove_dir_all(&profile);
    out
}

/// A screenshot's pixels as RGB rows.
struct Screenshot {
    width: u32,
    height: u32,
    channels: usize,
    pixels: Vec<u8>,
}

impl Screenshot {
    fn read(png_file: &Path) -> Screenshot {
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(png_file).expect("screenshot written"),
        ));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("sane size")];
        let info = reader.next_frame(&mut pixels).expect("a PNG frame");
        let channels = info.color_type.samples();
        assert!(channels >= 3, "expected an RGB screenshot, got {info:?}");
        Screenshot {
            width: info.width,
            height: info.height,
            channels,
            pixels,
        }
    }

    /// Whether the pixel is coloured (saturated): only data marks are.
    /// Text, axes, grid lines, fault bands and phase lines are grey or
    /// pale.
    fn coloured(&self, x: u32, y: u32) -> bool {
        let i = (y * self.width + x) as usize * self.channels;
        let (r, g, b) = (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]);
        r.max(g).max(b) - r.min(g).min(b) > 60
    }

    /// Coloured pixels in rows `rows`.
    fn coloured_in(&self, rows: std::ops::Range<u32>) -> usize {
        rows.filter(|&y| y < self.height)
            .map(|y| (0..self.width).filter(|&x| self.coloured(x, y)).count())
            .sum()
    }

    fn distinct_colours(&self) -> usize {
        self.pixels
            .chunks(self.channels)
            .map(|p| (p[0], p[1], p[2]))
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

/// `page` with `extra` (a style or a script) added at the end of its body:
/// the test's own view of the real page.
fn page_with(page: &Path, name: &str, extra: &str) -> PathBuf {
    let html = std::fs::read_to_string(page).expect("the page");
    let at = html.rfind("</body>").expect("a body");
    let copy = page.with_file_name(name);
    std::fs::write(&copy, format!("{}{extra}{}", &html[..at], &html[at..])).expect("write");
    copy
}

/// Each chart in its own cell of this height (px), for the screenshot of
/// the charts one by one; the tallest (the message diagram) fits.
const CELL: u32 = 800;

/// The HTML report, opened in a real browser: every chart is in the DOM,
/// the page never scrolls sideways, the message diagram is there for a
/// `cluster` run, and every chart with data shows it on screen.
#[test]
fn the_html_report_renders_in_a_headless_browser() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none_or(|v| v != "1"),
            "REQUIRE_BROWSER=1 but there is no chromium on PATH"
        );
        eprintln!("SKIPPED: no chromium on PATH (REQUIRE_BROWSER=1 makes this a failure)");
        return;
    };
    let dir = results_dir("render");
    let out = cluster("counter", &["--nodes", "3"], &dir);
    assert!(out.status.success(), "{}", text(&out));
    let page = dir.join("report.html");

    // What we wrote: one <figure> per chart, in page order; charts without
    // data say so, a diagram says how many messages it draws.
    let html = std::fs::read_to_string(&page).unwrap();
    let figures: Vec<&str> = html.split("<figure>").skip(1).collect();
    let has_data: Vec<bool> = figures
        .iter()
        .map(|f| !f.contains(">no data<") && !f.contains(r#"data-messages="0""#))
        .collect();
    // Counter: latency, quantiles, rate, messages per second, nodes holding
    // the final value, the message diagram, the latency histogram.
    assert_eq!(figures.len(), 7, "{html}");
    assert!(has_data.iter().all(|&d| d), "{html}");
    // The message diagram: a cluster run journals its messages.
    let diagram = figures
        .iter()
        .find(|f| f.contains(r#"class="chart diagram""#))
        .expect("a message diagram");
    assert!(diagram.contains("<title>#"), "messages with tooltips");
    assert!(!html.contains("No message diagram"));
    // Every time chart spans the same range, the run's.
    let ranges: std::collections::HashSet<&str> = figures
        .iter()
        .filter(|f| f.contains(r#"class="chart time""#))
        .map(|f| {
            let from = f.find("data-x-from=").expect("a range");
            &f[from..from + f[from..].find(" role=").expect("attributes")]
        })
        .collect();
    assert_eq!(ranges.len(), 1, "{ranges:?}");

    // The browser's parse of the page holds every chart, whole; and at a
    // narrow window nothing is wider than the page (a script in the test's
    // copy writes the widths into the DOM it dumps; the page has none).
    let measured = page_with(
        &page,
        "report-widths.html",
        "<script>document.body.setAttribute('data-widths', \
         document.documentElement.scrollWidth + ' ' + document.documentElement.clientWidth)</script>",
    );
    let dom = run_browser(
        &browser,
        &measured,
        &["--dump-dom".into(), "--window-size=640,2000".into()],
    );
    assert!(dom.status.success(), "{}", text(&dom));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), figures.len(), "{dom}");
    assert_eq!(dom.matches("</svg>").count(), figures.len(), "{dom}");
    assert!(dom.contains("<polyline") && dom.contains("<rect"), "{dom}");
    assert!(dom.contains(r#"class="chart diagram""#), "{dom}");
    assert!(dom.contains("counter — seed 1"), "{dom}");
    let widths = dom
        .split("data-widths=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .expect("the script ran");
    let (scroll, client) = widths.split_once(' ').expect("two widths");
    let (scroll, client): (u32, u32) = (scroll.parse().unwrap(), client.parse().unwrap());
    assert!(
        client > 0 && scroll <= client,
        "sideways scrolling: {widths}"
    );

    // The real page: drawn, with coloured marks.
    let shot = dir.join("screenshot.png");
    let args = [
        format!("--screenshot={}", shot.display()),
        "--window-size=1200,3000".into(),
    ];
    let out = run_browser(&browser, &page, &args);
    assert!(out.status.success(), "{}", text(&out));
    let whole = Screenshot::read(&shot);
    assert!(whole.distinct_colours() > 2, "a blank screenshot");
    assert!(whole.coloured_in(0..whole.height) > 0, "no coloured marks");

    // Chart by chart: the test's copy shows only the figures, each in a
    // cell of its own at full size without legend or caption, so each
    // cell's colour is its chart's data marks.
    let cells = page_with(
        &page,
        "report-cells.html",
        &format!(
            "<style>body{{margin:0!important;padding:0!important;max-width:none!important}}\
             body>*:not(figure){{display:none!important}}\
             figure{{margin:0!important;width:1100px;height:{CELL}px;overflow:hidden}}\
             figcaption,.legend{{display:none!important}}</style>"
        ),
    );
    let shot = dir.join("cells.png");
    let args = [
        format!("--screenshot={}", shot.display()),
        format!("--window-size=1100,{}", CELL * figures.len() as u32),
    ];
    let out = run_browser(&browser, &cells, &args);
    assert!(out.status.success(), "{}", text(&out));
    let cells = Screenshot::read(&shot);
    for (i, data) in has_data.iter().enumerate() {
        let i = i as u32;
        let coloured = cells.coloured_in(i * CELL..(i + 1) * CELL);
        // A single dot is about 20 pixels (a one-second run has one
        // messages-per-second sample); an empty chart has none.
        assert_eq!(
            coloured >= 10,
            *data,
            "chart {i} has {coloured} coloured pixels: {}",
            &figures[i as usize][..200.min(figures[i as usize].len())]
        );
    }
}

/// The node and grandchild pids the `echo-with-child` and `stops-reading`
/// modes log, one pair per node.
fn logged_pids(dir: &Path, nodes: usize) -> Vec<u32> {
    (0..nodes)
        .flat_map(|i| {
            let log = std::fs::read_to_string(dir.join(format!("n{i}.log"))).unwrap_or_default();
            let line = log
                .lines()
                .find_map(|l| l.strip_prefix("pids "))
                .unwrap_or_else(|| panic!("n{i}.log has no pids: {log}"))
                .to_string();
            line.split(' ')
                .map(|p| p.parse::<u32>().expect("a pid"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Gone, or dead and waiting to be reaped by whoever adopted it. SIGKILL
/// to a group is delivered asynchronously: a grandchild on a loaded machine
/// can still be listed as running for a moment after the runner returned,
/// so this waits (up to 10 s, far beyond any delivery delay) before it
/// calls the process alive.
#[cfg(target_os = "linux")]
fn assert_dead(pid: u32) {
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) STATE ...": the state follows the last ')'.
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        (!state.starts_with('Z')).then_some(stat)
    };
    for _ in 0..1000 {
        if state().is_none() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if let Some(stat) = state() {
        panic!("process {pid} still runs 10 s after the kill: {stat}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_node_that_stops_reading_fails_the_run_and_everything_is_killed() {
    let script = format!("{}/tests/nodes/broken_node.py", env!("CARGO_MANIFEST_DIR"));
    let dir = results_dir("stops-reading");
    let bin = format!("python3 {script} stops-reading");
    // n1 stops reading while n0 floods it with 10 000 messages: more than
    // its input queue and pipe hold, so the runner waits for it, then gives
    // up after the stall limit (the operation timeout).
    let out = cluster(
        "echo",
        &["--nodes", "2", "--op-timeout", "1", "--bin", &bin],
        &dir,
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("n1 has not read its input for 1.0 s"), "{all}");
    // The nodes and what they started are killed, n1 mid-sleep.
    for pid in logged_pids(&dir, 2) {
        assert_dead(pid);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_interrupted_run_reports_it_and_kills_every_node() {
    let script = format!("{}/tests/nodes/broken_node.py", env!("CARGO_MANIFEST_DIR"));
    for signal in ["INT", "TERM"] {
        let dir = results_dir(&format!("signal-{signal}"));
        let runner = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
            .args(["cluster", "--workload", "echo", "--nodes", "2"])
            .args(["--time-limit", "600", "--results"])
            .arg(&dir)
            .args(["--bin", &format!("python3 {script} echo-with-child")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the runner");
        // Wait until both nodes have started their grandchildren (a bound
        // so a broken runner fails the test rather than hanging it).
        let mut tries = 0;
        while !(0..2).all(|i| {
            std::fs::read_to_string(dir.join(format!("n{i}.log")))
                .is_ok_and(|log| log.contains("pids "))
        }) {
            tries += 1;
            assert!(tries < 3000, "the nodes never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = Command::new("kill")
            .args([format!("-{signal}"), runner.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let out = runner.wait_with_output().expect("the runner ends");
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{signal}: {all}");
        assert!(all.contains("run stopped: interrupted"), "{signal}: {all}");
        for pid in logged_pids(&dir, 2) {
            assert_dead(pid);
        }
    }
}

/// A node that floods stderr costs a bounded log: the first 16 MiB are
/// kept, the rest is read and counted, and the log says so; the run is
/// judged as any other.
#[test]
fn a_node_that_floods_stderr_gets_a_bounded_log_that_says_it_was_cut() {
    let dir = results_dir("stderr-flood");
    let bin = python_node("broken_node.py", "stderr-flood");
    let out = cluster("echo", &["--nodes", "1", "--bin", &bin], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let log = dir.join("n0.log");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size > 16 << 20 && size < (16 << 20) + 200, "{size} bytes");
    let tail = std::fs::read(&log).unwrap();
    let tail = String::from_utf8_lossy(&tail[tail.len() - 200..]);
    assert!(
        tail.contains("this log stops at 16 MiB;")
            && tail.contains("more bytes of stderr were discarded"),
        "{tail}"
    );
}

/// Our counter on seq-kv through real processes: the runner serves
/// Maelstrom's seq-kv, and the counter is exact.
#[test]
fn our_counter_on_seq_kv_passes_g_counter_as_processes() {
    let dir = results_dir("seq-kv-counter");
    let out = cluster(
        "g-counter",
        &["--node", "seq-kv-counter", "--nodes", "3", "--latency", "5"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(report.contains("\nVALID"), "{report}");
    assert!(report.contains("  cas_ok "), "{report}");
}
