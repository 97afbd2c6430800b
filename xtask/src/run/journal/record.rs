//! What a journal records: each service's status and states, the run's
//! outcome, its smoke test and its bake — typed, so nothing reads back
//! text the tool wrote — and the transitions a run makes to them.

use serde::{Deserialize, Serialize};

use crate::aws::stacks::StackState;
use crate::sys::clock::{now, Span};

use super::Journal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Running,
    Deployed,
    Unchanged,
    Failed,
    Skipped,
    RolledBack,
    RollbackFailed,
    Removed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Deployed => "deployed",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::RolledBack => "rolled_back",
            Status::RollbackFailed => "rollback_failed",
            Status::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub name: String,
    pub stack: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<StackState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<StackState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The Serverless CLI (and version) that ran the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli: Option<String>,
    /// The end of the service's log, in the shared copy of the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
    /// The services of the same run it waited for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Where its time went, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Timings::is_empty")]
    pub timings: Timings,
}

/// Where one service's time went in a run: when what it needs was done,
/// its packaging ahead of its turn, the CLI's deploy, and, within that,
/// the CloudFormation operation (its stack's first and last event); the
/// part of the deploy before it is the CLI starting, packaging when it
/// was not done ahead, and uploading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// When every service it depends on in the run was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<u64>,
    /// Started ahead of its turn: from its CLI's start until it was
    /// packaged and held at its gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<Span>,
    /// The CLI's deploy, from its start to its exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Span>,
    /// The CloudFormation operation within the deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudformation: Option<Span>,
}

impl Timings {
    pub fn is_empty(&self) -> bool {
        *self == Timings::default()
    }
}

impl ServiceRecord {
    /// A service the run will work on and has not started yet.
    pub fn pending(name: &str, stack: String) -> ServiceRecord {
        ServiceRecord {
            name: name.to_string(),
            stack,
            status: Status::Pending,
            started_at: None,
            ended_at: None,
            previous: None,
            new: None,
            error: None,
            log: None,
            cli: None,
            log_tail: None,
            needs: Vec::new(),
            timings: Timings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub at: u64,
    pub message: String,
}

/// How a run ended. Kept in the journal as its one-line text, which
/// older journals wrote as a free string: every known text reads back as
/// its variant, any other as [`Outcome::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Outcome {
    /// Everything asked was done (for a deploy: its smoke test passed, or
    /// did not run by choice).
    Succeeded,
    /// The stacks deployed as asked, but the smoke test failed.
    SmokeFailed,
    /// The stacks deployed, but a step after them (`what`) failed.
    Incomplete(String),
    /// A service failed; what the run changed was rolled back (as far as
    /// the journal's services say).
    Failed,
    /// The bake saw `why`; what the run changed was rolled back.
    RolledBack(String),
    /// Stopped gracefully; what the run changed was rolled back.
    Interrupted,
    /// An error ended the run; its services say where it stopped.
    Aborted,
    /// A hard stop: what the run started may have gone on.
    Stopped,
    /// An outcome this version does not know.
    Other(String),
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        *self == Outcome::Succeeded
    }

    /// The stacks are as the run left them deployed (smoke or a later
    /// step may still have failed).
    pub fn deployed(&self) -> bool {
        matches!(
            self,
            Outcome::Succeeded | Outcome::SmokeFailed | Outcome::Incomplete(_)
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Succeeded => f.write_str("succeeded"),
            Outcome::SmokeFailed => f.write_str("deployed; smoke failed"),
            Outcome::Incomplete(what) => write!(f, "stacks deployed; {what} failed"),
            Outcome::Failed => f.write_str("failed"),
            Outcome::RolledBack(why) => write!(f, "rolled back: {why}"),
            Outcome::Interrupted => f.write_str("interrupted"),
            Outcome::Aborted => f.write_str("aborted"),
            Outcome::Stopped => f.write_str("stopped"),
            Outcome::Other(text) => f.write_str(text),
        }
    }
}

impl From<Outcome> for String {
    fn from(outcome: Outcome) -> String {
        outcome.to_string()
    }
}

impl From<String> for Outcome {
    fn from(text: String) -> Outcome {
        match text.as_str() {
            "succeeded" => Outcome::Succeeded,
            "deployed; smoke failed" => Outcome::SmokeFailed,
            "failed" => Outcome::Failed,
            "interrupted" => Outcome::Interrupted,
            "aborted" => Outcome::Aborted,
            "stopped" => Outcome::Stopped,
            _ => {
                if let Some(why) = text.strip_prefix("rolled back: ") {
                    Outcome::RolledBack(why.to_string())
                } else if let Some(what) = text
                    .strip_prefix("stacks deployed; ")
                    .and_then(|t| t.strip_suffix(" failed"))
                {
                    Outcome::Incomplete(what.to_string())
                } else {
                    Outcome::Other(text)
                }
            }
        }
    }
}

/// What the smoke test after a deploy found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum SmokeResult {
    /// It ran: how many checks passed, failed and were skipped, and where
    /// its JUnit report is.
    Ran {
        passed: usize,
        failed: usize,
        skipped: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<String>,
    },
    /// It did not run, by choice or for want of a spec.
    NotRun { why: String },
    /// It could not run at all.
    Broken { error: String },
}

impl SmokeResult {
    /// Passed, or not run by choice: nothing failed.
    pub fn ok(&self) -> bool {
        match self {
            SmokeResult::Ran { failed, .. } => *failed == 0,
            SmokeResult::NotRun { .. } => true,
            SmokeResult::Broken { .. } => false,
        }
    }

    /// Ran and passed.
    pub fn passed(&self) -> bool {
        matches!(self, SmokeResult::Ran { failed: 0, .. })
    }
}

impl std::fmt::Display for SmokeResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmokeResult::Ran {
                passed,
                failed,
                skipped,
                ..
            } => write!(f, "{passed} passed, {failed} failed, {skipped} skipped"),
            SmokeResult::NotRun { why } => write!(f, "not run: {why}"),
            SmokeResult::Broken { error } => write!(f, "could not run: {error}"),
        }
    }
}

/// What the bake after a deploy saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BakeResult {
    /// How long it watched, in seconds.
    pub seconds: u64,
    /// What fired (and rolled the run back), if anything did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<String>,
}

/// A service's transitions in the run's record: each sets what changes
/// together and says it in the events, so no caller edits fields by hand.
impl Journal {
    fn with(&mut self, key: &str, f: impl FnOnce(&mut ServiceRecord)) {
        if let Some(record) = self.service_mut(key) {
            f(record);
        }
    }

    /// `key` started (its log is at `log`).
    pub fn service_started(&mut self, key: &str, log: String) {
        self.with(key, |s| {
            s.status = Status::Running;
            s.started_at = Some(now());
            s.log = Some(log);
        });
        self.event(format!("{key}: started"));
    }

    /// `key`'s stack before the run: what its undo returns to.
    pub fn service_before(&mut self, key: &str, previous: StackState) {
        self.with(key, |s| s.previous = Some(previous));
    }

    /// `key`'s stack after the run changed it (or found it unchanged).
    pub fn service_after(&mut self, key: &str, new: Option<StackState>) {
        self.with(key, |s| s.new = new);
    }

    /// The Serverless CLI that runs `key`.
    pub fn service_cli(&mut self, key: &str, cli: String) {
        self.with(key, |s| s.cli = Some(cli));
    }

    /// `key` ended with `status` (and `error`, when it failed).
    pub fn service_ended(&mut self, key: &str, status: Status, error: Option<String>) {
        self.with(key, |s| {
            s.status = status;
            s.ended_at = Some(now());
            if error.is_some() {
                s.error = error;
            }
        });
        self.event(format!("{key}: {}", status.as_str()));
    }

    /// `key` never started, and why.
    pub fn service_skipped(&mut self, key: &str, why: &str) {
        self.with(key, |s| {
            s.status = Status::Skipped;
            s.error = Some(why.to_string());
        });
        self.event(format!("{key}: skipped ({why})"));
    }

    /// `key` was returned to its state before the run (a failed one
    /// stays failed: that is what happened to it).
    pub fn service_undone(&mut self, key: &str) {
        self.with(key, |s| {
            if s.status != Status::Failed {
                s.status = Status::RolledBack;
            }
        });
        self.event(format!("{key}: rolled back to its state before the run"));
    }

    /// Returning `key` to its state before the run failed.
    pub fn service_undo_failed(&mut self, key: &str, error: String) {
        self.with(key, |s| {
            s.status = Status::RollbackFailed;
            s.error = Some(error);
        });
        self.event(format!("{key}: rollback failed"));
    }

    /// Where `key`'s time went: `f` fills in its timings.
    pub fn service_timed(&mut self, key: &str, f: impl FnOnce(&mut Timings)) {
        self.with(key, |s| f(&mut s.timings));
    }

    /// Fills in what a journal of an older version kept as free text: the
    /// smoke test's and the bake's results (read once, here, so nothing
    /// else reads text the tool wrote).
    pub(super) fn upgrade(&mut self) {
        if self.smoke.is_none() {
            if let Some(text) = self.notes.remove("smoke") {
                self.smoke = Some(legacy_smoke(&text, self.notes.remove("smoke_report")));
            }
        }
        if self.bake.is_none() {
            self.bake = self.events.iter().find_map(|e| {
                if let Some(rest) = e.message.strip_prefix("bake over: nothing fired in ") {
                    let seconds = rest.trim_end_matches('s').parse().unwrap_or(0);
                    Some(BakeResult {
                        seconds,
                        fired: None,
                    })
                } else {
                    e.message.strip_prefix("bake: ").map(|why| BakeResult {
                        seconds: 0,
                        fired: Some(why.to_string()),
                    })
                }
            });
        }
    }
}

/// A smoke note of an older journal (`3 passed, 0 failed, 0 skipped`,
/// `not run: …`, or a message) as a result.
fn legacy_smoke(text: &str, report: Option<String>) -> SmokeResult {
    let counts: Vec<usize> = text
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse().ok())
        .collect();
    match counts.as_slice() {
        [passed, failed, skipped] if text.ends_with(" skipped") => SmokeResult::Ran {
            passed: *passed,
            failed: *failed,
            skipped: *skipped,
            report,
        },
        _ => match text.strip_prefix("not run: ") {
            Some(why) => SmokeResult::NotRun {
                why: why.to_string(),
            },
            None => SmokeResult::Broken {
                error: text.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal as the tool wrote it before its record was typed.
    const OLD: &str = r#"{
      "run_id": "20261127T000000000Z-0000", "command": "deploy", "app": "app",
      "stage": "dev", "region": "us-east-1", "target": "AWS", "rehearsal": false,
      "started_at": 1, "ended_at": 2, "outcome": "succeeded",
      "notes": {"smoke": "12 passed, 0 failed, 1 skipped", "smoke_report": "r/smoke.xml", "account": "1"},
      "services": [{"name": "api", "stack": "api-dev", "status": "deployed"}],
      "events": [{"at": 1, "message": "bake over: nothing fired in 300s"}]
    }"#;

    #[test]
    fn a_journal_of_an_older_version_still_reads_typed() {
        let mut journal: Journal = serde_json::from_str(OLD).expect("it reads");
        journal.upgrade();
        assert_eq!(journal.outcome, Some(Outcome::Succeeded));
        assert_eq!(
            journal.smoke,
            Some(SmokeResult::Ran {
                passed: 12,
                failed: 0,
                skipped: 1,
                report: Some("r/smoke.xml".into())
            })
        );
        assert_eq!(
            journal.bake,
            Some(BakeResult {
                seconds: 300,
                fired: None
            })
        );
        assert_eq!(journal.notes.get("account").map(String::as_str), Some("1"));
        assert!(!journal.notes.contains_key("smoke"));
    }

    #[test]
    fn every_outcome_reads_back_as_itself() {
        for outcome in [
            Outcome::Succeeded,
            Outcome::SmokeFailed,
            Outcome::Incomplete("custom domains".into()),
            Outcome::Failed,
            Outcome::RolledBack("alarm x fired (y)".into()),
            Outcome::Interrupted,
            Outcome::Aborted,
            Outcome::Stopped,
            Outcome::Other("something new".into()),
        ] {
            let text = serde_json::to_string(&outcome).expect("it writes");
            let back: Outcome = serde_json::from_str(&text).expect("it reads");
            assert_eq!(back, outcome, "{text}");
        }
        assert_eq!(
            Outcome::from("stacks deployed; monitoring failed".to_string()),
            Outcome::Incomplete("monitoring".into())
        );
    }
}
