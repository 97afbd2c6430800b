//! What IAM allows where: the services whose actions take resource ARNs,
//! and the actions of each that AWS allows on `Resource: '*'` only (from
//! the generated `cfn/iam_actions.rs`). The security review reads both.

/// AWS services whose actions take resource ARNs: `Resource: '*'` with
/// them grants every table, bucket, queue… of the account.
pub(super) const RESOURCE_SCOPED: &[(&str, &str, &str)] = &[
    ("dynamodb", "AWS::DynamoDB::Table", "tables"),
    ("s3", "AWS::S3::Bucket", "buckets"),
    ("sqs", "AWS::SQS::Queue", "queues"),
    ("sns", "AWS::SNS::Topic", "topics"),
    ("lambda", "AWS::Lambda::Function", "functions"),
    ("secretsmanager", "AWS::SecretsManager::Secret", "secrets"),
    ("ssm", "AWS::SSM::Parameter", "parameters"),
    ("kms", "AWS::KMS::Key", "keys"),
    ("kinesis", "AWS::Kinesis::Stream", "streams"),
    (
        "states",
        "AWS::StepFunctions::StateMachine",
        "state machines",
    ),
    ("cognito-idp", "AWS::Cognito::UserPool", "user pools"),
];

/// The service prefixes whose actions the review scopes (for `codegen`,
/// which lists the actions of each that AWS allows on `*` only).
pub fn scoped_prefixes() -> impl Iterator<Item = &'static str> {
    RESOURCE_SCOPED.iter().map(|(prefix, ..)| *prefix)
}

/// Whether AWS allows `action` (`dynamodb:ListTables`) on `Resource: '*'`
/// only: it names no resource type in the service authorization
/// reference. A wildcard (`dynamodb:List*`) may cover actions that do, so
/// it is not one.
pub(super) fn star_only(action: &str) -> bool {
    let Some((prefix, name)) = action.split_once(':') else {
        return false;
    };
    if name.contains(['*', '?']) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    crate::cfn::iam_actions::STAR_ONLY_ACTIONS
        .iter()
        .find(|(p, _)| *p == prefix)
        .is_some_and(|(_, actions)| actions.binary_search(&name.as_str()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_actions_naming_no_resource_type_are_star_only() {
        for action in [
            "dynamodb:ListTables",
            "secretsmanager:ListSecrets",
            "sqs:listqueues",
        ] {
            assert!(star_only(action), "{action}");
        }
        for action in [
            "dynamodb:GetItem",
            "dynamodb:List*",
            "sqs:SendMessage",
            "ListTables",
            "xray:PutTraceSegments",
        ] {
            assert!(!star_only(action), "{action}");
        }
    }
}
