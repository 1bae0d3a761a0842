//! A campaign split with `--shard K/N` and put together with `merge`
//! prints exactly what the unsplit campaign prints, with its exit status;
//! `merge` refuses files that are not the N shards of one campaign, each
//! once, and `--shard` refuses what it cannot split.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A small campaign every seed of which passes.
const PASSING: &[&str] = &[
    "sim",
    "--workload",
    "broadcast",
    "--nodes",
    "5",
    "--time-limit",
    "2",
    "--seeds",
    "1..8",
];

/// A small campaign some seeds of which fail, deterministically: kills
/// take nodes away from their clients, and the run asks that 80 % of the
/// operations succeed (seeds 3, 4 and 5 fall short).
const FAILING: &[&str] = &[
    "sim",
    "--workload",
    "kv",
    "--nodes",
    "3",
    "--rate",
    "50",
    "--time-limit",
    "2",
    "--settle",
    "1",
    "--nemesis",
    "kill",
    "--nemesis-interval",
    "0.5",
    "--availability",
    "0.8",
    "--seeds",
    "1..6",
];

fn node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
        .args(args)
        .output()
        .expect("run maelstrom-node")
}

fn with(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh folder for test `name`'s files.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("shards-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs every shard of `campaign` split `count` ways into `dir` and
/// returns the files' paths, shard 1 first.
fn shards(campaign: &[&str], count: usize, dir: &Path, tag: &str) -> Vec<PathBuf> {
    (1..=count)
        .map(|k| {
            let part = format!("{k}/{count}");
            let out = run(&with(campaign, &["--shard", &part]));
            assert!(out.status.code().is_some(), "{part} ended by a signal");
            let path = dir.join(format!("{tag}-{k}-of-{count}.json"));
            std::fs::write(&path, &out.stdout).unwrap();
            path
        })
        .collect()
}

fn merge(paths: &[PathBuf], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    args.extend(extra.iter().map(|s| s.to_string()));
    run(&args)
}

/// Asserts that `out` is a refusal: exit status 2, nothing on stdout, and
/// a line on stderr containing `says`.
fn refused(out: &Output, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(says), "{says:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn one_two_and_four_shards_merge_into_the_unsplit_campaigns_output_and_exit_status() {
    let dir = folder("equal");
    for (tag, campaign, status) in [("passing", PASSING, 0), ("failing", FAILING, 1)] {
        let text = node(campaign);
        let json = run(&with(campaign, &["--json"]));
        assert_eq!(text.status.code(), Some(status), "{}", stderr(&text));
        assert_eq!(json.status.code(), Some(status), "{}", stderr(&json));
        let table = String::from_utf8(text.stdout.clone()).unwrap();
        assert_eq!(
            table.contains("FAILING SEEDS"),
            status == 1,
            "the {tag} campaign: {table}"
        );
        for count in [1, 2, 4] {
            let mut files = shards(campaign, count, &dir, tag);
            // Any order: the seed list puts them back in place.
            files.reverse();
            for (unsplit, flags) in [(&text, &[][..]), (&json, &["--json"][..])] {
                let merged = merge(&files, flags);
                let what = format!("{tag}, {count} shards, {flags:?}");
                assert_eq!(
                    String::from_utf8_lossy(&merged.stdout),
                    String::from_utf8_lossy(&unsplit.stdout),
                    "{what}: {}",
                    stderr(&merged)
                );
                assert_eq!(merged.stdout, unsplit.stdout, "{what}: byte for byte");
                assert_eq!(merged.status.code(), Some(status), "{what}");
            }
        }
    }
}

#[test]
fn a_shard_runs_every_nth_seed_of_the_list_and_records_the_whole_campaign() {
    let out = run(&with(PASSING, &["--shard", "2/3", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file: Value = serde_json::from_slice(&out.stdout).expect("the shard file is JSON");
    let seeds: Vec<u64> = file["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [2, 5, 8], "positions 1, 4, 7 of 1..8");
    assert_eq!(file["seeds"], serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8]));
    assert_eq!(file["shard"], serde_json::json!({"index": 2, "count": 3}));
    let parameters = &file["parameters"];
    assert_eq!(parameters["workload"], "broadcast");
    assert_eq!(parameters["runner"], "simulator");
    assert_eq!(parameters["settings"]["nodes"], 5);
    assert_eq!(parameters["settings"]["time_limit"], 2.0);
    assert!(parameters["settings"].get("seed").is_none(), "{parameters}");
    let flags = parameters["workload_flags"].as_array().unwrap();
    assert!(
        flags
            .windows(2)
            .any(|w| w[0] == "--topology" && w[1] == "grid"),
        "defaults recorded: {parameters}"
    );
    assert!(stderr(&out).contains("3/3 seeds done"), "{}", stderr(&out));
}

#[test]
fn merge_refuses_shards_that_are_not_one_campaigns_each_once() {
    let dir = folder("refusals");
    let four = shards(PASSING, 4, &dir, "four");
    let more_nodes: Vec<&str> = PASSING
        .iter()
        .map(|&a| if a == "5" { "4" } else { a })
        .collect();
    let other = shards(&more_nodes, 4, &dir, "nodes");
    let out = merge(&[four[0].clone(), other[1].clone()], &[]);
    refused(&out, "are shards of different campaigns");
    refused(&out, "settings.nodes (5 vs 4)");

    let fanout = shards(
        &with(PASSING, &["--read-fraction", "0.4"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        2,
        &dir,
        "fanout",
    );
    let two = shards(PASSING, 2, &dir, "two");
    refused(
        &merge(&[two[0].clone(), fanout[1].clone()], &[]),
        "parameters differ at workload_flags",
    );

    let longer: Vec<&str> = PASSING
        .iter()
        .map(|&a| if a == "1..8" { "1..9" } else { a })
        .collect();
    let longer = shards(&longer, 4, &dir, "longer");
    refused(
        &merge(
            &[
                four[0].clone(),
                longer[1].clone(),
                four[2].clone(),
                four[3].clone(),
            ],
            &[],
        ),
        "are shards of different seed lists",
    );

    refused(
        &merge(&[two[0].clone(), four[1].clone()], &[]),
        "is shard 1/2 and",
    );
    refused(
        &merge(&[two[0].clone(), four[1].clone()], &[]),
        "is shard 2/4: parts of splits into different numbers of shards",
    );

    let copy = dir.join("copy.json");
    std::fs::copy(&four[1], &copy).unwrap();
    refused(
        &merge(
            &[four[0].clone(), four[1].clone(), copy, four[3].clone()],
            &[],
        ),
        "are both shard 2/4: give each shard once",
    );
    refused(
        &merge(&[four[1].clone(), four[1].clone()], &["--json"]),
        "are both shard 2/4",
    );

    refused(
        &merge(&[four[2].clone(), four[0].clone()], &[]),
        "incomplete: shards 2, 4 of 4 are missing (merge needs all 4)",
    );
    refused(
        &merge(&two[..1], &[]),
        "incomplete: shard 2 of 2 is missing",
    );
}

#[test]
fn merge_refuses_files_that_are_not_shard_files_without_a_panic() {
    let dir = folder("not-shards");
    let good = std::fs::read_to_string(&shards(PASSING, 2, &dir, "good")[0]).unwrap();
    let summary = dir.join("summary.json");
    std::fs::write(&summary, run(&with(PASSING, &["--json"])).stdout).unwrap();
    let table = dir.join("summary.txt");
    std::fs::write(&table, node(PASSING).stdout).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cut = write("cut.json", &good[..good.len() / 2]);
    let empty = write("empty.json", "");
    let list = write("list.json", "[1, 2, 3]");
    let no_results = write(
        "no-results.json",
        &good.replacen("\"results\": [", "\"results\": [], \"was\": [", 1),
    );
    let bad_seed = write(
        "bad-seed.json",
        &good.replacen("\"seed\": 1,", "\"seed\": 7,", 1),
    );
    let bad_k = write(
        "bad-k.json",
        &good.replacen("\"index\": 1", "\"index\": 3", 1),
    );
    let missing = dir.join("no-such-file.json");
    for (path, says) in [
        (
            &summary,
            "summary.json is not a shard file: it has no \"format\"",
        ),
        (&table, "summary.txt is not a shard file: malformed JSON"),
        (&cut, "cut.json is not a shard file: malformed JSON"),
        (&empty, "empty.json is not a shard file: malformed JSON"),
        (
            &list,
            "list.json is not a shard file: it is not a JSON object",
        ),
        (&no_results, "needs 4 results, it has 0"),
        (
            &bad_seed,
            "result for seed 7 stands where the seed list has seed 1",
        ),
        (&bad_k, "K in 1..=N"),
        (&missing, "cannot read"),
        (&dir, "cannot read"),
    ] {
        refused(&merge(std::slice::from_ref(path), &[]), says);
    }
    let out = node(&["merge"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn shard_refuses_what_it_cannot_split() {
    for bad in ["0/4", "5/4", "1/0", "x", "2", "a/b", ""] {
        let out = run(&with(PASSING, &["--shard", bad]));
        refused(&out, "--shard");
    }
    let no_seeds = [
        "sim",
        "--workload",
        "echo",
        "--time-limit",
        "1",
        "--shard",
        "1/2",
    ];
    refused(&node(&no_seeds), "--seeds");
    let cluster = ["cluster", "--workload", "echo", "--shard", "1/2"];
    refused(&node(&cluster), "--seeds");
    refused(
        &node(&[
            "sim",
            "--workload",
            "echo",
            "--versus-partition",
            "--shard",
            "1/2",
        ]),
        "'--versus-partition' cannot be used with",
    );
    refused(
        &node(&[
            "sim",
            "--workload",
            "echo",
            "--seeds",
            "1..2",
            "--sweep",
            "rate=1,2",
            "--shard",
            "1/2",
        ]),
        "'--sweep <FLAG=V1,V2,..>' cannot be used with '--shard <K/N>'",
    );
}
