//! The IAM policy of a role that deploys, removes and rolls back one stage
//! of an app with this tool: built from the stage's stacks as the pinned
//! CLI packages them, so it names what that stage holds and nothing else.
//!
//! Three kinds of permission, each scoped as tightly as AWS lets a policy
//! written before the deploy say:
//! - **Calls the tool and the CLI make themselves** (the stacks, the
//!   deployment bucket, the stage lock and journals, backups, emptied
//!   buckets, smoke users, alarms): on the stage's own resources by name.
//!   Where AWS names a resource by an ID it assigns at creation (a user
//!   pool, an HTTP API), by the tag CloudFormation puts on what a stack
//!   made (`aws:cloudformation:stack-name`).
//! - **What CloudFormation does with the role's credentials** (the
//!   resource types' handler permissions): on any resource, but only for
//!   calls made through CloudFormation (`aws:CalledVia`), which this role
//!   may drive on the stage's stacks alone.
//! - **Actions AWS allows on `*` only** (`cloudformation:ValidateTemplate`,
//!   `dynamodb:ListBackups`): on `*`, as nothing else is accepted.
//!
//! No statement grants a `service:*` or `*` action.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::policy::{Policy, Statement};
use crate::cfn::handlers;
use crate::cfn::rules::iam::star_only;

/// The services a deploy role calls directly, whose `*`-only actions the
/// generated table lists.
pub const DEPLOY_PREFIXES: &[&str] = &[
    "acm",
    "apigateway",
    "cloudformation",
    "cloudwatch",
    "cognito-idp",
    "dynamodb",
    "iam",
    "lambda",
    "logs",
    "s3",
    "sts",
];

/// Where the stage lives.
#[derive(Debug, Clone)]
pub struct Scope {
    pub app: String,
    pub stage: String,
    pub region: String,
    pub account: String,
    /// The stage lock's table (one per account and region).
    pub lock_table: String,
}

/// One service's stack as the pinned CLI packages it for the stage.
#[derive(Debug, Clone)]
pub struct Stack {
    pub service: String,
    pub name: String,
    /// The packaged `cloudformation-template-update-stack.json`.
    pub template: Value,
    /// `provider.deploymentBucket.name`, when the service names its own.
    pub deployment_bucket: Option<String>,
    /// The service's name as the CLI knows it (`service:`), which names
    /// the image repository it looks for on removal; `None` for a stack
    /// the CLI does not deploy.
    pub cli_service: Option<String>,
}

/// The policy, and what a reader should know about it.
#[derive(Debug, Clone)]
pub struct Built {
    pub policy: Policy,
    /// Every resource type of the templates.
    pub types: BTreeSet<String>,
    /// Types whose handlers no schema names (custom resources, third-party
    /// types): their permissions are the owner's to add.
    pub unknown_types: BTreeSet<String>,
}

/// What the stack operations of a deploy, a removal and a rollback call.
const STACK_ACTIONS: &[&str] = &[
    "CancelUpdateStack",
    "ContinueUpdateRollback",
    "CreateChangeSet",
    "CreateStack",
    "DeleteChangeSet",
    "DeleteStack",
    "DescribeChangeSet",
    "DescribeStackEvents",
    "DescribeStackResource",
    "DescribeStackResources",
    "DescribeStacks",
    "ExecuteChangeSet",
    "GetTemplate",
    "GetTemplateSummary",
    "ListChangeSets",
    "ListStackResources",
    "RollbackStack",
    "TagResource",
    "UntagResource",
    "UpdateStack",
    "UpdateTerminationProtection",
];

/// `*`-only actions a run calls: template checks, the exports a plan
/// reads, the backups of a table.
const ANYWHERE_ACTIONS: &[&str] = &[
    "cloudformation:ListExports",
    "cloudformation:ListStacks",
    "cloudformation:ValidateTemplate",
    "cloudwatch:GetMetricStatistics",
    "dynamodb:ListBackups",
];

/// The deployment bucket's objects: artifacts written, read, listed and
/// pruned.
const ARTIFACT_ACTIONS: &[&str] = &[
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:PutObject",
];

/// A table's backup before a run and its restore in a rollback.
const TABLE_ACTIONS: &[&str] = &[
    "dynamodb:CreateBackup",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeTable",
    "dynamodb:RestoreTableFromBackup",
];

/// A bucket emptied before its stack is removed (`--empty-buckets`).
const BUCKET_ACTIONS: &[&str] = &[
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:GetBucketVersioning",
    "s3:ListBucket",
    "s3:ListBucketVersions",
];

/// The smoke test's own user in a user pool, made and removed by the run.
const SMOKE_USER_ACTIONS: &[&str] = &[
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminListGroupsForUser",
    "cognito-idp:AdminSetUserPassword",
    "cognito-idp:CreateGroup",
    "cognito-idp:DescribeUserPool",
    "cognito-idp:ListUsers",
];

/// The policy for `stacks`, all of one stage.
pub fn policy(scope: &Scope, stacks: &[Stack]) -> Built {
    let Scope {
        region, account, ..
    } = scope;
    let mut statements = Vec::new();
    let stack_arns: Vec<String> = stacks
        .iter()
        .map(|s| {
            format!(
                "arn:aws:cloudformation:{region}:{account}:stack/{}/*",
                s.name
            )
        })
        .collect();
    let stack_names: Vec<String> = stacks.iter().map(|s| s.name.clone()).collect();
    statements.push(Statement::allow(
        "StageStacks",
        prefixed("cloudformation", STACK_ACTIONS),
        stack_arns,
    ));
    statements.push(Statement::allow(
        "ActionsAwsAllowsOnAnyResourceOnly",
        ANYWHERE_ACTIONS.iter().map(|a| a.to_string()).collect(),
        vec!["*".into()],
    ));

    let mut types = BTreeSet::new();
    let mut unknown_types = BTreeSet::new();
    let mut through_cloudformation = BTreeSet::new();
    let mut artifacts = Vec::new();
    let mut tables = Vec::new();
    let mut buckets = Vec::new();
    let mut roles = Vec::new();
    let mut alarms = Vec::new();
    let mut user_pools = false;
    let mut repositories = Vec::new();
    for stack in stacks {
        if let Some(service) = &stack.cli_service {
            repositories.push(format!(
                "arn:aws:ecr:{region}:{account}:repository/serverless-{service}-{}",
                scope.stage
            ));
        }
        if let Some(bucket) = &stack.deployment_bucket {
            artifacts.push(bucket_arn(bucket));
        }
        let resources = stack
            .template
            .get("Resources")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (logical, resource) in &resources {
            let Some(kind) = resource.get("Type").and_then(Value::as_str) else {
                continue;
            };
            types.insert(kind.to_string());
            match handlers::permissions(kind) {
                Some(permissions) => through_cloudformation.extend(permissions),
                None => {
                    unknown_types.insert(kind.to_string());
                }
            }
            let name = |property: &str| {
                resource
                    .pointer(&format!("/Properties/{property}"))
                    .map(|v| name_of(v, &stack.name, scope))
            };
            let generated = format!("{}-{logical}-*", stack.name);
            match kind {
                "AWS::S3::Bucket" => {
                    let arn = match name("BucketName") {
                        Some(bucket) => bucket_arn(&bucket),
                        // Generated bucket names are the stack's, in lower case.
                        None => bucket_arn(&format!("{}-*", stack.name.to_ascii_lowercase())),
                    };
                    if logical == "ServerlessDeploymentBucket" {
                        artifacts.push(arn);
                    } else {
                        buckets.push(arn);
                    }
                }
                "AWS::DynamoDB::Table" => {
                    let table = name("TableName").unwrap_or(generated);
                    tables.push(format!("arn:aws:dynamodb:{region}:{account}:table/{table}"));
                    tables.push(format!(
                        "arn:aws:dynamodb:{region}:{account}:table/{table}/backup/*"
                    ));
                }
                "AWS::IAM::Role" => {
                    let role = name("RoleName").unwrap_or(generated);
                    roles.push(format!("arn:aws:iam::{account}:role/{role}"));
                }
                "AWS::CloudWatch::Alarm" => {
                    let alarm = name("AlarmName").unwrap_or(generated);
                    alarms.push(format!(
                        "arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"
                    ));
                }
                "AWS::Cognito::UserPool" => user_pools = true,
                _ => {}
            }
        }
    }

    if !artifacts.is_empty() {
        let objects = artifacts
            .iter()
            .map(|b| format!("{b}/*"))
            .collect::<Vec<_>>();
        statements.push(Statement::allow(
            "DeploymentArtifacts",
            strings(ARTIFACT_ACTIONS),
            artifacts.into_iter().chain(objects).collect(),
        ));
    }
    // The handlers' own permissions, usable through CloudFormation only.
    // Only what IAM reads as an action (a schema may list `s3:REST.PUT.OBJECT`),
    // once whatever its case.
    let mut seen = BTreeSet::new();
    let through: Vec<String> = through_cloudformation
        .into_iter()
        .filter(|a| is_action(a) && seen.insert(a.to_ascii_lowercase()))
        .collect();
    if !through.is_empty() {
        statements.push(
            Statement::allow("ResourcesThroughCloudFormation", through, vec!["*".into()]).when(
                json!({"ForAnyValue:StringEquals": {"aws:CalledVia": ["cloudformation.amazonaws.com"]}}),
            ),
        );
    }
    if !roles.is_empty() {
        statements.push(Statement::allow(
            "PassTheStageRoles",
            vec!["iam:PassRole".into()],
            roles,
        ));
    }
    statements.push(
        Statement::allow(
            "StageLockAndJournals",
            strings(&[
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
            ]),
            vec![format!(
                "arn:aws:dynamodb:{region}:{account}:table/{}",
                scope.lock_table
            )],
        )
        .when(json!({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": lock_keys(scope)}})),
    );
    if !tables.is_empty() {
        statements.push(Statement::allow(
            "StageTablesBackedUp",
            strings(TABLE_ACTIONS),
            tables,
        ));
    }
    if !buckets.is_empty() {
        let objects = buckets.iter().map(|b| format!("{b}/*")).collect::<Vec<_>>();
        statements.push(Statement::allow(
            "StageBucketsEmptied",
            strings(BUCKET_ACTIONS),
            buckets.into_iter().chain(objects).collect(),
        ));
    }
    if user_pools {
        statements.push(
            Statement::allow(
                "SmokeUsers",
                strings(SMOKE_USER_ACTIONS),
                vec![format!("arn:aws:cognito-idp:{region}:{account}:userpool/*")],
            )
            .when(json!({"StringEquals": {"aws:ResourceTag/aws:cloudformation:stack-name": stack_names}})),
        );
    }
    if !repositories.is_empty() {
        // The CLI removes a service's image repository with its stack.
        statements.push(Statement::allow(
            "CliImageRepositories",
            strings(&["ecr:DeleteRepository", "ecr:DescribeRepositories"]),
            repositories,
        ));
    }
    if !alarms.is_empty() {
        statements.push(Statement::allow(
            "StageAlarms",
            vec!["cloudwatch:DescribeAlarms".into()],
            alarms,
        ));
    }
    Built {
        policy: Policy::new(statements),
        types,
        unknown_types,
    }
}

/// A name property as IAM can match it: a literal as it is; `Fn::Sub` and
/// `Fn::Join` with the stack's pseudo parameters filled in and `*` for
/// what only the deploy knows (another resource's attribute, a parameter).
fn name_of(value: &Value, stack: &str, scope: &Scope) -> String {
    let pseudo = |name: &str| match name {
        "AWS::StackName" => Some(stack.to_string()),
        "AWS::Region" => Some(scope.region.clone()),
        "AWS::AccountId" => Some(scope.account.clone()),
        "AWS::Partition" => Some("aws".to_string()),
        _ => None,
    };
    if let Some(text) = value.as_str() {
        return text.to_string();
    }
    if let Some(name) = value.get("Ref").and_then(Value::as_str) {
        return pseudo(name).unwrap_or_else(|| "*".into());
    }
    if let Some(sub) = value.get("Fn::Sub") {
        let text = sub
            .as_str()
            .or_else(|| sub.get(0).and_then(Value::as_str))
            .unwrap_or("*");
        // Each `${...}` found by the one walker of placeholders.
        let mut out = String::new();
        let mut at = 0;
        for p in crate::app::template::placeholders(text) {
            out.push_str(&text[at..p.start]);
            out.push_str(&pseudo(p.inner).unwrap_or_else(|| "*".into()));
            at = p.end;
        }
        out.push_str(&text[at..]);
        return out;
    }
    if let Some([separator, parts]) = value
        .get("Fn::Join")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        let separator = separator.as_str().unwrap_or_default();
        return parts
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| name_of(p, stack, scope))
                    .collect::<Vec<_>>()
                    .join(separator)
            })
            .unwrap_or_else(|| "*".into());
    }
    "*".into()
}

/// The stage's lock and its journals' keys in the lock table.
pub fn lock_keys(scope: &Scope) -> Vec<String> {
    let id = format!("{}/{}/{}", scope.app, scope.stage, scope.region);
    vec![id.clone(), format!("*/{id}/*")]
}

/// `service:Action`, as IAM's grammar has it (no wildcard: a handler's
/// permission names one action).
pub fn is_action(text: &str) -> bool {
    text.split_once(':').is_some_and(|(service, action)| {
        !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !action.is_empty()
            && action.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn bucket_arn(name: &str) -> String {
    format!("arn:aws:s3:::{name}")
}

fn prefixed(prefix: &str, actions: &[&str]) -> Vec<String> {
    actions.iter().map(|a| format!("{prefix}:{a}")).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What a policy may not hold: a `*` or `service:*` action, or `*` as a
/// resource for an action AWS scopes, outside the statement that is
/// bound to calls through CloudFormation.
pub fn breaches(policy: &Policy) -> Vec<String> {
    let mut found = Vec::new();
    for statement in &policy.statements {
        for action in &statement.actions {
            if action == "*" || action.ends_with(":*") {
                found.push(format!("{}: the action {action}", statement.sid));
            }
        }
        let through_cloudformation = statement
            .condition
            .as_ref()
            .is_some_and(|c| c.to_string().contains("cloudformation.amazonaws.com"));
        if statement.resources.iter().any(|r| r == "*") && !through_cloudformation {
            for action in statement.actions.iter().filter(|a| !star_only(a)) {
                found.push(format!(
                    "{}: {action} on `*`, though AWS scopes it to resources",
                    statement.sid
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            app: "shop".into(),
            stage: "prod".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            lock_table: "xtask-deploy-locks".into(),
        }
    }

    fn stack(name: &str, template: Value) -> Stack {
        Stack {
            service: name.into(),
            name: name.into(),
            template,
            deployment_bucket: None,
            cli_service: Some(name.trim_end_matches("-prod").into()),
        }
    }

    fn stacks() -> Vec<Stack> {
        vec![stack(
            "orders-prod",
            json!({"Resources": {
                "ServerlessDeploymentBucket": {"Type": "AWS::S3::Bucket"},
                "Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "orders-prod"}},
                "Uploads": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "shop-uploads-prod"}},
                "Pool": {"Type": "AWS::Cognito::UserPool"},
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "orders-prod-eu-west-1-lambdaRole"}},
                "Hook": {"Type": "Custom::Seed"},
                "Audit": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Fn::Sub": "${AWS::StackName}-audit-${Suffix}"}}}
            }}),
        )]
    }

    #[test]
    fn the_stage_s_own_calls_are_on_its_own_resources() {
        let built = policy(&scope(), &stacks());
        let p = &built.policy;
        let allowed = |action: &str, resource: &str| p.allowing(action, resource).is_some();
        let stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/orders-prod/abc";
        assert!(allowed("cloudformation:UpdateStack", stack));
        assert!(!allowed(
            "cloudformation:UpdateStack",
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/orders-dev/abc"
        ));
        assert!(allowed(
            "s3:PutObject",
            "arn:aws:s3:::orders-prod-serverlessdeploymentbucket-1x2y/serverless/a.zip"
        ));
        assert!(!allowed(
            "s3:PutObject",
            "arn:aws:s3:::orders-dev-serverlessdeploymentbucket-1/k"
        ));
        assert!(allowed(
            "dynamodb:CreateBackup",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-prod"
        ));
        assert!(!allowed(
            "dynamodb:CreateBackup",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/orders-dev"
        ));
        assert!(allowed(
            "s3:DeleteObjectVersion",
            "arn:aws:s3:::shop-uploads-prod/x"
        ));
        assert!(allowed(
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/orders-prod-eu-west-1-lambdaRole"
        ));
    }

    #[test]
    fn every_type_s_handlers_are_granted_through_cloudformation_only() {
        let built = policy(&scope(), &stacks());
        let through = built
            .policy
            .statements
            .iter()
            .find(|s| s.sid == "ResourcesThroughCloudFormation")
            .expect("the handlers' statement");
        for kind in [
            "AWS::DynamoDB::Table",
            "AWS::Cognito::UserPool",
            "AWS::IAM::Role",
        ] {
            for action in handlers::permissions(kind).unwrap() {
                assert!(through.actions.contains(&action), "{kind}: {action}");
            }
        }
        assert!(through.condition.is_some());
        assert!(
            through.actions.iter().all(|a| is_action(a)),
            "{:?}",
            through.actions
        );
        assert!(!is_action("s3:REST.PUT.OBJECT") && !is_action("s3:*"));
        assert_eq!(
            built.unknown_types,
            BTreeSet::from(["Custom::Seed".to_string()])
        );
        assert_eq!(breaches(&built.policy), Vec::<String>::new());
    }

    #[test]
    fn a_wildcard_action_or_a_scoped_action_on_any_resource_is_a_breach() {
        let p = Policy::new(vec![
            Statement::allow("A", vec!["s3:*".into()], vec!["arn:aws:s3:::b".into()]),
            Statement::allow("B", vec!["dynamodb:PutItem".into()], vec!["*".into()]),
            Statement::allow("C", vec!["dynamodb:ListBackups".into()], vec!["*".into()]),
        ]);
        assert_eq!(
            breaches(&p),
            [
                "A: the action s3:*",
                "B: dynamodb:PutItem on `*`, though AWS scopes it to resources"
            ]
        );
    }

    #[test]
    fn the_lock_table_is_open_to_the_stage_s_own_keys() {
        let keys = lock_keys(&scope());
        assert_eq!(keys, ["shop/prod/eu-west-1", "*/shop/prod/eu-west-1/*"]);
        let matches = |k: &str| keys.iter().any(|p| super::super::policy::matches(p, k));
        assert!(matches("journal/shop/prod/eu-west-1/r1"));
        assert!(!matches("journal/shop/dev/eu-west-1/r1") && !matches("shop/prod-x/eu-west-1"));
    }
}
