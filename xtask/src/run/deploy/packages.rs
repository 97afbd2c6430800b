//! Packaging fanned out over CI jobs. `deploy --package-only --shard I/N
//! --packages DIR` packages one shard of the services with the pinned CLI
//! (`serverless package`, what a deploy runs before its gate) into
//! `DIR/<service>/`, each with a manifest of what it was made from: the
//! app, stage and region, the commit, the CLI, and the service's
//! fingerprint. `deploy --from-packages DIR…` then deploys in order under
//! one lock and one journal, each packaged service with `serverless deploy
//! --package`, after checking every manifest against this checkout before
//! anything changes: a package from another commit, stage, region or CLI,
//! or of files that changed since, is refused.
//!
//! A service whose packaging reads another service of the app (`${cf:}`, a
//! Compose output param) cannot be packaged before that one is deployed:
//! no shard takes it, and the deploy packages it at its turn.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::stacks::Stacks;
use crate::aws::target::Mode;
use crate::cfn::graph::Graph;
use crate::run::fingerprint::{self, Fingerprint};
use crate::run::preflight;
use crate::run::serverless::{Serverless, Sink};
use crate::sys::output::Printer;
use crate::sys::{git, hint, paths, refuse, tools};

/// The manifest beside each package.
pub const MANIFEST: &str = "xtask-package.json";

/// One shard of the services: the `index`-th (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `I/N`, 1 ≤ I ≤ N ≤ 256.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not a shard: write I/N with 1 ≤ I ≤ N (1/2, 2/2)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count || count > 256 {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether the service at `position` of the packable ones is this
    /// shard's: round robin, so each shard gets services of every wave.
    fn takes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a package was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub app: String,
    pub stage: String,
    pub region: String,
    pub service: String,
    /// The commit checked out (`none` outside a repository).
    pub commit: String,
    /// The Serverless CLI (the pinned one's lock, or `SERVERLESS_BIN`).
    pub cli: String,
    /// The service's fingerprint: every byte and value it is made of.
    pub fingerprint: String,
}

/// The services of `order` that may be packaged before the run (their
/// packaging reads no service of the app), and the others with why not.
pub fn packable(graph: &Graph, order: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    let mut yes = Vec::new();
    let mut no = Vec::new();
    for key in order {
        match graph
            .edges
            .iter()
            .find(|e| &e.from == key && e.read_at_package)
        {
            Some(edge) => no.push((
                key.clone(),
                format!(
                    "its packaging reads {} as deployed ({})",
                    edge.to, edge.reason
                ),
            )),
            None => yes.push(key.clone()),
        }
    }
    (yes, no)
}

fn commit(app: &App) -> String {
    git::commit(&app.root).unwrap_or_else(|| "none".into())
}

/// `--package-only`: packages this shard's services into `dir`, each with
/// its manifest. What it packaged and what it left, as text.
pub async fn package_only(
    app: &App,
    stage: &Stage,
    (mode, allow_findings): (Mode, bool),
    shard: Shard,
    dir: &Path,
    out: Arc<Printer>,
) -> Result<String> {
    let (graph, waves) = preflight::offline(app, stage, allow_findings, &out)?;
    let order: Vec<String> = waves.iter().flatten().cloned().collect();
    let (yes, no) = packable(&graph, &order);
    let mine: Vec<&String> = yes
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.takes(*i))
        .map(|(_, k)| k)
        .collect();
    let (target, _) = preflight::connect(app, stage, mode, &out).await?;
    let cli = Serverless::new(&target.target)?;
    let stacks = target.stacks();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", paths::display(dir)))?;
    let logs = dir.join(".logs");
    std::fs::create_dir_all(&logs)?;
    let commit = commit(app);
    let mut lines = vec![format!(
        "shard {shard}: {} of {} services packaged for stage {stage} into {}",
        mine.len(),
        yes.len(),
        paths::display(dir)
    )];
    for key in mine {
        let service = app.service(key).context("a service of the plan")?;
        out.step(&format!("packaging {key}"));
        tools::service_dependencies(&service.dir).await?;
        // Its fingerprint as its deploy computes it (no Compose output
        // param: a service reading one is not packable).
        let params = stacks.compose_params(app, service, stage).await?;
        let fingerprint = match fingerprint::compute(service, stage, &stacks, &params).await? {
            Fingerprint::Known(fp) => fp,
            Fingerprint::Unknowable(why) => {
                lines.push(format!("  {key}: not packaged: its deploy could not check the package against the files ({why})"));
                continue;
            }
        };
        let target_dir = dir.join(key);
        let _ = std::fs::remove_dir_all(&target_dir);
        std::fs::create_dir_all(&target_dir)?;
        let sink = Sink {
            prefix: key.clone(),
            log: logs.join(format!("{key}.log")),
            out: out.clone(),
        };
        cli.package(service, stage, &target_dir, &params, &sink)
            .await
            .with_context(|| {
                format!("packaging {key} failed; see {}", paths::display(&sink.log))
            })?;
        let manifest = Manifest {
            app: app.name(),
            stage: stage.name().to_string(),
            region: stage.region().to_string(),
            service: key.clone(),
            commit: commit.clone(),
            cli: fingerprint::cli_id(),
            fingerprint,
        };
        std::fs::write(
            target_dir.join(MANIFEST),
            serde_json::to_string_pretty(&manifest)?,
        )?;
        lines.push(format!("  {key}: packaged"));
    }
    for (key, why) in no {
        lines.push(format!(
            "  {key}: left to the deploy, which packages it at its turn: {why}"
        ));
    }
    Ok(lines.join("\n"))
}

/// The packages a `--from-packages` deploy uses, by service: each checked
/// against this checkout before anything changes.
#[derive(Debug, Default)]
pub struct Packages {
    pub by_service: BTreeMap<String, PathBuf>,
}

/// Finds the packages of `selected` in `dirs` and checks each manifest:
/// this app, stage, region, commit and CLI, and the fingerprint of the
/// service as it is now. Any mismatch refuses the deploy.
pub async fn verified(
    app: &App,
    stage: &Stage,
    dirs: &[PathBuf],
    selected: &[String],
    stacks: &Stacks,
    out: &Printer,
) -> Result<Packages> {
    let mut packages = Packages::default();
    if dirs.is_empty() {
        return Ok(packages);
    }
    for dir in dirs {
        if !dir.is_dir() {
            refuse!(
                "{} is not a folder of packages; nothing was deployed",
                paths::display(dir)
            );
        }
    }
    let commit = commit(app);
    let cli = fingerprint::cli_id();
    let again = |dir: &Path| {
        hint::xtask(&format!(
            "deploy {stage} --package-only --packages {}",
            paths::display(dir)
        ))
    };
    for key in selected {
        let Some(found) = dirs
            .iter()
            .map(|d| d.join(key))
            .find(|d| d.join(MANIFEST).is_file())
        else {
            continue;
        };
        let path = found.join(MANIFEST);
        let manifest: Manifest = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not a package manifest", paths::display(&path)))?;
        let wanted = [
            ("app", manifest.app.as_str(), app.name()),
            ("service", manifest.service.as_str(), key.clone()),
            ("stage", manifest.stage.as_str(), stage.name().to_string()),
            (
                "region",
                manifest.region.as_str(),
                stage.region().to_string(),
            ),
            ("commit", manifest.commit.as_str(), commit.clone()),
            ("Serverless CLI", manifest.cli.as_str(), cli.clone()),
        ];
        for (what, theirs, ours) in wanted {
            if theirs != ours {
                refuse!(
                    "the package of {key} ({}) was made for {what} `{theirs}`, and this deploy is for `{ours}`; package again from this checkout (`{}`) or leave it out; nothing was deployed",
                    paths::display(&found),
                    again(found.parent().unwrap_or(&found))
                );
            }
        }
        let service = app.service(key).context("a service of the plan")?;
        let params = stacks.compose_params(app, service, stage).await?;
        let now = fingerprint::compute(service, stage, stacks, &params).await?;
        if now != Fingerprint::Known(manifest.fingerprint.clone()) {
            refuse!(
                "the package of {key} ({}) was made from other files or values than {key} has now; package again (`{}`); nothing was deployed",
                paths::display(&found),
                again(found.parent().unwrap_or(&found))
            );
        }
        out.step(&format!(
            "{key}: deploys from its package {}",
            paths::display(&found)
        ));
        packages.by_service.insert(key.clone(), found);
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_round_robin() {
        let shard = Shard::parse("2/3").unwrap();
        let taken: Vec<usize> = (0..7).filter(|i| shard.takes(*i)).collect();
        assert_eq!(taken, [1, 4]);
        for bad in ["0/2", "3/2", "1", "a/b", "1/0", "1/999"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // Every service in exactly one shard.
        for n in 1..5 {
            for i in 0..11 {
                let owners = (1..=n)
                    .filter(|k| {
                        Shard {
                            index: *k,
                            count: n,
                        }
                        .takes(i)
                    })
                    .count();
                assert_eq!(owners, 1);
            }
        }
    }
}
