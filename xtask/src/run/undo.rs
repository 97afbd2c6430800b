//! The undo rule: what returns one service to its state before a run, from
//! what the run's journal recorded and what is deployed now. One pure
//! function, used by a failed deploy's automatic rollback and by
//! `cargo xtask rollback` alike.
//!
//! It never touches a service the run did not change: one that was
//! pending, skipped or unchanged, or whose state before the run was never
//! recorded (the run died before it read it, so it had not started it).
//!
//! A journal read back (from this machine or beside the lock) is a claim,
//! not a fact: before its undo removes or returns a stack, [`confirm`]
//! checks the claim against what CloudFormation says of the stack — it
//! was created, or last changed, while that run ran, and the deployment
//! to return to was made before it — and a stack that disagrees is left
//! alone, with the reason.

use crate::aws::stacks::StackState;
use crate::run::journal::{ServiceRecord, Status, CLOCK_SKEW};

/// What to do to one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Leave it as it is, and why.
    Keep(&'static str),
    /// The run created its stack: remove it.
    Remove,
    /// Return the stack to this deployment kept in the deployment bucket.
    RollbackTo(String),
    /// It changed, but cannot be returned automatically; the reason says
    /// what to do instead.
    Refuse(String),
}

/// Why `record` needs no undo whatever is deployed now, if that follows
/// from the journal alone: then nothing about the stack is even read.
pub fn untouched(record: &ServiceRecord) -> Option<&'static str> {
    match record.status {
        Status::Pending | Status::Skipped => Some("the run never started it"),
        Status::Unchanged => Some("the run left it unchanged"),
        Status::RolledBack | Status::Removed => Some("already undone"),
        // The state before is read and recorded before the CLI starts: a
        // record without it was never handed to the CLI.
        _ if record.previous.is_none() => Some("the run stopped before it changed it"),
        Status::Deployed | Status::Failed | Status::Running | Status::RollbackFailed => None,
    }
}

/// The undo of `record`, given the stack as it is `now`.
pub fn decide(record: &ServiceRecord, now: &StackState) -> Undo {
    if let Some(why) = untouched(record) {
        return Undo::Keep(why);
    }
    let Some(before) = &record.previous else {
        return Undo::Keep("the run stopped before it changed it");
    };
    match (before.exists, now.exists) {
        (false, true) => Undo::Remove,
        (false, false) => Undo::Keep("its stack is gone, as before the run"),
        (true, false) => Undo::Refuse(
            "its stack existed before the run and is gone now; redeploy it from the commit of that run".into(),
        ),
        // A failed update that CloudFormation rolled back itself left the
        // stack as it was (its uploaded artifacts may still be newest).
        (true, true)
            if record.status == Status::Failed
                && now.status.as_deref() == Some("UPDATE_ROLLBACK_COMPLETE") =>
        {
            Undo::Keep("CloudFormation already returned it to its state before the run")
        }
        (true, true) => match (&before.deployment, &now.deployment) {
            (Some(then), Some(current)) if then == current => {
                Undo::Keep("already at its deployment from before the run")
            }
            (Some(then), _) => Undo::RollbackTo(then.clone()),
            // No deployment was kept before the run, and none since.
            (None, None) => Undo::Keep("no deployment was made since the run began"),
            (None, Some(_)) => Undo::Refuse(
                "no deployment from before the run is kept in its deployment bucket to return to; redeploy it from the commit of that run".into(),
            ),
        },
    }
}

/// When a run ran, by its journal, in seconds since the epoch; `end` is
/// now for a run that never finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

/// Whether CloudFormation confirms that the run recorded in `record`
/// (which ran within `run`) made the change `undo` would reverse: a stack
/// to remove was created while the service ran; a stack to return was
/// last changed while it ran (not before, and not since, by a later run),
/// to a deployment that is kept and was made before the run. `kept` are
/// the deployments kept in the bucket (read only for a return). The
/// error says what CloudFormation says instead.
pub fn confirm(
    undo: &Undo,
    record: &ServiceRecord,
    run: Window,
    now: &StackState,
    kept: &[String],
) -> Result<(), String> {
    let from = record.started_at.unwrap_or(run.start).max(run.start);
    let to = record.ended_at.unwrap_or(run.end).min(run.end).max(from);
    let within = |at: u64| at + CLOCK_SKEW >= from && at <= to + CLOCK_SKEW;
    let when = |at: Option<u64>| match at {
        Some(at) => crate::sys::clock::iso(at),
        None => "at an unknown time".into(),
    };
    let span = format!(
        "{} to {}",
        crate::sys::clock::iso(from),
        crate::sys::clock::iso(to)
    );
    match undo {
        Undo::Keep(_) | Undo::Refuse(_) => Ok(()),
        Undo::Remove => match now.created_at {
            Some(created) if within(created) => Ok(()),
            created => Err(format!(
                "CloudFormation says its stack was created {}, not while the run changed it ({span}), so the run did not create it",
                when(created)
            )),
        },
        Undo::RollbackTo(deployment) => {
            let changed = now.updated_at.or(now.created_at);
            match changed {
                Some(at) if at + CLOCK_SKEW < from => {
                    return Err(format!(
                        "CloudFormation has not changed its stack since {}, before the run changed it ({span})",
                        when(Some(at))
                    ))
                }
                Some(at) if at > to + CLOCK_SKEW => {
                    return Err(format!(
                        "CloudFormation changed its stack {}, after the run ended ({span}): returning it would undo that later change too; roll back the newest run first",
                        when(Some(at))
                    ))
                }
                Some(_) => {}
                None => return Err("CloudFormation says nothing of when it changed its stack".into()),
            }
            let made = deployment.parse::<u64>().ok();
            if made.is_none_or(|ms| ms / 1000 > from + CLOCK_SKEW) {
                return Err(format!(
                    "deployment {deployment} was not made before the run began ({span})"
                ));
            }
            if !kept.iter().any(|k| k == deployment) {
                return Err(format!(
                    "deployment {deployment} is not kept in its deployment bucket"
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn state(exists: bool, deployment: Option<&str>) -> StackState {
        StackState {
            exists,
            deployment: deployment.map(String::from),
            ..StackState::default()
        }
    }

    fn record(status: Status, previous: Option<StackState>) -> ServiceRecord {
        ServiceRecord {
            status,
            previous,
            ..ServiceRecord::pending("images", "images-dev".into())
        }
    }

    const NEW: Option<StackState> = None;

    #[rstest]
    // The data-loss cases: a run that failed early, was interrupted or was
    // killed leaves later services pending or skipped with nothing recorded
    // before; their stacks are somebody's data and stay.
    #[case::pending_never_read(Status::Pending, NEW, state(true, Some("2")))]
    #[case::skipped_never_read(Status::Skipped, NEW, state(true, Some("2")))]
    #[case::skipped_with_state(Status::Skipped, Some(state(false, None)), state(true, Some("2")))]
    #[case::running_before_the_cli(Status::Running, NEW, state(true, Some("2")))]
    #[case::failed_before_the_cli(Status::Failed, NEW, state(true, Some("2")))]
    #[case::unchanged(Status::Unchanged, Some(state(false, None)), state(true, Some("2")))]
    #[case::already_rolled_back(
        Status::RolledBack,
        Some(state(false, None)),
        state(true, Some("1"))
    )]
    #[case::already_removed(Status::Removed, Some(state(true, Some("1"))), state(false, None))]
    #[case::same_deployment(Status::Deployed, Some(state(true, Some("1"))), state(true, Some("1")))]
    #[case::created_and_gone(Status::Failed, Some(state(false, None)), state(false, None))]
    #[case::nothing_kept_nothing_new(Status::Failed, Some(state(true, None)), state(true, None))]
    fn services_the_run_did_not_change_are_kept(
        #[case] status: Status,
        #[case] previous: Option<StackState>,
        #[case] now: StackState,
    ) {
        let undo = decide(&record(status, previous), &now);
        assert!(matches!(undo, Undo::Keep(_)), "{undo:?}");
    }

    #[rstest]
    #[case::deployed(Status::Deployed)]
    #[case::failed(Status::Failed)]
    #[case::killed_mid_deploy(Status::Running)]
    #[case::earlier_undo_failed(Status::RollbackFailed)]
    fn a_stack_the_run_created_is_removed(#[case] status: Status) {
        let undo = decide(
            &record(status, Some(state(false, None))),
            &state(true, Some("9")),
        );
        assert_eq!(undo, Undo::Remove);
    }

    #[rstest]
    #[case::deployed(Status::Deployed)]
    #[case::failed_after_upload(Status::Failed)]
    #[case::killed_mid_deploy(Status::Running)]
    fn an_updated_stack_returns_to_its_deployment_before(#[case] status: Status) {
        let undo = decide(
            &record(status, Some(state(true, Some("100")))),
            &state(true, Some("200")),
        );
        assert_eq!(undo, Undo::RollbackTo("100".into()));
    }

    #[test]
    fn a_failed_update_that_cloudformation_rolled_back_is_kept() {
        let mut now = state(true, Some("200"));
        now.status = Some("UPDATE_ROLLBACK_COMPLETE".into());
        let undo = decide(
            &record(Status::Failed, Some(state(true, Some("100")))),
            &now,
        );
        assert!(matches!(undo, Undo::Keep(_)), "{undo:?}");
        // The same stack after a deploy that went through is returned.
        let undo = decide(
            &record(Status::Deployed, Some(state(true, Some("100")))),
            &now,
        );
        assert_eq!(undo, Undo::RollbackTo("100".into()));
    }

    const RUN: Window = Window {
        start: 1_000_000,
        end: 1_003_600,
    };

    fn changed(created: Option<u64>, updated: Option<u64>) -> StackState {
        StackState {
            created_at: created,
            updated_at: updated,
            ..state(true, Some("9"))
        }
    }

    fn ran(status: Status) -> ServiceRecord {
        ServiceRecord {
            started_at: Some(RUN.start + 10),
            ended_at: Some(RUN.start + 1000),
            ..record(status, Some(state(false, None)))
        }
    }

    #[rstest]
    #[case::created_while_it_ran(Some(RUN.start + 50), None, true)]
    #[case::created_a_little_off_the_clock(Some(RUN.start - 60), None, true)]
    #[case::created_long_before(Some(RUN.start - 86_400), None, false)]
    #[case::created_long_after(Some(RUN.end + 86_400), None, false)]
    #[case::no_creation_time(None, None, false)]
    fn a_stack_is_removed_only_when_cloudformation_says_the_run_created_it(
        #[case] created: Option<u64>,
        #[case] updated: Option<u64>,
        #[case] removed: bool,
    ) {
        let verdict = confirm(
            &Undo::Remove,
            &ran(Status::Deployed),
            RUN,
            &changed(created, updated),
            &[],
        );
        assert_eq!(verdict.is_ok(), removed, "{verdict:?}");
    }

    #[rstest]
    #[case::changed_while_it_ran(Some(RUN.start + 50), "900000000", true)]
    #[case::not_changed_since_before(Some(RUN.start - 86_400), "900000000", false)]
    #[case::changed_by_a_later_run(Some(RUN.end + 86_400), "900000000", false)]
    #[case::a_deployment_made_during_the_run(Some(RUN.start + 50), "1000600000", false)]
    #[case::a_deployment_not_kept(Some(RUN.start + 50), "800000000", false)]
    #[case::not_a_deployment(Some(RUN.start + 50), "latest", false)]
    fn a_stack_is_returned_only_when_cloudformation_says_the_run_changed_it(
        #[case] updated: Option<u64>,
        #[case] to: &str,
        #[case] returned: bool,
    ) {
        let kept = ["900000000".to_string(), "1000600000".to_string()];
        let verdict = confirm(
            &Undo::RollbackTo(to.into()),
            &ran(Status::Deployed),
            RUN,
            &changed(Some(RUN.start - 90_000), updated),
            &kept,
        );
        assert_eq!(verdict.is_ok(), returned, "{verdict:?}");
    }

    #[test]
    fn keeping_needs_no_confirmation() {
        let keep = Undo::Keep("the run left it unchanged");
        assert_eq!(
            confirm(
                &keep,
                &ran(Status::Unchanged),
                RUN,
                &changed(None, None),
                &[]
            ),
            Ok(())
        );
    }

    #[test]
    fn what_cannot_be_returned_is_refused_with_the_way_out() {
        let gone = decide(
            &record(Status::Deployed, Some(state(true, Some("1")))),
            &state(false, None),
        );
        assert!(
            matches!(&gone, Undo::Refuse(why) if why.contains("redeploy")),
            "{gone:?}"
        );
        let nothing_kept = decide(
            &record(Status::Deployed, Some(state(true, None))),
            &state(true, Some("2")),
        );
        assert!(
            matches!(&nothing_kept, Undo::Refuse(why) if why.contains("deployment bucket")),
            "{nothing_kept:?}"
        );
    }
}
