//! An app: the folder with a `deploy.toml` (or without one) and the
//! Serverless services in it, each parsed once with positions.

pub mod compose;
pub mod config;
pub mod diag;
mod discover;
mod fragments;
mod functions;
mod locate;
pub mod manifest;
mod refusals;
pub mod routes;
pub mod stage;
pub mod template;
pub mod vars;
pub mod yaml;

use std::path::{Path, PathBuf};

use crate::app::manifest::{Declared, Manifest, ServiceDecl};
use crate::app::refusals::{check_shape, names_evaluate, one_stack_one_service};
use crate::app::stage::{Policy, Stage};
use crate::app::yaml::{FileError, Node};
pub use discover::discover;
pub use locate::{named_by_cargo, Found};

/// One Serverless service of the app.
#[derive(Debug, Clone)]
pub struct Service {
    /// The manifest key, or the folder name when discovered.
    pub key: String,
    pub dir: PathBuf,
    /// `serverless.yml` or `serverless.yaml`.
    pub file: PathBuf,
    pub text: String,
    pub doc: Node,
    /// Dependencies declared outside the service's file (deploy.toml
    /// `depends_on`, serverless-compose.yml `dependsOn` and `${other.output}` params).
    pub depends_on: Vec<Declared>,
    /// Serverless Compose params (`name`, template such as `${users.TableName}`),
    /// passed to the CLI as `--param name=value` once resolved.
    pub params: Vec<crate::app::compose::Param>,
    /// Whether the app is a Compose app (its params come from Compose).
    pub compose: bool,
    /// The CloudFormation part of the service (`resources:`), from this
    /// file and every file it pulls in with `${file()}`.
    pub fragments: Vec<Fragment>,
    /// False when a `${file()}` under `resources:` could not be read before
    /// deploy: checks then cannot tell a missing resource from an unread one.
    pub fragments_complete: bool,
    /// Extra paths its deploy reads (deploy.toml `inputs`), for fingerprints.
    pub inputs: Vec<PathBuf>,
    /// Whether the team declared the service's order itself (see
    /// [`crate::app::manifest::ServiceDecl::order_declared`]).
    pub order_declared: bool,
    /// What deploy.toml says of it that its files cannot show (resources
    /// a plugin adds, public routes, data, self sign-up).
    pub declared: crate::app::manifest::Declarations,
}

/// One piece of a service's `resources:` (a map with `Resources`,
/// `Outputs`, `Parameters`, ...) and the file it is written in.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub file: PathBuf,
    pub node: Node,
}

impl Service {
    /// Builds a service from its parsed file, reading the `resources:`
    /// fragments it includes.
    pub fn new(
        key: String,
        dir: PathBuf,
        file: PathBuf,
        text: String,
        doc: Node,
        depends_on: Vec<Declared>,
    ) -> Service {
        let (fragments, fragments_complete) = fragments::of(&file, &dir, &doc);
        Service {
            key,
            dir,
            file,
            text,
            doc,
            depends_on,
            params: Vec::new(),
            fragments,
            fragments_complete,
            inputs: Vec::new(),
            order_declared: false,
            declared: Default::default(),
            compose: false,
        }
    }

    /// A service `svc` of `svc/serverless.yml` from its text alone, for the
    /// unit tests of the rules that read one.
    #[cfg(test)]
    pub(crate) fn of_text(text: &str) -> Service {
        Service::new(
            "svc".into(),
            "svc".into(),
            "svc/serverless.yml".into(),
            text.into(),
            yaml::parse(text).expect("a test's service parses"),
            Vec::new(),
        )
    }

    /// Every entry of a `resources:` section (`Resources`, `Outputs`,
    /// `Parameters`) across all fragments, with the file it is in.
    pub fn entries(&self, section: &str) -> Vec<(&Path, &Node, &Node)> {
        self.fragments
            .iter()
            .flat_map(|f| {
                f.node
                    .get(section)
                    .and_then(Node::as_map)
                    .unwrap_or_default()
                    .iter()
                    .map(move |(k, v)| (f.file.as_path(), k, v))
            })
            .collect()
    }

    /// The service file, then every `resources:` fragment from another
    /// file: each document CloudFormation content may stand in.
    pub fn documents(&self) -> Vec<(&Path, &Node)> {
        let mut documents = vec![(self.file.as_path(), &self.doc)];
        documents.extend(
            self.fragments
                .iter()
                .filter(|f| f.file != self.file)
                .map(|f| (f.file.as_path(), &f.node)),
        );
        documents
    }

    /// One entry of a `resources:` section by key.
    pub fn entry(&self, section: &str, key: &str) -> Option<(&Path, &Node)> {
        self.entries(section)
            .into_iter()
            .find(|(_, k, _)| k.as_str() == Some(key))
            .map(|(f, _, v)| (f, v))
    }

    /// The `service:` name (a string, or `{name: ...}` in older files).
    pub fn name(&self) -> Option<&str> {
        let node = self.doc.get("service")?;
        node.as_str()
            .or_else(|| node.get("name").and_then(Node::as_str))
    }

    /// The variable context of this service in `stage`.
    pub fn vars<'a>(&'a self, stage: &'a Stage) -> vars::Context<'a> {
        self.vars_at(stage.name(), stage.region())
    }

    /// The variable context for a stage name that need not be allowed: the
    /// checks probe other stages to see what moves with the stage.
    pub fn vars_at<'a>(&'a self, stage: &'a str, region: &'a str) -> vars::Context<'a> {
        vars::Context {
            stage,
            region,
            doc: &self.doc,
            file: &self.file,
            dir: &self.dir,
            stage_given: true,
            compose_params: self.compose.then_some(self.params.as_slice()),
            symbolic: false,
            use_dotenv: self.doc.get("useDotenv").and_then(Node::as_str) == Some("true"),
        }
    }

    /// The CloudFormation stack this service deploys to in `stage`:
    /// `provider.stackName` when set, else `<service>-<stage>`.
    pub fn stack_name(&self, stage: &Stage) -> Option<String> {
        self.stack_name_at(stage.name(), stage.region())
    }

    /// [`Service::stack_name`] for a probed stage name.
    pub fn stack_name_at(&self, stage: &str, region: &str) -> Option<String> {
        let ctx = self.vars_at(stage, region);
        match self
            .doc
            .path(&["provider", "stackName"])
            .and_then(Node::as_str)
        {
            Some(custom) => vars::resolve(custom, &ctx),
            None => Some(format!("{}-{stage}", vars::resolve(self.name()?, &ctx)?)),
        }
    }

    /// The deployment bucket name for `stage`, when the service names one.
    pub fn deployment_bucket(&self, stage: &Stage) -> Option<String> {
        let node = self.doc.path(&["provider", "deploymentBucket"])?;
        let name = node
            .as_str()
            .or_else(|| node.get("name").and_then(Node::as_str))?;
        vars::resolve(name, &self.vars(stage))
    }

    /// The sections the service takes whole from other files
    /// (`custom: ${file(../common.yml):custom}`), each with its file, as
    /// written there: their variables are the service's too.
    pub fn sections(&self) -> Vec<(PathBuf, Node)> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        collect_sections(&self.dir, &self.doc, &mut out, &mut seen, 0);
        out
    }

    /// What `node` (written in `file`) stands for where it is one variable
    /// that includes a section: `${self:custom.x}` in the service file,
    /// `${file(../common.yml):x}` (or a whole file) in that file, followed
    /// a few times; with the file it is written in. Anything else (a
    /// fallback, a path only the deploy knows, a key not there) is the
    /// node itself: statements and settings kept in a shared file are
    /// judged where they are written.
    pub fn followed(&self, file: &Path, node: &Node) -> (PathBuf, Node) {
        let (mut file, mut node) = (file.to_path_buf(), node.clone());
        for _ in 0..8 {
            let Some(text) = node.as_str() else { break };
            let found = vars::find(text);
            let [var] = found.as_slice() else { break };
            if var.start != 0 || var.end != text.len() || var.fallback.is_some() {
                break;
            }
            let keys: Vec<&str> = var.address.split('.').filter(|k| !k.is_empty()).collect();
            let next = match var.source {
                vars::Source::SelfRef => self.descend(&self.file, &self.doc, &keys, 0),
                vars::Source::File => self
                    .included(var)
                    .and_then(|(path, doc)| self.descend(&path, &doc, &keys, 0)),
                _ => None,
            };
            match next {
                Some(next) => (file, node) = next,
                None => break,
            }
        }
        (file, node)
    }

    /// The data file a `${file(path)}` names (a literal path), read.
    fn included(&self, var: &vars::Var) -> Option<(PathBuf, std::sync::Arc<Node>)> {
        let path = var
            .arg
            .as_deref()
            .filter(|arg| !arg.contains("${"))
            .map(|arg| crate::sys::paths::normalize(&self.dir.join(arg)))
            .filter(|path| config::is_data(path))?;
        let doc = vars::load(&path).ok()?;
        Some((path, doc))
    }

    /// `keys` below `node` (written in `file`), through a value on the way
    /// that is a whole `${file(…)}` (`custom.shared: ${file(../shared.yml)}`
    /// then `${self:custom.shared.arn}`), a few of them at most.
    fn descend(
        &self,
        file: &Path,
        node: &Node,
        keys: &[&str],
        hops: usize,
    ) -> Option<(PathBuf, Node)> {
        let mut node = node;
        for (i, key) in keys.iter().enumerate() {
            if let Some(text) = node.as_str() {
                let found = vars::find(text);
                let [var] = found.as_slice() else { return None };
                let whole = var.start == 0 && var.end == text.len() && var.fallback.is_none();
                if !whole || var.source != vars::Source::File || hops >= 4 {
                    return None;
                }
                let (path, doc) = self.included(var)?;
                let inner: Vec<&str> = var.address.split('.').filter(|k| !k.is_empty()).collect();
                return self.descend(&path, doc.path(&inner)?, &keys[i..], hops + 1);
            }
            node = node.get(key)?;
        }
        Some((file.to_path_buf(), node.clone()))
    }

    /// [`Service::documents`], then each section the service includes
    /// whole from another file ([`Service::sections`]) that is not one of
    /// them: every place its variables and references are written, once.
    pub fn documents_and_sections(&self) -> Vec<(PathBuf, Node)> {
        let mut all: Vec<(PathBuf, Node)> = self
            .documents()
            .into_iter()
            .map(|(file, node)| (file.to_path_buf(), node.clone()))
            .collect();
        let mut seen: std::collections::BTreeSet<(PathBuf, usize, usize)> = all
            .iter()
            .map(|(file, node)| (file.clone(), node.pos.line, node.pos.col))
            .collect();
        for (file, node) in self.sections() {
            if seen.insert((file.clone(), node.pos.line, node.pos.col)) {
                all.push((file, node));
            }
        }
        all
    }

    /// The file path shown in diagnostics.
    pub fn display_file(&self) -> String {
        crate::sys::paths::display(&self.file)
    }
}

/// An app with its services, or every input that could not be read.
#[derive(Debug, Clone)]
pub struct App {
    pub root: PathBuf,
    pub manifest: Manifest,
    pub services: Vec<Service>,
    pub policy: Policy,
    /// Why the region of the default policy's stages is not known offline
    /// (see `default_region`): every command that acts on a stage's region
    /// refuses with it; the audit, which judges the files, goes on.
    region_unknown: Option<String>,
}

/// How [`App::read`] takes what it cannot read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// As every command that deploys must: any refusal stops the load.
    Strict,
    /// To judge the files: keys Compose does not know, a service file the
    /// CLI cannot read and two services of one stack are set aside, the
    /// rest read.
    Judging,
    /// Strict, without the Compose file: services found in their folders.
    WithoutCompose,
}

/// Inputs that could not be read or parsed: exit code 2 territory.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct LoadError(pub Vec<FileError>);

impl App {
    pub fn load(dir: &Path) -> Result<App, LoadError> {
        App::load_with(dir, true)
    }

    /// [`App::load`], or, with `compose` false, the app as discovery
    /// finds it whatever its Compose file says: for an audit of the
    /// services' own files when the Compose file cannot be read.
    pub fn load_with(dir: &Path, compose: bool) -> Result<App, LoadError> {
        let reading = match compose {
            true => Reading::Strict,
            false => Reading::WithoutCompose,
        };
        App::read(dir, reading).map(|(app, _)| app)
    }

    /// [`App::load`], with the keys the Compose file has and Compose does
    /// not know, and the service files the CLI cannot read, set aside and
    /// returned rather than refused: each stops a deploy, but what can be
    /// read of the rest is read, so every other service's files can be
    /// judged alongside (each deploys, and is refused, on its own).
    pub fn load_judging(dir: &Path) -> Result<(App, Vec<FileError>), LoadError> {
        App::read(dir, Reading::Judging)
    }

    fn read(dir: &Path, reading: Reading) -> Result<(App, Vec<FileError>), LoadError> {
        let root = dir.to_path_buf();
        if !root.is_dir() {
            return Err(LoadError(vec![FileError {
                path: root,
                pos: None,
                message: "is not a folder; pass the app folder with --app DIR".into(),
            }]));
        }
        let manifest = Manifest::load(&root).map_err(|e| LoadError(vec![e]))?;
        let mut errors = Vec::new();
        let mut services = Vec::new();
        let mut compose = match reading {
            Reading::WithoutCompose => None,
            _ => crate::app::compose::load(&root, &manifest.config_env)
                .map_err(|e| LoadError(vec![e]))?,
        };
        let unknown_keys = compose
            .as_mut()
            .map(|c| std::mem::take(&mut c.unknown_keys))
            .unwrap_or_default();
        let mut set_aside = match reading {
            Reading::Judging => unknown_keys,
            _ => {
                errors.extend(unknown_keys);
                Vec::new()
            }
        };
        let is_compose = compose.is_some() && manifest.services.is_empty();
        let discovered = compose.is_none() && manifest.services.is_empty();
        let (decls, mut compose_params) = match compose {
            Some(compose) if manifest.services.is_empty() => (compose.services, compose.params),
            _ if manifest.services.is_empty() => (
                discover(&root)
                    .into_iter()
                    .map(|(key, dir)| ServiceDecl {
                        key,
                        dir,
                        depends_on: Vec::new(),
                        order_declared: false,
                        declared_at: None,
                        inputs: Vec::new(),
                        declared: Default::default(),
                    })
                    .collect(),
                Default::default(),
            ),
            _ => (manifest.services.clone(), Default::default()),
        };
        let mut seen = std::collections::BTreeMap::new();
        let mut folders: std::collections::BTreeMap<PathBuf, String> = Default::default();
        for ServiceDecl {
            key,
            dir,
            depends_on,
            order_declared,
            declared_at,
            inputs,
            declared,
        } in decls
        {
            if let Some(other) = seen.insert(key.clone(), dir.clone()) {
                errors.push(FileError {
                    path: dir.clone(),
                    pos: None,
                    message: format!("two services are keyed `{key}` (also {}); declare them in deploy.toml with distinct keys", crate::sys::paths::display(&other)),
                });
                continue;
            }
            // One folder is one service: two keys for it would deploy one
            // template twice, at once.
            let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            // A folder that is a link out of the app escapes it as `..` would.
            let real_root = root.canonicalize().unwrap_or_else(|_| root.clone());
            if real.exists() && !real.starts_with(&real_root) {
                let (path, pos) = declared_at.clone().unwrap_or((dir.clone(), None));
                errors.push(FileError {
                    path,
                    pos,
                    message: format!(
                        "service `{key}`: folder {} leads outside the app folder (to {}); keep the service inside it",
                        crate::sys::paths::display(&dir),
                        crate::sys::paths::display(&real)
                    ),
                });
                continue;
            }
            if let Some(other) = folders.insert(real, key.clone()) {
                let (path, pos) = declared_at.clone().unwrap_or((dir.clone(), None));
                errors.push(FileError {
                    path,
                    pos,
                    message: format!(
                        "services `{other}` and `{key}` are the same folder {}; declare it once",
                        crate::sys::paths::display(&dir)
                    ),
                });
                continue;
            }
            let file = match &declared.config {
                // Named by Compose: that file, or nothing.
                Some(name) => Some(dir.join(name)).filter(|file| file.is_file()),
                None => match config::find(&dir, config::SERVICE_FILES) {
                    Ok(file) => file,
                    Err(err) => {
                        errors.push(err);
                        continue;
                    }
                },
            };
            let Some(file) = file else {
                let (path, pos) = declared_at.unwrap_or((dir.clone(), None));
                errors.push(FileError {
                    path,
                    pos,
                    message: match &declared.config {
                        Some(name) => format!(
                            "service `{key}`: its config file `{name}` is not in {}",
                            crate::sys::paths::display(&dir)
                        ),
                        None => format!(
                            "service `{key}` has no serverless.yml (nor .yaml, .json, .ts, .js) in {}",
                            crate::sys::paths::display(&dir)
                        ),
                    },
                });
                continue;
            };
            match config::read(&file, &manifest.config_env).and_then(|(text, doc)| {
                check_shape(&file, &doc)?;
                Ok((text, doc))
            }) {
                Ok((text, doc)) => {
                    let mut service = Service::new(key, dir, file, text, doc, depends_on);
                    service.params = compose_params.remove(&service.key).unwrap_or_default();
                    service.order_declared = order_declared;
                    service.declared = declared;
                    service.compose = is_compose;
                    service.inputs = inputs.iter().map(|p| service.dir.join(p)).collect();
                    services.push(service)
                }
                Err(err) if reading == Reading::Judging => set_aside.push(err),
                Err(err) => errors.push(err),
            }
        }
        // Nothing left to judge: what was set aside is the answer.
        if services.is_empty() {
            errors.append(&mut set_aside);
        }
        if services.is_empty() && errors.is_empty() {
            errors.push(FileError {
                path: root.clone(),
                pos: None,
                message: "holds no Serverless config (serverless.yml, .json, .ts or .js); pass the app folder with --app DIR".into(),
            });
        }
        let mut region_unknown = None;
        let policy = match &manifest.policy {
            Some(policy) => policy.clone(),
            None => match refusals::default_region(&services) {
                Ok(region) => Policy::default_in(region),
                Err(err) => {
                    region_unknown = Some(err.to_string());
                    Policy::default_policy()
                }
            },
        };
        errors.extend(names_evaluate(&services, &policy));
        if errors.is_empty() {
            // Two services deploying to one stack stop a deploy; each
            // file can still be judged.
            let shared = one_stack_one_service(&services, &policy, discovered);
            match reading {
                Reading::Judging => set_aside.extend(shared),
                _ => errors.extend(shared),
            }
        }
        if !errors.is_empty() {
            return Err(LoadError(errors));
        }
        Ok((
            App {
                root,
                manifest,
                services,
                policy,
                region_unknown,
            },
            set_aside,
        ))
    }

    pub fn service(&self, key: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.key == key)
    }

    /// The services a command works on, in `order`: all, or the `--only`
    /// ones, each of which must be a service of the app.
    pub fn select(&self, order: &[String], only: &[String]) -> anyhow::Result<Vec<String>> {
        for key in only {
            if self.service(key).is_none() {
                let known: Vec<&str> = self.services.iter().map(|s| s.key.as_str()).collect();
                anyhow::bail!(
                    "--only {key}: no such service; the app has {}",
                    known.join(", ")
                );
            }
        }
        Ok(order
            .iter()
            .filter(|k| only.is_empty() || only.contains(k))
            .cloned()
            .collect())
    }

    /// Parses a stage name against this app's policy, for a command that
    /// acts on the stage's region: refused when that region cannot be
    /// known offline.
    pub fn stage(&self, name: &str) -> Result<Stage, crate::app::stage::StageError> {
        let stage = Stage::parse(name, &self.policy)?;
        if self.region_unknown.is_none() {
            return Ok(stage);
        }
        // The default stages share no one region the files give (one is
        // left unknown, `local` perhaps): a stage whose region the files
        // give for it is in that region.
        match refusals::region_in(&self.services, &[name]) {
            Ok(region) => Stage::parse(name, &Policy::default_in(region)),
            Err(here) => Err(crate::app::stage::StageError::UnknownRegion(
                here.to_string(),
            )),
        }
    }

    /// Why the region of stage `name` is not known offline, if it is not
    /// (only the default stages' can be unknown).
    pub fn region_unknown(&self, name: &str) -> Option<String> {
        self.region_unknown.as_ref()?;
        refusals::region_in(&self.services, &[name])
            .err()
            .map(|here| here.to_string())
    }

    /// [`App::stage`] for the audit, which judges the files whatever the
    /// region: a region the files leave unknown does not stop it.
    pub fn stage_to_audit(&self, name: &str) -> Result<Stage, crate::app::stage::StageError> {
        match self.stage(name) {
            Err(crate::app::stage::StageError::UnknownRegion(_)) => {
                Stage::parse(name, &self.policy)
            }
            judged => judged,
        }
    }

    /// The app's name: from the manifest, else the folder name.
    pub fn name(&self) -> String {
        self.manifest
            .app_name
            .clone()
            .or_else(|| self.folder_name())
            .unwrap_or_else(|| "app".into())
    }

    /// The name of the app's folder: its name while deploy.toml names none.
    pub fn folder_name(&self) -> Option<String> {
        self.root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
    }
}

fn collect_sections(
    dir: &Path,
    node: &Node,
    out: &mut Vec<(PathBuf, Node)>,
    seen: &mut std::collections::BTreeSet<(PathBuf, String)>,
    depth: usize,
) {
    // Deeper than any real file; a cycle of includes stops at `seen`.
    if depth > 8 {
        return;
    }
    let mut found = Vec::new();
    node.walk(&mut |_, n| {
        let Some(text) = n.as_str() else { return };
        if let [var] = vars::find(text).as_slice() {
            let whole = var.start == 0 && var.end == text.len();
            if whole && var.source == vars::Source::File {
                if let Some(arg) = var.arg.as_deref().filter(|a| !a.contains("${")) {
                    found.push((arg.to_string(), var.address.clone()));
                }
            }
        }
    });
    for (arg, address) in found {
        let path = crate::sys::paths::normalize(&dir.join(&arg));
        if !config::is_data(&path) || !seen.insert((path.clone(), address.clone())) {
            continue;
        }
        // The resolver's cache: every service sharing the file reads it once.
        let Ok(doc) = vars::load(&path) else {
            continue;
        };
        let keys: Vec<&str> = address.split('.').filter(|k| !k.is_empty()).collect();
        let Some(section) = doc.path(&keys) else {
            continue;
        };
        if section.as_str().is_some() {
            continue;
        }
        collect_sections(dir, section, out, seen, depth + 1);
        out.push((path, section.clone()));
    }
}
