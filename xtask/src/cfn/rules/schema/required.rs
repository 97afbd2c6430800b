//! The keys the CLI's schema requires of an object, alone or as a choice
//! (`allOf` parts with `oneOf` of `required`): an IAM statement needs
//! `Effect`, one of `Action`/`NotAction` and one of
//! `Resource`/`NotResource`, or the CLI stops with "unsupported
//! configuration format".

use serde_json::Value as Json;

use super::{named, Walk, UNSUPPORTED_VALUE};
use crate::app::yaml::Node;

impl<'a> Walk<'a> {
    /// The keys an object must have: its schema's `required`, and each
    /// `allOf` part's `required` or choice of them (`oneOf`: exactly one
    /// of `Action`/`NotAction`). Not judged where a key is a variable or
    /// a merge, which the CLI resolves first.
    pub(super) fn required(
        &mut self,
        node: &Node,
        entries: &[(Node, Node)],
        schema: &'a Json,
        path: &[String],
    ) {
        let mut keys = Vec::new();
        for (key, _) in entries {
            match key.as_str() {
                Some(k) if k != "<<" && !k.contains("${") => keys.push(k),
                _ => return,
            }
        }
        let has = |set: &Json| {
            set.get("required")
                .and_then(Json::as_array)
                .is_some_and(|r| r.iter().filter_map(Json::as_str).all(|k| keys.contains(&k)))
        };
        let names = |set: &Json| -> Vec<String> {
            set.get("required")
                .and_then(Json::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Json::as_str)
                        .map(|k| format!("`{k}`"))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut missing = Vec::new();
        if schema.get("required").is_some() && !has(schema) {
            missing.push(names(schema).join(" and "));
        }
        for part in schema
            .get("allOf")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let part = self.resolve(part);
            if part.get("required").is_some() && !has(part) {
                missing.push(names(part).join(" and "));
            }
            let (branches, exactly_one) = match (part.get("oneOf"), part.get("anyOf")) {
                (Some(b), _) => (b, true),
                (None, Some(b)) => (b, false),
                _ => continue,
            };
            let branches: Vec<&Json> = branches.as_array().into_iter().flatten().collect();
            // Choices of keys only: a branch with more to it is not a
            // matter of which keys are there.
            if branches.iter().any(|b| {
                b.as_object()
                    .is_none_or(|o| o.len() != 1 || !o.contains_key("required"))
            }) {
                continue;
            }
            let taken = branches.iter().filter(|b| has(b)).count();
            if taken == 0 || (exactly_one && taken > 1) {
                let choice: Vec<String> = branches.iter().map(|b| names(b).join(" and ")).collect();
                missing.push(format!(
                    "{} {}",
                    if taken == 0 { "one of" } else { "only one of" },
                    choice.join(", ")
                ));
            }
        }
        if missing.is_empty() {
            return;
        }
        self.push(
            node.pos,
            UNSUPPORTED_VALUE,
            format!(
                "the Serverless CLI stops with `Configuration error at {}: unsupported configuration format`: it needs {}",
                named(path),
                missing.join("; ")
            ),
            format!("give it {}", missing.join("; ")),
        );
    }
}
