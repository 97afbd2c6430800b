//! Discovery: every variable a service's config reads, in its own text and
//! in every file it includes with `${file()}` (each followed once, read as
//! every app file is), and those files. What `plan` judges a service's
//! packaging by, and what its fingerprint hashes.

use std::path::{Path, PathBuf};

use super::resolve::{resolve, Context};
use super::{find_all, Source, Var};

/// A variable of a service's config as written, and the folder of the
/// file that holds it (where its `${file()}` paths start).
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub raw: String,
    pub var: Var,
}

/// What a service's config reads: every variable of its text and of every
/// file it includes with `${file()}`, and those files.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub variables: Vec<Written>,
    pub included: Vec<PathBuf>,
}

/// How many files one service may include with `${file()}` before the
/// tool stops following them.
pub const MAX_INCLUDES: usize = 1000;

/// Every variable `text` (in `dir`) reads, following each `${file()}` once.
/// `Err` says why not all of them can be known before deploy: a file whose
/// path only the deploy can tell, or too many files.
pub fn reads(text: &str, dir: &Path, ctx: &Context) -> Result<Reads, String> {
    let mut out = Reads::default();
    let mut texts = vec![(dir.to_path_buf(), text.to_string())];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((dir, text)) = texts.pop() {
        // The fallbacks' sources too: the CLI reads them wherever what
        // comes first has no value.
        let all = find_all(&text);
        for var in all.iter().flat_map(super::with_fallbacks) {
            if var.source == Source::File {
                let Some(path) = var.arg.as_deref().and_then(|a| resolve(a, ctx)) else {
                    return Err(format!(
                        "`{}` names a file only known at deploy time",
                        var.raw(&text)
                    ));
                };
                let path = dir.join(path);
                if seen.insert(path.clone()) {
                    if seen.len() > MAX_INCLUDES {
                        return Err(format!(
                            "it includes more than {MAX_INCLUDES} files with `${{file()}}`"
                        ));
                    }
                    out.included.push(path.clone());
                    // Read as every app file is: never a FIFO, never
                    // unbounded. One that is there but cannot be read hides
                    // what it reads; a missing one is the CLI's to report.
                    match crate::app::yaml::read_text(&path) {
                        Ok(more) => {
                            let parent = path.parent().unwrap_or(&dir).to_path_buf();
                            texts.push((parent, more));
                        }
                        Err(err) if path.exists() => return Err(err.to_string()),
                        Err(_) => {}
                    }
                }
            }
            out.variables.push(Written {
                dir: dir.clone(),
                raw: var.raw(&text).to_string(),
                var,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stage dev in us-east-1, for `doc` written in `file` in `dir`.
    fn context<'a>(doc: &'a crate::app::yaml::Node, file: &'a Path, dir: &'a Path) -> Context<'a> {
        Context {
            stage: "dev",
            region: "us-east-1",
            doc,
            file,
            dir,
            stage_given: true,
            compose_params: None,
            symbolic: false,
            use_dotenv: false,
        }
    }

    /// What a fallback reads is read: a stack or a file named after the
    /// first source counts as one named first.
    #[test]
    fn reads_take_the_fallbacks_sources_too() {
        let dir = std::env::temp_dir().join(format!("xtask-vars-fallback-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("more.yml"), "k: ${ssm:/a/b}\n").unwrap();
        let doc = crate::app::yaml::parse("service: svc\n").unwrap();
        let file = dir.join("serverless.yml");
        let ctx = context(&doc, &file, &dir);
        let text = "custom:\n  a: ${env:UNSET_X, cf:db-dev.Table}\n  b: ${self:custom.c, file(./more.yml):k}\n";
        let read = reads(text, &dir, &ctx).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let sources: Vec<(Source, String)> = read
            .variables
            .iter()
            .map(|w| (w.var.source.clone(), w.var.address.clone()))
            .collect();
        for wanted in [
            (Source::Cf, "db-dev.Table".to_string()),
            (Source::File, "k".to_string()),
            (Source::Ssm, "/a/b".to_string()),
        ] {
            assert!(sources.contains(&wanted), "{wanted:?} in {sources:?}");
        }
        assert_eq!(read.included, [dir.join("./more.yml")]);
    }

    /// `reads` follows includes as every reader does: a FIFO where a file
    /// should be is refused at once (it would block a plain read forever).
    #[test]
    fn reads_never_block_on_a_fifo() {
        let dir = std::env::temp_dir().join(format!("xtask-vars-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe.yml");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let doc = crate::app::yaml::parse("service: svc\n").unwrap();
        let file = dir.join("serverless.yml");
        let ctx = context(&doc, &file, &dir);
        let why = reads("custom: ${file(./pipe.yml):a}\n", &dir, &ctx).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(why.contains("is not a regular file"), "{why}");
    }
}
