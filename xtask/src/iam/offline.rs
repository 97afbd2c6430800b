//! A service's template as its files tell it, for a service the pinned CLI
//! cannot package yet (it reads a stack that is not deployed): the
//! framework's own resources by its naming rules, and the `resources:` of
//! the files with what the offline resolver resolves. A name it cannot
//! resolve keeps `*` where the variable stood, so the policy names a
//! pattern, never a guess.

use serde_json::{json, Map, Value};

use crate::app::stage::Stage;
use crate::app::template::placeholders;
use crate::app::vars::{self, Context};
use crate::app::Service;
use crate::cfn;

pub fn template(service: &Service, stage: &Stage) -> Value {
    let ctx = service.vars(stage);
    let generated = cfn::generated(service);
    let mut resources = Map::new();
    for (id, kind) in &generated.resources {
        resources.insert(id.clone(), json!({ "Type": kind }));
    }
    // One of each kind the framework names by a prefix or a suffix.
    for (part, kind) in generated.prefixes.iter().chain(&generated.suffixes) {
        resources
            .entry(part.clone())
            .or_insert_with(|| json!({ "Type": kind }));
    }
    // The framework names the functions' role itself.
    if let (Some(role), Some(name)) = (resources.get_mut("IamRoleLambdaExecution"), service.name())
    {
        // As the CLI writes it: the region is the stack's own.
        let name = resolved(name, &ctx);
        role["Properties"] = json!({
            "RoleName": {"Fn::Join": ["-", [name, stage.name(), {"Ref": "AWS::Region"}, "lambdaRole"]]}
        });
    }
    for (_, id, node) in service.entries("Resources") {
        let Some(id) = id.as_str() else { continue };
        resources.insert(id.to_string(), strings_resolved(node.to_json(), &ctx));
    }
    json!({ "Resources": resources })
}

fn strings_resolved(value: Value, ctx: &Context) -> Value {
    match value {
        Value::String(s) if s.contains("${") => Value::String(resolved(&s, ctx)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| strings_resolved(v, ctx))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, strings_resolved(v, ctx)))
                .collect(),
        ),
        other => other,
    }
}

/// `text` resolved, or with `*` for each variable that does not resolve.
fn resolved(text: &str, ctx: &Context) -> String {
    if let Some(done) = vars::resolve(text, ctx) {
        return done;
    }
    let mut out = String::new();
    let mut at = 0;
    for p in placeholders(text) {
        out.push_str(&text[at..p.start]);
        out.push_str(&vars::resolve(p.raw, ctx).unwrap_or_else(|| "*".into()));
        at = p.end;
    }
    out.push_str(&text[at..]);
    out
}
