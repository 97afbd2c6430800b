//! The end-to-end tier: each test starts an emulator and deploys to it.
//! Each opens with `if support::e2e_skipped() { … }`: it runs under `CI` or
//! `XTASK_E2E=1`, and anywhere else says it was skipped and how to run it
//! (the tidy test keeps every test here gated). CI runs these modules
//! split over the jobs of a matrix (`ci.yml`), `.ci/run` all of them.

mod ahead;
mod checklist;
mod deploy;
mod diff;
mod domains;
mod emulator;
mod iam;
mod load;
mod migrate;
mod monitoring;
mod pace;
mod packages;
mod run;
mod safety;
mod sequence;
mod skips;
mod smoke;
