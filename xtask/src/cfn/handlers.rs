//! The IAM permissions a resource type's CloudFormation handlers need
//! (create, update, delete and read), from the generated
//! `handler_permissions.txt`.

static TABLE: &str = include_str!("handler_permissions.txt");

/// The permissions of `type_name`'s handlers (`dynamodb:CreateTable`, …),
/// sorted; `None` for a type the schemas do not know (a custom resource,
/// a third-party type) or whose schema names none.
pub fn permissions(type_name: &str) -> Option<Vec<String>> {
    let line = TABLE
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(' ').next() == Some(type_name))?;
    let mut out: Vec<String> = line
        .split(' ')
        .skip(1)
        .filter_map(|group| group.split_once(':'))
        .flat_map(|(prefix, actions)| actions.split(',').map(move |a| format!("{prefix}:{a}")))
        .collect();
    out.sort();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_s_handlers_create_and_delete_it() {
        let table = permissions("AWS::DynamoDB::Table").expect("a known type");
        for action in [
            "dynamodb:CreateTable",
            "dynamodb:DeleteTable",
            "dynamodb:DescribeTable",
        ] {
            assert!(table.iter().any(|a| a == action), "{action} in {table:?}");
        }
        assert_eq!(permissions("Custom::Anything"), None);
        assert_eq!(permissions("AWS::DynamoDB"), None);
    }
}
