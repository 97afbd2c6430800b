//! The export family: what services export, import and read of each other,
//! across the app, from the stage's `Catalogue`. An export with the same
//! name in every stage (`unscoped-export`) or defined twice
//! (`duplicate-export`); an `Fn::ImportValue` no service exports
//! (`unresolved-import`); a `${cf:}` or Compose param reading an output its
//! stack does not define (`unknown-output`), or a stack no service deploys
//! (`unknown-stack`); and, before a deploy, an
//! export it would remove while deployed stacks still import it
//! (`imported-export-removed`: [`exports_after_deploy`] and
//! [`removed_export_finding`], which `aws::exports` asks the deployed
//! stacks about).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::app::diag::{Finding, Suggestions};
use crate::app::stage::Stage;
use crate::app::yaml::Pos;
use crate::app::{App, Service};
use crate::cfn;
use crate::cfn::catalogue::{Catalogue, ServiceRefs};
use crate::cfn::refs::{self, Referent, Scope};

pub const DUPLICATE_EXPORT: &str = "duplicate-export";
pub const UNSCOPED_EXPORT: &str = "unscoped-export";
pub const UNRESOLVED_IMPORT: &str = "unresolved-import";
pub const UNKNOWN_OUTPUT: &str = "unknown-output";
pub const UNKNOWN_STACK: &str = "unknown-stack";
pub const SELF_IMPORT: &str = "self-import";
pub const IMPORTED_EXPORT_REMOVED: &str = "imported-export-removed";
pub const EXPORT_SHAPE: &str = "export-shape";

/// An output's `Export` that is not a mapping with a `Name`
/// (`Export: my-name`): CloudFormation refuses the template.
pub(super) fn shapes(service: &Service, out: &mut Vec<Finding>) {
    for (file, id, output) in service.entries("Outputs") {
        let Some(export) = output.get("Export") else {
            continue;
        };
        let well_formed = export.as_map().is_some() && export.get("Name").is_some();
        // A value kept elsewhere (`${self:custom.export}`) is not judged.
        let elsewhere = export.as_str().is_some_and(|t| {
            matches!(crate::app::vars::find(t).as_slice(), [v] if v.start == 0 && v.end == t.len())
        });
        if well_formed || elsewhere {
            continue;
        }
        out.push(Finding::new(
            file,
            export.pos,
            EXPORT_SHAPE,
            format!(
                "output `{}` of {} exports without a `Name`: CloudFormation refuses the template (`Export` must be a mapping with `Name`)",
                id.as_str().unwrap_or_default(),
                service.key
            ),
            "write `Export: {Name: …}`",
        ));
    }
}

/// Exports unique and stage-scoped; every import and `${cf:}` satisfied.
/// An import or stack no service of the app provides, and none is named
/// like, is a note: a stack outside the app may provide it, which no
/// offline check can know (CloudFormation or the CLI stops before any
/// change if none does). One named like one the app has is a finding.
pub(super) fn across(catalogue: &Catalogue, out: &mut Vec<Finding>, notes: &mut Vec<Finding>) {
    let (app, stage) = (catalogue.app, catalogue.stage);
    // Another allowed stage shows whether an export name moves with the stage.
    let other = app
        .policy
        .stage_names()
        .into_iter()
        .find(|s| *s != stage.name())
        .unwrap_or("xtask-probe")
        .to_string();
    let other_scope = Scope {
        stage: &other,
        region: stage.region(),
    };
    let mut first: BTreeMap<&str, (&Path, Pos)> = BTreeMap::new();
    let mut there: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (service, export) in &catalogue.exports {
        let there = there.entry(service.key.as_str()).or_insert_with(|| {
            refs::exports(service, &other_scope)
                .into_iter()
                .map(|e| (e.output, e.name))
                .collect()
        });
        if there.get(&export.output) == Some(&export.name) {
            out.push(Finding::new(
                &export.file,
                export.pos,
                UNSCOPED_EXPORT,
                format!("export `{}` has the same name in every stage, so two stages cannot both deploy it to one account and region (CloudFormation refuses the second: the name is already exported)", export.name),
                format!("put the stage in the name, e.g. `{}-${{sls:stage}}`", export.name),
            ).hazard());
        }
        match first.get(export.name.as_str()) {
            Some((file, pos)) => out.push(Finding::new(
                &export.file,
                export.pos,
                DUPLICATE_EXPORT,
                format!("export `{}` is also defined by {}:{}; export names are unique per account and region", export.name, crate::sys::paths::display(file), pos),
                "rename one of them",
            )),
            None => {
                first.insert(&export.name, (&export.file, export.pos));
            }
        }
    }
    let known_exports: BTreeSet<&str> = catalogue.export_names().into_iter().collect();
    let export_names = Suggestions::new(known_exports.iter().copied());
    // Each stack's outputs, for "did you mean", built when first needed.
    let mut output_names: BTreeMap<&str, Suggestions> = BTreeMap::new();
    let mut stack_names: Option<Suggestions> = None;
    // Imports of one name no service exports: one cause, said once.
    let mut unexported: BTreeMap<String, Vec<(std::path::PathBuf, crate::app::yaml::Pos)>> =
        BTreeMap::new();
    for ServiceRefs {
        service,
        references,
        ..
    } in &catalogue.references
    {
        for reference in references {
            match &reference.target {
                Referent::Export { name } => {
                    let own = catalogue
                        .exports
                        .iter()
                        .any(|(s, e)| s.key == service.key && e.name == *name)
                        || catalogue.framework_prefixes.iter().any(|(prefix, s)| {
                            s.key == service.key && name.starts_with(prefix.as_str())
                        });
                    if own {
                        out.push(Finding::new(
                            &reference.file,
                            reference.pos,
                            SELF_IMPORT,
                            format!("`Fn::ImportValue` of `{name}`, which this stack ({}) exports itself: CloudFormation resolves imports before it creates the export, so a new stage stops with \"No export named {name} found\"", service.key),
                            "refer to the resource in the stack itself (`Ref`, `Fn::GetAtt`) instead of its export",
                        ));
                        continue;
                    }
                    if catalogue.all_read
                        && !known_exports.contains(name.as_str())
                        && !catalogue.external_exports.contains(name)
                    {
                        unexported
                            .entry(name.clone())
                            .or_default()
                            .push((reference.file.clone(), reference.pos));
                    }
                }
                Referent::Stack {
                    stack,
                    output,
                    region,
                } => {
                    // With a fallback the CLI uses it where the stack
                    // or output is missing: nothing is refused.
                    if region.as_deref().is_some_and(|r| r != stage.region())
                        || catalogue.external_stacks.contains(stack)
                        || reference.fallback
                    {
                        continue;
                    }
                    let owner = catalogue.stacks.get(stack);
                    let outputs = catalogue.outputs.get(stack);
                    match (owner, outputs) {
                        (Some(owner), _) if !owner.fragments_complete => {}
                        (Some(owner), Some(outputs)) if !outputs.contains(output) => out.push(Finding::new(
                            &reference.file,
                            reference.pos,
                            UNKNOWN_OUTPUT,
                            format!("`{}` reads output `{output}` of {stack}, which {} does not define", reference.written, owner.display_file()),
                            output_names
                                .entry(stack.as_str())
                                .or_insert_with(|| Suggestions::new(outputs.iter().cloned()))
                                .nearest(output)
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| format!("add `{output}` to resources.Outputs of {}", owner.key)),
                        )),
                        (Some(_), _) => {}
                        (None, _) => {
                            let near = stack_names
                                .get_or_insert_with(|| Suggestions::new(catalogue.stacks.keys().cloned()))
                                .nearest(stack);
                            let finding = Finding::new(
                                &reference.file,
                                reference.pos,
                                UNKNOWN_STACK,
                                format!("`{}` reads stack {stack}, which no service of the app deploys in stage {stage}: the Serverless CLI stops unless a stack outside the app has that name and output in the stage's account and region", reference.written),
                                match &near {
                                    Some(near) => format!("did you mean `{near}`? (or declare `{stack}` under [external] stacks in deploy.toml)"),
                                    None => "if a stack outside the app provides it, declare it under [external] stacks in deploy.toml".into(),
                                },
                            ).conditional();
                            match near {
                                Some(_) => out.push(finding),
                                None => notes.push(finding),
                            }
                        }
                    }
                }
            }
        }
    }
    for (name, uses) in unexported {
        let Some((file, pos)) = uses.first().cloned() else {
            continue;
        };
        let more = match uses.len() {
            1 => String::new(),
            n => format!(
                " ({n} uses: {})",
                uses.iter()
                    .take(4)
                    .map(|(f, p)| format!("{}:{}", crate::sys::paths::display(f), p.line))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if n > 4 { ", ..." } else { "" }
            ),
        };
        let near = export_names.nearest(&name);
        let finding = Finding::new(
            &file,
            pos,
            UNRESOLVED_IMPORT,
            format!("`Fn::ImportValue` of `{name}`, which no service of the app exports in stage {stage}{more}: CloudFormation refuses the deploy unless a stack outside the app exports it in the stage's account and region"),
            match &near {
                Some(near) => format!("did you mean `{near}`?"),
                None => "if a stack outside the app exports it, declare it under [external] exports in deploy.toml; else export it from the service that owns it".into(),
            },
        ).conditional();
        match near {
            Some(_) => out.push(finding),
            None => notes.push(finding),
        }
    }
}

/// A Compose param reading `${other.Output}` where `other` declares no such
/// output (in its `resources.Outputs` or by the framework's rules): Compose
/// stops at deploy time. A producer that lists a plugin this tool does not
/// know may get outputs from it, and is not judged.
pub(super) fn compose_outputs(app: &App, out: &mut Vec<Finding>) {
    // Each producer's outputs, read once however many params read it.
    let mut outputs_of: BTreeMap<String, (BTreeSet<String>, Suggestions)> = BTreeMap::new();
    for service in &app.services {
        for param in &service.params {
            for (key, output) in crate::app::compose::outputs_read(&param.template) {
                let Some(producer) = app.service(&key) else {
                    continue;
                };
                let plugins_unknown = cfn::plugins(producer)
                    .iter()
                    .any(|p| !cfn::KNOWN_PLUGINS.contains(&p.as_str()));
                if plugins_unknown || !producer.fragments_complete {
                    continue;
                }
                let (declared, names) = outputs_of.entry(key.clone()).or_insert_with(|| {
                    let mut declared: BTreeSet<String> = producer
                        .entries("Outputs")
                        .into_iter()
                        .filter_map(|(_, key, _)| key.as_str().map(str::to_string))
                        .collect();
                    declared.extend(cfn::generated(producer).outputs);
                    let names = Suggestions::new(declared.iter().cloned());
                    (declared, names)
                });
                if declared.contains(&output) {
                    continue;
                }
                let listed = some_of(declared.iter(), 10);
                let fix = names
                    .nearest(&output)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        format!("add output `{output}` to {key}'s resources.Outputs")
                    });
                out.push(Finding::new(
                    &param.file,
                    param.pos,
                    UNKNOWN_OUTPUT,
                    format!(
                        "param `{}` of {} reads `${{{key}.{output}}}`, but {key} declares no output `{output}` (it has: {})",
                        param.name,
                        service.key,
                        listed
                    ),
                    fix,
                ));
            }
        }
    }
}

/// At most `n` names of a list for a message, and how many more there are:
/// a finding repeated for thousands of names does not list them all each
/// time.
fn some_of<'s>(names: impl ExactSizeIterator<Item = &'s String>, n: usize) -> String {
    let total = names.len();
    let shown: Vec<&str> = names.take(n).map(String::as_str).collect();
    match total - shown.len() {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

/// An export a deploy would remove while deployed stacks still import it.
pub struct ImportedExport {
    pub export: String,
    pub importers: Vec<String>,
}

/// The export names a service will have after a deploy to `stage`.
pub fn exports_after_deploy(service: &Service, stage: &Stage) -> BTreeSet<String> {
    let scope = Scope {
        stage: stage.name(),
        region: stage.region(),
    };
    let mut kept: BTreeSet<String> = refs::exports(service, &scope)
        .into_iter()
        .map(|e| e.name)
        .collect();
    if let Some(prefix) = refs::framework_export_prefix(service, &scope) {
        kept.extend(
            cfn::generated(service)
                .outputs
                .iter()
                .map(|o| format!("{prefix}{o}")),
        );
    }
    kept
}

/// The finding for an imported export a deploy would remove.
pub fn removed_export_finding(service: &Service, removed: &ImportedExport) -> Finding {
    let pos = service
        .doc
        .path(&["resources", "Outputs"])
        .map(|n| n.pos)
        .unwrap_or(Pos { line: 1, col: 1 });
    Finding::new(
        &service.file,
        pos,
        IMPORTED_EXPORT_REMOVED,
        format!(
            "this deploy would remove or rename export `{}`, which deployed {} still import(s); CloudFormation will refuse it",
            removed.export,
            removed.importers.join(", ")
        ),
        format!(
            "first deploy {} without the import (or importing the new name), then deploy {}, then remove the old export",
            removed.importers.join(", "),
            service.key
        ),
    )
}
