//! The catalog links every crate of nodes: a crate under `workloads/` that
//! registers a node and that it forgets would be built and tested, yet
//! silently absent from the binary, the lab and the fuzzer (`inventory`
//! only registers linked crates).

use std::path::Path;

/// The package name in a crate's `Cargo.toml`.
fn package_name(manifest: &str) -> Option<String> {
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| {
            let rest = l.trim().strip_prefix("name")?.trim_start();
            Some(rest.strip_prefix('=')?.trim().trim_matches('"').to_string())
        })
}

#[test]
fn the_catalog_links_every_node_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog = std::fs::read_to_string(root.join("catalog/Cargo.toml")).unwrap();
    let uses = std::fs::read_to_string(root.join("catalog/src/lib.rs")).unwrap();
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(root.join("workloads")).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = package_name(&text).expect("a package name");
        // A library the nodes share (gossip_set) registers nothing.
        let lib = std::fs::read_to_string(manifest.with_file_name("src/lib.rs")).unwrap();
        if !lib.contains("Registration::new") {
            continue;
        }
        assert!(
            catalog
                .lines()
                .any(|l| l.starts_with(&format!("{name} = "))),
            "catalog/Cargo.toml does not depend on {name}"
        );
        let ident = name.replace('-', "_");
        assert!(
            uses.contains(&format!("use {ident} as _;")),
            "catalog/src/lib.rs does not link {name} (`use {ident} as _;`)"
        );
        crates.push(name);
    }
    assert!(crates.len() >= 5, "found {crates:?}");
}
