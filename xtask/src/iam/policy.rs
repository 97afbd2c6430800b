//! An IAM policy document as AWS reads it, and the question the tests ask
//! of it: does a statement allow this action on this resource.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"Version": "2012-10-17", "Statement": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Policy {
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Statement")]
    pub statements: Vec<Statement>,
}

/// One `Allow` statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: String,
    #[serde(rename = "Action")]
    pub actions: Vec<String>,
    #[serde(rename = "Resource")]
    pub resources: Vec<String>,
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

impl Statement {
    pub fn allow(sid: &str, actions: Vec<String>, resources: Vec<String>) -> Statement {
        let mut actions = actions;
        actions.sort();
        actions.dedup();
        let mut resources = resources;
        resources.sort();
        resources.dedup();
        Statement {
            sid: sid.to_string(),
            effect: "Allow".into(),
            actions,
            resources,
            condition: None,
        }
    }

    pub fn when(mut self, condition: Value) -> Statement {
        self.condition = Some(condition);
        self
    }

    /// Whether the statement names the action and the resource (its
    /// condition aside: that is AWS's to evaluate at the call).
    pub fn names(&self, action: &str, resource: &str) -> bool {
        self.actions
            .iter()
            .any(|a| matches(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && self.resources.iter().any(|r| matches(r, resource))
    }
}

impl Policy {
    pub fn new(statements: Vec<Statement>) -> Policy {
        Policy {
            version: "2012-10-17".into(),
            statements,
        }
    }

    /// The first statement that allows `action` on `resource`.
    pub fn allowing(&self, action: &str, resource: &str) -> Option<&Statement> {
        self.statements.iter().find(|s| s.names(action, resource))
    }
}

pub use crate::cfn::rules::iam::matches;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_iam_matches_them() {
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b.zip"));
        assert!(matches(
            "arn:aws:s3:::api-prod-*",
            "arn:aws:s3:::api-prod-x1"
        ));
        assert!(!matches(
            "arn:aws:s3:::api-prod-*",
            "arn:aws:s3:::api-dev-x1"
        ));
        assert!(matches("a?c", "abc") && !matches("a?c", "ac"));
        assert!(matches("*", "") && matches("a*b*c", "aXbYbc"));
        assert!(!matches("arn:aws:s3:::b", "arn:aws:s3:::b/k"));
    }

    #[test]
    fn actions_match_without_case_and_resources_with_it() {
        let s = Statement::allow(
            "S",
            vec!["dynamodb:Get*".into()],
            vec!["arn:aws:dynamodb:r:1:table/T".into()],
        );
        assert!(s.names("DynamoDB:GetItem", "arn:aws:dynamodb:r:1:table/T"));
        assert!(!s.names("dynamodb:GetItem", "arn:aws:dynamodb:r:1:table/t"));
        assert!(!s.names("dynamodb:PutItem", "arn:aws:dynamodb:r:1:table/T"));
    }
}
