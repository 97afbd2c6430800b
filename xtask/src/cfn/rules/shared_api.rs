//! Services that hang their `http` routes on one REST API another stack
//! made (`provider.apiGateway.restApiId`): each creates the path parts of
//! its routes under the API's root, and API Gateway refuses a second
//! resource of one name under one parent ("Another resource with the same
//! parent already has this name"), unless the service takes the part as
//! made (`provider.apiGateway.restApiResources`).

use std::collections::BTreeMap;

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::yaml::Node;
use crate::app::{routes, vars, App, Service};
use crate::cfn::intrinsic::{self, Function};

pub const SHARED_API_PATH: &str = "shared-api-path";
pub const MISSING_ROOT_RESOURCE: &str = "missing-root-resource";

/// A REST API another stack made, named without its root resource: the
/// CLI stops while it compiles the events, whatever events the service
/// has (osls `api-gateway/lib/validate.js`).
pub(super) fn root_resource(service: &Service, out: &mut Vec<Finding>) {
    // The settings may be kept in a shared file.
    let Some(api) = service.doc.path(&["provider", "apiGateway"]) else {
        return;
    };
    let (file, api) = service.followed(&service.file, api);
    let Some(id) = api.get("restApiId") else {
        return;
    };
    let empty = id.as_str().is_some_and(|t| t.is_empty()) || id.is_null();
    if empty || api.get("restApiRootResourceId").is_some() {
        return;
    }
    out.push(Finding::new(
        &file,
        id.pos,
        MISSING_ROOT_RESOURCE,
        "the Serverless CLI stops with `Missing required \"provider.apiGateway.restApiRootResourceId\" property (needed if \"provider.apiGateway.restApiId\" is provided)`",
        "give `restApiRootResourceId` too (the API's root resource id, as its stack exports it)",
    ));
}

/// One finding per top-level path part that two services sharing a REST
/// API both create, at the first route of the later service (in the app's
/// order) that creates it.
pub(super) fn path_parts(app: &App, stage: &Stage, out: &mut Vec<Finding>) {
    // The API's identity → the first service creating each top-level part.
    let mut created: BTreeMap<String, BTreeMap<String, &str>> = BTreeMap::new();
    // The service whose own API the others import deploys first: its
    // parts are there before theirs.
    let mut sharing: Vec<(&Service, String)> = app
        .services
        .iter()
        .filter_map(|s| exported_api(s, stage).map(|api| (s, api)))
        .collect();
    sharing.extend(
        app.services
            .iter()
            .filter_map(|s| shared_api(s, stage).map(|api| (s, api))),
    );
    for (service, api) in sharing {
        let reused = reused_parts(service);
        let mut own: BTreeMap<String, &routes::Route> = BTreeMap::new();
        let all = routes::routes(service, stage);
        for route in all.iter().filter(|r| r.kind == "http") {
            let Some(part) = route.path.trim_start_matches('/').split('/').next() else {
                continue;
            };
            if part.is_empty() || part.contains("${") || reused.contains(part) {
                continue;
            }
            own.entry(part.to_string()).or_insert(route);
        }
        let parts = created.entry(api.clone()).or_default();
        for (part, route) in own {
            match parts.get(part.as_str()) {
                Some(first) => out.push(Finding::new(
                    &service.file,
                    crate::app::yaml::Pos {
                        line: route.line,
                        col: route.col,
                    },
                    SHARED_API_PATH,
                    format!(
                        "`/{part}` is created by both `{first}` and `{}` on the REST API they share (`restApiId` {api}): API Gateway refuses the second (\"Another resource with the same parent already has this name\")",
                        service.key
                    ),
                    format!(
                        "give `{}` the part `{first}` made, under `provider.apiGateway.restApiResources` (`/{part}: <its resource id, exported by {first}>`), or keep the `/{part}` routes in one service",
                        service.key
                    ),
                )),
                None => {
                    parts.insert(part, service.key.as_str());
                }
            }
        }
    }
}

/// What identifies the REST API a service's routes go on when another
/// stack made it: its `restApiId` resolved in `stage`, or the export it
/// imports. `None` for a service with an API of its own, or an id that
/// cannot be known offline.
fn shared_api(service: &Service, stage: &Stage) -> Option<String> {
    let node = service.doc.path(&["provider", "apiGateway", "restApiId"])?;
    let ctx = service.vars(stage);
    let resolve = |text: &str| vars::resolve(text, &ctx).filter(|t| !t.contains("${"));
    if let Some(text) = node.as_str().filter(|_| node.tag.is_none()) {
        return resolve(text).map(|id| format!("`{id}`"));
    }
    let call = intrinsic::decode(node)?;
    if call.function != Function::ImportValue {
        return None;
    }
    let name = call.arg.as_str().and_then(resolve)?;
    Some(format!("imported from `{name}`"))
}

/// The export a service gives its own REST API under (an output whose
/// value is `!Ref ApiGatewayRestApi`, the framework's API), as the
/// services importing it name it.
fn exported_api(service: &Service, stage: &Stage) -> Option<String> {
    if service
        .doc
        .path(&["provider", "apiGateway", "restApiId"])
        .is_some()
    {
        return None;
    }
    let ctx = service.vars(stage);
    service
        .entries("Outputs")
        .into_iter()
        .find_map(|(_, _, output)| {
            let call = intrinsic::decode(output.get("Value")?)?;
            if call.function != Function::Ref || call.arg.as_str()? != "ApiGatewayRestApi" {
                return None;
            }
            let name = output.path(&["Export", "Name"])?;
            let text = match intrinsic::decode(name) {
                Some(call) if call.function == Function::Sub => call.arg.as_str()?,
                Some(_) => return None,
                None => name.as_str()?,
            };
            let name = vars::resolve(text, &ctx).filter(|t| !t.contains("${"))?;
            Some(format!("imported from `{name}`"))
        })
}

/// The top-level path parts a service takes as made
/// (`restApiResources: {/feed: abc123}`, keys with or without the slash).
fn reused_parts(service: &Service) -> std::collections::BTreeSet<String> {
    service
        .doc
        .path(&["provider", "apiGateway", "restApiResources"])
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(key, _)| key.as_str())
        .filter_map(|key| key.trim_start_matches('/').split('/').next())
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}
