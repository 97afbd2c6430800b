//! Every HTTP endpoint of an app, from the `http` and `httpApi` events of
//! every function, joined with the API base URLs of the deployed stacks.

use smoke_tests::Endpoint;

use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::Node;
use crate::app::{App, Service};
use crate::aws::stacks::StackState;

/// A route as the service declares it, before it is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The authorizer's name (httpApi) or kind (http), when there is one.
    pub authorizer: Option<String>,
    /// `httpApi` or `http`.
    pub kind: &'static str,
    pub line: usize,
}

/// The routes of one service, resolved for the stage where they use variables.
pub fn routes(service: &Service, stage: &Stage) -> Vec<Route> {
    let ctx = service.vars(stage);
    let resolve = |text: &str| vars::resolve(text, &ctx).unwrap_or_else(|| text.to_string());
    let mut routes = Vec::new();
    for (_, function) in service
        .doc
        .get("functions")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        for event in function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            for kind in ["httpApi", "http"] {
                let Some(node) = event.get(kind) else {
                    continue;
                };
                let kind: &'static str = if kind == "httpApi" { "httpApi" } else { "http" };
                let (method, path, authorizer) = match node.as_str() {
                    Some(text) => {
                        let text = resolve(text);
                        match text.split_once(' ') {
                            Some((m, p)) => (m.to_string(), p.trim().to_string(), None),
                            // `httpApi: '*'`: every method and path.
                            None => ("ANY".to_string(), text, None),
                        }
                    }
                    None => {
                        let method = node
                            .get("method")
                            .and_then(Node::as_str)
                            .map(&resolve)
                            .unwrap_or_else(|| "ANY".into());
                        let path = node
                            .get("path")
                            .and_then(Node::as_str)
                            .map(&resolve)
                            .unwrap_or_else(|| "*".into());
                        let authorizer = node.get("authorizer").and_then(|a| {
                            a.as_str().map(str::to_string).or_else(|| {
                                a.get("name")
                                    .and_then(Node::as_str)
                                    .map(str::to_string)
                                    .or_else(|| {
                                        a.get("type").and_then(Node::as_str).map(str::to_string)
                                    })
                            })
                        });
                        (method, path, authorizer)
                    }
                };
                let method = if method == "*" {
                    "ANY".to_string()
                } else {
                    method.to_uppercase()
                };
                let path = if path.starts_with('/') || path == "*" {
                    path
                } else {
                    format!("/{path}")
                };
                routes.push(Route {
                    method,
                    path,
                    authorizer,
                    kind,
                    line: node.pos.line,
                });
            }
        }
    }
    routes
}

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
