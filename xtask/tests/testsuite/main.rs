//! The integration tests of the deploy tool, in one test binary (as cargo
//! keeps one `tests/testsuite`), so the suite is compiled and linked once
//! instead of once per file.
//!
//! Two tiers. Every module at the top needs no emulator, except
//! `acceptance`: the three-stack sequence on tb365, which `cargo test`
//! always runs against an emulator of its own. Everything under `e2e`
//! starts an emulator and runs where `CI` or `XTASK_E2E=1` is set; anywhere
//! else each of its tests says that it was skipped and how to run it
//! (`support/tier.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a panic is how a test fails, and the tests run the real binary and tools"
)]

mod support;

// First in name order, so libtest starts the longest test of the fast tier
// first and the offline tests run beside it.
mod acceptance;
mod audit;
mod bench;
mod cli;
mod hostile;
mod iam;
mod plan;
mod resolver;
mod resolver_corpus;
mod tidy;
mod validate;
mod yaml_parity;

mod e2e;
