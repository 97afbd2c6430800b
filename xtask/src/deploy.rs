//! `cargo xtask deploy <stage>`: preflight, then every service in graph
//! order through a ready-pool scheduler, then, on failure, a coordinated
//! rollback of what this run changed.
//!
//! Preflight does every check before the first change: the stage, the
//! audit, the graph, credentials and account, the deployment buckets, the
//! protected-stage rules, and the stage lock.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use tokio::task::JoinSet;

use crate::app::{App, Service};
use crate::bootstrap;
use crate::cli::{DeployArgs, Global};
use crate::diag::Format;
use crate::graph::Graph;
use crate::interrupt;
use crate::journal::{self, Journal, ServiceRecord, Status};
use crate::lock::{Lock, Locks};
use crate::output::Printer;
use crate::serverless::{Cli, Sink};
use crate::stacks::Stacks;
use crate::stage::Stage;
use crate::target::StageTarget;
use crate::{audit, backup, fingerprint, git, plan, smoke, validate};

/// Everything the run needs, checked.
pub struct Prepared {
    pub app: App,
    pub stage: Stage,
    pub graph: Graph,
    pub order: Vec<String>,
    pub target: StageTarget,
    pub account: String,
}

/// Loads the app and checks the stage, the audit and the graph: everything
/// that needs no AWS call. Fails before any process starts.
pub fn load(
    global: &Global,
    stage_name: &str,
    allow_findings: bool,
    out: &Printer,
) -> Result<(App, Stage, Graph, Vec<Vec<String>>)> {
    let dir = App::resolve_dir(global.app.as_deref());
    let app = App::load(&dir)?;
    let stage = app.stage(stage_name)?;
    let report = audit::audit(&app);
    if !report.findings.is_empty() {
        let text = report.render_text("audit");
        if stage.is_protected() {
            bail!("{text}the audit must be clean to deploy protected stage {stage}; fix the findings above");
        }
        if !allow_findings {
            bail!("{text}fix the findings above, or pass --allow-findings to deploy unprotected stage {stage} anyway");
        }
        out.plain(&format!("{text}(deploying anyway: --allow-findings)"));
    }
    let report = validate::validate(&app, &stage);
    if !report.findings.is_empty() {
        bail!(
            "{}fix the findings above; CloudFormation would reject them",
            report.render_text("validate")
        );
    }
    let (graph, waves) = plan::checked(&app, &stage)?;
    Ok((app, stage, graph, waves))
}

/// The checks that need the target: credentials, account, buckets, lock table.
pub async fn connect(
    app: &App,
    stage: &Stage,
    rehearse: bool,
    global: &Global,
    out: &Printer,
) -> Result<(StageTarget, String)> {
    let target = StageTarget::open(stage, rehearse, global.emulator).await?;
    let account = target.check_account(stage).await?;
    out.step(&format!(
        "stage {stage} ({}) on {}, account {account}",
        stage.region(),
        target.describe()
    ));
    // The `local` stage lives on an emulator that starts empty: bootstrap
    // it as part of the deploy. Any other stage (rehearsals included) is
    // bootstrapped on purpose, as on AWS.
    if stage.on_emulator() {
        bootstrap::run(app, stage, &target, out).await?;
    }
    let stacks = Stacks::new(&target.config, &target.target);
    let mut missing = Vec::new();
    for bucket in bootstrap::deployment_buckets(app, stage) {
        if !stacks.bucket_exists(&bucket).await? {
            missing.push(bucket);
        }
    }
    if !missing.is_empty() {
        bail!(
            "deployment bucket(s) {} do not exist yet; run `cargo xtask bootstrap {stage}` first",
            missing.join(", ")
        );
    }
    if !Locks::new(&target.config).table_exists().await? {
        bail!("the lock table of this account and region does not exist yet; run `cargo xtask bootstrap {stage}` first");
    }
    Ok((target, account))
}

/// Protected stages need a clean work tree and an explicit yes.
pub fn confirm_protected(
    stage: &Stage,
    app: &App,
    yes: bool,
    what: &str,
    plan_text: &str,
) -> Result<()> {
    if !stage.is_protected() {
        return Ok(());
    }
    match git::changes(&app.root) {
        None => bail!("stage {stage} is protected: {what} runs only from a git work tree, so the commit can be recorded"),
        Some(changes) if !changes.is_empty() => bail!(
            "stage {stage} is protected and the work tree has uncommitted changes:\n  {}\ncommit or stash them first",
            changes.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
        ),
        Some(_) => {}
    }
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "stage {stage} is protected: pass --yes to {what} it without a terminal to confirm on"
        );
    }
    eprint!("{plan_text}\nstage {stage} is protected. Type the stage name to {what} it: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() != stage.name() {
        bail!("not confirmed; nothing was changed");
    }
    Ok(())
}

/// The services a run works on: all, or `--only` ones plus a check that
/// what they depend on was deployed before.
fn selection(app: &App, graph: &Graph, order: &[String], only: &[String]) -> Result<Vec<String>> {
    if only.is_empty() {
        return Ok(order.to_vec());
    }
    for key in only {
        if app.service(key).is_none() {
            let known: Vec<&str> = app.services.iter().map(|s| s.key.as_str()).collect();
            bail!(
                "--only {key}: no such service; the app has {}",
                known.join(", ")
            );
        }
    }
    let _ = graph;
    Ok(order.iter().filter(|k| only.contains(k)).cloned().collect())
}

struct Run {
    /// Deploy even services whose fingerprint is unchanged.
    force: bool,
    app: App,
    stage: Stage,
    cli: Cli,
    stacks: Stacks,
    out: Arc<Printer>,
    journal: Mutex<Journal>,
}

impl Run {
    fn service(&self, key: &str) -> &Service {
        self.app
            .service(key)
            .expect("scheduled services come from the app")
    }

    fn update(&self, f: impl FnOnce(&mut Journal)) {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut journal);
        if let Err(err) = journal.save() {
            self.out
                .plain(&format!("warning: cannot write the journal: {err:#}"));
        }
    }

    fn sink(&self, key: &str) -> Sink {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let log = journal.path().with_extension("").join(format!("{key}.log"));
        Sink {
            prefix: key.to_string(),
            log,
            out: self.out.clone(),
        }
    }

    /// Deploys one service and records before and after.
    async fn deploy_one(self: Arc<Self>, key: String) -> (String, Status) {
        let service = self.service(&key);
        let sink = self.sink(&key);
        self.update(|j| {
            if let Some(s) = j.service_mut(&key) {
                s.status = Status::Running;
                s.started_at = Some(journal::now());
                s.log = Some(crate::paths::display(&sink.log));
            }
            j.event(format!("{key}: started"));
        });
        self.out.step(&format!(
            "{key}: deploying {}",
            service
                .stack_name(self.stage.name(), self.stage.region())
                .unwrap_or_default()
        ));
        let result: Result<Status> = async {
            let previous = self.stacks.state(service, &self.stage).await?;
            self.update(|j| {
                if let Some(s) = j.service_mut(&key) {
                    s.previous = Some(previous.clone());
                }
            });
            // An unchanged service is skipped without starting node.
            let fingerprint = if self.force {
                None
            } else {
                fingerprint::compute(service, &self.stage, &self.stacks).await?
            };
            if let Some(fp) = &fingerprint {
                if let Some(stored) =
                    fingerprint::stored(service, &self.stage, &self.stacks, &previous).await
                {
                    if fingerprint::matches(&stored, fp, &previous) {
                        self.out.line(
                            &key,
                            "unchanged since its last deploy (same fingerprint); skipped",
                        );
                        self.update(|j| {
                            if let Some(s) = j.service_mut(&key) {
                                s.new = Some(previous.clone());
                            }
                        });
                        return Ok(Status::Unchanged);
                    }
                }
            }
            if crate::tools::service_dependencies(&service.dir).await? {
                self.out.line(
                    &key,
                    "installed the service's npm dependencies (npm ci --omit=dev)",
                );
            }
            let params = self.compose_params(service).await?;
            self.cli
                .deploy(service, &self.stage, &params, &sink)
                .await?;
            let new = self.stacks.state(service, &self.stage).await?;
            let status = if previous.exists
                && previous.deployment.is_some()
                && previous.deployment == new.deployment
            {
                Status::Unchanged
            } else {
                Status::Deployed
            };
            if let Some(fp) = &fingerprint {
                if let Err(err) =
                    fingerprint::store(service, &self.stage, &self.stacks, &new, fp).await
                {
                    self.out.line(&key, &format!("warning: {err:#}"));
                }
            }
            self.update(|j| {
                if let Some(s) = j.service_mut(&key) {
                    s.new = Some(new);
                }
            });
            Ok(status)
        }
        .await;
        let status = match result {
            Ok(status) => {
                self.out.step(&format!("{key}: {}", status.as_str()));
                status
            }
            Err(err) => {
                let message = format!("{err:#}");
                self.out.step(&format!("{key}: failed"));
                let after = self.stacks.state(service, &self.stage).await.ok();
                self.update(|j| {
                    if let Some(s) = j.service_mut(&key) {
                        s.error = Some(message.clone());
                        s.new = after;
                    }
                });
                Status::Failed
            }
        };
        self.update(|j| {
            if let Some(s) = j.service_mut(&key) {
                s.status = status;
                s.ended_at = Some(journal::now());
            }
            j.event(format!("{key}: {}", status.as_str()));
        });
        (key, status)
    }

    /// Serverless Compose params with the outputs they read filled in.
    async fn compose_params(&self, service: &Service) -> Result<Vec<(String, String)>> {
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (_, template) in &service.params {
            for dep in &service.depends_on {
                if template.contains(&format!("${{{}.", dep.service))
                    && !outputs.contains_key(&dep.service)
                {
                    let other = self.service(&dep.service);
                    let stack = other
                        .stack_name(self.stage.name(), self.stage.region())
                        .unwrap_or_default();
                    outputs.insert(
                        dep.service.clone(),
                        self.stacks.describe(&stack).await?.outputs,
                    );
                }
            }
        }
        service
            .params
            .iter()
            .map(|(name, template)| {
                let value = crate::compose::resolve(template, |svc, output| {
                    outputs.get(svc)?.get(output).cloned()
                })
                .with_context(|| {
                    format!(
                        "param `{name}` of {} reads `{template}`, which no deployed stack provides",
                        service.key
                    )
                })?;
                Ok((name.clone(), value))
            })
            .collect()
    }

    /// Returns one service to what it was before the run.
    async fn roll_back(&self, record: &ServiceRecord) -> Result<Option<Status>> {
        let service = self.service(&record.name);
        let sink = self.sink(&record.name);
        let previous = record.previous.clone().unwrap_or_default();
        let now = self.stacks.state(service, &self.stage).await?;
        match (&record.status, previous.exists, &previous.deployment) {
            // The stack did not exist before this run: it goes away again.
            (Status::Deployed | Status::Failed, false, _) if now.exists => {
                self.out.step(&format!(
                    "{}: removing the stack this run created",
                    record.name
                ));
                self.cli.remove(service, &self.stage, &sink).await?;
                Ok(Some(Status::RolledBack))
            }
            (Status::Deployed, true, Some(timestamp)) => {
                self.out.step(&format!(
                    "{}: rolling back to deployment {timestamp}",
                    record.name
                ));
                self.cli
                    .rollback(service, &self.stage, timestamp, &sink)
                    .await?;
                fingerprint::forget(service, &self.stage, &self.stacks, &now).await;
                Ok(Some(Status::RolledBack))
            }
            (Status::Deployed, true, None) => bail!(
                "no earlier deployment of {} is kept in its deployment bucket to return to",
                record.name
            ),
            _ => Ok(None),
        }
    }
}

pub async fn run(global: &Global, args: DeployArgs) -> Result<i32> {
    let json = args.format == Format::Json;
    let out = Arc::new(Printer::new(json));
    let (app, stage, graph, waves) = load(global, &args.stage, args.allow_findings, &out)?;
    let order: Vec<String> = waves.iter().flatten().cloned().collect();
    let selected = selection(&app, &graph, &order, &args.only)?;
    let plan_text = plan::render(&graph, &waves, &stage, plan::PlanFormat::Text);
    let rehearse = args.rehearse && !stage.on_emulator();
    let (target, account) = connect(&app, &stage, rehearse, global, &out).await?;
    let stacks = Stacks::new(&target.config, &target.target);

    // --only: what the selection depends on must be deployed already.
    let selected_set: BTreeSet<&str> = selected.iter().map(String::as_str).collect();
    for key in &selected {
        for dep in graph.dependencies(key) {
            if selected_set.contains(dep) {
                continue;
            }
            let service = app
                .service(dep)
                .context("a dependency is a service of the app")?;
            let state = stacks.describe_service(service, &stage).await?;
            if !state.exists {
                bail!("{key} depends on {dep}, which was never deployed to stage {stage}; deploy it first (`cargo xtask deploy {stage} --only {dep}`) or drop --only");
            }
        }
    }

    // Exports other deployed stacks import must survive this deploy.
    let cfn_client = aws_sdk_cloudformation::Client::new(&target.config);
    let chosen: Vec<&Service> = selected.iter().filter_map(|k| app.service(k)).collect();
    let removed = validate::check_deployed_exports(&app, &chosen, &stage, &cfn_client).await?;
    if !removed.is_empty() {
        let report = crate::diag::Report {
            findings: removed,
            errors: Vec::new(),
        };
        bail!(
            "{}nothing was deployed",
            report.render_text("validate against the deployed stage")
        );
    }

    if args.dry_run {
        out.plain(&plan_text);
        for key in &selected {
            let service = app.service(key).context("selected from the app")?;
            let state = stacks.state(service, &stage).await?;
            let now = match (&state.status, &state.deployment) {
                (Some(status), Some(d)) => format!("{status}, deployment {d}"),
                (Some(status), None) => status.clone(),
                _ => "not deployed".into(),
            };
            out.plain(&format!("would deploy {key} ({now})"));
        }
        out.plain("dry run: nothing was changed");
        return Ok(0);
    }

    confirm_protected(&stage, &app, args.yes, "deploy", &plan_text)?;
    let _graceful = interrupt::graceful();
    let run_id = journal::new_run_id();
    let locks = Locks::new(&target.config);
    let lock = locks
        .acquire(&app.name(), &stage, &run_id, "deploy")
        .await?;
    out.step(&format!("took the lock of stage {stage} (run {run_id})"));

    let mut notes = BTreeMap::from([("account".to_string(), account)]);
    // A protected stage's tables are backed up before anything changes.
    if stage.is_protected() && !args.skip_backup {
        match backup::take(&app, &stage, &target.config, &format!("before-{run_id}")).await {
            Ok(taken) => {
                for t in &taken {
                    out.step(&format!("backed up {}: {}", t.table, t.arn));
                }
                notes.insert(
                    "backups".into(),
                    taken
                        .iter()
                        .map(|t| t.arn.clone())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
            Err(err) => {
                release(&locks, lock, &out).await;
                return Err(err.context("the backup before the deploy failed; nothing was deployed (--skip-backup deploys without one)"));
            }
        }
    }
    let result = deploy_locked(
        &app,
        &stage,
        graph,
        selected,
        &target,
        notes,
        &run_id,
        out.clone(),
        args.concurrency,
        json,
        args.force,
    )
    .await;
    release(&locks, lock, &out).await;
    let (code, journal_path) = result?;
    if code != 0 {
        Journal::load(&journal_path)?.publish_summary();
        return Ok(code);
    }
    if args.skip_smoke {
        out.plain("smoke skipped (--skip-smoke): run `cargo xtask smoke` next");
        Journal::load(&journal_path)?.publish_summary();
        if !json && stage.on_emulator() {
            print_endpoints(&app, &stage, &target).await;
        }
        return Ok(0);
    }
    // Every endpoint, after every successful deploy.
    out.step("smoke-testing every endpoint");
    let junit = journal_path.with_extension("").join("smoke.xml");
    let opts = smoke::SmokeOptions {
        allow_mutating: args.allow_mutating,
        run_id: run_id.clone(),
        junit: Some(junit.clone()),
        concurrency: None,
    };
    let report = smoke::run(&app, &stage, &target, &opts).await?;
    if json {
        eprint!("{}", report.table());
    } else {
        out.plain(&report.table());
    }
    let mut journal = Journal::load(&journal_path)?;
    journal.notes.insert(
        "smoke".into(),
        format!(
            "{} passed, {} failed, {} skipped",
            report.passed_count(),
            report.failed(),
            report.skipped()
        ),
    );
    journal
        .notes
        .insert("smoke_report".into(), crate::paths::display(&junit));
    journal.event(if report.ok() {
        "smoke passed"
    } else {
        "smoke failed"
    });
    journal.save()?;
    journal.publish_summary();
    if !report.ok() {
        out.plain(&format!(
            "the deploy succeeded but its smoke test failed; see above (report: {})",
            crate::paths::display(&junit)
        ));
        return Ok(1);
    }
    if !json && stage.on_emulator() {
        print_endpoints(&app, &stage, &target).await;
    }
    Ok(0)
}

async fn release(locks: &Locks, lock: Lock, out: &Printer) {
    match locks.release(lock).await {
        Ok(()) => out.step("released the lock"),
        Err(err) => out.plain(&format!("warning: {err:#}")),
    }
}

/// The deploy itself, under the lock: the exit code and the journal's path.
#[allow(clippy::too_many_arguments)]
async fn deploy_locked(
    app: &App,
    stage: &Stage,
    graph: Graph,
    selected: Vec<String>,
    target: &StageTarget,
    notes: BTreeMap<String, String>,
    run_id: &str,
    out: Arc<Printer>,
    concurrency: usize,
    json: bool,
    force: bool,
) -> Result<(i32, std::path::PathBuf)> {
    let cli = Cli::new(&target.target)?;
    let stacks = Stacks::new(&target.config, &target.target);
    let mut journal = Journal::start("deploy", run_id, app, stage, target);
    journal.notes.extend(notes);
    for key in &selected {
        let service = app.service(key).context("selected from the app")?;
        journal.services.push(ServiceRecord {
            name: key.clone(),
            stack: service
                .stack_name(stage.name(), stage.region())
                .unwrap_or_default(),
            status: Status::Pending,
            started_at: None,
            ended_at: None,
            previous: None,
            new: None,
            error: None,
            log: None,
        });
    }
    journal.event(format!("run {run_id} started"));
    journal.save()?;
    out.step(&format!(
        "journal: {}",
        crate::paths::display(journal.path())
    ));

    let journal_path = journal.path().to_path_buf();
    let run = Arc::new(Run {
        force,
        app: app.clone(),
        stage: stage.clone(),
        cli,
        stacks,
        out: out.clone(),
        journal: Mutex::new(journal),
    });
    let concurrency = concurrency.max(1);
    let mut status: BTreeMap<String, Status> = selected
        .iter()
        .map(|k| (k.clone(), Status::Pending))
        .collect();
    let mut running: JoinSet<(String, Status)> = JoinSet::new();
    let mut failed = false;
    let mut completed: Vec<String> = Vec::new();
    loop {
        let stop = failed || interrupt::requested();
        if !stop {
            for key in &selected {
                if running.len() >= concurrency {
                    break;
                }
                if status[key] != Status::Pending {
                    continue;
                }
                let ready = graph.dependencies(key).iter().all(|dep| {
                    status
                        .get(*dep)
                        .is_none_or(|s| matches!(s, Status::Deployed | Status::Unchanged))
                });
                if ready {
                    status.insert(key.clone(), Status::Running);
                    running.spawn(run.clone().deploy_one(key.clone()));
                }
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (key, result) = match joined {
            Ok(done) => done,
            Err(err) => bail!("a deploy task stopped unexpectedly: {err}"),
        };
        if result == Status::Failed {
            failed = true;
        }
        if matches!(result, Status::Deployed | Status::Unchanged) {
            completed.push(key.clone());
        }
        status.insert(key, result);
    }
    let interrupted = interrupt::requested();
    // Whatever did not start is skipped, and says why.
    for key in &selected {
        if status[key] == Status::Pending {
            let why = if interrupted {
                "interrupted before it started"
            } else {
                "an earlier service failed"
            };
            run.update(|j| {
                if let Some(s) = j.service_mut(key) {
                    s.status = Status::Skipped;
                    s.error = Some(why.into());
                }
                j.event(format!("{key}: skipped ({why})"));
            });
        }
    }

    let ok = !failed && !interrupted;
    if !ok {
        roll_back_run(&run, &completed, &selected).await;
    }
    let outcome = if ok {
        "succeeded"
    } else if interrupted {
        "interrupted"
    } else {
        "failed"
    };
    run.update(|j| {
        j.ended_at = Some(journal::now());
        j.outcome = Some(outcome.into());
        j.event(format!("run {outcome}"));
    });
    let journal = run
        .journal
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if json {
        println!("{}", serde_json::to_string_pretty(&journal)?);
    } else {
        out.plain(&format!("\n{}", journal.summary()));
    }
    Ok((if ok { 0 } else { 1 }, journal_path))
}

/// Rolls back this run's completed services, newest first, and removes a
/// failed service's stack when this run created it.
async fn roll_back_run(run: &Arc<Run>, completed: &[String], selected: &[String]) {
    run.update(|j| j.event("rolling back this run's changes"));
    let mut todo: Vec<String> = completed.iter().rev().cloned().collect();
    todo.extend(selected.iter().filter(|k| !completed.contains(k)).cloned());
    for key in todo {
        let record = run
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .service(&key)
            .cloned();
        let Some(record) = record else { continue };
        match run.roll_back(&record).await {
            Ok(Some(status)) => run.update(|j| {
                if let Some(s) = j.service_mut(&key) {
                    if s.status != Status::Failed {
                        s.status = status;
                    }
                }
                j.event(format!("{key}: rolled back to its state before the run"));
            }),
            Ok(None) => {}
            Err(err) => {
                let message = format!("{err:#}");
                run.out.plain(&format!("{key}: rollback failed: {message}"));
                run.update(|j| {
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

/// The API base URLs of an emulator stage, in the form that works without DNS.
async fn print_endpoints(app: &App, stage: &Stage, target: &StageTarget) {
    let stacks = Stacks::new(&target.config, &target.target);
    println!("endpoints:");
    for service in &app.services {
        let Ok(state) = stacks.describe_service(service, stage).await else {
            continue;
        };
        for kind in ["httpApi", "http"] {
            if let Some(url) = crate::endpoints::base_url(&state, kind, target.target.endpoint()) {
                println!("{:>16}: {url}", service.key);
            }
        }
    }
}
