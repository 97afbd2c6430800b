//! What a deploy would change in one stack, from the deployed template and
//! the newly packaged one: resources added, removed and modified (with the
//! properties that differ), whether a modification replaces the resource,
//! and outputs and exports added, changed or removed.
//!
//! Replacement is judged by the resource schemas (a change to a
//! `createOnlyProperties` property replaces the resource) and, for the
//! resources that hold data, by the properties AWS documents as
//! "Update requires: Replacement" that the schemas leave out. A change of
//! `Type` always replaces.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::cfn::resource_types::CREATE_ONLY_PROPERTIES;

/// The resource types that store data for good: on a protected stage
/// each must be kept by its `DeletionPolicy` and `UpdateReplacePolicy`.
pub const DATA_STORES: &[&str] = &[
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::Cognito::UserPool",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::EFS::FileSystem",
];

/// The other types that hold data a replacement or removal loses (streams,
/// queues, logs, search domains), though they are not kept for good.
const ALSO_STATEFUL: &[&str] = &[
    "AWS::Kinesis::Stream",
    "AWS::SQS::Queue",
    "AWS::Logs::LogGroup",
    "AWS::Elasticsearch::Domain",
    "AWS::OpenSearchService::Domain",
];

/// Properties that replace a resource though its schema does not list them
/// as create-only ("Update requires: Replacement" in AWS's reference, or a
/// setting AWS says cannot change after creation).
const ALSO_REPLACING: &[(&str, &[&str])] = &[
    (
        "AWS::DynamoDB::Table",
        &["KeySchema", "LocalSecondaryIndexes"],
    ),
    (
        "AWS::DynamoDB::GlobalTable",
        &["KeySchema", "LocalSecondaryIndexes", "TableName"],
    ),
    (
        "AWS::Cognito::UserPool",
        &[
            "AliasAttributes",
            "UsernameAttributes",
            "UsernameConfiguration",
        ],
    ),
];

/// Properties whose change may replace the resource, depending on the
/// change (a user pool's required attributes cannot change in place).
const MAY_REPLACE: &[(&str, &[&str])] = &[("AWS::Cognito::UserPool", &["Schema"])];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    Never,
    Conditional,
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Add,
    Modify,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub action: Action,
    /// The properties (and resource attributes such as `DeletionPolicy`)
    /// that differ, for a modification.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
    /// `code` when only a function's code differs is among `properties`.
    pub replacement: Replacement,
    /// The properties that cause the replacement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced_by: Vec<String>,
    /// Whether the resource holds data.
    pub stateful: bool,
    /// Whether the policy that applies keeps the old resource (and its
    /// data): `UpdateReplacePolicy` for a replacement, `DeletionPolicy`
    /// for a removal, `Retain` or `Snapshot`.
    pub retained: bool,
    /// The custom name that stays the same across a replacement, which
    /// CloudFormation refuses ("cannot update a stack when a custom-named
    /// resource requires replacing").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by_name: Option<String>,
    /// What CloudFormation's change set said of the replacement (`True`,
    /// `False`, `Conditional`), when one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudformation: Option<String>,
    /// Each changed property's value before and after, for review
    /// (secrets masked, long values cut).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ValueChange>,
}

/// A property's value before and after a change, as text for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange {
    pub property: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// What a value shown for review becomes when its name says it is a
/// secret.
pub const MASKED: &str = "(masked)";

/// How much of a value a review shows.
const SHOWN: usize = 160;

/// Whether a property or variable named `name` holds a secret.
fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "privatekey",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// `value` with every secret in it masked: values under a secret's name,
/// and strings that look like AWS access key ids.
fn masked(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let shown = if secret_name(k) && !v.is_object() {
                        Value::String(MASKED.into())
                    } else {
                        masked(v)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        Value::String(text)
            if text.len() == 20
                && (text.starts_with("AKIA") || text.starts_with("ASIA"))
                && text
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
        {
            Value::String(MASKED.into())
        }
        other => other.clone(),
    }
}

/// A property's value as review text: masked, compact, cut.
fn shown(property: &str, value: Option<&Value>) -> Option<String> {
    let value = value?;
    let text = if secret_name(property) && !value.is_object() {
        MASKED.to_string()
    } else {
        match masked(value) {
            Value::String(text) => text,
            other => other.to_string(),
        }
    };
    Some(if text.chars().count() > SHOWN {
        format!("{}…", text.chars().take(SHOWN).collect::<String>())
    } else {
        text
    })
}

impl ResourceChange {
    /// Whether the change takes a resource that holds data away from the
    /// stack: a removal or a (possible) replacement. Retained, the old
    /// one lives on outside the stack; the app gets a new, empty one.
    pub fn takes_data(&self) -> bool {
        self.stateful
            && (self.action == Action::Remove
                || (self.action == Action::Modify && self.replacement != Replacement::Never))
    }

    /// Whether the change destroys the data: taken and not retained.
    pub fn loses_data(&self) -> bool {
        self.takes_data() && !self.retained
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputChange {
    pub name: String,
    pub action: Action,
    /// The export the deployed output has, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_export: Option<String>,
    /// The export the new output has, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_export: Option<String>,
}

impl OutputChange {
    /// The deployed export this change takes away (removed or renamed).
    pub fn export_taken(&self) -> Option<&str> {
        match (&self.old_export, &self.new_export) {
            (Some(old), Some(new)) if old == new => None,
            (Some(old), _) => Some(old),
            _ => None,
        }
    }
}

/// One resource change as a CloudFormation change set states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedChange {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub id: String,
    pub ty: String,
    /// `True`, `False` or `Conditional` for a modification.
    pub replacement: Option<String>,
    /// The properties whose change always recreates the resource.
    pub recreating: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TemplateDiff {
    pub resources: Vec<ResourceChange>,
    pub outputs: Vec<OutputChange>,
    /// Lambda versions replaced together with their function's code or
    /// configuration: a new version of a changed function, not a change
    /// of its own, so not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub versions_following_code: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TemplateDiff {
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty() && self.outputs.is_empty()
    }
}

/// The top-level properties a change to which replaces a resource of `ty`.
pub fn replacing_properties(ty: &str) -> Vec<&'static str> {
    let from = |table: &[(&'static str, &'static [&'static str])]| {
        table
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, p)| p.to_vec())
            .unwrap_or_default()
    };
    let mut all = from(CREATE_ONLY_PROPERTIES);
    all.extend(from(ALSO_REPLACING));
    all.sort_unstable();
    all.dedup();
    all
}

fn may_replace(ty: &str, property: &str) -> bool {
    MAY_REPLACE
        .iter()
        .any(|(t, p)| *t == ty && p.contains(&property))
}

pub fn is_stateful(ty: &str) -> bool {
    DATA_STORES.contains(&ty) || ALSO_STATEFUL.contains(&ty)
}

fn keeps(resource: &Value, policy: &str) -> bool {
    matches!(
        resource.get(policy).and_then(Value::as_str),
        Some("Retain" | "RetainExceptOnCreate" | "Snapshot")
    )
}

fn section<'a>(template: Option<&'a Value>, name: &str) -> Vec<(&'a String, &'a Value)> {
    template
        .and_then(|t| t.get(name))
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

/// The resource attributes besides `Type` and `Properties` a change of
/// which is a modification worth naming.
const ATTRIBUTES: &[&str] = &[
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "DependsOn",
    "Condition",
    "Metadata",
    "UpdatePolicy",
];

/// What deploying `new` over `old` (`None`: no stack yet) changes.
pub fn diff(old: Option<&Value>, new: &Value) -> TemplateDiff {
    let mut out = TemplateDiff::default();
    let old_resources = section(old, "Resources");
    let new_resources = section(Some(new), "Resources");
    let ty_of = |r: &Value| {
        r.get("Type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for (id, resource) in &new_resources {
        let ty = ty_of(resource);
        match find(&old_resources, id) {
            None => out.resources.push(ResourceChange {
                id: id.to_string(),
                stateful: is_stateful(&ty),
                ty,
                action: Action::Add,
                properties: Vec::new(),
                replacement: Replacement::Never,
                replaced_by: Vec::new(),
                retained: false,
                blocked_by_name: None,
                cloudformation: None,
                values: Vec::new(),
            }),
            Some(before) => {
                if let Some(change) = modification(id, before, resource) {
                    out.resources.push(change);
                }
            }
        }
    }
    for (id, resource) in &old_resources {
        if find(&new_resources, id).is_none() {
            let ty = ty_of(resource);
            out.resources.push(ResourceChange {
                id: id.to_string(),
                stateful: is_stateful(&ty),
                ty,
                action: Action::Remove,
                properties: Vec::new(),
                replacement: Replacement::Never,
                replaced_by: Vec::new(),
                retained: keeps(resource, "DeletionPolicy"),
                blocked_by_name: None,
                cloudformation: None,
                values: Vec::new(),
            });
        }
    }
    fold_versions(&mut out, &old_resources, &new_resources);
    let export = |output: &Value| {
        output
            .pointer("/Export/Name")
            .map(|name| match name.as_str() {
                Some(text) => text.to_string(),
                None => name.to_string(),
            })
    };
    let old_outputs = section(old, "Outputs");
    let new_outputs = section(Some(new), "Outputs");
    for (name, output) in &new_outputs {
        let before = find(&old_outputs, name);
        let action = match before {
            None => Action::Add,
            Some(before) if before != *output => Action::Modify,
            Some(_) => continue,
        };
        out.outputs.push(OutputChange {
            name: name.to_string(),
            action,
            old_export: before.and_then(export),
            new_export: export(output),
        });
    }
    for (name, output) in &old_outputs {
        if find(&new_outputs, name).is_none() {
            out.outputs.push(OutputChange {
                name: name.to_string(),
                action: Action::Remove,
                old_export: export(output),
                new_export: None,
            });
        }
    }
    out
}

fn find<'a>(list: &[(&String, &'a Value)], id: &str) -> Option<&'a Value> {
    list.iter().find(|(k, _)| k.as_str() == id).map(|(_, v)| *v)
}

fn modification(id: &str, before: &Value, after: &Value) -> Option<ResourceChange> {
    let ty_before = before.get("Type").and_then(Value::as_str).unwrap_or("");
    let ty = after.get("Type").and_then(Value::as_str).unwrap_or("");
    let empty = serde_json::Map::new();
    let props = |r: &Value| r.get("Properties").and_then(Value::as_object).cloned();
    let (p_before, p_after) = (
        props(before).unwrap_or_else(|| empty.clone()),
        props(after).unwrap_or_else(|| empty.clone()),
    );
    let names: BTreeSet<&String> = p_before.keys().chain(p_after.keys()).collect();
    let mut properties: Vec<String> = names
        .into_iter()
        .filter(|k| p_before.get(*k) != p_after.get(*k))
        .cloned()
        .collect();
    properties.extend(
        ATTRIBUTES
            .iter()
            .filter(|a| before.get(**a) != after.get(**a))
            .map(|a| a.to_string()),
    );
    if ty_before != ty {
        properties.insert(0, "Type".into());
    }
    if properties.is_empty() {
        return None;
    }
    let replacing = replacing_properties(ty);
    let mut replaced_by: Vec<String> = properties
        .iter()
        .filter(|p| p.as_str() == "Type" || replacing.contains(&p.as_str()))
        .cloned()
        .collect();
    let replacement = if !replaced_by.is_empty() {
        Replacement::Always
    } else if let Some(p) = properties.iter().find(|p| may_replace(ty, p)) {
        replaced_by.push(p.clone());
        Replacement::Conditional
    } else {
        Replacement::Never
    };
    // The new resource is made before the old one goes: under the same
    // custom name the two cannot exist at once.
    let blocked_by_name = (replacement == Replacement::Always && ty_before == ty)
        .then(|| {
            replacing.iter().find(|p| {
                p.ends_with("Name")
                    && p_after.get(**p).is_some()
                    && p_before.get(**p) == p_after.get(**p)
            })
        })
        .flatten()
        .map(|p| p.to_string());
    let values = properties
        .iter()
        .map(|property| {
            let get = |resource: &Value, props: &serde_json::Map<String, Value>| {
                props
                    .get(property)
                    .or_else(|| resource.get(property))
                    .cloned()
            };
            ValueChange {
                property: property.clone(),
                old: shown(property, get(before, &p_before).as_ref()),
                new: shown(property, get(after, &p_after).as_ref()),
            }
        })
        .collect();
    Some(ResourceChange {
        id: id.to_string(),
        ty: ty.to_string(),
        action: Action::Modify,
        properties,
        replacement,
        replaced_by,
        stateful: is_stateful(ty) || is_stateful(ty_before),
        retained: keeps(after, "UpdateReplacePolicy"),
        blocked_by_name,
        cloudformation: None,
        values,
    })
}

/// Takes out of `out` the Lambda versions a code or configuration change
/// replaces: a version added and one removed for the same function (the
/// framework names a version by a hash of what it publishes, so every
/// change of a function replaces its version). Counted, not listed.
fn fold_versions(out: &mut TemplateDiff, old: &[(&String, &Value)], new: &[(&String, &Value)]) {
    const VERSION: &str = "AWS::Lambda::Version";
    let function_of = |list: &[(&String, &Value)], id: &str| {
        find(list, id).and_then(|r| r.pointer("/Properties/FunctionName").cloned())
    };
    let removed: Vec<(String, Option<Value>)> = out
        .resources
        .iter()
        .filter(|r| r.ty == VERSION && r.action == Action::Remove)
        .map(|r| (r.id.clone(), function_of(old, &r.id)))
        .collect();
    let mut folded = std::collections::BTreeSet::new();
    for added in out
        .resources
        .iter()
        .filter(|r| r.ty == VERSION && r.action == Action::Add)
    {
        let function = function_of(new, &added.id);
        if let Some((gone, _)) = removed
            .iter()
            .find(|(id, f)| function.is_some() && *f == function && !folded.contains(id))
        {
            folded.insert(gone.clone());
            folded.insert(added.id.clone());
        }
    }
    out.resources
        .retain(|r| !(r.ty == VERSION && folded.contains(&r.id)));
    out.versions_following_code += folded.len() / 2;
}

/// A logical id as one step of a JSON pointer.
pub fn pointer_escape(id: &str) -> String {
    id.replace('~', "~0").replace('/', "~1")
}

/// What the property is called on a resource only CloudFormation's change
/// set names: its text did not change, a value it references may.
pub const THROUGH_REFERENCE: &str = "a value it references";

/// Joins CloudFormation's change set with the template comparison of the
/// same deploy (`new` the packaged template). CloudFormation knows what
/// the text cannot show: a modification it says replaces (`True`) or
/// does not (`False`) is shown so, with the properties it names; where it
/// says `Conditional`, the comparison's judgement (the schemas'
/// create-only properties, AWS's rules for data stores) stands. Resources
/// whose text is unchanged but which reference a changed value are added
/// as CloudFormation lists them. Additions and removals come from the
/// templates, which are certain of them.
pub fn reconcile(diff: &mut TemplateDiff, planned: &[PlannedChange], new: &Value) {
    for change in planned.iter().filter(|c| c.action == "Modify") {
        let said = change.replacement.clone().unwrap_or_default();
        let ours = diff.resources.iter_mut().find(|r| r.id == change.id);
        let resource = match ours {
            Some(resource) => resource,
            None => {
                let template = new.pointer(&format!("/Resources/{}", pointer_escape(&change.id)));
                diff.resources.push(ResourceChange {
                    id: change.id.clone(),
                    ty: change.ty.clone(),
                    action: Action::Modify,
                    properties: vec![THROUGH_REFERENCE.to_string()],
                    replacement: Replacement::Conditional,
                    replaced_by: Vec::new(),
                    stateful: is_stateful(&change.ty),
                    retained: template.is_some_and(|t| keeps(t, "UpdateReplacePolicy")),
                    blocked_by_name: None,
                    cloudformation: None,
                    values: Vec::new(),
                });
                match diff.resources.last_mut() {
                    Some(resource) => resource,
                    None => continue,
                }
            }
        };
        if resource.action != Action::Modify {
            continue;
        }
        match said.as_str() {
            "True" => {
                resource.replacement = Replacement::Always;
                if !change.recreating.is_empty() {
                    resource.replaced_by = change.recreating.clone();
                }
            }
            "False" => {
                resource.replacement = Replacement::Never;
                resource.replaced_by.clear();
                resource.blocked_by_name = None;
            }
            _ => {}
        }
        resource.cloudformation = Some(said);
    }
}

#[cfg(test)]
mod tests;
