//! The monitoring family of the security review: on a protected stage
//! without generated monitoring (`[stages.<stage>.monitoring]`, whose stack
//! `cfn/monitoring.rs` makes), the functions and APIs of a service that no
//! alarm of its own watches (`unmonitored`). A broken deploy there would
//! go unseen.

use std::collections::BTreeSet;

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::yaml::Node;
use crate::app::Service;
use crate::cfn::normalized_function_name;

pub const UNMONITORED: &str = "unmonitored";

/// Plugins that give a service's functions alarms of their own.
const ALARM_PLUGINS: &[&str] = &["serverless-plugin-aws-alerts"];

/// On a protected stage without generated monitoring, the functions of a
/// service that no alarm of its own watches: an alarm watches a function
/// when it has an action (`AlarmActions`) and its dimensions name the
/// function (its logical id through `Ref`, or its key). One finding per
/// service, at its `functions:`.
pub(super) fn unmonitored(service: &Service, stage: &Stage) -> Option<Finding> {
    if !stage.is_protected() || stage.monitoring().is_some() {
        return None;
    }
    let functions = service.doc.get("functions")?;
    let keys: Vec<&str> = functions
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    if keys.is_empty() {
        return None;
    }
    if crate::cfn::plugins(service)
        .iter()
        .any(|p| ALARM_PLUGINS.contains(&p.as_str()))
    {
        return None;
    }
    let mut watched = BTreeSet::new();
    let mut api_watched = false;
    for (_, _, resource) in service.entries("Resources") {
        if resource.get("Type").and_then(Node::as_str) != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        // An alarm that tells nobody watches nothing.
        let wired = resource
            .path(&["Properties", "AlarmActions"])
            .and_then(Node::as_seq)
            .is_some_and(|actions| !actions.is_empty());
        if !wired {
            continue;
        }
        api_watched |= resource
            .path(&["Properties", "Namespace"])
            .and_then(Node::as_str)
            == Some("AWS/ApiGateway");
        if let Some(dimensions) = resource.path(&["Properties", "Dimensions"]) {
            dimensions.walk(&mut |_, node| {
                if let Some(text) = node.as_str() {
                    watched.insert(text.to_string());
                }
            });
        }
    }
    let bare: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| {
            let logical = format!("{}LambdaFunction", normalized_function_name(key));
            !watched.contains(&logical)
                && !watched
                    .iter()
                    .any(|w| w.ends_with(&format!("-{key}")) || w == key)
        })
        .collect();
    let events = service.events();
    let api_bare = !api_watched
        && events
            .iter()
            .any(|e| e.get("http").is_some() || e.get("httpApi").is_some());
    let mut what = Vec::new();
    if !bare.is_empty() {
        what.push(format!(
            "{} (errors, throttles)",
            list(&bare, "function", "functions")
        ));
    }
    if api_bare {
        what.push("its API (server errors, latency)".to_string());
    }
    if what.is_empty() {
        return None;
    }
    Some(Finding::new(
        &service.file,
        functions.pos,
        UNMONITORED,
        format!(
            "protected stage {stage}: no alarm watches {} of {}, so a broken deploy goes unseen",
            what.join(" or "),
            service.key
        ),
        format!("add `[stages.{stage}.monitoring]` to deploy.toml (deploy then keeps alarms and a dashboard for every function and API of the stage), or give each function an AWS::CloudWatch::Alarm of its own"),
    ))
}

fn list(items: &[&str], one: &str, many: &str) -> String {
    let shown: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    if items.len() == 1 {
        format!("{one} {}", shown[0])
    } else {
        format!("{many} {}", shown.join(", "))
    }
}
