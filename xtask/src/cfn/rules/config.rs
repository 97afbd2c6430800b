//! What the Serverless CLI refuses when it reads a service's configuration,
//! before any template exists: osls 4.3.1 validates the configuration
//! against its schema and stops (`configValidationMode: error`, its
//! default) or warns (`warn`) or says nothing (`off`). Each property here
//! was seen refused by the pinned CLI (`serverless package`, offline):
//! properties v3 removed (`provider.lambdaHashingVersion`,
//! `package.exclude` / `package.include`, in a service or a function), a
//! function-level `cors:` (it belongs to the `http` event), and an event
//! item with a key beside the event's (`- sns:` then `arn:` at the same
//! indentation), which the schema reads as no event it knows.

use std::path::{Path, PathBuf};

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::vars::{self, Source};
use crate::app::yaml::{Node, Value};
use crate::app::Service;

pub const UNRECOGNIZED_PROPERTY: &str = "unrecognized-property";
pub const EXTERNAL_API_SETTING: &str = "external-api-setting";
pub const UNSUPPORTED_EVENT: &str = "unsupported-event";

/// How the CLI treats a configuration its schema refuses
/// (`configValidationMode`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `error`, the default: the CLI stops.
    Error,
    /// `warn`: the CLI says so and goes on.
    Warn,
    /// `off`: the CLI does not check.
    Off,
}

fn mode(doc: &Node) -> Mode {
    match doc.get("configValidationMode").and_then(Node::as_str) {
        Some("warn") => Mode::Warn,
        Some("off") => Mode::Off,
        _ => Mode::Error,
    }
}

/// Whether the CLI stops on what its schema refuses in this service: it
/// validates (`configValidationMode` is not `warn` or `off`) and the
/// schema is AWS's (`provider.name: aws`, or none).
pub(super) fn schema_stops(doc: &Node) -> bool {
    let aws = doc
        .path(&["provider", "name"])
        .and_then(Node::as_str)
        .is_none_or(|name| name == "aws");
    aws && mode(doc) == Mode::Error
}

/// The CLI's configuration refusals of one service: errors in `out`, or,
/// where the service asks the CLI only to warn, in `warnings`.
pub(super) fn refusals(
    service: &Service,
    stage: &Stage,
    out: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
) {
    let doc = &service.doc;
    // The CLI refuses `service: {name: …}` before it reads its schema's
    // mode: whatever `configValidationMode` says.
    if let Some(object) = doc.get("service").filter(|s| s.as_map().is_some()) {
        out.push(Finding::new(
            &service.file,
            object.pos,
            super::schema::UNSUPPORTED_VALUE,
            "the Serverless CLI stops with `Object notation for \"service\" property is not supported. Set \"service\" property directly with service name.`",
            "write `service: <name>` (the name alone)",
        ));
    }
    let mode = mode(doc);
    if mode == Mode::Off {
        return;
    }
    let mut found = Vec::new();
    let file = service.file.as_path();
    removed(
        file,
        doc,
        "provider",
        &["lambdaHashingVersion"],
        "remove it: since v3 the CLI always hashes functions the 20201221 way",
        &mut found,
    );
    let patterns = "write both as `package.patterns` (an excluded glob starts with `!`)";
    removed(
        file,
        doc,
        "package",
        &["exclude", "include"],
        patterns,
        &mut found,
    );
    let functions = doc
        .get("functions")
        .and_then(Node::as_map)
        .unwrap_or_default();
    for (name, function) in functions {
        let name = name.as_str().unwrap_or_default();
        let at = format!("functions.{name}");
        unrecognized(file, function, &at, &["cors"], "move it to the function's `http` event (`- http: {path, method, cors: true}`), or to `provider.httpApi.cors` for `httpApi` events", &mut found);
        if let Some(package) = function.get("package") {
            unrecognized(
                file,
                package,
                &format!("{at}.package"),
                &["exclude", "include"],
                patterns,
                &mut found,
            );
        }
        let events = function
            .get("events")
            .and_then(Node::as_seq)
            .unwrap_or_default();
        for (i, event) in events.iter().enumerate() {
            event_item(file, event, &format!("{at}.events.{i}"), &mut found);
            // One item that a variable makes a list (the CLI does not
            // spread it into the events around it).
            if let Some(text) = list_item(service, stage, event) {
                found.push(Finding::new(
                    file,
                    event.pos,
                    super::schema::UNSUPPORTED_VALUE,
                    format!("`{text}` is a list where the CLI wants one event: it stops with `Configuration error at '{at}.events.{i}': must be object`"),
                    "name one event with the variable, or write the list's events as items of `events:` themselves".to_string(),
                ));
            }
        }
    }
    // The whole schema, where the rules above have not said it better:
    // the service's file, then each section it includes whole.
    // With plugins, the schema is the CLI's and theirs, when the table
    // knows every one; else what a plugin may add stays unknown.
    // A key a known plugin adds is judged by its definition even where
    // another plugin is unknown; what is left unknown stays a question.
    let (schema, unverified) =
        match super::plugin_schema::with_known_plugins(&plugin_names(service)) {
            Some((schema, all_known)) => (Some(schema), !all_known),
            None => (None, true),
        };
    let schema = schema.as_deref();
    // What the CLI would say, as the findings quote it.
    let said = |f: &Finding| {
        let quoted = f.message.split("`Configuration error ").nth(1)?;
        quoted.split('`').next().map(str::to_string)
    };
    let mut schema_findings = super::schema::check(file, doc, schema);
    for (included, node, at) in whole_includes(service, stage) {
        schema_findings.extend(super::schema::check_section(&included, &node, &at, schema));
    }
    for finding in schema_findings {
        // Said above, whatever the mode.
        if finding.message.contains("Object notation for") {
            continue;
        }
        if found
            .iter()
            .any(|f| (f.line == finding.line && f.col == finding.col) || said(f) == said(&finding))
        {
            continue;
        }
        let finding = v4_said(finding);
        if unverified && !framework_key(&finding) {
            // A plugin may extend the schema with this very key.
            let mut finding = finding;
            finding.message = format!(
                "unverified: {} unless a plugin the service lists adds it",
                finding.message
            );
            warnings.push(finding);
        } else {
            found.push(finding);
        }
    }
    match mode {
        Mode::Warn => warnings.extend(found.into_iter().map(|mut f| {
            f.message = format!(
                "{} (a warning under `configValidationMode: warn`)",
                f.message
            );
            f
        })),
        _ => out.extend(found),
    }
}

/// Settings the CLI's API Gateway events refuse beside an imported REST
/// API (`provider.apiGateway.restApiId`): tracing and logs of an API it
/// does not make. It stops at packaging, whatever `configValidationMode`
/// says, with the error quoted. (A missing root resource id is
/// `shared_api::root_resource`'s.)
pub(super) fn external_rest_api(service: &Service, out: &mut Vec<Finding>) {
    let doc = &service.doc;
    let Some(api) = doc.path(&["provider", "apiGateway"]) else {
        return;
    };
    if api.get("restApiId").is_none() {
        return;
    }
    let file = service.file.as_path();
    let mut refuse = |pos, code: &str, said: &str, fix: &str| {
        out.push(Finding::new(
            file,
            pos,
            EXTERNAL_API_SETTING,
            format!("the Serverless CLI stops with `{said}` ({code})"),
            fix,
        ));
    };
    for (section, key, code) in [
        ("tracing", "apiGateway", "API_GATEWAY_EXTERNAL_API_TRACING"),
        ("logs", "restApi", "API_GATEWAY_EXTERNAL_API_LOGS"),
    ] {
        let Some((key_node, value)) = doc.path(&["provider", section]).and_then(|s| s.entry(key))
        else {
            continue;
        };
        if value.as_str() == Some("null") || value.as_str() == Some("~") {
            continue;
        }
        refuse(
            key_node.pos,
            code,
            &format!("When external API Gateway resource is imported via \"provider.apiGateway.restApiId\", property \"provider.{section}.{key}\" is ineffective."),
            &format!("remove `provider.{section}.{key}` from this service: set it in the service that makes the REST API"),
        );
    }
}

/// The plugins a service lists (`plugins: [a, b]`, or `plugins.modules`);
/// one written with a variable is kept as written, which no table knows.
pub(super) fn plugin_names(service: &Service) -> Vec<String> {
    let Some(plugins) = service.doc.get("plugins") else {
        return Vec::new();
    };
    // A list kept in a shared file (`plugins: ${file(../common.yml):plugins}`)
    // is read there; one that cannot be read is no list.
    let (file, plugins) = service.followed(&service.file, plugins);
    let list = match plugins.get("modules") {
        Some(modules) => service.followed(&file, modules).1,
        None => plugins,
    };
    match list.as_seq() {
        Some(items) => items
            .iter()
            .map(|item| {
                let (_, item) = service.followed(&file, item);
                item.as_str().unwrap_or("<not a name>").to_string()
            })
            .collect(),
        // Another shape: not a list the table can judge.
        None if list.is_null() => Vec::new(),
        None => vec!["<not a list>".to_string()],
    }
}

/// The sections the service's file includes whole from other files
/// (`provider: ${file(./provider.yml)}`, `custom: ${file(./x.yml):custom}`,
/// an item `- ${file(./fns.yml)}` of a `functions` or `resources` list):
/// each file, what it gives, and the place it stands in. A path only the
/// deploy knows, or a file that is not there, is left to other rules.
fn whole_includes(service: &Service, stage: &Stage) -> Vec<(PathBuf, Node, Vec<String>)> {
    let ctx = service.vars(stage);
    let mut out = Vec::new();
    let mut visit = |node: &Node, at: Vec<String>| {
        let Some(text) = node.as_str() else { return };
        let vars = vars::find_all(text);
        let [var] = vars.as_slice() else { return };
        if var.source != Source::File
            || var.start != 0
            || var.end != text.len()
            || var.fallback.is_some()
        {
            return;
        }
        let Some(path) = var.arg.as_deref().and_then(|a| vars::resolve(a, &ctx)) else {
            return;
        };
        let file = crate::sys::paths::normalize(&service.dir.join(&path));
        let Ok((_, doc)) = crate::app::yaml::parse_file(&file) else {
            return;
        };
        let keys: Vec<&str> = var.address.split('.').filter(|k| !k.is_empty()).collect();
        if let Some(section) = doc.path(&keys) {
            out.push((file, section.clone(), at));
        }
    };
    for (key, value) in service.doc.as_map().unwrap_or_default() {
        let Some(key) = key.as_str() else { continue };
        let at = vec![key.to_string()];
        match &value.value {
            // The CLI merges a list of functions or resources first.
            Value::Seq(items) if matches!(key, "functions" | "resources") => {
                for item in items {
                    visit(item, at.clone());
                }
            }
            Value::Map(entries) => {
                for (child, child_value) in entries {
                    if let Some(child) = child.as_str() {
                        visit(child_value, vec![key.to_string(), child.to_string()]);
                    }
                }
            }
            _ => visit(value, at),
        }
    }
    out
}

/// Top-level keys the Serverless Framework itself reads in versions the
/// pinned CLI does not follow (Serverless Inc's dashboard and v4's
/// `stages`): refused whatever plugins a service lists, as no plugin
/// takes over the framework's own names.
const FRAMEWORK_ROOT_KEYS: &[&str] = &[
    "app",
    "org",
    "tenant",
    "outputs",
    "console",
    "dashboard",
    "stages",
    "build",
];

/// Root keys of Serverless Framework v4 alone (its own bundling, its
/// stage settings), which the pinned CLI, on Framework v3's line, stops at.
const V4_ROOT_KEYS: &[&str] = &["build", "stages"];

/// Whether `finding` is the CLI refusing one of [`FRAMEWORK_ROOT_KEYS`],
/// or a top-level key a letter or two from one of the framework's own
/// (`useDotEvn`): a plugin adds keys of its own, not near-copies of the
/// framework's.
fn framework_key(finding: &Finding) -> bool {
    let at_root = finding.message.contains("at root: unrecognized property");
    at_root && finding.fix.starts_with("did you mean")
        || FRAMEWORK_ROOT_KEYS.iter().any(|key| {
            finding
                .message
                .contains(&format!("at root: unrecognized property '{key}'"))
        })
}

/// A v4-only root key said as what it is: written for Framework v4,
/// which this tool's CLI is not.
fn v4_said(mut finding: Finding) -> Finding {
    if let Some(key) = V4_ROOT_KEYS.iter().find(|key| {
        finding
            .message
            .contains(&format!("at root: unrecognized property '{key}'"))
    }) {
        finding.message = format!(
            "{}: `{key}` is Serverless Framework v4's own, and the CLI this tool runs (osls, Framework v3's line) does not read it",
            finding.message
        );
        finding.fix = if *key == "build" {
            "bundle with a plugin the CLI loads (serverless-esbuild) instead of v4's `build:`, or set SERVERLESS_BIN to a v4 CLI".into()
        } else {
            "write the per-stage values under `params:` (osls reads `params.<stage>`), or set SERVERLESS_BIN to a v4 CLI".into()
        };
    }
    finding
}

/// Removed properties of a top-level section.
fn removed(
    file: &Path,
    doc: &Node,
    section: &str,
    keys: &[&str],
    fix: &str,
    out: &mut Vec<Finding>,
) {
    if let Some(node) = doc.get(section) {
        unrecognized(file, node, section, keys, fix, out);
    }
}

/// Each of `keys` written in the map `node` (at `at`, as the CLI names it).
fn unrecognized(
    file: &Path,
    node: &Node,
    at: &str,
    keys: &[&str],
    fix: &str,
    out: &mut Vec<Finding>,
) {
    for key in keys {
        if let Some((key_node, _)) = node.entry(key) {
            out.push(Finding::new(
                file,
                key_node.pos,
                UNRECOGNIZED_PROPERTY,
                format!("the Serverless CLI stops with `Configuration error at '{at}': unrecognized property '{key}'`"),
                fix,
            ));
        }
    }
}

/// An event item is a map of one key, the event's name: a second key
/// beside it (`- sns:` then `arn:` at the same indentation) makes an item
/// the CLI's schema matches to no event.
/// The text of an event item that is one variable standing for a list:
/// `${self:custom.events.${sls:stage}}`, `${file(./events.yml):cron}`.
fn list_item<'n>(service: &Service, stage: &Stage, event: &'n Node) -> Option<&'n str> {
    let text = event.as_str()?;
    let found = vars::find(text);
    let [var] = found.as_slice() else {
        return None;
    };
    if var.start != 0 || var.end != text.len() || var.fallback.is_some() {
        return None;
    }
    let (_, followed) = service.followed(&service.file, event);
    if followed.as_seq().is_some() {
        return Some(text);
    }
    // A `${self:}` address that names the stage's entry.
    if var.source != Source::SelfRef || !var.address.contains("${") {
        return None;
    }
    let address = vars::resolve(&var.address, &service.vars(stage))?;
    let keys: Vec<&str> = address.split('.').collect();
    service.doc.path(&keys)?.as_seq().map(|_| text)
}

fn event_item(file: &Path, event: &Node, at: &str, out: &mut Vec<Finding>) {
    let Some(entries) = event.as_map() else {
        return;
    };
    if entries.len() < 2 {
        return;
    }
    let (first, value) = &entries[0];
    let first = first.as_str().unwrap_or_default();
    let (extra, _) = &entries[1];
    let extra_name = extra.as_str().unwrap_or_default();
    let fix = if value.is_null() {
        format!("indent `{extra_name}:` (and the keys after it) under `{first}:`")
    } else {
        format!("one event per list item: put `{extra_name}:` under `{first}:` or in its own item")
    };
    out.push(Finding::new(
        file,
        extra.pos,
        UNSUPPORTED_EVENT,
        format!("`{extra_name}` is written beside `{first}`, not under it: the Serverless CLI stops with `Configuration error at '{at}': unsupported function event`"),
        fix,
    ));
}
