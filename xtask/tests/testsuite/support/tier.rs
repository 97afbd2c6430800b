//! The gate of the end-to-end tier, as rust-analyzer gates its slow tests:
//! every test under `e2e` begins with `if support::e2e_skipped() { … }`.
//! It runs where `XTASK_E2E=1` is set or where `CI` is (GitHub Actions
//! sets `CI=true`, and `.ci/run` sets `XTASK_E2E=1`): there nothing can
//! turn it off. Anywhere else it says, on the terminal even while the test
//! harness captures output, that the test was skipped and how to run it.

use std::io::Write;

/// The variable that asks for the end-to-end tier.
pub const VARIABLE: &str = "XTASK_E2E";

/// Whether the end-to-end tier runs, from the values of `CI` and
/// `XTASK_E2E`: any `CI` runs it; otherwise only `XTASK_E2E=1` does.
pub fn runs(ci: Option<&str>, asked: Option<&str>) -> bool {
    ci.is_some_and(|v| !v.is_empty()) || asked == Some("1")
}

/// What a skipped test says: that it was skipped, and the command that
/// runs it.
pub fn skipped(test: &str) -> String {
    format!(
        "skipped {test}: an end-to-end test; run it with `{VARIABLE}=1 cargo test -p xtask --test testsuite -- {test}` (CI always runs it)"
    )
}

/// `true` when this test is to be skipped here, said on stderr.
#[must_use]
pub fn e2e_skipped() -> bool {
    let var = |name: &str| std::env::var(name).ok();
    if runs(var("CI").as_deref(), var(VARIABLE).as_deref()) {
        return false;
    }
    // The test harness names each test's thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    // Straight to the file descriptor: the harness captures `eprintln!`,
    // and a skip that nobody sees is a silent one.
    let _ = writeln!(std::io::stderr().lock(), "{}", skipped(test));
    true
}

#[test]
fn the_end_to_end_tier_runs_under_ci_or_when_asked_and_says_how_to_run_a_skipped_test() {
    assert!(!runs(None, None));
    assert!(!runs(Some(""), None));
    assert!(!runs(None, Some("0")));
    assert!(!runs(None, Some("")));
    assert!(runs(None, Some("1")));
    assert!(runs(Some("true"), None));
    // Under CI nothing turns it off.
    assert!(runs(Some("true"), Some("0")));
    assert!(runs(Some("1"), Some("")));
    assert_eq!(
        skipped("e2e::deploy::x"),
        "skipped e2e::deploy::x: an end-to-end test; run it with `XTASK_E2E=1 cargo test -p xtask --test testsuite -- e2e::deploy::x` (CI always runs it)"
    );
}
