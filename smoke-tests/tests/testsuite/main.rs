//! The integration tests of the smoke-test runner, in one test binary:
//! the load generator and the protected-stage guard, each against an HTTP
//! server of the test's own. None needs an emulator.

mod load;
mod protected;
