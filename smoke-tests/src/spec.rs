//! `smoke.toml`: what to send to each endpoint and what must come back.
//!
//! ```toml
//! [[check]]
//! service = "image-api"
//! method = "GET"
//! path = "/designs/{id}"
//! setup = [{ method = "POST", path = "/designs", body = { id = "${id}", name = "smoke" } }]
//! expect = 200
//! json = { id = "${id}" }                       # must be part of the body
//! cleanup = [{ method = "DELETE", path = "/designs/${id}" }]
//! mutates = true
//! ```
//!
//! `${id}` is unique to the check (`smoke-<run id>-<n>`), `${run_id}` to the
//! run. A path parameter without a value in `params` gets `${id}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A request sent before or after a check, or as the check itself.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Another service to send it to (a setup that creates data elsewhere);
    /// the check's own service by default.
    pub service: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    pub body: Option<toml::Value>,
    /// A raw body, sent as it is (with `content_type`).
    pub raw_body: Option<String>,
    pub content_type: Option<String>,
    /// For setup and cleanup: the status that counts as done (any 2xx by default).
    pub expect: Option<u16>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    service: String,
    name: Option<String>,
    method: String,
    path: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<toml::Value>,
    raw_body: Option<String>,
    content_type: Option<String>,
    expect: u16,
    json: Option<toml::Value>,
    mutates: Option<bool>,
    why: Option<String>,
    protected: Option<bool>,
    #[serde(default)]
    setup: Vec<Request>,
    #[serde(default)]
    cleanup: Vec<Request>,
    p95_ms: Option<f64>,
    error_rate: Option<f64>,
}

/// What `cargo xtask load` must achieve: for a check, or (under
/// `[load]`) for every check without its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// The 95th percentile of latency, in milliseconds, at most.
    pub p95_ms: Option<f64>,
    /// The share of requests that may fail (0.01: one in a hundred).
    pub error_rate: Option<f64>,
}

impl Objectives {
    fn check(&self) -> Result<(), String> {
        if let Some(p95) = self.p95_ms {
            if !(p95 > 0.0 && p95.is_finite()) {
                return Err(format!(
                    "p95_ms = {p95} must be a number of milliseconds above 0"
                ));
            }
        }
        if let Some(rate) = self.error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "error_rate = {rate} must be between 0 and 1 (0.01: one request in a hundred)"
                ));
            }
        }
        Ok(())
    }

    /// This check's own, falling back to the spec's `[load]` ones.
    pub fn or(self, defaults: Objectives) -> Objectives {
        Objectives {
            p95_ms: self.p95_ms.or(defaults.p95_ms),
            error_rate: self.error_rate.or(defaults.error_rate),
        }
    }
}

/// One check of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub service: String,
    pub name: Option<String>,
    pub request: Request,
    pub expect: u16,
    pub json: Option<toml::Value>,
    /// What the spec says: whether the check (its setup and cleanup
    /// included) changes data. Any method but GET, HEAD and OPTIONS does,
    /// unless the spec says `mutates = false` and explains `why`, which it
    /// may only for a check whose writes are all POSTs. The runner asks
    /// [`Check::changes_data`], which reads the requests too.
    pub mutates: bool,
    /// Overrides what discovery says about an authorizer: a check that says
    /// `protected = true` is also sent without a token and must get 401.
    pub protected: Option<bool>,
    pub setup: Vec<Request>,
    pub cleanup: Vec<Request>,
    /// What `load` must achieve on it (its own, not `[load]`'s).
    pub objectives: Objectives,
    /// Where it is written (`smoke.toml:LINE`).
    pub line: usize,
}

/// Methods that never change data.
pub const SAFE_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS"];

/// What a request's method may do to the data behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// GET, HEAD, OPTIONS: nothing.
    Read,
    /// POST: makes something new (or is refused).
    Create,
    /// DELETE, PUT, PATCH, `ANY` and every other method: changes or
    /// removes what the path names.
    Change,
}

impl Request {
    /// Whether the method may change data.
    pub fn writes(&self) -> bool {
        self.effect() != Effect::Read
    }

    /// What the method may do, from the method alone.
    pub fn effect(&self) -> Effect {
        effect(&self.method)
    }
}

/// What a method may do to the data behind its path.
pub fn effect(method: &str) -> Effect {
    let method = method.to_uppercase();
    if SAFE_METHODS.contains(&method.as_str()) {
        Effect::Read
    } else if method == "POST" {
        Effect::Create
    } else {
        Effect::Change
    }
}

/// Which request of a check: the runner names it when it refuses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The nth setup step, from 1.
    Setup(usize),
    /// The check's own request.
    Main,
    /// The nth cleanup step, from 1.
    Cleanup(usize),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Setup(n) => write!(f, "setup step {n}"),
            Step::Main => write!(f, "its request"),
            Step::Cleanup(n) => write!(f, "cleanup step {n}"),
        }
    }
}

impl Check {
    /// Every request of the check in the order the runner sends them:
    /// setup steps, its own, cleanup steps.
    pub fn requests(&self) -> impl Iterator<Item = (Step, &Request)> {
        let setup = self
            .setup
            .iter()
            .enumerate()
            .map(|(i, r)| (Step::Setup(i + 1), r));
        let cleanup = self
            .cleanup
            .iter()
            .enumerate()
            .map(|(i, r)| (Step::Cleanup(i + 1), r));
        setup
            .chain(std::iter::once((Step::Main, &self.request)))
            .chain(cleanup)
    }

    /// Every request that may change data: the check's own (when its
    /// method writes), then its setup and cleanup steps that write.
    pub fn writing_requests(&self) -> impl Iterator<Item = &Request> {
        std::iter::once(&self.request)
            .chain(&self.setup)
            .chain(&self.cleanup)
            .filter(|r| r.writes())
    }

    /// Whether the check may change data, whatever its flag says: a
    /// DELETE, PUT or PATCH anywhere in it always may; POSTs may unless
    /// the spec says why not (`mutates = false`).
    pub fn changes_data(&self) -> bool {
        self.mutates
            || self
                .writing_requests()
                .any(|r| r.effect() == Effect::Change)
    }

    /// Whether every request of the check only reads.
    pub fn reads_only(&self) -> bool {
        self.writing_requests().next().is_none()
    }

    /// `GET /designs/{id}` — how endpoints and checks are matched.
    pub fn route(&self) -> String {
        format!(
            "{} {}",
            self.request.method.to_uppercase(),
            self.request.path
        )
    }
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub checks: Vec<Check>,
    /// `[load]`: objectives for every check without its own.
    pub load: Objectives,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct SpecError {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    check: Vec<toml::Spanned<RawCheck>>,
    load: Option<toml::Spanned<Objectives>>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|err| SpecError {
            path: path.display().to_string(),
            line: 0,
            col: 0,
            message: format!("cannot read: {err}"),
        })?;
        Spec::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|err| {
            let (line, col) = err
                .span()
                .map(|s| line_col(text, s.start))
                .unwrap_or((1, 1));
            SpecError {
                path: path.display().to_string(),
                line,
                col,
                message: err.message().to_string(),
            }
        })?;
        let load = match raw.load {
            Some(spanned) => {
                let (line, col) = line_col(text, spanned.span().start);
                let load = spanned.into_inner();
                load.check().map_err(|message| SpecError {
                    path: path.display().to_string(),
                    line,
                    col,
                    message: format!("[load]: {message}"),
                })?;
                load
            }
            None => Objectives::default(),
        };
        let mut checks = Vec::new();
        for spanned in raw.check {
            let (line, col) = line_col(text, spanned.span().start);
            let raw = spanned.into_inner();
            let method = raw.method.to_uppercase();
            let known = [
                "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
            ];
            if !known.contains(&method.as_str()) {
                return Err(SpecError {
                    path: path.display().to_string(),
                    line,
                    col,
                    message: format!("`{method}` is not an HTTP method"),
                });
            }
            if !raw.path.starts_with('/') {
                return Err(SpecError {
                    path: path.display().to_string(),
                    line,
                    col,
                    message: format!("path `{}` must start with `/`", raw.path),
                });
            }
            if raw.body.is_some() && raw.raw_body.is_some() {
                return Err(SpecError {
                    path: path.display().to_string(),
                    line,
                    col,
                    message: "give `body` or `raw_body`, not both".into(),
                });
            }
            let error = |message: String| SpecError {
                path: path.display().to_string(),
                line,
                col,
                message,
            };
            let writes = !SAFE_METHODS.contains(&method.as_str())
                || raw.setup.iter().chain(&raw.cleanup).any(Request::writes);
            if raw.mutates == Some(false) {
                // Only a POST can be one the API refuses without touching
                // anything already there: a DELETE, PUT or PATCH names
                // what it changes, and is a change whatever it answers.
                let changing =
                    std::iter::once((Step::Main, method.as_str(), raw.path.as_str()))
                        .chain(
                            raw.setup.iter().enumerate().map(|(i, r)| {
                                (Step::Setup(i + 1), r.method.as_str(), r.path.as_str())
                            }),
                        )
                        .chain(raw.cleanup.iter().enumerate().map(|(i, r)| {
                            (Step::Cleanup(i + 1), r.method.as_str(), r.path.as_str())
                        }))
                        .find(|(_, m, _)| effect(m) == Effect::Change);
                if let Some((step, m, p)) = changing {
                    return Err(error(format!(
                        "`mutates = false` may mark a check whose writes are all POSTs, and {step} is `{} {p}`, which changes what it names whatever it answers; remove `mutates = false` (on a protected stage the check then runs only with --allow-mutating, and only on ids this run made)",
                        m.to_uppercase()
                    )));
                }
            }
            let mutates = match (raw.mutates, raw.why.as_deref().map(str::trim)) {
                (Some(false), None | Some("")) if writes => {
                    return Err(error(format!(
                        "`{method} {}` sends a request that can change data, so it counts as changing data; `mutates = false` needs `why = \"...\"` saying why nothing is written (for example: the request is refused)",
                        raw.path
                    )))
                }
                (Some(declared), _) => declared,
                (None, _) => writes,
            };
            let objectives = Objectives {
                p95_ms: raw.p95_ms,
                error_rate: raw.error_rate,
            };
            objectives.check().map_err(error)?;
            checks.push(Check {
                objectives,
                service: raw.service,
                name: raw.name,
                request: Request {
                    service: None,
                    method,
                    path: raw.path,
                    params: raw.params,
                    query: raw.query,
                    headers: raw.headers,
                    body: raw.body,
                    raw_body: raw.raw_body,
                    content_type: raw.content_type,
                    expect: None,
                },
                expect: raw.expect,
                json: raw.json,
                mutates,
                protected: raw.protected,
                setup: raw.setup,
                cleanup: raw.cleanup,
                line,
            });
        }
        Ok(Spec {
            path: path.to_path_buf(),
            checks,
            load,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_keep_their_line() {
        let spec = Spec::parse(
            Path::new("smoke.toml"),
            "[[check]]\nservice = \"a\"\nmethod = \"get\"\npath = \"/x\"\nexpect = 200\n\n[[check]]\nservice = \"a\"\nmethod = \"POST\"\npath = \"/x\"\nexpect = 400\nraw_body = \"nope\"\n",
        )
        .unwrap();
        assert_eq!(spec.checks.len(), 2);
        assert_eq!(spec.checks[0].route(), "GET /x");
        assert_eq!(spec.checks[1].line, 7);
    }

    fn check(body: &str) -> Result<Check, SpecError> {
        let text =
            format!("[[check]]\nservice = \"a\"\npath = \"/x/{{id}}\"\nexpect = 200\n{body}");
        Spec::parse(Path::new("smoke.toml"), &text).map(|mut s| s.checks.remove(0))
    }

    #[test]
    fn every_method_but_get_head_and_options_changes_data_by_default() {
        for method in ["GET", "HEAD", "OPTIONS"] {
            assert!(
                !check(&format!("method = \"{method}\"\n")).unwrap().mutates,
                "{method}"
            );
        }
        for method in ["POST", "PUT", "PATCH", "DELETE", "ANY"] {
            assert!(
                check(&format!("method = \"{method}\"\n")).unwrap().mutates,
                "{method}"
            );
        }
        // A read whose setup writes changes data too.
        let read = check("method = \"GET\"\nsetup = [{ method = \"POST\", path = \"/x\" }]\n");
        assert!(read.unwrap().mutates);
    }

    #[test]
    fn declaring_a_write_harmless_needs_a_reason() {
        let err = check("method = \"POST\"\nmutates = false\n").unwrap_err();
        assert!(err.message.contains("needs `why"), "{err}");
        assert_eq!(err.line, 1);
        let ok = check("method = \"POST\"\nmutates = false\nwhy = \"refused with 400\"\n").unwrap();
        assert!(!ok.mutates);
    }

    #[test]
    fn only_a_post_may_be_declared_harmless() {
        let why = "mutates = false\nwhy = \"refused\"\n";
        for method in ["DELETE", "PUT", "PATCH", "ANY"] {
            let err = check(&format!("method = \"{method}\"\n{why}")).unwrap_err();
            assert!(
                err.message
                    .contains(&format!("its request is `{method} /x/{{id}}`")),
                "{err}"
            );
            assert_eq!(err.line, 1);
        }
        let err = check(&format!(
            "method = \"POST\"\ncleanup = [{{ method = \"DELETE\", path = \"/x/customer-42\" }}]\n{why}"
        ))
        .unwrap_err();
        assert!(
            err.message
                .contains("cleanup step 1 is `DELETE /x/customer-42`"),
            "{err}"
        );
        let err = check(&format!(
            "method = \"GET\"\nsetup = [{{ method = \"post\", path = \"/x\" }}, {{ method = \"patch\", path = \"/x/1\" }}]\n{why}"
        ))
        .unwrap_err();
        assert!(
            err.message.contains("setup step 2 is `PATCH /x/1`"),
            "{err}"
        );
        let ok = check(&format!(
            "method = \"GET\"\nsetup = [{{ method = \"POST\", path = \"/x\" }}]\n{why}"
        ))
        .unwrap();
        assert!(!ok.mutates && !ok.changes_data() && !ok.reads_only());
    }

    #[test]
    fn a_change_anywhere_changes_data_whatever_the_flag() {
        let mut delete = check("method = \"DELETE\"\n").unwrap();
        delete.mutates = false;
        assert!(delete.changes_data());
        let mut post = check("method = \"POST\"\n").unwrap();
        post.mutates = false;
        assert!(!post.changes_data());
        let read = check("method = \"GET\"\n").unwrap();
        assert!(!read.changes_data() && read.reads_only());
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let err = Spec::parse(Path::new("smoke.toml"), "[[check]]\nservice = \"a\"\nmethod = \"GET\"\npath = \"/x\"\nexpect = 200\nexpected = 3\n").unwrap_err();
        assert!(err.message.contains("expected"), "{err}");
        assert!(err.line >= 1);
    }
}
