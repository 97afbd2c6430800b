//! `serverless-compose.yml`: Serverless Compose's list of services, read as
//! a manifest when an app has one and `deploy.toml` names no services.
//!
//! Each `services.<key>` gives the service's `path`; its order comes from
//! `dependsOn` and from `params` that read another service's outputs
//! (`${other.OutputName}`), the way Compose itself orders deploys.

use std::path::Path;

use crate::app::config;
use crate::app::manifest::{self, Declarations, Declared, ServiceDecl};
use crate::app::template;
use crate::app::yaml::{FileError, Node};

/// A Compose app's services, and the params it passes each (by service key).
pub struct Compose {
    pub services: Vec<ServiceDecl>,
    pub params: std::collections::BTreeMap<String, Vec<Param>>,
    /// Keys Compose does not know: it refuses the file for them, but what
    /// it would read of the rest is read, so each service's own files can
    /// still be judged (`validate`) while every command that deploys
    /// refuses.
    pub unknown_keys: Vec<FileError>,
}

/// One param Compose passes a service: `name: ${other.Output}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// As written: a literal, or a template reading other services' outputs.
    pub template: String,
    /// Where it is written in the compose file.
    pub file: std::path::PathBuf,
    pub pos: crate::app::yaml::Pos,
    /// `None` for a service's own `params:`; the stage (or `default`) of
    /// Framework v4 Compose's `stages.<stage>.params`, which every service
    /// gets.
    pub stage: Option<String>,
}

/// The params a service gets in `stage`: its own first, then its stage's
/// `stages.<stage>.params`, then `stages.default.params`, one per name.
pub fn for_stage<'p>(params: &'p [Param], stage: &str) -> Vec<&'p Param> {
    let rank = |p: &Param| match p.stage.as_deref() {
        None => Some(0),
        Some(s) if s == stage => Some(1),
        Some("default") => Some(2),
        Some(_) => None,
    };
    let mut best: std::collections::BTreeMap<&str, (u8, &Param)> = Default::default();
    for param in params {
        let Some(r) = rank(param) else { continue };
        match best.get(param.name.as_str()) {
            Some((have, _)) if *have <= r => {}
            _ => {
                best.insert(&param.name, (r, param));
            }
        }
    }
    let mut chosen: Vec<&Param> = best.into_values().map(|(_, p)| p).collect();
    chosen.sort_by_key(|p| (p.pos.line, p.pos.col));
    chosen
}

impl Param {
    /// The value to package with before what the param reads is deployed:
    /// a literal as written, a template as an ARN-shaped placeholder (so
    /// the CLI's format checks accept it).
    pub fn placeholder(&self, region: &str) -> (String, String) {
        let value = if self.template.contains("${") {
            format!(
                "arn:aws:xtask:{region}:000000000000:placeholder/{}",
                self.name
            )
        } else {
            self.template.clone()
        };
        (self.name.clone(), value)
    }
}

/// The compose file at the app root, if there is one (read once: a
/// TypeScript one is a program, run with `config_env` as [`config::read`]
/// says).
pub fn load(root: &Path, config_env: &[String]) -> Result<Option<Compose>, FileError> {
    let Some(file) = config::find(root, config::COMPOSE_FILES)? else {
        return Ok(None);
    };
    let (_, doc) = config::read(&file, config_env)?;
    let mut unknown_keys = Vec::new();
    Ok(Some(Compose {
        services: services(&file, &doc, &mut unknown_keys)?,
        params: params(&file, &doc),
        unknown_keys,
    }))
}

/// The keys Serverless Compose reads at the top of its file: what
/// `@osls/compose` 1.3.0 (which osls installs on first use) accepts in
/// `src/configuration/validate.js`.
///
/// And the keys Framework v4's Compose reads there (`org` and `app` for its
/// dashboard, `stage`, which it ignores, `provider` for the stage and
/// profile it deploys with, `stages.<stage>.params`, params every service
/// gets, and `frameworkVersion`, which its installer reads): the tool runs
/// no Compose, so an app written for v4 is not refused for them, and the
/// stages' params are passed as v4 passes them.
const TOP_KEYS: &[&str] = &[
    "services",
    "state",
    "org",
    "app",
    "stage",
    "provider",
    "stages",
    "frameworkVersion",
];

/// The keys Serverless Compose reads in a service: its framework
/// component's schema (`components/framework/configuration.js`) and the
/// keys every component takes (`component`, `dependsOn`).
const SERVICE_KEYS: &[&str] = &[
    "path",
    "region",
    "config",
    "params",
    "dependsOn",
    "component",
];

/// The variable sources Compose resolves: `${sls:stage}` and `${env:X}`
/// alone (`src/configuration/resolve-variables.js`); any other source
/// written its way (`${source:address}`, no space, no fallback) stops it
/// with "Unrecognized configuration variable sources".
fn unrecognized_sources(file: &Path, doc: &Node) -> Result<(), FileError> {
    let mut found: Option<(crate::app::yaml::Pos, String)> = None;
    doc.walk(&mut |_, node| {
        let Some(text) = node.as_str() else { return };
        for (source, address) in compose_variables(text) {
            let known = (source == "sls" && address == "stage") || source == "env";
            if !known && found.is_none() {
                found = Some((node.pos, source.to_string()));
            }
        }
    });
    match found {
        Some((pos, source)) => Err(FileError {
            path: file.to_path_buf(),
            pos: Some(pos),
            message: format!(
                "Serverless Compose stops with `Unrecognized configuration variable sources: \"{source}\"`: it resolves only `${{sls:stage}}` and `${{env:NAME}}`; pass the value as a param from `${{sls:stage}}`, `${{env:…}}` or another service's output (`${{service.Output}}`)"
            ),
        }),
        None => Ok(()),
    }
}

/// The `${source:address}` Compose reads as variables: `\${(\w*:[\w.-]+)}`.
fn compose_variables(text: &str) -> Vec<(&str, &str)> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let body = &rest[start + 2..];
        let source_end = body.find(|c: char| !word(c)).unwrap_or(body.len());
        let after = &body[source_end..];
        if let Some(address_part) = after.strip_prefix(':') {
            let end = address_part
                .find(|c: char| !(word(c) || c == '.' || c == '-'))
                .unwrap_or(address_part.len());
            if end > 0 && address_part[end..].starts_with('}') {
                out.push((&body[..source_end], &address_part[..end]));
            }
        }
        rest = body;
    }
    out
}

/// A key Compose does not know is refused: Compose rejects the file, and
/// a misspelt key (`depends_on`) read as nothing would plan the app
/// without what it says.
fn known_keys(file: &Path, map: &Node, known: &[&str], whose: &str, out: &mut Vec<FileError>) {
    let Some(entries) = map.as_map() else {
        return;
    };
    for (key_node, _) in entries {
        let key = key_node.as_str().unwrap_or_default();
        if known.contains(&key) {
            continue;
        }
        // `depends_on`, `DependsOn`: the same word in another spelling.
        let folded = |s: &str| s.replace(['_', '-'], "").to_lowercase();
        let hint = known
            .iter()
            .find(|k| folded(k) == folded(key))
            .map(|k| (*k).to_string())
            .or_else(|| crate::app::diag::Suggestions::new(known.iter().copied()).nearest(key))
            .map(|k| format!("did you mean `{k}`?"))
            .unwrap_or_else(|| format!("Compose knows {}", known.join(", ")));
        out.push(FileError {
            path: file.to_path_buf(),
            pos: Some(key_node.pos),
            message: format!(
                "{whose} has key `{}`, which Serverless Compose does not know: {hint}",
                key.escape_debug()
            ),
        });
    }
}

fn services(
    file: &Path,
    doc: &Node,
    unknown_keys: &mut Vec<FileError>,
) -> Result<Vec<ServiceDecl>, FileError> {
    let file = file.to_path_buf();
    let shown = crate::sys::paths::display(&file);
    known_keys(&file, doc, TOP_KEYS, "the compose file", unknown_keys);
    unrecognized_sources(&file, doc)?;
    let Some(services) = doc.get("services").and_then(Node::as_map) else {
        return Err(FileError {
            path: file,
            pos: Some(doc.pos),
            message: "has no `services:` map".into(),
        });
    };
    let keys: Vec<&str> = services.iter().filter_map(|(k, _)| k.as_str()).collect();
    let mut out = Vec::new();
    for (key_node, config) in services {
        let Some(key) = key_node.as_str() else {
            continue;
        };
        if let Err(why) = manifest::check_name(key) {
            return Err(FileError {
                path: file.clone(),
                pos: Some(key_node.pos),
                message: format!("service key `{}` {why}", key.escape_debug()),
            });
        }
        known_keys(
            &file,
            config,
            SERVICE_KEYS,
            &format!("service `{key}`"),
            unknown_keys,
        );
        let Some(path) = config.get("path").and_then(Node::as_str) else {
            return Err(FileError {
                path: file.clone(),
                pos: Some(key_node.pos),
                message: format!("service `{key}` has no `path`"),
            });
        };
        if let Err(why) = manifest::check_path(key, Path::new(path)) {
            return Err(FileError {
                path: file.clone(),
                pos: Some(key_node.pos),
                message: why,
            });
        }
        let mut deps = Vec::new();
        let depends_on: Vec<&Node> = match config.get("dependsOn") {
            Some(node) => match node.as_seq() {
                Some(items) => items.iter().collect(),
                None => vec![node],
            },
            None => Vec::new(),
        };
        for dep in depends_on {
            let Some(name) = dep.as_str() else { continue };
            if !keys.contains(&name) {
                return Err(FileError {
                    path: file.clone(),
                    pos: Some(dep.pos),
                    message: format!("service `{key}` depends on `{name}`, which is not a service of this file; known: {}", keys.join(", ")),
                });
            }
            deps.push(Declared {
                service: name.to_string(),
                reason: format!("dependsOn in {shown}"),
                at: format!("{shown}:{}", dep.pos.line),
            });
        }
        // `${other.Output}` in params: other deploys first. One that names
        // no service of the file stops Compose.
        if let Some(params) = config.get("params") {
            let mut unknown: Option<FileError> = None;
            params.walk(&mut |_, node| {
                let Some(text) = node.as_str() else { return };
                for reference in references(text) {
                    if !keys.contains(&reference.as_str()) && unknown.is_none() {
                        unknown = Some(FileError {
                            path: file.clone(),
                            pos: Some(node.pos),
                            message: format!(
                                "service `{key}`'s param `{}` reads `{reference}`, which is not a service of this file (Compose stops with `The service \"{reference}\" does not exist`); known: {}",
                                text.trim(),
                                keys.join(", ")
                            ),
                        });
                    }
                    if keys.contains(&reference.as_str()) && reference != key {
                        deps.push(Declared {
                            service: reference.clone(),
                            reason: format!("param `{}` in {shown}", text.trim()),
                            at: format!("{shown}:{}", node.pos.line),
                        });
                    }
                }
            });
            if let Some(error) = unknown {
                return Err(error);
            }
        }
        let config_name = match config.get("config") {
            None => None,
            Some(node) => match node
                .as_str()
                .map(without_loader_query)
                .filter(|name| manifest::is_file_name(name))
            {
                Some(name) => Some(name.to_string()),
                None => {
                    return Err(FileError {
                        path: file.clone(),
                        pos: Some(node.pos),
                        message: format!(
                            "service `{key}`: `config` must name a file in its `path` folder (`config: serverless.api.yml`)"
                        ),
                    })
                }
            },
        };
        out.push(ServiceDecl {
            key: key.to_string(),
            dir: crate::sys::paths::normalize(&file.parent().unwrap_or(Path::new(".")).join(path)),
            depends_on: deps,
            order_declared: config.get("dependsOn").is_some(),
            declared_at: Some((file.clone(), Some(key_node.pos))),
            inputs: Vec::new(),
            declared: Declarations {
                config: config_name,
                ..Default::default()
            },
        });
    }
    Ok(out)
}

/// `name` without the query the CLI's TypeScript loader (tsx) puts on
/// what `require.resolve` gives a config program (`api.sls.ts?namespace=17…`):
/// Compose's own loader gives the bare path, which is what the file means.
fn without_loader_query(name: &str) -> &str {
    match name.rsplit_once("?namespace=") {
        Some((bare, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => bare,
        _ => name,
    }
}

/// Every service's params, by service key.
fn params(file: &Path, doc: &Node) -> std::collections::BTreeMap<String, Vec<Param>> {
    let mut out = std::collections::BTreeMap::new();
    for (key, config) in doc
        .get("services")
        .and_then(Node::as_map)
        .unwrap_or_default()
    {
        let (Some(key), Some(params)) = (key.as_str(), config.get("params").and_then(Node::as_map))
        else {
            continue;
        };
        let list = params
            .iter()
            .filter_map(|(k, v)| {
                Some(Param {
                    name: k.as_str()?.to_string(),
                    template: v.as_str()?.to_string(),
                    file: file.to_path_buf(),
                    pos: v.pos,
                    stage: None,
                })
            })
            .collect();
        out.insert(key.to_string(), list);
    }
    // Framework v4: `stages.<stage>.params`, for every service.
    let mut staged = Vec::new();
    for (stage, config) in doc.get("stages").and_then(Node::as_map).unwrap_or_default() {
        let (Some(stage), Some(params)) =
            (stage.as_str(), config.get("params").and_then(Node::as_map))
        else {
            continue;
        };
        staged.extend(params.iter().filter_map(|(k, v)| {
            Some(Param {
                name: k.as_str()?.to_string(),
                template: v.as_str()?.to_string(),
                file: file.to_path_buf(),
                pos: v.pos,
                stage: Some(stage.to_string()),
            })
        }));
    }
    if !staged.is_empty() {
        for (key, _) in doc
            .get("services")
            .and_then(Node::as_map)
            .unwrap_or_default()
        {
            let Some(key) = key.as_str() else { continue };
            out.entry(key.to_string())
                .or_insert_with(Vec::new)
                .extend(staged.iter().cloned());
        }
    }
    out
}

/// Resolves `${key.Output}` in a param template with `outputs(key, Output)`;
/// `None` when an output is missing.
pub fn resolve(text: &str, outputs: impl Fn(&str, &str) -> Option<String>) -> Option<String> {
    template::substitute(text, |p| {
        let (service, output) = output_reference(p.inner)?;
        outputs(service, output)
    })
}

/// The `(key, Output)` pairs a param template reads.
pub fn outputs_read(text: &str) -> Vec<(String, String)> {
    template::placeholders(text)
        .into_iter()
        .filter_map(|p| output_reference(p.inner))
        .map(|(service, output)| (service.to_string(), output.to_string()))
        .collect()
}

/// The service keys of `${key.Output}` references.
pub(crate) fn references(text: &str) -> Vec<String> {
    template::placeholders(text)
        .into_iter()
        .filter_map(|p| output_reference(p.inner))
        .map(|(service, _)| service.to_string())
        .collect()
}

/// `(key, Output)` of Compose's output syntax: no colon, one dot.
fn output_reference(inner: &str) -> Option<(&str, &str)> {
    let inner = inner.trim();
    if inner.contains(':') {
        return None;
    }
    inner
        .split_once('.')
        .filter(|(service, output)| !service.is_empty() && !output.is_empty())
}

#[cfg(test)]
mod tests {
    use super::{references, without_loader_query};

    #[test]
    fn the_loaders_query_is_not_part_of_a_config_name() {
        assert_eq!(
            without_loader_query("api.sls.ts?namespace=1796646200152"),
            "api.sls.ts"
        );
        assert_eq!(without_loader_query("api.yml"), "api.yml");
        assert_eq!(
            without_loader_query("odd?namespace=x.yml"),
            "odd?namespace=x.yml"
        );
    }

    #[test]
    fn output_references_name_their_service() {
        assert_eq!(references("${users.UserPoolId}"), vec!["users"]);
        assert_eq!(
            references("arn:${orders.TableArn}/index/${sls:stage}"),
            vec!["orders"]
        );
        assert!(references("${self:custom.x}").is_empty());
    }
}
