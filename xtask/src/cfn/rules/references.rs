//! The reference family: every `Ref`, `Fn::GetAtt` and `Fn::Sub` name
//! inside a service, checked against the logical ids its template will
//! have (its own resources, the framework's generated ones, those
//! deploy.toml declares) and the attributes of their types. A malformed
//! call is `malformed-intrinsic`; a name no resource answers is
//! `ref-unknown` or `getatt-unknown-resource`; an attribute the type does
//! not have is `getatt-unknown-attribute`.
//!
//! A reference to a resource no rule explains, in a service that lists a
//! plugin this tool does not know, may be that plugin's: it is a note, not
//! a finding.

use std::collections::BTreeSet;
use std::path::Path;

use crate::app::diag::{Finding, Report};
use crate::app::yaml::{Node, Pos};
use crate::app::Service;
use crate::cfn;
use crate::cfn::catalogue::Catalogue;
use crate::cfn::intrinsic::{self, Function};
use crate::sys::{hint, paths};

use super::resources::LogicalIds;

pub const GETATT_RESOURCE: &str = "getatt-unknown-resource";
pub const GETATT_ATTRIBUTE: &str = "getatt-unknown-attribute";
pub const REF_UNKNOWN: &str = "ref-unknown";
pub const MALFORMED_INTRINSIC: &str = "malformed-intrinsic";

/// Every intrinsic call in the service's documents, against `ids`; not
/// below a key the CLI already stops at (`out`'s `unrecognized-property`
/// findings): what is under it never reaches CloudFormation.
pub(super) fn check(service: &Service, ids: &LogicalIds, out: &mut Vec<Finding>) {
    let refused: BTreeSet<(std::path::PathBuf, usize, usize)> = out
        .iter()
        .filter(|f| f.rule == super::config::UNRECOGNIZED_PROPERTY)
        .map(|f| (f.file.clone(), f.line, f.col))
        .collect();
    for (file, document) in service.documents() {
        let mut visit = |node: &Node| {
            let Some(call) = intrinsic::decode(node) else {
                return;
            };
            if let Some(why) = intrinsic::shape_error(&call) {
                out.push(Finding::new(
                    file,
                    call.arg.pos(),
                    MALFORMED_INTRINSIC,
                    format!("malformed intrinsic: {why}"),
                    "CloudFormation rejects the template; write the call in one of those forms",
                ));
                return;
            }
            match call.function {
                Function::GetAtt => {
                    if let Some(target) = intrinsic::getatt_target(&call) {
                        getatt(file, ids, &target, call.arg.pos(), out);
                    }
                }
                Function::Ref => {
                    if let Some(name) = call.arg.as_str() {
                        reference(file, ids, name, call.arg.pos(), &BTreeSet::new(), out);
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
                            Some((id, attr)) if !locals.contains(id) => getatt(
                                file,
                                ids,
                                &(id.to_string(), attr.to_string()),
                                call.arg.pos(),
                                out,
                            ),
                            Some(_) => {}
                            None => reference(file, ids, &name, call.arg.pos(), &locals, out),
                        }
                    }
                }
                _ => {}
            }
        };
        let skip = |key: &Node| refused.contains(&(file.to_path_buf(), key.pos.line, key.pos.col));
        walk_skipping(document, &skip, &mut visit);
    }
}

/// Visits every node below and including `node`, but not the values of
/// keys `skip` names.
fn walk_skipping(node: &Node, skip: &dyn Fn(&Node) -> bool, visit: &mut dyn FnMut(&Node)) {
    visit(node);
    if let Some(items) = node.as_seq() {
        for item in items {
            walk_skipping(item, skip, visit);
        }
    } else if let Some(entries) = node.as_map() {
        for (key, value) in entries {
            if !skip(key) {
                walk_skipping(value, skip, visit);
            }
        }
    }
}

fn getatt(
    file: &Path,
    ids: &LogicalIds,
    target: &(String, String),
    pos: Pos,
    out: &mut Vec<Finding>,
) {
    let (id, attr) = target;
    if id.contains("${") || attr.contains("${") {
        return;
    }
    let Some(ty) = ids.type_of(id) else {
        if !ids.complete {
            // A `${file()}` under resources: could not be read; the id may be there.
            return;
        }
        out.push(Finding::new(
            file,
            pos,
            GETATT_RESOURCE,
            format!("`Fn::GetAtt` names `{id}`, which is not a resource of this service"),
            ids.suggestions
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
        out.push(Finding::new(
            file,
            pos,
            GETATT_ATTRIBUTE,
            format!("`{id}` is an {ty}, which has no attribute `{attr}`; valid: {valid}"),
            format!("use one of {valid}{hint}"),
        ));
    }
}

fn reference(
    file: &Path,
    ids: &LogicalIds,
    name: &str,
    pos: Pos,
    locals: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    if name.contains("${")
        || locals.contains(name)
        || cfn::PSEUDO_PARAMETERS.contains(&name)
        || ids.parameters.contains(name)
        || ids.type_of(name).is_some()
        || !ids.complete
    {
        return;
    }
    out.push(Finding::new(
        file,
        pos,
        REF_UNKNOWN,
        format!("`{name}` is not a resource, parameter or pseudo parameter of this service"),
        ids.suggestions
            .nearest(name)
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| {
                "define it under resources.Resources or resources.Parameters".into()
            }),
    ));
}

/// A reference to a resource no rule explains, in a service that lists a
/// plugin this tool does not know, may be that plugin's: a note naming the
/// plugins, not a finding. `--deep` checks the packaged template.
pub(super) fn unverified_by_plugins(catalogue: &Catalogue, report: &mut Report) {
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
        // One note a service: the plugins' one cause, with where else.
        let mut notes = notes.into_iter();
        let Some(mut note) = notes.next() else {
            continue;
        };
        let more: Vec<String> = notes
            .map(|f| format!("{}:{}", paths::display(&f.file), f.line))
            .collect();
        let others = match more.len() {
            0 => String::new(),
            n => format!(
                " (and {n} more reference(s) to ids not in its files: {})",
                more.join(", ")
            ),
        };
        note.message = format!(
            "unverified: {}{others}; plugin(s) {} of {} may create them",
            note.message,
            unknown.join(", "),
            service.key
        );
        note.fix = format!(
            "`{}` checks the packaged template, plugins included",
            hint::xtask(&format!("validate {} --deep", catalogue.stage))
        );
        report.notes.push(note);
    }
}
