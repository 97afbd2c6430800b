//! Every HTTP endpoint of an app, from the `http` and `httpApi` events of
//! every function, joined with the API base URLs of the deployed stacks.

use std::fmt::Write as _;

use smoke_tests::Endpoint;

pub use crate::app::routes::routes;
use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::stacks::StackState;

/// The base URL of a service's API from its stack outputs, in a form this
/// machine can reach: on an emulator, `https://{id}.execute-api.{region}.amazonaws.com/...`
/// becomes `{endpoint}/_aws/execute-api/{id}/...`.
pub fn base_url(state: &StackState, kind: &str, emulator: Option<&str>) -> Option<String> {
    let url = match kind {
        "httpApi" => state.outputs.get("HttpApiUrl").cloned().or_else(|| {
            state
                .outputs
                .get("HttpApiId")
                .map(|id| format!("https://{id}.execute-api.amazonaws.com"))
        }),
        _ => state.outputs.get("ServiceEndpoint").cloned(),
    }?;
    match emulator {
        None => Some(url),
        Some(endpoint) => {
            let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
            let (host, path) = rest
                .split_once('/')
                .map(|(h, p)| (h, format!("/{p}")))
                .unwrap_or((rest, String::new()));
            let api_id = host.split('.').next()?;
            Some(format!(
                "{endpoint}/_aws/execute-api/{api_id}{}",
                path.trim_end_matches('/')
            ))
        }
    }
}

/// Every endpoint of the app, joined with the deployed base URLs.
pub fn endpoints(
    app: &App,
    stage: &Stage,
    states: &[(String, StackState)],
    emulator: Option<&str>,
) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for service in &app.services {
        let state = states
            .iter()
            .find(|(k, _)| *k == service.key)
            .map(|(_, s)| s);
        for route in routes(service, stage) {
            out.push(Endpoint {
                service: service.key.clone(),
                method: route.method.clone(),
                path: route.path.clone(),
                protected: route.authorizer.is_some(),
                base_url: state.and_then(|s| base_url(s, route.kind, emulator)),
                at: format!("{}:{}", service.display_file(), route.line),
            });
        }
    }
    out
}

/// Appends to `text` one check per route of the app in `stage` that
/// `checked` (service, `METHOD /path`) does not hold; the count added.
pub fn add_checks(
    app: &App,
    stage: &Stage,
    checked: &[(String, String)],
    text: &mut String,
) -> usize {
    let mut count = 0;
    for service in &app.services {
        for route in routes(service, stage) {
            let method = if route.method == "ANY" || route.method == "*" {
                "GET".to_string()
            } else {
                route.method.to_uppercase()
            };
            let params: Vec<&str> = route
                .path
                .split('/')
                .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
                .map(|p| p.trim_end_matches('+'))
                .collect();
            let key = (service.key.clone(), format!("{method} {}", route.path));
            if checked.contains(&key) {
                continue;
            }
            if count == 0 && !checked.is_empty() {
                text.push_str(
                    "\n# Added by smoke --init --update: the endpoints without a check.\n",
                );
            }
            let writes = !smoke_tests::spec::SAFE_METHODS.contains(&method.as_str());
            let expect = if writes || params.is_empty() {
                200
            } else {
                404
            };
            let _ = write!(
                text,
                "\n# {} line {}\n[[check]]\nservice = {}\nmethod = {}\npath = {}\n",
                crate::sys::paths::display(&service.file),
                route.line,
                toml_string(&service.key),
                toml_string(&method),
                toml_string(&route.path)
            );
            if !params.is_empty() {
                let list: Vec<String> = params
                    .iter()
                    .map(|p| format!("{} = \"${{id}}\"", toml_key(p)))
                    .collect();
                let _ = writeln!(text, "params = {{ {} }}", list.join(", "));
            }
            if writes {
                let _ = writeln!(
                    text,
                    "# writes: runs on a protected stage only with --allow-mutating"
                );
            }
            let _ = writeln!(text, "expect = {expect}");
            count += 1;
        }
    }
    count
}

/// The header of a spec `smoke --init` (or `init`) writes.
pub const SPEC_HEADER: &str =
    "# Smoke checks, one per endpoint, written by `cargo xtask smoke --init`.\n\
     # Every deploy runs them. The expected statuses are a first guess: make\n\
     # each check say what its endpoint must answer (`json = { ... }` checks\n\
     # the body). `${id}` is a fresh value per check and run.\n";

/// `text` as a TOML string, quoted and escaped.
pub fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// `key` as a TOML key: bare where TOML allows, else quoted.
pub fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        toml_string(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_urls_need_no_dns() {
        let mut state = StackState::default();
        state.outputs.insert(
            "HttpApiUrl".into(),
            "https://a1b2.execute-api.us-east-1.amazonaws.com".into(),
        );
        state.outputs.insert(
            "ServiceEndpoint".into(),
            "https://r3s4.execute-api.eu-west-1.amazonaws.com/dev".into(),
        );
        assert_eq!(
            base_url(&state, "httpApi", Some("http://127.0.0.1:4566")).as_deref(),
            Some("http://127.0.0.1:4566/_aws/execute-api/a1b2")
        );
        assert_eq!(
            base_url(&state, "http", Some("http://127.0.0.1:4566")).as_deref(),
            Some("http://127.0.0.1:4566/_aws/execute-api/r3s4/dev")
        );
        assert_eq!(
            base_url(&state, "httpApi", None).as_deref(),
            Some("https://a1b2.execute-api.us-east-1.amazonaws.com")
        );
    }
}
