//! What a resource type's schema demands of its top-level properties
//! (the table is generated: `property_rules.json`), and the check of one
//! known value against it. CloudFormation checks a template against these
//! schemas before it makes anything; the emulator does not, so a
//! rehearsal that deploys proves nothing about them.

use std::sync::OnceLock;

/// What a schema demands of one property's value.
#[derive(Debug, serde::Deserialize)]
pub struct Rule {
    pub property: String,
    /// The least and most characters a name may have.
    pub min: Option<u64>,
    pub max: Option<u64>,
    /// A regular expression the value must contain a match of (JSON
    /// schema's `pattern` is not anchored; the schemas anchor their own).
    pub pattern: Option<String>,
    /// The only values the property takes; empty for any.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One type's row: its name, the properties it requires, its rules.
type Row = (String, Vec<String>, Vec<Rule>);

/// The generated table (`property_rules.json`), sorted by type name, read
/// once; empty if it does not parse, which a unit test rules out.
fn table() -> &'static [Row] {
    static TABLE: OnceLock<Vec<Row>> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(serde::Deserialize)]
        struct Table {
            types: Vec<Row>,
        }
        serde_json::from_str::<Table>(include_str!("property_rules.json"))
            .map(|t| t.types)
            .unwrap_or_default()
    })
}

/// The properties `resource_type` requires and the rules of its
/// properties; `None` for a type whose schema demands neither.
pub fn of(resource_type: &str) -> Option<(&'static [String], &'static [Rule])> {
    let table = table();
    table
        .binary_search_by(|(name, ..)| name.as_str().cmp(resource_type))
        .ok()
        .map(|i| (table[i].1.as_slice(), table[i].2.as_slice()))
}

impl Rule {
    /// What is wrong with `value` under this rule, said of the value; `None`
    /// when it passes.
    pub fn broken_by(&self, value: &str) -> Option<String> {
        if !self.values.is_empty() && !self.values.iter().any(|v| v == value) {
            let values = self
                .values
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Some(format!("is not one of {values}"));
        }
        let length = value.chars().count() as u64;
        if let Some(min) = self.min.filter(|&min| length < min) {
            return Some(format!("is {length} characters, fewer than {min}"));
        }
        if let Some(max) = self.max.filter(|&max| length > max) {
            return Some(format!("is {length} characters, more than {max}"));
        }
        let pattern = self
            .pattern
            .as_deref()
            .and_then(|p| regex::Regex::new(p).ok())?;
        (!pattern.is_match(value)).then(|| format!("does not match `{}`", pattern.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_table_is_sorted_and_every_pattern_compiles() {
        assert!(table().len() > 1000, "{} types", table().len());
        assert!(table().windows(2).all(|w| w[0].0 < w[1].0));
        for (ty, _, rules) in table() {
            for rule in rules {
                if let Some(p) = &rule.pattern {
                    assert!(regex::Regex::new(p).is_ok(), "{ty}.{}: {p}", rule.property);
                }
            }
        }
    }

    #[test]
    fn a_table_needs_its_key_schema_and_a_bucket_name_its_spelling() {
        let (required, _) = of("AWS::DynamoDB::Table").unwrap_or_default();
        assert!(required.iter().any(|p| p == "KeySchema"), "{required:?}");
        let (_, rules) = of("AWS::S3::Bucket").unwrap_or_default();
        let name = rules.iter().find(|r| r.property == "BucketName");
        let name = name.map(|r| {
            (
                r.broken_by("Acme_Uploads_local"),
                r.broken_by("acme-uploads-local"),
            )
        });
        assert!(matches!(name, Some((Some(_), None))), "{name:?}");
        let (_, rules) = of("AWS::DynamoDB::Table").unwrap_or_default();
        let billing = rules.iter().find(|r| r.property == "BillingMode");
        let billing = billing.map(|r| (r.broken_by("PAY_PER_USE"), r.broken_by("PAY_PER_REQUEST")));
        assert!(matches!(billing, Some((Some(_), None))), "{billing:?}");
    }
}
