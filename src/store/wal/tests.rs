//! The log against its own files: round trips, reopen, torn tails cut at
//! every byte, damage found with its file and offset, roll-over, removal,
//! ENOSPC and failed writes, concurrency; and proptests over random logs.

use super::format::{self, Header, BATCH_END, FRAME_HEADER, HEADER_LEN};
use super::segment::faults;
use super::*;
use proptest::prelude::*;
use std::os::unix::fs::FileExt;

/// Segments of 4 KiB: roll-overs after a handful of records.
fn small() -> WalConfig {
    WalConfig { segment_size: 4096, max_record: 1024 }
}

fn big() -> WalConfig {
    WalConfig { segment_size: 1 << 20, max_record: 64 << 10 }
}

/// A temp dir on tmpfs when there is one (fsync is free there; the logic
/// under test is the same), else the default.
fn tmp() -> tempfile::TempDir {
    match std::fs::metadata("/dev/shm") {
        Ok(m) if m.is_dir() => tempfile::tempdir_in("/dev/shm").expect("temp dir"),
        _ => tempfile::tempdir().expect("temp dir"),
    }
}

/// Deterministic payload bytes, never zero (so no payload looks like the
/// zeros of a preallocated file).
fn payload(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((n as usize * 31 + i * 7) % 251 + 1) as u8).collect()
}

fn seg(dir: &Path, seq: u64) -> PathBuf {
    dir.join(segment_name(seq))
}

fn open(dir: &Path, config: WalConfig) -> (Wal, Recovery) {
    Wal::open(dir, config).expect("open")
}

/// Append the batches, each followed by a sync; the records, in order.
fn write(wal: &Wal, batches: &[Vec<usize>]) -> Vec<(Pos, Vec<u8>)> {
    let mut out = Vec::new();
    for batch in batches {
        for &len in batch {
            let bytes = payload(wal.next_lsn(), len);
            let pos = wal.append(&bytes).expect("append");
            out.push((pos, bytes));
        }
        wal.sync().expect("sync");
    }
    out
}

fn replay_all(wal: &Wal) -> Vec<Record> {
    wal.replay(wal.first_lsn()).expect("replay").collect::<Result<Vec<_>>>().expect("replay records")
}

fn assert_holds(wal: &Wal, records: &[(Pos, Vec<u8>)]) {
    for (pos, bytes) in records {
        assert_eq!(&wal.read(*pos).expect("read"), bytes, "record {pos:?}");
    }
    let replayed = replay_all(wal);
    let expected: Vec<_> =
        records.iter().map(|(pos, payload)| Record { pos: *pos, payload: payload.clone() }).collect();
    assert_eq!(replayed, expected);
}

fn flip(path: &Path, offset: u64, bit: u8) {
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).expect("open segment");
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, offset).expect("read byte");
    b[0] ^= 1 << bit;
    file.write_all_at(&b, offset).expect("write byte");
}

fn corrupt_at(result: Result<(Wal, Recovery)>) -> (PathBuf, u64, String) {
    match result {
        Err(WalError::Corrupt { file, offset, reason }) => (file, offset, reason),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok((_, r)) => panic!("expected Corrupt, opened: {r:?}"),
    }
}

fn frame_end(pos: &Pos) -> u64 {
    pos.offset + FRAME_HEADER as u64 + pos.len as u64
}

#[test]
fn round_trip() {
    let dir = tmp();
    let (wal, rec) = open(dir.path(), big());
    assert!(rec.created);
    assert_eq!((rec.first_lsn, rec.next_lsn), (1, 1));
    let records = write(&wal, &[vec![0, 1, 100], vec![3000], vec![64 << 10, 17]]);
    for (i, (pos, _)) in records.iter().enumerate() {
        assert_eq!(pos.lsn, i as u64 + 1);
        assert_eq!(pos.segment, 1);
    }
    for w in records.windows(2) {
        assert_eq!(w[1].0.offset, frame_end(&w[0].0), "frames are back to back");
    }
    assert_eq!(records[0].0.offset, HEADER_LEN);
    assert_eq!(wal.durable_lsn(), 6);
    assert_holds(&wal, &records);
    assert_eq!(wal.replay(4).expect("replay").count(), 3);
    // The segment is preallocated whole, and zero after the last record.
    let data = std::fs::read(seg(dir.path(), 1)).expect("read");
    assert_eq!(data.len() as u64, big().segment_size);
    assert!(data[frame_end(&records[5].0) as usize..].iter().all(|b| *b == 0));
}

#[test]
fn reopen_continues_lsns_and_positions() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let mut records = write(&wal, &[vec![10, 20], vec![30]]);
    drop(wal);
    let (wal, rec) = open(dir.path(), big());
    assert!(!rec.created);
    assert_eq!((rec.first_lsn, rec.next_lsn, rec.torn_tail.clone()), (1, 4, None));
    assert_eq!(rec.regrown, None);
    assert_eq!(wal.durable_lsn(), 3);
    let more = write(&wal, &[vec![40]]);
    assert_eq!(more[0].0.lsn, 4);
    assert_eq!(more[0].0.offset, frame_end(&records[2].0));
    records.extend(more);
    drop(wal);
    let (wal, rec) = open(dir.path(), big());
    assert_eq!(rec.next_lsn, 5);
    assert_holds(&wal, &records);
}

/// Every open sees a preallocated segment whose tail is zeros: the clean
/// end of the log, not damage.
#[test]
fn zero_filled_preallocated_remainder_is_not_an_error() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![100; 5]]);
    drop(wal);
    let path = seg(dir.path(), 1);
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), big().segment_size);
    let report = Wal::check(dir.path()).expect("check");
    assert!(report.is_ok() && report.torn_tail.is_none() && report.torn_creation.is_none(), "{report:?}");
    let (wal, rec) = open(dir.path(), big());
    assert_eq!((rec.torn_tail, rec.regrown, rec.next_lsn), (None, None, 6));
    assert_holds(&wal, &records);
}

#[test]
fn records_appended_but_never_waited_for_are_synced_on_drop() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let pos = wal.append(b"pending").expect("append");
    assert!(matches!(wal.read(pos), Err(WalError::NotDurable { lsn: 1 })));
    drop(wal);
    let (wal, rec) = open(dir.path(), big());
    assert_eq!(rec.next_lsn, 2);
    assert_eq!(wal.read(pos).expect("read"), b"pending");
}

/// The last record cut at every byte, by truncation (a file that came back
/// short) and by zeros (preallocated, the write never landed): the log
/// ends at the record before, appending goes on there, and the next open
/// is clean.
#[test]
fn torn_tail_at_every_byte_of_the_last_record() {
    let dir = tmp();
    let path = seg(dir.path(), 1);
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![50, 60, 70], vec![100]]);
    drop(wal);
    let original = std::fs::read(&path).expect("read");
    let last = records[3].0;
    for cut in last.offset..frame_end(&last) {
        for truncate in [true, false] {
            let mut bytes = original.clone();
            if truncate {
                bytes.truncate(cut as usize);
            } else {
                bytes[cut as usize..frame_end(&last) as usize].fill(0);
            }
            std::fs::write(&path, &bytes).expect("write");
            let torn = bytes[last.offset as usize..cut as usize].iter().any(|b| *b != 0);
            let (wal, rec) = open(dir.path(), big());
            assert_eq!(rec.next_lsn, 4, "cut at {cut}");
            assert_eq!(rec.torn_tail.is_some(), torn, "cut at {cut}: {rec:?}");
            if let Some(t) = &rec.torn_tail {
                assert_eq!((t.offset, t.discarded), (last.offset, 0));
            }
            assert_eq!(rec.regrown.is_some(), truncate);
            let again = write(&wal, &[vec![10]]);
            assert_eq!(again[0].0.lsn, 4);
            assert_eq!(again[0].0.offset, last.offset);
            drop(wal);
            let (wal, rec) = open(dir.path(), big());
            assert_eq!((rec.next_lsn, rec.torn_tail.clone(), rec.regrown.clone()), (5, None, None), "cut at {cut}");
            let mut expected = records[..3].to_vec();
            expected.extend(again);
            assert_holds(&wal, &expected);
        }
    }
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail_and_is_zeroed() {
    let dir = tmp();
    let path = seg(dir.path(), 1);
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![50, 60]]);
    drop(wal);
    let end = frame_end(&records[1].0);
    let garbage: Vec<u8> = (0..700u32).map(|i| (i * 13 % 255 + 1) as u8).collect();
    std::fs::OpenOptions::new().write(true).open(&path).expect("open").write_all_at(&garbage, end).expect("write");
    let (wal, rec) = open(dir.path(), big());
    let torn = rec.torn_tail.clone().expect("torn tail");
    assert_eq!((torn.offset, torn.bytes, torn.discarded), (end, 700, 0));
    assert_eq!(rec.next_lsn, 3);
    let more = write(&wal, &[vec![5]]);
    drop(wal);
    // The garbage beyond the new, shorter record was zeroed at open.
    let data = std::fs::read(&path).expect("read");
    assert!(data[frame_end(&more[0].0) as usize..].iter().all(|b| *b == 0));
    let (wal, rec) = open(dir.path(), big());
    assert_eq!((rec.next_lsn, rec.torn_tail), (4, None));
    let mut expected = records.clone();
    expected.extend(more);
    assert_holds(&wal, &expected);
}

/// A flipped bit in any field of a record in the middle: Corrupt, naming
/// the segment and the record's offset; the files are left as they were.
#[test]
fn flipped_bit_in_a_middle_record_is_corrupt() {
    let dir = tmp();
    let path = seg(dir.path(), 1);
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![40, 40], vec![40, 40], vec![40, 40]]);
    drop(wal);
    let original = std::fs::read(&path).expect("read");
    let victim = records[2].0;
    // len, crc, lsn, first and last payload byte
    for field in [0u64, 5, 9, 16, 16 + 39] {
        std::fs::write(&path, &original).expect("restore");
        flip(&path, victim.offset + field, 3);
        let damaged = std::fs::read(&path).expect("read");
        let (file, offset, reason) = corrupt_at(Wal::open(dir.path(), big()));
        assert_eq!((file, offset), (path.clone(), victim.offset), "field at {field}: {reason}");
        assert!(reason.contains("lsn 4"), "names the next good record: {reason}");
        assert_eq!(std::fs::read(&path).expect("read"), damaged, "open must not touch a damaged log");
    }
}

#[test]
fn flipped_bit_in_an_older_segment_is_corrupt() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 30]]);
    drop(wal);
    let victim = records.iter().find(|(p, _)| p.segment == 2).expect("segment 2").0;
    flip(&seg(dir.path(), 2), victim.offset + 20, 0);
    let (file, offset, _) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), 2), victim.offset));
    // Even the last record of an older segment: it was synced before the
    // next segment existed, so it cannot be torn.
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 30]]);
    drop(wal);
    let victim = records.iter().rfind(|(p, _)| p.segment == 1).expect("segment 1").0;
    flip(&seg(dir.path(), 1), victim.offset + 20, 0);
    let (file, offset, _) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), 1), victim.offset));
}

/// The documented blind spot: damage to the very last record looks like a
/// torn write, and the log ends before it.
#[test]
fn flipped_bit_in_the_final_record_is_a_torn_tail() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![40, 40], vec![40]]);
    drop(wal);
    flip(&seg(dir.path(), 1), records[2].0.offset + 20, 1);
    let (_, rec) = open(dir.path(), big());
    assert_eq!(rec.next_lsn, 3);
    assert_eq!(rec.torn_tail.expect("torn").offset, records[2].0.offset);
}

/// A disk that persisted the sectors of the last round out of order: a
/// sector inside it never written (zeros), records after it intact. That
/// round was never acknowledged: a torn tail, its later records dropped.
#[test]
fn last_round_partly_written_is_a_torn_tail() {
    let dir = tmp();
    let path = seg(dir.path(), 1);
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![1200, 1200], vec![1200, 1200, 1200, 1200]]);
    drop(wal);
    let original = std::fs::read(&path).expect("read");
    let hole = |bytes: &mut Vec<u8>, pos: &Pos| {
        let s = (pos.offset as usize).div_ceil(512) * 512;
        assert!(s + 512 <= frame_end(pos) as usize);
        bytes[s..s + 512].fill(0);
    };
    // In the last round (records 3..6): a sector of record 4 missing.
    let mut bytes = original.clone();
    hole(&mut bytes, &records[3].0);
    std::fs::write(&path, &bytes).expect("write");
    let (wal, rec) = open(dir.path(), big());
    let torn = rec.torn_tail.clone().expect("torn");
    assert_eq!((torn.offset, torn.discarded), (records[3].0.offset, 2));
    assert_eq!(rec.next_lsn, 4);
    assert_holds(&wal, &records[..3]);
    drop(wal);
    // The same hole in a round that was followed by another: corrupt.
    let mut bytes = original.clone();
    hole(&mut bytes, &records[0].0);
    std::fs::write(&path, &bytes).expect("write");
    let (_, offset, _) = corrupt_at(Wal::open(dir.path(), big()));
    assert_eq!(offset, records[0].0.offset);
    // A flipped bit (no hole) in the last round, with good records after
    // it: corrupt.
    std::fs::write(&path, &original).expect("write");
    flip(&path, records[3].0.offset + 100, 2);
    let (_, offset, _) = corrupt_at(Wal::open(dir.path(), big()));
    assert_eq!(offset, records[3].0.offset);
}

#[test]
fn each_round_ends_with_a_batch_end_record() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![10, 10, 10], vec![10]]);
    drop(wal);
    let data = std::fs::read(seg(dir.path(), 1)).expect("read");
    let flags: Vec<bool> =
        records.iter().map(|(p, _)| format::u32_at(&data, p.offset as usize) & BATCH_END != 0).collect();
    assert_eq!(flags, [false, false, true, true]);
}

#[test]
fn missing_middle_segment_is_corrupt() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    write(&wal, &[vec![300; 40]]);
    assert!(wal.segments().len() >= 4);
    drop(wal);
    std::fs::remove_file(seg(dir.path(), 2)).expect("remove");
    let (file, offset, reason) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), 2), 0));
    assert!(reason.contains("missing"), "{reason}");
}

#[test]
fn lsn_gaps_and_repeats_are_corrupt() {
    // A segment whose header starts past the end of the previous one.
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 20]]);
    drop(wal);
    let last = records.last().expect("records").0;
    let next = last.segment + 1;
    let header = Header { seq: next, first_lsn: last.lsn + 2, capacity: 4096 };
    let mut bytes = header.encode().to_vec();
    format::encode_frame(&mut bytes, last.lsn + 2, b"x");
    std::fs::write(seg(dir.path(), next), &bytes).expect("write");
    let (file, offset, reason) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), next), 0), "{reason}");

    // A whole, valid record with a repeated LSN at the very end: written
    // whole, so not a torn write.
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![30, 30]]);
    drop(wal);
    let mut frame = Vec::new();
    format::encode_frame(&mut frame, 2, b"again");
    let end = frame_end(&records[1].0);
    let file = std::fs::OpenOptions::new().write(true).open(seg(dir.path(), 1)).expect("open");
    file.write_all_at(&frame, end).expect("write");
    let (_, offset, reason) = corrupt_at(Wal::open(dir.path(), big()));
    assert_eq!(offset, end);
    assert!(reason.contains("expected lsn 3"), "{reason}");
}

#[test]
fn bad_header_is_corrupt() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    write(&wal, &[vec![300; 20]]);
    drop(wal);
    flip(&seg(dir.path(), 1), 20, 0);
    let (file, offset, _) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), 1), 0));
    // The newest segment too, when it is not all zeros.
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    write(&wal, &[vec![300; 20]]);
    let newest = wal.segments().last().expect("segment").seq;
    drop(wal);
    flip(&seg(dir.path(), newest), 3, 0);
    let (file, offset, _) = corrupt_at(Wal::open(dir.path(), small()));
    assert_eq!((file, offset), (seg(dir.path(), newest), 0));
}

/// A newest segment with no header and nothing else (empty, or zeros): its
/// creation was cut; open completes it and appends go there.
#[test]
fn torn_segment_creation_is_completed() {
    for contents in [vec![], vec![0u8; 30], vec![0u8; 4096]] {
        let dir = tmp();
        let (wal, _) = open(dir.path(), small());
        let records = write(&wal, &[vec![100; 3]]);
        drop(wal);
        std::fs::write(seg(dir.path(), 2), &contents).expect("write");
        let report = Wal::check(dir.path()).expect("check");
        assert!(report.is_ok(), "{:?}", report.problems);
        assert_eq!(report.torn_creation, Some(seg(dir.path(), 2)));
        let (wal, rec) = open(dir.path(), small());
        assert_eq!(rec.completed_creation, Some(seg(dir.path(), 2)));
        assert_eq!(rec.next_lsn, 4);
        let more = write(&wal, &[vec![10]]);
        assert_eq!((more[0].0.segment, more[0].0.lsn, more[0].0.offset), (2, 4, HEADER_LEN));
        drop(wal);
        let (wal, rec) = open(dir.path(), small());
        assert_eq!(rec.completed_creation, None);
        let mut expected = records.clone();
        expected.extend(more);
        assert_holds(&wal, &expected);
    }
    // As the only segment, it can only be segment 1.
    let dir = tmp();
    std::fs::write(seg(dir.path(), 1), []).expect("write");
    let (wal, rec) = open(dir.path(), small());
    assert_eq!((rec.created, rec.next_lsn, rec.completed_creation.is_some()), (false, 1, true));
    assert_eq!(write(&wal, &[vec![1]])[0].0.lsn, 1);
    drop(wal);
    let dir = tmp();
    std::fs::write(seg(dir.path(), 7), []).expect("write");
    corrupt_at(Wal::open(dir.path(), small()));
}

#[test]
fn roll_over_and_read_after_reopen() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 10], vec![1024], vec![0; 3], vec![500; 20]]);
    let segments = wal.segments();
    assert!(segments.len() >= 5, "{segments:?}");
    // Each segment starts where the previous one stopped.
    for (pos, _) in &records {
        assert!(frame_end(pos) <= 4096);
        if pos.offset == HEADER_LEN {
            let s = segments.iter().find(|s| s.seq == pos.segment).expect("segment");
            assert_eq!(s.first_lsn, pos.lsn);
        }
    }
    for w in records.windows(2) {
        assert!(w[1].0.segment == w[0].0.segment || w[1].0.segment == w[0].0.segment + 1);
    }
    drop(wal);
    let (wal, rec) = open(dir.path(), small());
    assert_eq!(rec.segments, segments.len());
    assert_eq!(rec.next_lsn, records.len() as u64 + 1);
    assert_holds(&wal, &records);
    for s in &segments {
        assert_eq!(std::fs::metadata(&s.path).expect("stat").len(), 4096);
    }
}

#[test]
fn read_verifies_crc_lsn_and_length() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![100, 100]]);
    let (pos, _) = records[1];
    flip(&seg(dir.path(), 1), pos.offset + 50, 4);
    match wal.read(pos) {
        Err(WalError::Corrupt { file, offset, reason }) => {
            assert_eq!((file, offset), (seg(dir.path(), 1), pos.offset));
            assert!(reason.contains("crc"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let wrong = Pos { lsn: 1, ..pos };
    assert!(matches!(wal.read(wrong), Err(WalError::Corrupt { .. })));
    let wrong = Pos { offset: pos.offset + 1, ..records[0].0 };
    assert!(matches!(wal.read(wrong), Err(WalError::Corrupt { .. })));
    assert!(matches!(wal.read(Pos { lsn: 3, ..pos }), Err(WalError::NotDurable { lsn: 3 })));
    assert_eq!(wal.read(records[0].0).expect("read"), records[0].1);
    // Replay reads the files again and stops at the damage.
    let replayed: Vec<_> = wal.replay(1).expect("replay").collect();
    assert_eq!(replayed.len(), 2);
    assert!(replayed[0].is_ok());
    assert!(matches!(&replayed[1], Err(WalError::Corrupt { offset, .. }) if *offset == pos.offset));
}

#[test]
fn too_large_records_are_refused() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    assert!(matches!(wal.append(&[1u8; 1025]), Err(WalError::TooLarge { len: 1025, max: 1024 })));
    assert_eq!(wal.next_lsn(), 1);
    let pos = wal.append(&[1u8; 1024]).expect("append max");
    assert_eq!(pos.lsn, 1);
    wal.sync().expect("sync");
    assert!(Wal::open(dir.path(), WalConfig { segment_size: 100, max_record: 1024 }).is_err());
}

#[test]
fn remove_segments_before_keeps_the_newest_and_the_rest_readable() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 40]]);
    let segments = wal.segments();
    let n = segments.len() as u64;
    assert_eq!(wal.remove_segments_before(3).expect("remove"), 2);
    assert!(!seg(dir.path(), 1).exists() && !seg(dir.path(), 2).exists());
    assert_eq!(wal.segments()[0].seq, 3);
    let first = segments[2].first_lsn;
    assert_eq!(wal.first_lsn(), first);
    assert!(matches!(wal.replay(1), Err(WalError::Removed { lsn: 1, first_lsn }) if first_lsn == first));
    assert!(matches!(wal.read(records[0].0), Err(WalError::Removed { .. })));
    let kept: Vec<_> = records.iter().filter(|(p, _)| p.lsn >= first).cloned().collect();
    assert_holds(&wal, &kept);
    drop(wal);
    let (wal, rec) = open(dir.path(), small());
    assert_eq!((rec.first_lsn, rec.next_lsn), (first, records.len() as u64 + 1));
    assert_holds(&wal, &kept);
    // Never the newest segment.
    assert_eq!(wal.remove_segments_before(u64::MAX).expect("remove"), n as usize - 3);
    assert_eq!(wal.segments().len(), 1);
    let more = write(&wal, &[vec![10]]);
    drop(wal);
    let (wal, rec) = open(dir.path(), small());
    assert_eq!(rec.segments, 1);
    assert_eq!(wal.read(more[0].0).expect("read"), more[0].1);
}

#[test]
fn check_reports_every_problem() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![300; 40]]);
    drop(wal);
    let report = Wal::check(dir.path()).expect("check");
    assert!(report.is_ok());
    assert_eq!((report.records, report.first_lsn, report.next_lsn), (40, 1, 41));
    assert_eq!(report.torn_tail, None);

    let in_seg = |s: u64| records.iter().filter(|(p, _)| p.segment == s).map(|(p, _)| *p).collect::<Vec<_>>();
    let (a, b) = (in_seg(1)[1], in_seg(3)[0]);
    flip(&seg(dir.path(), 1), a.offset + 30, 0);
    flip(&seg(dir.path(), 3), b.offset + 30, 0);
    let newest = records.last().expect("records").0;
    let file = std::fs::OpenOptions::new().write(true).open(seg(dir.path(), newest.segment)).expect("open");
    file.write_all_at(b"torn!", frame_end(&newest)).expect("write");
    let report = Wal::check(dir.path()).expect("check");
    assert!(!report.is_ok());
    let found: Vec<_> = report.problems.iter().map(|p| (p.file.clone(), p.offset)).collect();
    assert_eq!(found, [(seg(dir.path(), 1), a.offset), (seg(dir.path(), 3), b.offset)], "{:?}", report.problems);
    assert_eq!(report.torn_tail.map(|t| t.offset), Some(frame_end(&newest)));
    assert_eq!(report.records, 38);
    assert_eq!(report.next_lsn, 41);
    // check changes nothing
    assert!(Wal::check(dir.path()).expect("check").problems.len() == 2);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    assert!(matches!(Wal::open(dir.path(), small()), Err(WalError::Locked { .. })));
    drop(wal);
    drop(open(dir.path(), small()));
}

#[test]
fn no_space_for_a_new_segment_fails_that_append_only() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let records = write(&wal, &[vec![1000; 3]]);
    assert_eq!(wal.segments().len(), 1);
    faults::set(&faults::PREALLOC, dir.path(), true);
    let err = wal.append(&[7u8; 1000]).expect_err("no space");
    assert!(err.is_no_space(), "{err}");
    assert!(!seg(dir.path(), 2).exists(), "the half-made segment is removed");
    assert_eq!(wal.next_lsn(), 4, "no lsn used up");
    // A record that still fits goes on.
    let small_pos = wal.append(&[8u8; 10]).expect("fits");
    assert_eq!(small_pos.lsn, 4);
    wal.sync().expect("sync");
    faults::set(&faults::PREALLOC, dir.path(), false);
    let pos = wal.append(&[9u8; 1000]).expect("space is back");
    assert_eq!((pos.segment, pos.lsn), (2, 5));
    wal.sync().expect("sync");
    drop(wal);
    let (wal, rec) = open(dir.path(), small());
    assert_eq!(rec.next_lsn, 6);
    let mut expected = records.clone();
    expected.push((small_pos, vec![8u8; 10]));
    expected.push((pos, vec![9u8; 1000]));
    assert_holds(&wal, &expected);
    drop(wal);
    // A new log that cannot preallocate its first segment does not open.
    let dir = tmp();
    faults::set(&faults::PREALLOC, dir.path(), true);
    assert!(Wal::open(dir.path(), small()).err().is_some_and(|e| e.is_no_space()));
    faults::set(&faults::PREALLOC, dir.path(), false);
    assert!(!seg(dir.path(), 1).exists());
}

#[test]
fn a_failed_write_poisons_the_log_until_reopened() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    let records = write(&wal, &[vec![10, 10]]);
    assert!(wal.poisoned().is_none());
    faults::set(&faults::WRITE, dir.path(), true);
    wal.append(b"lost").expect("append");
    let err = wal.sync().expect_err("write fails");
    assert!(matches!(err, WalError::Poisoned { .. }), "{err}");
    assert!(wal.poisoned().is_some());
    assert!(matches!(wal.append(b"more"), Err(WalError::Poisoned { .. })));
    assert!(wal.wait_durable(2).is_ok(), "what was durable stays durable");
    faults::set(&faults::WRITE, dir.path(), false);
    drop(wal);
    let (wal, rec) = open(dir.path(), big());
    assert_eq!(rec.next_lsn, 3);
    assert_holds(&wal, &records);
}

#[test]
fn wait_for_an_lsn_never_appended_is_an_error() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), big());
    assert!(matches!(wal.wait_durable(1), Err(WalError::NotAppended { lsn: 1, next_lsn: 1 })));
    assert_eq!(wal.sync().expect("sync"), 0);
}

/// Many threads appending and waiting, over small segments so that rolls
/// happen under contention: LSNs dense and unique, every record where its
/// position says, before and after reopen.
#[test]
fn concurrent_appenders_share_commit_rounds() {
    let dir = tmp();
    let config = WalConfig { segment_size: 16 << 10, max_record: 1024 };
    let (wal, _) = open(dir.path(), config.clone());
    let wal = Arc::new(wal);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..150u64)
                    .map(|i| {
                        let bytes = payload(t * 1000 + i, 50 + ((t * 7 + i * 13) % 400) as usize);
                        let pos = wal.append(&bytes).expect("append");
                        assert!(wal.wait_durable(pos.lsn).expect("durable") >= pos.lsn);
                        (pos, bytes)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<_> = threads.into_iter().flat_map(|t| t.join().expect("thread")).collect();
    all.sort_by_key(|(p, _)| p.lsn);
    let lsns: Vec<u64> = all.iter().map(|(p, _)| p.lsn).collect();
    assert_eq!(lsns, (1..=1200).collect::<Vec<_>>());
    assert!(wal.segments().len() > 3);
    assert_holds(&wal, &all);
    drop(Arc::try_unwrap(wal).unwrap_or_else(|_| panic!("one owner")));
    let (wal, rec) = open(dir.path(), config);
    assert_eq!(rec.next_lsn, 1201);
    assert_holds(&wal, &all);
}

#[test]
fn async_waiters() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), WalConfig { segment_size: 16 << 10, max_record: 1024 });
    let wal = Arc::new(wal);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let all = rt.block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|t| {
                let wal = wal.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for i in 0..40u64 {
                        let bytes = payload(t * 100 + i, 200);
                        let pos = wal.append(&bytes).expect("append");
                        assert!(wal.durable(pos.lsn).await.expect("durable") >= pos.lsn);
                        out.push((pos, bytes));
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        all
    });
    all.iter().for_each(|(pos, _)| assert!(pos.lsn <= 640));
    let mut all = all;
    all.sort_by_key(|(p, _)| p.lsn);
    assert_holds(&wal, &all);
}

#[test]
fn frame_crc_covers_len_lsn_and_payload() {
    let mut frame = Vec::new();
    let body = payload(3, 999);
    format::encode_frame(&mut frame, 42, &body);
    let mut covered = frame[0..4].to_vec();
    covered.extend_from_slice(&frame[8..]);
    assert_eq!(format::u32_at(&frame, 4), crc32c::crc32c(&covered));
    format::mark_batch_end(&mut frame);
    let mut covered = frame[0..4].to_vec();
    covered.extend_from_slice(&frame[8..]);
    assert_eq!(format::u32_at(&frame, 4), crc32c::crc32c(&covered));
    assert_eq!(
        format::parse_frame(&frame, 0, frame.len()),
        format::Frame::Record { lsn: 42, len: 999, batch_end: true }
    );
}

#[test]
fn segment_names() {
    assert_eq!(segment_name(1), "0000000000000001.wal");
    assert_eq!(format::parse_segment_name("0000000000000001.wal"), Some(1));
    assert_eq!(format::parse_segment_name("000000000000001.wal"), None);
    assert_eq!(format::parse_segment_name("0000000000000001.wal.tmp"), None);
    assert_eq!(format::parse_segment_name("+000000000000001.wal"), None);
}

/// Write `batches` into a fresh log in `dir`; the records.
fn build(dir: &Path, config: &WalConfig, batches: &[Vec<usize>]) -> Vec<(Pos, Vec<u8>)> {
    let (wal, _) = open(dir, config.clone());
    let records = write(&wal, batches);
    drop(wal);
    records
}

fn batches() -> impl Strategy<Value = Vec<Vec<usize>>> {
    prop::collection::vec(prop::collection::vec(0usize..400, 1..6), 2..8)
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Sync,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![6 => (0usize..500).prop_map(Op::Append), 2 => Just(Op::Sync), 1 => Just(Op::Reopen)]
}

/// `torn_last_round_recovers`: `batches` written, the last round damaged
/// from `at` (a fraction of it) on — `how` 0: cut short, 1: zeroed, 2:
/// overwritten with `junk` —, then opened, checked and appended to.
fn torn_last_round(batches: &[Vec<usize>], at: f64, how: u8, junk: &[u8]) -> std::result::Result<(), TestCaseError> {
    let dir = tmp();
    let config = WalConfig { segment_size: 4096, max_record: 400 };
    let records = build(dir.path(), &config, batches);
    let last_round = batches.last().expect("batches").len();
    let round = &records[records.len() - last_round..];
    let segment = round.last().expect("round").0.segment;
    // The part of the round in the newest segment (a round may span
    // two: its part in the older one was synced before the roll).
    let in_newest: Vec<_> = round.iter().filter(|(p, _)| p.segment == segment).collect();
    let start = in_newest[0].0.offset;
    let end = frame_end(&in_newest[in_newest.len() - 1].0);
    let cut = start + ((end - start) as f64 * at) as u64;
    let path = seg(dir.path(), segment);
    let mut bytes = std::fs::read(&path).expect("read");
    let original = bytes.clone();
    match how {
        0 => bytes.truncate(cut as usize),
        1 => bytes[cut as usize..end as usize].fill(0),
        _ => {
            let n = junk.len().min(bytes.len() - cut as usize);
            bytes[cut as usize..cut as usize + n].copy_from_slice(&junk[..n]);
            if cut as usize + n < end as usize {
                bytes[cut as usize + n..end as usize].fill(0);
            }
        }
    }
    std::fs::write(&path, &bytes).expect("write");
    // The damage starts at the first byte it changed, not at the cut:
    // zeroes over an LSN's high bytes (already zero) or junk equal to
    // what was there leave a record whole, and recovery rightly keeps it.
    let damaged_from = match how {
        0 => cut,
        _ => (cut as usize..end as usize).find(|&i| bytes[i] != original[i]).map_or(u64::MAX, |i| i as u64),
    };
    let whole = records.iter().take_while(|(p, _)| p.segment < segment || frame_end(p) <= damaged_from).count();
    let (wal, rec) = open(dir.path(), config.clone());
    prop_assert_eq!(rec.next_lsn, whole as u64 + 1);
    assert_holds(&wal, &records[..whole]);
    let pos = wal.append(b"after").expect("append");
    wal.sync().expect("sync");
    prop_assert_eq!(pos.lsn, whole as u64 + 1);
    drop(wal);
    let (wal, rec) = open(dir.path(), config);
    prop_assert_eq!(rec.torn_tail, None);
    prop_assert_eq!(wal.read(pos).expect("read"), b"after".to_vec());
    Ok(())
}

/// The seed that once failed: the zeroes fell on the high bytes of the
/// last record's LSN, which were zero already, so nothing was damaged.
#[test]
fn torn_last_round_that_changes_no_byte_keeps_the_record() {
    torn_last_round(&[vec![0], vec![0]], 0.93, 1, &[1]).expect("recovers");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Any sequence of appends, syncs and reopens: LSNs dense, every
    /// record readable where its position says, replay equals the model.
    #[test]
    fn model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tmp();
        let config = WalConfig { segment_size: 2048, max_record: 500 };
        let (mut wal, _) = open(dir.path(), config.clone());
        let mut model: Vec<(Pos, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(len) => {
                    let bytes = payload(model.len() as u64, len);
                    let pos = wal.append(&bytes).expect("append");
                    prop_assert_eq!(pos.lsn, model.len() as u64 + 1);
                    model.push((pos, bytes));
                }
                Op::Sync => prop_assert_eq!(wal.sync().expect("sync"), model.len() as u64),
                Op::Reopen => {
                    drop(wal);
                    let (w, rec) = open(dir.path(), config.clone());
                    prop_assert_eq!(rec.next_lsn, model.len() as u64 + 1);
                    prop_assert_eq!(rec.torn_tail, None);
                    wal = w;
                }
            }
        }
        wal.sync().expect("sync");
        assert_holds(&wal, &model);
        prop_assert!(Wal::check(dir.path()).expect("check").is_ok());
    }

    /// The last round damaged from a random byte on — cut short, zeroed,
    /// or overwritten with junk — always opens, keeps every record before
    /// that round and every whole record before the damage, and appends
    /// after it.
    #[test]
    fn torn_last_round_recovers(
        batches in batches(),
        at in 0.0f64..1.0,
        how in 0u8..3,
        junk in prop::collection::vec(1u8..=255, 1..600),
    ) {
        torn_last_round(&batches, at, how, &junk)?;
    }

    /// One flipped bit anywhere in a header or a record: Corrupt at that
    /// record (or header) — except in the final record of the log, which
    /// is indistinguishable from a torn write and ends the log.
    #[test]
    fn flipped_bit_is_found(batches in batches(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let dir = tmp();
        let config = WalConfig { segment_size: 4096, max_record: 400 };
        let records = build(dir.path(), &config, &batches);
        // Every byte of every frame, and of every header.
        let mut targets: Vec<(u64, u64, Option<usize>)> = Vec::new();
        let segments: std::collections::BTreeSet<u64> = records.iter().map(|(p, _)| p.segment).collect();
        for s in &segments {
            targets.extend((0..HEADER_LEN).map(|o| (*s, o, None)));
        }
        for (i, (p, _)) in records.iter().enumerate() {
            targets.extend((p.offset..frame_end(p)).map(|o| (p.segment, o, Some(i))));
        }
        let (segment, offset, record) = targets[pick.index(targets.len())];
        flip(&seg(dir.path(), segment), offset, bit);
        let result = Wal::open(dir.path(), config);
        match record {
            Some(i) if i + 1 == records.len() => {
                let (_, rec) = result.expect("final record: torn tail");
                prop_assert_eq!(rec.next_lsn, i as u64 + 1);
                prop_assert_eq!(rec.torn_tail.map(|t| t.offset), Some(records[i].0.offset));
            }
            Some(i) => {
                let (file, at, _) = corrupt_at(result);
                prop_assert_eq!((file, at), (seg(dir.path(), segment), records[i].0.offset));
            }
            None => {
                let (file, at, _) = corrupt_at(result);
                prop_assert_eq!((file, at), (seg(dir.path(), segment), 0));
            }
        }
    }
}

/// `durable_within` rides on a round someone else starts, and starts one
/// itself when none comes within its window: alone it waits out the
/// window; beside an eager waiter it returns with that waiter's round.
#[test]
fn lazy_waiters_ride_on_other_rounds_and_start_one_when_none_comes() {
    let dir = tmp();
    let (wal, _) = open(dir.path(), small());
    let wal = Arc::new(wal);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let window = std::time::Duration::from_millis(300);
        // Alone: nothing covers it until the window has passed.
        let pos = wal.append(&payload(1, 100)).expect("append");
        let started = std::time::Instant::now();
        assert!(wal.durable_within(pos.lsn, window).await.expect("durable") >= pos.lsn);
        assert!(started.elapsed() >= window, "returned after {:?}", started.elapsed());
        assert!(wal.durable_lsn() >= pos.lsn);
        // Beside an eager waiter: covered by its round, well within the window.
        let lazy = wal.append(&payload(2, 100)).expect("append");
        let eager = wal.append(&payload(3, 100)).expect("append");
        let started = std::time::Instant::now();
        let (a, b) = tokio::join!(wal.durable_within(lazy.lsn, window * 10), wal.durable(eager.lsn));
        assert!(a.expect("lazy") >= lazy.lsn && b.expect("eager") >= eager.lsn);
        assert!(started.elapsed() < window * 5, "waited {:?}", started.elapsed());
        // Already durable: at once.
        let started = std::time::Instant::now();
        assert!(wal.durable_within(lazy.lsn, window * 10).await.expect("durable") >= lazy.lsn);
        assert!(started.elapsed() < window);
        // Never appended: an error, not a wait.
        assert!(wal.durable_within(1_000, window).await.is_err());
    });
}
