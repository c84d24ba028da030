//! The data dir (`storage.path`) as hookd's own: locked against a second
//! hookd, and owner-only — every directory 0700, every file 0600. sled
//! creates its files with the process umask (0644/0755 under the usual
//! 022), from its own threads too, so what it made is tightened at open and
//! by the commit thread later. Never changes the process umask (handlers
//! inherit it), never follows a symlink, never loosens a mode.

use std::fs::File;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The group and other bits an entry under the data dir must not have.
const LOOSE: u32 = 0o077;

/// An exclusive `flock` on `<storage.path>/lock`, held as long as the store
/// is open: a second hookd on the same data dir is told so in one line
/// instead of meeting sled's own lock error.
pub(super) struct DirLock {
    _file: File,
}

#[derive(Debug)]
pub(super) enum LockError {
    /// Another process holds the lock.
    Held,
    Io(std::io::Error),
}

pub(super) fn lock(dir: &Path) -> Result<DirLock, LockError> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join("lock"))
        .map_err(LockError::Io)?;
    // A hookd killed a moment ago may still hold the lock through a handler
    // it was starting (a child between its clone and its exec keeps every
    // descriptor until the exec closes them): wait that out, briefly.
    let deadline = std::time::Instant::now() + LOCK_GRACE;
    loop {
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(DirLock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) if std::time::Instant::now() >= deadline => return Err(LockError::Held),
            Some(libc::EWOULDBLOCK) => std::thread::sleep(std::time::Duration::from_millis(50)),
            _ => return Err(LockError::Io(e)),
        }
    }
}

/// How long a start waits for the data dir's lock before saying another
/// hookd holds it.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Clear the group and other bits of `path` and, for a directory, of
/// everything under it (symlinks are left alone: chmod would follow them).
/// Returns how many entries changed and the first error met (the pass goes
/// on past it).
pub(super) fn tighten_tree(path: &Path) -> (usize, Option<std::io::Error>) {
    let mut changed = 0;
    let mut first_error = None;
    let mut pending = vec![path.to_path_buf()];
    while let Some(p) = pending.pop() {
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        match tighten(&p, &meta) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        if meta.is_dir() {
            match std::fs::read_dir(&p) {
                Ok(entries) => pending.extend(entries.map_while(Result::ok).map(|e| e.path())),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    (changed, first_error)
}

/// The entries directly in `dir` (not below): what the commit thread checks
/// for files sled made since (snapshots in `sled/`).
pub(super) fn tighten_entries(dir: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if tighten(&entry.path(), &entry.metadata()?)? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Clear the loose bits of one entry (`meta` from lstat); false when there
/// were none or it is a symlink.
pub(super) fn tighten(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<bool> {
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() || mode & LOOSE == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777 & !LOOSE))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn tightens_a_tree_without_loosening_or_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a"), "x").unwrap();
        std::fs::write(root.join("sub/b"), "x").unwrap();
        std::fs::write(root.join("ro"), "x").unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        set(&root, 0o755);
        set(&root.join("sub"), 0o775);
        set(&root.join("a"), 0o644);
        set(&root.join("sub/b"), 0o666);
        set(&root.join("ro"), 0o400);
        set(&outside, 0o644);

        let (changed, error) = tighten_tree(&root);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(changed, 4);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("sub")), 0o700);
        assert_eq!(mode(&root.join("a")), 0o600);
        assert_eq!(mode(&root.join("sub/b")), 0o600);
        assert_eq!(mode(&root.join("ro")), 0o400, "never loosened");
        assert_eq!(mode(&outside), 0o644, "a symlink's target is not ours to change");
        assert_eq!(tighten_tree(&root).0, 0, "a second pass finds nothing");
    }

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).expect("first lock");
        assert!(matches!(lock(dir.path()), Err(LockError::Held)));
        assert_eq!(mode(&dir.path().join("lock")), 0o600);
        drop(first);
        assert!(lock(dir.path()).is_ok());
    }
}
