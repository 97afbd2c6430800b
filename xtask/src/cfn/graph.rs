//! The deploy order, inferred from the services' own files: an edge from a
//! service to every service whose stack or export it references, or whose
//! queue, stream, topic, bucket or layer it names where it must exist
//! (`named`), plus the manifest's explicit `depends_on`. Names are compared after the stage is
//! substituted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::app::stage::Stage;
use crate::app::App;
use crate::cfn::catalogue::{Catalogue, ServiceRefs};
use crate::cfn::refs::Referent;

/// `from` depends on `to`: `to` deploys first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub reason: String,
    pub at: String,
    /// The CLI reads the value while it packages `from` (`${cf:}`, a
    /// Compose output param), or the team declared the order for a reason
    /// the tool cannot see: `from` packages only once `to` is deployed.
    /// False for `Fn::ImportValue`, which CloudFormation resolves when
    /// it deploys `from`'s stack.
    pub read_at_package: bool,
}

/// A reference that no service of the app satisfies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dangling {
    pub service: String,
    pub reference: String,
    pub at: String,
    /// Declared external in the manifest: allowed.
    pub external: bool,
    /// Why no service produces it, when there is more to say than that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// Service keys in manifest (or discovery) order.
    pub services: Vec<String>,
    pub edges: Vec<Edge>,
    pub dangling: Vec<Dangling>,
    /// References whose names are not known before deploy.
    pub unresolved: Vec<Dangling>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CycleError {
    pub cycle: Vec<String>,
    pub edges: Vec<Edge>,
}

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the services depend on each other in a cycle: {}",
            self.cycle.join(" -> ")
        )?;
        for edge in &self.edges {
            writeln!(
                f,
                "  {} -> {}: {} ({})",
                edge.from, edge.to, edge.reason, edge.at
            )?;
        }
        write!(f, "break the cycle: move the shared resource into its own service, or pass the value as a parameter")
    }
}

impl Graph {
    /// Builds the graph of `app` for `stage`.
    pub fn build(app: &App, stage: &Stage) -> Graph {
        Graph::from_catalogue(&Catalogue::build(app, stage))
    }

    /// The graph of a stage's catalogue.
    pub fn from_catalogue(catalogue: &Catalogue) -> Graph {
        let app = catalogue.app;
        let mut edges = Vec::new();
        let mut dangling = Vec::new();
        let mut unresolved = Vec::new();
        for ServiceRefs {
            service,
            references,
            unresolved: unknown,
        } in &catalogue.references
        {
            for dep in &service.depends_on {
                edges.push(Edge {
                    from: service.key.clone(),
                    to: dep.service.clone(),
                    reason: dep.reason.clone(),
                    at: dep.at.clone(),
                    read_at_package: true,
                });
            }
            for reference in references {
                let at = format!(
                    "{}:{}",
                    crate::sys::paths::display(&reference.file),
                    reference.pos.line
                );
                let mut why = None;
                let (producer, external) = match &reference.target {
                    Referent::Stack { stack, region, .. } => {
                        let other_region =
                            region.as_deref().filter(|r| *r != catalogue.stage.region());
                        let producer = match other_region {
                            // The app deploys this stage to one region only.
                            Some(r) => {
                                why = Some(format!(
                                    "reads stack `{stack}` in {r}, but stage {} deploys to {}; no service of the app is there",
                                    catalogue.stage.name(),
                                    catalogue.stage.region()
                                ));
                                None
                            }
                            None => catalogue.stacks.get(stack).copied(),
                        };
                        (producer, catalogue.external_stacks.contains(stack))
                    }
                    Referent::Export { name } => (
                        catalogue.export_producer(name),
                        catalogue.external_exports.contains(name),
                    ),
                };
                match producer {
                    Some(to) if to.key == service.key => {}
                    Some(to) => edges.push(Edge {
                        from: service.key.clone(),
                        to: to.key.clone(),
                        reason: reference.written.clone(),
                        at,
                        read_at_package: matches!(reference.target, Referent::Stack { .. }),
                    }),
                    // An unread `${file()}` fragment may hold the export.
                    None if !catalogue.all_read && !external => unresolved.push(Dangling {
                        service: service.key.clone(),
                        reference: reference.written.clone(),
                        at,
                        external,
                        why,
                    }),
                    None => dangling.push(Dangling {
                        service: service.key.clone(),
                        reference: reference.written.clone(),
                        at,
                        external,
                        why,
                    }),
                }
            }
            for u in unknown {
                unresolved.push(Dangling {
                    service: service.key.clone(),
                    reference: u.written.clone(),
                    at: format!("{}:{}", crate::sys::paths::display(&u.file), u.pos.line),
                    external: false,
                    why: None,
                });
            }
        }
        // A resource named by ARN or name that another service creates.
        for (service, uses) in &catalogue.named {
            for used in uses {
                let Some(to) = catalogue.produced.get(&(used.kind, used.name.clone())) else {
                    continue;
                };
                if to.key == service.key {
                    continue;
                }
                edges.push(Edge {
                    from: service.key.clone(),
                    to: to.key.clone(),
                    reason: format!(
                        "{} `{}` by name ({})",
                        used.kind.noun(),
                        used.name,
                        used.written
                    ),
                    at: format!(
                        "{}:{}",
                        crate::sys::paths::display(&used.file),
                        used.pos.line
                    ),
                    read_at_package: used.read_at_package,
                });
            }
        }
        edges.sort_by(|a, b| (&a.from, &a.to, &a.at).cmp(&(&b.from, &b.to, &b.at)));
        edges.dedup_by(|a, b| a.from == b.from && a.to == b.to && a.reason == b.reason);
        Graph {
            services: app.services.iter().map(|s| s.key.clone()).collect(),
            edges,
            dangling,
            unresolved,
        }
    }

    /// What `service` depends on directly.
    pub fn dependencies(&self, service: &str) -> BTreeSet<&str> {
        self.edges
            .iter()
            .filter(|e| e.from == service)
            .map(|e| e.to.as_str())
            .collect()
    }

    /// What every service depends on directly, for the scheduler.
    pub fn dependency_map(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for edge in &self.edges {
            map.entry(edge.from.clone())
                .or_default()
                .insert(edge.to.clone());
        }
        map
    }

    /// Services in waves: each wave depends only on earlier ones, so the
    /// services of one wave may deploy in parallel.
    pub fn waves(&self) -> Result<Vec<Vec<String>>, CycleError> {
        if let Some(cycle) = self.find_cycle() {
            return Err(cycle);
        }
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        fn depth<'g>(
            graph: &'g Graph,
            service: &'g str,
            level: &mut BTreeMap<&'g str, usize>,
        ) -> usize {
            if let Some(&l) = level.get(service) {
                return l;
            }
            let l = graph
                .dependencies(service)
                .into_iter()
                .map(|d| depth(graph, d, level) + 1)
                .max()
                .unwrap_or(0);
            level.insert(service, l);
            l
        }
        let mut waves: Vec<Vec<String>> = Vec::new();
        for service in &self.services {
            let l = depth(self, service, &mut level);
            if waves.len() <= l {
                waves.resize(l + 1, Vec::new());
            }
            waves[l].push(service.clone());
        }
        Ok(waves)
    }

    fn find_cycle(&self) -> Option<CycleError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        fn visit<'g>(
            graph: &'g Graph,
            node: &'g str,
            marks: &mut BTreeMap<&'g str, Mark>,
            path: &mut Vec<&'g str>,
        ) -> Option<Vec<String>> {
            match marks.get(node) {
                Some(Mark::Done) => return None,
                Some(Mark::Visiting) => {
                    let start = path.iter().position(|n| *n == node).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(node.to_string());
                    return Some(cycle);
                }
                None => {}
            }
            marks.insert(node, Mark::Visiting);
            path.push(node);
            for dep in graph.dependencies(node) {
                if let Some(cycle) = visit(graph, dep, marks, path) {
                    return Some(cycle);
                }
            }
            path.pop();
            marks.insert(node, Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        for service in &self.services {
            let mut path = Vec::new();
            if let Some(cycle) = visit(self, service, &mut marks, &mut path) {
                let edges = cycle
                    .windows(2)
                    .filter_map(|pair| {
                        self.edges
                            .iter()
                            .find(|e| e.from == pair[0] && e.to == pair[1])
                            .cloned()
                    })
                    .collect();
                return Some(CycleError { cycle, edges });
            }
        }
        None
    }
}
