//! Records the commit the binary is built from, so that every report can
//! say which version of the tool produced it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let version = match commit {
        Some(c) if dirty => format!("commit {c}, with uncommitted changes"),
        Some(c) => format!("commit {c}"),
        None => "commit unknown".to_string(),
    };
    println!("cargo:rustc-env=MAELSTROM_NODE_COMMIT={version}");
    // Build again when HEAD moves or the index changes (a commit, a
    // checkout, a staged edit).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "index", "logs/HEAD"] {
            println!("cargo:rerun-if-changed={dir}/{file}");
        }
    }
    // And when a source changes, so "uncommitted changes" stays true.
    for dir in ["build.rs", "Cargo.toml", "bin", "framework", "workloads"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
