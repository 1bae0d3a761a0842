//! Whole clusters of `counter` nodes on a virtual clock (see `common`):
//! both strategies converge, delta-push converges within its push delay at
//! latency 0, goes quiet when idle, and repairs lost messages and
//! partitions. Times are virtual, so the assertions are exact, not timing.

mod common;

use std::time::Duration;

use common::{Cluster, Rng, ms, options, run_adds};
use pn_counter_gossip::{DEFAULT_PUSH_DELAY_MS, Strategy};
use serde_json::json;

#[test]
fn delta_push_converges_within_the_push_delay_at_latency_zero() {
    // 1000 adds at 5/s: under the message budget, every push goes out at
    // once.
    for seed in 1..=5 {
        let mut cluster = Cluster::new(5, &options(Strategy::DeltaPush));
        let run = run_adds(&mut cluster, 1000, 5.0, Duration::from_secs(5), seed);
        assert!(
            run.convergence <= ms(DEFAULT_PUSH_DELAY_MS),
            "seed {seed}: {:?}",
            run.convergence
        );
        assert_eq!(
            run.idle_messages, 0,
            "seed {seed}: an idle cluster is quiet"
        );
        for i in 0..5 {
            let node = cluster.handler(i);
            assert_eq!(node.peers_synced(), 4, "seed {seed}, n{i}");
            assert!(node.convergence_ms() >= 0, "seed {seed}, n{i}");
        }
    }
}

#[test]
fn delta_push_over_budget_waits_at_most_one_budget_cycle() {
    // 100 adds/s wants far more pushes than the budget (2 messages per
    // 110 ms per node): the last add waits for at most 4 messages' worth
    // of budget, 220 ms, plus the push delay.
    for seed in 1..=5 {
        let mut cluster = Cluster::new(5, &options(Strategy::DeltaPush));
        let run = run_adds(&mut cluster, 1000, 100.0, Duration::from_secs(5), seed);
        assert!(
            run.convergence <= ms(220 + DEFAULT_PUSH_DELAY_MS),
            "seed {seed}: {:?}",
            run.convergence
        );
        assert_eq!(run.idle_messages, 0, "seed {seed}");
    }
}

#[test]
fn full_state_converges_and_keeps_gossiping() {
    let mut cluster = Cluster::new(5, &options(Strategy::FullState));
    let run = run_adds(&mut cluster, 200, 50.0, Duration::from_secs(5), 7);
    // fanout 2 × 5 nodes × 10 ticks per second, idle or not.
    assert!(
        (90..=110).contains(&run.idle_messages),
        "{}",
        run.idle_messages
    );
    for i in 0..5 {
        assert_eq!(cluster.handler(i).peers_synced(), 4);
    }
}

#[test]
fn delta_push_sends_no_more_than_full_state_at_the_same_load() {
    // Counted over the adds and a 10 s settle, as a Maelstrom-style test
    // counts them; from light load to well past delta-push's budget.
    for (adds, rate) in [(300, 5.0), (1000, 20.0), (1000, 100.0)] {
        let count = |strategy| {
            let mut cluster = Cluster::new(5, &options(strategy));
            run_adds(&mut cluster, adds, rate, Duration::from_secs(10), 3).messages
        };
        let full = count(Strategy::FullState);
        let delta = count(Strategy::DeltaPush);
        assert!(
            delta <= full,
            "{rate} adds/s: delta-push {delta} messages, full-state {full}"
        );
    }
}

#[test]
fn delta_push_repairs_lost_messages() {
    let mut cluster = Cluster::new(5, &options(Strategy::DeltaPush));
    let mut rng = Rng::new(99);
    cluster.set_drop(move |_| rng.below(100) < 30);
    let run = run_adds(&mut cluster, 300, 50.0, Duration::from_secs(10), 11);
    assert!(run.convergence < Duration::from_secs(10));
    // Repairs stop once every node knows every peer is up to date.
    assert_eq!(run.idle_messages, 0);
    for i in 0..5 {
        assert_eq!(cluster.handler(i).peers_synced(), 4, "n{i}");
    }
}

#[test]
fn delta_push_heals_a_partition_and_relays_across_a_bridge() {
    // n0 and n1 cannot reach each other, but both reach n2.
    let mut cluster = Cluster::new(3, &options(Strategy::DeltaPush));
    let cut = |a: &str, b: &str| (a == "n0" && b == "n1") || (a == "n1" && b == "n0");
    cluster.set_drop(move |m| cut(&m.src, &m.dest));
    cluster.request(0, json!({"type": "add", "delta": 3}));
    cluster.request(1, json!({"type": "add", "delta": -1}));
    let agreed = cluster
        .run_until_agreed(2, Duration::from_secs(5))
        .expect("n2 relays between n0 and n1");
    assert!(agreed < Duration::from_secs(1), "{agreed:?}");
    let relays = cluster
        .sent
        .iter()
        .filter(|m| m.src == "n2" && m.body["p_counters"].get("n0").is_some() && m.dest == "n1");
    assert!(relays.count() >= 1, "n0's entry reached n1 through n2");
}

#[test]
fn no_message_goes_to_an_id_init_did_not_give() {
    // `Cluster` asserts every destination is a node from init or a client.
    let mut cluster = Cluster::new(3, &options(Strategy::DeltaPush));
    cluster.client_line(
        0,
        "n9",
        json!({"type": "replicate", "msg_id": 5, "wants_ack": true,
               "p_counters": {"n9": 7}, "n_counters": {}}),
    );
    cluster.run_until(Duration::from_secs(3));
    assert_eq!(cluster.values(), [7, 7, 7]);
    assert!(cluster.sent.iter().all(|m| m.dest != "n9"));
    assert!(cluster.to_clients.iter().all(|m| m.dest != "n9"));
}

/// The numbers behind the default push delay: convergence after the last
/// add and node-to-node messages, per strategy and load. Run with
/// `cargo test -p pn_counter_gossip --test cluster -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    println!("strategy      delay  rate  lat | conv p50  p99   max | msgs/add  bytes/add");
    for rate in [5.0, 10.0, 20.0, 100.0] {
        for latency in [0, 100] {
            let mut configs = vec![(Strategy::FullState, 0)];
            for delay in [0, 10, 25, 50] {
                configs.push((Strategy::DeltaPush, delay));
            }
            for (strategy, delay) in configs {
                let mut conv = Vec::new();
                let (mut msgs, mut bytes) = (0, 0);
                let seeds = 10;
                let adds = 1000;
                for seed in 0..seeds {
                    let mut opts = options(strategy);
                    opts.push_delay_ms = delay;
                    let mut cluster = Cluster::new(5, &opts);
                    cluster.latency = ms(latency);
                    let run = run_adds(&mut cluster, adds, rate, Duration::from_secs(10), seed);
                    conv.push(run.convergence.as_secs_f64() * 1000.0);
                    msgs += run.messages;
                    bytes += run.bytes;
                }
                conv.sort_by(f64::total_cmp);
                let q = |p: f64| conv[((conv.len() - 1) as f64 * p).round() as usize];
                let per_add = (seeds as usize * adds) as f64;
                println!(
                    "{:<12} {:>5} {:>5} {:>4} | {:>8.0} {:>5.0} {:>5.0} | {:>8.2} {:>10.0}",
                    format!("{strategy:?}"),
                    delay,
                    rate,
                    latency,
                    q(0.5),
                    q(0.99),
                    q(1.0),
                    msgs as f64 / per_add,
                    bytes as f64 / per_add
                );
            }
        }
    }
}
