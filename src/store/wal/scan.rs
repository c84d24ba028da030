//! Reading a whole log back at open and in `check`: verify every header
//! and record, and tell a torn tail (the end of the log) from damage.
//! Pure over the bytes of each file; the only I/O is reading them.

use super::error::{Result, WalError};
use super::format::{
    find_record, has_zero_sector, nonzero_end, parse_frame, segment_name, Frame, Header, FRAME_HEADER, HEADER_LEN,
};
use std::path::{Path, PathBuf};

/// One piece of damage: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}: {}", self.file.display(), self.offset, self.reason)
    }
}

/// The end of the newest segment was cut by a crash: the log ends at
/// `offset`. Everything cut was written after the last fdatasync that
/// covered it, so no caller was told it was durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: PathBuf,
    /// Where the log now ends (the end of the last good record).
    pub offset: u64,
    /// What was found at `offset`.
    pub reason: String,
    /// Non-zero bytes from `offset` on (overwritten with zeros by `open`).
    pub bytes: u64,
    /// Whole records of that unfinished commit round found beyond the tear
    /// and dropped with it.
    pub discarded: usize,
}

/// What `Wal::check` found. `is_ok()` is false on any damage; a torn tail
/// or a torn segment creation alone is not damage.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub segments: usize,
    /// Good records read.
    pub records: u64,
    pub first_lsn: u64,
    /// The LSN the next append would get.
    pub next_lsn: u64,
    pub torn_tail: Option<TornTail>,
    /// The newest segment file holds only zeros: its creation was cut.
    pub torn_creation: Option<PathBuf>,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One segment as scanned.
#[derive(Debug)]
pub struct SegScan {
    pub seq: u64,
    pub path: PathBuf,
    /// `None`: no valid header (a torn creation when there is no problem).
    pub header: Option<Header>,
    pub records: u64,
    /// The LSN after the last good record.
    pub next_lsn: u64,
    /// Offset after the last good record.
    pub end: u64,
    /// One past the last non-zero byte of the file.
    pub nonzero_end: u64,
    pub torn: Option<TornTail>,
}

pub struct LogScan {
    pub segments: Vec<SegScan>,
    pub problems: Vec<Problem>,
    pub first_lsn: u64,
    pub next_lsn: u64,
}

/// Scan every segment of `dir` in order. `keep_going`: after damage, find
/// the next good record and go on (for `check`); otherwise stop at the
/// first problem (for `open`, which refuses a damaged log).
pub fn scan_log(dir: &Path, keep_going: bool) -> Result<LogScan> {
    let files = super::segment::list(dir)?;
    let mut log = LogScan { segments: Vec::new(), problems: Vec::new(), first_lsn: 1, next_lsn: 1 };
    let mut expect: Option<u64> = None;
    let mut prev_seq: Option<u64> = None;
    for (i, (seq, path)) in files.iter().enumerate() {
        if let Some(prev) = prev_seq {
            if *seq != prev + 1 {
                log.problems.push(Problem {
                    file: dir.join(segment_name(prev + 1)),
                    offset: 0,
                    reason: format!("segment missing: the log goes from segment {prev} to segment {seq}"),
                });
                if !keep_going {
                    return Ok(log);
                }
                expect = None;
            }
        }
        prev_seq = Some(*seq);
        let data = std::fs::read(path).map_err(|e| WalError::io(path, "read segment", e))?;
        let last = i + 1 == files.len();
        let scan = scan_segment(&data, path, *seq, expect, last, keep_going, &mut log.problems);
        if i == 0 {
            log.first_lsn = match scan.header {
                Some(h) => h.first_lsn,
                None => {
                    // A torn creation is fine as the newest segment, but as
                    // the oldest one only if it is segment 1 (lsn 1).
                    if *seq != 1 && log.problems.is_empty() {
                        log.problems.push(Problem {
                            file: path.clone(),
                            offset: 0,
                            reason: "the oldest segment has no header, so the lsn the log starts at is unknown".into(),
                        });
                    }
                    1
                }
            };
        }
        expect = Some(scan.next_lsn);
        log.next_lsn = scan.next_lsn;
        log.segments.push(scan);
        if !keep_going && !log.problems.is_empty() {
            return Ok(log);
        }
    }
    Ok(log)
}

/// Scan one segment. `expect`: the LSN its first record must have (from
/// the previous segment); `last`: it is the newest, where a torn tail or a
/// torn creation may be.
pub fn scan_segment(
    data: &[u8],
    path: &Path,
    seq: u64,
    expect: Option<u64>,
    last: bool,
    keep_going: bool,
    problems: &mut Vec<Problem>,
) -> SegScan {
    let nz = nonzero_end(data);
    let mut scan = SegScan {
        seq,
        path: path.to_path_buf(),
        header: None,
        records: 0,
        next_lsn: expect.unwrap_or(1),
        end: HEADER_LEN,
        nonzero_end: nz as u64,
        torn: None,
    };
    let mut problem = |offset: u64, reason: String| problems.push(Problem { file: path.to_path_buf(), offset, reason });
    let header = match Header::decode(data) {
        Ok(h) => h,
        // Created, but cut before its header was durable: no record was
        // ever written to it (the header is fsynced, with its directory
        // entry, before the first record goes in).
        Err(_) if last && nz == 0 => return scan,
        Err(reason) => {
            problem(0, reason);
            return scan;
        }
    };
    scan.header = Some(header);
    if header.seq != seq {
        problem(0, format!("header says segment {}, the file name says {seq}", header.seq));
        if !keep_going {
            return scan;
        }
    }
    if let Some(e) = expect.filter(|e| *e != header.first_lsn) {
        problem(0, format!("segment starts at lsn {}, the previous one ends before lsn {e}", header.first_lsn));
        if !keep_going {
            return scan;
        }
    }
    // Records end at the capacity; bytes beyond it (there should be none)
    // count as damage through `nz`.
    let limit = (header.capacity.min(data.len() as u64)) as usize;
    // How far LSNs can be from the expected one within one segment.
    let window = header.capacity / FRAME_HEADER as u64 + 1;
    let mut off = HEADER_LEN as usize;
    let mut lsn = header.first_lsn;
    loop {
        if off >= nz {
            break; // the rest is zeros (or nothing): the clean end
        }
        let reason = match parse_frame(data, off, limit) {
            Frame::Record { lsn: l, len, .. } if l == lsn => {
                scan.records += 1;
                off += Frame::size(len) as usize;
                lsn += 1;
                continue;
            }
            // A record that was written whole, with the wrong LSN: a gap or
            // a repeat. Never a torn write.
            Frame::Record { lsn: l, len, .. } => {
                problem(off as u64, format!("record has lsn {l}, expected lsn {lsn}"));
                if !keep_going {
                    break;
                }
                off += Frame::size(len) as usize;
                lsn = l + 1;
                continue;
            }
            Frame::Bad(reason) => reason,
        };
        let found = after_damage(data, off, nz, limit, lsn..=lsn.saturating_add(window));
        if last {
            if let Some(discarded) = torn_tail(data, off, &found) {
                scan.torn = Some(TornTail {
                    file: path.to_path_buf(),
                    offset: off as u64,
                    reason,
                    bytes: (nz - off) as u64,
                    discarded,
                });
                break;
            }
        }
        match found.first() {
            Some(&(p, l, _)) => problem(off as u64, format!("{reason}; a good record (lsn {l}) follows at offset {p}")),
            None => problem(off as u64, format!("{reason}, in a segment that is not the newest")),
        }
        match found.first() {
            Some(&(p, l, _)) if keep_going => {
                off = p;
                lsn = l;
            }
            _ => break,
        }
    }
    scan.end = off as u64;
    scan.next_lsn = lsn;
    scan
}

/// Good records between the damage at `at` and `to`, in order (each
/// search resumes after the record found).
fn after_damage(
    data: &[u8],
    at: usize,
    to: usize,
    limit: usize,
    lsns: std::ops::RangeInclusive<u64>,
) -> Vec<(usize, u64, bool)> {
    let mut found = Vec::new();
    let mut p = at + 1;
    while let Some((q, lsn, len, batch_end)) = find_record(data, p, to, limit, lsns.clone()) {
        found.push((q, lsn, batch_end));
        p = q + Frame::size(len) as usize;
    }
    found
}

/// Whether the damage at `at` in the newest segment is a torn tail, and
/// how many good records beyond it belong to the same cut-off round.
///
/// Nothing good after it: torn. Good records after it: torn only if they
/// can all come from the one commit round that was being written when the
/// power went — LSNs increasing, no round end among them but on the last,
/// and an all-zero sector between the damage and the first of them (a
/// sector the disk never wrote; a flipped bit leaves none). Otherwise it is
/// damage inside the durable log.
fn torn_tail(data: &[u8], at: usize, found: &[(usize, u64, bool)]) -> Option<usize> {
    let Some(&(first, _, _)) = found.first() else { return Some(0) };
    let increasing = found.windows(2).all(|w| w[0].1 < w[1].1);
    let one_round = found[..found.len() - 1].iter().all(|(_, _, batch_end)| !batch_end);
    (increasing && one_round && has_zero_sector(data, at, first)).then_some(found.len())
}
