//! `deploy.toml`: the services of an app, the stages it may be deployed to,
//! and the names it may reference outside itself.
//!
//! Without a manifest the default policy applies: `local` (on the emulator),
//! `dev`, `stage` and `prod` (protected), and the services are discovered.
//! Unknown keys and bad values are errors naming the file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::app::stage::{self, Policy, Region, StageConfig};
use crate::app::yaml::{FileError, Pos};

/// The manifest's file name at the app root.
pub const FILE_NAME: &str = "deploy.toml";

/// A service as a manifest (deploy.toml or serverless-compose.yml)
/// declares it, or as discovery finds it.
#[derive(Debug, Clone)]
pub struct ServiceDecl {
    pub key: String,
    /// The folder holding its serverless.yml.
    pub dir: PathBuf,
    /// Dependencies declared outside the service's own file.
    pub depends_on: Vec<Declared>,
    /// Whether the team declared this service's order itself (`depends_on`
    /// in deploy.toml, even empty, or Compose's `dependsOn`): then a
    /// reference whose name cannot be known offline does not block a plan.
    pub order_declared: bool,
    /// Where it is declared (file and position), for errors.
    pub declared_at: Option<(PathBuf, Option<Pos>)>,
    /// Paths outside what the service's files show that its deploy reads
    /// (a bundler's shared code), relative to the service folder.
    pub inputs: Vec<PathBuf>,
    /// What deploy.toml says of the service that its files cannot show.
    pub declared: Declarations,
}

/// What deploy.toml (or Compose) says of a service that its files cannot
/// show.
#[derive(Debug, Clone, Default)]
pub struct Declarations {
    /// The service's file in its folder when it is not one the CLI finds
    /// by itself (Compose's `config: serverless.api.yml`): the CLI is told
    /// it with `--config`.
    pub config: Option<String>,
    /// Logical ids a plugin or a tool adds to the service's template that
    /// its files do not show: references to them are not findings.
    pub resources: Vec<String>,
    /// Routes meant to be open without an authorizer (`GET /health`): the
    /// security review does not ask them for one on protected stages.
    pub public: Vec<String>,
    /// Logical ids of resources that hold data though their type does not
    /// say so (a custom resource, a plugin's): guarded like tables.
    pub data: Vec<String>,
    /// `self_sign_up = false`: only admins may create users in the
    /// service's user pools; the security review holds them to it.
    pub self_sign_up: Option<bool>,
    /// `package_ahead = false`: its packaging reads what a service
    /// deployed before it changes in a way its files do not show (a
    /// plugin that reads the account), so it never starts ahead.
    pub package_ahead: Option<bool>,
}

/// A service's folder, as deploy.toml or Compose writes it, must stay
/// inside the app folder: no absolute path, no `..`.
pub fn check_path(key: &str, rel: &Path) -> Result<(), String> {
    let escapes = rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes {
        return Err(format!(
            "service `{key}`: path `{}` must stay inside the app folder",
            rel.display()
        ));
    }
    Ok(())
}

/// A dependency declared outside the service's own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The key of the service depended on.
    pub service: String,
    /// Why, for plans: `depends_on in deploy.toml`, a compose param, ...
    pub reason: String,
    /// Where it is declared (`file:line`).
    pub at: String,
}

/// Stacks and exports that live outside the app. `${stage}` in a name is
/// replaced by the stage being worked on.
#[derive(Debug, Clone, Default)]
pub struct External {
    pub stacks: Vec<String>,
    pub exports: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: Option<PathBuf>,
    pub app_name: Option<String>,
    /// Empty when the services are to be discovered.
    pub services: Vec<ServiceDecl>,
    /// `None` when the default policy applies (its region is decided from
    /// the services).
    pub policy: Option<Policy>,
    pub external: External,
    /// Variables of the caller's that a config program (`serverless.ts`)
    /// may see though they are named like credentials (`[app] config_env`);
    /// every other such variable is kept from it (`app::config`).
    pub config_env: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: Option<RawApp>,
    #[serde(default)]
    services: BTreeMap<String, toml::Spanned<RawService>>,
    #[serde(default)]
    stages: BTreeMap<String, toml::Spanned<RawStage>>,
    external: Option<RawExternal>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Option<String>,
    region: Option<toml::Spanned<String>>,
    #[serde(default)]
    config_env: Vec<toml::Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    path: Option<String>,
    depends_on: Option<Vec<String>>,
    #[serde(default)]
    inputs: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    public: Vec<String>,
    #[serde(default)]
    data: Vec<String>,
    self_sign_up: Option<bool>,
    package_ahead: Option<bool>,
    config: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    region: Option<toml::Spanned<String>>,
    account: Option<toml::Spanned<String>>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    emulator: bool,
    /// Custom domains of the stage's APIs, by service key.
    #[serde(default)]
    domains: BTreeMap<String, toml::Spanned<RawDomain>>,
    monitoring: Option<toml::Spanned<RawMonitoring>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    #[serde(default)]
    notify: Vec<String>,
    latency_p95_ms: Option<u32>,
    bake: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    name: String,
    certificate: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternal {
    #[serde(default)]
    stacks: Vec<String>,
    #[serde(default)]
    exports: Vec<String>,
}

/// `GET /health` as method and path (method upper-cased, `*` any).
pub fn parse_route(text: &str) -> Option<(String, String)> {
    let (method, path) = text.trim().split_once(' ')?;
    let path = path.trim();
    (!method.is_empty() && (path.starts_with('/') || path == "*"))
        .then(|| (method.to_uppercase(), path.to_string()))
}

/// App names and service keys become folder names (journals, logs,
/// checkpoints) and parts of lock ids: 1 to 64 letters, digits, `-` and
/// `_`, starting with a letter or digit, so none can leave its folder.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err("must be 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit")
    }
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, col }
}

impl Manifest {
    /// The manifest at `app_dir/deploy.toml`, or the defaults when there is none.
    pub fn load(app_dir: &Path) -> Result<Manifest, FileError> {
        let path = app_dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(Manifest {
                path: None,
                app_name: None,
                services: Vec::new(),
                policy: None,
                external: External::default(),
                config_env: Vec::new(),
            });
        }
        let text = crate::app::yaml::read_text(&path)?;
        Manifest::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Manifest, FileError> {
        let error = |offset: Option<usize>, message: String| FileError {
            path: path.to_path_buf(),
            pos: offset.map(|o| line_col(text, o)),
            message,
        };
        let toml_error =
            |err: toml::de::Error| error(err.span().map(|s| s.start), err.message().to_string());

        let raw: RawManifest = toml::from_str(text).map_err(toml_error)?;

        let app_region = match raw.app.as_ref().and_then(|a| a.region.as_ref()) {
            Some(region) => Some(
                Region::parse(region.get_ref()).map_err(|m| error(Some(region.span().start), m))?,
            ),
            None => None,
        };

        let mut policy_stages = Vec::new();
        // Maps come back sorted by key; the spans restore the written order,
        // which is the order `plan` and messages list stages in.
        let mut ordered: Vec<(usize, String, toml::Spanned<RawStage>)> = raw
            .stages
            .into_iter()
            .map(|(name, raw)| (raw.span().start, name, raw))
            .collect();
        ordered.sort_by_key(|(start, _, _)| *start);
        let mut previews = Vec::new();
        let mut domain_sites: Vec<(usize, String)> = Vec::new();
        for (start, name, raw_stage) in ordered {
            // `[stages."pr-*"]`: a preview pattern, not a stage.
            let preview = if name.contains('*') {
                Some(stage::Preview::parse(&name).map_err(|m| error(Some(start), m))?)
            } else {
                None
            };
            if preview.is_none() && !stage::is_well_formed(&name) {
                return Err(error(
                    Some(start),
                    format!(
                        "stage name `{name}` does not match {}; rename it",
                        stage::NAME_RULE
                    ),
                ));
            }
            let raw_stage = raw_stage.into_inner();
            let region = match (&raw_stage.region, &app_region) {
                (Some(region), _) => Region::parse(region.get_ref()).map_err(|m| error(Some(region.span().start), m))?,
                (None, Some(region)) => region.clone(),
                (None, None) => {
                    return Err(error(
                        Some(start),
                        format!("stage `{name}` has no region; add `region = \"us-east-1\"` (or set [app] region)"),
                    ))
                }
            };
            let account = match raw_stage.account {
                Some(account) => {
                    let value = account.get_ref();
                    if value.len() != 12 || !value.chars().all(|c| c.is_ascii_digit()) {
                        return Err(error(
                            Some(account.span().start),
                            format!("account `{value}` is not a 12-digit AWS account id"),
                        ));
                    }
                    Some(value.clone())
                }
                None => None,
            };
            if raw_stage.protected && raw_stage.emulator {
                return Err(error(
                    Some(start),
                    format!("stage `{name}` cannot be both protected and on the emulator"),
                ));
            }
            let mut domains = Vec::new();
            for (service, raw) in raw_stage.domains {
                let at = raw.span().start;
                let raw = raw.into_inner();
                stage::Domain::check(&raw.name, &raw.certificate).map_err(|m| {
                    error(
                        Some(at),
                        format!("stage `{name}`, domain of `{service}`: {m}"),
                    )
                })?;
                domains.push((
                    at,
                    stage::Domain {
                        service,
                        name: raw.name,
                        certificate: raw.certificate,
                    },
                ));
            }
            let monitoring = match raw_stage.monitoring {
                Some(raw) => {
                    let at = raw.span().start;
                    let raw = raw.into_inner();
                    let bad =
                        |m: String| error(Some(at), format!("stage `{name}`, monitoring: {m}"));
                    if let Some(address) = raw.notify.iter().find(|a| {
                        let (user, host) = a.split_once('@').unwrap_or_default();
                        user.is_empty() || !host.contains('.') || a.chars().any(char::is_whitespace)
                    }) {
                        return Err(bad(format!(
                            "`{}` in notify is not an email address",
                            address.escape_debug()
                        )));
                    }
                    let bake = match &raw.bake {
                        Some(text) => crate::sys::clock::parse_duration(text).map_err(bad)?,
                        None => std::time::Duration::ZERO,
                    };
                    let latency_p95_ms = raw
                        .latency_p95_ms
                        .unwrap_or(stage::Monitoring::LATENCY_P95_MS);
                    if latency_p95_ms == 0 {
                        return Err(bad("latency_p95_ms must be above 0".into()));
                    }
                    Some(stage::Monitoring {
                        notify: raw.notify,
                        latency_p95_ms,
                        bake,
                    })
                }
                None => None,
            };
            let config = StageConfig {
                region,
                account,
                protected: raw_stage.protected,
                emulator: raw_stage.emulator,
                preview: preview.is_some(),
                domains: domains.iter().map(|(_, d)| d.clone()).collect(),
                monitoring,
            };
            domain_sites.extend(domains.into_iter().map(|(at, d)| (at, d.service)));
            match preview {
                Some(pattern) => {
                    if raw_stage.protected {
                        return Err(error(
                            Some(start),
                            format!("preview stages `{pattern}` cannot be protected: they are made and removed at will; declare a protected stage by its name"),
                        ));
                    }
                    previews.push((start, pattern, config));
                }
                None => policy_stages.push((name, config)),
            }
        }
        // A pattern that also matches a declared stage, or another
        // pattern's stages, would make one name mean two things.
        for (start, pattern, _) in &previews {
            if let Some((name, _)) = policy_stages.iter().find(|(n, _)| pattern.matches(n)) {
                return Err(error(
                    Some(*start),
                    format!("preview stages `{pattern}` would include the declared stage `{name}`; choose a prefix no declared stage starts with"),
                ));
            }
            if let Some((_, other, _)) = previews.iter().find(|(s, other, _)| {
                s != start && (other.matches(&pattern.sample()) || pattern.matches(&other.sample()))
            }) {
                return Err(error(
                    Some(*start),
                    format!("preview stages `{pattern}` and `{other}` overlap; give them prefixes that do not start one another"),
                ));
            }
        }
        let previews: Vec<_> = previews.into_iter().map(|(_, p, c)| (p, c)).collect();

        let mut services = Vec::new();
        for (key, spanned) in raw.services {
            let start = spanned.span().start;
            if let Err(why) = check_name(&key) {
                return Err(error(
                    Some(start),
                    format!("service key `{}` {why}", key.escape_debug()),
                ));
            }
            let service = spanned.into_inner();
            let rel = PathBuf::from(service.path.clone().unwrap_or_else(|| key.clone()));
            if let Err(why) = check_path(&key, &rel) {
                return Err(error(Some(start), why));
            }
            if let Some(name) = service.config.as_deref().filter(|n| !is_file_name(n)) {
                return Err(error(
                    Some(start),
                    format!(
                        "service `{key}`: config `{}` must name a file in the service's folder (`config = \"serverless.api.yml\"`)",
                        name.escape_debug()
                    ),
                ));
            }
            for route in &service.public {
                if parse_route(route).is_none() {
                    return Err(error(
                        Some(start),
                        format!("service `{key}`: public route `{}` is not `METHOD /path` (such as `GET /health`)", route.escape_debug()),
                    ));
                }
            }
            let declared = Declarations {
                resources: service.resources,
                public: service.public,
                data: service.data,
                self_sign_up: service.self_sign_up,
                package_ahead: service.package_ahead,
                config: service.config,
            };
            services.push((
                key,
                rel,
                service.depends_on,
                service.inputs,
                declared,
                line_col(text, start),
            ));
        }
        services.sort_by_key(|(.., pos)| pos.line);
        let keys: Vec<&str> = services.iter().map(|(key, ..)| key.as_str()).collect();
        if !keys.is_empty() {
            for (at, service) in &domain_sites {
                if !keys.contains(&service.as_str()) {
                    return Err(error(
                        Some(*at),
                        format!("a domain is given for `{service}`, which is not a service of this manifest; known: {}", keys.join(", ")),
                    ));
                }
            }
        }
        for (key, _, depends_on, _, _, pos) in &services {
            for dep in depends_on.iter().flatten() {
                if !keys.contains(&dep.as_str()) {
                    return Err(FileError {
                        path: path.to_path_buf(),
                        pos: Some(*pos),
                        message: format!("service `{key}` depends on `{dep}`, which is not a service of this manifest; known: {}", keys.join(", ")),
                    });
                }
            }
        }
        let root = path.parent().unwrap_or(Path::new("."));
        let shown = crate::sys::paths::display(path);
        let services = services
            .into_iter()
            .map(
                |(key, rel, depends_on, inputs, declared, pos)| ServiceDecl {
                    declared,
                    inputs: inputs.into_iter().map(PathBuf::from).collect(),
                    dir: crate::sys::paths::normalize(&root.join(rel)),
                    order_declared: depends_on.is_some(),
                    depends_on: depends_on
                        .into_iter()
                        .flatten()
                        .map(|dep| Declared {
                            service: dep,
                            reason: "depends_on in deploy.toml".into(),
                            at: format!("{shown}:{}", pos.line),
                        })
                        .collect(),
                    declared_at: Some((path.to_path_buf(), Some(pos))),
                    key,
                },
            )
            .collect();

        let policy = if policy_stages.is_empty() && previews.is_empty() {
            app_region.map(|region| Policy::default_in(region).declared_in(path))
        } else {
            Some(
                Policy::new(policy_stages)
                    .with_previews(previews)
                    .declared_in(path),
            )
        };
        let external = raw
            .external
            .map(|e| External {
                stacks: e.stacks,
                exports: e.exports,
            })
            .unwrap_or_default();
        let mut config_env = Vec::new();
        for name in raw.app.iter().flat_map(|a| &a.config_env) {
            let value = name.get_ref();
            let well_formed = value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !well_formed {
                return Err(error(
                    Some(name.span().start),
                    format!(
                        "config_env: `{}` is not a variable name (letters, digits and `_`, not starting with a digit)",
                        value.escape_debug()
                    ),
                ));
            }
            config_env.push(value.clone());
        }
        let app_name = match raw.app.and_then(|a| a.name) {
            Some(name) => {
                if let Err(why) = check_name(&name) {
                    let at = text.find("name").unwrap_or(0);
                    return Err(error(
                        Some(at),
                        format!("app name `{}` {why}", name.escape_debug()),
                    ));
                }
                Some(name)
            }
            None => None,
        };
        Ok(Manifest {
            path: Some(path.to_path_buf()),
            app_name,
            services,
            policy,
            external,
            config_env,
        })
    }
}

/// A plain file name: no folder, no `..`, nothing the CLI's `--config`
/// would take elsewhere (a service's file is in its own folder).
pub(crate) fn is_file_name(name: &str) -> bool {
    let path = Path::new(name);
    let mut parts = path.components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::stage::Stage;

    fn parse(text: &str) -> Result<Manifest, FileError> {
        Manifest::parse(Path::new("app/deploy.toml"), text)
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let err = parse("[stages.dev]\nregion = \"us-east-1\"\nprotect = true\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(3), "{err}");
        assert!(err.message.contains("protect"), "{err}");
        let err = parse("[app]\nname = \"x\"\n\n[deploy]\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(4), "{err}");
    }

    #[test]
    fn stages_keep_their_written_order() {
        let m = parse("[stages.zeta]\nregion = \"eu-west-1\"\n[stages.alpha]\nregion = \"eu-west-1\"\nprotected = true\n").unwrap();
        let policy = m.policy.unwrap();
        assert_eq!(policy.stage_names(), vec!["zeta", "alpha"]);
        assert!(policy.stage("alpha").unwrap().protected);
    }

    #[test]
    fn preview_patterns_allow_their_stages_and_nothing_else() {
        let m = parse("[stages.prod]\nregion = \"us-east-1\"\nprotected = true\n[stages.\"pr-*\"]\nregion = \"eu-west-1\"\naccount = \"123456789012\"\n").unwrap();
        let policy = m.policy.unwrap();
        let pr = Stage::parse("pr-42", &policy).unwrap();
        assert!(pr.is_preview() && !pr.is_protected());
        assert_eq!(
            (pr.region(), pr.account()),
            ("eu-west-1", Some("123456789012"))
        );
        assert!(!Stage::parse("prod", &policy).unwrap().is_preview());
        let err = Stage::parse("feature-1", &policy).unwrap_err().to_string();
        assert!(err.contains("allowed stages: prod, pr-*"), "{err}");
        // The bare prefix is no stage of the pattern.
        assert!(Stage::parse("pr-", &policy).is_err());
        assert_eq!(policy.stage_names(), vec!["prod"]);
    }

    #[test]
    fn preview_patterns_that_could_hurt_are_refused() {
        for (text, needle) in [
            ("[stages.\"pr-*\"]\nregion = \"us-east-1\"\nprotected = true\n", "cannot be protected"),
            ("[stages.\"*\"]\nregion = \"us-east-1\"\n", "allow every stage name"),
            ("[stages.\"pr-*-x\"]\nregion = \"us-east-1\"\n", "does not end with `*`"),
            ("[stages.\"Pr-*\"]\nregion = \"us-east-1\"\n", "its prefix must match"),
            ("[stages.prod]\nregion = \"us-east-1\"\n[stages.\"pro*\"]\nregion = \"us-east-1\"\n", "would include the declared stage `prod`"),
            ("[stages.\"pr-*\"]\nregion = \"us-east-1\"\n[stages.\"p*\"]\nregion = \"us-east-1\"\n", "overlap"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
            assert!(err.pos.is_some(), "{err}");
        }
    }

    #[test]
    fn stage_domains_are_checked_where_they_stand() {
        let ok = "[services.web]\n[stages.prod]\nregion = \"us-east-1\"\n[stages.prod.domains]\nweb = { name = \"api.example.com\", certificate = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\" }\n";
        let policy = parse(ok).unwrap().policy.unwrap();
        let prod = Stage::parse("prod", &policy).unwrap();
        assert_eq!(prod.domains()[0].name, "api.example.com");
        for (from, to, needle) in [
            (
                "api.example.com",
                "API.example",
                "not a lowercase host name",
            ),
            (
                "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                "arn:aws:iam::123456789012:role/x",
                "not an ACM certificate ARN",
            ),
            ("web = {", "mobile = {", "not a service of this manifest"),
        ] {
            let err = parse(&ok.replace(from, to)).unwrap_err();
            assert!(err.message.contains(needle), "{err}");
            assert_eq!(err.pos.map(|p| p.line), Some(5), "{err}");
        }
    }

    #[test]
    fn config_env_lists_variable_names() {
        let m = parse("[app]\nconfig_env = [\"STAGE_NAME\", \"_X1\"]\n").unwrap();
        assert_eq!(m.config_env, vec!["STAGE_NAME", "_X1"]);
        for bad in ["1X", "A-B", "", "A B", "PATH=x"] {
            let err = parse(&format!(
                "[app]\nname = \"a\"\nconfig_env = [\"OK\", \"{bad}\"]\n"
            ))
            .unwrap_err();
            assert_eq!(err.pos.map(|p| p.line), Some(3), "{err}");
            assert!(err.message.contains("is not a variable name"), "{err}");
        }
    }

    #[test]
    fn bad_values_are_reported_where_they_stand() {
        let err =
            parse("[stages.prod]\nregion = \"us-east-1\"\naccount = \"12345\"\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(3), "{err}");
        let err = parse("[stages.prod]\nregion = \"nowhere\"\n").unwrap_err();
        assert_eq!(err.pos.map(|p| p.line), Some(2), "{err}");
        let err = parse("[stages.Prod]\nregion = \"us-east-1\"\n").unwrap_err();
        assert!(err.message.contains("does not match"), "{err}");
        let err = parse("[services.a]\ndepends_on = [\"b\"]\n").unwrap_err();
        assert!(err.message.contains("`b`"), "{err}");
        let err = parse("[services.a]\npath = \"../elsewhere\"\n").unwrap_err();
        assert!(err.message.contains("inside the app folder"), "{err}");
    }
}
