//! What a run may send to a protected stage, decided from each request
//! itself — its method and the values of its path parameters as they
//! will be sent — never from a flag of the spec, so a check that says it
//! writes nothing cannot say its way past it. Every request the runner
//! sends (setup, the check's own, without a token, cleanup, each one of
//! `load`) passes through [`Guard::admit`].
//!
//! On a protected stage a request may read anything; a POST or a change
//! (DELETE, PUT, PATCH, `ANY`, any other method) only when every path
//! parameter of the route it reaches holds an id this run made (it
//! carries the run id: `${id}` is `smoke-<run id>-<n>`); a change needs
//! at least one such parameter, so a route naming no id (`DELETE
//! /designs`) is refused. Under `load` a protected stage gets reads only.

use std::sync::Arc;

use crate::spec::{effect, Effect};
use crate::Endpoint;

/// The fewest characters of a run id that tell this run's ids apart
/// from everyone else's; the deploy tool's have 24.
pub const MIN_RUN_ID: usize = 12;

/// What may reach the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// An unprotected stage: what the spec says.
    Open,
    /// A protected stage: reads, and writes to ids this run made.
    Protected,
    /// A protected stage under load: reads only.
    ReadOnly,
}

/// The gate with what it judges by: the run's id and the app's routes.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub gate: Gate,
    pub run_id: String,
    pub routes: Arc<Vec<Endpoint>>,
}

/// Why a request may not reach a protected stage, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Under load, a method that writes.
    Writes,
    /// The run id is too short to tell the run's ids apart.
    ShortRunId(String),
    /// A path that could reach another item than the one it names.
    Path(String),
    /// No route of the service takes the request.
    NoRoute { service: String },
    /// A path parameter that holds no id of this run.
    Param {
        route: String,
        name: String,
        value: String,
    },
    /// A change to a route that names no id.
    NoId { route: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Writes => write!(
                f,
                "load sends only reads to a protected stage; it leaves this check out"
            ),
            Refusal::ShortRunId(id) => write!(
                f,
                "the run id `{id}` is shorter than {MIN_RUN_ID} characters, too short to tell this run's ids from others; give the runner a longer one"
            ),
            Refusal::Path(why) => write!(
                f,
                "its path {why}, so it could reach another item than the one it names; write the path plainly, with `${{id}}` for the id"
            ),
            Refusal::NoRoute { service } => write!(
                f,
                "no route of {service} takes it, so which parts of its path are ids cannot be told; point it at a route the service declares"
            ),
            Refusal::Param { route, name, value } => write!(
                f,
                "path parameter `{name}` of route `{route}` is `{value}`, which this run did not make; on a protected stage a write reaches only ids this run made: use `${{id}}` (made by the check's setup step) or `${{run_id}}`, or keep the check to unprotected stages"
            ),
            Refusal::NoId { route } => write!(
                f,
                "route `{route}` names no id, so it changes data this run did not make; on a protected stage DELETE, PUT and PATCH reach only paths with an id this run made (`${{id}}`)"
            ),
        }
    }
}

impl Guard {
    /// Whether `method path` may be sent to `service`; `path` is the one
    /// sent (placeholders filled, no query).
    pub fn admit(&self, service: &str, method: &str, path: &str) -> Result<(), Refusal> {
        let effect = effect(method);
        match (self.gate, effect) {
            (Gate::Open, _) | (_, Effect::Read) => return Ok(()),
            (Gate::ReadOnly, _) => return Err(Refusal::Writes),
            (Gate::Protected, _) => {}
        }
        if self.run_id.chars().count() < MIN_RUN_ID {
            return Err(Refusal::ShortRunId(self.run_id.to_string()));
        }
        let segments = segments(path)?;
        let method = method.to_uppercase();
        let mut matched = 0;
        for route in self
            .routes
            .iter()
            .filter(|r| r.service == service && (r.method == method || r.method == "ANY"))
        {
            let Some(params) = parameters(&route.path, &segments) else {
                continue;
            };
            matched += 1;
            let name = || format!("{method} {}", route.path);
            for (param, value) in &params {
                if !self.made_by_run(value) {
                    return Err(Refusal::Param {
                        route: name(),
                        name: param.clone(),
                        value: value.clone(),
                    });
                }
            }
            if params.is_empty() && effect == Effect::Change {
                return Err(Refusal::NoId { route: name() });
            }
        }
        if matched == 0 {
            return Err(Refusal::NoRoute {
                service: service.to_string(),
            });
        }
        Ok(())
    }

    /// An id this run made carries its run id, in characters a path
    /// segment holds as they are (a greedy parameter's `/` apart).
    fn made_by_run(&self, value: &str) -> bool {
        value.contains(self.run_id.as_str())
            && value
                .split('/')
                .all(|part| !part.is_empty() && part.chars().all(unreserved))
    }
}

fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// The path's segments, refusing what an HTTP client or a server would
/// read as another path: dot segments (`..` climbs out of an id),
/// escapes, backslashes, a query or fragment, empty segments.
fn segments(path: &str) -> Result<Vec<&str>, Refusal> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Refusal::Path(format!("`{path}` does not start with `/`")));
    };
    for bad in ['%', '\\', '?', '#'] {
        if path.contains(bad) {
            return Err(Refusal::Path(format!("`{path}` has `{bad}`")));
        }
    }
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    if let Some(bad) = segments
        .iter()
        .find(|s| s.is_empty() || **s == "." || **s == "..")
    {
        let what = if bad.is_empty() {
            "an empty segment".to_string()
        } else {
            format!("a `{bad}` segment")
        };
        return Err(Refusal::Path(format!("`{path}` has {what}")));
    }
    Ok(segments)
}

/// The path parameters of `route` (`/designs/{id}`, `/{proxy+}`, `*`) in
/// `segments`, by name; `None` when the route does not take them.
fn parameters(route: &str, segments: &[&str]) -> Option<Vec<(String, String)>> {
    if route == "*" {
        return (!segments.is_empty()).then(|| vec![("*".into(), segments.join("/"))]);
    }
    let route = route.trim_start_matches('/');
    let parts: Vec<&str> = if route.is_empty() {
        Vec::new()
    } else {
        route.split('/').collect()
    };
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let name = part.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
        match name {
            Some(greedy) if greedy.ends_with('+') => {
                let rest = segments.get(i..).filter(|r| !r.is_empty())?;
                params.push((greedy.trim_end_matches('+').to_string(), rest.join("/")));
                return Some(params);
            }
            Some(name) => params.push((name.to_string(), segments.get(i)?.to_string())),
            None if segments.get(i) == Some(part) => {}
            None => return None,
        }
    }
    (parts.len() == segments.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "20250101t000000000z-ab12";

    fn routes() -> Vec<Endpoint> {
        [
            ("GET", "/designs/{id}"),
            ("POST", "/designs"),
            ("DELETE", "/designs"),
            ("DELETE", "/designs/{id}"),
            ("PUT", "/designs/{id}/image"),
            ("PATCH", "/users/{user}/designs/{id}"),
            ("ANY", "/files/{path+}"),
        ]
        .iter()
        .map(|(method, path)| Endpoint {
            service: "web".into(),
            method: method.to_string(),
            path: path.to_string(),
            protected: false,
            base_url: None,
            at: "serverless.yml:1".into(),
        })
        .collect()
    }

    fn admit(gate: Gate, method: &str, path: &str) -> Result<(), Refusal> {
        let guard = Guard {
            gate,
            run_id: RUN.into(),
            routes: Arc::new(routes()),
        };
        guard.admit("web", method, &path.replace("RUN", RUN))
    }

    #[test]
    fn routes_give_their_parameters() {
        let p = |route, path: &str| {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            parameters(route, &segments)
        };
        assert_eq!(
            p("/designs/{id}/image", "/designs/a/image"),
            Some(vec![("id".into(), "a".into())])
        );
        assert_eq!(p("/designs/{id}", "/designs/a/image"), None);
        assert_eq!(p("/designs/{id}/image", "/designs/a"), None);
        assert_eq!(p("/designs", "/designs"), Some(vec![]));
        assert_eq!(
            p("/files/{path+}", "/files/a/b"),
            Some(vec![("path".into(), "a/b".into())])
        );
        assert_eq!(p("*", "/a/b"), Some(vec![("*".into(), "a/b".into())]));
    }

    #[test]
    fn a_protected_stage_takes_writes_only_to_ids_the_run_made() {
        use Gate::Protected;
        assert_eq!(admit(Protected, "GET", "/designs/customer-42"), Ok(()));
        assert_eq!(admit(Protected, "DELETE", "/designs/smoke-RUN-3"), Ok(()));
        assert_eq!(
            admit(Protected, "put", "/designs/smoke-RUN-3/image"),
            Ok(())
        );
        assert_eq!(admit(Protected, "POST", "/designs"), Ok(()));
        assert_eq!(admit(Protected, "DELETE", "/files/smoke-RUN-3"), Ok(()));
        assert!(matches!(
            admit(Protected, "DELETE", "/designs/customer-42"),
            Err(Refusal::Param { name, value, .. }) if name == "id" && value == "customer-42"
        ));
        // An id of an earlier run is not this run's.
        assert!(matches!(
            admit(
                Protected,
                "DELETE",
                "/designs/smoke-20240101t000000000z-ffff-3"
            ),
            Err(Refusal::Param { .. })
        ));
        // Every parameter, not only the last.
        assert!(matches!(
            admit(Protected, "PATCH", "/users/customer-42/designs/smoke-RUN-3"),
            Err(Refusal::Param { name, .. }) if name == "user"
        ));
        assert!(matches!(
            admit(Protected, "DELETE", "/designs"),
            Err(Refusal::NoId { route }) if route == "DELETE /designs"
        ));
        assert!(matches!(
            admit(Protected, "DELETE", "/templates/smoke-RUN-3"),
            Err(Refusal::NoRoute { .. })
        ));
        for path in [
            "/designs/smoke-RUN-3/../customer-42",
            "/designs/smoke-RUN-3/%2e%2e/customer-42",
            "/designs/smoke-RUN-3\\..\\customer-42",
            "/designs//customer-42",
            "/designs/smoke-RUN-3?then=customer-42",
        ] {
            assert!(
                matches!(admit(Protected, "DELETE", path), Err(Refusal::Path(_))),
                "{path}"
            );
        }
        // A value that carries the run id and more than an id may.
        assert!(matches!(
            admit(Protected, "DELETE", "/designs/smoke-RUN-3,customer-42"),
            Err(Refusal::Param { .. })
        ));
    }

    #[test]
    fn load_sends_only_reads_to_a_protected_stage_and_anything_elsewhere() {
        assert_eq!(admit(Gate::ReadOnly, "GET", "/designs/x"), Ok(()));
        assert_eq!(
            admit(Gate::ReadOnly, "POST", "/designs"),
            Err(Refusal::Writes)
        );
        assert_eq!(admit(Gate::Open, "DELETE", "/designs/customer-42"), Ok(()));
        assert_eq!(admit(Gate::Open, "DELETE", "/nowhere/../x"), Ok(()));
    }

    #[test]
    fn a_short_run_id_cannot_vouch_for_an_id() {
        let guard = Guard {
            gate: Gate::Protected,
            run_id: "run".into(),
            routes: Arc::new(routes()),
        };
        assert!(matches!(
            guard.admit("web", "DELETE", "/designs/rerun"),
            Err(Refusal::ShortRunId(_))
        ));
    }
}
