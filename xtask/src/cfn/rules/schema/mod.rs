//! The pinned CLI's configuration schema (generated: `cfn/cli_schema.json`),
//! walked beside a service's file as the CLI validates it: a key where the
//! schema allows no other (`unrecognized property`), an event of no kind it
//! knows (`unsupported function event`), and a written value outside an
//! enumeration (`must be equal to one of the allowed values`). Each says
//! what the CLI says, at the line. What only the CLI resolves (a value from
//! a variable, a section from `${file()}`, an intrinsic function) is not
//! judged; a key of a null value is not either (the CLI drops it before it
//! validates).

mod required;

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::app::diag::Finding;
use crate::app::yaml::{Kind, Node, Value};

use super::config::{UNRECOGNIZED_PROPERTY, UNSUPPORTED_EVENT};

pub const UNSUPPORTED_VALUE: &str = "unsupported-value";

/// The schema, read once; `None` if the generated file does not parse,
/// which a unit test rules out.
pub(super) fn schema() -> Option<&'static Json> {
    static SCHEMA: OnceLock<Option<Json>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| serde_json::from_str(include_str!("../../cli_schema.json")).ok())
        .as_ref()
}

/// How deep a walk goes: the schema nests a few levels, a file may nest
/// any number.
const MAX_DEPTH: usize = 48;

/// The schema's findings for the document `doc` of `file`, judged by
/// `schema` ([`with_plugins`], or the CLI's own when `None`).
pub(super) fn check(file: &Path, doc: &Node, schema: Option<&Json>) -> Vec<Finding> {
    let Some(mut walk) = Walk::new(file, false, schema) else {
        return Vec::new();
    };
    walk.node(doc, walk.root, &mut Vec::new());
    walk.out
}

/// The schema's findings for a section the service includes whole from
/// another file (`provider: ${file(./provider.yml)}`, an item of a
/// `functions` list): `node`, of `file`, judged as the place `at` of the
/// configuration, runtimes included (the runtime rule reads the service's
/// own file only).
pub(super) fn check_section(
    file: &Path,
    node: &Node,
    at: &[String],
    schema: Option<&Json>,
) -> Vec<Finding> {
    let Some(mut walk) = Walk::new(file, true, schema) else {
        return Vec::new();
    };
    let Some(schema) = walk.descend(walk.root, at) else {
        return Vec::new();
    };
    walk.node(node, schema, &mut at.to_vec());
    walk.out
}

struct Walk<'a> {
    root: &'a Json,
    file: &'a Path,
    out: Vec<Finding>,
    /// Whether runtimes are judged here (in an included section) or left
    /// to `unsupported-runtime`.
    runtimes: bool,
}

/// The CLI's name of a place: `functions.hello.events.0`, or `root`.
fn named(path: &[String]) -> String {
    if path.is_empty() {
        "root".into()
    } else {
        format!("'{}'", path.join("."))
    }
}

impl<'a> Walk<'a> {
    /// A walk of `file`; `None` if the schema cannot be read.
    fn new(file: &'a Path, runtimes: bool, root: Option<&'a Json>) -> Option<Walk<'a>> {
        Some(Walk {
            root: match root {
                Some(root) => root,
                None => schema()?,
            },
            file,
            out: Vec::new(),
            runtimes,
        })
    }

    /// The schema of the place `at`, through objects only; `None` where
    /// branches or no schema stand in the way.
    fn descend(&self, mut schema: &'a Json, at: &[String]) -> Option<&'a Json> {
        for key in at {
            schema = self.resolve(schema);
            if schema.get("anyOf").is_some() || schema.get("oneOf").is_some() {
                return None;
            }
            let patterned = || {
                schema
                    .get("patternProperties")?
                    .as_object()?
                    .iter()
                    .find(|(re, _)| regex::Regex::new(re).is_ok_and(|re| re.is_match(key)))
                    .map(|(_, s)| s)
            };
            schema = schema
                .get("properties")
                .and_then(|p| p.get(key))
                .or_else(patterned)
                .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))?;
        }
        Some(self.resolve(schema))
    }

    /// `schema` with its `$ref`s followed.
    fn resolve(&self, mut schema: &'a Json) -> &'a Json {
        for _ in 0..16 {
            let Some(name) = schema
                .get("$ref")
                .and_then(Json::as_str)
                .and_then(|r| r.strip_prefix("#/definitions/"))
            else {
                break;
            };
            match self.root.get("definitions").and_then(|d| d.get(name)) {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn node(&mut self, node: &Node, schema: &'a Json, path: &mut Vec<String>) {
        if path.len() > MAX_DEPTH || node.tag.is_some() {
            return;
        }
        if let Value::Scalar { text, .. } = &node.value {
            if text.contains("${") {
                return;
            }
        }
        let schema = self.resolve(schema);
        // A schema with properties of its own and branches besides (the
        // stream event: its keys, then which `arn` forms go together):
        // its own part is judged, the branches are not.
        let own = [
            "properties",
            "type",
            "enum",
            "items",
            "additionalProperties",
        ]
        .iter()
        .any(|k| schema.get(*k).is_some());
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Json::as_array)
            .filter(|_| !own)
        {
            let fits: Vec<&'a Json> = branches
                .iter()
                .map(|b| self.resolve(b))
                .filter(|b| self.fits(node, b))
                .collect();
            match fits.as_slice() {
                [one] => self.node(node, one, path),
                [] if is_event(path) && node.as_map().is_some() => {
                    let pos = node
                        .as_map()
                        .and_then(|m| m.first())
                        .map_or(node.pos, |(k, _)| k.pos);
                    self.push(
                        pos,
                        UNSUPPORTED_EVENT,
                        format!("the Serverless CLI stops with `Configuration error at {}: unsupported function event`", named(path)),
                        "write one of the events the CLI knows (`http`, `httpApi`, `sqs`, `schedule`, `s3`, `sns`, `stream`, ...) or list the plugin that adds it".into(),
                    );
                }
                // Several kinds fit, or none: the CLI refuses only a value
                // no branch takes whole (an `anyOf` needs one); which of
                // its messages it then picks depends on how ajv ranks the
                // branches' errors, so the finding names the place and the
                // forms, not the words.
                _ if !branches
                    .iter()
                    .any(|b| self.takes(node, self.resolve(b), path)) =>
                {
                    // One branch names every key the map has: the value is
                    // of that form, and wrong inside it, where the CLI
                    // points too.
                    let named_keys = |b: &&&Json| {
                        node.as_map().is_some_and(|entries| {
                            entries.iter().all(|(k, _)| {
                                k.as_str().is_some_and(|k| {
                                    b.get("properties").and_then(|p| p.get(k)).is_some()
                                })
                            })
                        })
                    };
                    let of_form: Vec<&Json> = fits.iter().filter(named_keys).copied().collect();
                    if let [one] = of_form.as_slice() {
                        self.node(node, one, path);
                        return;
                    }
                    let forms: Vec<String> = branches
                        .iter()
                        .map(|b| form(self.resolve(b), self))
                        .collect();
                    self.push(
                        node.pos,
                        UNSUPPORTED_VALUE,
                        format!(
                            "the Serverless CLI stops with a `Configuration error at {}`: the value fits none of the forms it accepts there",
                            named(path)
                        ),
                        format!("write one of: {}", forms.join("; ")),
                    );
                }
                _ => {}
            }
            return;
        }
        // The CLI says this one in words of its own, before its schema.
        if matches!(path.as_slice(), [key] if key == "service") && node.as_map().is_some() {
            self.push(
                node.pos,
                UNSUPPORTED_VALUE,
                "the Serverless CLI stops with `Object notation for \"service\" property is not supported. Set \"service\" property directly with service name.`".into(),
                "write `service: <name>` (the name alone)".into(),
            );
            return;
        }
        if let Some(expected) = self.wrong_type(node, schema) {
            self.push(
                node.pos,
                UNSUPPORTED_VALUE,
                format!(
                    "the Serverless CLI stops with `Configuration error at {}: must be {expected}`",
                    named(path)
                ),
                format!("write a value of type {expected} here"),
            );
            return;
        }
        match &node.value {
            Value::Map(entries) => {
                self.required(node, entries, schema, path);
                self.map(entries, schema, path)
            }
            Value::Seq(items) => {
                if let Some(each) = schema.get("items").filter(|i| i.is_object()) {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        self.node(item, each, path);
                        path.pop();
                    }
                }
            }
            Value::Scalar { text, kind, .. } => self.scalar(node, text, kind, schema, path),
        }
    }

    /// Whether `node` can be what `branch` describes: its kind, and the
    /// keys the branch requires (which is how the CLI tells events apart).
    fn fits(&self, node: &Node, branch: &Json) -> bool {
        // One value (`vpc: false`): a map or a list is that value only
        // when the value is one.
        if let Some(value) = branch.get("const") {
            return match &node.value {
                Value::Map(_) => value.is_object(),
                Value::Seq(_) => value.is_array(),
                Value::Scalar { .. } => !value.is_object() && !value.is_array(),
            };
        }
        let types: Vec<&str> = match branch.get("type") {
            Some(Json::String(t)) => vec![t.as_str()],
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
            _ if branch.get("properties").is_some() => vec!["object"],
            _ => Vec::new(),
        };
        let kind_fits = types.is_empty()
            || match &node.value {
                Value::Map(_) => types.contains(&"object"),
                Value::Seq(_) => types.contains(&"array"),
                // The CLI coerces scalars (`coerceTypes: 'array'`).
                Value::Scalar { .. } => types.iter().any(|t| *t != "object"),
            };
        if !kind_fits {
            return false;
        }
        let required = branch
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect::<Vec<_>>())
            .unwrap_or_default();
        match node.as_map() {
            Some(entries) => required.iter().all(|key| {
                entries
                    .iter()
                    .any(|(k, v)| k.as_str() == Some(key) && !v.is_null())
            }),
            None => required.is_empty(),
        }
    }

    /// Whether `branch` takes `node` whole: its kind and required keys,
    /// and a walk of it against the branch that finds nothing. What the
    /// walk does not judge (variables, intrinsic functions) counts as
    /// taken, so a value is refused only when every branch refuses it.
    fn takes(&self, node: &Node, branch: &'a Json, path: &[String]) -> bool {
        if !self.fits(node, branch) {
            return false;
        }
        let mut inner = Walk {
            root: self.root,
            file: self.file,
            out: Vec::new(),
            runtimes: self.runtimes,
        };
        inner.node(node, branch, &mut path.to_vec());
        inner.out.is_empty()
    }

    fn map(&mut self, entries: &[(Node, Node)], schema: &'a Json, path: &mut Vec<String>) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let mut patterns: Vec<(regex::Regex, &'a Json)> = Vec::new();
        for (re, child) in schema
            .get("patternProperties")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            match regex::Regex::new(re) {
                Ok(re) => patterns.push((re, child)),
                // A pattern the `regex` crate cannot read (a lookahead, as
                // in tag names' `^(?!aws:)`): no key of the map is judged.
                Err(_) => return,
            }
        }
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            let Some(name) = key.as_str() else { continue };
            if value.is_null() || name == "<<" {
                continue;
            }
            let child = properties
                .and_then(|p| p.get(name))
                .or_else(|| {
                    patterns
                        .iter()
                        .find(|(re, _)| re.is_match(name))
                        .map(|(_, s)| *s)
                })
                .or_else(|| additional.filter(|a| a.is_object()));
            match child {
                // The CLI merges a list of `functions` or `resources`
                // into one map before it validates.
                Some(child)
                    if path.is_empty()
                        && matches!(name, "functions" | "resources")
                        && value.as_seq().is_some() =>
                {
                    path.push(name.to_string());
                    for item in value.as_seq().unwrap_or_default() {
                        if item.as_map().is_some() {
                            self.node(item, child, path);
                        }
                    }
                    path.pop();
                }
                Some(child) => {
                    path.push(name.to_string());
                    self.node(value, child, path);
                    path.pop();
                }
                // A function's key outside its pattern, in the CLI's words.
                None if additional == Some(&Json::Bool(false))
                    && matches!(path.as_slice(), [f] if f == "functions") =>
                {
                    self.push(
                        key.pos,
                        UNRECOGNIZED_PROPERTY,
                        format!(
                            "the Serverless CLI stops with `Configuration error at 'functions': name '{name}' must be alphanumeric`"
                        ),
                        "name the function with letters, digits, `-` and `_` only".into(),
                    )
                }
                None if additional == Some(&Json::Bool(false)) => self.push(
                    key.pos,
                    UNRECOGNIZED_PROPERTY,
                    format!(
                        "the Serverless CLI stops with `Configuration error at {}: unrecognized property '{name}'`",
                        named(path)
                    ),
                    match nearest(name, properties) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "remove it, or move it where the CLI reads it".into(),
                    },
                ),
                None => {}
            }
        }
    }

    /// The one type `schema` asks for, when `node` is not of it even as
    /// the CLI coerces values (`coerceTypes: 'array'`: `'5'` is a number,
    /// `'true'` a boolean, anything plain a string, a plain value a
    /// one-item list).
    fn wrong_type(&self, node: &Node, schema: &Json) -> Option<&'static str> {
        let expected = match schema.get("type")?.as_str()? {
            "object" => "object",
            "array" => "array",
            "string" => "string",
            "number" => "number",
            "integer" => "integer",
            "boolean" => "boolean",
            _ => return None,
        };
        let fits = match (&node.value, expected) {
            (Value::Map(_), want) => want == "object",
            (Value::Seq(_), want) => want == "array",
            (Value::Scalar { .. }, "object") => false,
            (Value::Scalar { .. }, "array" | "string") => true,
            (Value::Scalar { text, kind, .. }, want) => {
                let number = match kind {
                    Kind::Number(n) => Some(*n),
                    Kind::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                    Kind::Null => Some(0.0),
                    Kind::Str if !text.trim().is_empty() => text.trim().parse::<f64>().ok(),
                    _ => None,
                };
                match want {
                    "number" => number.is_some() || !matches!(kind, Kind::Str),
                    "integer" => number.map_or(!matches!(kind, Kind::Str), |n| n.fract() == 0.0),
                    _ => match kind {
                        Kind::Bool(_) | Kind::Null => true,
                        Kind::Str => matches!(text.as_str(), "true" | "false"),
                        Kind::Number(n) => *n == 0.0 || *n == 1.0,
                        _ => true,
                    },
                }
            }
        };
        (!fits).then_some(expected)
    }

    fn scalar(&mut self, node: &Node, text: &str, kind: &Kind, schema: &Json, path: &[String]) {
        // A written number out of the schema's range.
        if let Kind::Number(n) = kind {
            let bound = |key: &str| schema.get(key).and_then(Json::as_f64);
            let shown = |b: f64| node_number(b);
            if let Some(min) = bound("minimum").filter(|min| n < min) {
                return self.push(
                    node.pos,
                    UNSUPPORTED_VALUE,
                    format!(
                        "the Serverless CLI stops with `Configuration error at {}: must be >= {}`",
                        named(path),
                        shown(min)
                    ),
                    format!("write at least {}", shown(min)),
                );
            }
            if let Some(max) = bound("maximum").filter(|max| n > max) {
                return self.push(
                    node.pos,
                    UNSUPPORTED_VALUE,
                    format!(
                        "the Serverless CLI stops with `Configuration error at {}: must be <= {}`",
                        named(path),
                        shown(max)
                    ),
                    format!("write at most {}", shown(max)),
                );
            }
        }
        // A written string the schema's pattern does not match.
        if let (Kind::Str, Some(pattern)) = (kind, schema.get("pattern").and_then(Json::as_str)) {
            if let Ok(re) = regex::Regex::new(pattern) {
                if !re.is_match(text) {
                    return self.push(
                        node.pos,
                        UNSUPPORTED_VALUE,
                        format!(
                            "the Serverless CLI stops with `Configuration error at {}: must match pattern \"{pattern}\"` (`{text}`)",
                            named(path)
                        ),
                        format!("write a value that matches `{pattern}`"),
                    );
                }
            }
        }
        // ajv-keywords' `regexp` (`/^(GET|POST) \/\S*$/i`: a pattern with
        // flags), which the CLI's events use.
        if let (Kind::Str, Some(written)) = (kind, schema.get("regexp").and_then(Json::as_str)) {
            if let Some(re) = js_regexp(written) {
                if !re.is_match(text.as_bytes()) {
                    return self.push(
                        node.pos,
                        UNSUPPORTED_VALUE,
                        format!(
                            "the Serverless CLI stops with `Configuration error at {}: value '{text}' does not satisfy pattern {written}`",
                            named(path)
                        ),
                        "write a value of the form the pattern says (an HTTP method, a space, then a path starting with `/`, for an event)".into(),
                    );
                }
            }
        }
        // A runtime is said better by `unsupported-runtime` (what to use
        // instead).
        if !self.runtimes && path.last().is_some_and(|key| key == "runtime") {
            return;
        }
        let Some(values) = schema.get("enum").and_then(Json::as_array) else {
            return;
        };
        let allowed: Vec<&str> = values.iter().filter_map(Json::as_str).collect();
        // Only an enumeration of strings, against a written string, or a
        // number or boolean where the schema asks for a string: the CLI
        // turns it into one first (`20210219` is "20210219").
        let coerced = match kind {
            Kind::Str => Some(text.to_string()),
            _ if schema.get("type").and_then(Json::as_str) == Some("string") => node.typed_text(),
            _ => None,
        };
        let Some(text) = coerced else { return };
        let text = text.as_str();
        if allowed.len() != values.len() || allowed.contains(&text) {
            return;
        }
        self.push(
            node.pos,
            UNSUPPORTED_VALUE,
            format!(
                "the Serverless CLI stops with `Configuration error at {}: must be equal to one of the allowed values [{}]` (`{text}`)",
                named(path),
                allowed.join(", ")
            ),
            match strsim_nearest(text, &allowed) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("write one of {}", allowed.join(", ")),
            },
        );
    }

    fn push(
        &mut self,
        pos: crate::app::yaml::Pos,
        rule: &'static str,
        message: String,
        fix: String,
    ) {
        self.out
            .push(Finding::new(self.file, pos, rule, message, fix));
    }
}

/// A branch of the schema in a few words: `a string`, `an object with
/// Fn::GetAtt`, `an object of name, path, statements`.
fn form(branch: &Json, walk: &Walk) -> String {
    if let Some(branches) = branch
        .get("anyOf")
        .or_else(|| branch.get("oneOf"))
        .and_then(Json::as_array)
    {
        return branches
            .iter()
            .map(|b| form(walk.resolve(b), walk))
            .collect::<Vec<_>>()
            .join("; ");
    }
    let keys = |field: &str| -> Vec<&str> {
        branch
            .get(field)
            .and_then(|v| match v {
                Json::Object(o) => Some(o.keys().map(String::as_str).collect()),
                Json::Array(a) => Some(a.iter().filter_map(Json::as_str).collect()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let required = keys("required");
    let properties = keys("properties");
    match branch.get("type").and_then(Json::as_str) {
        Some("object") | None if !required.is_empty() => {
            format!("an object with {}", required.join(", "))
        }
        Some("object") | None if !properties.is_empty() => {
            let shown: Vec<&str> = properties.iter().take(8).copied().collect();
            let more = if properties.len() > shown.len() {
                ", ..."
            } else {
                ""
            };
            format!("an object of {}{more}", shown.join(", "))
        }
        Some(t) => format!("a value of type {t}"),
        None => "a value of another form".into(),
    }
}

/// A JavaScript regular expression literal (`/body/flags`) as a `regex`;
/// `None` for flags or syntax this crate cannot honour.
fn js_regexp(written: &str) -> Option<regex::bytes::Regex> {
    let rest = written.strip_prefix('/')?;
    let (body, flags) = rest.rsplit_once('/')?;
    if !flags.chars().all(|f| f == 'i') {
        return None;
    }
    // JavaScript escapes the delimiter (`\/`); `regex` needs no escape
    // there. ASCII case folding, as the patterns are ASCII (the crate is
    // built without Unicode case tables).
    regex::bytes::RegexBuilder::new(&body.replace("\\/", "/"))
        .unicode(false)
        .case_insensitive(flags.contains('i'))
        .build()
        .ok()
}

/// A bound as JavaScript writes it (`128`, not `128.0`).
fn node_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Whether `path` is an item of a function's `events`.
fn is_event(path: &[String]) -> bool {
    matches!(path, [functions, _, events, _] if functions == "functions" && events == "events")
}

fn nearest(name: &str, properties: Option<&serde_json::Map<String, Json>>) -> Option<String> {
    let keys: Vec<&str> = properties?.keys().map(String::as_str).collect();
    strsim_nearest(name, &keys).map(str::to_string)
}

/// The closest of `candidates` to `word`, if one is close.
fn strsim_nearest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests;
