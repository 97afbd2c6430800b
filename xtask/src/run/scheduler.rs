//! The ready pool: which services may start now, given what each depends
//! on, what every service's status is, and how many may run at once; and
//! which may package ahead of their turn, while what they depend on
//! deploys. Pure functions, so the order rules are tested without an
//! emulator.

use std::collections::{BTreeMap, BTreeSet};

use crate::run::journal::Status;

/// The services of a run in plan order, and what each depends on within
/// the app. Dependencies outside the run (`--only`) were checked deployed
/// before the run and count as done.
#[derive(Debug, Clone)]
pub struct Schedule {
    order: Vec<String>,
    dependencies: BTreeMap<String, BTreeSet<String>>,
    concurrency: usize,
    /// The services that may package ahead of their turn.
    ahead: BTreeSet<String>,
    /// How many may package ahead at once.
    package_concurrency: usize,
}

/// Where a service that may deploy ahead of its turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    /// Its CLI runs ahead: packaging, then held until its turn.
    Ahead,
    /// Not running ahead (finished, or given up on: it then deploys at its
    /// turn).
    Done,
}

impl Schedule {
    /// `order` is the plan order of the services in the run; at least one
    /// service runs at a time whatever `concurrency` says.
    pub fn new(
        order: Vec<String>,
        dependencies: BTreeMap<String, BTreeSet<String>>,
        concurrency: usize,
    ) -> Schedule {
        Schedule {
            order,
            dependencies,
            concurrency: concurrency.max(1),
            ahead: BTreeSet::new(),
            package_concurrency: 0,
        }
    }

    /// Lets `ahead` start before their turn, `concurrency` at a time
    /// while they wait for it (none when 0).
    pub fn packaging_ahead(mut self, ahead: BTreeSet<String>, concurrency: usize) -> Schedule {
        self.ahead = if concurrency == 0 {
            BTreeSet::new()
        } else {
            ahead
        };
        self.package_concurrency = concurrency;
        self
    }

    /// Whether every service `key` depends on in the run is deployed or
    /// unchanged.
    pub fn dependencies_done(&self, key: &str, status: &BTreeMap<String, Status>) -> bool {
        self.dependencies.get(key).is_none_or(|deps| {
            deps.iter().all(|dep| match status.get(dep) {
                // Outside the run: deployed before it (checked).
                None => true,
                Some(s) => matches!(s, Status::Deployed | Status::Unchanged),
            })
        })
    }

    /// The services to start ahead now: those that may, still pending and
    /// not started, in plan order, up to the free places (a service holds
    /// its place until its turn). Nothing starts once the run is stopping.
    pub fn to_package(
        &self,
        status: &BTreeMap<String, Status>,
        packages: &BTreeMap<String, Package>,
        stopping: bool,
    ) -> Vec<String> {
        if stopping {
            return Vec::new();
        }
        let busy = packages
            .iter()
            .filter(|(key, p)| **p == Package::Ahead && status.get(*key) == Some(&Status::Pending))
            .count();
        let free = self.package_concurrency.saturating_sub(busy);
        self.order
            .iter()
            .filter(|key| self.ahead.contains(*key))
            .filter(|key| status.get(*key) == Some(&Status::Pending))
            .filter(|key| !packages.contains_key(*key))
            .take(free)
            .cloned()
            .collect()
    }

    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// The services whose turn it is: pending ones, in plan order, whose
    /// dependencies in the run are all deployed or unchanged. One started
    /// ahead goes on from where it is held, whatever runs: its packaging,
    /// the part that keeps a core busy, is done (or held a place ahead),
    /// and what is left is mostly waiting on CloudFormation. The others
    /// start at their turn up to the free places, which only deploys
    /// started at their turn hold. Nothing starts once the run is
    /// stopping.
    pub fn ready(
        &self,
        status: &BTreeMap<String, Status>,
        packages: &BTreeMap<String, Package>,
        stopping: bool,
    ) -> Vec<String> {
        if stopping {
            return Vec::new();
        }
        let started_ahead = |key: &str| packages.get(key) == Some(&Package::Ahead);
        let running = status
            .iter()
            .filter(|(key, s)| **s == Status::Running && !started_ahead(key))
            .count();
        let mut free = self.concurrency.saturating_sub(running);
        let mut out = Vec::new();
        for key in &self.order {
            if status.get(key) != Some(&Status::Pending) || !self.dependencies_done(key, status) {
                continue;
            }
            if started_ahead(key) {
                out.push(key.clone());
            } else if free > 0 {
                free -= 1;
                out.push(key.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// data ← {images, integration}; images ← web.
    fn diamond(concurrency: usize) -> Schedule {
        let deps = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Schedule::new(
            ["data", "images", "integration", "web"]
                .map(String::from)
                .to_vec(),
            BTreeMap::from([
                ("images".to_string(), deps(&["data"])),
                ("integration".to_string(), deps(&["data"])),
                ("web".to_string(), deps(&["images"])),
            ]),
            concurrency,
        )
    }

    fn no_packages() -> BTreeMap<String, Package> {
        BTreeMap::new()
    }

    fn status(entries: &[(&str, Status)]) -> BTreeMap<String, Status> {
        let mut all: BTreeMap<String, Status> = ["data", "images", "integration", "web"]
            .iter()
            .map(|k| (k.to_string(), Status::Pending))
            .collect();
        for (k, s) in entries {
            all.insert(k.to_string(), *s);
        }
        all
    }

    #[test]
    fn only_services_without_pending_dependencies_start_first() {
        assert_eq!(
            diamond(4).ready(&status(&[]), &no_packages(), false),
            ["data"]
        );
    }

    #[test]
    fn independent_services_start_together_up_to_the_concurrency() {
        let done = status(&[("data", Status::Deployed)]);
        assert_eq!(
            diamond(4).ready(&done, &no_packages(), false),
            ["images", "integration"]
        );
        assert_eq!(diamond(1).ready(&done, &no_packages(), false), ["images"]);
        let one_running = status(&[("data", Status::Unchanged), ("images", Status::Running)]);
        assert_eq!(
            diamond(2).ready(&one_running, &no_packages(), false),
            ["integration"]
        );
        assert!(diamond(1)
            .ready(&one_running, &no_packages(), false)
            .is_empty());
    }

    #[test]
    fn a_service_waits_for_its_own_dependencies_only() {
        let s = status(&[
            ("data", Status::Deployed),
            ("images", Status::Deployed),
            ("integration", Status::Running),
        ]);
        assert_eq!(diamond(4).ready(&s, &no_packages(), false), ["web"]);
    }

    #[test]
    fn nothing_depending_on_a_failure_or_a_skip_ever_starts() {
        let failed = status(&[("data", Status::Failed)]);
        assert!(diamond(4).ready(&failed, &no_packages(), false).is_empty());
        let s = status(&[
            ("data", Status::Deployed),
            ("images", Status::Skipped),
            ("integration", Status::Deployed),
        ]);
        assert!(diamond(4).ready(&s, &no_packages(), false).is_empty());
    }

    #[test]
    fn a_stopping_run_starts_nothing() {
        assert!(diamond(4)
            .ready(&status(&[]), &no_packages(), true)
            .is_empty());
    }

    #[test]
    fn dependencies_outside_the_run_count_as_deployed() {
        let only_web = Schedule::new(
            vec!["web".into()],
            BTreeMap::from([("web".to_string(), BTreeSet::from(["images".to_string()]))]),
            2,
        );
        let s = BTreeMap::from([("web".to_string(), Status::Pending)]);
        assert_eq!(only_web.ready(&s, &no_packages(), false), ["web"]);
    }

    #[test]
    fn a_zero_concurrency_still_runs_one_at_a_time() {
        let done = status(&[("data", Status::Deployed)]);
        assert_eq!(diamond(0).ready(&done, &no_packages(), false), ["images"]);
    }

    /// `integration` may package ahead; `images` reads `data` while it
    /// packages, so it does not.
    fn ahead(concurrency: usize) -> Schedule {
        diamond(4).packaging_ahead(BTreeSet::from(["integration".to_string()]), concurrency)
    }

    fn packages(entries: &[(&str, Package)]) -> BTreeMap<String, Package> {
        entries.iter().map(|(k, p)| (k.to_string(), *p)).collect()
    }

    #[test]
    fn services_start_ahead_while_their_dependencies_deploy() {
        let data_running = status(&[("data", Status::Running)]);
        assert_eq!(
            ahead(2).to_package(&data_running, &no_packages(), false),
            ["integration"]
        );
        assert!(ahead(0)
            .to_package(&data_running, &no_packages(), false)
            .is_empty());
        let started = packages(&[("integration", Package::Ahead)]);
        assert!(ahead(2)
            .to_package(&data_running, &started, false)
            .is_empty());
        assert!(ahead(2)
            .to_package(&data_running, &no_packages(), true)
            .is_empty());
    }

    #[test]
    fn a_place_ahead_is_held_until_the_service_s_turn() {
        let both = BTreeSet::from(["integration".to_string(), "images".to_string()]);
        let wide = diamond(4).packaging_ahead(both, 1);
        let data_running = status(&[("data", Status::Running)]);
        let one = packages(&[("images", Package::Ahead)]);
        assert!(wide.to_package(&data_running, &one, false).is_empty());
        // Its turn came (it runs now): the place is free again.
        let images_running = status(&[("data", Status::Deployed), ("images", Status::Running)]);
        assert_eq!(
            wide.to_package(&images_running, &one, false),
            ["integration"]
        );
    }

    #[test]
    fn a_service_started_ahead_never_jumps_its_dependencies() {
        let data_running = status(&[("data", Status::Running)]);
        let started = packages(&[("integration", Package::Ahead)]);
        assert!(ahead(2).ready(&data_running, &started, false).is_empty());
        let failed = status(&[("data", Status::Failed)]);
        assert!(ahead(2).ready(&failed, &no_packages(), false).is_empty());
        let done = status(&[("data", Status::Deployed)]);
        assert_eq!(
            ahead(2).ready(&done, &no_packages(), false),
            ["images", "integration"]
        );
    }

    /// A deploy started ahead takes no place at its turn (its packaging,
    /// what keeps a core busy, is done), nor does it hold one while it
    /// waits on CloudFormation: the places are for deploys that package
    /// at their turn.
    #[test]
    fn a_deploy_started_ahead_holds_no_place_at_its_turn() {
        let both = BTreeSet::from(["integration".to_string(), "images".to_string()]);
        let held = packages(&[("images", Package::Ahead), ("integration", Package::Ahead)]);
        let done = status(&[("data", Status::Deployed)]);
        // One place, both held at their gates: both go on.
        let one_place = diamond(1).packaging_ahead(both.clone(), 2);
        assert_eq!(
            one_place.ready(&done, &held, false),
            ["images", "integration"]
        );
        // A deploy packaged at its turn holds the place; held ones still go.
        let only_images = packages(&[("images", Package::Ahead)]);
        let data_busy = status(&[("data", Status::Deployed), ("integration", Status::Running)]);
        assert_eq!(one_place.ready(&data_busy, &only_images, false), ["images"]);
        // Running ahead, they leave the place free for one at its turn.
        let running_ahead = status(&[
            ("data", Status::Deployed),
            ("images", Status::Deployed),
            ("integration", Status::Running),
        ]);
        let integration_ahead = packages(&[("integration", Package::Ahead)]);
        assert_eq!(
            one_place.ready(&running_ahead, &integration_ahead, false),
            ["web"]
        );
        assert!(one_place
            .ready(&running_ahead, &no_packages(), false)
            .is_empty());
    }
}
