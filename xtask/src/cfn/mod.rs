//! CloudFormation facts: the resource table (generated from cfn-lint's
//! schemas), pseudo parameters, and the resources and outputs the
//! Serverless Framework adds to every stack by its naming rules.

pub(crate) mod catalogue;
pub(crate) mod diff;
pub(crate) mod graph;
pub mod handlers;
pub(crate) mod iam_actions;
pub(crate) mod intrinsic;
pub mod monitoring;
pub(crate) mod named;
pub(crate) mod order;
pub mod properties;
pub(crate) mod refs;
pub(crate) mod resource_types;
pub mod rules;
pub(crate) mod runbook;
pub(crate) mod runtimes;

use std::collections::BTreeMap;

use crate::app::yaml::Node;
use crate::app::Service;
use crate::cfn::resource_types::RESOURCE_TYPES;

pub const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// An ARN's service and resource part: `arn:aws:sqs:us-east-1:1234:jobs`
/// is (`sqs`, `jobs`). Variables (`${aws:region}`, `${AWS::AccountId}`)
/// may stand for the partition, region and account, each holding a `:` of
/// its own; `None` for text that is not an ARN.
pub fn split_arn(arn: &str) -> Option<(&str, &str)> {
    let mut fields = Vec::with_capacity(5);
    let mut rest = arn;
    while fields.len() < 5 {
        let bytes = rest.as_bytes();
        let mut end = 0;
        while end < bytes.len() && bytes[end] != b':' {
            // `${AWS::Region}`, and serverless-pseudo-parameters' `#{AWS::Region}`.
            if rest[end..].starts_with("${") || rest[end..].starts_with("#{") {
                end += rest[end..].find('}')?;
            }
            end += 1;
        }
        fields.push(&rest[..end.min(rest.len())]);
        rest = rest.get(end + 1..)?;
    }
    (fields[0] == "arn").then_some((fields[2], rest))
}

/// The GetAtt attributes of a resource type; `None` for a type CloudFormation
/// does not have.
pub fn attributes(resource_type: &str) -> Option<&'static [&'static str]> {
    RESOURCE_TYPES
        .binary_search_by(|(name, _)| (*name).cmp(resource_type))
        .ok()
        .map(|i| RESOURCE_TYPES[i].1)
}

/// Whether the type is checked against the table: AWS's own namespaces.
/// Custom resources and third-party registry types are not in it.
pub fn is_checked_type(resource_type: &str) -> bool {
    (resource_type.starts_with("AWS::") || resource_type.starts_with("Alexa::"))
        && resource_type != "AWS::CloudFormation::CustomResource"
}

/// Whether `attribute` is one of `allowed`, patterns included (`Outputs\..*`).
pub fn attribute_allowed(allowed: &[&str], attribute: &str) -> bool {
    allowed.iter().any(|a| {
        if a.contains('*') || a.contains('\\') {
            pattern_matches(a, attribute)
        } else {
            *a == attribute
        }
    })
}

/// The types that have an attribute of this name, for "did you mean" hints.
pub fn types_with_attribute(attribute: &str) -> Vec<&'static str> {
    RESOURCE_TYPES
        .iter()
        .filter(|(_, attrs)| attrs.contains(&attribute))
        .map(|(name, _)| *name)
        .collect()
}

/// Whether the whole text matches one of cfn-lint's attribute patterns
/// (regular expressions such as `Outputs\..*`). A pattern that does not
/// compile matches nothing.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(text))
}

/// `my-func_name` as the framework writes it in logical ids: `MyDashfuncUnderscorename`.
pub fn normalized_function_name(name: &str) -> String {
    let replaced = name.replace('-', "Dash").replace('_', "Underscore");
    let mut chars = replaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

/// What the framework generates for a service.
#[derive(Debug, Default)]
pub struct Generated {
    /// Exact logical ids and their types.
    pub resources: BTreeMap<String, &'static str>,
    /// Logical id prefixes and the type of every id with that prefix.
    pub prefixes: Vec<(String, &'static str)>,
    /// Logical id suffixes (the part before is a user's name) and their type.
    pub suffixes: Vec<(String, &'static str)>,
    /// Outputs the framework adds (and exports as `sls-<service>-<stage>-<key>`).
    pub outputs: Vec<String>,
}

impl Generated {
    pub fn type_of(&self, logical: &str) -> Option<&'static str> {
        self.resources
            .get(logical)
            .copied()
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| logical.starts_with(p.as_str()))
                    .map(|(_, t)| *t)
            })
            .or_else(|| {
                self.suffixes
                    .iter()
                    .find(|(s, _)| logical.len() > s.len() && logical.ends_with(s.as_str()))
                    .map(|(_, t)| *t)
            })
    }
}

/// The framework's resources and outputs for a service, by its naming rules.
pub fn generated(service: &Service) -> Generated {
    let mut g = Generated::default();
    let doc = &service.doc;
    if doc.path(&["provider", "deploymentBucket"]).is_none() {
        g.resources
            .insert("ServerlessDeploymentBucket".into(), "AWS::S3::Bucket");
        g.resources.insert(
            "ServerlessDeploymentBucketPolicy".into(),
            "AWS::S3::BucketPolicy",
        );
    }
    g.outputs.push("ServerlessDeploymentBucketName".into());
    // As the CLI merges them: a map, a file, or a list of either.
    let functions = service.functions();
    let functions = functions.as_slice();
    let custom_role = doc.path(&["provider", "role"]).is_some()
        || doc
            .path(&["provider", "iam", "role"])
            .is_some_and(|r| r.as_str().is_some());
    if !functions.is_empty() && !custom_role {
        g.resources
            .insert("IamRoleLambdaExecution".into(), "AWS::IAM::Role");
    }
    let versions = doc
        .path(&["provider", "versionFunctions"])
        .and_then(Node::as_str)
        != Some("false");
    let (mut http_api, mut rest_api) = (false, false);
    for (key, function) in functions {
        let Some(name) = key.as_str() else { continue };
        let norm = normalized_function_name(name);
        g.resources
            .insert(format!("{norm}LambdaFunction"), "AWS::Lambda::Function");
        g.resources
            .insert(format!("{norm}LogGroup"), "AWS::Logs::LogGroup");
        g.prefixes
            .push((format!("{norm}LambdaVersion"), "AWS::Lambda::Version"));
        // Every event that invokes it (and an authorizer) grants a permission.
        g.prefixes
            .push((format!("{norm}LambdaPermission"), "AWS::Lambda::Permission"));
        if versions {
            g.outputs.push(format!("{norm}LambdaFunctionQualifiedArn"));
        }
        for event in function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            if event.get("httpApi").is_some() {
                http_api = true;
                g.resources.insert(
                    format!("{norm}LambdaPermissionHttpApi"),
                    "AWS::Lambda::Permission",
                );
            }
            if let Some(http) = event.get("http") {
                rest_api = true;
                g.resources.insert(
                    format!("{norm}LambdaPermissionApiGateway"),
                    "AWS::Lambda::Permission",
                );
                let authorizer = http
                    .get("authorizer")
                    .and_then(|a| a.as_str().or_else(|| a.get("name").and_then(Node::as_str)));
                if let Some(name) = authorizer.filter(|n| !n.starts_with("arn:") && *n != "aws_iam")
                {
                    g.resources.insert(
                        format!("{}ApiGatewayAuthorizer", normalized_function_name(name)),
                        "AWS::ApiGateway::Authorizer",
                    );
                }
            }
            event_resources(&norm, event, &mut g);
        }
    }
    // Each entry of the top-level `layers:` is `<Name>LambdaLayer`.
    for (key, _) in doc.get("layers").and_then(Node::as_map).unwrap_or_default() {
        let Some(name) = key.as_str() else { continue };
        let norm = normalized_function_name(name);
        g.resources
            .insert(format!("{norm}LambdaLayer"), "AWS::Lambda::LayerVersion");
        g.outputs.push(format!("{norm}LambdaLayerQualifiedArn"));
        g.outputs.push(format!("{norm}LambdaLayerHash"));
        g.outputs.push(format!("{norm}LambdaLayerS3Key"));
    }
    plugin_resources(service, functions, &mut g);
    if http_api {
        g.resources
            .insert("HttpApi".into(), "AWS::ApiGatewayV2::Api");
        g.resources
            .insert("HttpApiStage".into(), "AWS::ApiGatewayV2::Stage");
        g.prefixes.push((
            "HttpApiIntegration".into(),
            "AWS::ApiGatewayV2::Integration",
        ));
        g.prefixes
            .push(("HttpApiRoute".into(), "AWS::ApiGatewayV2::Route"));
        g.prefixes
            .push(("HttpApiAuthorizer".into(), "AWS::ApiGatewayV2::Authorizer"));
        g.outputs.push("HttpApiId".into());
        g.outputs.push("HttpApiUrl".into());
    }
    if rest_api {
        g.resources
            .insert("ApiGatewayRestApi".into(), "AWS::ApiGateway::RestApi");
        g.prefixes
            .push(("ApiGatewayResource".into(), "AWS::ApiGateway::Resource"));
        g.prefixes
            .push(("ApiGatewayMethod".into(), "AWS::ApiGateway::Method"));
        g.prefixes
            .push(("ApiGatewayDeployment".into(), "AWS::ApiGateway::Deployment"));
        g.outputs.push("ServiceEndpoint".into());
    }
    g
}

/// What a function's event makes the framework create, by its naming rules
/// (osls `lib/plugins/aws/lib/naming.js`).
fn event_resources(norm: &str, event: &Node, g: &mut Generated) {
    let Some((kind, config)) = event.as_map().and_then(|m| m.first()) else {
        return;
    };
    let mut prefix = |p: String, ty: &'static str| g.prefixes.push((p, ty));
    match kind.as_str().unwrap_or("") {
        "sqs" | "stream" | "msk" | "kafka" | "activemq" | "rabbitmq" => prefix(
            format!("{norm}EventSourceMapping"),
            "AWS::Lambda::EventSourceMapping",
        ),
        "schedule" => prefix(format!("{norm}EventsRuleSchedule"), "AWS::Events::Rule"),
        "cloudwatchEvent" => prefix(
            format!("{norm}EventsRuleCloudWatchEvent"),
            "AWS::Events::Rule",
        ),
        "sns" if !config.as_str().is_some_and(|t| t.starts_with("arn:")) => {
            prefix("SNSTopic".into(), "AWS::SNS::Topic")
        }
        "s3" if config.get("existing").and_then(Node::as_str) != Some("true") => {
            prefix("S3Bucket".into(), "AWS::S3::Bucket")
        }
        "cognitoUserPool" => prefix("CognitoUserPool".into(), "AWS::Cognito::UserPool"),
        "eventBridge" => g
            .suffixes
            .push(("EventBridgeRule".into(), "AWS::Events::Rule")),
        "websocket" => {
            g.prefixes.push((
                format!("{norm}WebsocketsIntegration"),
                "AWS::ApiGatewayV2::Integration",
            ));
            g.suffixes
                .push(("WebsocketsRoute".into(), "AWS::ApiGatewayV2::Route"));
            g.resources
                .insert("WebsocketsApi".into(), "AWS::ApiGatewayV2::Api");
            g.outputs.push("ServiceEndpointWebsocket".into());
            g.resources.insert(
                "WebsocketsDeploymentStage".into(),
                "AWS::ApiGatewayV2::Stage",
            );
            g.prefixes.push((
                "WebsocketsDeployment".into(),
                "AWS::ApiGatewayV2::Deployment",
            ));
        }
        _ => {}
    }
}

/// Plugins whose generated logical ids this tool knows, or that generate
/// none a file would reference. A reference no rule explains in a service
/// that lists any other plugin may be that plugin's: it is a note.
pub const KNOWN_PLUGINS: &[&str] = &[
    "serverless-python-requirements",
    "serverless-iam-roles-per-function",
    "serverless-offline",
    "serverless-esbuild",
    "serverless-webpack",
    "serverless-bundle",
    "serverless-plugin-typescript",
    "serverless-prune-plugin",
    "serverless-dotenv-plugin",
    "serverless-mocha-plugin",
    "serverless-deployment-bucket",
    "serverless-dynamodb-local",
    "serverless-s3-local",
    // Makes the custom domain and its base path mappings with API calls
    // after the deploy; no resource of the template.
    "serverless-domain-manager",
];

/// The plugins a service lists (`plugins:` as a list or as `modules:`).
pub fn plugins(service: &Service) -> Vec<String> {
    let Some(node) = service.doc.get("plugins") else {
        return Vec::new();
    };
    // Kept in a shared file (`plugins: ${file(../common.yml):plugins}`):
    // read there.
    let (file, node) = service.followed(&service.file, node);
    let (file, list) = match node.get("modules") {
        Some(modules) => service.followed(&file, modules),
        None => (file, node),
    };
    match list.as_seq() {
        Some(items) => items
            .iter()
            .filter_map(|p| service.followed(&file, p).1.as_str().map(str::to_string))
            .collect(),
        None if list.is_null() => Vec::new(),
        // A list only the deploy can read: a plugin this tool cannot name.
        None => vec!["<not a list>".to_string()],
    }
}

/// What widely used plugins add to the template, by their naming rules.
fn plugin_resources(service: &Service, functions: &[(Node, Node)], g: &mut Generated) {
    let listed = plugins(service);
    let doc = &service.doc;
    if listed.iter().any(|p| p == "serverless-python-requirements") {
        // In the file, or in a `custom:` it includes whole from another.
        let sections = service.sections();
        let layer = doc
            .path(&["custom", "pythonRequirements", "layer"])
            .or_else(|| {
                sections
                    .iter()
                    .find_map(|(_, section)| section.path(&["pythonRequirements", "layer"]))
            });
        let on = layer.is_some_and(|l| l.as_map().is_some() || l.as_str() == Some("true"));
        if on {
            g.resources.insert(
                "PythonRequirementsLambdaLayer".into(),
                "AWS::Lambda::LayerVersion",
            );
            g.outputs
                .push("PythonRequirementsLambdaLayerQualifiedArn".into());
        }
    }
    // serverless-step-functions: each state machine, under its `id`, else
    // its `name` or its key, normalized, the key's with a suffix.
    if listed.iter().any(|p| p == "serverless-step-functions") {
        let machines = doc.path(&["stepFunctions", "stateMachines"]);
        for (key, machine) in machines.and_then(Node::as_map).unwrap_or_default() {
            let Some(key) = key.as_str() else { continue };
            let id = match (
                machine.get("id").and_then(Node::as_str),
                machine.get("name").and_then(Node::as_str),
            ) {
                (Some(id), _) => normalized_function_name(id),
                (None, Some(name)) if !name.contains("${") => normalized_function_name(name),
                _ => format!("{}StepFunctionsStateMachine", normalized_function_name(key)),
            };
            g.resources.insert(id, "AWS::StepFunctions::StateMachine");
        }
    }
    // serverless-appsync-plugin: one API (`custom.appSync` as one object in
    // v1, top-level `appSync` in v2) and the outputs it adds for it.
    if listed.iter().any(|p| p == "serverless-appsync-plugin") {
        let one = doc
            .path(&["custom", "appSync"])
            .is_some_and(|a| a.as_map().is_some())
            || doc.get("appSync").is_some_and(|a| a.as_map().is_some());
        if one {
            g.resources
                .insert("GraphQlApi".into(), "AWS::AppSync::GraphQLApi");
            g.outputs.push("GraphQlApiId".into());
            g.outputs.push("GraphQlApiUrl".into());
        }
    }
    if listed
        .iter()
        .any(|p| p == "serverless-iam-roles-per-function")
    {
        for (key, function) in functions {
            let Some(name) = key.as_str() else { continue };
            let own = function.get("iamRoleStatements").is_some()
                || function.get("iamRoleStatementsName").is_some();
            if own {
                g.resources.insert(
                    format!("{}IamRoleLambdaExecution", normalized_function_name(name)),
                    "AWS::IAM::Role",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_the_seed_types() {
        assert_eq!(
            attributes("AWS::ApiGatewayV2::Api"),
            Some(&["ApiEndpoint", "ApiId", "ExecuteApiArn"][..])
        );
        assert!(attribute_allowed(
            attributes("AWS::ApiGateway::RestApi").unwrap(),
            "RootResourceId"
        ));
        assert!(attribute_allowed(
            attributes("AWS::CloudFormation::Stack").unwrap(),
            "Outputs.Anything"
        ));
        assert!(!attribute_allowed(
            attributes("AWS::CloudFormation::Stack").unwrap(),
            "Outputs"
        ));
        assert!(attributes("AWS::S3::Buckett").is_none());
        assert!(RESOURCE_TYPES.len() > 1500, "the table covers every type");
    }

    #[test]
    fn events_and_layers_generate_what_the_framework_names() {
        let text = "service: gen\nprovider:\n  name: aws\nlayers:\n  deps:\n    path: deps\nfunctions:\n  work-item:\n    handler: h.work\n    events:\n      - sqs: arn:aws:sqs:us-east-1:1:q\n      - schedule: rate(1 hour)\n      - http:\n          path: x\n          method: get\n          authorizer: checkToken\n      - websocket: $connect\n      - sns: alerts\n";
        let doc = crate::app::yaml::parse(text).unwrap();
        let service = Service::new(
            "gen".into(),
            "gen".into(),
            "gen/serverless.yml".into(),
            text.into(),
            doc,
            Vec::new(),
        );
        let g = generated(&service);
        for (id, ty) in [
            ("DepsLambdaLayer", "AWS::Lambda::LayerVersion"),
            (
                "WorkDashitemEventSourceMappingSQSQ",
                "AWS::Lambda::EventSourceMapping",
            ),
            ("WorkDashitemEventsRuleSchedule1", "AWS::Events::Rule"),
            (
                "CheckTokenApiGatewayAuthorizer",
                "AWS::ApiGateway::Authorizer",
            ),
            ("WebsocketsApi", "AWS::ApiGatewayV2::Api"),
            ("SNSTopicAlerts", "AWS::SNS::Topic"),
        ] {
            assert_eq!(g.type_of(id), Some(ty), "{id}");
        }
        assert_eq!(g.type_of("SomethingElse"), None);
        assert!(g
            .outputs
            .contains(&"DepsLambdaLayerQualifiedArn".to_string()));
    }

    #[test]
    fn function_names_normalize_like_the_framework() {
        assert_eq!(
            normalized_function_name("get-design_v2"),
            "GetDashdesignUnderscorev2"
        );
        assert_eq!(normalized_function_name("health"), "Health");
    }

    #[test]
    fn patterns_match_whole_attributes() {
        assert!(pattern_matches("Treatments.*.Key", "Treatments.1.Key"));
        assert!(!pattern_matches("Treatments.*.Key", "Treatments.1.Keys"));
        assert!(pattern_matches(".*", "Whatever"));
    }
}
