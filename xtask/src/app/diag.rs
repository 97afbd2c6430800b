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
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
    pub fn print(&self, format: Format, what: &str) -> Result<(), crate::sys::output::OutputError> {
        match format {
            Format::Text => crate::out!("{}", self.render(what, true)),
            Format::Json => crate::outln!("{}", self.render_json()),
        }
    }

    /// Sorted by file and position, duplicates removed.
    pub fn finish(mut self) -> Report {
        self.findings.sort_by(|a, b| {
            (&a.file, a.line, a.col, a.rule).cmp(&(&b.file, b.line, b.col, b.rule))
        });
        // Two rules can see the same thing at the same place; say it once.
        self.findings.dedup_by(|a, b| {
            a.file == b.file && a.line == b.line && a.col == b.col && a.rule == b.rule
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

/// Output format of the reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}
