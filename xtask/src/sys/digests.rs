//! SHA-256 digests of files, remembered by what the file system says of
//! each file, so hashing a folder again reads only what changed: git's
//! index does the same. An entry is used only while the file's size,
//! modification and status-change times (to the nanosecond) and inode are
//! what they were when it was hashed — the status-change time moves on
//! every write and cannot be set back by a program — and a file changed
//! within the last seconds before it was hashed is never remembered (it
//! may change again within the same clock tick).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What a file's digest was taken of.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    sha256: String,
}

impl Entry {
    /// One line of the store: `sha256 len mtime ctime ino path` (the path
    /// last, so it may hold spaces; never a newline, see `line`).
    fn parse(line: &str) -> Option<(String, Entry)> {
        let mut parts = line.splitn(6, ' ');
        let sha256 = parts.next()?.to_string();
        let entry = Entry {
            len: parts.next()?.parse().ok()?,
            mtime_ns: parts.next()?.parse().ok()?,
            ctime_ns: parts.next()?.parse().ok()?,
            ino: parts.next()?.parse().ok()?,
            sha256,
        };
        Some((parts.next()?.to_string(), entry))
    }

    fn line(&self, path: &str) -> Option<String> {
        (!path.contains(['\n', '\r'])).then(|| {
            format!(
                "{} {} {} {} {} {path}\n",
                self.sha256, self.len, self.mtime_ns, self.ctime_ns, self.ino
            )
        })
    }
}

/// How recent a change must be for its file's digest not to be kept.
const RACY_SECS: i128 = 2;

/// The digests of one folder's files, kept in `store` between runs.
pub struct Digests {
    store: PathBuf,
    /// By path; a path that is not UTF-8 is hashed every time.
    entries: BTreeMap<String, Entry>,
    changed: bool,
    racy_ns: i128,
}

impl Digests {
    /// The digests kept in `store` (none when it is missing or unreadable;
    /// a line that does not read is forgotten).
    pub fn open(store: PathBuf) -> Digests {
        let entries = std::fs::read_to_string(&store)
            .map(|text| text.lines().filter_map(Entry::parse).collect())
            .unwrap_or_default();
        Digests {
            store,
            entries,
            changed: false,
            racy_ns: RACY_SECS * 1_000_000_000,
        }
    }

    /// The SHA-256 of `path`'s content (symlinks followed) as hex, from
    /// memory while the file is unchanged; its length in bytes too.
    pub fn of(&mut self, path: &Path) -> std::io::Result<(String, u64)> {
        let meta = std::fs::metadata(path)?;
        let nanos = |secs: i64, ns: i64| i128::from(secs) * 1_000_000_000 + i128::from(ns);
        let (mtime_ns, ctime_ns) = (
            nanos(meta.mtime(), meta.mtime_nsec()),
            nanos(meta.ctime(), meta.ctime_nsec()),
        );
        let key = path.to_str();
        if let Some(entry) = key.and_then(|k| self.entries.get(k)) {
            if entry.len == meta.len()
                && entry.mtime_ns == mtime_ns
                && entry.ctime_ns == ctime_ns
                && entry.ino == meta.ino()
            {
                return Ok((entry.sha256.clone(), entry.len));
            }
        }
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        let sha256: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let settled = now_ns - mtime_ns.max(ctime_ns) > self.racy_ns;
        if let (true, true, Some(key)) = (settled, len == meta.len(), key) {
            self.entries.insert(
                key.to_string(),
                Entry {
                    len,
                    mtime_ns,
                    ctime_ns,
                    ino: meta.ino(),
                    sha256: sha256.clone(),
                },
            );
            self.changed = true;
        } else if key.is_some_and(|k| self.entries.remove(k).is_some()) {
            self.changed = true;
        }
        Ok((sha256, len))
    }

    /// Forgets every file not in `keep`, and writes what is remembered
    /// (atomically; a failure only costs a re-read next time).
    /// `keep` is sorted by bytes, as the fingerprint sorts its files.
    pub fn save(mut self, keep: &[PathBuf]) {
        let before = self.entries.len();
        self.entries.retain(|path, _| {
            keep.binary_search_by(|p| p.as_os_str().cmp(std::ffi::OsStr::new(path)))
                .is_ok()
        });
        if !self.changed && self.entries.len() == before {
            return;
        }
        let Some(parent) = self.store.parent() else {
            return;
        };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let tmp = self.store.with_extension("tmp");
        let text: String = self
            .entries
            .iter()
            .filter_map(|(path, entry)| entry.line(path))
            .collect();
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.store);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_changed_in_place_is_hashed_again_and_an_unchanged_one_is_not_read(
    ) -> std::io::Result<()> {
        let dir = crate::sys::paths::scratch_dir().join(format!("digests-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("index.js");
        std::fs::write(&file, "module.exports = 'hello';\n")?;
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&file)?
            .set_modified(old)?;
        let store = dir.join("store");
        let keep = [file.clone()];
        // Every change counts as settled here, so it is remembered at once.
        let open = || Digests {
            racy_ns: 0,
            ..Digests::open(store.clone())
        };
        let mut digests = open();
        let (first, len) = digests.of(&file)?;
        assert_eq!(len, 26);
        digests.save(&keep);

        // Unchanged: the remembered digest is used, the file not read —
        // shown by a store edited to say something else.
        let text = std::fs::read_to_string(&store)?.replace(&first, "remembered");
        std::fs::write(&store, text)?;
        assert_eq!(open().of(&file)?.0, "remembered");

        // Same size, edited in place, the old modification time put back:
        // the status-change time still tells.
        std::fs::write(&file, "module.exports = 'howdy';\n")?;
        std::fs::File::options()
            .write(true)
            .open(&file)?
            .set_modified(old)?;
        let (second, _) = open().of(&file)?;
        assert_ne!(second, "remembered");
        assert_ne!(second, first);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
