//! A journal shown to people: the summary table at the end of a run, the
//! Markdown of a CI run summary, and where its timeline picture is kept.

use std::path::PathBuf;

use crate::sys::{output, paths};

use super::{Journal, Outcome};

impl Journal {
    /// The run as Markdown, for a CI run summary (its Gantt chart is
    /// added by `timeline::publish_summary`).
    pub fn markdown(&self) -> String {
        let outcome = self
            .outcome
            .as_ref()
            .map_or("unfinished".to_string(), Outcome::to_string);
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
        if let Some(smoke) = &self.smoke {
            out.push_str(&format!("\nsmoke: {smoke}\n"));
        }
        out
    }

    /// Where the run's timeline picture is kept: beside its journal.
    pub fn timeline_path(&self) -> PathBuf {
        self.path.with_extension("svg")
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
