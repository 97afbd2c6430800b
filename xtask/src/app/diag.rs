//! Findings about a user's files, reported the way a compiler does:
//! `path/serverless.yml:LINE:COL: rule: message`, then the fix.
//!
//! `audit` and `validate` share this: the same text and JSON forms and the
//! same exit codes (0 clean, 1 findings, 2 unreadable input).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::app::yaml::{FileError, Pos};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(serialize_with = "serialize_path")]
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub rule: &'static str,
    pub message: String,
    pub fix: String,
    pub certainty: Certainty,
}

/// How sure a finding is, which decides what it stops: deploy's preflight
/// reads it, the JSON output carries it, and GitHub shows a refusal as an
/// error and the rest as warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Certainty {
    /// The Serverless CLI or CloudFormation will refuse it: every deploy
    /// stops before anything runs.
    #[default]
    Refusal,
    /// A refusal in the case the message names only (a bucket made before
    /// S3's 2023 defaults keeps the old ones; an import a stack outside the
    /// app may provide): `--allow-findings` takes a deploy past it.
    Conditional,
    /// A hazard CloudFormation deploys (a name without the stage, a
    /// wildcard grant): it stops a protected stage whatever the flags, is
    /// only told on an emulator stage, and yields to `--allow-findings`
    /// elsewhere.
    Hazard,
}

/// Whether `file` is a config program (`.ts`, `.js`…), whose values have
/// no line of their own.
fn is_program(file: &Path) -> bool {
    matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("ts" | "js" | "mjs" | "cjs" | "mts" | "cts")
    )
}

fn serialize_path<S: serde::Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::sys::paths::display(path))
}

impl Finding {
    pub fn new(
        file: &Path,
        pos: Pos,
        rule: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            rule,
            message: message.into(),
            fix: fix.into(),
            certainty: Certainty::Refusal,
        }
    }

    /// The finding, said to hold only in the case its message names.
    pub fn conditional(self) -> Finding {
        Finding {
            certainty: Certainty::Conditional,
            ..self
        }
    }

    /// The finding, said to be a hazard rather than a refusal.
    pub fn hazard(self) -> Finding {
        Finding {
            certainty: Certainty::Hazard,
            ..self
        }
    }

    pub fn location(&self) -> String {
        format!(
            "{}:{}:{}",
            crate::sys::paths::display(&self.file),
            self.line,
            self.col
        )
    }
}

/// `text` safe for a terminal: control characters (an escape sequence
/// hidden in a YAML value) are shown escaped, never sent as they are.
/// Line breaks and tabs, which our own messages use, stay.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// "Did you mean": the candidate nearest a name that names nothing, at
/// most two edits away (Levenshtein distance, `strsim`), case aside. Built
/// once per list of candidates and grouped by length, a name is compared
/// only with candidates at most two characters longer or shorter; and one
/// list does at most [`Suggestions::WORK`] comparisons of characters in
/// all, a comparison costing its whole edit table. So a file with thousands
/// of misspelt names gets its findings in time linear in their number (the
/// last ones, past the budget, without a suggestion), never a wait
/// quadratic in them, and two ids of thousands of characters are never
/// compared at all.
#[derive(Debug)]
pub struct Suggestions {
    /// Candidates by length in characters: lowercased, and as written.
    by_len: std::collections::BTreeMap<usize, Vec<(Vec<char>, String)>>,
    work: std::cell::Cell<usize>,
}

impl Suggestions {
    /// The comparisons of characters one list answers with.
    pub const WORK: usize = 10_000_000;
    /// How many edits a suggestion may be away.
    const EDITS: usize = 2;

    pub fn new<S: Into<String>>(candidates: impl IntoIterator<Item = S>) -> Suggestions {
        let mut by_len: std::collections::BTreeMap<usize, Vec<(Vec<char>, String)>> =
            Default::default();
        for candidate in candidates {
            let candidate = candidate.into();
            let lower: Vec<char> = candidate.to_lowercase().chars().collect();
            by_len
                .entry(lower.len())
                .or_default()
                .push((lower, candidate));
        }
        Suggestions {
            by_len,
            work: std::cell::Cell::new(0),
        }
    }

    /// The nearest candidate (the first of the nearest, by length then
    /// order), or `None`: none is near, or the budget is spent.
    pub fn nearest(&self, name: &str) -> Option<String> {
        let name: Vec<char> = name.to_lowercase().chars().collect();
        let lengths = name.len().saturating_sub(Self::EDITS)..=name.len() + Self::EDITS;
        let mut best: Option<(usize, &String)> = None;
        for (_, candidates) in self.by_len.range(lengths) {
            for (lower, written) in candidates {
                // The edit table compares every character of one with
                // every character of the other.
                let cost = name.len() * lower.len() + 1;
                if self.work.get() + cost > Self::WORK {
                    return best.map(|(_, c)| c.clone());
                }
                self.work.set(self.work.get() + cost);
                let d = strsim::generic_levenshtein(lower, &name);
                if d <= Self::EDITS && best.is_none_or(|(b, _)| d < b) {
                    best = Some((d, written));
                }
            }
        }
        best.map(|(_, c)| c.clone())
    }
}

/// The outcome of a check over an app.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub errors: Vec<FileError>,
    /// What could not be verified offline: said, but not a finding.
    pub notes: Vec<Finding>,
}

impl Report {
    /// A report of inputs that could not be read (exit code 2).
    pub fn unreadable(errors: Vec<FileError>) -> Report {
        Report {
            findings: Vec::new(),
            errors,
            notes: Vec::new(),
        }
    }

    /// Prints the report in `format` to stdout.
    pub fn print(
        &self,
        format: ReportFormat,
        what: &str,
    ) -> Result<(), crate::sys::output::OutputError> {
        match format {
            ReportFormat::Text => crate::out!("{}", self.render(what, true)),
            ReportFormat::Json => crate::outln!("{}", self.render_json()),
            ReportFormat::Github => crate::out!("{}", self.render_github(what)),
        }
    }

    /// The report as GitHub workflow commands: an `::error` per refusal
    /// and unreadable input, a `::warning` per finding that may not hold
    /// or is a hazard, a `::notice` per note, each at its file and
    /// line, which a pull request shows on the changed lines; then the
    /// plain summary.
    pub fn render_github(&self, what: &str) -> String {
        let mut out = String::new();
        let mut command =
            |kind: &str, file: &Path, at: Option<(usize, usize)>, title: &str, text: &str| {
                let mut props = format!(
                    "file={}",
                    github_property(&crate::sys::paths::display(file))
                );
                if let Some((line, col)) = at {
                    props.push_str(&format!(",line={line},col={col}"));
                }
                props.push_str(&format!(",title={}", github_property(title)));
                out.push_str(&format!("::{kind} {props}::{}\n", github_data(text)));
            };
        for err in &self.errors {
            let at = err.pos.map(|p| (p.line, p.col));
            command("error", &err.path, at, "unreadable", &err.message);
        }
        for f in &self.findings {
            let text = format!("{}\nfix: {}", f.message, f.fix);
            let kind = match f.certainty {
                Certainty::Refusal => "error",
                Certainty::Conditional | Certainty::Hazard => "warning",
            };
            command(kind, &f.file, Some((f.line, f.col)), f.rule, &text);
        }
        for n in &self.notes {
            let text = format!("{}\n{}", n.message, n.fix);
            command("notice", &n.file, Some((n.line, n.col)), n.rule, &text);
        }
        out.push_str(&format!(
            "{what}: {} unreadable input(s), {} finding(s)\n",
            self.errors.len(),
            self.findings.len()
        ));
        out
    }

    /// Sorted by file and position, duplicates removed.
    pub fn finish(mut self) -> Report {
        self.findings.sort_by(|a, b| {
            (&a.file, a.line, a.col, a.rule, &a.message)
                .cmp(&(&b.file, b.line, b.col, b.rule, &b.message))
        });
        // Two rules can see the same thing at the same place; say it once.
        // A config program (serverless.ts) has no line per value, so its
        // findings share one place: there only the same words are one.
        self.findings.dedup_by(|a, b| {
            a.file == b.file
                && a.line == b.line
                && a.col == b.col
                && a.rule == b.rule
                && (a.message == b.message || !is_program(&a.file))
        });
        self
    }

    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            2
        } else if !self.findings.is_empty() {
            1
        } else {
            0
        }
    }

    /// The report as plain text (for messages and files).
    pub fn render_text(&self, what: &str) -> String {
        self.render(what, false)
    }

    /// The report as text; `styled` adds the colours a terminal shows
    /// (stripped again by the stream where colour is off). The input's
    /// own text is made printable first, so no file can write escapes.
    fn render(&self, what: &str, styled: bool) -> String {
        use crate::sys::output::{paint, BAD, GOOD, STRONG, WARN};
        let paint = |style, text: &str| {
            if styled {
                paint(style, text)
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        for err in &self.errors {
            out.push_str(&paint(BAD, &printable(&format!("{err}"))));
            out.push('\n');
        }
        for f in &self.findings {
            out.push_str(&format!(
                "{}: {}: {}\n  = fix: {}\n",
                paint(STRONG, &printable(&f.location())),
                paint(WARN, f.rule),
                printable(&f.message),
                printable(&f.fix)
            ));
        }
        for n in &self.notes {
            out.push_str(&format!(
                "note: {}: {}: {}\n  = {}\n",
                paint(STRONG, &printable(&n.location())),
                n.rule,
                printable(&n.message),
                printable(&n.fix)
            ));
        }
        match (self.errors.len(), self.findings.len()) {
            (0, 0) => out.push_str(&format!("{what}: {}\n", paint(GOOD, "clean"))),
            (0, n) => out.push_str(&format!(
                "{what}: {}\n",
                paint(BAD, &format!("{n} finding(s)"))
            )),
            (e, n) => out.push_str(&format!(
                "{what}: {}\n",
                paint(BAD, &format!("{e} unreadable input(s), {n} finding(s)"))
            )),
        }
        out
    }

    pub fn render_json(&self) -> String {
        let errors: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "file": crate::sys::paths::display(&e.path),
                    "line": e.pos.map(|p| p.line),
                    "col": e.pos.map(|p| p.col),
                    "message": e.message,
                })
            })
            .collect();
        let value = serde_json::json!({ "findings": self.findings, "errors": errors, "notes": self.notes, "clean": self.exit_code() == 0 });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }
}

/// A workflow command's message, escaped as GitHub reads it.
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value, escaped as GitHub reads it.
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// How `audit` and `validate` print their findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
    Github,
}

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_escape_what_would_end_them() {
        assert_eq!(github_data("50% off\r\nnext"), "50%25 off%0D%0Anext");
        assert_eq!(github_property("a,b:c"), "a%2Cb%3Ac");
    }

    /// Two rules saying one thing at one place of a YAML file are one
    /// finding; at the one place a config program has, findings about
    /// different things all stay.
    #[test]
    fn one_place_is_one_finding_except_in_a_config_program() {
        let at = Pos { line: 3, col: 1 };
        let report = |file: &str| {
            let findings = [
                "route GET /a is open",
                "route GET /b is open",
                "route GET /a is open",
            ]
            .map(|m| Finding::new(Path::new(file), at, "open-route", m, "add an authorizer"));
            Report {
                findings: findings.to_vec(),
                ..Report::default()
            }
            .finish()
            .findings
            .len()
        };
        assert_eq!(report("api/serverless.yml"), 1);
        assert_eq!(report("api/serverless.ts"), 2);
    }

    /// A candidate is suggested when it is at most two edits away, case
    /// aside, whichever of the two is the name.
    #[rstest::rstest]
    #[case::same("Table", "Table", true)]
    #[case::case_aside("table", "TABLE", true)]
    #[case::a_swap("Tabel", "Table", true)]
    #[case::one_insertion("Tble", "Table", true)]
    #[case::two_deletions("Tablexx", "Table", true)]
    #[case::three_edits("Tbx", "Table", false)]
    #[case::empty("", "ab", true)]
    #[case::far_apart("Queue1", "Dead1", false)]
    fn candidates_within_two_edits_are_suggested(
        #[case] a: &str,
        #[case] b: &str,
        #[case] near: bool,
    ) {
        assert_eq!(Suggestions::new([b]).nearest(a).is_some(), near);
        assert_eq!(Suggestions::new([a]).nearest(b).is_some(), near);
    }

    #[test]
    fn the_nearest_candidate_is_suggested() {
        let ids = Suggestions::new(["UsersTable", "OrdersTable", "ImagesBucket"]);
        assert_eq!(ids.nearest("UserTable").as_deref(), Some("UsersTable"));
        assert_eq!(ids.nearest("imagesbucket").as_deref(), Some("ImagesBucket"));
        assert_eq!(ids.nearest("Queue"), None);
    }

    /// Among candidates equally near, the shorter wins, then the first
    /// given: `Table` and `Tables` are both one edit from `Tablex`.
    #[test]
    fn ties_go_to_the_shorter_name_then_the_first() {
        let ids = Suggestions::new(["Tables", "Tablex1", "Table", "Tablez"]);
        assert_eq!(ids.nearest("Tablex").as_deref(), Some("Table"));
        let ids = Suggestions::new(["Tablez", "Tabley"]);
        assert_eq!(ids.nearest("Tablex").as_deref(), Some("Tablez"));
    }

    /// A comparison whose whole edit table would pass the budget is not
    /// started: two ids of thousands of characters cost no wait.
    #[test]
    fn a_comparison_past_the_budget_is_not_started() {
        let long = "a".repeat(4000);
        let ids = Suggestions::new([format!("{long}b")]);
        assert!(
            ids.nearest(&format!("{long}c")).is_none(),
            "4000 characters against 4000 are not compared"
        );
        assert!(ids.work.get() <= Suggestions::WORK);
        // One of a few hundred characters is still compared.
        let id = "a".repeat(300);
        let ids = Suggestions::new([format!("{id}b")]);
        assert_eq!(ids.nearest(&format!("{id}c")), Some(format!("{id}b")));
    }

    /// Thousands of names against thousands of candidates: the work stops
    /// at the budget, so the answers come in time linear in the questions.
    #[test]
    fn suggestions_stop_at_their_budget() {
        let ids = Suggestions::new((0..5000).map(|i| format!("Queue{i}")));
        assert_eq!(ids.nearest("Queue12x").as_deref(), Some("Queue12"));
        for i in 0..5000 {
            let _ = ids.nearest(&format!("Dead{i}"));
        }
        assert!(ids.work.get() <= Suggestions::WORK);
        assert_eq!(ids.nearest("Queue12x"), None, "the budget is spent");
    }
}
