//! The integration tests of the deploy tool, in one test binary (as cargo
//! keeps one `tests/testsuite`), so the suite is compiled and linked once
//! instead of once per file.
//!
//! Every module at the top needs no emulator, except `sequence`: the
//! three-stack sequence on tb365. Everything under `e2e` starts an
//! emulator and deploys to it.

mod support;

mod audit;
mod cli;
mod hostile;
mod plan;
mod resolver;
mod sequence;
mod tidy;
mod validate;

mod e2e;
