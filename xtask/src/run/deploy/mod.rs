//! Deploy's engine: one entry point, [`deploy`], taking the resolved
//! [`Options`]. Preflight does every check before the first change (the
//! stage, the audit, the graph, credentials and account, the deployment
//! buckets, the exports other stacks import, the protected-stage rules,
//! the lock, taken by [`StageRun`], which releases it on every path out);
//! then every service in graph order through the ready pool
//! ([`deployer`]), on failure the undo of what the run changed, then the
//! custom domains, the monitoring stack, the smoke test and the bake.
//! The journal's outcome says how it ended; the face prints it and picks
//! the exit code.

mod deployer;
pub mod packages;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::app::diag::Report;
use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws::target::{Mode, StageTarget};
use crate::aws::{backups, domains, endpoints, exports, verify};
use crate::cfn::graph::Graph;
use crate::cfn::order;
use crate::run::fingerprint::{self, Fingerprint};
use crate::run::journal::{self, Journal, Outcome, ServiceRecord, SmokeResult};
use crate::run::scheduler::Schedule;
use crate::run::undo::Window;
use crate::run::{ahead, bake, diff, guard, interrupt, preflight, StageRun};
use crate::sys::hint;
use crate::sys::output::Printer;
use crate::sys::{paths, refuse};

use deployer::Deployer;

/// A deploy's flags, resolved once before any work starts.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--only`: these services (what they need must be deployed already).
    pub only: Vec<String>,
    /// At most this many services deploy at once.
    pub concurrency: usize,
    /// At most this many services start ahead of their turn (0: none).
    pub package_ahead: usize,
    /// Show what would be deployed; change nothing.
    pub dry_run: bool,
    /// A protected stage's confirmation, given up front.
    pub yes: bool,
    /// Deploy an unprotected stage despite audit findings.
    pub allow_findings: bool,
    /// Run smoke checks that change data on a protected stage.
    pub allow_mutating: bool,
    /// No backup of a protected stage's tables first.
    pub skip_backup: bool,
    /// Changes that destroy data, allowed by name (`SERVICE:LOGICAL_ID`).
    pub allow_replace: Vec<String>,
    /// Deploy services whose fingerprint is unchanged too.
    pub force: bool,
    /// No smoke test after the deploy.
    pub skip_smoke: bool,
    /// How long to bake (else the stage's `monitoring.bake`).
    pub bake: Option<Duration>,
    /// How long to wait for a held lock.
    pub lock_timeout: Duration,
    /// Show every CloudFormation stack event.
    pub verbose: bool,
    /// Deploy from the packages in these folders (`--from-packages`).
    pub from_packages: Vec<std::path::PathBuf>,
}

/// What a deploy did.
pub enum Deployed {
    /// `--dry-run`: the plan and what each service would do; nothing
    /// changed.
    Preview(String),
    /// A run, with its journal (its outcome says how it ended) and, on an
    /// emulator, each API's base URL in the form that works there.
    Ran {
        journal: Box<Journal>,
        endpoints: Vec<(String, String)>,
    },
}

/// Deploys `stage` of `app` to where `mode` says.
pub async fn deploy(
    app: &App,
    stage: &Stage,
    mode: Mode,
    opts: &Options,
    out: Arc<Printer>,
) -> Result<Deployed> {
    let (graph, waves) = preflight::offline(app, stage, opts.allow_findings, &out)?;
    let order: Vec<String> = waves.iter().flatten().cloned().collect();
    let selected = app.select(&order, &opts.only)?;
    let packaging = order::packaging(app, stage, &graph, &selected);
    let plan_text = order::render(&graph, &waves, &packaging, stage, order::PlanFormat::Text);
    let (target, account) = preflight::connect(app, stage, mode, &out).await?;
    check_outside_dependencies(app, stage, &target, &graph, &selected).await?;
    domains::precheck(app, stage, &target.config).await?;

    // Exports other deployed stacks import must survive this deploy.
    let chosen: Vec<&Service> = selected.iter().filter_map(|k| app.service(k)).collect();
    let removed = exports::removed_while_imported(app, &chosen, stage, &target.cfn()).await?;
    if !removed.is_empty() {
        let report = Report {
            findings: removed,
            ..Report::default()
        };
        refuse!(
            "{}nothing was deployed",
            report.render_text("validate against the deployed stage")
        );
    }

    // Packages made elsewhere, each checked against this checkout.
    let packages = packages::verified(
        app,
        stage,
        &opts.from_packages,
        &selected,
        &target.stacks(),
        &out,
    )
    .await?;

    if opts.dry_run {
        let text = preview(app, stage, &target, &selected, opts.force).await?;
        return Ok(Deployed::Preview(format!("{plan_text}\n{text}")));
    }

    // A protected stage sees what the deploy would change before it is
    // asked to confirm, and a change that would destroy data is refused
    // unless named with --allow-replace.
    let plan_text = if stage.is_protected() {
        out.step("comparing each service with its stack (a protected stage sees the diff first)");
        let quiet = Arc::new(Printer::new(true).quiet_tools());
        let diffs = diff::stage(app, stage, &target, &selected, quiet)
            .await
            .context("a protected stage's deploy shows what it would change first, and that failed; nothing was deployed")?;
        let text = diff::text(&diffs);
        out.plain(&text);
        let refused = guard::unallowed_data_loss(&diffs, &opts.allow_replace);
        if !refused.is_empty() {
            refuse!(
                "stage {stage} is protected and this deploy would take data away:\n  {}\nnothing was deployed; to go ahead, name each with --allow-replace SERVICE:LOGICAL_ID (back up first: `{}`)",
                refused.join("\n  "),
                hint::xtask(&format!("backup {stage}"))
            );
        }
        format!("{plan_text}\n{text}")
    } else {
        plan_text
    };
    guard::confirm_protected(stage, app, opts.yes, "deploy", &plan_text)?;
    let mut run = StageRun::begin(
        "deploy",
        app,
        stage,
        &target,
        opts.lock_timeout,
        out.clone(),
    )
    .await?;
    run.cli.set_verbose(opts.verbose);
    let run_id = run.run_id();
    run.record(|j| {
        j.notes.insert("account".into(), account);
        for key in &selected {
            let stack = app
                .service(key)
                .and_then(|s| s.stack_name(stage))
                .unwrap_or_default();
            let mut record = ServiceRecord::pending(key, stack);
            record.needs = graph
                .dependencies(key)
                .into_iter()
                .filter(|d| selected.iter().any(|k| k == d))
                .map(str::to_string)
                .collect();
            j.services.push(record);
        }
    });
    out.step(&format!(
        "journal: {}",
        paths::display(run.journal().path())
    ));

    // A protected stage's tables are backed up before anything changes.
    if stage.is_protected() && !opts.skip_backup {
        let taken = backups::take(app, stage, &target.config, &format!("before-{run_id}"))
            .await
            .context("the backup before the deploy failed; nothing was deployed (--skip-backup deploys without one)")?;
        for t in &taken {
            out.step(&format!("backed up {}: {}", t.table, t.arn));
        }
        let arns: Vec<&str> = taken.iter().map(|t| t.arn.as_str()).collect();
        run.record(|j| {
            j.notes.insert("backups".into(), arns.join(" "));
        });
    }

    // Services whose packaging reads nothing this run changes package
    // while what they depend on deploys; the others say why not.
    if opts.package_ahead > 0 {
        for (key, why) in &packaging.at_turn {
            run.record(|j| j.event(format!("{key}: packaged at its turn: {why}")));
        }
    }
    let schedule = Schedule::new(selected.clone(), graph.dependency_map(), opts.concurrency)
        .packaging_ahead(packaging.ahead.clone(), opts.package_ahead);
    // Gates hold deploys started ahead, and tell when a deploy at its turn
    // has packaged (it then gives its place up).
    let gates = if opts.package_ahead == 0 {
        None
    } else {
        let gates = match run.cli.gate_manager() {
            Some(manager) => ahead::Gates::new(&run_id, manager).map_err(|e| format!("{e:#}")),
            None => Err("only the pinned Serverless CLI can be held after packaging, not one set with SERVERLESS_BIN".into()),
        };
        gates
            .map_err(|why| {
                if !packaging.ahead.is_empty() {
                    let why = format!("every service deploys at its turn: {why}");
                    out.plain(&why);
                    run.record(|j| j.event(why.clone()));
                }
            })
            .ok()
    };
    for (key, dir) in &packages.by_service {
        run.record(|j| {
            j.event(format!(
                "{key}: deployed from its package {}",
                paths::display(dir)
            ))
        });
    }
    let deployer = Deployer {
        run: &run,
        force: opts.force,
        packages,
        gates,
        stopping: tokio::sync::watch::Sender::new(false),
    };
    let mut outcome = deployer.deploy_all(&schedule).await;
    if outcome.succeeded() {
        run.protect_stacks().await;
        if let Err(err) = run.serve_domains(&selected).await {
            out.plain(&format!("{err:#}"));
            outcome = Outcome::Incomplete("custom domains".into());
        } else if let Err(err) = bake::keep_in_step(&run).await {
            out.plain(&format!("the stacks are deployed, but their monitoring stack is not: {err:#}; running the deploy again sets it"));
            outcome = Outcome::Incomplete("monitoring".into());
        }
    }
    // The smoke test and the bake run inside the run, under its lock, so
    // the bake can roll the run back.
    if outcome.succeeded() {
        let smoke = if opts.skip_smoke {
            SmokeResult::NotRun {
                why: "--skip-smoke".into(),
            }
        } else {
            let started = journal::now_ms();
            let smoke = smoke_after(app, stage, &target, &run, opts.allow_mutating, &out).await;
            run.record(|j| j.phase("smoke", started));
            smoke
        };
        if !smoke.ok() {
            outcome = Outcome::SmokeFailed;
        }
        run.record(|j| {
            j.event(format!("smoke: {smoke}"));
            j.smoke = Some(smoke);
        });
    }
    // A stop asked for while the stage was being finished (domains,
    // monitoring, the smoke test) stops the run like one asked for while
    // its services deployed: what it changed is rolled back.
    if outcome.deployed() && interrupt::requested() {
        out.plain("interrupted: rolling the run back");
        deployer.undo_run().await;
        outcome = Outcome::Interrupted;
    }
    let bake = if outcome.succeeded() {
        bake::duration(opts.bake, stage, &target, &out)
    } else {
        Duration::ZERO
    };
    if !bake.is_zero() {
        let since = run.journal().started_at;
        let started = journal::now_ms();
        let fired = match bake::watch(&run, bake, since).await {
            Ok(fired) => fired,
            Err(err) => Some(format!("the bake could not watch the stage ({err:#})")),
        };
        run.record(|j| {
            j.phase("bake", started);
            j.bake = Some(journal::BakeResult {
                seconds: journal::now_ms().saturating_sub(started) / 1000,
                fired: fired.clone(),
            });
        });
        if let Some(why) = fired {
            out.plain(&format!("{why}: rolling the run back"));
            run.record(|j| j.event(format!("bake: {why}")));
            deployer.undo_run().await;
            let window = Window {
                start: run.journal().started_at,
                end: journal::now(),
            };
            if let Err(err) = bake::after_undo(&run, window).await {
                out.plain(&format!(
                    "warning: the monitoring stack was not brought back in step: {err:#}"
                ));
            }
            outcome = if interrupt::requested() {
                Outcome::Interrupted
            } else {
                Outcome::RolledBack(why)
            };
        }
    }
    let deployed = outcome.deployed();
    let journal = run.finish(outcome).await;
    // Where each API answers: on an emulator (the local stage or a
    // rehearsal) in the form this machine can reach.
    let endpoints = if deployed {
        base_urls(app, stage, &target).await
    } else {
        Vec::new()
    };
    Ok(Deployed::Ran {
        journal: Box::new(journal),
        endpoints,
    })
}

/// `--dry-run`: each selected service's deployed state, and whether the
/// deploy would hand it to the CLI or skip it on its fingerprint.
async fn preview(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    selected: &[String],
    force: bool,
) -> Result<String> {
    let stacks = target.stacks();
    let mut lines = Vec::new();
    for key in selected {
        let service = app.service(key).context("selected from the app")?;
        let state = stacks.state(service, stage).await?;
        let now = match (&state.status, &state.deployment) {
            (Some(status), Some(d)) => format!("{status}, deployment {d}"),
            (Some(status), None) => status.clone(),
            _ => "not deployed".into(),
        };
        let params = stacks.compose_params(app, service, stage).await?;
        let stored = fingerprint::stored(service, stage, &stacks, &state).await;
        let unchanged = match (&stored, force) {
            (Some(stored), false) => {
                match fingerprint::compute(service, stage, &stacks, &params).await? {
                    Fingerprint::Known(fp) => fingerprint::matches(stored, &fp, &state),
                    Fingerprint::Unknowable(_) => false,
                }
            }
            _ => false,
        };
        lines.push(if unchanged {
            format!("would skip {key} ({now}): unchanged since its last deploy (same fingerprint)")
        } else {
            format!("would deploy {key} ({now})")
        });
    }
    lines.push("dry run: nothing was changed".into());
    Ok(lines.join("\n"))
}

/// Every endpoint, after every successful deploy: the smoke test, its
/// report kept with the run's journal. A smoke test that cannot run at
/// all is a failed one, said.
async fn smoke_after(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    run: &StageRun<'_>,
    allow_mutating: bool,
    out: &Printer,
) -> SmokeResult {
    // An app without a spec yet (a team's first deploy) has nothing to
    // check its endpoints against: said once, pointing at the way to
    // write one, and not a broken deploy.
    let spec = app.root.join(verify::SPEC_FILE);
    if !spec.exists() {
        let count = endpoints::endpoints(app, stage, &[], None).len();
        out.plain(&format!(
            "no smoke test: {} does not exist, so the {count} endpoint(s) were not checked; `{}` writes a first one",
            paths::display(&spec),
            hint::xtask(&format!("smoke {stage} --init"))
        ));
        return SmokeResult::NotRun {
            why: format!("no {}", verify::SPEC_FILE),
        };
    }
    out.step("smoke-testing every endpoint");
    let journal = run.journal();
    let junit = journal.path().with_extension("").join("smoke.xml");
    let opts = verify::SmokeOptions {
        allow_mutating,
        run_id: journal.run_id.clone(),
        junit: Some(junit.clone()),
        concurrency: None,
    };
    let report = match verify::run(app, stage, target, &opts).await {
        Ok(report) => report,
        Err(err) => {
            let error = format!("{err:#}");
            out.plain(&format!("the smoke test could not run: {error}"));
            return SmokeResult::Broken { error };
        }
    };
    out.plain(&report.table());
    if !report.ok() {
        out.plain(&format!(
            "the deploy succeeded but its smoke test failed; see above (report: {})",
            paths::display(&junit)
        ));
    }
    SmokeResult::Ran {
        passed: report.passed_count(),
        failed: report.failed(),
        skipped: report.skipped(),
        report: Some(paths::display(&junit)),
    }
}

/// `--only`: what the selection depends on must be deployed already.
async fn check_outside_dependencies(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    graph: &Graph,
    selected: &[String],
) -> Result<()> {
    let stacks = target.stacks();
    let selected_set: BTreeSet<&str> = selected.iter().map(String::as_str).collect();
    for key in selected {
        for dep in graph.dependencies(key) {
            if selected_set.contains(dep) {
                continue;
            }
            let service = app
                .service(dep)
                .context("a dependency is a service of the app")?;
            if !stacks.describe_service(service, stage).await?.exists {
                refuse!(
                    "{key} depends on {dep}, which was never deployed to stage {stage}; deploy it first (`{}`) or drop --only",
                    hint::xtask(&format!("deploy {stage} --only {dep}"))
                );
            }
        }
    }
    Ok(())
}

/// Each service's API base URLs; on an emulator, in the form that works
/// without DNS.
async fn base_urls(app: &App, stage: &Stage, target: &StageTarget) -> Vec<(String, String)> {
    let stacks = target.stacks();
    let mut urls = Vec::new();
    for service in &app.services {
        let Ok(state) = stacks.describe_service(service, stage).await else {
            continue;
        };
        for kind in ["httpApi", "http"] {
            if let Some(url) = endpoints::base_url(&state, kind, target.target.endpoint()) {
                urls.push((service.key.clone(), url));
            }
        }
    }
    urls
}
