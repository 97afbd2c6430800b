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
                diff.resources.last_mut().expect("just pushed")
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
mod tests {
    use super::*;
    use serde_json::json;

    fn planned(id: &str, ty: &str, replacement: &str, recreating: &[&str]) -> PlannedChange {
        PlannedChange {
            action: "Modify".into(),
            id: id.into(),
            ty: ty.into(),
            replacement: Some(replacement.into()),
            recreating: recreating.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn cloudformation_settles_replacement_except_where_it_cannot_tell() {
        let old = json!({"Resources": {
            "Things": table("id"),
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "a"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128}},
            "Ledger": {"Type": "AWS::DynamoDB::Table", "UpdateReplacePolicy": "Retain", "Properties": {"TableName": "l"}},
        }});
        let new = json!({"Resources": {
            "Things": table("key"),
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "b"}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}},
            "Ledger": {"Type": "AWS::DynamoDB::Table", "UpdateReplacePolicy": "Retain", "Properties": {"TableName": "l"}},
        }});
        let mut d = diff(Some(&old), &new);
        reconcile(
            &mut d,
            &[
                // Conditional: the schema's verdict (KeySchema replaces) stands.
                planned("Things", "AWS::DynamoDB::Table", "Conditional", &[]),
                planned("Topic", "AWS::SNS::Topic", "True", &["TopicName"]),
                planned("Fn", "AWS::Lambda::Function", "False", &[]),
                // Unchanged text, a referenced value changes.
                planned("Ledger", "AWS::DynamoDB::Table", "Conditional", &[]),
            ],
            &new,
        );
        let get = |id: &str| d.resources.iter().find(|r| r.id == id).unwrap();
        assert_eq!(get("Things").replacement, Replacement::Always);
        assert_eq!(get("Things").cloudformation.as_deref(), Some("Conditional"));
        assert_eq!(get("Topic").replacement, Replacement::Always);
        assert_eq!(get("Topic").replaced_by, vec!["TopicName"]);
        assert_eq!(get("Fn").replacement, Replacement::Never);
        let ledger = get("Ledger");
        assert_eq!(ledger.properties, vec![THROUGH_REFERENCE]);
        assert_eq!(ledger.replacement, Replacement::Conditional);
        assert!(ledger.takes_data() && ledger.retained && !ledger.loses_data());
    }

    #[test]
    fn cloudformation_saying_no_replacement_clears_the_schema_verdict() {
        let old = json!({"Resources": {"Things": table("id")}});
        let new = json!({"Resources": {"Things": table("key")}});
        let mut d = diff(Some(&old), &new);
        assert_eq!(d.resources[0].replacement, Replacement::Always);
        reconcile(
            &mut d,
            &[planned("Things", "AWS::DynamoDB::Table", "False", &[])],
            &new,
        );
        assert_eq!(d.resources[0].replacement, Replacement::Never);
        assert!(d.resources[0].replaced_by.is_empty() && !d.resources[0].takes_data());
    }

    fn table(key: &str) -> Value {
        json!({
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "things",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]
            }
        })
    }

    fn template(resources: Value, outputs: Value) -> Value {
        json!({"Resources": resources, "Outputs": outputs})
    }

    #[test]
    fn an_unchanged_template_has_no_changes() {
        let t = template(
            json!({"T": table("id")}),
            json!({"N": {"Value": {"Ref": "T"}}}),
        );
        assert!(diff(Some(&t), &t).is_empty());
    }

    #[test]
    fn a_new_key_schema_replaces_the_table_and_loses_its_data() {
        let old = template(json!({"T": table("id")}), json!({}));
        let new = template(json!({"T": table("pk")}), json!({}));
        let d = diff(Some(&old), &new);
        assert_eq!(d.resources.len(), 1);
        let change = &d.resources[0];
        assert_eq!(change.action, Action::Modify);
        assert_eq!(change.properties, ["AttributeDefinitions", "KeySchema"]);
        assert_eq!(change.replacement, Replacement::Always);
        assert_eq!(change.replaced_by, ["KeySchema"]);
        assert!(change.loses_data());
        assert_eq!(change.blocked_by_name.as_deref(), Some("TableName"));
        // Renamed as well: CloudFormation can make the new one first.
        let mut renamed = table("pk");
        renamed["Properties"]["TableName"] = json!("things-v2");
        let d = diff(Some(&old), &template(json!({"T": renamed}), json!({})));
        assert_eq!(d.resources[0].blocked_by_name, None);
        assert_eq!(d.resources[0].replaced_by, ["KeySchema", "TableName"]);
        // Retained on replacement: the old table and its data stay.
        let mut retained = table("pk");
        retained["UpdateReplacePolicy"] = json!("Retain");
        let d = diff(Some(&old), &template(json!({"T": retained}), json!({})));
        assert!(d.resources[0].replacement == Replacement::Always && !d.resources[0].loses_data());
    }

    #[test]
    fn a_change_shows_old_and_new_values_with_secrets_masked() {
        let function = |handler: &str, password: &str| {
            json!({"Type": "AWS::Lambda::Function", "Properties": {
                "Handler": handler,
                "Environment": {"Variables": {"STAGE": "dev", "DB_PASSWORD": password, "KEY_ID": "AKIAABCDEFGHIJKLMNOP"}},
            }})
        };
        let old = template(json!({"F": function("a.handler", "hunter2")}), json!({}));
        let new = template(json!({"F": function("b.handler", "hunter3")}), json!({}));
        let d = diff(Some(&old), &new);
        let values = &d.resources[0].values;
        let handler = values
            .iter()
            .find(|v| v.property == "Handler")
            .expect("handler");
        assert_eq!(handler.old.as_deref(), Some("a.handler"));
        assert_eq!(handler.new.as_deref(), Some("b.handler"));
        let env = values
            .iter()
            .find(|v| v.property == "Environment")
            .expect("env");
        let shown = format!("{env:?}");
        assert!(
            !shown.contains("hunter") && !shown.contains("AKIA"),
            "{shown}"
        );
        assert!(shown.contains("\\\"STAGE\\\":\\\"dev\\\""), "{shown}");
    }

    #[test]
    fn a_version_replaced_with_its_function_s_code_is_counted_not_listed() {
        let version = |f: &str| json!({"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": f}}});
        let function = |code: &str| json!({"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Key": code}}});
        let old = template(
            json!({"HelloLambdaFunction": function("1/a.zip"), "HelloLambdaVersionAaa": version("HelloLambdaFunction"),
                   "GoneLambdaFunction": function("1/g.zip"), "GoneLambdaVersionGgg": version("GoneLambdaFunction")}),
            json!({}),
        );
        let new = template(
            json!({"HelloLambdaFunction": function("2/a.zip"), "HelloLambdaVersionBbb": version("HelloLambdaFunction")}),
            json!({}),
        );
        let d = diff(Some(&old), &new);
        let ids: Vec<&str> = d.resources.iter().map(|r| r.id.as_str()).collect();
        // The function's change shows; its new version does not; a version
        // removed with its function does.
        assert_eq!(
            ids,
            [
                "HelloLambdaFunction",
                "GoneLambdaFunction",
                "GoneLambdaVersionGgg"
            ]
        );
        assert_eq!(d.versions_following_code, 1);
    }

    #[test]
    fn an_in_place_change_replaces_nothing() {
        let old = template(json!({"T": table("id")}), json!({}));
        let mut t = table("id");
        t["Properties"]["BillingMode"] = json!("PROVISIONED");
        let d = diff(Some(&old), &template(json!({"T": t}), json!({})));
        assert_eq!(d.resources[0].replacement, Replacement::Never);
        assert!(!d.resources[0].loses_data());
    }

    #[test]
    fn the_schema_names_what_replaces_and_a_new_type_always_does() {
        let bucket =
            |name: &str| json!({"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}});
        let d = diff(
            Some(&template(json!({"B": bucket("a")}), json!({}))),
            &template(json!({"B": bucket("b")}), json!({})),
        );
        assert_eq!(d.resources[0].replaced_by, ["BucketName"]);
        let d = diff(
            Some(&template(json!({"B": bucket("a")}), json!({}))),
            &template(json!({"B": {"Type": "AWS::SQS::Queue"}}), json!({})),
        );
        assert_eq!(d.resources[0].replacement, Replacement::Always);
        assert!(d.resources[0].loses_data(), "a bucket replaced by a queue");
    }

    #[test]
    fn removals_lose_data_unless_retained_and_exports_taken_are_named() {
        let mut kept = table("id");
        kept["DeletionPolicy"] = json!("Retain");
        let old = template(
            json!({"T": table("id"), "K": kept, "Q": {"Type": "AWS::SNS::Topic"}}),
            json!({"N": {"Value": {"Ref": "T"}, "Export": {"Name": "app-dev-N"}},
                   "M": {"Value": "x", "Export": {"Name": "app-dev-M"}}}),
        );
        let new = template(
            json!({}),
            json!({"M": {"Value": "x", "Export": {"Name": "app-dev-M2"}}, "O": {"Value": "y"}}),
        );
        let d = diff(Some(&old), &new);
        let lost: Vec<&str> = d
            .resources
            .iter()
            .filter(|c| c.loses_data())
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(lost, ["T"]);
        let taken: Vec<&str> = d
            .outputs
            .iter()
            .filter_map(OutputChange::export_taken)
            .collect();
        assert_eq!(taken, ["app-dev-M", "app-dev-N"]);
        assert!(d
            .outputs
            .iter()
            .any(|o| o.name == "O" && o.action == Action::Add));
    }

    #[test]
    fn a_new_stack_adds_everything() {
        let new = template(json!({"T": table("id")}), json!({"N": {"Value": "x"}}));
        let d = diff(None, &new);
        assert_eq!(d.resources[0].action, Action::Add);
        assert!(d.resources[0].stateful && !d.resources[0].loses_data());
        assert_eq!(d.outputs[0].action, Action::Add);
    }
}
