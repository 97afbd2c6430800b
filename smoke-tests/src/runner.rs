//! Runs the checks: coverage first, then every check concurrently (bounded),
//! each with its setup and cleanup, with retries only for cold-start kinds
//! of failure, inside an overall deadline. On a protected stage every
//! request of a check is judged by the guard before the first is sent, and
//! again as it is sent: a check with one refused request sends none.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::guard::{Gate, Guard};
use crate::report::{Outcome, Report};
use crate::spec::{Check, Request, Spec};
use crate::Endpoint;

#[derive(Debug, Clone)]
pub struct Options {
    pub concurrency: usize,
    /// Per request.
    pub timeout: Duration,
    /// For the whole run, retries included.
    pub deadline: Duration,
    /// Makes ids unique to the run: `smoke-<run id>-<n>`. On a protected
    /// stage a value carrying it is what the guard takes for an id this
    /// run made, so there it must have at least 12 characters.
    pub run_id: String,
    /// A bearer token for protected endpoints.
    pub token: Option<String>,
    /// Why there is no token, for the failure message.
    pub no_token_reason: Option<String>,
    /// A protected stage: checks that change data run only when allowed,
    /// and no request changes data this run did not make (the guard).
    pub protected_stage: bool,
    pub allow_mutating: bool,
    /// Host names to reach at a given address instead of asking DNS: a
    /// custom domain checked before its DNS record exists, or on an
    /// emulator that routes by host name.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
}

impl Options {
    /// The HTTP client of a run: its timeout, and its host names pinned.
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder().timeout(self.timeout);
        for (host, addr) in &self.resolve {
            builder = builder.resolve(host, *addr);
        }
        builder
            .build()
            .map_err(|err| format!("cannot build an HTTP client: {err}"))
    }
}

/// Each service's API base URL: setup and cleanup steps may go to
/// another service's API.
pub(crate) fn bases(endpoints: &[Endpoint]) -> BTreeMap<String, String> {
    let mut bases = BTreeMap::new();
    for endpoint in endpoints {
        if let Some(url) = &endpoint.base_url {
            bases
                .entry(endpoint.service.clone())
                .or_insert_with(|| url.clone());
        }
    }
    bases
}

/// What every check of one run shares.
pub(crate) struct Shared {
    pub client: reqwest::Client,
    pub options: Options,
    pub bases: BTreeMap<String, String>,
    pub guard: Guard,
    /// The spec's file, to name a check's line.
    pub spec_file: String,
}

impl Shared {
    /// `gate` is what may reach the stage: the caller's choice between a
    /// smoke run and load, from `options.protected_stage`.
    pub(crate) fn new(
        spec: &Spec,
        endpoints: &[Endpoint],
        options: &Options,
        gate: Gate,
    ) -> Result<Shared, String> {
        Ok(Shared {
            client: options.client()?,
            options: options.clone(),
            bases: bases(endpoints),
            guard: Guard {
                gate: if options.protected_stage {
                    gate
                } else {
                    Gate::Open
                },
                run_id: options.run_id.clone(),
                routes: Arc::new(endpoints.to_vec()),
            },
            spec_file: spec.path.display().to_string(),
        })
    }

    /// Every request of the check judged before any is sent, so a refused
    /// cleanup never leaves what its setup made: the first refusal, naming
    /// the check, the request, the parameter and what to do.
    fn judge(&self, check: &Check, vars: &Vars) -> Result<(), String> {
        for (step, request) in check.requests() {
            let service = request.service.as_deref().unwrap_or(&check.service);
            let path = resolve_path(request, vars);
            if let Err(refusal) = self.guard.admit(service, &request.method, &path) {
                let to = match &request.service {
                    Some(other) if *other != check.service => format!(" to {other}"),
                    _ => String::new(),
                };
                let label = match &check.name {
                    Some(name) => format!("\"{name}\" ({} in {})", check.route(), check.service),
                    None => format!("{} in {}", check.route(), check.service),
                };
                return Err(format!(
                    "{}:{}: check {label} is refused on a protected stage: {step} `{} {path}`{to}: {refusal}",
                    self.spec_file,
                    check.line,
                    request.method.to_uppercase()
                ));
            }
        }
        Ok(())
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            // Each first call of a function is a cold start; a handful at a
            // time finish sooner than all at once on a small machine.
            concurrency: 4,
            // Cold starts on a loaded 2-core machine take seconds each.
            timeout: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
            run_id: "run".into(),
            token: None,
            no_token_reason: None,
            protected_stage: false,
            allow_mutating: false,
            resolve: Vec::new(),
        }
    }
}

/// Checks every endpoint. Never panics on what the app answers.
pub async fn run(spec: &Spec, endpoints: &[Endpoint], options: &Options) -> Report {
    let mut report = Report {
        started_at: Some(std::time::SystemTime::now()),
        ..Report::default()
    };
    let spec_file = spec.path.display().to_string();
    for endpoint in endpoints {
        let covered = spec
            .checks
            .iter()
            .any(|c| c.service == endpoint.service && c.route() == route(endpoint));
        if !covered {
            report.coverage.push(format!(
                "{} has no smoke check (declared at {}); add one to {spec_file}",
                endpoint.name(),
                endpoint.at
            ));
        }
    }
    let mut work: Vec<(usize, Check, Endpoint, bool)> = Vec::new();
    for (n, check) in spec.checks.iter().enumerate() {
        let Some(endpoint) = endpoints
            .iter()
            .find(|e| e.service == check.service && route(e) == check.route())
        else {
            report.coverage.push(format!(
                "{spec_file}:{}: {} in {} matches no endpoint of the app; remove the check or fix its method and path",
                check.line,
                check.route(),
                check.service
            ));
            continue;
        };
        let protected = endpoint.protected || check.protected == Some(true);
        if protected {
            work.push((n, check.clone(), endpoint.clone(), false));
        }
        work.push((n, check.clone(), endpoint.clone(), true));
    }

    let shared = match Shared::new(spec, endpoints, options, Gate::Protected) {
        Ok(shared) => Arc::new(shared),
        Err(err) => {
            report.coverage.push(err);
            return report;
        }
    };
    let started = Instant::now();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (n, check, endpoint, main) in work {
        let shared = shared.clone();
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let deadline = started + shared.options.deadline;
            if main {
                run_check(&shared, &check, &endpoint, n, deadline).await
            } else {
                run_unauthorized(&shared, &check, &endpoint, n, deadline).await
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(outcome) => report.checks.push(outcome),
            Err(err) => report
                .coverage
                .push(format!("a check stopped unexpectedly: {err}")),
        }
    }
    report.checks.sort_by(|a, b| {
        (&a.service, &a.path, &a.method, &a.variant)
            .cmp(&(&b.service, &b.path, &b.method, &b.variant))
    });
    report
}

fn route(endpoint: &Endpoint) -> String {
    format!("{} {}", endpoint.method, endpoint.path)
}

fn outcome(check: &Check, endpoint: &Endpoint, variant: &str, expected: u16) -> Outcome {
    Outcome {
        service: endpoint.service.clone(),
        method: endpoint.method.clone(),
        path: endpoint.path.clone(),
        name: check.name.clone(),
        variant: variant.to_string(),
        status: None,
        expected,
        passed: false,
        skipped: false,
        latency_ms: 0,
        latency_us: 0,
        attempts: 0,
        message: None,
    }
}

/// A protected endpoint called without a token must answer 401.
async fn run_unauthorized(
    shared: &Shared,
    check: &Check,
    endpoint: &Endpoint,
    n: usize,
    deadline: Instant,
) -> Outcome {
    let mut out = outcome(check, endpoint, "without token", 401);
    let vars = Vars::new(&shared.options.run_id, n);
    if let Err(refused) = shared.judge(check, &vars) {
        out.message = Some(refused);
        return out;
    }
    let Some(base) = &endpoint.base_url else {
        out.message = Some(format!(
            "{} is not deployed (no API URL in its stack outputs)",
            endpoint.service
        ));
        return out;
    };
    let request = Request {
        headers: BTreeMap::new(),
        ..check.request.clone()
    };
    let steps = Steps {
        shared,
        service: &check.service,
        own: base,
        vars: &vars,
        token: None,
        deadline,
    };
    match steps.send(&request).await {
        Ok(answer) => {
            out.status = Some(answer.status);
            out.latency_ms = answer.latency_ms;
            out.latency_us = answer.latency_us;
            out.attempts = answer.attempts;
            out.passed = answer.status == 401;
            if !out.passed {
                out.message = Some(format!(
                    "{} answered {} without a token; its authorizer must refuse it with 401",
                    endpoint.name(),
                    answer.status
                ));
            }
        }
        Err(err) => out.message = Some(err),
    }
    out
}

pub(crate) async fn run_check(
    shared: &Shared,
    check: &Check,
    endpoint: &Endpoint,
    n: usize,
    deadline: Instant,
) -> Outcome {
    let options = &shared.options;
    let protected = endpoint.protected || check.protected == Some(true);
    let variant = if protected { "with token" } else { "" };
    let mut out = outcome(check, endpoint, variant, check.expect);
    let vars = Vars::new(&options.run_id, n);
    if let Err(refused) = shared.judge(check, &vars) {
        out.message = Some(refused);
        return out;
    }
    if check.changes_data() && options.protected_stage && !options.allow_mutating {
        out.skipped = true;
        out.message = Some(
            "changes data: skipped on a protected stage (pass --allow-mutating to run it)".into(),
        );
        return out;
    }
    let Some(base) = &endpoint.base_url else {
        out.message = Some(format!(
            "{} is not deployed (no API URL in its stack outputs)",
            endpoint.service
        ));
        return out;
    };
    let token = if protected {
        match &options.token {
            Some(token) => Some(token.as_str()),
            None => {
                out.message = Some(format!(
                    "{} is protected and there is no token: {}",
                    endpoint.name(),
                    options
                        .no_token_reason
                        .as_deref()
                        .unwrap_or("no credentials")
                ));
                return out;
            }
        }
    } else {
        None
    };
    let steps = Steps {
        shared,
        service: &check.service,
        own: base,
        vars: &vars,
        token,
        deadline,
    };
    for step in &check.setup {
        match steps.send(step).await {
            Ok(answer) if step_ok(step, answer.status) => {}
            Ok(answer) => {
                out.message = Some(format!(
                    "setup {} {} answered {}: {}",
                    step.method,
                    step.path,
                    answer.status,
                    answer.snippet()
                ));
                steps.cleanup(check).await;
                return out;
            }
            Err(err) => {
                out.message = Some(format!("setup {} {}: {err}", step.method, step.path));
                steps.cleanup(check).await;
                return out;
            }
        }
    }
    match steps.send(&check.request).await {
        Ok(answer) => {
            out.status = Some(answer.status);
            out.latency_ms = answer.latency_ms;
            out.latency_us = answer.latency_us;
            out.attempts = answer.attempts;
            if answer.status != check.expect {
                out.message = Some(format!(
                    "{} answered {}, expected {}: {}",
                    endpoint.name(),
                    answer.status,
                    check.expect,
                    answer.snippet()
                ));
            } else if let Some(expected) = &check.json {
                let expected = vars.apply(&toml_to_json(expected));
                match serde_json::from_str::<Value>(&answer.body) {
                    Ok(actual) => match contains(&actual, &expected, "") {
                        Ok(()) => out.passed = true,
                        Err(why) => {
                            out.message = Some(format!("{}: the JSON body {why}", endpoint.name()))
                        }
                    },
                    Err(_) => {
                        out.message = Some(format!(
                            "{} did not answer JSON: {}",
                            endpoint.name(),
                            answer.snippet()
                        ))
                    }
                }
            } else {
                out.passed = true;
            }
        }
        Err(err) => out.message = Some(err),
    }
    let cleanup_problem = steps.cleanup(check).await;
    if let (true, Some(problem)) = (out.passed, cleanup_problem) {
        out.passed = false;
        out.message = Some(problem);
    }
    out
}

fn step_ok(step: &Request, status: u16) -> bool {
    match step.expect {
        Some(expected) => status == expected,
        None => (200..300).contains(&status),
    }
}

/// A cleanup is done when the thing is gone, whoever removed it.
fn cleanup_ok(step: &Request, status: u16) -> bool {
    step_ok(step, status)
        || (step.method.eq_ignore_ascii_case("DELETE") && matches!(status, 404 | 410))
}

/// What the requests of one check share; every one is sent through
/// [`Steps::send`], which asks the guard once more.
struct Steps<'a> {
    shared: &'a Shared,
    /// The check's own service and its API's base URL.
    service: &'a str,
    own: &'a str,
    vars: &'a Vars,
    token: Option<&'a str>,
    deadline: Instant,
}

impl Steps<'_> {
    async fn send(&self, step: &Request) -> Result<Answer, String> {
        let (service, base) = match &step.service {
            Some(service) => (
                service.as_str(),
                self.shared
                    .bases
                    .get(service)
                    .map(String::as_str)
                    .ok_or_else(|| {
                        format!("service `{service}` of a setup step has no deployed API")
                    })?,
            ),
            None => (self.service, self.own),
        };
        let path = resolve_path(step, self.vars);
        if let Err(refusal) = self.shared.guard.admit(service, &step.method, &path) {
            return Err(format!(
                "`{} {path}` to {service} is refused on a protected stage: {refusal}",
                step.method.to_uppercase()
            ));
        }
        send(
            &self.shared.client,
            base,
            &path,
            step,
            self.vars,
            self.token,
            self.deadline,
        )
        .await
    }

    /// Runs every cleanup step; a problem is returned (and fails the check)
    /// so smoke data never stays behind unnoticed.
    async fn cleanup(&self, check: &Check) -> Option<String> {
        let mut problem = None;
        for step in &check.cleanup {
            match self.send(step).await {
                Ok(answer) if cleanup_ok(step, answer.status) => {}
                Ok(answer) => {
                    problem = Some(format!(
                        "cleanup {} {} answered {}: {}",
                        step.method,
                        step.path,
                        answer.status,
                        answer.snippet()
                    ))
                }
                Err(err) => problem = Some(format!("cleanup {} {}: {err}", step.method, step.path)),
            }
        }
        problem
    }
}

struct Answer {
    status: u16,
    body: String,
    latency_ms: u64,
    latency_us: u64,
    attempts: u32,
}

impl Answer {
    fn snippet(&self) -> String {
        let text: String = self.body.chars().take(200).collect();
        if text.is_empty() {
            "(empty body)".into()
        } else {
            text
        }
    }
}

/// The `${id}` / `${run_id}` values of one check.
struct Vars {
    id: String,
    run_id: String,
}

impl Vars {
    fn new(run_id: &str, n: usize) -> Vars {
        Vars {
            id: format!("smoke-{run_id}-{n}"),
            run_id: run_id.to_string(),
        }
    }

    fn text(&self, text: &str) -> String {
        text.replace("${id}", &self.id)
            .replace("${run_id}", &self.run_id)
    }

    fn apply(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.apply(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.apply(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn toml_to_json(value: &toml::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The path a request is sent to: `${id}` and `${run_id}` filled, each
/// `{param}` from `params`, any parameter left with the check's own id.
/// The guard judges this very path.
fn resolve_path(request: &Request, vars: &Vars) -> String {
    let mut path = vars.text(&request.path);
    for (key, value) in &request.params {
        path = path.replace(&format!("{{{key}}}"), &vars.text(value));
    }
    // Any parameter left gets the check's own id.
    while let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
        if close < open {
            break;
        }
        path.replace_range(open..=close, &vars.id);
    }
    path
}

/// Sends one request to `path` (from [`resolve_path`]), retrying
/// cold-start kinds of failure (502, 503, 504, a refused or reset
/// connection) with backoff until the deadline.
async fn send(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    request: &Request,
    vars: &Vars,
    token: Option<&str>,
    deadline: Instant,
) -> Result<Answer, String> {
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
    let mut backoff = Duration::from_millis(200);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut builder = client.request(method.clone(), &url);
        let query: Vec<(String, String)> = request
            .query
            .iter()
            .map(|(k, v)| (k.clone(), vars.text(v)))
            .collect();
        if !query.is_empty() {
            builder = builder.query(&query);
        }
        for (key, value) in &request.headers {
            builder = builder.header(key, vars.text(value));
        }
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &request.body {
            builder = builder.json(&vars.apply(&toml_to_json(body)));
        } else if let Some(raw) = &request.raw_body {
            builder = builder.body(vars.text(raw)).header(
                "content-type",
                request
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "text/plain".into()),
            );
        }
        let started = Instant::now();
        let result = builder.send().await;
        // A cold start can answer 502-504 or time out. Only a read is safe
        // to send again then: a create or delete may have happened anyway,
        // and a second one would answer 409 or 404. A refused connection
        // never reached the app, so any request may retry it.
        let safe = matches!(
            method,
            reqwest::Method::GET | reqwest::Method::HEAD | reqwest::Method::OPTIONS
        );
        let retryable = match &result {
            Ok(response) => safe && matches!(response.status().as_u16(), 502..=504),
            Err(err) => err.is_connect() || (safe && err.is_timeout()),
        };
        if retryable && Instant::now() + backoff < deadline {
            // A function that keeps failing is retried for up to the
            // deadline; say so every few attempts rather than stay silent.
            if attempts % 5 == 0 {
                let why = match &result {
                    Ok(response) => format!("answered {}", response.status().as_u16()),
                    Err(err) => describe(err),
                };
                // Never eprintln!: a stderr that cannot be written (a full
                // disk) would panic the run.
                let _ = writeln!(
                    std::io::stderr(),
                    "smoke: {} {path} {why}; retrying (attempt {attempts}, {}s left)",
                    request.method,
                    deadline.saturating_duration_since(Instant::now()).as_secs()
                );
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(3));
            continue;
        }
        return match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                Ok(Answer {
                    status,
                    body,
                    latency_ms: started.elapsed().as_millis() as u64,
                    latency_us: started.elapsed().as_micros() as u64,
                    attempts,
                })
            }
            Err(err) => Err(format!("{} {url}: {}", request.method, describe(&err))),
        };
    }
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        err.to_string()
    }
}

/// Whether `expected` is part of `actual`: every key of an expected object
/// with a matching value, arrays element by element, `"*"` for any value.
pub fn contains(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(s), _) if s == "*" => Ok(()),
        (Value::Object(want), Value::Object(have)) => {
            for (key, value) in want {
                let here = format!("{at}.{key}");
                match have.get(key) {
                    Some(found) => contains(found, value, &here)?,
                    None => return Err(format!("has no `{}`", here.trim_start_matches('.'))),
                }
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(have)) => {
            for (i, value) in want.iter().enumerate() {
                let here = format!("{at}[{i}]");
                match have.get(i) {
                    Some(found) => contains(found, value, &here)?,
                    None => return Err(format!("has no `{}`", here.trim_start_matches('.'))),
                }
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (want, have) if want == have => Ok(()),
        (want, have) => Err(format!(
            "has `{}` = {have}, expected {want}",
            at.trim_start_matches('.')
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_matched_as_subsets() {
        let actual = json!({"id": "a", "n": 3, "items": [{"k": 1}, {"k": 2}], "extra": true});
        assert!(contains(&actual, &json!({"id": "a", "items": [{"k": 1}]}), "").is_ok());
        assert!(contains(&actual, &json!({"n": 3.0, "id": "*"}), "").is_ok());
        assert_eq!(
            contains(&actual, &json!({"id": "b"}), ""),
            Err("has `id` = \"a\", expected \"b\"".into())
        );
        assert_eq!(
            contains(&actual, &json!({"missing": 1}), ""),
            Err("has no `missing`".into())
        );
    }

    #[test]
    fn ids_are_unique_per_check_and_run() {
        let vars = Vars::new("r1", 4);
        assert_eq!(
            vars.text("/designs/${id}?r=${run_id}"),
            "/designs/smoke-r1-4?r=r1"
        );
    }
}
