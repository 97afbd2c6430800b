//! `cargo xtask deploy <stage>`: preflight, then every service in graph
//! order through the ready pool, then, on failure, the undo of what this
//! run changed, then the smoke test.
//!
//! Preflight does every check before the first change: the stage, the
//! audit, the graph, credentials and account, the deployment buckets, the
//! exports other stacks import, the protected-stage rules, and the lock
//! (taken by [`StageRun`], which releases it on every path out).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::app::diag::{Format, Report};
use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws::stacks::StackState;
use crate::aws::target::{Mode, StageTarget};
use crate::aws::{backups, domains, endpoints, exports, verify};
use crate::cfn::graph::Graph;
use crate::cfn::order;
use crate::cli::{DeployArgs, Global};
use crate::run::fingerprint::Fingerprint;
use crate::run::journal::Span;
use crate::run::journal::{self, ServiceRecord, Status};
use crate::run::scheduler::{Package, Schedule};
use crate::run::serverless::Sink;
use crate::run::stage_run::{Trust, Undone};
use crate::run::undo::Window;
use crate::run::{ahead, bake, diff, fingerprint, guard, interrupt, preflight, StageRun};
use crate::sys::{output::Printer, paths, tools};

/// The exit code of a deploy that changed the stage as asked but whose
/// smoke test failed: CI tells it from a failed, rolled-back deploy (1).
pub(crate) const DEPLOYED_BUT_SMOKE_FAILED: i32 = 3;

pub(crate) async fn run(global: &Global, args: DeployArgs) -> Result<i32> {
    let json = args.out.format == Format::Json;
    let out = Arc::new(Printer::new(json));
    let app = App::load(&global.app_dir())?;
    let stage = app.stage(args.at.stage())?;
    let (graph, waves) = preflight::offline(&app, &stage, args.allow_findings, &out)?;
    let order: Vec<String> = waves.iter().flatten().cloned().collect();
    let selected = app.select(&order, &args.only)?;
    let packaging = order::packaging(&app, &stage, &graph, &selected);
    let plan_text = order::render(&graph, &waves, &packaging, &stage, order::PlanFormat::Text);
    let mode = Mode::of(&stage, args.at.rehearse, global.emulator);
    let (target, account) = preflight::connect(&app, &stage, mode, &out).await?;
    check_outside_dependencies(&app, &stage, &target, &graph, &selected).await?;
    domains::precheck(&app, &stage, &target.config).await?;

    // Exports other deployed stacks import must survive this deploy.
    let chosen: Vec<&Service> = selected.iter().filter_map(|k| app.service(k)).collect();
    let removed = exports::removed_while_imported(&app, &chosen, &stage, &target.cfn()).await?;
    if !removed.is_empty() {
        let report = Report {
            findings: removed,
            ..Report::default()
        };
        crate::sys::refuse!(
            "{}nothing was deployed",
            report.render_text("validate against the deployed stage")
        );
    }

    if args.dry_run {
        preview(&app, &stage, &target, &selected, &plan_text, &out).await?;
        return Ok(0);
    }

    // A protected stage sees what the deploy would change before it is
    // asked to confirm, and a change that would destroy data is refused
    // unless named with --allow-replace.
    let plan_text = if stage.is_protected() {
        out.step("comparing each service with its stack (a protected stage sees the diff first)");
        let quiet = Arc::new(Printer::new(true).quiet_tools());
        let diffs = diff::stage(&app, &stage, &target, &selected, quiet)
            .await
            .context("a protected stage's deploy shows what it would change first, and that failed; nothing was deployed")?;
        let text = diff::text(&diffs);
        out.plain(&text);
        let refused = guard::unallowed_data_loss(&diffs, &args.allow_replace);
        if !refused.is_empty() {
            crate::sys::refuse!(
                "stage {stage} is protected and this deploy would take data away:\n  {}\nnothing was deployed; to go ahead, name each with --allow-replace SERVICE:LOGICAL_ID (back up first: `cargo xtask backup {stage}`)",
                refused.join("\n  ")
            );
        }
        format!("{plan_text}\n{text}")
    } else {
        plan_text
    };
    guard::confirm_protected(&stage, &app, args.yes, "deploy", &plan_text)?;
    let mut run = StageRun::begin(
        "deploy",
        &app,
        &stage,
        &target,
        args.lock.lock_timeout,
        out.clone(),
    )
    .await?;
    run.cli.set_verbose(args.verbose.verbose);
    let run_id = run.run_id();
    run.record(|j| {
        j.notes.insert("account".into(), account);
        for key in &selected {
            let stack = app
                .service(key)
                .and_then(|s| s.stack_name(&stage))
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
    if stage.is_protected() && !args.skip_backup {
        let taken = backups::take(&app, &stage, &target.config, &format!("before-{run_id}"))
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
    if args.package_ahead > 0 {
        for (key, why) in &packaging.at_turn {
            run.record(|j| j.event(format!("{key}: packaged at its turn: {why}")));
        }
    }
    let schedule = Schedule::new(selected.clone(), graph.dependency_map(), args.concurrency)
        .packaging_ahead(packaging.ahead.clone(), args.package_ahead);
    let gates = if args.package_ahead == 0 || packaging.ahead.is_empty() {
        None
    } else {
        let gates = match run.cli.gate_manager() {
            Some(manager) => ahead::Gates::new(&run_id, manager).map_err(|e| format!("{e:#}")),
            None => Err("only the pinned Serverless CLI can be held after packaging, not one set with SERVERLESS_BIN".into()),
        };
        gates
            .map_err(|why| {
                let why = format!("every service deploys at its turn: {why}");
                out.plain(&why);
                run.record(|j| j.event(why.clone()));
            })
            .ok()
    };
    let deployer = Deployer {
        run: &run,
        force: args.force,
        gates,
        stopping: tokio::sync::watch::Sender::new(false),
    };
    let mut outcome = deployer.deploy_all(&schedule).await.to_string();
    if outcome == "succeeded" {
        run.protect_stacks().await;
        if let Err(err) = run.serve_domains(&selected).await {
            out.plain(&format!("{err:#}"));
            outcome = "stacks deployed; custom domains failed".into();
        } else if let Err(err) = bake::keep_in_step(&run).await {
            out.plain(&format!("the stacks are deployed, but their monitoring stack is not: {err:#}; running the deploy again sets it"));
            outcome = "stacks deployed; monitoring failed".into();
        }
    }
    // The smoke test and the bake run inside the run, under its lock, so
    // the bake can roll the run back.
    let mut smoke_ok = true;
    if outcome == "succeeded" && !args.skip_smoke {
        let started = journal::now_ms();
        smoke_ok = smoke_after(&app, &stage, &target, &run, args.allow_mutating, &out).await;
        run.record(|j| j.phase("smoke", started));
    }
    // A stop asked for while the stage was being finished (domains,
    // monitoring, the smoke test) stops the run like one asked for while
    // its services deployed: what it changed is rolled back.
    if outcome == "succeeded" && interrupt::requested() {
        out.plain("interrupted: rolling the run back");
        deployer.undo_run().await;
        outcome = "interrupted".into();
    }
    let bake = if outcome == "succeeded" && smoke_ok {
        bake::duration(args.bake, &stage, &target, &out)
    } else {
        std::time::Duration::ZERO
    };
    if !bake.is_zero() {
        let since = run.journal().started_at;
        let started = journal::now_ms();
        let fired = match bake::watch(&run, bake, since).await {
            Ok(fired) => fired,
            Err(err) => Some(format!("the bake could not watch the stage ({err:#})")),
        };
        run.record(|j| j.phase("bake", started));
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
                "interrupted".into()
            } else {
                format!("rolled back: {why}")
            };
        }
    }
    let journal = run.finish(&outcome).await;
    let timeline = journal.save_timeline();
    if json {
        out.result(&serde_json::to_string_pretty(&journal)?);
    } else {
        out.plain(&format!("\n{}", journal.summary()));
        if let Some(path) = timeline {
            out.plain(&format!(
                "timeline: {} (`cargo xtask report {stage}{}` shows it)",
                paths::display(&path),
                if journal.rehearsal { " --rehearse" } else { "" }
            ));
        }
    }
    journal.publish_summary();
    if outcome == "interrupted" {
        return Ok(crate::INTERRUPTED);
    }
    if outcome != "succeeded" {
        return Ok(1);
    }
    if args.skip_smoke {
        out.plain("smoke skipped (--skip-smoke): run `cargo xtask smoke` next");
    } else if !smoke_ok {
        return Ok(DEPLOYED_BUT_SMOKE_FAILED);
    }
    if !json && stage.on_emulator() {
        print_endpoints(&app, &stage, &target, &out).await;
    }
    Ok(0)
}

/// `--dry-run`: the plan and each selected service's deployed state.
async fn preview(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    selected: &[String],
    plan_text: &str,
    out: &Printer,
) -> Result<()> {
    out.plain(plan_text);
    let stacks = target.stacks();
    for key in selected {
        let service = app.service(key).context("selected from the app")?;
        let state = stacks.state(service, stage).await?;
        let now = match (&state.status, &state.deployment) {
            (Some(status), Some(d)) => format!("{status}, deployment {d}"),
            (Some(status), None) => status.clone(),
            _ => "not deployed".into(),
        };
        out.plain(&format!("would deploy {key} ({now})"));
    }
    out.plain("dry run: nothing was changed");
    Ok(())
}

/// Every endpoint, after every successful deploy: the smoke test, its
/// report kept with the run's journal. True when it passed; a smoke
/// test that cannot run at all is a failed one, said.
async fn smoke_after(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    run: &StageRun<'_>,
    allow_mutating: bool,
    out: &Printer,
) -> bool {
    // An app without a spec yet (a team's first deploy) has nothing to
    // check its endpoints against: said once, pointing at the way to
    // write one, and not a broken deploy.
    let spec = app.root.join(verify::SPEC_FILE);
    if !spec.exists() {
        let count = endpoints::endpoints(app, stage, &[], None).len();
        out.plain(&format!(
            "no smoke test: {} does not exist, so the {count} endpoint(s) were not checked; `cargo xtask smoke {stage} --init` writes a first one",
            paths::display(&spec)
        ));
        run.record(|j| {
            j.notes
                .insert("smoke".into(), format!("not run: no {}", verify::SPEC_FILE));
            j.event("smoke not run: no spec");
        });
        return true;
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
            let message = format!("the smoke test could not run: {err:#}");
            out.plain(&message);
            run.record(|j| {
                j.notes.insert("smoke".into(), message.clone());
                j.event("smoke failed");
            });
            return false;
        }
    };
    out.plain(&report.table());
    run.record(|j| {
        j.notes.insert(
            "smoke".into(),
            format!(
                "{} passed, {} failed, {} skipped",
                report.passed_count(),
                report.failed(),
                report.skipped()
            ),
        );
        j.notes
            .insert("smoke_report".into(), paths::display(&junit));
        j.event(if report.ok() {
            "smoke passed"
        } else {
            "smoke failed"
        });
    });
    if !report.ok() {
        out.plain(&format!(
            "the deploy succeeded but its smoke test failed; see above (report: {})",
            paths::display(&junit)
        ));
    }
    report.ok()
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
                bail!("{key} depends on {dep}, which was never deployed to stage {stage}; deploy it first (`cargo xtask deploy {stage} --only {dep}`) or drop --only");
            }
        }
    }
    Ok(())
}

/// The deploy of one run's services.
struct Deployer<'r, 'a> {
    run: &'r StageRun<'a>,
    /// Deploy even services whose fingerprint is unchanged.
    force: bool,
    /// Where deploys started ahead of their turn are held; `None` when the
    /// CLI cannot be held (one of the team's own).
    gates: Option<ahead::Gates>,
    /// Set when the run stops starting services: deploys started ahead
    /// whose turn has not come end.
    stopping: tokio::sync::watch::Sender<bool>,
}

/// A service made ready to deploy: its state before the run, its
/// fingerprint, and whether that says it is unchanged.
struct Prepared {
    previous: StackState,
    stored: Option<fingerprint::Stored>,
    params: Vec<(String, String)>,
    fingerprint: Option<String>,
    /// Its fingerprint matches the stored one: nothing to deploy.
    unchanged: bool,
}

impl Prepared {
    /// After a rollback the CLI's newest kept deployment is not what the
    /// stack runs; its own change check would skip this deploy.
    fn behind(&self) -> bool {
        self.stored.as_ref().is_some_and(|s| s.behind_newest)
    }
}

/// How a deploy started ahead of its turn ended.
enum Ahead {
    /// Its turn came and it ran: how it ended.
    Ran(Status),
    /// Its fingerprint says it is unchanged: recorded at its turn.
    Unchanged(Box<Prepared>),
    /// It stopped before its turn (the run stopped, or something failed
    /// before the gate): it changed nothing, and deploys at its turn if
    /// the run goes on.
    NotRun(Option<String>),
}

impl Deployer<'_, '_> {
    /// Deploys every service as soon as what it needs is deployed, starting
    /// those that may ahead of their turn (held after packaging until it
    /// comes), then undoes this run's changes when one failed or the run
    /// was interrupted. The run's outcome.
    async fn deploy_all(&self, schedule: &Schedule) -> &'static str {
        let mut status: BTreeMap<String, Status> = schedule
            .order()
            .iter()
            .map(|k| (k.clone(), Status::Pending))
            .collect();
        let mut packages: BTreeMap<String, Package> = BTreeMap::new();
        let mut unchanged: BTreeMap<String, Prepared> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        let mut ahead = FuturesUnordered::new();
        let mut failed = false;
        let mut marked = BTreeSet::new();
        loop {
            let stopping = failed || interrupt::requested();
            self.mark_ready(schedule, &status, &mut marked);
            for key in schedule.ready(&status, stopping) {
                status.insert(key.clone(), Status::Running);
                if packages.get(&key) == Some(&Package::Ahead) {
                    self.open_gate(&key);
                } else {
                    let early = unchanged.remove(&key);
                    running.push(self.deploy_one(key, early, true));
                }
            }
            if let Some(gates) = &self.gates {
                for key in schedule.to_package(&status, &packages, stopping) {
                    // The gate exists before its turn can come.
                    match gates.gate(&key) {
                        Ok(gate) => {
                            packages.insert(key.clone(), Package::Ahead);
                            ahead.push(self.deploy_ahead(key, gate));
                        }
                        Err(_) => {
                            packages.insert(key, Package::Done);
                        }
                    }
                }
            }
            if stopping {
                // Deploys started ahead whose turn never came end without
                // changing anything: stopped at their gate, or while still
                // packaging.
                for (key, _) in packages.iter().filter(|(k, p)| {
                    **p == Package::Ahead && status.get(*k) == Some(&Status::Pending)
                }) {
                    if let Some(gates) = &self.gates {
                        gates.of(key).stop();
                    }
                }
                self.stopping.send_replace(true);
            }
            tokio::select! {
                Some((key, result)) = running.next() => {
                    failed |= result == Status::Failed;
                    status.insert(key, result);
                    self.run.publish().await;
                }
                Some((key, ended)) = ahead.next() => {
                    packages.insert(key.clone(), Package::Done);
                    // Its turn may have come while it was not yet held at
                    // its gate: then it deploys from here, at its turn.
                    let turn_came = status.get(&key) == Some(&Status::Running);
                    match ended {
                        Ahead::Ran(result) => {
                            failed |= result == Status::Failed;
                            status.insert(key, result);
                            self.run.publish().await;
                        }
                        Ahead::Unchanged(prepared) if turn_came => {
                            running.push(self.deploy_one(key, Some(*prepared), false));
                        }
                        Ahead::Unchanged(prepared) => {
                            unchanged.insert(key, *prepared);
                        }
                        Ahead::NotRun(why) => {
                            if let Some(why) = why.filter(|_| !stopping) {
                                self.run.out.line(&key, &format!("started ahead but stopped before its turn; it deploys at its turn: {why}"));
                                self.run.record(|j| j.event(format!("{key}: stopped before its turn ({why}); deployed at its turn")));
                            }
                            if turn_came {
                                running.push(self.deploy_one(key, None, false));
                            }
                        }
                    }
                }
                else => break,
            }
        }
        let interrupted = interrupt::requested();
        // Whatever did not start is skipped, and says why.
        let why = if interrupted {
            "interrupted before it started"
        } else {
            "an earlier service failed"
        };
        for (key, _) in status.iter().filter(|(_, s)| **s == Status::Pending) {
            self.run.record(|j| {
                if let Some(s) = j.service_mut(key) {
                    s.status = Status::Skipped;
                    s.error = Some(why.into());
                }
                j.event(format!("{key}: skipped ({why})"));
            });
        }
        if !failed && !interrupted {
            return "succeeded";
        }
        self.undo_run().await;
        if interrupted {
            "interrupted"
        } else {
            "failed"
        }
    }

    /// Notes when each pending service's dependencies were all done (once
    /// each: `marked` holds those noted): from then on, what it waits for
    /// is a free place.
    fn mark_ready(
        &self,
        schedule: &Schedule,
        status: &BTreeMap<String, Status>,
        marked: &mut BTreeSet<String>,
    ) {
        let newly: Vec<String> = status
            .iter()
            .filter(|(k, s)| **s == Status::Pending && !marked.contains(*k))
            .map(|(k, _)| k.clone())
            .filter(|k| schedule.dependencies_done(k, status))
            .collect();
        if newly.is_empty() {
            return;
        }
        let now = journal::now_ms();
        self.run.record(|j| {
            for key in &newly {
                if let Some(s) = j.service_mut(key) {
                    s.timings.ready = Some(now);
                }
            }
        });
        marked.extend(newly);
    }

    /// Records that `key`'s turn came, then lets its held deploy go on.
    fn open_gate(&self, key: &str) {
        let run = self.run;
        run.out.step(&format!("{key}: its turn (started ahead)"));
        self.started(key);
        let opened = self
            .gates
            .as_ref()
            .map(|g| g.of(key).open())
            .unwrap_or_else(|| Err(anyhow::anyhow!("no gates")));
        if let Err(err) = opened {
            // The held CLI then waits until the run ends and stops it.
            run.out.line(key, &format!("{err:#}"));
        }
    }

    /// The journal's record that `key` started.
    fn started(&self, key: &str) {
        let sink = self.run.sink(key);
        self.run.record(|j| {
            if let Some(s) = j.service_mut(key) {
                s.status = Status::Running;
                s.started_at = Some(journal::now());
                s.log = Some(paths::display(&sink.log));
            }
            j.event(format!("{key}: started"));
        });
    }

    /// The journal's record of how `key` ended.
    async fn ended(&self, key: &str, result: Result<Status>) -> Status {
        let run = self.run;
        let status = match result {
            Ok(status) => {
                run.out.step(&format!("{key}: {}", status.as_str()));
                status
            }
            Err(err) => {
                let message = format!("{err:#}");
                run.out.step(&format!("{key}: failed"));
                let after = match run.service(key) {
                    Ok(service) => run.stacks.state(service, run.stage).await.ok(),
                    Err(_) => None,
                };
                run.record(|j| {
                    if let Some(s) = j.service_mut(key) {
                        s.error = Some(message);
                        s.new = after;
                    }
                });
                Status::Failed
            }
        };
        run.record(|j| {
            if let Some(s) = j.service_mut(key) {
                s.status = status;
                s.ended_at = Some(journal::now());
            }
            j.event(format!("{key}: {}", status.as_str()));
        });
        status
    }

    /// Starts `key`'s deploy ahead of its turn: prepared, then its CLI
    /// held at its gate after packaging until the run opens it.
    async fn deploy_ahead(&self, key: String, gate: ahead::Gate) -> (String, Ahead) {
        let run = self.run;
        let sink = run.sink(&key);
        let prepared = match self.prepare(&key, &sink).await {
            Ok(prepared) if prepared.unchanged => {
                return (key, Ahead::Unchanged(Box::new(prepared)))
            }
            Ok(prepared) => prepared,
            Err(err) => return (key, Ahead::NotRun(Some(format!("{err:#}")))),
        };
        if gate.stopped() {
            return (key, Ahead::NotRun(None));
        }
        let service = match run.service(&key) {
            Ok(service) => service,
            Err(err) => return (key, Ahead::NotRun(Some(format!("{err:#}")))),
        };
        run.out.line(&key, "started ahead of its turn: packaging");
        run.record(|j| {
            if let Some(s) = j.service_mut(&key) {
                s.previous = Some(prepared.previous.clone());
            }
            j.event(format!("{key}: started ahead of its turn"));
        });
        let started = journal::now_ms();
        let mut stopping = self.stopping.subscribe();
        let result = tokio::select! {
            result = self.cli_deploy(&key, service, &prepared, Some(&gate), &sink) => result,
            // The run stops before its turn: its CLI, still packaging or
            // held, is ended (dropping it stops its process group).
            () = async {
                loop {
                    if *stopping.borrow_and_update() && !gate.opened() {
                        return;
                    }
                    if stopping.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            } => return (key, Ahead::NotRun(None)),
        };
        let held_from = gate.reached_at();
        if let Some(reached) = held_from {
            run.record(|j| {
                if let Some(s) = j.service_mut(&key) {
                    s.timings.package = Some(Span {
                        start: started,
                        end: reached,
                    });
                }
            });
        }
        if !gate.opened() {
            // It never left the gate: nothing of the deploy began.
            let why = result.err().map(|e| format!("{e:#}"));
            return (key, Ahead::NotRun(why));
        }
        let finished = match result {
            Ok(()) => self.after_deploy(&key, service, &prepared).await,
            Err(err) => Err(err),
        };
        (key.clone(), Ahead::Ran(self.ended(&key, finished).await))
    }

    /// Deploys one service at its turn and records before and after
    /// (`announce`: that it started, unless that was recorded already).
    async fn deploy_one(
        &self,
        key: String,
        early: Option<Prepared>,
        announce: bool,
    ) -> (String, Status) {
        if announce {
            self.started(&key);
        }
        let sink = self.run.sink(&key);
        let result = self.deploy_service(&key, &sink, early).await;
        let status = self.ended(&key, result).await;
        (key, status)
    }

    /// What a deploy of `key` starts from: its state before the run (what
    /// the undo returns to), its dependencies installed, its Compose
    /// params, and whether its fingerprint says it is unchanged.
    async fn prepare(&self, key: &str, sink: &Sink) -> Result<Prepared> {
        let run = self.run;
        let service = run.service(key)?;
        let mut previous = run.stacks.state(service, run.stage).await?;
        // After a rollback the stack runs an older deployment than the
        // newest kept: that one is what this run's undo returns to.
        let stored = fingerprint::stored(service, run.stage, &run.stacks, &previous).await;
        if let Some(runs) = stored
            .as_ref()
            .filter(|s| s.behind_newest)
            .and_then(|s| s.runs.clone())
        {
            previous.deployment = Some(runs);
        }
        // Its dependencies and plugins first: what is installed is part of
        // what a deploy is made of.
        if let Some(how) = tools::service_dependencies(&service.dir).await? {
            run.out.line(
                &sink.prefix,
                &format!("installed the service's dependencies ({how})"),
            );
        }
        let params = self.compose_params(service).await?;
        // An unchanged service is skipped without starting node.
        let fingerprint = if self.force {
            None
        } else {
            match fingerprint::compute(service, run.stage, &run.stacks, &params).await? {
                Fingerprint::Known(fp) => Some(fp),
                Fingerprint::Unknowable(why) => {
                    run.out
                        .line(key, &format!("deployed even if unchanged: {why}"));
                    run.record(|j| j.event(format!("{key}: no fingerprint: {why}")));
                    None
                }
            }
        };
        let unchanged = match (&fingerprint, &stored) {
            (Some(fp), Some(stored)) => fingerprint::matches(stored, fp, &previous),
            _ => false,
        };
        Ok(Prepared {
            previous,
            stored,
            params,
            fingerprint,
            unchanged,
        })
    }

    async fn deploy_service(
        &self,
        key: &str,
        sink: &Sink,
        early: Option<Prepared>,
    ) -> Result<Status> {
        let run = self.run;
        let service = run.service(key)?;
        run.out.step(&format!(
            "{key}: deploying {}",
            service.stack_name(run.stage).unwrap_or_default()
        ));
        let prepared = match early {
            Some(prepared) => prepared,
            None => self.prepare(key, sink).await?,
        };
        let previous = prepared.previous.clone();
        run.record(|j| {
            if let Some(s) = j.service_mut(key) {
                s.previous = Some(previous.clone());
            }
        });
        if prepared.unchanged {
            run.out.line(
                key,
                "unchanged since its last deploy (same fingerprint); skipped",
            );
            run.record(|j| {
                if let Some(s) = j.service_mut(key) {
                    s.new = Some(previous.clone());
                }
            });
            return Ok(Status::Unchanged);
        }
        self.cli_deploy(key, service, &prepared, None, sink).await?;
        self.after_deploy(key, service, &prepared).await
    }

    /// The CLI's deploy of `service` (held at `gate` after packaging when
    /// given), its time recorded from the moment it was let go on.
    async fn cli_deploy(
        &self,
        key: &str,
        service: &Service,
        prepared: &Prepared,
        gate: Option<&ahead::Gate>,
        sink: &Sink,
    ) -> Result<()> {
        let run = self.run;
        if prepared.behind() {
            run.out.line(
                key,
                "rolled back since its last deploy: deploying with --force",
            );
        }
        let cli = run.cli.describe_for(service)?;
        run.record(|j| {
            if let Some(s) = j.service_mut(key) {
                s.cli = Some(cli);
            }
        });
        let started = journal::now_ms();
        let deployed = run
            .cli
            .deploy(
                service,
                run.stage,
                &prepared.params,
                prepared.behind() || self.force,
                gate,
                sink,
            )
            .await;
        let ended = journal::now_ms();
        // A held deploy began when its gate opened; the time before is
        // its packaging ahead.
        let start = gate
            .and_then(|g| Some(g.opened_at()?.max(g.reached_at()?)))
            .unwrap_or(started)
            .clamp(started, ended);
        let deploy = Span { start, end: ended };
        if gate.is_none_or(ahead::Gate::opened) {
            let stack = service.stack_name(run.stage).unwrap_or_default();
            let cloudformation = run
                .stacks
                .operation_since(&stack, deploy.start)
                .await
                .ok()
                .flatten()
                .map(|cfn| Span {
                    start: cfn.start.clamp(deploy.start, deploy.end),
                    end: cfn.end.clamp(deploy.start, deploy.end),
                });
            run.record(|j| {
                if let Some(s) = j.service_mut(key) {
                    s.timings.deploy = Some(deploy);
                    s.timings.cloudformation = cloudformation;
                }
            });
        }
        deployed
    }

    /// After the CLI deployed `service`: its new state, its fingerprint
    /// stored, and whether it changed.
    async fn after_deploy(
        &self,
        key: &str,
        service: &Service,
        prepared: &Prepared,
    ) -> Result<Status> {
        let run = self.run;
        let previous = &prepared.previous;
        let new = run.stacks.state(service, run.stage).await?;
        let status = if previous.exists
            && previous.deployment.is_some()
            && previous.deployment == new.deployment
        {
            Status::Unchanged
        } else {
            Status::Deployed
        };
        match &prepared.fingerprint {
            Some(fp) => {
                if let Err(err) =
                    fingerprint::store(service, run.stage, &run.stacks, &new, fp).await
                {
                    run.out.line(key, &format!("warning: {err:#}"));
                }
            }
            None if prepared.behind() => {
                fingerprint::clear(service, run.stage, &run.stacks, &new).await
            }
            None => {}
        }
        run.record(|j| {
            if let Some(s) = j.service_mut(key) {
                s.new = Some(new);
            }
        });
        Ok(status)
    }

    /// Serverless Compose params with the outputs they read filled in.
    async fn compose_params(&self, service: &Service) -> Result<Vec<(String, String)>> {
        let run = self.run;
        run.stacks.compose_params(run.app, service, run.stage).await
    }

    /// Returns every service this run changed to its state before the run,
    /// newest first (dependents before what they depend on), by the one
    /// undo rule; services the run did not change are left alone.
    async fn undo_run(&self) {
        let run = self.run;
        run.record(|j| j.event("rolling back this run's changes"));
        let mut records = run.journal().services;
        records.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        for record in records {
            let key = record.name.clone();
            match run.undo(&record, Trust::Own).await {
                Ok(Undone::Kept) => {}
                Ok(Undone::Removed | Undone::RolledBack) => run.record(|j| {
                    if let Some(s) = j.service_mut(&key) {
                        if s.status != Status::Failed {
                            s.status = Status::RolledBack;
                        }
                    }
                    j.event(format!("{key}: rolled back to its state before the run"));
                }),
                Err(err) => {
                    let message = format!("{err:#}");
                    run.out.plain(&format!("{key}: rollback failed: {message}"));
                    run.record(|j| {
                        if let Some(s) = j.service_mut(&key) {
                            s.status = Status::RollbackFailed;
                            s.error = Some(format!("rollback failed: {message}"));
                        }
                        j.event(format!("{key}: rollback failed"));
                    });
                }
            }
        }
    }
}

/// The API base URLs of an emulator stage, in the form that works without DNS.
async fn print_endpoints(app: &App, stage: &Stage, target: &StageTarget, out: &Printer) {
    let stacks = target.stacks();
    let mut lines = vec!["endpoints:".to_string()];
    for service in &app.services {
        let Ok(state) = stacks.describe_service(service, stage).await else {
            continue;
        };
        for kind in ["httpApi", "http"] {
            if let Some(url) = endpoints::base_url(&state, kind, target.target.endpoint()) {
                lines.push(format!("{:>16}: {url}", service.key));
            }
        }
    }
    out.result(&lines.join("\n"));
}
