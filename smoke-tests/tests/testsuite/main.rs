//! The integration tests of the smoke-test runner, in one test binary:
//! the load generator and the protected-stage guard, each against an HTTP
//! server of the test's own. None needs an emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::disallowed_methods,
    reason = "a panic is how a test fails, and the tests run the real binary and tools"
)]

mod load;
mod protected;
