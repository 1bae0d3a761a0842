//! Whole clusters of `counter` nodes in the framework's simulator (see
//! `common`): both strategies converge, delta-push converges within its
//! push delay at latency 0, goes quiet when idle, and repairs lost messages
//! and partitions. Times are virtual, so the assertions are exact, not
//! timing.

mod common;

use std::time::Duration;

use common::{Counters, ms, options, run_adds};
use maelstrom_lab::testing::sim_run;
use maelstrom_lab::{NetConfig, Partition};
use pn_counter_gossip::{DEFAULT_PUSH_DELAY_MS, Options, Strategy};
use serde_json::json;

/// `n` nodes on a lossless network with no latency.
fn counters(n: usize, options: &Options, seed: u64) -> Counters {
    Counters::new(n, options, NetConfig::default(), seed)
}

#[test]
fn delta_push_converges_within_the_push_delay_at_latency_zero() {
    // 1000 adds at 5/s: under the message budget, every push goes out at
    // once.
    for seed in 1..=5 {
        let mut cluster = counters(5, &options(Strategy::DeltaPush), seed);
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
            let node = cluster.node(i);
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
        let mut cluster = counters(5, &options(Strategy::DeltaPush), seed);
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
    let mut cluster = counters(5, &options(Strategy::FullState), 7);
    let run = run_adds(&mut cluster, 200, 50.0, Duration::from_secs(5), 7);
    // fanout 2 × 5 nodes × 10 ticks per second, idle or not.
    assert!(
        (90..=110).contains(&run.idle_messages),
        "{}",
        run.idle_messages
    );
    for i in 0..5 {
        assert_eq!(cluster.node(i).peers_synced(), 4);
    }
}

#[test]
fn delta_push_sends_no_more_than_full_state_at_the_same_load() {
    // Counted over the adds and a 10 s settle, as a Maelstrom-style test
    // counts them; from light load to well past delta-push's budget.
    for (adds, rate) in [(300, 5.0), (1000, 20.0), (1000, 100.0)] {
        let count = |strategy| {
            let mut cluster = counters(5, &options(strategy), 3);
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
    let net = NetConfig {
        loss: 0.3,
        ..NetConfig::default()
    };
    let mut cluster = Counters::new(5, &options(Strategy::DeltaPush), net, 99);
    let run = run_adds(&mut cluster, 300, 50.0, Duration::from_secs(10), 11);
    assert!(run.convergence < Duration::from_secs(10));
    assert!(cluster.cluster.stats().dropped_by_loss > 0);
    // Repairs stop once every node knows every peer is up to date.
    assert_eq!(run.idle_messages, 0);
    for i in 0..5 {
        assert_eq!(cluster.node(i).peers_synced(), 4, "n{i}");
    }
}

#[test]
fn delta_push_heals_a_partition_and_relays_across_a_bridge() {
    // n0 and n1 cannot reach each other, but both reach n2.
    let mut cluster = counters(3, &options(Strategy::DeltaPush), 1);
    cluster.cluster.partition(Partition::cut(3, &[(0, 1)]));
    cluster.cluster.record_messages();
    cluster.add(0, 3);
    cluster.add(1, -1);
    cluster.run_until(Duration::from_secs(1));
    let agreed = cluster.agreed_since().expect("n2 relays between n0 and n1");
    assert_eq!(cluster.values(), [2, 2, 2]);
    assert!(agreed < Duration::from_secs(1), "{agreed:?}");
    let relays =
        cluster.cluster.messages().iter().filter(|m| {
            m.from == 2 && m.to == 1 && m.sent && m.body["p_counters"].get("n0").is_some()
        });
    assert!(relays.count() >= 1, "n0's entry reached n1 through n2");
    assert!(cluster.cluster.stats().dropped_by_partition > 0);
    // Healed, the cluster stays agreed and falls quiet: nothing left to
    // repair across the old cut.
    cluster.cluster.heal();
    cluster.run_until(Duration::from_secs(4));
    let before = cluster.messages();
    cluster.run_until(Duration::from_secs(5));
    assert_eq!(cluster.messages(), before, "quiet once healed");
    assert_eq!(cluster.agreed_since(), Some(agreed));
    for i in 0..3 {
        assert_eq!(cluster.node(i).peers_synced(), 2, "n{i}");
    }
}

#[test]
fn no_message_goes_to_an_id_init_did_not_give() {
    // The framework's cluster records a message to an unknown destination
    // as a problem (and a client's id starts with `c`, so n9 is none).
    let mut counters = counters(3, &options(Strategy::DeltaPush), 1);
    let cluster = &mut counters.cluster;
    cluster.client_request(
        "n9",
        0,
        5,
        &json!({"type": "replicate", "wants_ack": true,
                "p_counters": {"n9": 7}, "n_counters": {}}),
        &mut |_, _, _| {},
    );
    sim_run(cluster, Duration::from_secs(3));
    assert_eq!(counters.values(), [7, 7, 7]);
    let cluster = &mut counters.cluster;
    assert!(cluster.problems().is_empty(), "{:?}", cluster.problems());
    assert!(cluster.take_client_messages().is_empty());
    assert!(cluster.stats().sent > 0, "n9's entry was gossiped");
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
                    let net = NetConfig {
                        latency: ms(latency),
                        ..NetConfig::default()
                    };
                    let mut cluster = Counters::new(5, &opts, net, seed);
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
