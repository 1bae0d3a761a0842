//! Maelstrom's own command line, `maelstrom-node test -w W --bin BIN
//! [opts] [-- args for bin]`, mapped onto `cluster`: a Gossip Glomers
//! command works with `./maelstrom test` replaced by `maelstrom-node test`.
//! Maelstrom's defaults apply (5 nodes, 60 s, rate 5, latency 0, nemesis
//! interval 10 s, concurrency `1n`); results go to
//! `store/<workload>/<time>/`, with `store/latest` pointing at the newest,
//! as Maelstrom's `store/`. Flags Maelstrom has and this lab does not yet
//! are refused by name, never ignored.

use std::path::PathBuf;

use clap::ValueEnum;
use maelstrom_lab::Nemesis;
use maelstrom_specs::topology::Topology;

/// What `test`'s arguments ask for: the `cluster` arguments, and the
/// results folder to point `store/latest` at afterwards.
pub struct Translated {
    pub argv: Vec<String>,
    pub results: PathBuf,
}

/// Maps `test`'s arguments (after `test`) onto `cluster`'s (or, with
/// `--sim`, `sim`'s), with `program` as argv[0]; `Err` names what cannot
/// be mapped.
pub fn translate(program: &str, args: &[String]) -> Result<Translated, String> {
    let (ours, bin_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut workload = "lin-kv".to_string();
    let mut bin: Option<String> = None;
    let mut simulate = false;
    // Flags of ours passed on as they are: `--node`, `--seed`, `--topology`.
    let mut passed: Vec<String> = Vec::new();
    let mut nodes = "5".to_string();
    let mut time_limit = "60".to_string();
    let mut rate = "5".to_string();
    let mut latency = "0".to_string();
    let mut latency_dist: Option<String> = None;
    let mut nemesis: Option<String> = None;
    let mut interval = "10".to_string();
    let mut concurrency = "1n".to_string();
    let mut topology: Option<String> = None;
    let mut it = ours.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "-w" | "--workload" => workload = value()?,
            "--bin" => bin = Some(value()?),
            "--node-count" => nodes = value()?,
            "--time-limit" => time_limit = value()?,
            "--rate" => rate = value()?,
            "--latency" => latency = value()?,
            "--latency-dist" => latency_dist = Some(value()?),
            "--nemesis" => nemesis = Some(value()?),
            "--nemesis-interval" => interval = value()?,
            "--concurrency" => concurrency = value()?,
            "--topology" => topology = Some(value()?),
            "--availability" => passed.extend([flag.to_string(), value()?]),
            // The txn and kafka workloads' own, named as Maelstrom names them.
            "--consistency-models"
            | "--max-txn-length"
            | "--max-writes-per-key"
            | "--key-count" => passed.extend([flag.to_string(), value()?]),
            // Ours: the simulator, our node for it, the seed.
            "--sim" => simulate = true,
            "--node" | "--seed" => passed.extend([flag.to_string(), value()?]),
            // Every node's stderr is kept in store/…/n0.log, … already.
            "--log-stderr" => {}
            other => {
                return Err(format!(
                    "`{other}` is a flag of Maelstrom's test this lab does not have yet \
                     (it has -w, --bin, --node-count, --time-limit, --rate, --latency, \
                     --latency-dist, --nemesis (partition,kill,pause,clock), --nemesis-interval, \
                     --topology, --concurrency, --availability, --log-stderr, \
                     --consistency-models, --max-txn-length, --max-writes-per-key, --key-count, \
                     and its own --sim, \
                     --node, --seed)"
                ));
            }
        }
    }
    let node_count: usize = nodes
        .parse()
        .map_err(|_| format!("--node-count {nodes}: not a number of nodes"))?;
    let concurrency = match concurrency.strip_suffix('n') {
        Some(times) => {
            let times: usize = times
                .parse()
                .map_err(|_| format!("--concurrency {concurrency}: not N or Nn"))?;
            times.saturating_mul(node_count)
        }
        None => concurrency
            .parse()
            .map_err(|_| format!("--concurrency {concurrency}: not N or Nn"))?,
    };
    if let Some(topology) = topology {
        if Topology::from_str(&topology, false).is_err() {
            return Err(format!(
                "--topology {topology}: Maelstrom's are {}",
                names::<Topology>()
            ));
        }
        // Only broadcast sends one; Maelstrom accepts the flag for all.
        if workload == "broadcast" {
            passed.extend(["--topology".into(), topology]);
        }
    }
    // Maelstrom heals, sleeps 10 s and runs final reads only for the
    // workloads with a final generator.
    let final_phase = ["broadcast", "g-set", "g-counter", "pn-counter", "kafka"];
    let settle = if final_phase.contains(&workload.as_str()) {
        "10"
    } else {
        "0"
    };
    let results = PathBuf::from("store").join(&workload).join(timestamp());
    let node = if simulate {
        our_node_flags(bin.as_deref(), bin_args)?
    } else {
        let bin = bin.ok_or("--bin FILE is required, as in Maelstrom (or --sim for our nodes)")?;
        let mut command = vec![bin];
        command.extend(bin_args.iter().cloned());
        vec!["--bin".to_string(), shell_words::join(&command)]
    };
    let mut argv: Vec<String> = [
        program,
        if simulate { "sim" } else { "cluster" },
        "--workload",
        &workload,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(node);
    argv.extend(
        [
            "--nodes",
            &nodes,
            "--time-limit",
            &time_limit,
            "--rate",
            &rate,
            "--latency",
            &latency,
            "--concurrency",
            &concurrency.to_string(),
            "--settle",
            settle,
            "--results",
            &results.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    if let Some(dist) = latency_dist {
        argv.extend(["--latency-dist".into(), dist]);
    }
    if let Some(faults) = nemesis {
        if let Some(other) = faults
            .split(',')
            .find(|f| Nemesis::from_str(f, false).is_err())
        {
            return Err(format!(
                "--nemesis {faults}: `{other}` is not one of this lab's faults ({}, \
                 comma-separated as in Maelstrom)",
                names::<Nemesis>()
            ));
        }
        argv.extend([
            "--nemesis".into(),
            faults,
            "--nemesis-interval".into(),
            interval,
        ]);
    }
    argv.extend(passed);
    Ok(Translated { argv, results })
}

/// The values a flag takes, as its enum names them: `grid, line, …`.
fn names<E: ValueEnum>() -> String {
    let names: Vec<String> = E::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
        .collect();
    names.join(", ")
}

/// With `--sim`, the node is ours: `--bin` may name this binary with our
/// node's flags after `--` (a Gossip Glomers command run on our node), its
/// `--workload NAME` choosing the node; any other program cannot run in
/// the simulator.
fn our_node_flags(bin: Option<&str>, bin_args: &[String]) -> Result<Vec<String>, String> {
    let Some(bin) = bin else {
        return Ok(bin_args.to_vec());
    };
    let name = std::path::Path::new(bin)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if name.as_deref() != Some("maelstrom-node") {
        return Err(format!(
            "--sim runs our own nodes in the simulator, and {bin} is not maelstrom-node: \
             drop --sim to run it as real processes, or drop --bin (and choose our node \
             with --node)"
        ));
    }
    let mut flags = Vec::new();
    let mut it = bin_args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--workload" | "-w" => {
                flags.push("--node".into());
                flags.extend(it.next().cloned());
            }
            _ => match arg.strip_prefix("--workload=") {
                Some(node) => flags.extend(["--node".into(), node.to_string()]),
                None => flags.push(arg.clone()),
            },
        }
    }
    Ok(flags)
}

/// Points `store/latest` at `results` (a relative link, as Maelstrom's).
pub fn link_latest(results: &std::path::Path) {
    #[cfg(unix)]
    {
        let latest = PathBuf::from("store").join("latest");
        let _ = std::fs::remove_file(&latest);
        let target = results.strip_prefix("store").unwrap_or(results);
        if let Err(e) = std::os::unix::fs::symlink(target, &latest) {
            eprintln!("maelstrom-node: cannot point store/latest at the run: {e}");
        }
    }
}

/// The time as Maelstrom names its store folders: `YYYYMMDDTHHMMSS.mmm`
/// (UTC).
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_gossip_glomers_command_maps_onto_cluster() {
        let t = translate(
            "mn",
            &args("-w broadcast --bin ./node --node-count 25 --time-limit 20 --rate 100 --latency 100 --nemesis partition --concurrency 2n -- --fast"),
        )
        .unwrap();
        assert_eq!(
            t.argv[5], "./node --fast",
            "the node's command and arguments"
        );
        let a = t.argv.join(" ");
        assert!(a.starts_with("mn cluster --workload broadcast --bin ./node --fast --nodes 25"));
        assert!(
            a.contains("--settle 10"),
            "broadcast has a final phase: {a}"
        );
        assert!(
            a.contains("--time-limit 20 --rate 100 --latency 100 --concurrency 50"),
            "{a}"
        );
        assert!(
            a.ends_with("--nemesis partition --nemesis-interval 10"),
            "{a}"
        );
        assert!(t.results.starts_with("store/broadcast"), "{:?}", t.results);
    }

    #[test]
    fn the_transactional_flags_pass_on_as_they_are() {
        let t = translate(
            "mn",
            &args("-w txn-list-append --bin ./n --consistency-models serializable --max-txn-length 2 --key-count 3 --max-writes-per-key 8"),
        )
        .unwrap();
        let a = t.argv.join(" ");
        assert!(
            a.ends_with("--consistency-models serializable --max-txn-length 2 --key-count 3 --max-writes-per-key 8"),
            "{a}"
        );
    }

    #[test]
    fn maelstroms_defaults_apply_and_unknown_flags_are_refused_by_name() {
        let t = translate("mn", &args("-w echo --bin ./echo")).unwrap();
        let a = t.argv.join(" ");
        assert!(
            a.contains("--nodes 5 --time-limit 60 --rate 5 --latency 0 --concurrency 5"),
            "{a}"
        );
        assert!(!a.contains("--nemesis"), "{a}");
        assert!(a.contains("--settle 0"), "echo has no final phase: {a}");
        let e = translate("mn", &args("-w echo --bin ./echo --test-count 3"))
            .err()
            .unwrap();
        assert!(e.contains("`--test-count`"), "{e}");
        let e = translate("mn", &args("-w echo")).err().unwrap();
        assert!(e.contains("--bin"), "{e}");
        let e = translate("mn", &args("-w echo --bin x --nemesis kill,bitflip"))
            .err()
            .unwrap();
        assert!(
            e.contains("`bitflip`") && e.contains("partition, kill, pause, clock"),
            "{e}"
        );
        let e = translate("mn", &args("-w echo --bin x --topology ring"))
            .err()
            .unwrap();
        assert!(
            e.contains("line, grid, tree, tree2, tree3, tree4, total"),
            "{e}"
        );
    }

    #[test]
    fn kill_pause_and_clock_pass_through_alone_or_with_partition() {
        for faults in ["kill", "pause", "clock", "kill,pause,partition,clock"] {
            let t = translate(
                "mn",
                &args(&format!("-w echo --bin ./e --nemesis {faults}")),
            )
            .unwrap();
            let a = t.argv.join(" ");
            assert!(
                a.ends_with(&format!("--nemesis {faults} --nemesis-interval 10")),
                "{a}"
            );
        }
    }

    #[test]
    fn topology_reaches_broadcast_alone_and_availability_every_workload() {
        let t = translate(
            "mn",
            &args("-w broadcast --bin ./b --topology tree3 --availability total"),
        )
        .unwrap();
        let a = t.argv.join(" ");
        assert!(a.ends_with("--availability total --topology tree3"), "{a}");
        // Maelstrom accepts --topology for every workload; only broadcast
        // sends one.
        let t = translate("mn", &args("-w g-set --bin ./g --topology line")).unwrap();
        assert!(!t.argv.contains(&"--topology".to_string()), "{:?}", t.argv);
    }

    #[test]
    fn sim_runs_our_node_in_the_simulator_and_refuses_a_foreign_one() {
        let t = translate(
            "mn",
            &args("-w g-counter --sim --node seq-kv-counter --seed 4"),
        )
        .unwrap();
        let a = t.argv.join(" ");
        assert!(
            a.starts_with("mn sim --workload g-counter --nodes 5"),
            "{a}"
        );
        assert!(a.ends_with("--node seq-kv-counter --seed 4"), "{a}");
        assert!(!a.contains("--bin"), "{a}");
        // A Gossip Glomers command on our binary: its --workload names the
        // node, the other flags are the node's.
        let t = translate(
            "mn",
            &args("-w pn-counter --sim --bin target/release/maelstrom-node -- --workload counter --strategy delta-push"),
        )
        .unwrap();
        let a = t.argv.join(" ");
        assert!(
            a.starts_with(
                "mn sim --workload pn-counter --node counter --strategy delta-push --nodes"
            ),
            "{a}"
        );
        let e = translate("mn", &args("-w g-set --sim --bin ./my-node"))
            .err()
            .unwrap();
        assert!(e.contains("not maelstrom-node"), "{e}");
    }

    #[test]
    fn store_folders_are_named_by_utc_time() {
        let t = timestamp();
        assert_eq!(t.len(), "20261202T010203.456Z".len(), "{t}");
        assert!(t.starts_with("20"), "{t}");
        assert_eq!(&t[8..9], "T");
    }
}
