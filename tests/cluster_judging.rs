//! The lab judges any node truthfully: through `cluster --bin`, correct
//! nodes that are not ours pass, and nodes broken the ways users break
//! them fail — each for the right reason, in words a user can act on.
//! The nodes are small scripts in `tests/nodes/`.

mod support;

use support::{cluster, metric, python_node, report_json, report_txt, results_dir, text};

/// Runs `workload` on `python3 tests/nodes/SCRIPT MODE` and returns the
/// exit status and report.txt.
fn run(workload: &str, script: &str, mode: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = results_dir(&format!("judging-{workload}-{script}-{mode}"));
    let bin = python_node(script, mode);
    let mut args = extra.to_vec();
    args.extend(["--bin", &bin]);
    let out = cluster(workload, &args, &dir);
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap_or_default();
    (out.status.code(), report, text(&out))
}

#[test]
fn correct_nodes_that_are_not_ours_pass() {
    for (workload, script, extra) in [
        ("echo", "echo_node.py", &["--nodes", "3"][..]),
        (
            "broadcast",
            "broadcast_node.py",
            &["--nodes", "5", "--latency", "10", "--settle", "1"],
        ),
        (
            "broadcast",
            "broadcast_node.py",
            &[
                "--nodes",
                "5",
                "--settle",
                "1.5",
                "--nemesis",
                "partition",
                "--nemesis-interval",
                "0.3",
            ],
        ),
        (
            "counter",
            "counter_node.py",
            &["--nodes", "3", "--settle", "1"],
        ),
        (
            "g-counter",
            "counter_node.py",
            &["--nodes", "3", "--settle", "1"],
        ),
        (
            "g-set",
            "g_set_node.py",
            &["--nodes", "3", "--settle", "1", "--time-limit", "4"],
        ),
        (
            "unique-ids",
            "unique_ids_node.py",
            &["--nodes", "3", "--rate", "50", "--time-limit", "2"],
        ),
        ("g-counter", "g_counter_seq_kv.py", SEQ_KV_FLAGS),
        ("txn-rw-register", "txn_no_isolation.py", TXN_FLAGS),
    ] {
        let (code, report, all) = run(workload, script, "", extra);
        assert_eq!(code, Some(0), "{workload} {script} {extra:?}: {all}");
        assert!(report.contains("\nVALID"), "{report}");
    }
    // Ids from Maelstrom's lin-tso service, through the runner; every
    // generate answered, so Maelstrom's strictest availability holds.
    let flags = [
        "--nodes",
        "3",
        "--rate",
        "50",
        "--time-limit",
        "2",
        "--latency",
        "2",
        "--availability",
        "total",
    ];
    let (code, report, all) = run("unique-ids", "unique_ids_node.py", "lin-tso", &flags);
    assert_eq!(code, Some(0), "{all}");
    assert!(report.contains("\nVALID"), "{report}");
    assert!(report.contains("ts_ok"), "the service answered: {report}");
}

#[test]
fn an_echo_that_answers_the_wrong_msg_id_fails_and_says_why() {
    let (code, report, all) = run(
        "echo",
        "broken_node.py",
        "echo-off-by-one",
        &["--nodes", "2"],
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("INVALID"), "{report}");
    // The protocol error, named: which node, which client, which msg_id.
    assert!(
        report.contains("reply to no request: n")
            && report.contains("which c")
            && report.contains("never sent"),
        "{report}"
    );
    // And the echo checker's view: no echo was answered.
    assert!(report.contains("no reply within"), "{report}");
}

#[test]
fn an_echo_that_answers_with_the_wrong_type_fails_and_says_why() {
    let (code, report, all) = run("echo", "broken_node.py", "echo-okay", &["--nodes", "2"]);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("malformed reply: n")
            && report.contains("type `echo_okay`; expected `echo_ok` or `error`"),
        "{report}"
    );
}

#[test]
fn counters_that_ignore_or_double_count_their_peers_fail_the_check() {
    // One counts only its own adds; the other counts every add it hears
    // of twice. Neither breaks a protocol rule: the checker's verdict.
    for (mode, expect) in [
        ("local-counter", "final read at n"),
        ("double-counter", "but acknowledged adds sum to"),
    ] {
        let (code, report, all) = run("g-counter", "broken_node.py", mode, &["--nodes", "3"]);
        assert_eq!(code, Some(1), "{mode}: {all}");
        assert!(report.contains(expect), "{mode}: {report}");
        assert!(!report.contains("run stopped"), "{mode}: {report}");
    }
}

#[test]
fn a_kv_store_that_acknowledges_writes_without_their_ts_fails() {
    // It stores nothing; without the schema its writes would count as
    // never acknowledged, and nothing would be lost.
    let (code, report, all) = run("kv", "broken_node.py", "kv-forgetful", &["--nodes", "2"]);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("malformed reply: n")
            && report.contains("`ts` is missing")
            && report.contains("extra field `stored`"),
        "{report}"
    );
}

#[test]
fn a_node_that_prints_debug_text_on_stdout_is_told_where_logs_go() {
    let (code, report, all) = run("echo", "broken_node.py", "debug-print", &["--nodes", "2"]);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("wrote a line that is not a Maelstrom message (it is not JSON): DEBUG got"),
        "{report}"
    );
    assert!(report.contains("logs belong on stderr"), "{report}");
}

#[test]
fn a_failed_setup_stops_the_run_and_names_the_message() {
    let (code, report, all) = run(
        "broadcast",
        "broken_node.py",
        "topology-error",
        &["--nodes", "2"],
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("setup failed: n0 answered `topology`")
            && report
                .contains("with an error: error 10 (not-supported): topology? never heard of it")
            && report.contains("expected `topology_ok`"),
        "{report}"
    );
    assert!(
        report.contains("operations    0 "),
        "no operation after a failed setup: {report}"
    );
}

#[test]
fn a_node_that_crashes_is_named_with_the_end_of_its_log() {
    let (code, report, all) = run(
        "echo",
        "broken_node.py",
        "crash-traceback",
        &["--nodes", "2"],
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("exited (exit status: 1) during the run"),
        "{report}"
    );
    assert!(report.contains(".log ends with:"), "{report}");
    assert!(
        report.contains("RuntimeError: the third echo is one too many"),
        "{report}"
    );
}

#[test]
fn final_read_failures_are_in_words() {
    // A node that answers nothing but init: every final read times out.
    // No Rust debug forms in what the user reads.
    let dir = results_dir("judging-final-words");
    let bin = python_node("broken_node.py", "mute");
    let out = cluster(
        "counter",
        &["--nodes", "2", "--op-timeout", "0.5", "--bin", &bin],
        &dir,
    );
    let report = report_txt(&dir);
    assert_ne!(out.status.code(), Some(0), "{report}");
    assert!(
        report.contains("final read at n0: no reply within 0.5 s"),
        "{report}"
    );
    for debug_form in ["Fail {", "Info {", "Ok {", "reason:"] {
        assert!(!report.contains(debug_form), "{debug_form} in {report}");
    }
}

#[test]
fn the_time_limit_counts_from_the_end_of_setup() {
    // Each node takes 1.5 s to answer init; the clients still get their
    // whole second at 40 ops/s.
    let dir = results_dir("judging-slow-init");
    let bin = python_node("broken_node.py", "slow-init");
    let out = cluster("echo", &["--nodes", "2", "--bin", &bin], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report_json(&dir);
    let setup = report["phases"]["setup_done"].as_f64().unwrap();
    assert!(setup >= 1.4, "setup took {setup} s");
    let ops = report["ops"]["total"].as_u64().unwrap();
    // 40 ops/s for 1 s, on a staggered schedule: ~40, not the ~0 left
    // if the start-up ate the time limit.
    assert!(ops >= 20, "{ops} operations");
}

#[test]
fn a_report_names_what_it_tested() {
    let dir = results_dir("judging-names");
    let bin = python_node("echo_node.py", "");
    let out = cluster("echo", &["--nodes", "2", "--bin", &bin], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let txt = report_txt(&dir);
    assert!(
        txt.contains(&format!("node          {}", bin.trim())),
        "{txt}"
    );
    assert!(
        txt.contains("echo_node.py: ") && txt.contains("fnv64 "),
        "{txt}"
    );
    assert!(txt.contains("tool          maelstrom-node "), "{txt}");
    let json = report_json(&dir);
    assert_eq!(json["tested"]["ours"], false);
    assert!(json["tested"]["files"][0]["fnv64"].as_str().unwrap().len() == 16);
    assert_eq!(json["config"]["nodes"], 2);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("echo_node.py"), "the page names the node too");

    let dir = results_dir("judging-names-ours");
    let out = cluster(
        "counter",
        &["--nodes", "2", "--strategy", "delta-push"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let txt = report_txt(&dir);
    assert!(
        txt.contains("node          maelstrom-node --workload counter --strategy delta-push"),
        "{txt}"
    );
}

#[test]
fn lost_values_are_counted_once_each() {
    // A broadcast node that never forwards: values are lost (set-full),
    // never more of them than were broadcast, and each node's misses are
    // reported on their own.
    let dir = results_dir("judging-lost-once");
    let bin = python_node("broken_node.py", "lonely-broadcast");
    let out = cluster("broadcast", &["--nodes", "3", "--bin", &bin], &dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = report_json(&dir);
    let acked = metric(&report, "values acknowledged").unwrap();
    let lost = metric(&report, "values lost").unwrap();
    assert!(lost > 0.0 && lost <= acked, "lost {lost} of {acked}");
    // Set-full gives every value one fate.
    let fates: f64 = ["values stable", "values lost", "values never read"]
        .iter()
        .map(|m| metric(&report, m).unwrap())
        .sum();
    assert_eq!(
        fates, acked,
        "every value (all were acknowledged) has one fate"
    );
    assert!(metric(&report, "final reads lacking values").unwrap() >= 2.0);
}

#[test]
fn a_malformed_reply_to_a_probe_read_is_judged_like_a_clients() {
    // The node answers every client read correctly and only the lab's
    // probe reads (client `cprobe`) with a body Maelstrom's clients
    // refuse: the body is no sample of the node's state, and the report
    // says what was wrong with it, as it does for a client's reply.
    for (mode, problem) in [
        (
            "probe-wrong-messages",
            "`messages` is \"all of them\", not a list",
        ),
        (
            "probe-wrong-type",
            "type `foo`; expected `read_ok` or `error`",
        ),
    ] {
        let dir = results_dir(&format!("judging-{mode}"));
        let bin = python_node("broadcast_node.py", mode);
        let out = cluster(
            "broadcast",
            &[
                "--nodes",
                "3",
                "--latency",
                "10",
                "--probe-ms",
                "50",
                "--bin",
                &bin,
            ],
            &dir,
        );
        let report = report_txt(&dir);
        assert_eq!(out.status.code(), Some(1), "{mode}: {}", text(&out));
        assert!(
            report.contains("malformed reply: n")
                && report.contains("answered the runner's probe `read`")
                && report.contains(problem),
            "{mode}: {report}"
        );
        let json = report_json(&dir);
        let examples = json["replies"]["malformed_examples"].as_array().unwrap();
        assert!(
            examples
                .iter()
                .all(|e| e.as_str().unwrap().contains("probe `read`")),
            "{mode}: only the probes' replies are malformed: {examples:?}"
        );
        assert_eq!(
            json["ops"]["info"], 0,
            "{mode}: the clients' reads were fine"
        );
        assert!(
            json["replies"]["malformed"].as_u64().unwrap() >= 2,
            "{mode}"
        );
        // No probe's reply was a sample: the node was sampled by the
        // clients' reads alone (each one a sample of its whole state), as
        // the sampling resolution shows: nodes × active time / samples.
        let phases = &json["phases"];
        let active_ms = (phases["final_reads"].as_f64().unwrap()
            - phases["setup_done"].as_f64().unwrap())
            * 1000.0;
        let every_ms = json["probes"]["sampled_every_ms"].as_f64().unwrap();
        assert_eq!(
            (3.0 * active_ms / every_ms).round(),
            json["ops"]["by_kind"]["read"].as_f64().unwrap(),
            "{mode}: the samples are the clients' reads"
        );
    }
}

/// Maelstrom's g-set checker (set-full, as broadcast's) fails a g-set that
/// never gossips (each node holds only its own adds) and one whose reads
/// hold an element nobody added — even one that is not an integer, which
/// the checker's integer sets would otherwise pass over.
#[test]
fn a_g_set_that_loses_or_invents_elements_fails_and_says_why() {
    let flags = ["--nodes", "3", "--settle", "1", "--time-limit", "3"];
    let (code, report, all) = run("g-set", "g_set_node.py", "no-gossip", &flags);
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("INVALID"), "{report}");
    assert!(
        report.contains("final read lacks") && report.contains("acknowledged values"),
        "{report}"
    );
    let (code, report, all) = run("g-set", "g_set_node.py", "invents", &flags);
    assert_eq!(code, Some(1), "{all}");
    assert!(
        report.contains("final read holds values never added: [-1]"),
        "{report}"
    );
    assert!(!report.contains("final read lacks"), "{report}");
}

/// Jepsen's unique-ids checker fails a node whose ids are a bare count
/// (every node hands out 1, 2, 3, …), naming an id and who got it twice.
#[test]
fn unique_ids_that_are_a_bare_count_fail_and_say_which() {
    let flags = ["--nodes", "3", "--rate", "50", "--time-limit", "2"];
    let (code, report, all) = run("unique-ids", "unique_ids_node.py", "counter", &flags);
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("INVALID"), "{report}");
    assert!(report.contains("id 1 was returned "), "{report}");
    let duplicated: f64 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("ids duplicated"))
        .and_then(|v| v.trim().parse().ok())
        .expect("the metric");
    assert!(duplicated > 10.0, "{report}");
}

/// The runs of the g-counter on seq-kv: enough concurrent adds to race.
const SEQ_KV_FLAGS: &[&str] = &[
    "--nodes",
    "3",
    "--rate",
    "50",
    "--latency",
    "5",
    "--settle",
    "1",
];

/// A g-counter on seq-kv that writes the sum back blindly instead of
/// cas-ing it loses concurrent increments, and the final reads say so.
#[test]
fn a_g_counter_that_writes_blindly_to_seq_kv_loses_increments_and_fails() {
    let (code, report, all) = run(
        "g-counter",
        "g_counter_seq_kv.py",
        "blind-write",
        SEQ_KV_FLAGS,
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("but acknowledged adds sum to"), "{report}");
    assert!(
        report.contains("  write "),
        "the service traffic is shown: {report}"
    );
}

/// A g-counter whose cas misspells `to` is refused by seq-kv with error 12
/// on every try: the run fails naming the node, the service, the request
/// and the error, not as a mere string of timeouts.
#[test]
fn a_g_counter_that_sends_seq_kv_a_malformed_cas_fails_and_says_which() {
    let (code, report, all) = run(
        "g-counter",
        "g_counter_seq_kv.py",
        "malformed",
        SEQ_KV_FLAGS,
    );
    assert_eq!(code, Some(1), "{all}");
    // The first failure names the node that sent it: the checker's
    // symptoms (no add acknowledged) come after.
    let (_, failures) = report.split_once("\nINVALID\n").expect(&report);
    let line = failures.lines().next().unwrap_or_default();
    let line = line.strip_prefix("  - ").unwrap_or(line);
    let node = line.split(' ').next().unwrap_or_default();
    assert!(["n0", "n1", "n2"].contains(&node), "{report}");
    assert!(
        line.starts_with(&format!("{node} sent seq-kv a malformed `cas` "))
            && line.contains(" times: cas needs `to` (answered with error 12, malformed-request"),
        "{report}"
    );
}

const LIN_KV_FLAGS: &[&str] = &[
    "--nodes",
    "3",
    "--concurrency",
    "6",
    "--rate",
    "50",
    "--time-limit",
    "3",
];

/// A lin-kv node that serves reads from a local cache (the last value it
/// wrote or saw) returns values other nodes have since overwritten: the
/// checker finds a key that is not linearizable and shows the window that
/// proves it. Our proxy to lin-kv passes the same run.
#[test]
fn a_lin_kv_node_that_reads_from_a_cache_is_not_linearizable() {
    let (code, report, all) = run("lin-kv", "lin_kv_cache.py", "", LIN_KV_FLAGS);
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("\nINVALID"), "{report}");
    assert!(
        report.contains(" is not linearizable: no order of ")
            && report.contains(" explains what they returned"),
        "{report}"
    );
    assert!(
        report.contains("] read "),
        "the stale read is shown: {report}"
    );

    let dir = results_dir("judging-lin-kv-proxy");
    let out = cluster("lin-kv", LIN_KV_FLAGS, &dir);
    let report = report_txt(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(report.contains("\nVALID"), "{report}");
    assert!(report.contains("cas_ok"), "the service answered: {report}");
}

/// Kafka's runs on real processes: enough sends to every key from every
/// node for offsets to collide.
const KAFKA_FLAGS: &[&str] = &[
    "--nodes",
    "3",
    "--rate",
    "50",
    "--time-limit",
    "2",
    "--settle",
    "1",
];

/// A kafka node that hands out offsets from a counter of its own fails
/// for what it does, one offset given to different messages, naming the
/// key, the offset, the messages and who was told; our log on lin-kv
/// passes the same run.
#[test]
fn kafka_offsets_from_a_local_counter_fail_as_inconsistent_and_ours_pass() {
    let (code, report, all) = run("kafka", "kafka_local_offsets.py", "", KAFKA_FLAGS);
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("INVALID"), "{report}");
    assert!(
        report.contains("inconsistent-offsets: key ")
            && report.contains(" offset 0 holds different messages: "),
        "{report}"
    );
    let dir = results_dir("judging-kafka-ours");
    let out = cluster("kafka", KAFKA_FLAGS, &dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report_txt(&dir);
    assert!(report.contains("\nVALID"), "{report}");
    let json = report_json(&dir);
    let sends = metric(&json, "sends acknowledged").expect("the metric");
    assert!(sends > 20.0, "{report}");
}

/// Six clients on one node, so that transactions overlap there.
const TXN_FLAGS: &[&str] = &[
    "--nodes",
    "1",
    "--concurrency",
    "6",
    "--rate",
    "150",
    "--time-limit",
    "4",
    "--consistency-models",
    "read-committed",
];

/// A transactional node that applies writes one at a time while other
/// transactions read, and keeps the writes of the ones that fail, breaks
/// read committed both ways: reads of failed transactions' writes (G1a)
/// and of a transaction's overwritten writes (G1b), each named with the
/// transactions involved.
#[test]
fn a_txn_node_without_isolation_fails_read_committed_with_g1a_and_g1b() {
    let (code, report, all) = run(
        "txn-rw-register",
        "txn_no_isolation.py",
        "no-isolation",
        TXN_FLAGS,
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("\nINVALID"), "{report}");
    assert!(
        report.contains("- G1a: ") && report.contains("written by a failed transaction"),
        "{report}"
    );
    assert!(
        report.contains("- G1b: ") && report.contains("an intermediate write of"),
        "{report}"
    );
}

/// The checkers pass correct foreign nodes: the same local-offset kafka
/// script on one node (where its counter is the only one, so its offsets
/// are the log's), also when its polls return two messages a page, and the transactional script in its default mode
/// (each transaction applied whole, failed ones leaving nothing).
#[test]
fn correct_foreign_kafka_and_txn_nodes_pass() {
    let one_node: Vec<&str> = ["--nodes", "1"]
        .into_iter()
        .chain(KAFKA_FLAGS[2..].iter().copied())
        .collect();
    let (code, report, all) = run("kafka", "kafka_local_offsets.py", "", &one_node);
    assert_eq!(code, Some(0), "{all}");
    assert!(report.contains("\nVALID"), "{report}");
    // Two messages a page: the final polls poll on from each page's end
    // (a first page alone would leave acknowledged messages unknown).
    let (code, report, all) = run("kafka", "kafka_local_offsets.py", "page", &one_node);
    assert_eq!(code, Some(0), "{all}");
    assert!(report.contains("\nVALID"), "{report}");
    let (code, report, all) = run("txn-rw-register", "txn_no_isolation.py", "", TXN_FLAGS);
    assert_eq!(code, Some(0), "{all}");
    assert!(report.contains("\nVALID"), "{report}");
}

/// txn-list-append, a spec no node of ours implements (so only `--bin`
/// can run it): the same script appending to lists passes on one node,
/// each transaction whole; without isolation, another transaction reads
/// the appends of a failed one (G1a) and interleaved appends make write
/// cycles (G0).
#[test]
fn list_append_judges_foreign_nodes() {
    let (code, report, all) = run("txn-list-append", "txn_no_isolation.py", "", TXN_FLAGS);
    assert_eq!(code, Some(0), "{all}");
    assert!(report.contains("\nVALID"), "{report}");
    let (code, report, all) = run(
        "txn-list-append",
        "txn_no_isolation.py",
        "no-isolation",
        TXN_FLAGS,
    );
    assert_eq!(code, Some(1), "{all}");
    assert!(report.contains("\nINVALID"), "{report}");
    assert!(
        report.contains("- G1a: ") && report.contains("appended by a failed transaction"),
        "{report}"
    );
    // Interleaved appends to two keys order two transactions both ways.
    assert!(report.contains("- G0: a cycle"), "{report}");
}
