//! What loading an app refuses before anything reads it further, each at
//! the file and line: a serverless.yml that is not a map with a plain
//! `service:` name, a stack name the tool cannot evaluate in some stage,
//! two services that would deploy to one stack; and the region of an app
//! without a manifest that names it, which the files must say.

use std::path::Path;

use super::stage::{Policy, Region};
use super::yaml::{self, FileError, Node, Pos};
use super::{vars, Service};

/// What the framework expects at the top of a serverless.yml: a map with
/// a `service:` name of plain text.
pub(super) fn check_shape(file: &Path, doc: &Node) -> Result<(), FileError> {
    let error = |pos: Option<yaml::Pos>, message: &str| FileError {
        path: file.to_path_buf(),
        pos,
        message: message.to_string(),
    };
    let Some(entries) = doc.as_map() else {
        return Err(error(
            Some(doc.pos),
            "the top level must be a map (with `service:`, `provider:`, ...)",
        ));
    };
    if entries.is_empty() {
        return Err(error(
            None,
            "is empty; a service needs at least `service:` and `provider:`",
        ));
    }
    let Some(service) = doc.get("service") else {
        return Err(error(Some(doc.pos), "has no `service:` name"));
    };
    let name = service
        .as_str()
        .or_else(|| service.get("name").and_then(Node::as_str));
    match name {
        Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => Ok(()),
        _ => Err(error(
            Some(service.pos),
            "`service:` must be a name of plain text (no control characters)",
        )),
    }
}

/// A service whose `service:` name or `provider.stackName` the tool
/// refuses to evaluate in some stage (a loop through `${file()}`, a file
/// it reads that cannot be read whole, past the work budget) has no stack
/// name there: refused at load, where it is written, so no command goes on
/// with a stack it cannot name.
pub(super) fn names_evaluate(services: &[Service], policy: &Policy) -> Vec<FileError> {
    let mut errors = Vec::new();
    for service in services {
        let names = [
            &["service"][..],
            &["service", "name"],
            &["provider", "stackName"],
        ];
        let refusal = policy.stage_names().into_iter().find_map(|stage| {
            let region = policy
                .stage(stage)
                .map(|c| c.region.as_str())
                .unwrap_or("us-east-1");
            let ctx = service.vars_at(stage, region);
            names.iter().find_map(|keys| {
                let node = service.doc.path(keys)?;
                match vars::evaluate(node.as_str()?, &ctx) {
                    vars::Resolved::Refused(refusal) => Some((keys.join("."), node.pos, refusal)),
                    _ => None,
                }
            })
        });
        if let Some((name, pos, refusal)) = refusal {
            errors.push(FileError {
                path: service.file.clone(),
                pos: Some(pos),
                message: format!("`{name}:` cannot be evaluated: {refusal}; fix it so the service has a stack name"),
            });
        }
    }
    errors
}

/// Two services whose stack names agree in some stage would deploy two
/// templates into one stack, each undoing the other: refused at load,
/// naming both files.
pub(super) fn one_stack_one_service(
    services: &[Service],
    policy: &Policy,
    discovered: bool,
) -> Vec<FileError> {
    let mut errors = Vec::new();
    let stages = policy.stage_names();
    let region_of = |stage: &str| {
        policy
            .stage(stage)
            .map(|c| c.region.as_str().to_string())
            .unwrap_or_else(|| "us-east-1".to_string())
    };
    for stage in &stages {
        let region = region_of(stage);
        let mut stacks: std::collections::BTreeMap<String, &Service> = Default::default();
        for service in services {
            let Some(stack) = service.stack_name_at(stage, &region) else {
                continue;
            };
            if let Some(first) = stacks.insert(stack.clone(), service) {
                // Said of every stage when the two meet in every one (one
                // `service:` name), so no one reads it as one stage's.
                let everywhere = stages.iter().all(|s| {
                    let region = region_of(s);
                    let a = first.stack_name_at(s, &region);
                    a.is_some() && a == service.stack_name_at(s, &region)
                });
                let at = if everywhere {
                    format!("stack {stack} (in stage {stage}; in every stage alike)")
                } else {
                    format!("stack {stack} in stage {stage}")
                };
                // Found by looking, not declared: one of them may be a
                // template or a copy the team never deploys.
                let found = if discovered {
                    "; if one is a template or a copy, list the services the app deploys in deploy.toml (`[services]`) or run the command from the folder that holds them"
                } else {
                    ""
                };
                let pos = service.doc.get("service").map(|n| n.pos);
                errors.push(FileError {
                    path: service.file.clone(),
                    pos,
                    message: format!(
                        "services `{}` ({}) and `{}` both deploy to {at}; give one of them another `service:` name or `provider.stackName`{found}",
                        first.key,
                        first.display_file(),
                        service.key
                    ),
                });
            }
        }
        if !errors.is_empty() {
            break;
        }
    }
    errors
}

/// Without a manifest that names it, the region every stage deploys to:
/// what the services' `provider.region` says when the CLI runs without
/// `--region` (a literal, the default of `${opt:region, 'eu-west-1'}`, a
/// custom key), resolved for each stage of the default policy; where no
/// service writes one, the environment's, else `us-east-1`. The tool
/// passes `--region` to every CLI call, which wins over the file: a region
/// that differs between services or stages, or that only the deploy can
/// tell, is an error at its line, never a guess.
pub(super) fn default_region(services: &[Service]) -> Result<Region, FileError> {
    region_in(services, &["local", "dev", "stage", "prod"])
}

/// [`default_region`] judged for `stages` only: what a command on one
/// stage says when the region cannot be known, about that stage.
pub(super) fn region_in(services: &[Service], stages: &[&str]) -> Result<Region, FileError> {
    let mut found: Vec<(String, &Service, Pos)> = Vec::new();
    for service in services {
        let Some(node) = service.doc.path(&["provider", "region"]) else {
            continue;
        };
        let Some(text) = node.as_str() else { continue };
        let at = |message: String| FileError {
            path: service.file.clone(),
            pos: Some(node.pos),
            message,
        };
        let declare =
            "declare each stage's region in deploy.toml (`[stages.prod]` `region = \"eu-west-1\"`)";
        for &stage in stages {
            let value = match vars::evaluate(text, &service.vars_at(stage, "")) {
                vars::Resolved::Known(value) => value,
                vars::Resolved::Missing(why)
                | vars::Resolved::Unknowable(why)
                | vars::Resolved::List(why) => {
                    return Err(at(format!(
                        "provider.region `{text}` cannot be known before the deploy for stage {stage} ({why}); {declare}"
                    )))
                }
                vars::Resolved::Refused(refusal) => {
                    return Err(at(format!("provider.region `{text}`: {refusal}")))
                }
            };
            if Region::parse(&value).is_err() {
                return Err(at(format!(
                    "provider.region is `{value}` for stage {stage}, which is not an AWS region"
                )));
            }
            if let Some((other, by, _)) = found.iter().find(|(v, ..)| *v != value) {
                return Err(at(format!(
                    "provider.region is {value} here for stage {stage} and {other} in {}: the tool deploys a stage to one region; {declare}",
                    by.key
                )));
            }
            found.push((value, service, node.pos));
        }
    }
    if let Some(region) = found.first().and_then(|(v, ..)| Region::parse(v).ok()) {
        return Ok(region);
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = std::env::var(var).ok().and_then(|r| Region::parse(&r).ok()) {
            return Ok(region);
        }
    }
    Ok(Region::framework_default())
}
