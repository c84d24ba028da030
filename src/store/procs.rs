//! Which handler process groups are running, by attempt: noted right after
//! a handler starts and forgotten when its attempt ends, so that a hookd
//! started after a crash can end the handlers the old one left running.
//! Holds no truth about deliveries (the delivery record does); a note lost
//! in a crash only means that one orphan is not ended.

use super::keys::{delivery_key, DueKey};
use super::records::{decode, encode, ProcessRecord};
use super::{Result, Store};

/// A running handler's process group, as the dispatcher describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessNote {
    pub pgid: i32,
    pub start_ticks: u64,
    pub boot_id: String,
}

fn key(due: &DueKey, attempt: u32) -> [u8; 22] {
    let mut k = [0u8; 22];
    k[..18].copy_from_slice(&delivery_key(&due.id, due.index));
    k[18..].copy_from_slice(&attempt.to_be_bytes());
    k
}

impl Store {
    /// Note the process group of a handler that just started. Not synced
    /// here: the next commit round (a few ms at most) covers it.
    pub fn note_process(&self, due: &DueKey, attempt: u32, note: &ProcessNote) -> Result<()> {
        let record =
            ProcessRecord::V1 { pgid: note.pgid, start_ticks: note.start_ticks, boot_id: note.boot_id.clone() };
        self.procs.insert(key(due, attempt), encode(&record)?)?;
        Ok(())
    }

    pub(super) fn forget_process(&self, due: &DueKey, attempt: u32) -> Result<()> {
        self.procs.remove(key(due, attempt))?;
        Ok(())
    }

    /// Every noted process group whose attempt never ended, removed from
    /// the store as it is handed out (the caller ends them). Run once at
    /// start, before anything is claimed.
    pub fn take_interrupted(&self) -> Result<Vec<ProcessNote>> {
        let mut out = Vec::new();
        for entry in self.procs.iter() {
            let (k, v) = entry?;
            let ProcessRecord::V1 { pgid, start_ticks, boot_id } = decode(&v)?;
            out.push(ProcessNote { pgid, start_ticks, boot_id });
            self.procs.remove(k)?;
        }
        Ok(out)
    }
}
