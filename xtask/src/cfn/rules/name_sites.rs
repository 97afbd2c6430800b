//! Where a Serverless file holds names: the service, the stack, roles,
//! environment values, IAM resources, authorizer and layer ARNs, a custom
//! domain, state machines, functions and their event rules and buckets, resources' name
//! properties, export and import names. `names` judges each.

use super::names::{scoped_property, SCOPED_PROPERTIES};
use crate::app::vars;
use crate::app::yaml::Node;
use crate::cfn::intrinsic::{self, Function};

/// Why a node is a name, and whether the name must carry the stage.
pub(super) struct NameSite<'n> {
    pub(super) node: &'n Node,
    pub(super) what: String,
    pub(super) must_scope: bool,
    /// An environment value: a lone word there (`NODE_ENV: production`) is a
    /// setting, not a stage reference, unless it is an allowed stage.
    pub(super) env: bool,
    /// The logical id the framework gives what the name names, where the
    /// service's `resources` may override its name (an `s3` event's bucket
    /// is `S3Bucket<Name>`): then that name is the one it gets.
    pub(super) logical_id: Option<String>,
}

/// Every node of a Serverless file that holds a name.
pub(super) fn name_sites<'n>(doc: &'n Node, base: &[&str]) -> Vec<NameSite<'n>> {
    let mut sites = Vec::new();
    let mut ids: Vec<(&'n Node, String)> = Vec::new();
    let at = |keys: &[&str]| -> Option<&'n Node> { doc.path(keys.strip_prefix(base)?) };
    let mut add = |node: Option<&'n Node>, what: &str, must_scope: bool| {
        if let Some(node) = node {
            sites.push(NameSite {
                node,
                what: what.to_string(),
                must_scope,
                env: what.starts_with("the environment value"),
                logical_id: None,
            });
        }
    };
    add(
        at(&["service"]).filter(|n| n.as_str().is_some()),
        "the service name",
        false,
    );
    add(
        at(&["provider", "stackName"]),
        "the stack name (`provider.stackName`)",
        true,
    );
    if let Some(bucket) = at(&["provider", "deploymentBucket"]) {
        let node = if bucket.as_str().is_some() {
            Some(bucket)
        } else {
            bucket.get("name")
        };
        // A bucket the stages may share: each writes under its own
        // `serverless/<service>/<stage>/` prefix.
        add(node, "the deployment bucket name", false);
    }
    add(
        at(&["provider", "apiName"]),
        "the API name (`provider.apiName`)",
        false,
    );
    add(
        at(&["provider", "httpApi", "name"]),
        "the HTTP API name",
        false,
    );
    add(
        at(&["provider", "iam", "role", "name"]),
        "the IAM role name (`provider.iam.role.name`)",
        true,
    );
    if let Some(env) = at(&["provider", "environment"]).and_then(Node::as_map) {
        for (key, value) in env {
            add(
                Some(value),
                &format!("the environment value `{}`", key.as_str().unwrap_or("?")),
                false,
            );
        }
    }
    for statements in [
        at(&["provider", "iam", "role", "statements"]),
        at(&["provider", "iamRoleStatements"]),
    ]
    .into_iter()
    .flatten()
    {
        for statement in statements.as_seq().unwrap_or_default() {
            add(
                statement.get("Resource"),
                "an IAM statement's resource",
                false,
            );
        }
    }
    // Layers by ARN: a stage spelt there runs every stage on that
    // stage's layer.
    for layers in std::iter::once(at(&["provider", "layers"]))
        .chain(
            at(&["functions"])
                .and_then(Node::as_map)
                .unwrap_or_default()
                .iter()
                .map(|(_, f)| f.get("layers")),
        )
        .flatten()
    {
        for layer in layers.as_seq().unwrap_or_default() {
            add(Some(layer), "a layer ARN", false);
        }
    }
    // serverless-domain-manager's domain: one name in DNS and API
    // Gateway for every stage that deploys it (unless a stage turns it
    // off with `enabled`, which makes it per stage).
    if let Some(domain) = at(&["custom", "customDomain"]).filter(|d| d.get("enabled").is_none()) {
        add(
            domain.get("domainName"),
            "the custom domain (`custom.customDomain.domainName`)",
            true,
        );
    }
    // A Lambda authorizer of an HTTP API by its function's ARN.
    if let Some(authorizers) = at(&["provider", "httpApi", "authorizers"]).and_then(Node::as_map) {
        for (key, authorizer) in authorizers {
            add(
                authorizer.get("functionArn"),
                &format!(
                    "the function ARN of authorizer `{}`",
                    key.as_str().unwrap_or("?")
                ),
                false,
            );
        }
    }
    // A state machine of serverless-step-functions, when named: one name
    // in the account and region (the plugin's own default carries the
    // stage).
    if let Some(machines) = at(&["stepFunctions", "stateMachines"]).and_then(Node::as_map) {
        for (key, machine) in machines {
            add(
                machine.get("name"),
                &format!(
                    "the name of state machine `{}`",
                    key.as_str().unwrap_or("?")
                ),
                true,
            );
        }
    }
    if let Some(functions) = at(&["functions"]).and_then(Node::as_map) {
        for (fn_key, function) in functions {
            let fn_name = fn_key.as_str().unwrap_or("?");
            // A Lambda function's name is unique in the account and region
            // (the framework's own, `<service>-<stage>-<key>`, carries the
            // stage).
            add(
                function.get("name"),
                &format!("the name of function `{fn_name}`"),
                true,
            );
            for event in function
                .get("events")
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                // An `eventBridge` or `schedule` event's rule, when named,
                // is one name on its bus for the account and region.
                for kind in ["eventBridge", "schedule"] {
                    add(
                        event.path(&[kind, "name"]),
                        &format!("the rule name of the `{kind}` event of function `{fn_name}`"),
                        true,
                    );
                }
                // An `s3` event without `existing: true` creates its
                // bucket, under that name, unique in all of AWS.
                let Some(s3) = event.get("s3") else { continue };
                let existing = s3
                    .get("existing")
                    .and_then(Node::as_str)
                    .is_some_and(|v| v == "true");
                let bucket = if s3.as_str().is_some() {
                    Some(s3)
                } else {
                    s3.get("bucket")
                };
                // An existing bucket is shared, and a second stage's
                // notification on it overlaps the first's (S3 refuses it),
                // unless its rules keep the stages apart (a prefix with
                // the stage).
                let rules_per_stage = s3.get("rules").is_some_and(|rules| {
                    let mut staged = false;
                    rules.walk(&mut |_, n| {
                        staged |= n.as_str().is_some_and(|t| {
                            vars::find_all(t).iter().any(|v| v.stage_form().is_some())
                        });
                    });
                    staged
                });
                if existing && rules_per_stage {
                    continue;
                }
                let what = if existing {
                    format!("the existing bucket the `s3` event of function `{fn_name}` watches (a second stage's notification on it overlaps the first's)")
                } else {
                    format!("the bucket the `s3` event of function `{fn_name}` creates")
                };
                add(bucket, &what, true);
                // The framework's `S3Bucket` + the name in letters and
                // digits, first one upper case (osls `getBucketLogicalId`).
                if let (Some(node), false, Some(name)) =
                    (bucket, existing, bucket.and_then(Node::as_str))
                {
                    if !name.contains("${") {
                        let letters: String =
                            name.chars().filter(char::is_ascii_alphanumeric).collect();
                        let mut chars = letters.chars();
                        let upper: String = chars
                            .next()
                            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                            .unwrap_or_default();
                        ids.push((node, format!("S3Bucket{upper}")));
                    }
                }
            }
            // An authorizer of another service, by its function's ARN.
            for event in function
                .get("events")
                .and_then(Node::as_seq)
                .unwrap_or_default()
            {
                for kind in ["http", "websocket"] {
                    let authorizer = event.path(&[kind, "authorizer"]);
                    let arn =
                        authorizer.and_then(|a| a.get("arn")).or(authorizer
                            .filter(|a| a.as_str().is_some_and(|t| t.starts_with("arn:"))));
                    add(
                        arn,
                        &format!("the authorizer ARN of function `{fn_name}`"),
                        false,
                    );
                }
            }
            if let Some(env) = function.get("environment").and_then(Node::as_map) {
                for (key, value) in env {
                    add(
                        Some(value),
                        &format!(
                            "the environment value `{}` of function `{fn_name}`",
                            key.as_str().unwrap_or("?")
                        ),
                        false,
                    );
                }
            }
        }
    }
    if let Some(resources) = at(&["resources", "Resources"]).and_then(Node::as_map) {
        for (logical, resource) in resources {
            let logical = logical.as_str().unwrap_or("?");
            let ty = resource.get("Type").and_then(Node::as_str).unwrap_or("");
            let Some(properties) = resource.get("Properties").and_then(Node::as_map) else {
                continue;
            };
            for (_, key) in SCOPED_PROPERTIES
                .iter()
                .filter(|(t, k)| *t == ty && k.contains('.'))
            {
                add(
                    scoped_property(resource, key),
                    &format!("`{key}` of `{logical}` ({ty})"),
                    true,
                );
            }
            // A distribution's aliases: CloudFront lets one CNAME belong to
            // one distribution of all accounts, so a second stage's fails
            // (`CNAMEAlreadyExists`).
            if ty == "AWS::CloudFront::Distribution" {
                let aliases = resource.path(&["Properties", "DistributionConfig", "Aliases"]);
                for alias in aliases.and_then(Node::as_seq).unwrap_or_default() {
                    add(
                        Some(alias),
                        &format!("an alias of `{logical}` ({ty})"),
                        true,
                    );
                }
            }
            for (key, value) in properties {
                let Some(key) = key.as_str() else { continue };
                let scoped = SCOPED_PROPERTIES.iter().any(|(t, k)| *t == ty && *k == key);
                // A resource's own `Name` that no account-wide rule keeps
                // unique (an authorizer's, an API's) is a label within its
                // parent: a stage spelled in it collides with nothing. A
                // `…Name` naming another resource (`FunctionName`) points
                // at that one.
                let label = key == "Name" && !scoped;
                if scoped || key.ends_with("Name") && !key.ends_with("DisplayName") && !label {
                    add(
                        Some(value),
                        &format!("`{key}` of `{logical}` ({ty})"),
                        scoped,
                    );
                }
            }
        }
    }
    if let Some(outputs) = at(&["resources", "Outputs"]).and_then(Node::as_map) {
        for (key, output) in outputs {
            add(
                output.path(&["Export", "Name"]),
                &format!(
                    "the export name of output `{}`",
                    key.as_str().unwrap_or("?")
                ),
                true,
            );
        }
    }
    // Fn::ImportValue arguments anywhere name another stack's export.
    doc.walk(&mut |_, node| {
        let Some(call) = intrinsic::decode(node) else {
            return;
        };
        if call.function == Function::ImportValue {
            sites.push(NameSite {
                // The tag spelling's argument is the tagged node itself.
                node: call.arg.own_node().unwrap_or(node),
                what: "the imported export name".into(),
                must_scope: false,
                env: false,
                logical_id: None,
            });
        }
    });
    for site in &mut sites {
        site.logical_id = ids
            .iter()
            .find(|(node, _)| std::ptr::eq(*node, site.node))
            .map(|(_, id)| id.clone());
    }
    sites
}
