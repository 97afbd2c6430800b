//! IAM for a stage: the policy a role needs to deploy, remove and roll
//! back the app's stage (`build`), the document and its matching
//! (`policy`), and what an AWS request asks of IAM (`calls`), with which
//! the tests check a recorded run against the policy.

pub mod build;
pub mod calls;
mod cbor;
pub mod offline;
pub mod policy;

pub use policy::{Policy, Statement};
