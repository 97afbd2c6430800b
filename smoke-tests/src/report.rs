//! What a smoke run found, as a table, as JSON and as JUnit XML for CI.

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
            .map(|c| label(c).len())
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
                "–"
            } else if c.passed {
                "✔"
            } else {
                "✘"
            };
            out.push_str(&format!(
                "{:width$}  {status:>6}  {:>8}  {:>6}ms  {:>8}  {mark}\n",
                label(c),
                c.expected,
                c.latency_ms,
                c.attempts
            ));
        }
        for c in self.checks.iter().filter(|c| !c.passed && !c.skipped) {
            out.push_str(&format!(
                "✘ {}: {}\n",
                label(c),
                c.message.as_deref().unwrap_or("failed")
            ));
        }
        for problem in &self.coverage {
            out.push_str(&format!("✘ {problem}\n"));
        }
        out.push_str(&format!(
            "{} passed, {} failed, {} skipped\n",
            self.passed_count(),
            self.failed(),
            self.skipped()
        ));
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
