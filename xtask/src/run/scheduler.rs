//! The ready pool: which services may start now, given what each depends
//! on, what every service's status is, and how many may run at once. A
//! pure function, so the order rules are tested without an emulator.

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
        }
    }

    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// The services to start now: pending ones, in plan order, whose
    /// dependencies in the run are all deployed or unchanged, up to the
    /// free places. Nothing starts once the run is stopping.
    pub fn ready(&self, status: &BTreeMap<String, Status>, stopping: bool) -> Vec<String> {
        if stopping {
            return Vec::new();
        }
        let running = status.values().filter(|s| **s == Status::Running).count();
        let free = self.concurrency.saturating_sub(running);
        self.order
            .iter()
            .filter(|key| status.get(*key) == Some(&Status::Pending))
            .filter(|key| {
                self.dependencies.get(*key).is_none_or(|deps| {
                    deps.iter().all(|dep| match status.get(dep) {
                        // Outside the run: deployed before it (checked).
                        None => true,
                        Some(s) => matches!(s, Status::Deployed | Status::Unchanged),
                    })
                })
            })
            .take(free)
            .cloned()
            .collect()
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
        assert_eq!(diamond(4).ready(&status(&[]), false), ["data"]);
    }

    #[test]
    fn independent_services_start_together_up_to_the_concurrency() {
        let done = status(&[("data", Status::Deployed)]);
        assert_eq!(diamond(4).ready(&done, false), ["images", "integration"]);
        assert_eq!(diamond(1).ready(&done, false), ["images"]);
        let one_running = status(&[("data", Status::Unchanged), ("images", Status::Running)]);
        assert_eq!(diamond(2).ready(&one_running, false), ["integration"]);
        assert!(diamond(1).ready(&one_running, false).is_empty());
    }

    #[test]
    fn a_service_waits_for_its_own_dependencies_only() {
        let s = status(&[
            ("data", Status::Deployed),
            ("images", Status::Deployed),
            ("integration", Status::Running),
        ]);
        assert_eq!(diamond(4).ready(&s, false), ["web"]);
    }

    #[test]
    fn nothing_depending_on_a_failure_or_a_skip_ever_starts() {
        let failed = status(&[("data", Status::Failed)]);
        assert!(diamond(4).ready(&failed, false).is_empty());
        let s = status(&[
            ("data", Status::Deployed),
            ("images", Status::Skipped),
            ("integration", Status::Deployed),
        ]);
        assert!(diamond(4).ready(&s, false).is_empty());
    }

    #[test]
    fn a_stopping_run_starts_nothing() {
        assert!(diamond(4).ready(&status(&[]), true).is_empty());
    }

    #[test]
    fn dependencies_outside_the_run_count_as_deployed() {
        let only_web = Schedule::new(
            vec!["web".into()],
            BTreeMap::from([("web".to_string(), BTreeSet::from(["images".to_string()]))]),
            2,
        );
        let s = BTreeMap::from([("web".to_string(), Status::Pending)]);
        assert_eq!(only_web.ready(&s, false), ["web"]);
    }

    #[test]
    fn a_zero_concurrency_still_runs_one_at_a_time() {
        let done = status(&[("data", Status::Deployed)]);
        assert_eq!(diamond(0).ready(&done, false), ["images"]);
    }
}
