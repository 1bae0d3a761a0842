//! The lab's modules form layers: none reaches, directly or through
//! others, back to itself (`crate::…` paths outside tests and comments).
//! A circle would tie two jobs into one, as `registry` and `sim`, `cluster`
//! and `lab` once were.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code names.
fn lab_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/src");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).unwrap() {
                files.push(sub.unwrap().path());
            }
        } else {
            files.push(path);
        }
    }
    let module_of = |path: &Path| -> String {
        let rel = path.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
    {
        let module = module_of(file);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Code only: not the unit tests at the end, not comments.
        let code = text.split("#[cfg(test)]").next().unwrap();
        let edges = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if name != module && modules.contains(&name) {
                    edges.insert(name);
                }
            }
        }
    }
    graph
}

#[test]
fn the_labs_modules_have_no_circles() {
    let graph = lab_imports();
    assert!(graph.len() > 10, "{graph:?}");
    // Depth-first search for a path back to where it started.
    fn circle(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(i) = path.iter().position(|m| m == next) {
                let mut found = path[i..].to_vec();
                found.push(next.clone());
                return Some(found);
            }
            path.push(next.clone());
            if let Some(found) = circle(graph, path) {
                return Some(found);
            }
            path.pop();
        }
        None
    }
    for start in graph.keys() {
        if let Some(found) = circle(&graph, &mut vec![start.clone()]) {
            panic!("the lab's modules circle: {}", found.join(" -> "));
        }
    }
}
