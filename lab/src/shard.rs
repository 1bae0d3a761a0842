//! Shard files: one machine's part of a campaign over seeds, and how the
//! parts become the campaign again.
//!
//! `--shard K/N` runs the seeds at positions K−1, K−1+N, K−1+2N, … of the
//! campaign's seed list and writes a shard file: the campaign's parameters
//! (everything that decides its results), the whole seed list, K and N,
//! and each run's [`SeedResult`]. [`merge`] checks that N shard files are
//! the N parts of one campaign and puts their results back in seed-list
//! order, for [`crate::campaign::merge_shards`] to summarise as the
//! unsplit campaign does: the same text or JSON, byte for byte, and the
//! same verdict.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::Tested;
use crate::report::SeedResult;

/// The `format` of a shard file, so that another JSON file is told apart.
pub const FORMAT: &str = "maelstrom-node shard 1";

/// Which part of a campaign a shard is: `K/N`, the K-th of N (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// K, in 1..=N.
    pub index: usize,
    /// N, at least 1.
    pub count: usize,
}

impl Part {
    /// The positions in a seed list of `len` seeds that this part runs.
    pub fn positions(self, len: usize) -> impl Iterator<Item = usize> {
        (self.index - 1..len).step_by(self.count)
    }

    /// The seeds of `all` this part runs, in their order.
    pub fn seeds(self, all: &[u64]) -> Vec<u64> {
        self.positions(all.len()).map(|i| all[i]).collect()
    }

    fn check(self) -> Result<Part, String> {
        if self.count == 0 || self.index == 0 || self.index > self.count {
            return Err(format!(
                "{self}: K/N needs N >= 1 and K in 1..=N (shards are counted from 1)"
            ));
        }
        Ok(self)
    }
}

impl FromStr for Part {
    type Err = String;

    /// `K/N`.
    fn from_str(text: &str) -> Result<Part, String> {
        let bad = || format!("`{text}`: give K/N, the K-th of N shards (1/4 … 4/4)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Part { index, count }.check()
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Where a campaign's runs ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerKind {
    Simulator,
    Processes,
}

/// Everything that decides a campaign's results, apart from its seeds:
/// shards whose parameters differ are parts of different campaigns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// The workload as the user named it (the summary names it).
    pub workload: String,
    pub runner: RunnerKind,
    /// The tool (version and commit) and the node program.
    pub tested: Tested,
    /// The run's settings as its report writes them, without the seed.
    pub settings: serde_json::Value,
    /// Every flag of the workload's spec and node with its value, the
    /// defaults included (`--keys 20`, `--strategy full-state`).
    pub workload_flags: Vec<String>,
}

/// One shard's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardFile {
    /// [`FORMAT`].
    pub format: String,
    pub parameters: Parameters,
    /// The whole campaign's seed list (`--seeds`), every shard's.
    pub seeds: Vec<u64>,
    pub shard: Part,
    /// This shard's runs, in seed-list order.
    pub results: Vec<SeedResult>,
}

impl ShardFile {
    pub fn new(
        parameters: Parameters,
        seeds: Vec<u64>,
        shard: Part,
        results: Vec<SeedResult>,
    ) -> ShardFile {
        ShardFile {
            format: FORMAT.into(),
            parameters,
            seeds,
            shard,
            results,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("shard files serialise")
    }

    /// Reads and checks the shard file at `path`.
    pub fn read(path: &Path) -> Result<ShardFile, ShardError> {
        let text = std::fs::read_to_string(path).map_err(|e| ShardError::Unreadable {
            path: path.into(),
            why: e.to_string(),
        })?;
        ShardFile::parse(&text).map_err(|e| e.at(path))
    }

    /// A shard file from its text; errors name no file (see
    /// [`ShardError::at`]).
    fn parse(text: &str) -> Result<ShardFile, ShardError> {
        let not_shard = |why: String| ShardError::NotShard {
            path: PathBuf::new(),
            why,
        };
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            return Err(ShardError::NotJson {
                path: PathBuf::new(),
                why: e.to_string(),
            });
        }
        /// Just the marker, to tell a shard file from other JSON.
        #[derive(Deserialize)]
        struct Marker {
            format: Option<serde_json::Value>,
        }
        let marker = serde_json::from_str::<Marker>(text)
            .map_err(|_| not_shard("it is not a JSON object".into()))?;
        if marker.format != Some(serde_json::Value::from(FORMAT)) {
            return Err(not_shard(format!(
                "it has no \"format\": \"{FORMAT}\" (`sim` or `cluster` with `--seeds … --shard K/N` writes one)"
            )));
        }
        let file: ShardFile = serde_json::from_str(text).map_err(|e| not_shard(e.to_string()))?;
        file.shard.check().map_err(not_shard)?;
        if file.seeds.is_empty() {
            return Err(not_shard("its seed list is empty".into()));
        }
        let positions: Vec<usize> = file.shard.positions(file.seeds.len()).collect();
        if positions.len() != file.results.len() {
            return Err(not_shard(format!(
                "shard {} of {} seeds needs {} results, it has {} (was its campaign interrupted?)",
                file.shard,
                file.seeds.len(),
                positions.len(),
                file.results.len()
            )));
        }
        for (result, &i) in file.results.iter().zip(&positions) {
            if result.seed != file.seeds[i] {
                return Err(not_shard(format!(
                    "its result for seed {} stands where the seed list has seed {}",
                    result.seed, file.seeds[i]
                )));
            }
        }
        Ok(file)
    }
}

/// Why shard files could not be merged.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardError {
    Unreadable {
        path: PathBuf,
        why: String,
    },
    NotJson {
        path: PathBuf,
        why: String,
    },
    NotShard {
        path: PathBuf,
        why: String,
    },
    /// Two shards' parameters differ, first at `field`.
    DifferentCampaigns {
        a: PathBuf,
        b: PathBuf,
        field: String,
        values: (String, String),
    },
    DifferentSeeds {
        a: PathBuf,
        b: PathBuf,
    },
    /// Two shards of splits into different numbers of parts.
    DifferentSplits {
        a: PathBuf,
        b: PathBuf,
        parts: (Part, Part),
    },
    Duplicate {
        a: PathBuf,
        b: PathBuf,
        part: Part,
    },
    /// Not every part was given: the K missing, of N.
    Incomplete {
        missing: Vec<usize>,
        count: usize,
    },
}

impl ShardError {
    /// The same error about the file at `path`.
    fn at(self, path: &Path) -> ShardError {
        match self {
            ShardError::NotJson { why, .. } => ShardError::NotJson {
                path: path.into(),
                why,
            },
            ShardError::NotShard { why, .. } => ShardError::NotShard {
                path: path.into(),
                why,
            },
            other => other,
        }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Unreadable { path, why } => {
                write!(f, "cannot read {}: {why}", path.display())
            }
            ShardError::NotJson { path, why } => {
                write!(
                    f,
                    "{} is not a shard file: malformed JSON: {why}",
                    path.display()
                )
            }
            ShardError::NotShard { path, why } => {
                write!(f, "{} is not a shard file: {why}", path.display())
            }
            ShardError::DifferentCampaigns {
                a,
                b,
                field,
                values: (va, vb),
            } => write!(
                f,
                "{} and {} are shards of different campaigns: their parameters differ at {field} ({va} vs {vb})",
                a.display(),
                b.display()
            ),
            ShardError::DifferentSeeds { a, b } => write!(
                f,
                "{} and {} are shards of different seed lists",
                a.display(),
                b.display()
            ),
            ShardError::DifferentSplits {
                a,
                b,
                parts: (pa, pb),
            } => write!(
                f,
                "{} is shard {pa} and {} is shard {pb}: parts of splits into different numbers of shards",
                a.display(),
                b.display()
            ),
            ShardError::Duplicate { a, b, part } => write!(
                f,
                "{} and {} are both shard {part}: give each shard once",
                a.display(),
                b.display()
            ),
            ShardError::Incomplete { missing, count } => {
                let ks: Vec<String> = missing.iter().map(ToString::to_string).collect();
                let (word, verb) = if missing.len() == 1 {
                    ("shard", "is")
                } else {
                    ("shards", "are")
                };
                write!(
                    f,
                    "incomplete: {word} {} of {count} {verb} missing (merge needs all {count})",
                    ks.join(", ")
                )
            }
        }
    }
}

/// The shards' results as one campaign's: every seed's in seed-list
/// order, after checking that `shards` (with the paths they came from)
/// are each part of one campaign exactly once.
pub fn merge(shards: &[(PathBuf, ShardFile)]) -> Result<Vec<SeedResult>, ShardError> {
    let Some((first_path, first)) = shards.first() else {
        return Err(ShardError::Incomplete {
            missing: Vec::new(),
            count: 0,
        });
    };
    for (path, shard) in &shards[1..] {
        if let Some((field, values)) = first_difference(&first.parameters, &shard.parameters) {
            return Err(ShardError::DifferentCampaigns {
                a: first_path.clone(),
                b: path.clone(),
                field,
                values,
            });
        }
        if shard.seeds != first.seeds {
            return Err(ShardError::DifferentSeeds {
                a: first_path.clone(),
                b: path.clone(),
            });
        }
        if shard.shard.count != first.shard.count {
            return Err(ShardError::DifferentSplits {
                a: first_path.clone(),
                b: path.clone(),
                parts: (first.shard, shard.shard),
            });
        }
    }
    let count = first.shard.count;
    let mut by_part: Vec<Option<&(PathBuf, ShardFile)>> = vec![None; count];
    for entry in shards {
        let slot = &mut by_part[entry.1.shard.index - 1];
        if let Some((other, _)) = slot {
            return Err(ShardError::Duplicate {
                a: other.clone(),
                b: entry.0.clone(),
                part: entry.1.shard,
            });
        }
        *slot = Some(entry);
    }
    let missing: Vec<usize> = (1..=count).filter(|k| by_part[k - 1].is_none()).collect();
    if !missing.is_empty() {
        return Err(ShardError::Incomplete { missing, count });
    }
    // Position i of the seed list is result i / N of shard i % N + 1.
    let results = (0..first.seeds.len())
        .map(|i| {
            let (_, shard) = by_part[i % count].expect("no part is missing");
            shard.results[i / count].clone()
        })
        .collect();
    Ok(results)
}

/// Reads the shard files at `paths` and merges them (see [`merge`]):
/// the unsplit campaign's workload and per-seed results.
pub fn merge_files(paths: &[PathBuf]) -> Result<(String, Vec<SeedResult>), ShardError> {
    let shards = paths
        .iter()
        .map(|path| Ok((path.clone(), ShardFile::read(path)?)))
        .collect::<Result<Vec<_>, ShardError>>()?;
    let results = merge(&shards)?;
    Ok((shards[0].1.parameters.workload.clone(), results))
}

/// The first field at which two campaigns' parameters differ, with both
/// values (JSON text), or `None` when they are the same.
fn first_difference(a: &Parameters, b: &Parameters) -> Option<(String, (String, String))> {
    let (a, b) = (
        serde_json::to_value(a).expect("parameters serialise"),
        serde_json::to_value(b).expect("parameters serialise"),
    );
    difference("", &a, &b)
}

fn difference(
    at: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Option<(String, (String, String))> {
    use serde_json::Value;
    if a == b {
        return None;
    }
    if let (Value::Object(ma), Value::Object(mb)) = (a, b) {
        for key in ma.keys().chain(mb.keys()) {
            let (va, vb) = (
                ma.get(key).unwrap_or(&Value::Null),
                mb.get(key).unwrap_or(&Value::Null),
            );
            let field = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if let Some(found) = difference(&field, va, vb) {
                return Some(found);
            }
        }
    }
    Some((at.to_string(), (a.to_string(), b.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{SeedMetric, Validity};

    fn result(seed: u64, value: f64) -> SeedResult {
        SeedResult {
            seed,
            validity: Validity::Valid,
            why: None,
            metrics: vec![SeedMetric {
                name: "m".into(),
                value,
                unit: "ms".into(),
            }],
        }
    }

    fn parameters() -> Parameters {
        Parameters {
            workload: "w".into(),
            runner: RunnerKind::Simulator,
            tested: Tested::default(),
            settings: serde_json::json!({"nodes": 5}),
            workload_flags: vec!["--keys".into(), "20".into()],
        }
    }

    /// The shards of seeds `all` split `count` ways, as files would hold them.
    fn split(all: &[u64], count: usize) -> Vec<(PathBuf, ShardFile)> {
        (1..=count)
            .map(|index| {
                let part = Part { index, count };
                let results = part
                    .seeds(all)
                    .into_iter()
                    .map(|s| result(s, s as f64 / 3.0))
                    .collect();
                let file = ShardFile::new(parameters(), all.to_vec(), part, results);
                let text = file.to_json();
                (
                    PathBuf::from(format!("s{index}.json")),
                    ShardFile::parse(&text).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn parts_are_k_of_n_counted_from_one() {
        assert_eq!("2/4".parse(), Ok(Part { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "1/0", "a/4", "2", "", "-1/4", "1/4/2"] {
            assert!(bad.parse::<Part>().is_err(), "{bad}");
        }
        let part: Part = "2/3".parse().unwrap();
        assert_eq!(part.seeds(&[10, 11, 12, 13, 14, 15, 16]), [11, 14]);
        assert_eq!("3/3".parse::<Part>().unwrap().seeds(&[10, 11]), [0u64; 0]);
    }

    #[test]
    fn merged_results_are_in_seed_list_order_and_bit_exact() {
        let seeds: Vec<u64> = (1..=7).collect();
        for count in [1, 2, 3, 7, 9] {
            let mut shards = split(&seeds, count);
            shards.reverse();
            let merged = merge(&shards).unwrap();
            let expected: Vec<SeedResult> =
                seeds.iter().map(|&s| result(s, s as f64 / 3.0)).collect();
            assert_eq!(merged, expected, "{count} shards");
        }
    }

    #[test]
    fn values_without_a_json_number_survive_a_shard_file() {
        for value in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.1 + 0.2,
            1e-300,
        ] {
            let file = ShardFile::new(
                parameters(),
                vec![1],
                Part { index: 1, count: 1 },
                vec![result(1, value)],
            );
            let back = ShardFile::parse(&file.to_json()).unwrap();
            let read = back.results[0].metrics[0].value;
            assert_eq!(read.to_bits(), value.to_bits(), "{value}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_whole_shard_is_refused_with_why() {
        let good = split(&[1, 2, 3], 2)[0].1.to_json();
        let cases = [
            ("{\"format\": ", "malformed JSON"),
            ("[1, 2]", "not a JSON object"),
            ("{\"workload\": \"w\"}", "has no \"format\""),
            ("{\"format\": \"maelstrom-node shard 1\"}", "missing field"),
        ];
        for (text, why) in cases {
            let e = ShardFile::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        let short = good.replacen("\"seed\": 3", "\"seed\": 2", 1);
        let e = ShardFile::parse(&short).unwrap_err().to_string();
        assert!(
            e.contains("seed 2 stands where the seed list has seed 3"),
            "{e}"
        );
        let zero = good.replacen("\"index\": 1", "\"index\": 0", 1);
        let e = ShardFile::parse(&zero).unwrap_err().to_string();
        assert!(e.contains("K in 1..=N"), "{e}");
    }

    #[test]
    fn shards_of_another_campaign_split_or_seed_list_are_refused() {
        let seeds = [1, 2, 3, 4];
        let mut other = split(&seeds, 2);
        other[1].1.parameters.settings = serde_json::json!({"nodes": 7});
        let e = merge(&other).unwrap_err().to_string();
        assert!(e.contains("different campaigns"), "{e}");
        assert!(e.contains("settings.nodes (5 vs 7)"), "{e}");

        let mut mixed = split(&seeds, 2);
        mixed[1] = split(&[1, 2, 3, 5], 2).remove(1);
        assert!(
            merge(&mixed)
                .unwrap_err()
                .to_string()
                .contains("different seed lists")
        );

        let mut splits = split(&seeds, 2);
        splits[1] = split(&seeds, 4).remove(1);
        let e = merge(&splits).unwrap_err().to_string();
        assert!(e.contains("shard 1/2 and s2.json is shard 2/4"), "{e}");

        let mut twice = split(&seeds, 3);
        twice[2] = twice[1].clone();
        twice[2].0 = "again.json".into();
        let e = merge(&twice).unwrap_err().to_string();
        assert_eq!(
            e,
            "s2.json and again.json are both shard 2/3: give each shard once"
        );

        let some = split(&seeds, 4);
        let e = merge(&some[1..3]).unwrap_err().to_string();
        assert_eq!(
            e,
            "incomplete: shards 1, 4 of 4 are missing (merge needs all 4)"
        );
    }
}
