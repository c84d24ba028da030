//! Reading records back in LSN order from the files, verifying each again.

use super::error::{Result, WalError};
use super::format::{parse_frame, u32_at, Frame, FRAME_HEADER, HEADER_LEN, LEN_MASK};
use super::segment::Segment;
use super::Pos;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// One record as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pos: Pos,
    pub payload: Vec<u8>,
}

/// How much of a segment is read at a time (more when one record is
/// larger): memory stays bounded however large the preallocated segments.
const WINDOW: usize = 1 << 20;

/// A window of one segment's bytes: `bytes` are the file's from `start`.
struct Window {
    start: usize,
    bytes: Vec<u8>,
    /// The file's length (a preallocated segment: its capacity).
    file_len: usize,
}

/// Iterator over the durable records from an LSN on (see `Wal::replay`).
/// Reads each segment a window at a time. After an error it ends.
pub struct Replay {
    segments: Vec<Arc<Segment>>,
    index: usize,
    data: Option<Window>,
    off: usize,
    lsn: u64,
    from: u64,
    /// The last durable LSN when the replay began: it stops there.
    end: u64,
    done: bool,
}

impl Replay {
    pub(super) fn new(segments: Vec<Arc<Segment>>, from: u64, end: u64) -> Result<Replay> {
        let first_lsn = segments.first().map(|s| s.first_lsn).unwrap_or(1);
        if from < first_lsn {
            return Err(WalError::Removed { lsn: from, first_lsn });
        }
        // The last segment starting at or before `from`.
        let index = segments.iter().rposition(|s| s.first_lsn <= from).unwrap_or(0);
        Ok(Replay { segments, index, data: None, off: 0, lsn: 0, from, end, done: false })
    }

    fn step(&mut self) -> Result<Option<Record>> {
        loop {
            if self.lsn > self.end && self.data.is_some() || self.index >= self.segments.len() {
                return Ok(None);
            }
            let segment = self.segments[self.index].clone();
            if self.data.is_none() {
                let len = segment.file.metadata().map_err(|e| WalError::io(&segment.path, "stat segment", e))?.len();
                let file_len = len.min(segment.capacity) as usize;
                self.data = Some(Window { start: 0, bytes: Vec::new(), file_len });
                self.off = HEADER_LEN as usize;
                self.lsn = segment.first_lsn;
                if self.lsn > self.end {
                    return Ok(None);
                }
            }
            // The next segment starts here: this one is done.
            if self.segments.get(self.index + 1).is_some_and(|next| next.first_lsn == self.lsn) {
                self.index += 1;
                self.data = None;
                continue;
            }
            let off = self.off;
            let Some(window) = self.data.as_mut() else { continue };
            window.cover(&segment, off, FRAME_HEADER)?;
            let rel = off - window.start;
            if window.bytes.len() >= rel + 4 {
                let len = u32_at(&window.bytes, rel) & LEN_MASK;
                window.cover(&segment, off, FRAME_HEADER + len as usize)?;
            }
            let rel = off - window.start;
            match parse_frame(&window.bytes, rel, window.bytes.len()) {
                Frame::Record { lsn, len, .. } if lsn == self.lsn => {
                    let start = rel + FRAME_HEADER;
                    let end = start + len as usize;
                    self.off = off + FRAME_HEADER + len as usize;
                    self.lsn += 1;
                    if lsn >= self.from {
                        let pos = Pos { segment: segment.seq, offset: off as u64, len, lsn };
                        return Ok(Some(Record { pos, payload: window.bytes[start..end].to_vec() }));
                    }
                }
                Frame::Record { lsn, .. } => {
                    return Err(WalError::corrupt(
                        &segment.path,
                        off as u64,
                        format!("record has lsn {lsn}, expected lsn {}", self.lsn),
                    ))
                }
                Frame::Bad(reason) => return Err(WalError::corrupt(&segment.path, off as u64, reason)),
            }
        }
    }
}

impl Window {
    /// Make the window hold the file's bytes `off..off + need` (or up to
    /// the end of the file, when it is shorter: the frame parser then says
    /// what is cut).
    fn cover(&mut self, segment: &Segment, off: usize, need: usize) -> Result<()> {
        let want_end = (off + need).min(self.file_len);
        if off >= self.start && want_end <= self.start + self.bytes.len() {
            return Ok(());
        }
        let n = need.max(WINDOW).min(self.file_len.saturating_sub(off));
        self.bytes.resize(n, 0);
        segment
            .file
            .read_exact_at(&mut self.bytes, off as u64)
            .map_err(|e| WalError::io(&segment.path, "read segment", e))?;
        self.start = off;
        Ok(())
    }
}

impl Iterator for Replay {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
