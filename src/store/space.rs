//! The free-space guard: an accept is refused (503) while the file system
//! holding the store has less room than the next log segment plus what
//! sled's index and one commit batch need, so a full disk shows up as a
//! clean refusal before anything runs out mid-write. `statvfs` at most
//! every 200 ms. Never writes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Room kept beyond one segment: sled's index writes and a commit batch.
pub const RESERVE: u64 = 8 << 20;
const RECHECK: Duration = Duration::from_millis(200);

pub(super) struct Space {
    dir: PathBuf,
    need: u64,
    last: Mutex<Option<(Instant, bool)>>,
}

impl Space {
    pub fn new(dir: PathBuf, segment_size: u64) -> Space {
        Space { dir, need: segment_size + RESERVE, last: Mutex::new(None) }
    }

    /// Whether there is room for the next segment and the reserve.
    pub fn room(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ok)) = *last {
            if at.elapsed() < RECHECK {
                return ok;
            }
        }
        let ok = free_bytes(&self.dir).is_none_or(|free| free >= self.need);
        if !ok && last.is_none_or(|(_, was)| was) {
            tracing::warn!(dir = %self.dir.display(), need = self.need, "less free space than the next log segment needs: refusing new events");
        }
        *last = Some((Instant::now(), ok));
        ok
    }

    pub fn need(&self) -> u64 {
        self.need
    }
}

/// Bytes an unprivileged writer may still use (`None`: cannot tell).
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a zeroed out-parameter of the right type.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
