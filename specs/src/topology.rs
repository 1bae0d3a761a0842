//! Maelstrom's topologies for the broadcast workload (`--topology`): who
//! each node is told its neighbours are, built exactly as Maelstrom's
//! `broadcast.clj` builds them, neighbour order included, so a node that
//! follows the suggestion behaves here as it would under Maelstrom.

use std::collections::BTreeMap;

use maelstrom_framework::NodeId;

/// Maelstrom's `--topology` names and shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Topology {
    /// One line: each node linked to the ones before and after it.
    Line,
    /// Rows of ⌈√n⌉: each node linked to those below, above, right, left.
    #[default]
    Grid,
    /// A tree with branch factor 2 (as `tree2`).
    Tree,
    /// A tree with branch factor 2: each node linked to its parent, then
    /// its children.
    Tree2,
    /// A tree with branch factor 3.
    Tree3,
    /// A tree with branch factor 4.
    Tree4,
    /// Every node linked to every other.
    Total,
}

impl Topology {
    /// Each node's neighbours, for nodes named in `node_ids`' order (as
    /// Maelstrom's `:nodes`).
    pub fn neighbours(self, node_ids: &[NodeId]) -> BTreeMap<NodeId, Vec<NodeId>> {
        let links = match self {
            Topology::Line => line(node_ids.len()),
            Topology::Grid => grid(node_ids.len()),
            Topology::Tree | Topology::Tree2 => tree(node_ids.len(), 2),
            Topology::Tree3 => tree(node_ids.len(), 3),
            Topology::Tree4 => tree(node_ids.len(), 4),
            Topology::Total => total(node_ids.len()),
        };
        links
            .into_iter()
            .map(|(node, peers)| {
                let peers = peers.into_iter().map(|p| node_ids[p].clone()).collect();
                (node_ids[node].clone(), peers)
            })
            .collect()
    }
}

/// Node indices and their neighbours' indices, in Maelstrom's order.
type Links = Vec<(usize, Vec<usize>)>;

fn grid(n: usize) -> Links {
    // Maelstrom's side is `Math/ceil (Math/sqrt n)`, a double: the same
    // arithmetic gives the same side for every n.
    let side = (n as f64).sqrt().ceil() as isize;
    // Row i, column j; no node outside the columns or past the last one.
    let at = |i: isize, j: isize| {
        let idx = i * side + j;
        (i >= 0 && (0..side).contains(&j) && (idx as usize) < n).then_some(idx as usize)
    };
    (0..n)
        .map(|idx| {
            let (i, j) = (idx as isize / side, idx as isize % side);
            let peers = [at(i + 1, j), at(i - 1, j), at(i, j + 1), at(i, j - 1)];
            (idx, peers.into_iter().flatten().collect())
        })
        .collect()
}

fn line(n: usize) -> Links {
    // Maelstrom's line has no entry at all for a lone node.
    if n < 2 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let peers = [i.checked_sub(1), Some(i + 1).filter(|&r| r < n)];
            (i, peers.into_iter().flatten().collect())
        })
        .collect()
}

/// Maelstrom's tree fills tiers of 1, b, b², … nodes in order and gives
/// each parent of a tier the next `b` nodes of the tier below
/// (`partition-all b`): the b-ary heap, where node k's children are
/// b·k + 1 ..= b·k + b and its parent (k − 1) / b.
fn tree(n: usize, b: usize) -> Links {
    (0..n)
        .map(|k| {
            let parent = k.checked_sub(1).map(|k| k / b);
            let children = (b * k + 1..=b * k + b).filter(|&c| c < n);
            (k, parent.into_iter().chain(children).collect())
        })
        .collect()
}

fn total(n: usize) -> Links {
    (0..n)
        .map(|i| (i, (0..n).filter(|&j| j != i).collect()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::ValueEnum;

    use super::*;

    fn ids(n: usize) -> Vec<NodeId> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    /// The expected map, from `(node, [neighbours])` pairs.
    fn map(pairs: &[(&str, &[&str])]) -> BTreeMap<NodeId, Vec<NodeId>> {
        pairs
            .iter()
            .map(|(node, peers)| {
                (
                    node.to_string(),
                    peers.iter().map(|p| p.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn names_are_maelstroms() {
        let names: Vec<String> = Topology::value_variants()
            .iter()
            .map(|t| t.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(
            names,
            ["line", "grid", "tree", "tree2", "tree3", "tree4", "total"]
        );
        assert_eq!(Topology::default(), Topology::Grid);
    }

    #[test]
    fn grid_of_5_is_below_above_right_left() {
        // n0 n1 n2
        // n3 n4
        assert_eq!(
            Topology::Grid.neighbours(&ids(5)),
            map(&[
                ("n0", &["n3", "n1"]),
                ("n1", &["n4", "n2", "n0"]),
                ("n2", &["n1"]),
                ("n3", &["n0", "n4"]),
                ("n4", &["n1", "n3"]),
            ])
        );
    }

    #[test]
    fn grid_of_9_is_a_full_square() {
        // n0 n1 n2
        // n3 n4 n5
        // n6 n7 n8
        assert_eq!(
            Topology::Grid.neighbours(&ids(9)),
            map(&[
                ("n0", &["n3", "n1"]),
                ("n1", &["n4", "n2", "n0"]),
                ("n2", &["n5", "n1"]),
                ("n3", &["n6", "n0", "n4"]),
                ("n4", &["n7", "n1", "n5", "n3"]),
                ("n5", &["n8", "n2", "n4"]),
                ("n6", &["n3", "n7"]),
                ("n7", &["n4", "n8", "n6"]),
                ("n8", &["n5", "n7"]),
            ])
        );
    }

    #[test]
    fn line_of_1_is_empty() {
        assert_eq!(Topology::Line.neighbours(&ids(1)), map(&[]));
    }

    #[test]
    fn line_of_2_and_4() {
        assert_eq!(
            Topology::Line.neighbours(&ids(2)),
            map(&[("n0", &["n1"]), ("n1", &["n0"])])
        );
        assert_eq!(
            Topology::Line.neighbours(&ids(4)),
            map(&[
                ("n0", &["n1"]),
                ("n1", &["n0", "n2"]),
                ("n2", &["n1", "n3"]),
                ("n3", &["n2"]),
            ])
        );
    }

    #[test]
    fn tree2_of_7_is_parent_then_children() {
        let expected = map(&[
            ("n0", &["n1", "n2"]),
            ("n1", &["n0", "n3", "n4"]),
            ("n2", &["n0", "n5", "n6"]),
            ("n3", &["n1"]),
            ("n4", &["n1"]),
            ("n5", &["n2"]),
            ("n6", &["n2"]),
        ]);
        assert_eq!(Topology::Tree2.neighbours(&ids(7)), expected);
        assert_eq!(Topology::Tree.neighbours(&ids(7)), expected);
    }

    #[test]
    fn tree3_of_6_fills_the_last_tier_from_the_first_parent() {
        // Tiers [n0] [n1 n2 n3] [n4 n5]: n1 gets both, n2 and n3 none.
        assert_eq!(
            Topology::Tree3.neighbours(&ids(6)),
            map(&[
                ("n0", &["n1", "n2", "n3"]),
                ("n1", &["n0", "n4", "n5"]),
                ("n2", &["n0"]),
                ("n3", &["n0"]),
                ("n4", &["n1"]),
                ("n5", &["n1"]),
            ])
        );
    }

    #[test]
    fn tree4_of_6_fills_the_last_tier_from_the_first_parent() {
        // Tiers [n0] [n1 n2 n3 n4] [n5].
        assert_eq!(
            Topology::Tree4.neighbours(&ids(6)),
            map(&[
                ("n0", &["n1", "n2", "n3", "n4"]),
                ("n1", &["n0", "n5"]),
                ("n2", &["n0"]),
                ("n3", &["n0"]),
                ("n4", &["n0"]),
                ("n5", &["n1"]),
            ])
        );
    }

    #[test]
    fn tree3_of_14_gives_each_parent_its_own_three() {
        // Tiers [n0] [n1 n2 n3] [n4 … n12] [n13]: the third tier is n1's
        // n4-n6, n2's n7-n9, n3's n10-n12; n13 is n4's.
        let t = Topology::Tree3.neighbours(&ids(14));
        assert_eq!(t["n2"], ["n0", "n7", "n8", "n9"]);
        assert_eq!(t["n3"], ["n0", "n10", "n11", "n12"]);
        assert_eq!(t["n4"], ["n1", "n13"]);
        assert_eq!(t["n13"], ["n4"]);
    }

    #[test]
    fn total_of_3_is_everyone_else() {
        assert_eq!(
            Topology::Total.neighbours(&ids(3)),
            map(&[
                ("n0", &["n1", "n2"]),
                ("n1", &["n0", "n2"]),
                ("n2", &["n0", "n1"]),
            ])
        );
    }

    #[test]
    fn a_lone_node_has_no_neighbours() {
        for &t in Topology::value_variants() {
            let expected = if t == Topology::Line {
                map(&[])
            } else {
                map(&[("n0", &[])])
            };
            assert_eq!(t.neighbours(&ids(1)), expected, "{t:?}");
        }
    }

    #[test]
    fn every_topology_is_symmetric_and_connected() {
        for &t in Topology::value_variants() {
            for n in 1..=30 {
                let nodes = ids(n);
                let links = t.neighbours(&nodes);
                // Every node has an entry, but the lone node in a line.
                let keys: Vec<&NodeId> = links.keys().collect();
                let mut all: Vec<&NodeId> = nodes.iter().collect();
                all.sort();
                if !(t == Topology::Line && n == 1) {
                    assert_eq!(keys, all, "{t:?} of {n}: not every node has an entry");
                }
                for (a, peers) in &links {
                    let distinct: BTreeSet<&NodeId> = peers.iter().collect();
                    assert_eq!(distinct.len(), peers.len(), "{t:?} of {n}: {a} repeats");
                    assert!(!peers.contains(a), "{t:?} of {n}: {a} lists itself");
                    for b in peers {
                        assert!(
                            links.get(b).is_some_and(|back| back.contains(a)),
                            "{t:?} of {n}: {a} lists {b}, not back"
                        );
                    }
                }
                let mut reached = BTreeSet::from([&nodes[0]]);
                let mut frontier = vec![&nodes[0]];
                while let Some(a) = frontier.pop() {
                    for b in links.get(a).into_iter().flatten() {
                        if reached.insert(b) {
                            frontier.push(b);
                        }
                    }
                }
                assert_eq!(reached.len(), n, "{t:?} of {n}: not connected");
            }
        }
    }
}
