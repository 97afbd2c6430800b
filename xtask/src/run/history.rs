//! A stage's run history: its journals on this machine and the shared
//! copies every run publishes beside the stage's lock, read through one
//! door. Whatever comes back is checked against the key it was kept
//! under ([`Journal::verify`]) before anyone reads it as a record: a body
//! planted under a stage's key, one naming another app or stage, or a run
//! id in the future is skipped and named, never acted on, and one bad
//! record never hides the others.

use anyhow::{Context, Result};

use crate::aws::lock::Locks;
use crate::run::journal::{self, Journal, StageKey, CLOCK_SKEW};

/// The history of one stage, on this machine and, given the stage's lock
/// table, beside its lock; under every name the app has had (see
/// [`StageKey::all`]), the one it has now first.
pub struct History<'a> {
    keys: Vec<StageKey>,
    locks: Option<&'a Locks>,
}

/// Runs read back, newest first, and the records that were skipped, each
/// with why (for the caller to say).
#[derive(Debug, Default)]
pub struct Runs {
    pub journals: Vec<Journal>,
    pub skipped: Vec<String>,
}

impl<'a> History<'a> {
    /// This machine's journals kept under `keys` (the first is where new
    /// runs are kept).
    pub fn new(keys: Vec<StageKey>) -> History<'a> {
        History { keys, locks: None }
    }

    /// The shared copies beside the lock too.
    pub fn with_locks(self, locks: &'a Locks) -> History<'a> {
        History {
            locks: Some(locks),
            ..self
        }
    }

    /// One run's journal: this machine's copy when it has one, else the
    /// shared one (then kept here too). An error when the record is not
    /// what it is kept as.
    pub async fn find(&self, run_id: &str) -> Result<Option<Journal>> {
        if journal::run_id_time(run_id).is_none() {
            anyhow::bail!(
                "`{}` is not a run id (they look like 20261126T203000123Z-1a2b)",
                run_id.escape_debug()
            );
        }
        let now = journal::now();
        for key in &self.keys {
            let path = key.dir().join(format!("{run_id}.json"));
            if path.exists() {
                let journal = Journal::load(&path)?;
                journal.verify(key, run_id, now).map_err(|why| {
                    anyhow::anyhow!(
                        "{} is not a record of this stage's run {run_id}: {why}; nothing was done with it",
                        crate::sys::paths::display(&path)
                    )
                })?;
                return Ok(Some(journal));
            }
        }
        let Some(locks) = self.locks else {
            return Ok(None);
        };
        for stage_key in &self.keys {
            let key = journal::shared_key(stage_key, run_id);
            let Some(body) = locks.get_record(&key).await? else {
                continue;
            };
            let journal = Journal::from_shared(&body, stage_key, run_id)
                .with_context(|| format!("the shared journal {key} cannot be used"))?;
            journal.verify(stage_key, run_id, now).map_err(|why| {
                anyhow::anyhow!(
                    "the shared journal {key} is not a record of this stage's run {run_id}: {why}; nothing was done with it"
                )
            })?;
            journal.save()?;
            return Ok(Some(journal));
        }
        Ok(None)
    }

    /// The ids of the stage's runs, newest first, each once: this
    /// machine's and the shared ones. Ids of another form or in the
    /// future are left out (and named in `skipped`), so a planted record
    /// can never pass for the newest run.
    pub async fn run_ids(&self, skipped: &mut Vec<String>) -> Result<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        for key in &self.keys {
            ids.extend(
                journal::json_files(&key.dir())
                    .iter()
                    .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string())),
            );
            if let Some(locks) = self.locks {
                let prefix = journal::shared_key(key, "");
                ids.extend(
                    locks
                        .record_keys(&prefix)
                        .await?
                        .into_iter()
                        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)),
                );
            }
        }
        let latest = (journal::now() + CLOCK_SKEW) * 1000;
        ids.retain(|id| match journal::run_id_time(id) {
            None => {
                skipped.push(format!(
                    "`{}` is not a run id; its record was not read",
                    id.escape_debug()
                ));
                false
            }
            Some(at) if at > latest => {
                skipped.push(format!(
                    "run {id} says it began in the future; its record was not read"
                ));
                false
            }
            Some(_) => true,
        });
        // Run ids sort by time: newest first.
        ids.sort();
        ids.dedup();
        ids.reverse();
        Ok(ids)
    }

    /// The newest `limit` runs that `keep` accepts, newest first. A
    /// record that cannot be read or is not what it is kept as is
    /// skipped, and said in `skipped`.
    pub async fn recent(&self, limit: usize, keep: impl Fn(&Journal) -> bool) -> Result<Runs> {
        let mut runs = Runs::default();
        let ids = self.run_ids(&mut runs.skipped).await?;
        // A bound on what is read, whatever the table holds.
        for id in ids.into_iter().take(limit.saturating_mul(4).max(50)) {
            if runs.journals.len() >= limit {
                break;
            }
            match self.find(&id).await {
                Ok(Some(journal)) if keep(&journal) => runs.journals.push(journal),
                Ok(_) => {}
                Err(err) => runs.skipped.push(format!("{err:#}")),
            }
        }
        Ok(runs)
    }

    /// The newest run that `keep` accepts.
    pub async fn newest(
        &self,
        keep: impl Fn(&Journal) -> bool,
    ) -> Result<(Option<Journal>, Vec<String>)> {
        let runs = self.recent(1, keep).await?;
        Ok((runs.journals.into_iter().next(), runs.skipped))
    }
}
