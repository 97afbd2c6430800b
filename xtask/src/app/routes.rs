//! The HTTP routes a service declares (`http` and `httpApi` events of its
//! functions), resolved for a stage: what smoke checks, what `info`
//! lists, and what the security review judges, before anything deploys.

use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::Node;
use crate::app::Service;

/// A route as the service declares it, before it is deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The authorizer's name (httpApi) or kind (http), when there is one.
    pub authorizer: Option<String>,
    /// `httpApi` or `http`.
    pub kind: &'static str,
    /// An `http` route that needs an API key (`private: true`).
    pub private: bool,
    pub line: usize,
    pub col: usize,
}

/// The routes of one service, resolved for the stage where they use variables.
pub fn routes(service: &Service, stage: &Stage) -> Vec<Route> {
    let ctx = service.vars(stage);
    let resolve = |text: &str| vars::resolve(text, &ctx).unwrap_or_else(|| text.to_string());
    let mut routes = Vec::new();
    for event in service.events() {
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
            let private = node
                .get("private")
                .and_then(Node::as_str)
                .is_some_and(|p| p == "true");
            routes.push(Route {
                method,
                path,
                authorizer,
                kind,
                private,
                line: node.pos.line,
                col: node.pos.col,
            });
        }
    }
    routes
}
