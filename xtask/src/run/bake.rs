//! After a deploy: the monitoring stack kept in step with what is
//! deployed, and the bake — the stage watched for a while after the smoke
//! test, its alarms and its functions' errors, so a deploy that breaks
//! under real traffic is rolled back like one that failed.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::aws::monitoring;
use crate::run::{interrupt, StageRun};
use crate::sys::clock;

/// Deploys the stage's monitoring stack when deploy.toml asks for one;
/// the change in the journal.
pub async fn keep_in_step(run: &StageRun<'_>) -> Result<()> {
    if run.stage.monitoring().is_none() {
        return Ok(());
    }
    let (what, alarms) = monitoring::deploy(run.app, run.stage, run.target).await?;
    let message = format!("monitoring: {alarms} alarm(s) and a dashboard, {what}");
    run.out.step(&message);
    run.record(|j| {
        if what == "created" {
            j.notes.insert(MONITORING_CREATED.into(), "true".into());
        }
        j.event(message)
    });
    Ok(())
}

/// The journal note of a run that created the stage's monitoring stack.
pub const MONITORING_CREATED: &str = "monitoring_created";

/// After the changes of a run that ran within `undone` were undone: the
/// monitoring stack follows what is deployed now, and one that run
/// created — as CloudFormation confirms — goes when nothing it watched is
/// left. The change in the journal.
pub async fn after_undo(run: &StageRun<'_>, undone: crate::run::undo::Window) -> Result<()> {
    let name = crate::cfn::monitoring::stack_name(&run.app.name(), run.stage);
    let state = run.stacks.describe(&name).await?;
    if !state.exists {
        return Ok(());
    }
    let watched = monitoring::watched(run.app, run.stage, run.target).await?;
    let created_by_it = state.created_at.is_some_and(|at| {
        at + crate::run::journal::CLOCK_SKEW >= undone.start
            && at <= undone.end + crate::run::journal::CLOCK_SKEW
    });
    let nothing_left = watched
        .iter()
        .all(|w| w.functions.is_empty() && w.http_apis.is_empty() && w.rest_apis.is_empty());
    if nothing_left && created_by_it {
        monitoring::remove(run.app, run.stage, &run.stacks).await?;
        let message = format!("removed the monitoring stack {name}: the undone run created it and nothing it watched is left");
        run.out.step(&message);
        run.record(|j| j.event(message));
        return Ok(());
    }
    keep_in_step(run).await
}

/// On an emulator the manifest's bake is cut to this: its metrics come
/// from no real traffic, so a long watch there shows no more than a short
/// one (`--bake` still sets any length).
pub const EMULATOR_BAKE: Duration = Duration::from_secs(5);

/// How long this deploy bakes: `--bake`, else the stage's
/// `monitoring.bake`, cut to [`EMULATOR_BAKE`] on an emulator (said).
pub fn duration(
    flag: Option<Duration>,
    stage: &crate::app::stage::Stage,
    target: &crate::aws::target::StageTarget,
    out: &crate::sys::output::Printer,
) -> Duration {
    if let Some(flag) = flag {
        return flag;
    }
    let declared = stage.monitoring().map(|m| m.bake).unwrap_or_default();
    if target.target.endpoint().is_some() && declared > EMULATOR_BAKE {
        out.step(&format!(
            "bake: {}s on the emulator instead of the stage's {}s (its metrics come from no real traffic; --bake sets any length)",
            EMULATOR_BAKE.as_secs(),
            declared.as_secs()
        ));
        return EMULATOR_BAKE;
    }
    declared
}

/// How often the bake looks: often enough to act within a minute on AWS
/// (alarms have one-minute periods), at once on an emulator.
fn interval(duration: Duration, emulator: bool) -> Duration {
    let most = if emulator { 1 } else { 15 };
    (duration / 10).clamp(Duration::from_secs(1), Duration::from_secs(most))
}

/// Watches the stage for `duration`: an alarm of the monitoring stack
/// that goes off after `since` (seconds since the epoch: the run's start),
/// or a function that fails after the bake began, or an interrupt. What
/// fired, or `None` when the bake ended quiet.
pub async fn watch(run: &StageRun<'_>, duration: Duration, since: u64) -> Result<Option<String>> {
    let watched = monitoring::watched(run.app, run.stage, run.target).await?;
    let with_alarms = run.stage.monitoring().is_some();
    let what = if with_alarms {
        "its alarms and its functions' errors"
    } else {
        "its functions' errors (no [stages.<stage>.monitoring], so no alarms)"
    };
    let message = format!("baking for {}s: watching {what}", duration.as_secs());
    run.out.step(&message);
    run.record(|j| j.event(message));
    let bake_start = clock::now();
    let started = Instant::now();
    let every = interval(duration, run.target.target.endpoint().is_some());
    loop {
        if with_alarms {
            let alarms = monitoring::alarms(run.app, run.stage, run.target).await?;
            if let Some(alarm) = alarms.iter().find(|a| a.firing && a.changed_at >= since) {
                return Ok(Some(format!(
                    "alarm {} fired ({})",
                    alarm.name, alarm.reason
                )));
            }
        }
        let failing = monitoring::function_errors(&watched, run.target, bake_start).await?;
        if let Some((function, errors)) = failing.first() {
            return Ok(Some(format!(
                "function {function} failed {errors} time(s) during the bake"
            )));
        }
        if started.elapsed() >= duration {
            let message = format!("bake over: nothing fired in {}s", duration.as_secs());
            run.out.step(&message);
            run.record(|j| j.event(message));
            return Ok(None);
        }
        // A stop during the bake is a stop of the run: what it changed is
        // rolled back, as for any interrupted run.
        if interrupt::requested() {
            return Ok(Some(format!(
                "the run was interrupted {}s into the bake",
                started.elapsed().as_secs()
            )));
        }
        interrupt::sleep_unless_requested(
            every
                .min(duration.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(200)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bake_looks_often_but_not_too_often() {
        assert_eq!(
            interval(Duration::from_secs(300), false),
            Duration::from_secs(15)
        );
        assert_eq!(
            interval(Duration::from_secs(300), true),
            Duration::from_secs(1)
        );
        assert_eq!(
            interval(Duration::from_secs(5), false),
            Duration::from_secs(1)
        );
    }
}
