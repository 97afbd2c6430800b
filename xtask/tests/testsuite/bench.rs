//! The bench's own instruments, checked where they can be fast: the scale
//! limits measure each command as a process of its own, and the
//! fingerprints of every service.

use anyhow::Result;

#[tokio::test]
async fn the_scale_limits_measure_each_command_as_a_process() -> Result<()> {
    let work = xtask::sys::paths::scratch_dir().join(format!("bench-scale-{}", std::process::id()));
    let measured = xtask::bench::scale::measure(
        std::path::Path::new(env!("CARGO_BIN_EXE_xtask")),
        &work,
        &[12],
    )
    .await?;
    let commands: Vec<&str> = measured.iter().map(|m| m.command).collect();
    assert_eq!(commands, ["plan", "audit", "validate", "fingerprint"]);
    for m in &measured {
        assert_eq!(m.services, 12);
        assert!(m.seconds > 0.0, "{m:?}");
        if m.command != "fingerprint" {
            // A process of its own: at least its binary's pages.
            assert!(m.peak_mb > 1.0, "{m:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
