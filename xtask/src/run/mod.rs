//! The engine of a stage run: the Serverless CLI, the journal, fingerprints,
//! what a deploy would change (`diff`),
//! interrupts, the preflight and the protected-stage guard, the scheduler
//! and the undo rule, and [`StageRun`], which holds the lock for a run.

pub(crate) mod ahead;
pub(crate) mod bake;
pub(crate) mod checklist;
pub(crate) mod deploy;
pub(crate) mod diff;
pub(crate) mod fault;
pub(crate) mod fingerprint;
pub(crate) mod guard;
pub(crate) mod history;
pub(crate) mod iam;
pub mod interrupt;
pub(crate) mod journal;
pub(crate) mod lint;
pub(crate) mod package;
pub(crate) mod pin;
pub(crate) mod preflight;
pub(crate) mod scheduler;
pub(crate) mod serverless;
pub(crate) mod stage_run;
pub(crate) mod timeline;
pub(crate) mod transfer;
pub(crate) mod undo;

pub(crate) use stage_run::StageRun;
