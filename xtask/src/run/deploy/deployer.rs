//! The deploy of one run's services: each as soon as what it needs is
//! deployed, those that may starting ahead of their turn (held at their
//! gate after packaging until it comes), a service whose fingerprint
//! matches skipped without starting node, and on failure or a stop the
//! undo of what the run changed. Every change goes into the run's journal
//! through its transitions.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::app::Service;
use crate::aws::stacks::StackState;
use crate::run::fingerprint::Fingerprint;
use crate::run::journal::{self, Outcome, Span, Status};
use crate::run::scheduler::{Package, Schedule};
use crate::run::serverless::Sink;
use crate::run::stage_run::{Trust, Undone};
use crate::run::{ahead, fingerprint, interrupt, StageRun};
use crate::sys::{paths, tools};

/// The deploy of one run's services.
pub(super) struct Deployer<'r, 'a> {
    pub run: &'r StageRun<'a>,
    /// Deploy even services whose fingerprint is unchanged.
    pub force: bool,
    /// Services deployed from a package made by `--package-only`.
    pub packages: super::packages::Packages,
    /// Where deploys started ahead of their turn are held, and where one at
    /// its turn tells it has packaged; `None` when the CLI cannot be held
    /// (one of the team's own).
    pub gates: Option<ahead::Gates>,
    /// Set when the run stops starting services: deploys started ahead
    /// whose turn has not come end.
    pub stopping: tokio::sync::watch::Sender<bool>,
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
    pub(super) async fn deploy_all(&self, schedule: &Schedule) -> Outcome {
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
        // Deploys at their turn not yet packaged: each holds a place until
        // its CLI reaches its (open) gate.
        let mut packaging: BTreeSet<String> = BTreeSet::new();
        loop {
            let stopping = failed || interrupt::requested();
            self.mark_ready(schedule, &status, &mut marked);
            for key in schedule.ready(&status, &packages, stopping) {
                status.insert(key.clone(), Status::Running);
                if packages.get(&key) == Some(&Package::Ahead) {
                    self.open_gate(&key);
                } else {
                    let early = unchanged.remove(&key);
                    let gate = self.turn_gate(&key, early.is_some());
                    if gate.is_some() {
                        packaging.insert(key.clone());
                    }
                    running.push(self.deploy_one(key, early, true, gate));
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
                    packaging.remove(&key);
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
                            running.push(self.deploy_one(key, Some(*prepared), false, None));
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
                                running.push(self.deploy_one(key, None, false, None));
                            }
                        }
                    }
                }
                // A deploy at its turn that has packaged gives its place up.
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)), if !packaging.is_empty() => {
                    if let Some(gates) = &self.gates {
                        let packaged: Vec<String> = packaging
                            .iter()
                            .filter(|k| gates.of(k).reached_at().is_some())
                            .cloned()
                            .collect();
                        for key in packaged {
                            packaging.remove(&key);
                            packages.insert(key, Package::Ahead);
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
            self.run.record(|j| j.service_skipped(key, why));
        }
        if !failed && !interrupted {
            return Outcome::Succeeded;
        }
        self.undo_run().await;
        if interrupted {
            Outcome::Interrupted
        } else {
            Outcome::Failed
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
                j.service_timed(key, |t| t.ready = Some(now));
            }
        });
        marked.extend(newly);
    }

    /// An open gate for `key`'s deploy at its turn, which tells the run
    /// when it has packaged; none when the CLI cannot be gated or the
    /// service is known unchanged (no CLI starts).
    fn turn_gate(&self, key: &str, prepared: bool) -> Option<ahead::Gate> {
        if prepared {
            return None;
        }
        self.gates.as_ref()?.at_turn(key).ok()
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
        let log = paths::display(&self.run.sink(key).log);
        self.run.record(|j| j.service_started(key, log));
    }

    /// The journal's record of how `key` ended.
    async fn ended(&self, key: &str, result: Result<Status>) -> Status {
        let run = self.run;
        let (status, error) = match result {
            Ok(status) => {
                run.out.step(&format!("{key}: {}", status.as_str()));
                (status, None)
            }
            Err(err) => {
                run.out.step(&format!("{key}: failed"));
                let after = match run.service(key) {
                    Ok(service) => run.stacks.state(service, run.stage).await.ok(),
                    Err(_) => None,
                };
                run.record(|j| j.service_after(key, after));
                (Status::Failed, Some(format!("{err:#}")))
            }
        };
        run.record(|j| j.service_ended(key, status, error));
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
            j.service_before(&key, prepared.previous.clone());
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
            let package = Span {
                start: started,
                end: reached,
            };
            run.record(|j| j.service_timed(&key, |t| t.package = Some(package)));
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
        gate: Option<ahead::Gate>,
    ) -> (String, Status) {
        if announce {
            self.started(&key);
        }
        let sink = self.run.sink(&key);
        let result = self.deploy_service(&key, &sink, early, gate).await;
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
        gate: Option<ahead::Gate>,
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
        run.record(|j| j.service_before(key, prepared.previous.clone()));
        if prepared.unchanged {
            run.out.line(
                key,
                "unchanged since its last deploy (same fingerprint); skipped",
            );
            run.record(|j| j.service_after(key, Some(prepared.previous.clone())));
            return Ok(Status::Unchanged);
        }
        self.cli_deploy(key, service, &prepared, gate.as_ref(), sink)
            .await?;
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
        run.record(|j| j.service_cli(key, cli));
        let started = journal::now_ms();
        let deployed = run
            .cli
            .deploy(
                service,
                run.stage,
                &prepared.params,
                (
                    prepared.behind() || self.force,
                    self.packages.by_service.get(key).map(|p| p.as_path()),
                ),
                gate,
                sink,
            )
            .await;
        let ended = journal::now_ms();
        // A held deploy began when its gate opened; the time before is
        // its packaging ahead.
        let start = gate
            .filter(|g| !g.is_at_turn())
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
                j.service_timed(key, |t| {
                    t.deploy = Some(deploy);
                    t.cloudformation = cloudformation;
                })
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
        run.record(|j| j.service_after(key, Some(new)));
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
    pub(super) async fn undo_run(&self) {
        let run = self.run;
        run.record(|j| j.event("rolling back this run's changes"));
        let mut records = run.journal().services;
        records.sort_by_key(|s| std::cmp::Reverse(s.started_at));
        for record in records {
            let key = record.name.clone();
            match run.undo(&record, Trust::Own).await {
                Ok(Undone::Kept) => {}
                Ok(Undone::Removed | Undone::RolledBack) => run.record(|j| j.service_undone(&key)),
                Err(err) => {
                    let message = format!("{err:#}");
                    run.out.plain(&format!("{key}: rollback failed: {message}"));
                    run.record(|j| {
                        j.service_undo_failed(&key, format!("rollback failed: {message}"))
                    });
                }
            }
        }
    }
}
