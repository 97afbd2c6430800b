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
use crate::aws::target::StageTarget;
use crate::sys::paths;

mod record;
mod render;

#[cfg(test)]
pub use record::Timings;
pub use record::{BakeResult, Event, Outcome, ServiceRecord, SmokeResult, Status};

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
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    pub services: Vec<ServiceRecord>,
    pub events: Vec<Event>,
    /// The smoke test after a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeResult>,
    /// The bake after a deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<BakeResult>,
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
    let salt = (since.subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!(
        "{}-{salt:04x}",
        crate::sys::clock::compact(since.as_millis() as u64)
    )
}

/// How far two clocks may disagree: AWS itself refuses a request signed
/// more than five minutes off, so no honest record is further out.
pub const CLOCK_SKEW: u64 = 300;

/// When the run named `id` began, in milliseconds since the epoch, as its
/// id says; `None` when `id` is not a run id of this tool's form
/// (`20261126T203000123Z-1a2b`).
pub fn run_id_time(id: &str) -> Option<u64> {
    let (moment, salt) = id.split_once('-')?;
    let salt_ok = salt.len() == 4
        && salt
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !salt_ok || moment.len() != 19 {
        return None;
    }
    crate::sys::clock::parse_compact(moment)
}

/// The key of a run's shared copy beside the stage's lock
/// (`journal/<app>/<stage>[.rehearsal]/<region>/<run id>`); with an empty
/// run id, the prefix of all of the stage's.
pub fn shared_key(key: &StageKey, run_id: &str) -> String {
    let stage_dir = if key.rehearsal {
        format!("{}.rehearsal", key.stage)
    } else {
        key.stage.clone()
    };
    format!("journal/{}/{stage_dir}/{}/{run_id}", key.app, key.region)
}

/// Which stage's records a journal belongs to: the key its copies are
/// kept under, on this machine and beside the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageKey {
    pub app: String,
    pub stage: String,
    pub region: String,
    pub rehearsal: bool,
}

impl StageKey {
    pub fn new(app: &App, stage: &Stage, rehearsal: bool) -> StageKey {
        StageKey {
            app: app.name(),
            stage: stage.name().to_string(),
            region: stage.region().to_string(),
            rehearsal,
        }
    }

    /// The keys of the stage's records under every name the app has had:
    /// its name now first, then the name of its folder, which it had
    /// until deploy.toml named it (`[app] name`), so a history survives
    /// the rename.
    pub fn all(app: &App, stage: &Stage, rehearsal: bool) -> Vec<StageKey> {
        let now = StageKey::new(app, stage, rehearsal);
        let mut keys = vec![now.clone()];
        if let Some(folder) = app.folder_name().filter(|f| *f != now.app) {
            keys.push(StageKey { app: folder, ..now });
        }
        keys
    }

    /// The folder of the stage's journals on this machine.
    pub fn dir(&self) -> PathBuf {
        dir(&self.app, &self.stage, self.rehearsal)
    }
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
            smoke: None,
            bake: None,
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
            smoke: None,
            bake: None,
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

    /// Why this journal, read back from `from` under `key` and `run_id`,
    /// is not a record this tool wrote of that run: a body that names
    /// another app, stage, region or run than its key, a run id of
    /// another form, a run that began in the future or whose times
    /// contradict each other. `now` is in seconds since the epoch.
    /// Nothing read back is acted on before it passes.
    pub fn verify(&self, key: &StageKey, run_id: &str, now: u64) -> Result<(), String> {
        let Some(id_ms) = run_id_time(run_id) else {
            return Err(format!("`{}` is not a run id", run_id.escape_debug()));
        };
        let mismatch = |what: &str, found: &str, wanted: &str| {
            Err(format!(
                "it names {what} `{}` but is kept under {what} `{}`",
                found.escape_debug(),
                wanted.escape_debug()
            ))
        };
        if self.run_id != run_id {
            return mismatch("run", &self.run_id, run_id);
        }
        if self.app != key.app {
            return mismatch("app", &self.app, &key.app);
        }
        if self.stage != key.stage {
            return mismatch("stage", &self.stage, &key.stage);
        }
        if self.region != key.region {
            return mismatch("region", &self.region, &key.region);
        }
        if self.rehearsal != key.rehearsal {
            return Err(if self.rehearsal {
                "it is a rehearsal's record, kept with the stage's own runs".into()
            } else {
                "it is a record of the stage itself, kept with its rehearsals".into()
            });
        }
        let latest = now + CLOCK_SKEW;
        let id_secs = id_ms / 1000;
        if id_secs > latest {
            return Err(format!(
                "its run id says it began {}s from now",
                id_secs - now
            ));
        }
        if self.started_at.abs_diff(id_secs) > CLOCK_SKEW {
            return Err(format!(
                "it says it began at {} but its run id says {id_secs}",
                self.started_at
            ));
        }
        let end = match self.ended_at {
            Some(end) if end < self.started_at => {
                return Err("it says it ended before it began".into());
            }
            Some(end) if end > latest => return Err("it says it ended in the future".into()),
            Some(end) => end,
            None => now,
        };
        let mut names = std::collections::BTreeSet::new();
        for service in &self.services {
            if !names.insert(service.name.as_str()) {
                return Err(format!(
                    "it records service `{}` twice",
                    service.name.escape_debug()
                ));
            }
            for at in [service.started_at, service.ended_at].into_iter().flatten() {
                if at + CLOCK_SKEW < self.started_at || at > end + CLOCK_SKEW {
                    return Err(format!(
                        "it says service `{}` ran outside the run's own time",
                        service.name.escape_debug()
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Journal> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", paths::display(path)))?;
        let mut journal: Journal = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a journal", paths::display(path)))?;
        journal.path = path.to_path_buf();
        journal.upgrade();
        Ok(journal)
    }

    /// The stage this journal is a record of.
    pub fn key(&self) -> StageKey {
        StageKey {
            app: self.app.clone(),
            stage: self.stage.clone(),
            region: self.region.clone(),
            rehearsal: self.rehearsal,
        }
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
        locks
            .put_record(&shared_key(&self.key(), &self.run_id), &body)
            .await
    }

    /// A shared copy's body as a journal kept on this machine, not yet
    /// checked against its key (see [`Journal::verify`]).
    pub fn from_shared(body: &str, key: &StageKey, run_id: &str) -> Result<Journal> {
        let mut journal: Journal = serde_json::from_str(body).context("it is not a journal")?;
        journal.path = key.dir().join(format!("{run_id}.json"));
        journal.upgrade();
        Ok(journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StageKey {
        StageKey {
            app: "app".into(),
            stage: "dev".into(),
            region: "us-east-1".into(),
            rehearsal: false,
        }
    }

    /// A journal of `key()` that began a minute ago and is kept under `id`.
    fn honest(id: &str) -> Journal {
        let mut journal = Journal::for_tests("deploy", "dev");
        journal.run_id = id.to_string();
        journal.started_at = run_id_time(id).unwrap_or(0) / 1000;
        journal.ended_at = Some(journal.started_at + 30);
        let mut record = ServiceRecord::pending("api", "api-dev".into());
        record.started_at = Some(journal.started_at + 1);
        record.ended_at = Some(journal.started_at + 20);
        journal.services.push(record);
        journal
    }

    fn id_at(secs: u64) -> String {
        format!("{}-beef", crate::sys::clock::compact(secs * 1000))
    }

    #[test]
    fn run_ids_say_when_their_run_began() {
        assert_eq!(
            run_id_time("19700101T000001002Z-0000"),
            Some(1002),
            "one second and two milliseconds"
        );
        let id = new_run_id();
        let at = run_id_time(&id).expect("a new id parses");
        assert!(at.abs_diff(now_ms()) < 5_000, "{id} → {at}");
        for bad in [
            "",
            "latest",
            "20261126T203000123Z-1a2",
            "20261126T203000123Z-1a2g",
            "20261126X203000123Z-1a2b",
            "20261326T203000123Z-1a2b",
            "20261126T253000123Z-1a2b",
            "20260230T203000123Z-1a2b",
            "../../etc/passwdXXXXXXXX",
        ] {
            assert_eq!(run_id_time(bad), None, "{bad}");
        }
    }

    #[rstest::rstest]
    #[case::another_app(|j: &mut Journal| j.app = "other".into(), "app `other` but is kept under app `app`")]
    #[case::another_stage(|j: &mut Journal| j.stage = "prod".into(), "stage `prod` but is kept under stage `dev`")]
    #[case::another_region(|j: &mut Journal| j.region = "eu-west-1".into(), "region `eu-west-1`")]
    #[case::another_run(|j: &mut Journal| j.run_id = "20200101T000000000Z-0000".into(), "run `20200101T000000000Z-0000`")]
    #[case::a_rehearsal(|j: &mut Journal| j.rehearsal = true, "a rehearsal's record")]
    #[case::start_far_from_its_id(|j: &mut Journal| j.started_at -= 3600, "its run id says")]
    #[case::ended_before_it_began(|j: &mut Journal| j.ended_at = Some(j.started_at - 10), "ended before it began")]
    #[case::service_outside_the_run(|j: &mut Journal| j.services[0].started_at = Some(j.started_at + 7200), "ran outside the run's own time")]
    #[case::service_twice(|j: &mut Journal| { let again = j.services[0].clone(); j.services.push(again) }, "twice")]
    fn a_record_that_is_not_what_it_is_kept_as_is_refused(
        #[case] plant: fn(&mut Journal),
        #[case] why: &str,
    ) {
        let now = now();
        let id = id_at(now - 60);
        let mut journal = honest(&id);
        assert_eq!(journal.verify(&key(), &id, now), Ok(()));
        plant(&mut journal);
        let err = journal.verify(&key(), &id, now).unwrap_err();
        assert!(err.contains(why), "{err}");
    }

    #[test]
    fn a_run_from_the_future_is_refused_and_a_little_skew_is_not() {
        let now = now();
        let future = id_at(now + 3600);
        let err = honest(&future).verify(&key(), &future, now).unwrap_err();
        assert!(err.contains("began 3600s from now"), "{err}");
        let skewed = id_at(now + 60);
        assert_eq!(honest(&skewed).verify(&key(), &skewed, now), Ok(()));
    }

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
