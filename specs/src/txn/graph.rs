//! The dependency graph over transactions and the searches on it: Tarjan's
//! strongly connected components and breadth-first shortest paths, both
//! restricted to some kinds of edge and to a set of transactions, and both
//! paying for every edge they look at out of a [`Budget`], so that a search
//! ends — in "unknown" — on a graph too large for it, never hangs, and ends
//! at the same place on every machine.

use std::collections::BTreeMap;

/// A transaction's number in the checked history (its position among the
/// transactions, not the history's operations).
pub type TxnId = u32;

/// A kind of dependency between two transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dep {
    /// `a → b`: b overwrote (or appended after) a's write.
    Ww,
    /// `a → b`: b read a's write.
    Wr,
    /// `a → b`: a read a version that b's write followed (anti-dependency).
    Rw,
    /// `a → b`: a completed before b was invoked.
    Rt,
}

impl Dep {
    const ALL: [Dep; 4] = [Dep::Ww, Dep::Wr, Dep::Rw, Dep::Rt];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dep::Ww => "ww",
            Dep::Wr => "wr",
            Dep::Rw => "rw",
            Dep::Rt => "real time",
        }
    }
}

/// A set of dependency kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deps(u8);

impl Deps {
    pub const WW: Deps = Deps(1);
    pub const WW_WR: Deps = Deps(3);
    pub const WW_WR_RW: Deps = Deps(7);
    pub const WW_RT: Deps = Deps(9);
    pub const WW_WR_RT: Deps = Deps(11);
    pub const ALL: Deps = Deps(15);

    pub fn with(self, dep: Dep) -> Deps {
        Deps(self.0 | dep.bit())
    }

    pub fn without(self, dep: Dep) -> Deps {
        Deps(self.0 & !dep.bit())
    }

    pub fn has(self, dep: Dep) -> bool {
        self.0 & dep.bit() != 0
    }

    pub fn meets(self, other: Deps) -> bool {
        self.0 & other.0 != 0
    }

    /// The most telling kind both sets hold: ww before wr before rw before
    /// real time, so a cycle is named by its weakest possible reading.
    pub fn first_in(self, mask: Deps) -> Option<Dep> {
        Dep::ALL.into_iter().find(|d| self.has(*d) && mask.has(*d))
    }
}

/// Why an edge exists: the key and the value of the write involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Why {
    pub key: i64,
    pub value: i64,
}

#[derive(Debug, Clone, Default)]
struct EdgeInfo {
    deps: Deps,
    /// The first reason given for each kind, by `Dep as usize`.
    why: [Option<Why>; 4],
}

/// Collects edges; self-edges are dropped (a transaction's dependence on
/// itself is no cycle).
#[derive(Debug, Default)]
pub struct GraphBuilder {
    edges: BTreeMap<(TxnId, TxnId), EdgeInfo>,
}

impl GraphBuilder {
    pub fn add(&mut self, from: TxnId, to: TxnId, dep: Dep, why: Why) {
        if from == to {
            return;
        }
        let edge = self.edges.entry((from, to)).or_default();
        edge.deps = edge.deps.with(dep);
        edge.why[dep as usize].get_or_insert(why);
    }

    pub fn build(self, transactions: usize) -> Graph {
        let mut out = vec![Vec::new(); transactions];
        for (&(from, to), edge) in &self.edges {
            out[from as usize].push((to, edge.deps));
        }
        Graph {
            out,
            edges: self.edges,
        }
    }
}

/// Edges out of every transaction, in order of target.
#[derive(Debug)]
pub struct Graph {
    out: Vec<Vec<(TxnId, Deps)>>,
    edges: BTreeMap<(TxnId, TxnId), EdgeInfo>,
}

impl Graph {
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Edges holding `dep`.
    pub fn count(&self, dep: Dep) -> usize {
        self.edges.values().filter(|e| e.deps.has(dep)).count()
    }

    pub fn deps(&self, from: TxnId, to: TxnId) -> Deps {
        self.edges
            .get(&(from, to))
            .map_or(Deps::default(), |e| e.deps)
    }

    pub fn why(&self, from: TxnId, to: TxnId, dep: Dep) -> Option<Why> {
        self.edges.get(&(from, to))?.why[dep as usize]
    }

    /// Every edge `from → to` holding `dep`, both ends in `nodes`.
    pub fn edges_within(&self, nodes: &[TxnId], dep: Dep) -> Vec<(TxnId, TxnId)> {
        let inside: std::collections::BTreeSet<TxnId> = nodes.iter().copied().collect();
        nodes
            .iter()
            .flat_map(|&from| {
                self.out[from as usize]
                    .iter()
                    .filter(|(to, d)| d.has(dep) && inside.contains(to))
                    .map(move |&(to, _)| (from, to))
            })
            .collect()
    }
}

/// Steps a search may take (an edge looked at, a node entered).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub left: u64,
}

/// The budget ran out before the search was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBudget;

impl Budget {
    pub fn spend(&mut self, steps: u64) -> Result<(), OutOfBudget> {
        self.left = self.left.checked_sub(steps).ok_or(OutOfBudget)?;
        Ok(())
    }
}

const UNSEEN: u32 = u32::MAX;

/// Searches over one graph, reusing their scratch space. A search's scope
/// (the transactions it may visit) is marked with a fresh generation
/// number, so entering one costs its size, not the graph's.
pub struct Search<'g> {
    graph: &'g Graph,
    scope: Vec<u32>,
    generation: u32,
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    parent: Vec<u32>,
}

impl<'g> Search<'g> {
    pub fn new(graph: &'g Graph) -> Search<'g> {
        let n = graph.len();
        Search {
            graph,
            scope: vec![0; n],
            generation: 0,
            index: vec![UNSEEN; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            parent: vec![UNSEEN; n],
        }
    }

    fn enter(&mut self, nodes: &[TxnId]) {
        self.generation += 1;
        for &n in nodes {
            self.scope[n as usize] = self.generation;
            self.index[n as usize] = UNSEEN;
            self.on_stack[n as usize] = false;
            self.parent[n as usize] = UNSEEN;
        }
    }

    fn inside(&self, n: TxnId) -> bool {
        self.scope[n as usize] == self.generation
    }

    /// The strongly connected components of more than one transaction
    /// among `nodes`, over edges holding a kind in `mask` (Tarjan's, with
    /// an explicit stack: histories are long chains).
    pub fn components(
        &mut self,
        nodes: &[TxnId],
        mask: Deps,
        budget: &mut Budget,
    ) -> Result<Vec<Vec<TxnId>>, OutOfBudget> {
        self.enter(nodes);
        let graph = self.graph;
        let mut counter = 0u32;
        let mut stack: Vec<TxnId> = Vec::new();
        let mut calls: Vec<(TxnId, usize)> = Vec::new();
        let mut found = Vec::new();
        for &root in nodes {
            if self.index[root as usize] != UNSEEN {
                continue;
            }
            self.open(root, &mut counter, &mut stack);
            calls.push((root, 0));
            while let Some(&(v, pos)) = calls.last() {
                let out = &graph.out[v as usize];
                if pos < out.len() {
                    calls.last_mut().expect("a call").1 += 1;
                    budget.spend(1)?;
                    let (w, deps) = out[pos];
                    if !deps.meets(mask) || !self.inside(w) {
                        continue;
                    }
                    if self.index[w as usize] == UNSEEN {
                        self.open(w, &mut counter, &mut stack);
                        calls.push((w, 0));
                    } else if self.on_stack[w as usize] {
                        let lw = self.index[w as usize];
                        let lv = &mut self.low[v as usize];
                        *lv = (*lv).min(lw);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    let lv = self.low[v as usize];
                    let lu = &mut self.low[u as usize];
                    *lu = (*lu).min(lv);
                }
                if self.low[v as usize] == self.index[v as usize] {
                    let mut component = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        self.on_stack[w as usize] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if component.len() > 1 {
                        component.sort_unstable();
                        found.push(component);
                    }
                }
            }
        }
        found.sort();
        Ok(found)
    }

    fn open(&mut self, v: TxnId, counter: &mut u32, stack: &mut Vec<TxnId>) {
        self.index[v as usize] = *counter;
        self.low[v as usize] = *counter;
        *counter += 1;
        stack.push(v);
        self.on_stack[v as usize] = true;
    }

    /// A shortest path `from → … → to` within `nodes` over edges holding a
    /// kind in `mask` (breadth first), as its transactions; with `from ==
    /// to`, a shortest cycle through it (`[a, …, a]`).
    pub fn path(
        &mut self,
        nodes: &[TxnId],
        from: TxnId,
        to: TxnId,
        mask: Deps,
        budget: &mut Budget,
    ) -> Result<Option<Vec<TxnId>>, OutOfBudget> {
        self.enter(nodes);
        let graph = self.graph;
        let mut queue = std::collections::VecDeque::from([from]);
        // `parent` marks visits; `from` is its own parent until a cycle
        // returns to it.
        self.parent[from as usize] = from;
        while let Some(v) = queue.pop_front() {
            for &(w, deps) in &graph.out[v as usize] {
                budget.spend(1)?;
                if !deps.meets(mask) || !self.inside(w) {
                    continue;
                }
                if w == to {
                    let mut path = vec![to, v];
                    let mut at = v;
                    while at != from {
                        at = self.parent[at as usize];
                        path.push(at);
                    }
                    path.reverse();
                    return Ok(Some(path));
                }
                if self.parent[w as usize] == UNSEEN {
                    self.parent[w as usize] = v;
                    queue.push_back(w);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(TxnId, TxnId, Dep)]) -> Graph {
        let mut b = GraphBuilder::default();
        for &(f, t, d) in edges {
            b.add(f, t, d, Why { key: 0, value: 0 });
        }
        b.build(n)
    }

    #[test]
    fn components_and_shortest_cycles_follow_only_the_kinds_asked_for() {
        use Dep::*;
        let g = graph(
            5,
            &[(0, 1, Ww), (1, 2, Ww), (2, 0, Rw), (1, 0, Wr), (3, 4, Ww)],
        );
        let mut s = Search::new(&g);
        let all: Vec<TxnId> = (0..5).collect();
        let mut b = Budget { left: 1000 };
        assert_eq!(
            s.components(&all, Deps::ALL, &mut b).unwrap(),
            vec![vec![0, 1, 2]]
        );
        assert!(s.components(&all, Deps::WW, &mut b).unwrap().is_empty());
        assert_eq!(
            s.components(&all, Deps::WW_WR, &mut b).unwrap(),
            vec![vec![0, 1]]
        );
        assert_eq!(
            s.path(&all, 0, 0, Deps::WW_WR, &mut b).unwrap(),
            Some(vec![0, 1, 0])
        );
        assert_eq!(
            s.path(&all, 2, 2, Deps::ALL, &mut b).unwrap(),
            Some(vec![2, 0, 1, 2])
        );
        assert_eq!(s.path(&all, 3, 3, Deps::ALL, &mut b).unwrap(), None);
        let mut tiny = Budget { left: 2 };
        assert_eq!(s.components(&all, Deps::ALL, &mut tiny), Err(OutOfBudget));
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000u32;
        let mut edges: Vec<(TxnId, TxnId, Dep)> = (0..n - 1).map(|i| (i, i + 1, Dep::Ww)).collect();
        edges.push((n - 1, 0, Dep::Ww));
        let g = graph(n as usize, &edges);
        let all: Vec<TxnId> = (0..n).collect();
        let mut b = Budget { left: u64::MAX };
        let found = Search::new(&g).components(&all, Deps::WW, &mut b).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n as usize);
    }
}
