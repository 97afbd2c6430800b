//! The bench at AWS's pace (`--aws-pace F`): each app deployed three ways
//! on a fresh emulator behind a [`Pacer`] — ours, the plain serial way,
//! and wave by wave as Compose does — and set against the critical-path
//! bound, the time no scheduler can beat: the longest chain of modelled
//! stack operations through the app's dependencies, each service's stack
//! starting no earlier than a CLI can start and package it (once at the
//! chain's head, and again after each dependency the CLI reads while it
//! packages, `${cf:}` or a Compose output).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::app::App;
use crate::aws::emulator::tap::{Options, Tap};
use crate::aws::emulator::{Backend, Emulator};
use crate::cfn::graph::Graph;
use crate::run::journal::{self, Journal};

use super::baseline::{plain_deploy, wave_deploy, xtask};
use super::pace::{Model, Operation, Pacer};
use super::{median, secs, Way, STAGE};

/// One app's paced medians, in seconds.
#[derive(Debug, Clone)]
pub(super) struct Paced {
    pub name: String,
    pub services: usize,
    pub ours: f64,
    pub serial: f64,
    pub waves: f64,
    pub bound: f64,
    /// The modelled stack operations of our first run.
    pub operations: Vec<Operation>,
}

/// Deploys `dir` `runs` times each way at `factor` of AWS's pace.
pub(super) async fn bench_app(
    name: &str,
    dir: &Path,
    cli: &Path,
    work: &Path,
    model: &Model,
    factor: f64,
    runs: usize,
) -> Result<Paced> {
    let app = App::load(dir).with_context(|| format!("the {name} app"))?;
    let dir_arg = dir.to_string_lossy().to_string();
    let (mut ours, mut serial, mut waves, mut bounds) = (vec![], vec![], vec![], vec![]);
    let mut operations = Vec::new();
    for i in 0..runs {
        for way in [Way::Ours, Way::Serial, Way::Waves] {
            crate::errln!(
                "bench: {name} at {factor} of AWS's pace, {way:?}, sample {}/{runs}",
                i + 1
            );
            let emulator = Emulator::start(Backend::Ministack).await?;
            let state = work.join(format!("paced-{name}-{i}-{way:?}"));
            xtask(
                emulator.endpoint(),
                &state,
                &["--app", &dir_arg, "bootstrap", STAGE, "--rehearse"],
            )?;
            let pacer = Pacer::new(model.clone(), factor, emulator.endpoint());
            let tap = Tap::start_with(
                emulator.endpoint(),
                Options {
                    record: false,
                    hold: Some(pacer.hold()),
                },
            )?;
            let at = tap.endpoint();
            let took = match way {
                Way::Ours => xtask(
                    at,
                    &state,
                    &[
                        "--app",
                        &dir_arg,
                        "deploy",
                        STAGE,
                        "--rehearse",
                        "--skip-smoke",
                    ],
                )?,
                Way::Serial => plain_deploy(cli, &app, at)?,
                Way::Waves => wave_deploy(cli, &app, at)
                    .with_context(|| format!("{name} deployed wave by wave"))?,
            };
            match way {
                Way::Ours => {
                    ours.push(secs(took));
                    let ops = pacer.operations();
                    bounds.push(
                        bound(&app, &state, &ops, factor)
                            .with_context(|| format!("{name}'s critical-path bound"))?,
                    );
                    if operations.is_empty() {
                        operations = ops;
                    }
                }
                Way::Serial => serial.push(secs(took)),
                Way::Waves => waves.push(secs(took)),
            }
            drop(tap);
            drop(emulator);
            let _ = std::fs::remove_dir_all(&state);
        }
    }
    Ok(Paced {
        name: name.to_string(),
        services: app.services.len(),
        ours: median(&mut ours),
        serial: median(&mut serial),
        waves: median(&mut waves),
        bound: median(&mut bounds),
        operations,
    })
}

/// The critical-path bound of a deploy, in seconds: each service's stack
/// operations at their modelled (scaled) time, chained through the app's
/// dependencies, with a CLI's start and packaging (the quickest our run
/// saw) before a chain's first stack and after every dependency read at
/// packaging.
fn bound(app: &App, state: &Path, operations: &[Operation], factor: f64) -> Result<f64> {
    let stage = app.stage(STAGE)?;
    let journal = last_journal(state, &app.name())?;
    let mut stack_s: BTreeMap<&str, f64> = BTreeMap::new();
    for op in operations {
        *stack_s.entry(op.stack.as_str()).or_default() += op.seconds * factor;
    }
    // The CLI's part before CloudFormation, for services deployed at
    // their turn (not packaged ahead).
    let package = journal
        .services
        .iter()
        .filter(|s| s.timings.package.is_none())
        .filter_map(|s| {
            let (deploy, cfn) = (
                s.timings.deploy.as_ref()?,
                s.timings.cloudformation.as_ref()?,
            );
            Some(cfn.start.saturating_sub(deploy.start) as f64 / 1000.0)
        })
        .fold(f64::INFINITY, f64::min);
    let package = if package.is_finite() { package } else { 0.0 };
    let graph = Graph::build(app, &stage);
    let mut finish: BTreeMap<String, f64> = BTreeMap::new();
    for wave in graph
        .waves()
        .map_err(|c| anyhow::anyhow!("a cycle: {:?}", c.cycle))?
    {
        for key in wave {
            let stack = app
                .service(&key)
                .and_then(|s| s.stack_name(&stage))
                .unwrap_or_default();
            let start = graph
                .edges
                .iter()
                .filter(|e| e.from == key)
                .map(|e| {
                    finish.get(&e.to).copied().unwrap_or(0.0)
                        + if e.read_at_package { package } else { 0.0 }
                })
                .fold(package, f64::max);
            let own = stack_s.get(stack.as_str()).copied().unwrap_or(0.0);
            finish.insert(key, start + own);
        }
    }
    Ok(finish.values().copied().fold(0.0, f64::max))
}

/// The newest journal of the app's rehearsed stage under `state`.
fn last_journal(state: &Path, app: &str) -> Result<Journal> {
    let dir: PathBuf = state
        .join("journal")
        .join(app)
        .join(format!("{STAGE}.rehearsal"));
    let newest = journal::json_files(&dir)
        .into_iter()
        .max()
        .with_context(|| format!("no journal in {}", dir.display()))?;
    Journal::load(&newest)
}

/// The paced results as text, with the targets of issue's bench.
pub(super) fn report(results: &[Paced], model: &Model, factor: f64) -> String {
    let mark = |ok: bool| if ok { "✔" } else { "✘" };
    let mut out = format!(
        "at {factor} of AWS's pace (CloudFormation modelled by {}, scaled by {factor}):\n",
        model.origin
    );
    for p in results {
        let (to_serial, to_waves, to_bound) =
            (p.ours / p.serial, p.ours / p.waves, p.ours / p.bound);
        let (serial_target, waves_target, bound_target) = targets(&p.name);
        out.push_str(&format!(
            "  {} ({} services): ours {:.1}s, plain serial {:.1}s, waves {:.1}s, critical-path bound {:.1}s\n",
            p.name, p.services, p.ours, p.serial, p.waves, p.bound
        ));
        let line = |what: &str, ratio: f64, target: Option<f64>| match target {
            Some(t) => format!(
                "    {what:16} {ratio:.2} (target ≤ {t}) {}\n",
                mark(ratio <= t)
            ),
            None => format!("    {what:16} {ratio:.2}\n"),
        };
        out.push_str(&line("of plain serial", to_serial, serial_target));
        out.push_str(&line("of waves", to_waves, waves_target));
        out.push_str(&line("of the bound", to_bound, bound_target));
    }
    out.push_str("the model, seconds at AWS's pace (type: create/update/delete, source):\n");
    for (kind, t, source) in model.table() {
        out.push_str(&format!(
            "  {kind}: {}/{}/{} ({source})\n",
            t.create, t.update, t.delete
        ));
    }
    out
}

/// The targets by app: of plain serial, of waves, of the bound.
fn targets(name: &str) -> (Option<f64>, Option<f64>, Option<f64>) {
    match name {
        "tb365" => (Some(0.55), None, None),
        "deep" => (Some(0.35), Some(0.75), None),
        "monorepo" => (None, Some(0.7), Some(1.15)),
        _ => (None, None, None),
    }
}

/// The paced results as JSON.
pub(super) fn json(results: &[Paced], model: &Model, factor: f64) -> serde_json::Value {
    serde_json::json!({
        "aws_pace": factor,
        "model": model.origin,
        "model_table": model.table().iter().map(|(kind, t, source)| serde_json::json!({
            "type": kind, "create_s": t.create, "update_s": t.update, "delete_s": t.delete, "source": source,
        })).collect::<Vec<_>>(),
        "apps": results.iter().map(|p| {
            let (s, w, b) = targets(&p.name);
            serde_json::json!({
                "app": p.name, "services": p.services,
                "medians_s": {"ours": p.ours, "plain_serial": p.serial, "waves": p.waves, "critical_path_bound": p.bound},
                "ratios": {"of_plain_serial": p.ours / p.serial, "of_waves": p.ours / p.waves, "of_bound": p.ours / p.bound},
                "targets": {"of_plain_serial": s, "of_waves": w, "of_bound": b},
                "modelled_operations": p.operations.iter().map(|o| serde_json::json!({
                    "stack": o.stack, "kind": o.kind, "created": o.created,
                    "updated": o.updated, "deleted": o.deleted, "aws_s": o.seconds,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}
