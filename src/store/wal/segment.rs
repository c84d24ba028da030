//! Segment files and the directory: create (preallocate, header, fsync,
//! directory fsync), reopen the tail, lock, list. Every durability step the
//! format relies on is here.

use super::error::{Result, WalError};
use super::format::{parse_segment_name, segment_name, Header, HEADER_LEN};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One segment file, open for reading (and, for the newest, writing).
#[derive(Debug)]
pub struct Segment {
    pub seq: u64,
    pub first_lsn: u64,
    pub capacity: u64,
    pub path: PathBuf,
    pub file: File,
}

/// The segment files in `dir`, by sequence number. Other names are ignored.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let io = |e| WalError::io(dir, "read directory", e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_segment_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Create `dir` (0700) if needed, open it, take its lock, and make its
/// entry in the parent durable.
pub fn open_dir(dir: &Path) -> Result<File> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| WalError::io(dir, "create directory", e))?;
    let file = File::open(dir).map_err(|e| WalError::io(dir, "open directory", e))?;
    // flock on the directory itself: one writer per log, in this process
    // or another (the lock goes with the descriptor).
    // SAFETY: a plain syscall on a descriptor `file` keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Err(WalError::Locked { dir: dir.to_path_buf() }),
            _ => Err(WalError::io(dir, "lock directory", e)),
        };
    }
    sync_dir(&file, dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        let p = File::open(parent).map_err(|e| WalError::io(parent, "open directory", e))?;
        sync_dir(&p, parent)?;
    }
    Ok(file)
}

pub fn sync_dir(dir_file: &File, dir: &Path) -> Result<()> {
    dir_file.sync_all().map_err(|e| WalError::io(dir, "fsync directory", e))
}

/// `posix_fallocate(0, len)`: the blocks exist afterwards, so writes
/// within them cannot fail with ENOSPC (on filesystems that overwrite in
/// place: ext4, xfs).
pub fn preallocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let len_off = libc::off_t::try_from(len).map_err(|_| WalError::Config(format!("segment size {len} too large")))?;
    #[cfg(test)]
    if faults::hit(&faults::PREALLOC, path) {
        return Err(WalError::NoSpace { path: path.to_path_buf(), bytes: len });
    }
    loop {
        // SAFETY: a plain syscall on a descriptor `file` keeps open.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            libc::ENOSPC | libc::EDQUOT => return Err(WalError::NoSpace { path: path.to_path_buf(), bytes: len }),
            errno => return Err(WalError::io(path, "posix_fallocate", std::io::Error::from_raw_os_error(errno))),
        }
    }
}

/// A new segment: created (never an existing file), preallocated, header
/// written, file fsynced, directory fsynced — all before it is used. On
/// failure the half-made file is removed again (it never held a record).
pub fn create(dir: &Path, dir_file: &File, header: Header) -> Result<Segment> {
    let path = dir.join(segment_name(header.seq));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| WalError::io(&path, "create segment", e))?;
    match init(&file, &path, header).and_then(|_| sync_dir(dir_file, dir)) {
        Ok(()) => Ok(Segment::new(file, &path, header)),
        Err(e) => {
            drop(file);
            std::fs::remove_file(&path)
                .map_err(|r| WalError::io(&path, "remove failed segment", r))
                .and_then(|_| sync_dir(dir_file, dir))
                .map_err(|cleanup| WalError::Poisoned { cause: Box::new(cleanup) })?;
            Err(e)
        }
    }
}

impl Segment {
    fn new(file: File, path: &Path, header: Header) -> Segment {
        Segment {
            seq: header.seq,
            first_lsn: header.first_lsn,
            capacity: header.capacity,
            path: path.to_path_buf(),
            file,
        }
    }
}

/// Complete the torn creation of the newest segment (a file that holds
/// only zeros, or nothing): the same steps as `create`, in place.
pub fn reinit(dir: &Path, dir_file: &File, path: &Path, header: Header) -> Result<Segment> {
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| WalError::io(path, "open segment", e))?;
    init(&file, path, header)?;
    sync_dir(dir_file, dir)?;
    Ok(Segment::new(file, path, header))
}

fn init(file: &File, path: &Path, header: Header) -> Result<()> {
    preallocate(file, path, header.capacity)?;
    file.write_all_at(&header.encode(), 0).map_err(|e| WalError::io(path, "write segment header", e))?;
    file.sync_all().map_err(|e| WalError::io(path, "fsync segment", e))
}

/// The newest segment, reopened for appending after recovery: grown back
/// to its capacity if it came back shorter, the torn bytes
/// `zero_from..zero_to` overwritten with zeros, and fsynced (which also
/// makes durable whatever a killed process left in the page cache).
/// Returns whether the file had to be grown.
pub fn reopen_tail(path: &Path, header: Header, zero_from: u64, zero_to: u64) -> Result<(Segment, bool)> {
    let file =
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| WalError::io(path, "open segment", e))?;
    let len = file.metadata().map_err(|e| WalError::io(path, "stat segment", e))?.len();
    let grown = len < header.capacity;
    if grown {
        preallocate(&file, path, header.capacity)?;
    }
    let zeros = vec![0u8; 1 << 20];
    let mut off = zero_from.max(HEADER_LEN);
    while off < zero_to {
        let n = (zero_to - off).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], off).map_err(|e| WalError::io(path, "zero torn tail", e))?;
        off += n as u64;
    }
    file.sync_all().map_err(|e| WalError::io(path, "fsync segment", e))?;
    let segment = Segment::new(file, path, header);
    Ok((segment, grown))
}

pub fn open_read(path: &Path, header: Header) -> Result<Segment> {
    let file = File::open(path).map_err(|e| WalError::io(path, "open segment", e))?;
    Ok(Segment::new(file, path, header))
}

/// Test-only fault injection, by directory (tests run in parallel, each in
/// its own directory; the commit thread is another thread).
#[cfg(test)]
pub mod faults {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// `posix_fallocate` answers ENOSPC.
    pub static PREALLOC: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    /// The commit round's write answers EIO.
    pub static WRITE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub fn set(which: &Mutex<Vec<PathBuf>>, dir: &Path, on: bool) {
        let mut dirs = which.lock().unwrap_or_else(|p| p.into_inner());
        dirs.retain(|d| d != dir);
        if on {
            dirs.push(dir.to_path_buf());
        }
    }

    pub fn hit(which: &Mutex<Vec<PathBuf>>, path: &Path) -> bool {
        which.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|d| path.starts_with(d))
    }
}
