//! The offline CloudFormation checks behind `cargo xtask validate` and
//! deploy's preflight: errors caught before AWS sees them. Offline: every `Fn::GetAtt`, `Ref` and `Fn::Sub` reference
//! inside a service against its resources, the framework's generated ones
//! and the resource table; every resource type; and, across services, the
//! exports and the references to them. `--deep` adds cfn-lint on the
//! packaged template; `deployed_exports` checks a deploy against what other
//! deployed stacks import.

use std::collections::{BTreeMap, BTreeSet};

use std::path::{Path, PathBuf};

use crate::app::diag::{Finding, Report, Suggestions};
use crate::app::stage::Stage;
use crate::app::vars::{self, Source};
use crate::app::yaml::{Node, Pos};
use crate::app::{App, Service};
use crate::cfn::catalogue::{Catalogue, ServiceRefs};
use crate::cfn::intrinsic::{self, Function};
use crate::cfn::refs::{self, Referent, Scope};
use crate::cfn::runtimes::RUNTIMES;
use crate::cfn::{self, Generated};

pub const UNKNOWN_TYPE: &str = "unknown-type";
pub const GETATT_RESOURCE: &str = "getatt-unknown-resource";
pub const GETATT_ATTRIBUTE: &str = "getatt-unknown-attribute";
pub const REF_UNKNOWN: &str = "ref-unknown";
pub const DUPLICATE_EXPORT: &str = "duplicate-export";
pub const UNSCOPED_EXPORT: &str = "unscoped-export";
pub const UNRESOLVED_IMPORT: &str = "unresolved-import";
pub const UNKNOWN_OUTPUT: &str = "unknown-output";
pub const IMPORTED_EXPORT_REMOVED: &str = "imported-export-removed";
pub const MALFORMED_INTRINSIC: &str = "malformed-intrinsic";
pub const CIRCULAR_VARIABLE: &str = "circular-variable";
pub const INVALID_FALLBACK: &str = "invalid-fallback";
pub const UNSUPPORTED_RUNTIME: &str = "unsupported-runtime";
pub const UNRESOLVED_VARIABLE: &str = "unresolved-variable";
pub const OTHER_STAGE_FALLBACK: &str = "fallback-to-another-stage";
pub const SHARED_PHYSICAL_NAME: &str = "same-resource-name";
pub const UNRETAINED_DATA: &str = "unretained-data";
pub const EXPANSION_BUDGET: &str = "expansion-budget";
pub const UNREADABLE_INCLUDE: &str = "unreadable-include";

/// The logical ids a service's template will have, with their types.
struct Resources {
    user: BTreeMap<String, (String, Pos, PathBuf)>,
    parameters: BTreeSet<String>,
    generated: Generated,
    /// Declared in deploy.toml: a plugin or tool adds them.
    declared: BTreeSet<String>,
    /// Whether every `resources:` fragment could be read.
    complete: bool,
    /// Every logical id, for "did you mean".
    ids: Suggestions,
}

impl Resources {
    fn of(service: &Service) -> Resources {
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
        let ids = Suggestions::new(
            user.keys()
                .cloned()
                .chain(generated.resources.keys().cloned()),
        );
        Resources {
            user,
            parameters,
            generated,
            ids,
            declared: service.declared.resources.iter().cloned().collect(),
            complete: service.fragments_complete,
        }
    }

    /// `Some(type)` when the logical id exists (`""` for an untyped user
    /// resource, or one deploy.toml declares).
    fn type_of(&self, logical: &str) -> Option<String> {
        self.user
            .get(logical)
            .map(|(t, _, _)| t.clone())
            .or_else(|| self.generated.type_of(logical).map(str::to_string))
            .or_else(|| self.declared.contains(logical).then(String::new))
    }
}

/// Offline validation of every service and of the references between them.
pub fn validate(app: &App, stage: &Stage) -> Report {
    validate_in(&Catalogue::build(app, stage))
}

/// [`validate`] over a catalogue the caller already built.
pub fn validate_in(catalogue: &Catalogue) -> Report {
    let mut report = Report::default();
    for service in &catalogue.app.services {
        check_service(service, &mut report.findings);
        check_circular(service, &mut report.findings);
        check_fallbacks(service, &mut report.findings);
        check_runtimes(service, &mut report.findings);
        check_stage_values(
            service,
            catalogue.app,
            catalogue.stage,
            &mut report.findings,
        );
        if catalogue.stage.is_protected() {
            check_retained(service, catalogue.stage, &mut report.findings);
        }
    }
    check_across(catalogue, &mut report.findings);
    check_compose_outputs(catalogue.app, &mut report.findings);
    check_physical_names(catalogue.app, catalogue.stage, &mut report.findings);
    unverified_by_plugins(catalogue, &mut report);
    report.finish()
}

/// Two services that create a resource of one type under one name: the
/// second stack's create fails ("already exists"), or worse, a stack
/// removes what another still uses. Names are compared as they resolve for
/// the stage, an unset `${env:X}` or an `${ssm:}` kept as written (it is
/// one value in one deploy).
fn check_physical_names(app: &App, stage: &Stage, out: &mut Vec<Finding>) {
    let mut seen: BTreeMap<(String, String), (String, PathBuf, Pos)> = BTreeMap::new();
    for service in &app.services {
        let mut ctx = service.vars(stage);
        ctx.symbolic = true;
        for (file, id, resource) in service.entries("Resources") {
            let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
                continue;
            };
            for (_, key) in crate::cfn::hazards::SCOPED_PROPERTIES
                .iter()
                .filter(|(t, _)| *t == ty)
            {
                let Some(node) = resource.path(&["Properties", key]) else {
                    continue;
                };
                let Some(text) = node.as_str() else { continue };
                let vars::Resolved::Known(name) = vars::evaluate(text, &ctx) else {
                    continue;
                };
                let here = format!("{}:{}", service.key, id.as_str().unwrap_or(""));
                match seen.get(&(ty.to_string(), name.clone())) {
                    Some((there, other_file, other_pos))
                        if !there.starts_with(&format!("{}:", service.key)) =>
                    {
                        out.push(finding(
                            file,
                            node.pos,
                            SHARED_PHYSICAL_NAME,
                            format!(
                                "{ty} `{name}` ({here}) is also created by {there} ({}:{}); two stacks cannot own one resource",
                                crate::sys::paths::display(other_file),
                                other_pos.line
                            ),
                            "create it in one service and pass its name to the other (an export, a Compose param)".into(),
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

/// A Compose param reading `${other.Output}` where `other` declares no such
/// output (in its `resources.Outputs` or by the framework's rules): Compose
/// stops at deploy time. A producer that lists a plugin this tool does not
/// know may get outputs from it, and is not judged.
fn check_compose_outputs(app: &App, out: &mut Vec<Finding>) {
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
                out.push(finding(
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

/// A reference to a resource no rule explains, in a service that lists a
/// plugin this tool does not know, may be that plugin's: a note naming the
/// plugins, not a finding. `--deep` checks the packaged template.
fn unverified_by_plugins(catalogue: &Catalogue, report: &mut Report) {
    for service in &catalogue.app.services {
        let unknown: Vec<String> = cfn::plugins(service)
            .into_iter()
            .filter(|p| !cfn::KNOWN_PLUGINS.contains(&p.as_str()))
            .collect();
        if unknown.is_empty() {
            continue;
        }
        let files: BTreeSet<std::path::PathBuf> = service
            .documents()
            .into_iter()
            .map(|(file, _)| file.to_path_buf())
            .collect();
        let (notes, kept): (Vec<Finding>, Vec<Finding>) = std::mem::take(&mut report.findings)
            .into_iter()
            .partition(|f| {
                matches!(f.rule, REF_UNKNOWN | GETATT_RESOURCE) && files.contains(&f.file)
            });
        report.findings = kept;
        for mut note in notes {
            note.message = format!(
                "unverified: {}; plugin(s) {} may create it",
                note.message,
                unknown.join(", ")
            );
            note.fix = "`cargo xtask validate <stage> --deep` checks the packaged template, plugins included".into();
            report.notes.push(note);
        }
    }
}

fn finding(file: &Path, pos: Pos, rule: &'static str, message: String, fix: String) -> Finding {
    Finding::new(file, pos, rule, message, fix)
}

fn check_service(service: &Service, out: &mut Vec<Finding>) {
    let resources = Resources::of(service);
    for (id, (ty, pos, file)) in &resources.user {
        if ty.is_empty() {
            out.push(finding(
                file,
                *pos,
                UNKNOWN_TYPE,
                format!("resource `{id}` has no Type"),
                "add `Type: AWS::<Service>::<Resource>`".into(),
            ));
        } else if cfn::is_checked_type(ty) && cfn::attributes(ty).is_none() {
            out.push(finding(
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
    for (file, document) in service.documents() {
        let mut visit = |node: &Node| {
            let Some(call) = intrinsic::decode(node) else {
                return;
            };
            if let Some(why) = intrinsic::shape_error(&call) {
                out.push(finding(
                    file,
                    call.arg.pos(),
                    MALFORMED_INTRINSIC,
                    format!("malformed intrinsic: {why}"),
                    "CloudFormation rejects the template; write the call in one of those forms"
                        .into(),
                ));
                return;
            }
            match call.function {
                Function::GetAtt => {
                    if let Some(target) = intrinsic::getatt_target(&call) {
                        check_getatt(file, &resources, &target, call.arg.pos(), out);
                    }
                }
                Function::Ref => {
                    if let Some(name) = call.arg.as_str() {
                        check_ref(
                            file,
                            &resources,
                            name,
                            call.arg.pos(),
                            &BTreeSet::new(),
                            out,
                        );
                    }
                }
                // `${Name}` and `${Name.Attr}`.
                Function::Sub => {
                    let Some((template, locals)) = intrinsic::sub_template(&call) else {
                        return;
                    };
                    let locals: BTreeSet<String> = locals.into_iter().map(String::from).collect();
                    for name in intrinsic::sub_names(template) {
                        match name.split_once('.') {
                            Some((id, attr)) if !locals.contains(id) => check_getatt(
                                file,
                                &resources,
                                &(id.to_string(), attr.to_string()),
                                call.arg.pos(),
                                out,
                            ),
                            Some(_) => {}
                            None => {
                                check_ref(file, &resources, &name, call.arg.pos(), &locals, out)
                            }
                        }
                    }
                }
                _ => {}
            }
        };
        document.walk(&mut |_, node| visit(node));
    }
}

fn check_getatt(
    file: &Path,
    resources: &Resources,
    target: &(String, String),
    pos: Pos,
    out: &mut Vec<Finding>,
) {
    let (id, attr) = target;
    if id.contains("${") || attr.contains("${") {
        return;
    }
    let Some(ty) = resources.type_of(id) else {
        if !resources.complete {
            // A `${file()}` under resources: could not be read; the id may be there.
            return;
        }
        out.push(finding(
            file,
            pos,
            GETATT_RESOURCE,
            format!("`Fn::GetAtt` names `{id}`, which is not a resource of this service"),
            resources
                .ids
                .nearest(id)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    "name a resource under resources.Resources or one the framework generates"
                        .into()
                }),
        ));
        return;
    };
    if !cfn::is_checked_type(&ty) {
        return;
    }
    let Some(allowed) = cfn::attributes(&ty) else {
        return;
    };
    if !cfn::attribute_allowed(allowed, attr) {
        let valid = if allowed.is_empty() {
            "none".to_string()
        } else {
            allowed.join(", ")
        };
        let elsewhere: Vec<&str> = cfn::types_with_attribute(attr)
            .into_iter()
            .take(3)
            .collect();
        let hint = if elsewhere.is_empty() {
            String::new()
        } else {
            format!(" (`{attr}` belongs to {})", elsewhere.join(", "))
        };
        out.push(finding(
            file,
            pos,
            GETATT_ATTRIBUTE,
            format!("`{id}` is an {ty}, which has no attribute `{attr}`; valid: {valid}"),
            format!("use one of {valid}{hint}"),
        ));
    }
}

fn check_ref(
    file: &Path,
    resources: &Resources,
    name: &str,
    pos: Pos,
    locals: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    if name.contains("${")
        || locals.contains(name)
        || cfn::PSEUDO_PARAMETERS.contains(&name)
        || resources.parameters.contains(name)
        || resources.type_of(name).is_some()
        || !resources.complete
    {
        return;
    }
    out.push(finding(
        file,
        pos,
        REF_UNKNOWN,
        format!("`{name}` is not a resource, parameter or pseudo parameter of this service"),
        resources
            .ids
            .nearest(name)
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| {
                "define it under resources.Resources or resources.Parameters".into()
            }),
    ));
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

/// A Lambda runtime the pinned CLI's schema does not list (AWS retired
/// it): the CLI refuses the service only once the deploy has started.
fn check_runtimes(service: &Service, out: &mut Vec<Finding>) {
    for node in service.runtimes() {
        let Some(runtime) = node.as_str() else {
            continue;
        };
        if runtime.contains("${") || RUNTIMES.contains(&runtime) {
            continue;
        }
        let family: String = runtime
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let same: Vec<&str> = RUNTIMES
            .iter()
            .copied()
            .filter(|r| !family.is_empty() && r.starts_with(family.as_str()))
            .collect();
        out.push(finding(
            &service.file,
            node.pos,
            UNSUPPORTED_RUNTIME,
            format!(
                "runtime `{runtime}` is not one the Serverless CLI and AWS Lambda still accept"
            ),
            if same.is_empty() {
                format!("use one of {}", RUNTIMES.join(", "))
            } else {
                format!("use a current one: {}", same.join(", "))
            },
        ));
    }
}

/// A fallback the framework's parser refuses (`${opt:stage, dev}`: an
/// unquoted word; `${env:A, ${self:b}}`: a `${}` in a fallback): the CLI
/// stops on it when it resolves the file, so at deploy time.
fn check_fallbacks(service: &Service, out: &mut Vec<Finding>) {
    for (file, document) in service.documents() {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else {
                return;
            };
            for var in vars::find_all(text) {
                let Some(fallback) = var.fallback.as_deref() else {
                    continue;
                };
                for alt in vars::alternatives(fallback) {
                    let vars::Alternative::Invalid(written) = alt else {
                        continue;
                    };
                    let fix = if written.contains("${") {
                        format!(
                            "write the reference bare: `{}`",
                            written.trim_start_matches("${").trim_end_matches('}')
                        )
                    } else {
                        format!("quote it: `'{written}'`")
                    };
                    out.push(finding(
                        file,
                        node.pos,
                        INVALID_FALLBACK,
                        format!(
                            "`{}` falls back to `{written}`, which the Serverless CLI refuses (\"Invalid variable source\" or \"Invalid literal source\")",
                            var.raw(text)
                        ),
                        fix,
                    ));
                }
            }
        });
    }
}

/// Every variable evaluated for the stage as the CLI will: one it finds no
/// value for stops the deploy (`Value not found`), found here at its line;
/// a fallback that lands on another stage's entry (`${self:custom.sizes.
/// ${sls:stage}, self:custom.sizes.dev}`) silently gives this stage that
/// stage's value. An environment variable unset here may be set where the
/// deploy runs: not a finding.
/// The per-stage value findings of every service in `stage`, for `audit`
/// (which evaluates every stage the team declared).
pub fn stage_values(app: &App, stage: &Stage) -> Vec<Finding> {
    let mut out = Vec::new();
    for service in &app.services {
        check_stage_values(service, app, stage, &mut out);
        if stage.is_protected() {
            check_retained(service, stage, &mut out);
        }
    }
    out
}

/// On a protected stage, a data store whose policies do not keep it: a
/// removal of the resource (or its stack) or a replacement would delete it
/// and its data. A policy only the deploy can tell is not judged.
fn check_retained(service: &Service, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    for (file, id, resource) in service.entries("Resources") {
        let Some(ty) = resource.get("Type").and_then(Node::as_str) else {
            continue;
        };
        if !crate::cfn::diff::DATA_STORES.contains(&ty) {
            continue;
        }
        let mut missing = Vec::new();
        let mut to_set = Vec::new();
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
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

/// The values of every service the tool refuses to evaluate in `stage`
/// (a loop through `${file()}`, a file that cannot be read whole, past the
/// work budget), where they are written: what `audit` reports on a stage
/// it does not judge otherwise.
pub fn refusals(app: &App, stage: &Stage) -> Vec<Finding> {
    let mut out = Vec::new();
    for service in &app.services {
        check_stage_values(service, app, stage, &mut out);
    }
    out.retain(|f| [EXPANSION_BUDGET, UNREADABLE_INCLUDE, CIRCULAR_VARIABLE].contains(&f.rule));
    out
}

/// The finding for a value the tool refuses to evaluate; `None` for a loop
/// of `self:` addresses alone (`check_circular` reports each once) and for
/// a loop already reported.
fn refused(
    file: &Path,
    pos: Pos,
    raw: &str,
    refusal: vars::Refusal,
    loops: &mut BTreeSet<Vec<String>>,
) -> Option<Finding> {
    let (rule, fix) = match &refusal {
        vars::Refusal::TooMuch(_) => (
            EXPANSION_BUDGET,
            "simplify it: references that multiply at each level (or this many variables in one value) make no name or setting AWS accepts",
        ),
        vars::Refusal::Unreadable(_) => (UNREADABLE_INCLUDE, "fix the file it reads"),
        vars::Refusal::Cycle { through_files: false, .. } => return None,
        vars::Refusal::Cycle { chain, .. } => {
            let mut key = chain[..chain.len() - 1].to_vec();
            key.sort();
            if !loops.insert(key) {
                return None;
            }
            (
                CIRCULAR_VARIABLE,
                "break the loop: one of these values must not read the others",
            )
        }
    };
    Some(finding(
        file,
        pos,
        rule,
        format!("`{raw}` cannot be evaluated: {refusal}"),
        fix.into(),
    ))
}

fn check_stage_values(service: &Service, app: &App, stage: &Stage, out: &mut Vec<Finding>) {
    let ctx = service.vars(stage);
    let mut loops = BTreeSet::new();
    let others: Vec<String> = app
        .policy
        .stage_names()
        .into_iter()
        .chain(crate::cfn::hazards::COMMON_STAGE_NAMES.iter().copied())
        .filter(|s| *s != stage.name())
        .map(str::to_string)
        .collect();
    let sections = service.sections();
    let documents = service
        .documents()
        .into_iter()
        .chain(sections.iter().map(|(file, node)| (file.as_path(), node)));
    for (file, document) in documents {
        document.walk(&mut |_, node| {
            let Some(text) = node.as_str() else {
                return;
            };
            for var in vars::find(text) {
                let raw = var.raw(text);
                let primary = var.primary();
                match vars::evaluate(raw, &ctx) {
                    vars::Resolved::Refused(refusal) => {
                        out.extend(refused(file, node.pos, raw, refusal, &mut loops));
                    }
                    vars::Resolved::Missing(why) if !why.starts_with("environment variable") => {
                        out.push(finding(
                            file,
                            node.pos,
                            UNRESOLVED_VARIABLE,
                            format!(
                                "`{raw}` has no value in stage {}: {why}; the CLI stops with `Value not found`",
                                stage.name()
                            ),
                            "give it a value for this stage, or a fallback".into(),
                        ));
                    }
                    vars::Resolved::Known(_) if var.fallback.is_some() => {
                        let vars::Resolved::Missing(_) = vars::evaluate(&primary, &ctx) else {
                            continue;
                        };
                        // The alternative the CLI takes: the first with a value.
                        let taken = vars::alternatives(var.fallback.as_deref().unwrap_or(""))
                            .into_iter()
                            .find(|alt| match alt {
                                vars::Alternative::Literal(_) => true,
                                vars::Alternative::Reference(inner) => matches!(
                                    vars::evaluate(&format!("${{{inner}}}"), &ctx),
                                    vars::Resolved::Known(_)
                                ),
                                vars::Alternative::Invalid(_) => false,
                            });
                        let Some(vars::Alternative::Reference(inner)) = taken else {
                            continue;
                        };
                        let tokens: Vec<&str> = inner
                            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                            .collect();
                        if let Some(other) = others.iter().find(|o| tokens.contains(&o.as_str())) {
                            out.push(finding(
                                file,
                                node.pos,
                                OTHER_STAGE_FALLBACK,
                                format!(
                                    "in stage {}, `{raw}` finds nothing for the stage and falls back to `{inner}`: {} gets {other}'s value",
                                    stage.name(),
                                    stage.name()
                                ),
                                format!("give stage {} its own entry, or make the fallback stage-neutral", stage.name()),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

/// `${self:a}` whose value reads `${self:b}` whose value reads `${self:a}`:
/// the CLI stops on such a loop at deploy time; it is found here, once per
/// loop, where it starts.
fn check_circular(service: &Service, out: &mut Vec<Finding>) {
    let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
    service.doc.walk(&mut |_, node| {
        let Some(text) = node.as_str() else {
            return;
        };
        for var in vars::find_all(text) {
            if var.source != Source::SelfRef || var.address.is_empty() || var.address.contains("${")
            {
                continue;
            }
            let Some(cycle) = self_cycle(&service.doc, &var.address) else {
                continue;
            };
            // One loop, whichever of its addresses it is found from.
            let mut key: Vec<String> = cycle[..cycle.len() - 1].to_vec();
            key.sort();
            if reported.insert(key) {
                out.push(finding(
                    &service.file,
                    node.pos,
                    CIRCULAR_VARIABLE,
                    format!(
                        "`${{self:{}}}` reads itself back: {}",
                        var.address,
                        cycle.join(" → ")
                    ),
                    "break the loop: one of these values must not read the others".into(),
                ));
            }
        }
    });
}

/// The loop of `self:` addresses that leads from `start` back to itself.
fn self_cycle(doc: &Node, start: &str) -> Option<Vec<String>> {
    fn reads(doc: &Node, address: &str) -> Vec<String> {
        let keys: Vec<&str> = address.split('.').collect();
        let Some(node) = doc.path(&keys) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        node.walk(&mut |_, n| {
            if let Some(text) = n.as_str() {
                for var in vars::find_all(text) {
                    if var.source == Source::SelfRef
                        && !var.address.is_empty()
                        && !var.address.contains("${")
                    {
                        found.push(var.address);
                    }
                }
            }
        });
        found
    }
    let mut path = vec![start.to_string()];
    let mut seen = BTreeSet::new();
    fn walk(
        doc: &Node,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        reads: &dyn Fn(&Node, &str) -> Vec<String>,
    ) -> bool {
        if path.len() > 64 {
            return false;
        }
        let current = path.last().cloned().unwrap_or_default();
        if !seen.insert(current.clone()) {
            return false;
        }
        for next in reads(doc, &current) {
            let loops = next == path[0]
                || next.starts_with(&format!("{}.", path[0]))
                || path[0].starts_with(&format!("{next}."));
            if loops {
                path.push(next);
                return true;
            }
            path.push(next);
            if walk(doc, path, seen, reads) {
                return true;
            }
            path.pop();
        }
        false
    }
    walk(doc, &mut path, &mut seen, &reads).then_some(path)
}

/// Exports unique and stage-scoped; every import and `${cf:}` satisfied.
fn check_across(catalogue: &Catalogue, out: &mut Vec<Finding>) {
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
            out.push(finding(
                &export.file,
                export.pos,
                UNSCOPED_EXPORT,
                format!("export `{}` has the same name in every stage, so two stages cannot both deploy it", export.name),
                format!("put the stage in the name, e.g. `{}-${{sls:stage}}`", export.name),
            ));
        }
        match first.get(export.name.as_str()) {
            Some((file, pos)) => out.push(finding(
                &export.file,
                export.pos,
                DUPLICATE_EXPORT,
                format!("export `{}` is also defined by {}:{}; export names are unique per account and region", export.name, crate::sys::paths::display(file), pos),
                "rename one of them".into(),
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
    for ServiceRefs { references, .. } in &catalogue.references {
        for reference in references {
            match &reference.target {
                Referent::Export { name } => {
                    if catalogue.all_read
                        && !known_exports.contains(name.as_str())
                        && !catalogue.external_exports.contains(name)
                    {
                        out.push(finding(
                            &reference.file,
                            reference.pos,
                            UNRESOLVED_IMPORT,
                            format!("`Fn::ImportValue` of `{name}`, which no service of the app exports in stage {stage}"),
                            export_names.nearest(name)
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| "export it from the service that owns it, or declare it under [external] exports in deploy.toml".into()),
                        ));
                    }
                }
                Referent::Stack {
                    stack,
                    output,
                    region,
                } => {
                    if region.as_deref().is_some_and(|r| r != stage.region())
                        || catalogue.external_stacks.contains(stack)
                    {
                        continue;
                    }
                    let owner = catalogue.stacks.get(stack);
                    let outputs = catalogue.outputs.get(stack);
                    match (owner, outputs) {
                        (Some(owner), _) if !owner.fragments_complete => {}
                        (Some(owner), Some(outputs)) if !outputs.contains(output) => out.push(finding(
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
                        (None, _) => out.push(finding(
                            &reference.file,
                            reference.pos,
                            UNKNOWN_OUTPUT,
                            format!("`{}` reads stack {stack}, which no service of the app deploys in stage {stage}", reference.written),
                            "fix the stack name, or declare it under [external] stacks in deploy.toml".into(),
                        )),
                    }
                }
            }
        }
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
