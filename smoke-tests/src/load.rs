//! The load generator: the spec's checks sent again and again, at a
//! target rate or a fixed number in flight, for a bounded time after a
//! warm-up, each request a whole check (its own `${id}`, setup and
//! cleanup included) sent once, never retried. Latency goes into one HDR
//! histogram per check; what is measured is only what ends after the
//! warm-up. A protected stage gets reads only: a check with any request
//! that writes is left out, and the guard refuses a writing request if
//! one came through anyway.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::guard::Gate;
use crate::runner::{run_check, Options, Shared};
use crate::spec::{Check, Objectives, Spec};
use crate::Endpoint;

/// The most any run may ask for: the loops are bounded in count and time.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
pub const MAX_WARMUP: Duration = Duration::from_secs(600);
pub const MAX_RATE: f64 = 10_000.0;
pub const MAX_CONCURRENCY: usize = 1024;
/// Latencies above this (an hour) are recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// How hard to push.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many requests a second, started on schedule whatever the
    /// answers take (open loop), at most `in_flight` at once: a request
    /// that finds them all busy is not sent, and counted as missed.
    Rate { per_second: f64, in_flight: usize },
    /// This many requests in flight all the time (closed loop).
    Concurrency(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub pace: Pace,
    pub duration: Duration,
    pub warmup: Duration,
}

impl Plan {
    /// Refuses a plan outside the bounds, saying which.
    pub fn check(&self) -> Result<(), String> {
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(format!(
                "the duration must be above 0 and at most {}s",
                MAX_DURATION.as_secs()
            ));
        }
        if self.warmup > MAX_WARMUP {
            return Err(format!(
                "the warm-up may be at most {}s",
                MAX_WARMUP.as_secs()
            ));
        }
        match self.pace {
            Pace::Rate {
                per_second,
                in_flight,
            } => {
                if !(per_second > 0.0 && per_second <= MAX_RATE) {
                    return Err(format!(
                        "the rate must be above 0 and at most {MAX_RATE} a second"
                    ));
                }
                if in_flight == 0 || in_flight > MAX_CONCURRENCY {
                    return Err(format!("in flight must be 1 to {MAX_CONCURRENCY}"));
                }
            }
            Pace::Concurrency(n) => {
                if n == 0 || n > MAX_CONCURRENCY {
                    return Err(format!("the concurrency must be 1 to {MAX_CONCURRENCY}"));
                }
            }
        }
        Ok(())
    }
}

/// What one check did under load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckLoad {
    pub service: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first few distinct failures, to say why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The objectives that applied, and those missed.
    pub objectives: ObjectivesView,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ObjectivesView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
}

/// A load run's report, as `cargo xtask load` keeps it with the journals
/// (and the checklist reads it back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    /// `rate 50/s (at most 64 in flight)` or `concurrency 8`.
    pub pace: String,
    pub warmup_s: f64,
    pub measured_s: f64,
    pub checks: Vec<CheckLoad>,
    /// Requests a rate plan could not start because all were in flight.
    pub missed_starts: u64,
    /// Checks of the spec left out, and why (changes data on a
    /// protected stage; matches no endpoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<String>,
}

impl LoadReport {
    /// Whether something was measured and every objective was met.
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.missed.is_empty())
    }

    pub fn table(&self) -> String {
        let rows: Vec<[String; 9]> = self
            .checks
            .iter()
            .map(|c| {
                [
                    format!("{} {} {}", c.service, c.method, c.path),
                    c.requests.to_string(),
                    format!("{:.1}", c.per_second),
                    format!("{:.2}%", c.error_rate * 100.0),
                    format!("{:.1}", c.p50_ms),
                    format!("{:.1}", c.p95_ms),
                    format!("{:.1}", c.p99_ms),
                    format!("{:.1}", c.max_ms),
                    if c.missed.is_empty() {
                        "✔".into()
                    } else {
                        format!("✘ {}", c.missed.join("; "))
                    },
                ]
            })
            .collect();
        let head = [
            "endpoint", "requests", "req/s", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms", "",
        ];
        let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| -> String {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w - cell.chars().count();
                if i == 0 || i == cells.len() - 1 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
                out.push_str("  ");
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(head.to_vec());
        for row in &rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out.push_str(&format!(
            "{} over {:.1}s after a {:.1}s warm-up",
            self.pace, self.measured_s, self.warmup_s
        ));
        if self.missed_starts > 0 {
            out.push_str(&format!(
                "; {} request(s) not started: all in flight (the target or this machine is saturated)",
                self.missed_starts
            ));
        }
        out.push('\n');
        for why in &self.left_out {
            out.push_str(&format!("left out: {why}\n"));
        }
        out
    }

    /// A bar chart of p50, p95 and p99 per check, as an SVG document.
    pub fn svg(&self) -> String {
        let rows = self.checks.len().max(1);
        let (left, bar, gap, width) = (260.0, 12.0, 14.0, 760.0);
        let height = 60.0 + rows as f64 * (3.0 * bar + gap);
        let top = self
            .checks
            .iter()
            .map(|c| c.p99_ms.max(c.p95_ms).max(c.p50_ms))
            .fold(1.0_f64, f64::max);
        let scale = (width - left - 80.0) / top;
        let escape = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n<text x=\"10\" y=\"38\" fill=\"#555\">latency per endpoint, ms: p50, p95, p99</text>\n",
            escape(&format!("load: {} over {:.0}s", self.pace, self.measured_s))
        );
        for (i, c) in self.checks.iter().enumerate() {
            let y = 50.0 + i as f64 * (3.0 * bar + gap);
            out.push_str(&format!(
                "<text x=\"10\" y=\"{:.1}\">{}</text>\n",
                y + 1.8 * bar,
                escape(&format!("{} {} {}", c.service, c.method, c.path))
            ));
            for (k, (value, colour)) in [
                (c.p50_ms, "#4c9a2a"),
                (c.p95_ms, "#d9a400"),
                (c.p99_ms, "#c0392b"),
            ]
            .into_iter()
            .enumerate()
            {
                let yy = y + k as f64 * bar;
                let w = (value * scale).max(1.0);
                out.push_str(&format!(
                    "<rect x=\"{left}\" y=\"{yy:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{value:.1}</text>\n",
                    bar - 2.0,
                    left + w + 4.0,
                    yy + bar - 3.0
                ));
            }
        }
        out.push_str("</svg>\n");
        out
    }
}

struct Tally {
    histogram: Histogram<u64>,
    requests: u64,
    errors: u64,
    failures: Vec<String>,
}

/// Why `check` may not be driven with `options`: on a protected stage
/// (`options.protected_stage`) load sends only reads, decided from every
/// request of the check (its setup and cleanup included), whatever the
/// spec says of it.
pub fn left_out(check: &Check, options: &Options) -> Option<String> {
    if !options.protected_stage {
        return None;
    }
    let writing = check.writing_requests().next()?;
    Some(format!(
        "{} in {}: sends {} {}, a method that writes, and the stage is protected: load sends only reads there",
        check.route(),
        check.service,
        writing.method.to_uppercase(),
        writing.path
    ))
}

/// Drives `checks` (matched to `endpoints` by service and route) per the
/// plan. `left_out` is carried into the report, with every check
/// [`left_out`] refuses.
pub async fn drive(
    spec: &Spec,
    checks: &[Check],
    endpoints: &[Endpoint],
    options: &Options,
    plan: &Plan,
    left_out: Vec<String>,
) -> LoadReport {
    let mut work: Vec<(Check, Endpoint)> = Vec::new();
    let mut left_out = left_out;
    for check in checks {
        if let Some(why) = self::left_out(check, options) {
            left_out.push(why);
            continue;
        }
        match endpoints.iter().find(|e| {
            e.service == check.service && format!("{} {}", e.method, e.path) == check.route()
        }) {
            Some(endpoint) if endpoint.base_url.is_some() => {
                work.push((check.clone(), endpoint.clone()))
            }
            _ => left_out.push(format!(
                "{} in {}: no deployed endpoint matches it",
                check.route(),
                check.service
            )),
        }
    }
    #[allow(
        clippy::expect_used,
        reason = "constant bounds, which hdrhistogram takes (1 ≤ low, high ≥ 2·low, 3 digits)"
    )]
    let tallies: Arc<Vec<Mutex<Tally>>> = Arc::new(
        work.iter()
            .map(|_| {
                Mutex::new(Tally {
                    histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                        .expect("valid histogram bounds"),
                    requests: 0,
                    errors: 0,
                    failures: Vec::new(),
                })
            })
            .collect(),
    );
    let nothing = |left_out| LoadReport {
        pace: String::new(),
        warmup_s: 0.0,
        measured_s: 0.0,
        checks: Vec::new(),
        missed_starts: 0,
        left_out,
    };
    if work.is_empty() {
        return nothing(left_out);
    }
    let run = match Shared::new(spec, endpoints, options, Gate::ReadOnly) {
        Ok(run) => run,
        Err(err) => {
            left_out.push(err);
            return nothing(left_out);
        }
    };
    let shared = Arc::new((work, run));
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let measure_from = started + plan.warmup;
    let end = measure_from + plan.duration;
    let mut missed_starts = 0u64;
    let one = {
        let shared = shared.clone();
        let tallies = tallies.clone();
        let counter = counter.clone();
        move || {
            let shared = shared.clone();
            let tallies = tallies.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let (work, run) = &*shared;
                if work.is_empty() {
                    return;
                }
                let i = n % work.len();
                let (check, endpoint) = &work[i];
                // Sent once: no retry stretches a latency or hides an error.
                let outcome = run_check(run, check, endpoint, n, Instant::now()).await;
                if Instant::now() < measure_from {
                    return;
                }
                let mut tally = tallies[i].lock().unwrap_or_else(|p| p.into_inner());
                tally.requests += 1;
                let _ = tally
                    .histogram
                    .record(outcome.latency_us.clamp(1, MAX_LATENCY_US));
                if !outcome.passed {
                    tally.errors += 1;
                    if tally.failures.len() < 3 {
                        if let Some(message) = outcome.message {
                            if !tally.failures.contains(&message) {
                                tally.failures.push(message);
                            }
                        }
                    }
                }
            }
        }
    };
    let mut tasks = JoinSet::new();
    let pace = match plan.pace {
        Pace::Concurrency(n) => {
            for _ in 0..n {
                let one = one.clone();
                tasks.spawn(async move {
                    while Instant::now() < end {
                        one().await;
                    }
                });
            }
            format!("concurrency {n}")
        }
        Pace::Rate {
            per_second,
            in_flight,
        } => {
            let permits = Arc::new(Semaphore::new(in_flight));
            let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while Instant::now() < end {
                ticker.tick().await;
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let one = one.clone();
                        tasks.spawn(async move {
                            one().await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        if Instant::now() >= measure_from {
                            missed_starts += 1;
                        }
                    }
                }
                // Finished tasks are collected as they go: memory stays
                // bounded by what is in flight.
                while tasks.try_join_next().is_some() {}
            }
            format!("rate {per_second}/s (at most {in_flight} in flight)")
        }
    };
    while tasks.join_next().await.is_some() {}
    let measured = Instant::now().saturating_duration_since(measure_from);
    let measured_s = measured.as_secs_f64().max(f64::EPSILON);
    let (work, ..) = &*shared;
    let checks = work
        .iter()
        .zip(tallies.iter())
        .map(|((check, _), tally)| {
            let tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            let ms = |q: f64| tally.histogram.value_at_quantile(q) as f64 / 1000.0;
            let objectives = check.objectives.or(spec.load);
            let error_rate = if tally.requests == 0 {
                0.0
            } else {
                tally.errors as f64 / tally.requests as f64
            };
            let p95 = ms(0.95);
            let mut missed = Vec::new();
            if tally.requests == 0 {
                missed.push("no request finished in the measured time".to_string());
            }
            if let Some(want) = objectives.p95_ms {
                if p95 > want {
                    missed.push(format!("p95 {p95:.1} ms above the objective {want} ms"));
                }
            }
            if let Some(want) = objectives.error_rate {
                if error_rate > want {
                    missed.push(format!(
                        "error rate {:.2}% above the objective {:.2}%",
                        error_rate * 100.0,
                        want * 100.0
                    ));
                }
            }
            CheckLoad {
                service: check.service.clone(),
                method: check.request.method.clone(),
                path: check.request.path.clone(),
                name: check.name.clone(),
                requests: tally.requests,
                errors: tally.errors,
                error_rate,
                per_second: tally.requests as f64 / measured_s,
                p50_ms: ms(0.50),
                p95_ms: p95,
                p99_ms: ms(0.99),
                max_ms: tally.histogram.max() as f64 / 1000.0,
                failures: tally.failures.clone(),
                objectives: view(objectives),
                missed,
            }
        })
        .collect();
    LoadReport {
        pace,
        warmup_s: plan.warmup.as_secs_f64(),
        measured_s,
        checks,
        missed_starts,
        left_out,
    }
}

fn view(o: Objectives) -> ObjectivesView {
    ObjectivesView {
        p95_ms: o.p95_ms,
        error_rate: o.error_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_outside_the_bounds_are_refused() {
        let plan = |pace, secs| Plan {
            pace,
            duration: Duration::from_secs(secs),
            warmup: Duration::ZERO,
        };
        assert!(plan(Pace::Concurrency(4), 10).check().is_ok());
        assert!(plan(Pace::Concurrency(0), 10).check().is_err());
        assert!(plan(Pace::Concurrency(4), 0).check().is_err());
        assert!(plan(Pace::Concurrency(4), 7200).check().is_err());
        assert!(plan(
            Pace::Rate {
                per_second: 0.0,
                in_flight: 4
            },
            10
        )
        .check()
        .is_err());
        assert!(plan(
            Pace::Rate {
                per_second: 50_000.0,
                in_flight: 4
            },
            10
        )
        .check()
        .is_err());
        assert!(plan(
            Pace::Rate {
                per_second: 50.0,
                in_flight: 64
            },
            10
        )
        .check()
        .is_ok());
    }
}
