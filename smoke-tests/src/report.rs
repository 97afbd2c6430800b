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
    /// The same, in microseconds (for load statistics).
    #[serde(skip)]
    pub latency_us: u64,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Outcome>,
    /// Endpoints without a check and checks without an endpoint.
    pub coverage: Vec<String>,
    /// When the run started.
    #[serde(skip)]
    pub started_at: Option<std::time::SystemTime>,
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

    /// The report as JUnit XML (through `quick-junit`): one test case per
    /// check and per coverage problem, with the run's start time, each
    /// check's latency, and the failure's message and body. Control
    /// characters and terminal escapes in answers are dropped by the writer.
    pub fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
        let mut suite = TestSuite::new("smoke");
        if let Some(started) = self.started_at {
            suite.set_timestamp(chrono::DateTime::<chrono::Utc>::from(started).fixed_offset());
        }
        let total: u64 = self.checks.iter().map(|c| c.latency_ms).sum();
        suite.set_time(std::time::Duration::from_millis(total));
        for c in &self.checks {
            let variant = if c.variant.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.variant)
            };
            let status = if c.skipped {
                let mut status = TestCaseStatus::skipped();
                status.set_message(c.message.clone().unwrap_or_default());
                status
            } else if c.passed {
                TestCaseStatus::success()
            } else {
                let message = c.message.clone().unwrap_or_else(|| "failed".into());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(message.clone()).set_description(format!(
                    "{} {} in {}: answered {}, expected {} after {} attempt(s)\n{message}",
                    c.method,
                    c.path,
                    c.service,
                    c.status.map_or("nothing".to_string(), |s| s.to_string()),
                    c.expected,
                    c.attempts
                ));
                status
            };
            let mut case = TestCase::new(format!("{} {}{variant}", c.method, c.path), status);
            case.set_classname(c.service.clone())
                .set_time(std::time::Duration::from_millis(c.latency_ms));
            suite.add_test_case(case);
        }
        for problem in &self.coverage {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(problem.clone())
                .set_description(problem.clone());
            let mut case = TestCase::new(problem.clone(), status);
            case.set_classname("coverage");
            suite.add_test_case(case);
        }
        let mut report = quick_junit::Report::new("smoke");
        report.add_test_suite(suite);
        report.to_string().unwrap_or_else(|err| {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- the report could not be written: {err} -->\n")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(path: &str, passed: bool, skipped: bool, message: Option<&str>) -> Outcome {
        Outcome {
            service: "api".into(),
            method: "GET".into(),
            path: path.into(),
            name: None,
            variant: String::new(),
            status: Some(if passed { 200 } else { 500 }),
            expected: 200,
            passed,
            skipped,
            latency_ms: 12,
            latency_us: 12_000,
            attempts: 1,
            message: message.map(str::to_string),
        }
    }

    /// Whatever an endpoint answers, the JUnit report stays well-formed XML
    /// that a reader takes back with every check, its outcome and the
    /// failure's message (markup escaped, control characters dropped).
    #[test]
    fn junit_is_well_formed_whatever_the_answers_hold() {
        let report = Report {
            checks: vec![
                outcome("/ok", true, false, None),
                outcome(
                    "/items/{id}",
                    false,
                    false,
                    Some("answered 500: <b>\"x\" & y</b>\u{1}\u{1b}[31mred"),
                ),
                outcome("/write", false, true, Some("skipped on a protected stage")),
            ],
            coverage: vec!["GET /new in api has no smoke check".into()],
            started_at: Some(std::time::SystemTime::now()),
        };
        let xml = report.junit();
        let back = quick_junit::Report::deserialize_from_str(&xml).expect("well-formed JUnit");
        let suite = &back.test_suites[0];
        let skipped = suite
            .test_cases
            .iter()
            .filter(|c| matches!(c.status, quick_junit::TestCaseStatus::Skipped { .. }))
            .count();
        assert_eq!((suite.tests, suite.failures, skipped), (4, 2, 1), "{xml}");
        assert!(suite.timestamp.is_some(), "{xml}");
        let failed = suite
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == "GET /items/{id}")
            .expect("the failed check");
        let quick_junit::TestCaseStatus::NonSuccess {
            message,
            description,
            ..
        } = &failed.status
        else {
            panic!("a failure: {xml}");
        };
        assert_eq!(
            message.as_ref().map(|m| m.as_str()),
            Some("answered 500: <b>\"x\" & y</b>red")
        );
        assert!(
            description
                .as_ref()
                .is_some_and(|d| d.as_str().contains("expected 200")),
            "{xml}"
        );
        assert!(!xml.contains('\u{1}') && !xml.contains('\u{1b}'), "{xml}");
    }
}
