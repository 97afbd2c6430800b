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

use super::baseline::{plain_deploy, wave_deploy, xtask, xtask_said};
use super::pace::{Model, Operation, Pacer};
use super::{median, secs, Way, STAGE};

/// How many CI jobs the packaging of the fanned-out way is split over.
pub(super) const SHARDS: usize = 4;

/// One app's paced medians, in seconds.
#[derive(Debug, Clone)]
pub(super) struct Paced {
    pub name: String,
    pub services: usize,
    pub ours: f64,
    pub serial: f64,
    pub waves: f64,
    /// Ours with its packaging fanned out over [`SHARDS`] jobs: the
    /// slowest shard (the jobs run at once, each on a runner like this
    /// machine), then the deploy from the packages.
    pub fanned: f64,
    pub bound: f64,
    /// CPU seconds our deploy's processes used, over this machine's
    /// cores: what no schedule on this machine can beat either.
    pub machine_bound: f64,
    /// The modelled stack operations of our first run.
    pub operations: Vec<Operation>,
    /// Our first run's timeline (`report`): where the time went.
    pub timeline: String,
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
    let (mut fanned, mut machine) = (vec![], vec![]);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut operations = Vec::new();
    let mut timeline = String::new();
    for i in 0..runs {
        for way in [Way::Ours, Way::Serial, Way::Waves, Way::Shards] {
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
            let cpu_before = children_cpu();
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
                Way::Shards => fanned_out(at, &state, &dir_arg)
                    .with_context(|| format!("{name} packaged in shards"))?,
            };
            let cpu = children_cpu() - cpu_before;
            match way {
                Way::Ours => {
                    ours.push(secs(took));
                    machine.push(cpu / cores);
                    let ops = pacer.operations();
                    bounds.push(
                        bound(&app, &state, &ops, factor)
                            .with_context(|| format!("{name}'s critical-path bound"))?,
                    );
                    if operations.is_empty() {
                        operations = ops;
                        timeline = xtask_said(
                            at,
                            &state,
                            &["--app", &dir_arg, "report", STAGE, "--rehearse"],
                        )
                        .map(|(_, text)| text)
                        .unwrap_or_default();
                    }
                }
                Way::Serial => serial.push(secs(took)),
                Way::Waves => waves.push(secs(took)),
                Way::Shards => fanned.push(secs(took)),
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
        fanned: median(&mut fanned),
        bound: median(&mut bounds),
        machine_bound: median(&mut machine),
        operations,
        timeline,
    })
}

/// Ours with packaging fanned out over [`SHARDS`] jobs: each shard packaged
/// (one after another here, each timed as the runner of its own it would
/// have in CI), then the deploy from the packages. The slowest shard plus
/// the deploy.
pub(super) fn fanned_out(endpoint: &str, state: &Path, app: &str) -> Result<std::time::Duration> {
    let packages = state.join("packages");
    let packages_arg = packages.to_string_lossy().to_string();
    let mut slowest = std::time::Duration::ZERO;
    for index in 1..=SHARDS {
        let shard = format!("{index}/{SHARDS}");
        let took = xtask(
            endpoint,
            &state.join(format!("shard-{index}")),
            &[
                "--app",
                app,
                "deploy",
                STAGE,
                "--rehearse",
                "--package-only",
                "--shard",
                &shard,
                "--packages",
                &packages_arg,
            ],
        )?;
        slowest = slowest.max(took);
    }
    let deploy = xtask(
        endpoint,
        state,
        &[
            "--app",
            app,
            "deploy",
            STAGE,
            "--rehearse",
            "--skip-smoke",
            "--from-packages",
            &packages_arg,
        ],
    )?;
    Ok(slowest + deploy)
}

/// CPU seconds (user and system) of every child process that has ended
/// and been waited for: our deploys and the CLIs they ran.
fn children_cpu() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |u| {
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
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
pub(super) fn report(results: &[Paced], model: &Model, factor: f64, verbose: bool) -> String {
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
        out.push_str(&format!(
            "    packaging fanned out over {SHARDS} jobs: {:.1}s ({:.2} of the bound); this machine's CPU bound {:.1}s (our processes' CPU over its cores)\n",
            p.fanned,
            p.fanned / p.bound,
            p.machine_bound
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
        if verbose {
            out.push_str("    our run's timeline:\n");
            for line in p.timeline.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
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
                "medians_s": {"ours": p.ours, "plain_serial": p.serial, "waves": p.waves, "fanned_out": p.fanned, "critical_path_bound": p.bound, "machine_cpu_bound": p.machine_bound},
                "shards": SHARDS,
                "ratios": {"of_plain_serial": p.ours / p.serial, "of_waves": p.ours / p.waves, "of_bound": p.ours / p.bound},
                "targets": {"of_plain_serial": s, "of_waves": w, "of_bound": b},
                "timeline": p.timeline,
                "modelled_operations": p.operations.iter().map(|o| serde_json::json!({
                    "stack": o.stack, "kind": o.kind, "created": o.created,
                    "updated": o.updated, "deleted": o.deleted, "aws_s": o.seconds,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}
