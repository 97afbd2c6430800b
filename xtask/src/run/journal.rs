//! The journal of one run: what each service was before, what the run did
//! to it, and how it ended. Written to disk after every change (atomically),
//! so an interrupted run leaves a true record of where it stopped, and
//! `rollback --run ID` knows what to return to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::lock::Locks;
use crate::aws::stacks::StackState;
use crate::aws::target::StageTarget;
use crate::sys::{output, paths};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub run_id: String,
    pub command: String,
    pub app: String,
    pub stage: String,
    pub region: String,
    pub target: String,
    pub rehearsal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub started_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    pub services: Vec<ServiceRecord>,
    pub events: Vec<Event>,
    /// The run's own steps after its services (the smoke test, the bake),
    /// in milliseconds since the epoch, for its timeline.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, Span>,
    #[serde(skip)]
    path: PathBuf,
}

pub use crate::sys::clock::{now, now_ms, Span};

/// A run id that sorts by time to the millisecond, so the newest of two
/// runs in one second is still the last: `20261126T203000123Z-1a2b`.
pub fn new_run_id() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = crate::sys::clock::civil_from_days(days as i64);
    let salt = (since.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}{:03}Z-{salt:04x}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The JSON files of a folder of run records, newest first (their names
/// start with the run id, which sorts by time).
pub fn json_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.reverse();
    files
}

/// Where a stage's load reports are kept: beside its journals, in a
/// folder of their own (`load/<run id>.json` and `.svg`).
pub fn load_reports_dir(app: &str, stage: &str, rehearsal: bool) -> PathBuf {
    dir(app, stage, rehearsal).join("load")
}

/// The folder of a stage's journals. Rehearsals keep their own, so they
/// never mix with what happened on AWS.
pub fn dir(app: &str, stage: &str, rehearsal: bool) -> PathBuf {
    let stage_dir = if rehearsal {
        format!("{stage}.rehearsal")
    } else {
        stage.to_string()
    };
    paths::state_dir().join("journal").join(app).join(stage_dir)
}

impl Journal {
    /// A new journal of `command` on the stage, with the commit checked out.
    pub fn start(
        command: &str,
        run_id: &str,
        app: &App,
        stage: &Stage,
        target: &StageTarget,
    ) -> Journal {
        let app_name = app.name();
        let path =
            dir(&app_name, stage.name(), target.is_rehearsal()).join(format!("{run_id}.json"));
        Journal {
            run_id: run_id.to_string(),
            command: command.to_string(),
            app: app_name,
            stage: stage.name().to_string(),
            region: stage.region().to_string(),
            target: target.describe(),
            rehearsal: target.is_rehearsal(),
            commit: crate::sys::git::commit(&app.root),
            started_at: now(),
            ended_at: None,
            outcome: None,
            notes: BTreeMap::new(),
            services: Vec::new(),
            events: Vec::new(),
            phases: BTreeMap::new(),
            path,
        }
    }

    /// An empty journal of `command` on `stage`, kept nowhere.
    #[cfg(test)]
    pub fn for_tests(command: &str, stage: &str) -> Journal {
        Journal {
            run_id: "20261127T000000000Z-0000".into(),
            command: command.into(),
            app: "app".into(),
            stage: stage.into(),
            region: "us-east-1".into(),
            target: "tests".into(),
            rehearsal: false,
            commit: None,
            started_at: 0,
            ended_at: None,
            outcome: None,
            notes: BTreeMap::new(),
            services: Vec::new(),
            events: Vec::new(),
            phases: BTreeMap::new(),
            path: PathBuf::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut ServiceRecord> {
        self.services.iter_mut().find(|s| s.name == name)
    }

    /// Records that the run's step `name` ran from `start` until now.
    pub fn phase(&mut self, name: &str, start: u64) {
        self.phases.insert(
            name.to_string(),
            Span {
                start,
                end: now_ms(),
            },
        );
    }

    pub fn event(&mut self, message: impl Into<String>) {
        self.events.push(Event {
            at: now(),
            message: message.into(),
        });
    }

    /// Writes the journal: to a temporary file, then renamed over the old
    /// one, so a crash never leaves half a journal.
    pub fn save(&self) -> Result<()> {
        let parent = self.path.parent().context("journal path has no folder")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", paths::display(parent)))?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", paths::display(&self.path)))?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Journal> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", paths::display(path)))?;
        let mut journal: Journal = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a journal", paths::display(path)))?;
        journal.path = path.to_path_buf();
        Ok(journal)
    }

    /// The key of this run's shared copy, beside the stage's lock.
    fn shared_key(app: &str, stage: &str, region: &str, rehearsal: bool, run_id: &str) -> String {
        let stage_dir = if rehearsal {
            format!("{stage}.rehearsal")
        } else {
            stage.to_string()
        };
        format!("journal/{app}/{stage_dir}/{region}/{run_id}")
    }

    /// Writes the shared copy of the journal, with the tail of each
    /// service's log, so that any machine with the stage's credentials
    /// (a laptop after a CI deploy) can read and roll back the run.
    pub async fn publish(&self, locks: &Locks) -> Result<()> {
        let mut shared = self.clone();
        for service in &mut shared.services {
            if let Some(log) = &service.log {
                let tail = crate::sys::process::log_tail(Path::new(log), 40);
                if !tail.is_empty() {
                    service.log_tail = Some(tail);
                }
            }
        }
        let mut body = serde_json::to_string(&shared)?;
        // A DynamoDB item holds 400 KB: a huge run keeps its newest events.
        while body.len() > 350_000 && shared.events.len() > 20 {
            let drop = shared.events.len() / 2;
            shared.events.drain(..drop);
            body = serde_json::to_string(&shared)?;
        }
        let key = Journal::shared_key(
            &self.app,
            &self.stage,
            &self.region,
            self.rehearsal,
            &self.run_id,
        );
        locks.put_record(&key, &body).await
    }

    /// A run's journal: the local copy when this machine has it, else the
    /// shared one (kept as a local copy from then on).
    pub async fn find(
        locks: &Locks,
        (app, stage, region): (&str, &str, &str),
        rehearsal: bool,
        run_id: &str,
    ) -> Result<Option<Journal>> {
        let path = dir(app, stage, rehearsal).join(format!("{run_id}.json"));
        if let Ok(journal) = Journal::load(&path) {
            return Ok(Some(journal));
        }
        let Some(journal) = Journal::shared(locks, (app, stage, region), rehearsal, run_id).await?
        else {
            return Ok(None);
        };
        journal.save()?;
        Ok(Some(journal))
    }

    /// A run's shared journal, read and not kept.
    pub async fn shared(
        locks: &Locks,
        (app, stage, region): (&str, &str, &str),
        rehearsal: bool,
        run_id: &str,
    ) -> Result<Option<Journal>> {
        let key = Journal::shared_key(app, stage, region, rehearsal, run_id);
        let Some(body) = locks.get_record(&key).await? else {
            return Ok(None);
        };
        let mut journal: Journal = serde_json::from_str(&body)
            .with_context(|| format!("the shared journal {key} is not a journal"))?;
        journal.path = dir(app, stage, rehearsal).join(format!("{run_id}.json"));
        Ok(Some(journal))
    }

    /// The run ids of a stage's shared journals, newest first.
    pub async fn shared_runs(
        locks: &Locks,
        (app, stage, region): (&str, &str, &str),
        rehearsal: bool,
    ) -> Result<Vec<String>> {
        let prefix = Journal::shared_key(app, stage, region, rehearsal, "");
        let mut ids: Vec<String> = locks
            .record_keys(&prefix)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect();
        ids.reverse();
        Ok(ids)
    }

    /// The journals of a stage, newest first.
    pub fn list(app: &str, stage: &str, rehearsal: bool) -> Vec<PathBuf> {
        json_files(&dir(app, stage, rehearsal))
    }

    /// The run as Markdown, for a CI run summary.
    pub fn markdown(&self) -> String {
        let outcome = self.outcome.as_deref().unwrap_or("unfinished");
        let mut out = format!(
            "### {} {} ({}) — {outcome}\n\n",
            self.command, self.stage, self.region
        );
        if let Some(commit) = &self.commit {
            out.push_str(&format!(
                "commit `{commit}`, run `{}`, target {}\n\n",
                self.run_id, self.target
            ));
        }
        out.push_str("| service | stack | status | note |\n| --- | --- | --- | --- |\n");
        for s in &self.services {
            let note = s
                .error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or("")
                .replace('|', "\\|");
            out.push_str(&format!(
                "| {} | {} | {} | {note} |\n",
                s.name,
                s.stack,
                s.status.as_str()
            ));
        }
        if let Some(smoke) = self.notes.get("smoke") {
            out.push_str(&format!("\nsmoke: {smoke}\n"));
        }
        if let Some(timeline) = crate::run::timeline::Timeline::of(self) {
            out.push_str(&format!("\n```mermaid\n{}```\n", timeline.mermaid()));
        }
        out
    }

    /// Where the run's timeline picture is kept: beside its journal.
    pub fn timeline_path(&self) -> PathBuf {
        self.path.with_extension("svg")
    }

    /// Draws the run's timeline beside its journal; the picture's path,
    /// or `None` when the run timed nothing.
    pub fn save_timeline(&self) -> Option<PathBuf> {
        let timeline = crate::run::timeline::Timeline::of(self)?;
        let path = self.timeline_path();
        std::fs::write(&path, timeline.svg()).ok()?;
        Some(path)
    }

    /// Appends the Markdown summary to `$GITHUB_STEP_SUMMARY` when set.
    pub fn publish_summary(&self) {
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            use std::io::Write;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(file, "{}", self.markdown());
            }
        }
    }

    /// The summary table printed at the end of a run.
    pub fn summary(&self) -> String {
        let width = self
            .services
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let mut out = format!(
            "{:width$}  {:15}  {:>8}  note\n",
            "service", "status", "time"
        );
        for s in &self.services {
            let time = match (s.started_at, s.ended_at) {
                (Some(a), Some(b)) => format!("{}s", b.saturating_sub(a)),
                _ => "-".into(),
            };
            let note = s
                .error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or("");
            let status = s.status.as_str();
            out.push_str(&format!(
                "{:width$}  {}  {:>8}  {}\n",
                s.name,
                output::paint(output::status_style(status), &format!("{status:15}")),
                time,
                note
            ));
        }
        out.push_str(&format!("journal: {}\n", paths::display(&self.path)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_time() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261126T203000123Z-1a2b".len(), "{id}");
        assert!(id.starts_with("20"));
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = new_run_id();
        assert!(later > id, "{later} sorts after {id}");
    }
}
