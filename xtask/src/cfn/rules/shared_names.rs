//! Names two stacks may not share: two declared stages in one account and
//! region that give a resource one name (`shared-across-stages`, audit),
//! and two services that create a resource of one type under one name
//! (`same-resource-name`, validate). Which names those are is
//! `names::SCOPED_PROPERTIES`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::names::{scoped_property, SCOPED_PROPERTIES};
use crate::app::diag::Finding;
use crate::app::stage::{Stage, StageConfig};
use crate::app::vars;
use crate::app::yaml::{Node, Pos};
use crate::app::App;

pub const SHARED_ACROSS_STAGES: &str = "shared-across-stages";
pub const SHARED_PHYSICAL_NAME: &str = "same-resource-name";

/// Two declared stages that deploy to one account and region (the same
/// `account`, or none given for either) and give a resource one name: a
/// per-stage map whose entries agree (`dev: ""`, `staging: ""`) makes them
/// share a table. A name that is the same in every stage is `unscoped-name`
/// already, and not said again. One finding per pair of stages, at the
/// first such name, counting the others (they share one cause).
pub(super) fn shared_across_stages(app: &App) -> Vec<Finding> {
    let mut out = Vec::new();
    if !app.policy.is_declared() {
        return out;
    }
    // A preview pattern is checked through one stage it allows, and
    // named by the pattern.
    let stages: Vec<(String, String, &StageConfig)> = app
        .policy
        .checked_stages()
        .into_iter()
        .filter(|(.., c)| !c.emulator)
        .collect();
    for (i, (a, name_a, config_a)) in stages.iter().enumerate() {
        for (b, name_b, config_b) in &stages[i + 1..] {
            if config_a.region != config_b.region || config_a.account != config_b.account {
                continue;
            }
            let region = config_a.region.as_str();
            let mut shared: Vec<(PathBuf, Pos, String)> = Vec::new();
            for service in &app.services {
                let (ctx_a, ctx_b) = (
                    service.vars_at(name_a, region),
                    service.vars_at(name_b, region),
                );
                let probe = service.vars_at("xtask-probe", region);
                for (file, id, resource) in service.entries("Resources") {
                    let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
                        continue;
                    };
                    for (_, key) in SCOPED_PROPERTIES.iter().filter(|(t, _)| *t == ty) {
                        let Some(node) = scoped_property(resource, key) else {
                            continue;
                        };
                        let Some(text) = node.as_str() else { continue };
                        let name = |ctx| vars::evaluate(text, ctx).known();
                        let (Some(in_a), Some(in_b)) = (name(&ctx_a), name(&ctx_b)) else {
                            continue;
                        };
                        if in_a != in_b || name(&probe).as_ref() == Some(&in_a) {
                            continue;
                        }
                        shared.push((
                            file.to_path_buf(),
                            node.pos,
                            format!(
                                "{ty} `{}` of {} is named `{in_a}`",
                                id.as_str().unwrap_or(""),
                                service.key
                            ),
                        ));
                    }
                }
            }
            if let Some((file, pos, first)) = shared.first() {
                let more = match shared.len() {
                    1 => String::new(),
                    n => format!(" (and {} more resources the same way)", n - 1),
                };
                out.push(Finding::new(
                    file,
                    *pos,
                    SHARED_ACROSS_STAGES,
                    format!("{first} in both {a} and {b}, which deploy to one account and region: the two stages would share it{more}"),
                    format!("give {a} and {b} different names, e.g. with `${{sls:stage}}` in the name"),
                ));
            }
        }
    }
    out
}

/// Two services that create a resource of one type under one name: the
/// second stack's create fails ("already exists"), or worse, a stack
/// removes what another still uses. Names are compared as they resolve for
/// the stage, an unset `${env:X}` or an `${ssm:}` kept as written (it is
/// one value in one deploy).
pub(super) fn physical_names(app: &App, stage: &Stage, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<(String, String), (String, PathBuf, Pos)> = BTreeMap::new();
    for service in &app.services {
        let mut ctx = service.vars(stage);
        ctx.symbolic = true;
        let dotenv = service
            .doc
            .get("useDotenv")
            .and_then(Node::as_str)
            .is_some_and(|v| v == "true");
        for (file, id, resource) in service.entries("Resources") {
            let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
                continue;
            };
            for (_, key) in SCOPED_PROPERTIES.iter().filter(|(t, _)| *t == ty) {
                let Some(node) = scoped_property(resource, key) else {
                    continue;
                };
                let Some(text) = node.as_str() else { continue };
                // With `useDotenv`, each service reads its own `.env`: one
                // variable's name is no proof of one value.
                if dotenv && text.contains("${env:") {
                    continue;
                }
                let vars::Resolved::Known(name) = vars::evaluate(text, &ctx) else {
                    continue;
                };
                let here = format!("{}:{}", service.key, id.as_str().unwrap_or(""));
                match seen.get(&(ty.to_string(), name.clone())) {
                    Some((there, other_file, other_pos))
                        if !there.starts_with(&format!("{}:", service.key)) =>
                    {
                        out.push(Finding::new(
                            file,
                            node.pos,
                            SHARED_PHYSICAL_NAME,
                            format!(
                                "{ty} `{name}` ({here}) is also created by {there} ({}:{}); two stacks cannot own one resource",
                                crate::sys::paths::display(other_file),
                                other_pos.line
                            ),
                            "create it in one service and pass its name to the other (an export, a Compose param)",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert((ty.to_string(), name), (here, file.to_path_buf(), node.pos));
                    }
                }
            }
        }
    }
}
