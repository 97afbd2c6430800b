//! Packaging fanned out, as CI jobs would run it: two processes, each with
//! a state folder of its own, package one shard each of a four-service app
//! into one folder; one deploy then deploys from the packages, under one
//! lock and one journal, and leaves the journal and the stacks as a normal
//! deploy does. A service whose packaging reads another (`${cf:}`) is left
//! to the deploy; a package from another commit is refused before anything
//! changes.

use anyhow::Result;

use super::ahead::{relay, service, HANDLER};
use crate::support;
use crate::support::{arg, git, Harness, Run};

const SIDE: &str = "service: relay-side\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: relay-deployments-${sls:stage}\nfunctions:\n  hello:\n    handler: handler.hello\nresources:\n  Outputs:\n    Side:\n      Value: side\n";

#[tokio::test]
async fn shards_packaged_apart_deploy_as_one_run() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("packages").await?;
    let app = relay(
        &h,
        &[
            ("side/serverless.yml", SIDE),
            ("side/handler.js", HANDLER),
            (".gitignore", "node_modules/\n.serverless/\n"),
        ],
    );
    git(&app, &["init", "-q"]);
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-qm", "relay"]);
    let app_arg = arg(&app);
    let packages = h.dir.join("packages");
    let packages_arg = arg(&packages);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();

    // Two jobs at once, each its own state, one artifact folder.
    let jobs: Vec<_> = ["1/2", "2/2"]
        .iter()
        .map(|shard| {
            let mut cmd = h.xtask(&[
                "deploy",
                "dev",
                "--rehearse",
                "--app",
                &app_arg,
                "--package-only",
                "--shard",
                shard,
                "--packages",
                &packages_arg,
            ]);
            cmd.env(
                "XTASK_STATE_DIR",
                h.dir.join(format!("state-{}", &shard[..1])),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut said = String::new();
    for job in jobs {
        let run = Run::from(job.wait_with_output()?);
        run.ok();
        said.push_str(&run.text);
    }
    for key in ["base", "mid", "side"] {
        assert!(
            packages.join(key).join("xtask-package.json").is_file(),
            "{key} has no package:\n{said}"
        );
    }
    assert!(!packages.join("top").exists(), "{said}");
    assert!(
        said.contains("top: left to the deploy, which packages it at its turn"),
        "{said}"
    );
    // Nothing was deployed by packaging.
    assert!(h.stack("relay-base-dev").await?.is_none());

    let from_packages = |more: &[&str]| {
        let mut args = vec![
            "deploy",
            "dev",
            "--rehearse",
            "--app",
            &app_arg,
            "--from-packages",
            &packages_arg,
        ];
        args.extend_from_slice(more);
        h.run(&args)
    };
    let deployed = from_packages(&[]);
    deployed.ok();
    let journal = h.journal("relay", "dev.rehearsal");
    assert_eq!(journal["outcome"], "succeeded", "{}", deployed.text);
    for key in ["base", "mid", "top", "side"] {
        assert_eq!(
            service(&journal, key)["status"],
            "deployed",
            "{key}: {journal:#}"
        );
        let (_, outputs) = h
            .stack(&format!("relay-{key}-dev"))
            .await?
            .unwrap_or_else(|| panic!("relay-{key}-dev deployed"));
        assert!(!outputs.is_empty(), "{key} has no outputs");
    }
    let run_id = journal["run_id"].as_str().unwrap_or_default().to_string();
    let logs = h
        .dir
        .join("state/journal/relay/dev.rehearsal")
        .join(&run_id);
    for key in ["base", "mid", "side"] {
        let log = std::fs::read_to_string(logs.join(format!("{key}.log")))?;
        assert!(
            log.contains(&format!("--package {}", packages.join(key).display())),
            "{key} was not deployed from its package:\n{log}"
        );
    }
    let top_log = std::fs::read_to_string(logs.join("top.log"))?;
    assert!(!top_log.contains("--package"), "{top_log}");
    let journals = h.journal_count("relay", "dev.rehearsal");

    // Another commit: the packages are refused, nothing runs.
    std::fs::write(app.join("README.md"), "relay\n")?;
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-qm", "readme"]);
    let refused = from_packages(&["--force"]);
    assert_ne!(refused.code, Some(0), "{}", refused.text);
    assert!(
        refused.text.contains("was made for commit"),
        "{}",
        refused.text
    );
    assert_eq!(h.journal_count("relay", "dev.rehearsal"), journals);
    Ok(())
}
