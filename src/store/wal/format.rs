//! Bytes on disk: the segment header and the record frame. Pure functions
//! over slices; no I/O here.

/// First 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"HOOKDWAL";
/// The format this code writes and reads. A segment with another version
/// is refused (never guessed at).
pub const VERSION: u32 = 1;
/// Segment header size; the first record starts here.
pub const HEADER_LEN: u64 = 48;
/// `[len u32][crc32c u32][lsn u64]` before each payload.
pub const FRAME_HEADER: usize = 16;
/// Bit 31 of the length word: this record is the last of a commit round
/// (an fdatasync followed it before anything after it was written).
pub const BATCH_END: u32 = 1 << 31;
pub const LEN_MASK: u32 = !BATCH_END;
/// The unit a torn write leaves unwritten (a preallocated file reads as
/// zeros where nothing was written).
pub const SECTOR: usize = 512;

/// `<seq, 16 digits>.wal`
pub fn segment_name(seq: u64) -> String {
    format!("{seq:016}.wal")
}

pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment header, 48 bytes:
/// `magic[8] | version u32 | reserved u32 (0) | seq u64 | first_lsn u64 |
/// capacity u64 | crc32c u32 (of bytes 0..40) | reserved u32 (0)`, all LE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub seq: u64,
    /// LSN of the first record this segment holds (or will hold).
    pub first_lsn: u64,
    /// The preallocated size of the file: records never go past it.
    pub capacity: u64,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut out = [0u8; HEADER_LEN as usize];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.first_lsn.to_le_bytes());
        out[32..40].copy_from_slice(&self.capacity.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..40]);
        out[40..44].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The header at the start of `data`, or why it is not one.
    pub fn decode(data: &[u8]) -> Result<Header, String> {
        let Some(h) = data.get(..HEADER_LEN as usize) else {
            return Err(format!("file of {} bytes is shorter than a segment header", data.len()));
        };
        if h[0..8] != MAGIC {
            return Err("not a hookd write-ahead log segment (bad magic)".into());
        }
        let version = u32_at(h, 8);
        if version != VERSION {
            return Err(format!("segment format version {version}, this hookd reads version {VERSION}"));
        }
        if u32_at(h, 40) != crc32c::crc32c(&h[0..40]) {
            return Err("segment header crc mismatch".into());
        }
        if u32_at(h, 44) != 0 {
            return Err("segment header reserved bytes are not zero".into());
        }
        let header = Header { seq: u64_at(h, 16), first_lsn: u64_at(h, 24), capacity: u64_at(h, 32) };
        if header.first_lsn == 0 {
            return Err("segment header names lsn 0".into());
        }
        if header.capacity < HEADER_LEN + FRAME_HEADER as u64 {
            return Err(format!("segment capacity {} is below the minimum", header.capacity));
        }
        Ok(header)
    }
}

/// The crc32c of a frame: over the length word, the LSN and the payload,
/// in that order.
pub fn frame_crc(len_word: u32, lsn: u64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[0..4].copy_from_slice(&len_word.to_le_bytes());
    head[4..12].copy_from_slice(&lsn.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// Append one frame to `buf`.
pub fn encode_frame(buf: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    let len_word = payload.len() as u32;
    let crc = frame_crc(len_word, lsn, payload);
    buf.reserve(FRAME_HEADER + payload.len());
    buf.extend_from_slice(&len_word.to_le_bytes());
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&lsn.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// Set the batch-end bit of the frame at the start of `frame` (the whole
/// frame: header and payload) and fix its crc.
pub fn mark_batch_end(frame: &mut [u8]) {
    let len_word = u32_at(frame, 0) | BATCH_END;
    let lsn = u64_at(frame, 8);
    let payload_len = (len_word & LEN_MASK) as usize;
    let crc = frame_crc(len_word, lsn, &frame[FRAME_HEADER..FRAME_HEADER + payload_len]);
    frame[0..4].copy_from_slice(&len_word.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// What is at one offset of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A record whose crc matches.
    Record { lsn: u64, len: u32, batch_end: bool },
    /// Not a record: why.
    Bad(String),
}

impl Frame {
    pub fn size(len: u32) -> u64 {
        FRAME_HEADER as u64 + len as u64
    }
}

/// Parse the frame at `off`; `limit` is where records must end (the
/// segment's capacity or the file's end, whichever is smaller).
pub fn parse_frame(data: &[u8], off: usize, limit: usize) -> Frame {
    let limit = limit.min(data.len());
    if off + FRAME_HEADER > limit {
        return Frame::Bad(format!("truncated record header ({} of {FRAME_HEADER} bytes)", limit.saturating_sub(off)));
    }
    let len_word = u32_at(data, off);
    let len = len_word & LEN_MASK;
    let crc = u32_at(data, off + 4);
    let lsn = u64_at(data, off + 8);
    if len_word == 0 && crc == 0 && lsn == 0 {
        return Frame::Bad("zero record header".into());
    }
    let end = off as u64 + Frame::size(len);
    if end > limit as u64 {
        return Frame::Bad(format!("record of {len} bytes runs past the end ({limit} bytes)"));
    }
    let payload = &data[off + FRAME_HEADER..end as usize];
    if frame_crc(len_word, lsn, payload) != crc {
        return Frame::Bad("record crc mismatch".into());
    }
    if lsn == 0 {
        return Frame::Bad("record with lsn 0".into());
    }
    Frame::Record { lsn, len, batch_end: len_word & BATCH_END != 0 }
}

/// The first valid record at or after `from` and before `to` whose LSN is
/// in `lsns` (the window bounds the search: random bytes almost never
/// pass it, so the crc is rarely computed on garbage).
pub fn find_record(
    data: &[u8],
    from: usize,
    to: usize,
    limit: usize,
    lsns: std::ops::RangeInclusive<u64>,
) -> Option<(usize, u64, u32, bool)> {
    let limit = limit.min(data.len());
    let mut p = from;
    while p < to && p + FRAME_HEADER <= limit {
        let len = u32_at(data, p) & LEN_MASK;
        let lsn = u64_at(data, p + 8);
        if lsns.contains(&lsn) && p as u64 + Frame::size(len) <= limit as u64 {
            if let Frame::Record { lsn, len, batch_end } = parse_frame(data, p, limit) {
                return Some((p, lsn, len, batch_end));
            }
        }
        p += 1;
    }
    None
}

/// One past the last non-zero byte (0 if all zero).
pub fn nonzero_end(data: &[u8]) -> usize {
    let mut end = data.len();
    // Word at a time over the (usually long) zero tail.
    while end >= 8 && data[end - 8..end] == [0u8; 8] {
        end -= 8;
    }
    while end > 0 && data[end - 1] == 0 {
        end -= 1;
    }
    end
}

/// Whether a whole, aligned, all-zero sector lies in `from..to`: the mark
/// a torn write leaves in a preallocated file.
pub fn has_zero_sector(data: &[u8], from: usize, to: usize) -> bool {
    let to = to.min(data.len());
    let mut s = from.div_ceil(SECTOR) * SECTOR;
    while s + SECTOR <= to {
        if data[s..s + SECTOR].iter().all(|b| *b == 0) {
            return true;
        }
        s += SECTOR;
    }
    false
}

pub fn u32_at(data: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[off..off + 4]);
    u32::from_le_bytes(b)
}

pub fn u64_at(data: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&data[off..off + 8]);
    u64::from_le_bytes(b)
}
