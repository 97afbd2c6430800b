//! One locked, journalled run of a stage: deploy, remove and rollback all
//! go through [`StageRun`]. It opens with the stage lock taken and the
//! journal written, records every change, and releases the lock on every
//! path out — a normal finish, an error (`?`), a panic unwinding, or a
//! graceful first Ctrl-C. Only a hard stop (a second Ctrl-C, or a kill)
//! leaves the lock held, since what the run started may still be changing
//! the stage; the journal then says where it stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws::domains;
use crate::aws::lock::{Holder, Lock, LockError, Locks};
use crate::aws::stacks::{StackState, Stacks};
use crate::aws::target::StageTarget;
use crate::run::history::History;
use crate::run::journal::{self, Journal, Outcome, ServiceRecord, StageKey};
use crate::run::serverless::{Serverless, Sink};
use crate::run::undo::{self, Undo};
use crate::run::{fault, fingerprint, interrupt};
use crate::sys::hint;
use crate::sys::output::Printer;
use crate::sys::paths;

/// A run of one command on one stage, holding the stage's lock.
pub struct StageRun<'a> {
    pub app: &'a App,
    pub stage: &'a Stage,
    pub target: &'a StageTarget,
    pub out: Arc<Printer>,
    pub cli: Serverless,
    pub stacks: Stacks,
    journal: Mutex<Journal>,
    lock: StageLock,
    /// While the run lives, the first interrupt (Ctrl-C, SIGTERM, SIGHUP)
    /// asks it to stop gracefully.
    _graceful: interrupt::Graceful,
}

impl<'a> StageRun<'a> {
    /// Takes the stage lock and writes the run's first journal entry.
    pub async fn begin(
        command: &str,
        app: &'a App,
        stage: &'a Stage,
        target: &'a StageTarget,
        lock_wait: Duration,
        out: Arc<Printer>,
    ) -> Result<StageRun<'a>> {
        let run_id = journal::new_run_id();
        let lock = StageLock::acquire(
            target,
            (&app.name(), stage),
            &run_id,
            command,
            lock_wait,
            out.clone(),
        )
        .await?;
        let cli = Serverless::new(&target.target)?;
        // Copies of pinned configs a killed run left in the app's folders.
        crate::run::pin::sweep_unpinned(&app.services);
        let mut journal = Journal::start(command, &run_id, app, stage, target);
        journal.event(format!("run {run_id} started"));
        journal.save()?;
        let run = StageRun {
            app,
            stage,
            target,
            out,
            cli,
            stacks: target.stacks(),
            journal: Mutex::new(journal),
            lock,
            _graceful: interrupt::graceful(),
        };
        run.publish().await;
        fault::inject(fault::AFTER_LOCK)?;
        Ok(run)
    }

    pub fn run_id(&self) -> String {
        self.journal().run_id
    }

    /// A copy of the journal as it stands.
    pub fn journal(&self) -> Journal {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the journal and writes it at once.
    pub fn record(&self, f: impl FnOnce(&mut Journal)) {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut journal);
        if let Err(err) = journal.save() {
            self.out
                .plain(&format!("warning: cannot write the journal: {err:#}"));
        }
    }

    /// A service of the app by key; the run's services all come from it.
    pub fn service(&self, key: &str) -> Result<&'a Service> {
        self.app
            .service(key)
            .with_context(|| format!("{key} is not a service of the app"))
    }

    /// Where a service's CLI output goes: its prefix on screen, and a log
    /// file next to the journal.
    pub fn sink(&self, key: &str) -> Sink {
        let journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        Sink {
            prefix: key.to_string(),
            log: journal.path().with_extension("").join(format!("{key}.log")),
            out: self.out.clone(),
        }
    }

    /// Writes the shared copy of the journal beside the stage's lock; a
    /// failure is a warning, since the local copy stays.
    pub async fn publish(&self) {
        if let Err(err) = self.journal().publish(&self.target.locks()).await {
            self.out.plain(&format!(
                "warning: the shared copy of the journal was not written: {err:#}"
            ));
        }
    }

    /// Ends the run: records the outcome, publishes the journal, releases
    /// the lock, and returns the final journal.
    pub async fn finish(mut self, outcome: Outcome) -> Journal {
        self.record(|j| {
            j.ended_at = Some(journal::now());
            j.event(format!("run {outcome}"));
            j.outcome = Some(outcome);
        });
        self.publish().await;
        self.lock.release().await;
        self.journal()
    }
}

impl Drop for StageRun<'_> {
    /// A run dropped without [`StageRun::finish`] ended by an error, a
    /// panic or a hard stop: its journal says so.
    fn drop(&mut self) {
        if self.lock.lock.is_none() {
            return;
        }
        let outcome = if interrupt::stopping_at_once() {
            Outcome::Stopped
        } else {
            Outcome::Aborted
        };
        let journal = {
            let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            if journal.outcome.is_none() {
                journal.ended_at = Some(journal::now());
                journal.event(format!("run {outcome} before it finished"));
                journal.outcome = Some(outcome);
                let _ = journal.save();
            }
            journal.clone()
        };
        // The shared copy too, as the lock's release does: one blocking
        // call on a multi-threaded runtime.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                let locks = self.target.locks();
                let _ = tokio::task::block_in_place(|| handle.block_on(journal.publish(&locks)));
            }
        }
    }
}

/// What to do about a lock that `holder` holds: wait for it, or, if that
/// run died, where its journal is and what clearing the lock and rolling
/// that run back would do.
pub async fn after_dead_run(
    target: &StageTarget,
    (app, stage): (&str, &Stage),
    holder: &Holder,
) -> String {
    let rehearsal = target.is_rehearsal();
    let mut out = String::from("wait for that run to finish; if it died:\n");
    let locks = target.locks();
    let key = StageKey {
        app: app.to_string(),
        stage: stage.name().to_string(),
        region: stage.region().to_string(),
        rehearsal,
    };
    let found = History::new(vec![key])
        .with_locks(&locks)
        .find(&holder.run_id)
        .await;
    match found {
        Ok(Some(journal)) => {
            let outcome = journal
                .outcome
                .as_ref()
                .map_or("none: it never finished".to_string(), Outcome::to_string);
            out.push_str(&format!(
                "  its journal is {} (outcome {outcome})\n",
                paths::display(journal.path())
            ));
            for s in &journal.services {
                out.push_str(&format!("    {}: {}\n", s.name, s.status.as_str()));
            }
        }
        Ok(None) => out.push_str(&format!(
            "  its journal ({}) is on neither this machine nor beside the lock\n",
            holder.run_id
        )),
        Err(err) => out.push_str(&format!("  its journal cannot be used: {err:#}\n")),
    }
    out.push_str(&format!(
        "  clear the lock with `{}`, then `{}` shows what that run changed and returns it (services it never started are left alone)",
        hint::xtask(&format!("unlock {stage} --force")),
        hint::xtask(&format!("rollback {stage} --run {}", holder.run_id))
    ));
    out
}

/// A held stage lock, released when dropped unless the command is being
/// stopped at once. [`StageRun`] holds one; so does `migrate`, which
/// changes the data of its target stage.
pub struct StageLock {
    locks: Locks,
    lock: Option<Lock>,
    /// The stage locked, for the hint when the lock cannot be released.
    stage: String,
    out: Arc<Printer>,
}

impl StageLock {
    /// Takes the lock of `stage` for `command`, waiting up to `wait` while
    /// another run holds it (saying who, now and then), or fails naming the
    /// holder and what to do.
    pub async fn acquire(
        target: &StageTarget,
        (app, stage): (&str, &Stage),
        run_id: &str,
        command: &str,
        wait: Duration,
        out: Arc<Printer>,
    ) -> Result<StageLock> {
        let locks = target.locks();
        let started = Instant::now();
        let mut said = None::<Instant>;
        let lock = loop {
            match locks.acquire(app, stage, run_id, command).await {
                Ok(lock) => break lock,
                Err(LockError::Held { holder, .. }) => {
                    let waited = started.elapsed();
                    if waited >= wait {
                        let waited = if wait.is_zero() {
                            String::new()
                        } else {
                            format!(" (waited {}s)", waited.as_secs())
                        };
                        crate::sys::refuse!(
                            "stage {stage} is locked by {}{waited}\n{}",
                            holder.describe(),
                            after_dead_run(target, (app, stage), &holder).await
                        );
                    }
                    if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(15)) {
                        out.step(&format!(
                            "stage {stage} is locked by {}; waiting up to {}s more",
                            holder.describe(),
                            (wait - waited).as_secs()
                        ));
                        said = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_secs(1).min(wait - waited)).await;
                }
                Err(err @ LockError::NoTable { .. }) => {
                    return Err(anyhow::Error::new(crate::sys::Refused(err.to_string())))
                }
                Err(err) => return Err(err.into()),
            }
        };
        out.step(&format!("took the lock of stage {stage} (run {run_id})"));
        Ok(StageLock {
            locks,
            lock: Some(lock),
            stage: stage.to_string(),
            out,
        })
    }

    async fn release(&mut self) {
        if let Some(lock) = self.lock.take() {
            match self.locks.release(lock).await {
                Ok(()) => self.out.step("released the lock"),
                Err(err) => self.out.plain(&format!("warning: {err:#}")),
            }
        }
    }
}

impl Drop for StageLock {
    fn drop(&mut self) {
        if self.lock.is_none() {
            return;
        }
        if interrupt::stopping_at_once() {
            self.out.plain(
                "the stage lock stays held: what this run started may still be changing the stage; its journal says where it stopped",
            );
            return;
        }
        // Drop cannot await; the release blocks this worker thread for one
        // DynamoDB call, which a multi-threaded runtime allows.
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            self.out.plain(&format!(
                "warning: the stage lock could not be released here; clear it with `{}`",
                hint::xtask(&format!("unlock {} --force", self.stage))
            ));
            return;
        }
        tokio::task::block_in_place(|| handle.block_on(self.release()));
    }
}

/// What [`StageRun::undo`] did to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undone {
    /// Left as it was: the run did not change it, or it is already back.
    Kept,
    /// Its stack, created by the run, was removed.
    Removed,
    /// Its stack was returned to its deployment from before the run.
    RolledBack,
}

impl StageRun<'_> {
    /// Removes a service's stack. On a protected stage (where removal was
    /// confirmed and allowed explicitly) a stack's termination protection
    /// is turned off first, and the journal says so; elsewhere a protected
    /// stack is left to refuse, as it was set by hand.
    pub async fn remove_stack(&self, service: &Service) -> Result<()> {
        let key = &service.key;
        let stack = service.stack_name(self.stage).unwrap_or_default();
        if self.stage.is_protected()
            && self.stacks.termination_protection(&stack).await? == Some(true)
        {
            self.stacks
                .set_termination_protection(&stack, false)
                .await?;
            let message =
                format!("{key}: turned termination protection off for {stack} to remove it");
            self.out.step(&message);
            self.record(|j| j.event(message));
        }
        // A custom domain mapped to the stack's API goes first: API
        // Gateway keeps an API with a mapping from being deleted.
        for line in domains::release(self.app, self.stage, self.target, key).await? {
            self.out.step(&line);
            self.record(|j| j.event(format!("domain {line}")));
        }
        self.cli.remove(service, self.stage, &self.sink(key)).await
    }

    /// After a successful deploy, the stage's custom domains serve the
    /// APIs of `services`: each change said and in the journal. An error
    /// leaves the stacks deployed; a rerun of the deploy sets the domains.
    pub async fn serve_domains(&self, services: &[String]) -> Result<()> {
        let said = domains::apply(self.app, self.stage, self.target, services).await;
        let said = match said {
            Ok(said) => said,
            Err(err) => {
                let message = format!("custom domains not set: {err:#}");
                self.record(|j| j.event(message.clone()));
                bail!("{message}; the stacks are deployed, and running the deploy again sets the domains");
            }
        };
        for line in said {
            self.out.step(&line);
            self.record(|j| j.event(format!("domain {line}")));
        }
        for domain in self
            .stage
            .domains()
            .iter()
            .filter(|d| services.contains(&d.service))
        {
            if let Some(deployed) = domains::deployed(self.target, &domain.name).await? {
                self.out.step(&format!(
                    "{}: point its DNS record (CNAME or alias) at {}",
                    domain.name, deployed.dns_target
                ));
            }
        }
        Ok(())
    }

    /// After a successful deploy of a protected stage, every stack of the
    /// app that exists gets termination protection, so no delete (by hand,
    /// by another tool) takes it and its data; `remove --allow-protected`
    /// turns it off again, in its journal.
    pub async fn protect_stacks(&self) {
        if !self.stage.is_protected() {
            return;
        }
        for service in &self.app.services {
            let Some(stack) = service.stack_name(self.stage) else {
                continue;
            };
            let result = match self.stacks.termination_protection(&stack).await {
                Ok(Some(false)) => self
                    .stacks
                    .set_termination_protection(&stack, true)
                    .await
                    .map(|()| true),
                Ok(_) => Ok(false),
                Err(err) => Err(err),
            };
            let message = match result {
                Ok(true) => format!("{}: termination protection on for {stack}", service.key),
                Ok(false) => continue,
                Err(err) => format!(
                    "{}: could not turn termination protection on: {err:#}",
                    service.key
                ),
            };
            self.out.step(&message);
            self.record(|j| j.event(message));
        }
    }

    /// Returns the service of `record` (a journal entry of this run, or of
    /// an earlier one read back) to its state before that run, by the one
    /// undo rule; a record read back is acted on only as far as
    /// CloudFormation confirms it.
    pub async fn undo(&self, record: &ServiceRecord, trust: Trust) -> Result<Undone> {
        let key = &record.name;
        // What the journal alone settles needs no call to AWS (which may be
        // the very thing that failed).
        if let Some(why) = undo::untouched(record) {
            self.out.step(&format!("{key}: {why}; left as it is"));
            return Ok(Undone::Kept);
        }
        let service = self.service(key)?;
        let (verdict, now) = verdict(&self.stacks, service, self.stage, record, trust).await?;
        let sink = self.sink(key);
        match verdict {
            Undo::Keep(why) => {
                self.out.step(&format!("{key}: {why}; left as it is"));
                Ok(Undone::Kept)
            }
            Undo::Remove => {
                self.out
                    .step(&format!("{key}: removing the stack the run created"));
                self.remove_stack(service).await?;
                Ok(Undone::Removed)
            }
            Undo::RollbackTo(timestamp) => {
                self.out
                    .step(&format!("{key}: rolling back to deployment {timestamp}"));
                let result = self
                    .cli
                    .rollback(service, self.stage, &timestamp, &sink)
                    .await;
                // Whatever the rollback did, the stored fingerprint no
                // longer describes the stack, and the CLI's newest kept
                // deployment is not what runs.
                fingerprint::mark_behind(service, self.stage, &self.stacks, &now, &timestamp).await;
                result.map(|()| Undone::RolledBack)
            }
            Undo::Refuse(why) => bail!("{why}"),
        }
    }
}

/// Whose word a record to undo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// This run's own record, kept in memory since it began.
    Own,
    /// A journal read back, of a run that ran within the window: its undo
    /// is done only as far as CloudFormation confirms it.
    ReadBack(undo::Window),
}

/// What the undo rule would do to the service of `record` now, and its
/// stack as it is. For a record read back, the stack must be the one the
/// app names and CloudFormation must confirm the change the undo would
/// reverse ([`undo::confirm`]); where it does not, the verdict is a
/// refusal that leaves the stack alone and says why.
pub async fn verdict(
    stacks: &Stacks,
    service: &Service,
    stage: &Stage,
    record: &ServiceRecord,
    trust: Trust,
) -> Result<(Undo, StackState)> {
    if let Some(why) = undo::untouched(record) {
        return Ok((Undo::Keep(why), StackState::default()));
    }
    let Trust::ReadBack(window) = trust else {
        let now = stacks.state(service, stage).await?;
        return Ok((undo::decide(record, &now), now));
    };
    let stack = service.stack_name(stage).unwrap_or_default();
    if record.stack != stack {
        return Ok((
            Undo::Refuse(format!(
                "left as it is: the journal names stack `{}`, but the app's stack for it is `{stack}`",
                record.stack.escape_debug()
            )),
            StackState::default(),
        ));
    }
    let now = stacks.state(service, stage).await?;
    let decided = undo::decide(record, &now);
    let kept = match &decided {
        Undo::RollbackTo(_) => stacks.deployments(service, stage, &now).await?,
        _ => Vec::new(),
    };
    let verdict = match undo::confirm(&decided, record, window, &now, &kept) {
        Ok(()) => decided,
        Err(why) => Undo::Refuse(format!("left as it is: {why}")),
    };
    Ok((verdict, now))
}
