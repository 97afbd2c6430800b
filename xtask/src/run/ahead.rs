//! Where the packages made ahead of their service's turn go (which
//! services may package ahead is the order's to say:
//! [`crate::cfn::order::packaging`]).

use std::path::PathBuf;

use crate::sys::paths;

/// The folder of one run's packages, removed with everything in it when
/// dropped.
pub struct Packages(PathBuf);

impl Packages {
    pub fn new(run_id: &str) -> Packages {
        Packages(paths::scratch_dir().join("packages").join(run_id))
    }

    /// Where `service`'s package goes (emptied first).
    pub fn dir(&self, service: &str) -> PathBuf {
        let dir = self.0.join(service);
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}

impl Drop for Packages {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
