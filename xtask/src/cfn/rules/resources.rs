//! The resource family: what each resource and function is made of. A
//! type CloudFormation does not have (`unknown-type`), a Lambda runtime the
//! pinned CLI refuses (`unsupported-runtime`, validate) or one AWS no
//! longer patches (`deprecated-runtime`, the security review), and on a
//! protected stage a data store whose policies do not keep it
//! (`unretained-data`).
//!
//! `LogicalIds`, the logical ids a service's template will have, lives
//! here too: the reference rules (`references.rs`) check against it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::app::diag::{Finding, Suggestions};
use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::{Node, Pos};
use crate::app::Service;
use crate::cfn::runtimes::{DEPRECATIONS, RUNTIMES};
use crate::cfn::{self, Generated};

pub const UNKNOWN_TYPE: &str = "unknown-type";
pub const UNSUPPORTED_RUNTIME: &str = "unsupported-runtime";
pub const DEPRECATED_RUNTIME: &str = "deprecated-runtime";
pub const UNRETAINED_DATA: &str = "unretained-data";
/// The logical ids a service's template will have, with their types.
pub(super) struct LogicalIds {
    /// The service's own resources: type (`""` when it has none), where.
    pub(super) user: BTreeMap<String, (String, Pos, PathBuf)>,
    pub(super) parameters: BTreeSet<String>,
    generated: Generated,
    /// Declared in deploy.toml: a plugin or tool adds them.
    declared: BTreeSet<String>,
    /// Whether every `resources:` fragment could be read.
    pub(super) complete: bool,
    /// Every logical id, for "did you mean".
    pub(super) suggestions: Suggestions,
}

impl LogicalIds {
    pub(super) fn of(service: &Service) -> LogicalIds {
        let mut user = BTreeMap::new();
        for (file, key, resource) in service.entries("Resources") {
            if let Some(id) = key.as_str() {
                let ty = resource
                    .get("Type")
                    .and_then(Node::as_str)
                    .unwrap_or("")
                    .to_string();
                user.insert(id.to_string(), (ty, key.pos, file.to_path_buf()));
            }
        }
        let parameters = service
            .entries("Parameters")
            .into_iter()
            .filter_map(|(_, k, _)| k.as_str().map(str::to_string))
            .collect();
        let generated = cfn::generated(service);
        let suggestions = Suggestions::new(
            user.keys()
                .cloned()
                .chain(generated.resources.keys().cloned()),
        );
        LogicalIds {
            user,
            parameters,
            generated,
            suggestions,
            declared: service.declared.resources.iter().cloned().collect(),
            complete: service.fragments_complete,
        }
    }

    /// `Some(type)` when the logical id exists (`""` for an untyped user
    /// resource, or one deploy.toml declares).
    pub(super) fn type_of(&self, logical: &str) -> Option<String> {
        self.user
            .get(logical)
            .map(|(t, _, _)| t.clone())
            .or_else(|| self.generated.type_of(logical).map(str::to_string))
            .or_else(|| self.declared.contains(logical).then(String::new))
    }
}

/// A resource of the service's own with no type, or one CloudFormation
/// does not have.
pub(super) fn types(ids: &LogicalIds, out: &mut Vec<Finding>) {
    for (id, (ty, pos, file)) in &ids.user {
        if ty.is_empty() {
            out.push(Finding::new(
                file,
                *pos,
                UNKNOWN_TYPE,
                format!("resource `{id}` has no Type"),
                "add `Type: AWS::<Service>::<Resource>`",
            ));
        } else if cfn::is_checked_type(ty) && cfn::attributes(ty).is_none() {
            out.push(Finding::new(
                file,
                *pos,
                UNKNOWN_TYPE,
                format!("resource `{id}` has type `{ty}`, which CloudFormation does not have"),
                similar_type(ty)
                    .map(|t| format!("did you mean `{t}`?"))
                    .unwrap_or_else(|| {
                        "check the type name in the CloudFormation resource reference".into()
                    }),
            ));
        }
    }
}

/// The resource type nearest `ty`, from one list per thread (the table is
/// long: built once).
fn similar_type(ty: &str) -> Option<String> {
    thread_local! {
        static TYPES: Suggestions = Suggestions::new(
            crate::cfn::resource_types::RESOURCE_TYPES.iter().map(|(n, _)| *n),
        );
    }
    TYPES.with(|types| types.nearest(ty))
}

/// A Lambda runtime the pinned CLI's schema does not list (AWS retired
/// it): the CLI refuses the service only once the deploy has started.
pub(super) fn runtimes(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    // A section taken whole from another file is checked against the
    // CLI's schema where it is written (`schema::check_section`), its
    // runtime's enum included.
    for (file, node) in service
        .runtimes()
        .into_iter()
        .filter(|(f, _)| *f == service.file)
    {
        let Some(written) = node.as_str() else {
            continue;
        };
        // A runtime kept in one place (`${self:custom.defaults.runtime}`,
        // `${file(...)}`) is judged as it resolves.
        let runtime = match written.contains("${") {
            true => vars::resolve(written, &ctx),
            false => Some(written.to_string()),
        };
        let Some(runtime) = runtime.filter(|r| !r.contains("${")) else {
            continue;
        };
        if RUNTIMES.contains(&runtime.as_str()) {
            continue;
        }
        let shown = match runtime == written {
            true => format!("`{runtime}`"),
            false => format!("`{runtime}` (from `{written}`)"),
        };
        let family: String = runtime
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        // Current ones: a runtime the CLI still lists may be deprecated.
        let today = crate::sys::clock::today();
        let same: Vec<&str> = RUNTIMES
            .iter()
            .copied()
            .filter(|r| !family.is_empty() && r.starts_with(family.as_str()))
            .filter(|r| deprecated(r, &today).is_none())
            .collect();
        out.push(Finding::new(
            &file,
            node.pos,
            UNSUPPORTED_RUNTIME,
            format!(
                "runtime {shown} is not one the pinned Serverless CLI accepts (its schema lists only runtimes AWS still supports): it stops with `Configuration error` before packaging"
            ),
            if same.is_empty() {
                format!("use one of {}", RUNTIMES.join(", "))
            } else {
                format!("use a current one: {}", same.join(", "))
            },
        ));
    }
}

/// A runtime AWS no longer patches (past its deprecation date in
/// cfn-lint's lifecycle table), as the runtime resolves for the stage,
/// also one the CLI no longer lists (validate's `unsupported-runtime`
/// says whether the CLI stops on it).
pub(super) fn deprecated_runtimes(
    service: &Service,
    stage: &Stage,
    today: &str,
    out: &mut Vec<Finding>,
) {
    let ctx = service.vars(stage);
    // `provider.runtime` is the functions' default: with no function (a
    // service of resources alone) nothing runs on it. Constructs (the
    // lift plugin's `worker`, `handler`) are functions too.
    let functions = ["functions", "constructs"].iter().any(|key| {
        service.doc.get(key).is_some_and(|f| match &f.value {
            crate::app::yaml::Value::Map(entries) => !entries.is_empty(),
            crate::app::yaml::Value::Seq(items) => !items.is_empty(),
            crate::app::yaml::Value::Scalar { text, .. } => text.contains("${"),
        })
    });
    // A function from a container image runs no runtime of Lambda's: where
    // every function is one, the provider's runtime is no one's.
    let merged = service.functions();
    let all_images = !merged.is_empty() && merged.iter().all(|(_, f)| f.get("image").is_some());
    // `runtimes()` gives the provider's first, where it has one.
    let provider_has = service.doc.get("provider").is_some_and(|p| {
        let (_, provider) = service.followed(&service.file, p);
        provider.get("runtime").is_some()
    });
    for (i, (file, node)) in service.runtimes().into_iter().enumerate() {
        if !functions || (all_images && provider_has && i == 0) {
            continue;
        }
        let Some(runtime) = node
            .as_str()
            .and_then(|text| vars::evaluate(text, &ctx).known())
        else {
            continue;
        };
        // One the CLI no longer lists is still deprecated where the
        // service lets the CLI go on (`configValidationMode: warn`).
        let Some((since, successor)) = deprecated(&runtime, today) else {
            continue;
        };
        out.push(Finding::new(
            &file,
            node.pos,
            DEPRECATED_RUNTIME,
            format!(
                "runtime `{runtime}` of {} is deprecated since {since}: AWS no longer applies security patches to it",
                service.key
            ),
            match successor {
                Some(next) => format!("move to `{next}` (or another supported version of the language)"),
                None => "move to a supported runtime".to_string(),
            },
        ));
    }
}

/// When `runtime` was deprecated and what succeeds it, if that day is
/// `today` or earlier (dates as `YYYY-MM-DD`, which sort as dates).
fn deprecated(runtime: &str, today: &str) -> Option<(&'static str, Option<&'static str>)> {
    DEPRECATIONS
        .iter()
        .find(|(name, ..)| *name == runtime)
        .filter(|(_, since, _)| *since <= today)
        .map(|(_, since, successor)| (*since, *successor))
}

/// Whether CloudFormation deleting a data store of type `ty` would take its
/// data: not a bucket (CloudFormation cannot delete one that holds
/// objects; the delete fails and the objects stay), not a database
/// instance of an Aurora cluster (the cluster holds the data), not a store
/// with deletion protection on (the delete fails).
/// `is_true` says whether a value is `true` in the stage.
fn loses_data_when_deleted(ty: &str, resource: &Node, is_true: impl Fn(&Node) -> bool) -> bool {
    let props = resource.get("Properties");
    let on = |key: &str| props.and_then(|p| p.get(key)).is_some_and(&is_true);
    match ty {
        "AWS::S3::Bucket" => false,
        "AWS::RDS::DBInstance" if props.and_then(|p| p.get("DBClusterIdentifier")).is_some() => {
            false
        }
        "AWS::RDS::DBInstance" | "AWS::RDS::DBCluster" => !on("DeletionProtection"),
        "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable" => !on("DeletionProtectionEnabled"),
        _ => true,
    }
}

/// On a protected stage, a data store whose policies do not keep it: a
/// removal of the resource (or its stack) or a replacement would delete it
/// and its data. A policy only the deploy can tell is not judged.
pub(super) fn retained(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    for (file, id, resource) in service.entries("Resources") {
        let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
            continue;
        };
        let is_true = |node: &Node| {
            node.as_str().is_some_and(|text| {
                matches!(vars::evaluate(text, &ctx), vars::Resolved::Known(v) if v.eq_ignore_ascii_case("true"))
            })
        };
        if !crate::cfn::diff::DATA_STORES.contains(&ty)
            || !loses_data_when_deleted(ty, resource, is_true)
        {
            continue;
        }
        let mut missing = Vec::new();
        let mut to_set = Vec::new();
        // CloudFormation does not replace a resource it was given a name
        // for (the update fails instead): no replacement deletes it.
        let named = super::names::SCOPED_PROPERTIES
            .iter()
            .any(|(t, key)| *t == ty && super::names::scoped_property(resource, key).is_some());
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            if named && policy == "UpdateReplacePolicy" {
                continue;
            }
            let value = match resource.get(policy).and_then(Node::as_str) {
                None => Some(String::new()),
                Some(text) => match vars::evaluate(text, &ctx) {
                    vars::Resolved::Known(value) => Some(value),
                    _ => None,
                },
            };
            let keeps = |v: &str| matches!(v, "Retain" | "RetainExceptOnCreate" | "Snapshot");
            if let Some(value) = value.filter(|v| !keeps(v)) {
                to_set.push(format!("`{policy}`"));
                missing.push(if value.is_empty() {
                    format!("no {policy}")
                } else {
                    format!("{policy} {value}")
                });
            }
        }
        if missing.is_empty() {
            continue;
        }
        let pos = resource.get("Type").map(|t| t.pos).unwrap_or(id.pos);
        out.push(Finding::new(
            file,
            pos,
            UNRETAINED_DATA,
            format!(
                "`{}` ({ty}) of {} holds data, and on protected stage {stage} it has {}: removing it, its stack, or replacing it would delete the data",
                id.as_str().unwrap_or_default(),
                service.key,
                missing.join(" and ")
            ),
            format!(
                "set {} to `Retain` (on protected stages only: `${{self:custom.retain.${{sls:stage}}, 'Delete'}}` with `retain: {{ {stage}: Retain }}` under custom)",
                to_set.join(" and ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_is_deprecated_from_its_day_on() {
        assert_eq!(deprecated("nodejs20.x", "2026-04-29"), None);
        assert_eq!(
            deprecated("nodejs20.x", "2026-04-30"),
            Some(("2026-04-30", Some("nodejs24.x")))
        );
        assert_eq!(deprecated("nodejs24.x", "2026-11-27"), None);
        assert_eq!(deprecated("no-such-runtime", "2099-01-01"), None);
    }

    #[test]
    fn the_runtimes_a_fix_offers_are_current_ones() {
        let text = "service: old\nprovider:\n  name: aws\n  runtime: nodejs16.x\n";
        let service = Service::of_text(text);
        let policy = crate::app::stage::Policy::default_policy();
        let stage = Stage::parse("dev", &policy).unwrap();
        let mut out = Vec::new();
        runtimes(&service, &stage, &mut out);
        let today = crate::sys::clock::today();
        let offered: Vec<&str> = RUNTIMES
            .iter()
            .copied()
            .filter(|r| out[0].fix.contains(&format!("{r},")) || out[0].fix.ends_with(r))
            .collect();
        assert!(!offered.is_empty(), "{}", out[0].fix);
        for runtime in offered {
            assert_eq!(
                deprecated(runtime, &today),
                None,
                "{runtime} in {}",
                out[0].fix
            );
        }
    }
}
