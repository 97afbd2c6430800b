//! The per-stage catalogue of what an app's services produce and consume
//! across stacks: stack names, exports (the app's own and the framework's),
//! outputs, external names, and every service's references. Built once per
//! command and stage, and read by both the graph (order) and the checks
//! (validate), so both see the same names.

use std::collections::{BTreeMap, BTreeSet};

use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::cfn::named::{self, Kind};
use crate::cfn::refs::{self, Export, Reference, Scope, Unresolved};

/// What one service references, resolved for the stage.
pub struct ServiceRefs<'a> {
    pub service: &'a Service,
    pub references: Vec<Reference>,
    pub unresolved: Vec<Unresolved>,
}

pub struct Catalogue<'a> {
    pub app: &'a App,
    pub stage: &'a Stage,
    /// Stack name → the service that deploys it.
    pub stacks: BTreeMap<String, &'a Service>,
    /// Every export the services define, in app order (duplicates kept).
    pub exports: Vec<(&'a Service, Export)>,
    /// `sls-<service>-<stage>-` prefixes of the framework's own exports.
    pub framework_prefixes: Vec<(String, &'a Service)>,
    /// The framework's own export names (`...-HttpApiUrl`, ...).
    pub framework_exports: BTreeSet<String>,
    /// Stack name → every output it will have (its own and generated ones).
    pub outputs: BTreeMap<String, BTreeSet<String>>,
    /// `[external]` names of deploy.toml, for this stage.
    pub external_stacks: BTreeSet<String>,
    pub external_exports: BTreeSet<String>,
    /// Every service's references, in app order.
    pub references: Vec<ServiceRefs<'a>>,
    /// False when some `${file()}` under `resources:` could not be read: a
    /// name that looks missing may be defined there.
    pub all_read: bool,
    /// The names resources are created under, by the service that creates
    /// them (see `named`).
    pub produced: BTreeMap<(Kind, String), &'a Service>,
    /// Every service's uses of names that must exist when it deploys.
    pub named: Vec<(&'a Service, Vec<named::Use>)>,
}

impl<'a> Catalogue<'a> {
    pub fn build(app: &'a App, stage: &'a Stage) -> Catalogue<'a> {
        let scope = Scope {
            stage: stage.name(),
            region: stage.region(),
        };
        let mut catalogue = Catalogue {
            app,
            stage,
            stacks: BTreeMap::new(),
            exports: Vec::new(),
            framework_prefixes: Vec::new(),
            framework_exports: BTreeSet::new(),
            outputs: BTreeMap::new(),
            external_stacks: external(&app.manifest.external.stacks, stage),
            external_exports: external(&app.manifest.external.exports, stage),
            references: Vec::new(),
            all_read: app.services.iter().all(|s| s.fragments_complete),
            produced: BTreeMap::new(),
            named: Vec::new(),
        };
        for service in &app.services {
            let generated = super::generated(service);
            if let Some(prefix) = refs::framework_export_prefix(service, &scope) {
                catalogue
                    .framework_exports
                    .extend(generated.outputs.iter().map(|o| format!("{prefix}{o}")));
                catalogue.framework_prefixes.push((prefix, service));
            }
            for export in refs::exports(service, &scope) {
                catalogue.exports.push((service, export));
            }
            if let Some(stack) = service.stack_name(stage) {
                let mut outputs: BTreeSet<String> = service
                    .entries("Outputs")
                    .into_iter()
                    .filter_map(|(_, k, _)| k.as_str().map(str::to_string))
                    .collect();
                outputs.extend(generated.outputs);
                catalogue.outputs.insert(stack.clone(), outputs);
                catalogue.stacks.insert(stack, service);
            }
            for name in named::produced(service, stage) {
                catalogue.produced.entry(name).or_insert(service);
            }
            catalogue.named.push((service, named::uses(service, stage)));
            let (references, unresolved) = refs::references(service, &scope);
            catalogue.references.push(ServiceRefs {
                service,
                references,
                unresolved,
            });
        }
        catalogue
    }

    /// The service that exports `name`: by its own outputs, else by the
    /// framework's naming rule.
    pub fn export_producer(&self, name: &str) -> Option<&'a Service> {
        self.exports
            .iter()
            .find(|(_, e)| e.name == name)
            .map(|(s, _)| *s)
            .or_else(|| {
                self.framework_prefixes
                    .iter()
                    .find(|(prefix, _)| name.starts_with(prefix.as_str()))
                    .map(|(_, s)| *s)
            })
    }

    /// Every export name the app will have in this stage.
    pub fn export_names(&self) -> BTreeSet<&str> {
        self.exports
            .iter()
            .map(|(_, e)| e.name.as_str())
            .chain(self.framework_exports.iter().map(String::as_str))
            .collect()
    }
}

/// `[external]` names with `${stage}` filled in.
fn external(names: &[String], stage: &Stage) -> BTreeSet<String> {
    names
        .iter()
        .map(|s| s.replace("${stage}", stage.name()))
        .collect()
}
