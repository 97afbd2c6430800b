//! Deploying ahead of a service's turn, held at a gate: its `serverless
//! deploy` starts while what it needs still deploys, starts node, resolves
//! its config and packages it, then waits, before anything of the deploy
//! itself (the stack, the upload), until the run opens its gate. One CLI
//! process per service, as at its turn, so the deploy is the same command
//! with the same plugins; only its start moves earlier. Which services may
//! is the order's to say ([`crate::cfn::order::packaging`]).
//!
//! The gate is a module node loads before the CLI (`--require`): it wraps
//! the pinned CLI's lifecycle runner so that the `deploy:deploy` event (what
//! follows packaging) waits for a file. It loads the CLI's plugin manager by
//! its path at start and fails the process if it cannot wrap it, so a CLI
//! it does not fit never deploys ungated; a CLI of the team's own
//! (`SERVERLESS_BIN`) is never gated.

#![allow(
    clippy::disallowed_methods,
    reason = "starts node to package a service ahead of its turn"
)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::sys::{paths, process};

/// The module node loads first: it holds the `deploy:deploy` lifecycle
/// event until `go` in `XTASK_GATE` holds the gate's token (a `go` file
/// made by anyone else opens nothing), or fails it when `stop` exists.
const GATE_JS: &str = r#"'use strict';
// Written by cargo xtask: holds a Serverless deploy after packaging until
// the run opens its gate. Loaded with --require; does nothing elsewhere.
const fs = require('fs');
const path = require('path');
const dir = process.env.XTASK_GATE;
const token = process.env.XTASK_GATE_TOKEN;
const manager = process.env.XTASK_GATE_MANAGER;
// Only the CLI itself: the processes it starts (npm, bundlers) are left be.
process.env.NODE_OPTIONS = process.env.XTASK_GATE_NODE_OPTIONS || '';
if (!process.env.NODE_OPTIONS) delete process.env.NODE_OPTIONS;
delete process.env.XTASK_GATE;
delete process.env.XTASK_GATE_TOKEN;
const opened = () => {
  try {
    return fs.readFileSync(path.join(dir, 'go'), 'utf8').split(' ')[0] === token;
  } catch (e) {
    return false;
  }
};
if (dir && manager && token) {
  const PluginManager = require(manager);
  const runHooks = PluginManager && PluginManager.prototype && PluginManager.prototype.runHooks;
  if (typeof runHooks !== 'function') {
    throw new Error(`cargo xtask: ${manager} has no runHooks to hold the deploy at; deploy this service at its turn`);
  }
  let held = false;
  PluginManager.prototype.runHooks = async function (hookName, hooks) {
    if (hookName === 'deploy:deploy' && !held) {
      held = true;
      fs.writeFileSync(path.join(dir, 'ready'), String(Date.now()));
      await new Promise((resolve, reject) => {
        const look = () => {
          if (opened()) return resolve();
          if (fs.existsSync(path.join(dir, 'stop'))) {
            return reject(new Error('cargo xtask stopped this deploy before it changed anything'));
          }
          setTimeout(look, 25);
        };
        look();
      });
    }
    return runHooks.call(this, hookName, hooks);
  };
  fs.writeFileSync(path.join(dir, 'armed'), String(Date.now()));
}
"#;

/// The gates of one run, removed when dropped.
pub struct Gates {
    root: PathBuf,
    module: PathBuf,
    manager: PathBuf,
}

/// The file in a run's gate folder that names the process owning it.
const OWNER: &str = "owner";

impl Gates {
    /// The gates of run `run_id`, for a CLI whose plugin manager is
    /// `manager`. Gate folders a killed run left behind (their owner no
    /// longer runs) are removed first.
    pub fn new(run_id: &str, manager: PathBuf) -> Result<Gates> {
        let all = paths::scratch_dir().join("gates");
        for left in std::fs::read_dir(&all).into_iter().flatten().flatten() {
            let owner = std::fs::read_to_string(left.path().join(OWNER)).unwrap_or_default();
            if !process::owner_alive(&owner) {
                let _ = std::fs::remove_dir_all(left.path());
            }
        }
        let root = all.join(run_id);
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", paths::display(&root)))?;
        std::fs::write(root.join(OWNER), process::owner_mark())
            .with_context(|| format!("cannot write {}", paths::display(&root)))?;
        let module = root.join("gate.js");
        std::fs::write(&module, GATE_JS)
            .with_context(|| format!("cannot write {}", paths::display(&module)))?;
        Ok(Gates {
            root,
            module,
            manager,
        })
    }

    /// A closed gate for `service`, with a key of its own that only this
    /// run knows (the held CLI gets it in its environment).
    pub fn gate(&self, service: &str) -> Result<Gate> {
        let dir = self.root.join(service);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let token = crate::sys::random_token()
            .context("cannot make a gate's key from the system's random source")?;
        std::fs::write(dir.join(TOKEN), &token)?;
        Ok(self.of(service))
    }

    /// The gate of `service` made by [`Gates::gate`] (to open or stop it).
    pub fn of(&self, service: &str) -> Gate {
        let dir = self.root.join(service);
        let token = std::fs::read_to_string(dir.join(TOKEN)).unwrap_or_default();
        Gate {
            dir,
            token,
            module: self.module.clone(),
            manager: self.manager.clone(),
            at_turn: false,
        }
    }

    /// An open gate for a deploy at its turn: it holds nothing, and tells
    /// the run when the CLI has packaged (what keeps a core busy is then
    /// done).
    pub fn at_turn(&self, service: &str) -> Result<Gate> {
        let mut gate = self.gate(service)?;
        gate.open()?;
        gate.at_turn = true;
        Ok(gate)
    }
}

impl Drop for Gates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Where a gate keeps its key, for [`Gates::of`] (the run's own folder).
const TOKEN: &str = ".token";

/// One service's gate: files the held CLI looks for.
#[derive(Debug, Clone)]
pub struct Gate {
    dir: PathBuf,
    token: String,
    module: PathBuf,
    manager: PathBuf,
    /// Opened before the CLI started (a deploy at its turn): it only
    /// tells when packaging is done, and holds nothing.
    at_turn: bool,
}

impl Gate {
    /// What the CLI's process needs in its environment to be held.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let quoted = format!(
            "--require \"{}\"",
            self.module.to_string_lossy().replace('"', "\\\"")
        );
        let theirs = std::env::var_os("NODE_OPTIONS").unwrap_or_default();
        let mut options = std::ffi::OsString::from(quoted);
        if !theirs.is_empty() {
            options.push(" ");
            options.push(&theirs);
        }
        vec![
            ("NODE_OPTIONS", options),
            ("XTASK_GATE_NODE_OPTIONS", theirs),
            ("XTASK_GATE", self.dir.clone().into_os_string()),
            ("XTASK_GATE_TOKEN", self.token.clone().into()),
            ("XTASK_GATE_MANAGER", self.manager.clone().into_os_string()),
        ]
    }

    /// Lets the held deploy go on: the file holds the gate's key and when.
    pub fn open(&self) -> Result<()> {
        std::fs::write(
            self.dir.join("go"),
            format!("{} {}", self.token, crate::sys::clock::now_ms()),
        )
        .with_context(|| format!("cannot open the gate in {}", paths::display(&self.dir)))
    }

    /// When the gate was opened (ms since the epoch).
    pub fn opened_at(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.dir.join("go")).ok()?;
        let (token, at) = text.trim().split_once(' ')?;
        (token == self.token).then(|| at.parse().ok()).flatten()
    }

    /// Fails the held deploy before it changes anything.
    pub fn stop(&self) {
        let _ = std::fs::write(self.dir.join("stop"), b"");
    }

    /// Whether the run stopped the held deploy.
    pub fn stopped(&self) -> bool {
        self.dir.join("stop").exists()
    }

    /// Whether the run let the deploy go on.
    pub fn opened(&self) -> bool {
        self.opened_at().is_some()
    }

    /// When the CLI had packaged and reached the gate (ms since the epoch).
    pub fn reached_at(&self) -> Option<u64> {
        read_ms(&self.dir.join("ready"))
    }

    /// Whether it was opened before its deploy started ([`Gates::at_turn`]):
    /// that deploy is not one started ahead.
    pub fn is_at_turn(&self) -> bool {
        self.at_turn
    }
}

fn read_ms(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Waits until the CLI under `gate` has reached it.
    fn wait_reached(gate: &Gate) {
        let started = Instant::now();
        while gate.reached_at().is_none() {
            assert!(started.elapsed() < Duration::from_secs(20), "never held");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn node(gate: &Gate, script: &str) -> Command {
        let mut cmd = Command::new("node");
        cmd.arg("-e").arg(script).envs(gate.env());
        cmd
    }

    /// A CLI the gate cannot wrap never runs on ungated: node fails first.
    #[test]
    fn a_cli_it_cannot_hold_fails_before_it_runs() {
        let gates =
            Gates::new("test-unwrappable", "/nowhere/plugin-manager.js".into()).expect("gates");
        let gate = gates.gate("svc").expect("gate");
        let out = node(&gate, "console.log('ran')")
            .output()
            .expect("node runs");
        assert!(!out.status.success());
        assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"));
    }

    /// The `deploy:deploy` event waits for the gate (opened with its key,
    /// not by any file named `go`); other events do not; a stopped gate
    /// fails it.
    #[test]
    fn the_deploy_event_waits_for_the_gate() {
        let dir = paths::scratch_dir().join(format!("gate-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch");
        let manager = dir.join("plugin-manager.js");
        std::fs::write(
            &manager,
            "module.exports = class { async runHooks(name, hooks) { for (const h of hooks) await h(); } };\n",
        )
        .expect("manager");
        let gates = Gates::new("test-hold", manager.clone()).expect("gates");
        let script = format!(
            "const PM = require({:?}); const pm = new PM(); (async () => {{ await pm.runHooks('package:createDeploymentArtifacts', [async () => console.log('packaged')]); await pm.runHooks('deploy:deploy', [async () => console.log('deployed')]); }})().catch((e) => {{ console.log(e.message); process.exit(3); }});",
            manager.to_string_lossy()
        );

        let gate = gates.gate("held").expect("gate");
        let mut child = node(&gate, &script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        wait_reached(&gate);
        // A `go` made by hand, without the gate's key, opens nothing.
        std::fs::write(gate.dir.join("go"), crate::sys::clock::now_ms().to_string())
            .expect("a forged go");
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            child.try_wait().expect("wait").is_none(),
            "it went on while held"
        );
        assert!(!gate.opened());
        gate.open().expect("open");
        let out = child.wait_with_output().expect("node ends");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert_eq!(text, "packaged\ndeployed\n");

        let stopped = gates.gate("stopped").expect("gate");
        let child = node(&stopped, &script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("node runs");
        wait_reached(&stopped);
        stopped.stop();
        let out = child.wait_with_output().expect("node ends");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(!text.contains("deployed"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
