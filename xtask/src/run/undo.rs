//! The undo rule: what returns one service to its state before a run, from
//! what the run's journal recorded and what is deployed now. One pure
//! function, used by a failed deploy's automatic rollback and by
//! `cargo xtask rollback` alike.
//!
//! It never touches a service the run did not change: one that was
//! pending, skipped or unchanged, or whose state before the run was never
//! recorded (the run died before it read it, so it had not started it).

use crate::aws::stacks::StackState;
use crate::run::journal::{ServiceRecord, Status};

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
