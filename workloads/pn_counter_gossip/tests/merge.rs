//! Properties of the PN-counter merge, and of whole clusters under random
//! adds, loss and latency.

mod common;

use std::time::Duration;

use common::{Counters, ms, options};
use maelstrom_lab::NetConfig;
use pn_counter_gossip::{Counts, PnCounter, Strategy as Spread};
use proptest::prelude::*;

const IDS: [&str; 4] = ["n0", "n1", "n2", "n3"];

fn counts() -> impl Strategy<Value = Counts> {
    // Small counts, and some at the top of the range.
    let count = prop_oneof![0u64..20, (u64::MAX - 3)..=u64::MAX];
    proptest::collection::btree_map(
        proptest::sample::select(&IDS[..]).prop_map(str::to_string),
        count,
        0..4,
    )
}

fn counter() -> impl Strategy<Value = PnCounter> {
    (counts(), counts()).prop_map(|(p, n)| PnCounter::from_counts(&p, &n))
}

fn merged(a: &PnCounter, b: &PnCounter) -> PnCounter {
    let mut m = a.clone();
    m.merge(b);
    m
}

proptest! {
    /// The laws every framework CRDT keeps (commutative, associative and
    /// idempotent merge, the bottom, meet, deltas), checked by the
    /// framework's one check.
    #[test]
    fn the_pn_counter_keeps_the_crdt_laws(a in counter(), b in counter(), c in counter()) {
        maelstrom_framework::replication::crdt::laws::check(&a, &b, &c);
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in counter(), b in counter(), c in counter()) {
        let ab = merged(&a, &b);
        prop_assert!(ab.covers(&a) && ab.covers(&b));
        // Anything covering both covers their merge.
        let abc = merged(&ab, &c);
        prop_assert!(abc.covers(&ab));
        if c.covers(&a) && c.covers(&b) {
            prop_assert!(c.covers(&ab));
        }
    }

    #[test]
    fn what_is_missing_completes_what_is_known(s in counter(), known in counter()) {
        let missing = s.missing_from(&known);
        prop_assert!(merged(&known, &missing).covers(&s));
        prop_assert!(s.covers(&missing), "only entries s holds");
        prop_assert!(s.missing_from(&s).is_empty());
        prop_assert!(s.missing_from(&merged(&s, &known)).is_empty());
    }

    /// Replicas that add and merge in any order end, once all states are
    /// merged, at the sum of every add: the value of the union of the
    /// operations.
    #[test]
    fn value_after_merging_is_the_sum_of_all_adds(
        steps in proptest::collection::vec((0usize..4, -5i64..=4, 0usize..4, any::<bool>()), 0..60)
    ) {
        let mut replicas = vec![PnCounter::default(); 4];
        let mut total: i128 = 0;
        for (node, delta, other, gossip) in steps {
            if gossip {
                let from = replicas[other].clone();
                replicas[node].merge(&from);
            } else {
                replicas[node].add(IDS[node], delta).unwrap();
                total += i128::from(delta);
            }
        }
        let all = replicas.iter().fold(PnCounter::default(), |acc, r| merged(&acc, r));
        prop_assert_eq!(all.value(), total);
        for r in &replicas {
            prop_assert_eq!(merged(r, &all).value(), total);
        }
    }

    #[test]
    fn a_refused_add_changes_nothing(a in counter(), node in 0usize..4, delta in any::<i64>()) {
        let mut b = a.clone();
        match b.add(IDS[node], delta) {
            Ok(()) => {
                prop_assert_eq!(b.value(), a.value() + i128::from(delta));
            }
            Err(e) => {
                prop_assert_eq!(e.code.code(), 22);
                prop_assert_eq!(b, a);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any strategy, loss up to 40 %, latency 0..50 ms: every node ends at
    /// the sum of the adds; delta-push then falls silent, every node
    /// knowing every peer is in sync.
    #[test]
    fn clusters_converge_under_loss_and_latency(
        delta_push in any::<bool>(),
        nodes in 2usize..6,
        loss in 0u64..40,
        latency in 0u64..50,
        seed in any::<u64>(),
        adds in proptest::collection::vec((0usize..6, -5i64..=4, 0u64..50), 1..40),
    ) {
        let strategy = if delta_push { Spread::DeltaPush } else { Spread::FullState };
        let net = NetConfig {
            latency: ms(latency),
            loss: loss as f64 / 100.0,
            ..NetConfig::default()
        };
        let mut cluster = Counters::new(nodes, &options(strategy), net, seed);
        for (node, delta, gap) in adds {
            cluster.run_until(cluster.now() + ms(gap));
            cluster.add(node % nodes, delta);
        }
        let end = cluster.now() + Duration::from_secs(30);
        cluster.run_until(end - Duration::from_secs(5));
        prop_assert!(cluster.agreed_since().is_some(), "{:?}", cluster.values());
        let before = cluster.messages();
        cluster.run_until(end);
        prop_assert!(cluster.agreed_since().is_some(), "{:?}", cluster.values());
        if delta_push {
            prop_assert_eq!(cluster.messages(), before, "still talking");
            for i in 0..nodes {
                prop_assert_eq!(cluster.node(i).peers_synced(), nodes - 1);
                prop_assert!(cluster.node(i).convergence_ms() >= 0);
            }
        }
    }
}
