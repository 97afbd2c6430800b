//! What a smoke run found, as a table, as JSON and as JUnit XML for CI.

use anstyle::{AnsiColor, Style};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub service: String,
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `""`, `"without token"` or `"with token"`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub status: Option<u16>,
    pub expected: u16,
    pub passed: bool,
    pub skipped: bool,
    pub latency_ms: u64,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Outcome>,
    /// Endpoints without a check and checks without an endpoint.
    pub coverage: Vec<String>,
}

const PASS: Style = AnsiColor::Green.on_default();
const FAIL: Style = AnsiColor::Red.on_default().bold();
const SKIP: Style = AnsiColor::Yellow.on_default();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

impl Report {
    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| !c.passed && !c.skipped)
            .count()
            + self.coverage.len()
    }

    pub fn passed_count(&self) -> usize {
        self.checks.iter().filter(|c| c.passed).count()
    }

    pub fn skipped(&self) -> usize {
        self.checks.iter().filter(|c| c.skipped).count()
    }

    pub fn ok(&self) -> bool {
        self.failed() == 0
    }

    /// The report as a table, with colours a terminal shows: print it
    /// through a stream that strips them where colour is off
    /// (`anstream`), or use [`Report::json`].
    pub fn table(&self) -> String {
        let label = |c: &Outcome| {
            let variant = if c.variant.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.variant)
            };
            let name = c
                .name
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default();
            format!("{} {} {}{variant}{name}", c.service, c.method, c.path)
        };
        let width = self
            .checks
            .iter()
            .map(|c| label(c).chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut out = format!(
            "{:width$}  {:>6}  {:>8}  {:>8}  {:>8}\n",
            "endpoint", "status", "expected", "latency", "attempts"
        );
        for c in &self.checks {
            let status = match (c.skipped, c.status) {
                (true, _) => "skip".to_string(),
                (_, Some(s)) => s.to_string(),
                (_, None) => "-".to_string(),
            };
            let mark = if c.skipped {
                paint(SKIP, "–")
            } else if c.passed {
                paint(PASS, "✔")
            } else {
                paint(FAIL, "✘")
            };
            let label = label(c);
            let pad = width.saturating_sub(label.chars().count());
            out.push_str(&format!(
                "{label}{:pad$}  {status:>6}  {:>8}  {:>6}ms  {:>8}  {mark}\n",
                "", c.expected, c.latency_ms, c.attempts
            ));
        }
        for c in self.checks.iter().filter(|c| !c.passed && !c.skipped) {
            out.push_str(&format!(
                "{} {}: {}\n",
                paint(FAIL, "✘"),
                label(c),
                c.message.as_deref().unwrap_or("failed")
            ));
        }
        for problem in &self.coverage {
            out.push_str(&format!("{} {problem}\n", paint(FAIL, "✘")));
        }
        let counts = format!(
            "{} passed, {} failed, {} skipped",
            self.passed_count(),
            self.failed(),
            self.skipped()
        );
        out.push_str(&paint(if self.ok() { PASS } else { FAIL }, &counts));
        out.push('\n');
        out
    }

    pub fn json(&self) -> String {
        let value = serde_json::json!({
            "checks": self.checks,
            "coverage": self.coverage,
            "passed": self.passed_count(),
            "failed": self.failed(),
            "skipped": self.skipped(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    pub fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites>\n  <testsuite name=\"smoke\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
            self.checks.len() + self.coverage.len(),
            self.failed(),
            self.skipped()
        ));
        for c in &self.checks {
            let variant = if c.variant.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.variant)
            };
            let name = escape(&format!("{} {}{variant}", c.method, c.path));
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{name}\" time=\"{:.3}\"",
                escape(&c.service),
                c.latency_ms as f64 / 1000.0
            ));
            if c.skipped {
                out.push_str(&format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    escape(c.message.as_deref().unwrap_or(""))
                ));
            } else if c.passed {
                out.push_str("/>\n");
            } else {
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                    escape(c.message.as_deref().unwrap_or("failed"))
                ));
            }
        }
        for problem in &self.coverage {
            out.push_str(&format!(
                "    <testcase classname=\"coverage\" name=\"{}\">\n      <failure message=\"{}\"/>\n    </testcase>\n",
                escape(problem),
                escape(problem)
            ));
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
