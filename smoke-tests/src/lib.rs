//! Checks every HTTP endpoint of a deployed app against a committed smoke
//! spec, so that no endpoint can be forgotten: an endpoint without a check
//! fails the run, and so does a check whose endpoint no longer exists.
//!
//! The caller (the deploy tool) discovers the endpoints and their base URLs
//! and obtains tokens; this crate owns the spec, the coverage rule, the
//! concurrent runner with retries, the reports (table, JSON, JUnit), and
//! the guard every request passes: on a protected stage nothing changes
//! data this run did not make, whatever the spec says.

mod guard;
pub mod load;
pub mod report;
pub mod runner;
pub mod spec;

pub use report::{Outcome, Report};
pub use runner::{run, Options};
pub use spec::{Spec, SpecError};

/// An endpoint of the deployed app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The service key (as in the deploy manifest).
    pub service: String,
    /// Upper-case HTTP method, or `ANY`.
    pub method: String,
    /// The route path with `{param}` placeholders.
    pub path: String,
    /// Whether an authorizer guards it.
    pub protected: bool,
    /// The API's base URL, reachable from here; `None` when it is not deployed.
    pub base_url: Option<String>,
    /// Where the endpoint is declared (`file:line`).
    pub at: String,
}

impl Endpoint {
    pub fn name(&self) -> String {
        format!("{} {} in {}", self.method, self.path, self.service)
    }

    /// The route on its deployed base URL, placeholders kept (`/items/{id}`);
    /// `None` when the API is not deployed.
    pub fn url(&self) -> Option<String> {
        let base = self.base_url.as_deref()?.trim_end_matches('/');
        let path = self.path.trim_start_matches('/');
        Some(format!("{base}/{path}"))
    }
}
