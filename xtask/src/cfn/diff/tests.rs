//! The diff's rules, on templates written in the test.

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
