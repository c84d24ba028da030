//! The write-ahead log (`hookd::store::wal`) on the real disk, 64 MiB
//! segments as in production:
//!
//! - `wal/append_3k_sync32`: 32 appends of 3 KB records, then one `sync`
//!   (one pwrite + one fdatasync for all 32) — the unit of time is one such
//!   batch; segment roll-overs fall inside it as they come (one per ~680
//!   batches);
//! - `wal/append_3k_x32_nosync`: the same with the sync untimed — what the
//!   32 appends cost their caller;
//! - `wal/fdatasync_96k`, `wal/fdatasync_4k`: the floor under the first —
//!   one 96 KiB (or 4 KiB) pwrite into a preallocated file plus fdatasync,
//!   without the log.
//!
//! The log lives under the target dir (the real filesystem, not tmpfs);
//! segments are removed between samples so the disk use stays bounded.
//!
//!     cargo bench --bench wal

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookd::store::wal::{Wal, WalConfig};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

const RECORD: usize = 3000;
const BATCH: usize = 32;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir")
}

fn record() -> Vec<u8> {
    (0..RECORD).map(|i| (i % 251 + 1) as u8).collect()
}

/// Keep only the newest segment (what a checkpoint would do).
fn trim(wal: &Wal) {
    let newest = wal.segments().last().map(|s| s.seq).unwrap_or(0);
    wal.remove_segments_before(newest).expect("remove segments");
}

fn wal(c: &mut Criterion) {
    let tmp = dir();
    let (wal, _) = Wal::open(&tmp.path().join("wal"), WalConfig::default()).expect("open wal");
    let payload = record();
    let mut group = c.benchmark_group("wal");
    group.sample_size(30).measurement_time(Duration::from_secs(10));

    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("append_3k_sync32", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                for _ in 0..BATCH {
                    wal.append(&payload).expect("append");
                }
                wal.sync().expect("sync");
            }
            let took = started.elapsed();
            trim(&wal);
            took
        })
    });

    // The same 32 appends with the sync left out of the timing: what an
    // append costs its caller.
    group.bench_function("append_3k_x32_nosync", |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                for _ in 0..BATCH {
                    wal.append(&payload).expect("append");
                }
                took += started.elapsed();
                wal.sync().expect("sync");
            }
            trim(&wal);
            took
        })
    });
    drop(wal);

    // Raw pwrite + fdatasync into a preallocated file, never overwriting
    // (as the log does: each write lands in unwritten extents), for 96 KiB
    // (a batch) and 4 KiB (the smallest round).
    for (name, len) in [("fdatasync_96k", RECORD * BATCH), ("fdatasync_4k", 4096)] {
        let chunk = vec![7u8; len];
        let mut raw = RawFile::new(&tmp);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| b.iter(|| raw.write_sync(&chunk)));
    }
    group.finish();
}

/// A preallocated 64 MiB file written front to back; a fresh one when full.
struct RawFile<'a> {
    tmp: &'a tempfile::TempDir,
    file: std::fs::File,
    offset: u64,
    n: u32,
}

const RAW_SIZE: u64 = 64 << 20;

impl<'a> RawFile<'a> {
    fn new(tmp: &'a tempfile::TempDir) -> Self {
        RawFile { tmp, file: Self::create(tmp, 0), offset: 0, n: 0 }
    }

    fn create(tmp: &tempfile::TempDir, n: u32) -> std::fs::File {
        use std::os::fd::AsRawFd;
        let path = tmp.path().join(format!("raw{n}"));
        let _ = std::fs::remove_file(&path);
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).expect("create");
        // SAFETY: a plain syscall on a descriptor `file` keeps open.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, RAW_SIZE as libc::off_t) };
        assert_eq!(rc, 0, "posix_fallocate");
        file.sync_all().expect("sync");
        file
    }

    fn write_sync(&mut self, chunk: &[u8]) {
        if self.offset + chunk.len() as u64 > RAW_SIZE {
            self.n += 1;
            let _ = std::fs::remove_file(self.tmp.path().join(format!("raw{}", self.n - 1)));
            self.file = Self::create(self.tmp, self.n);
            self.offset = 0;
        }
        self.file.write_all_at(chunk, self.offset).expect("write");
        self.file.sync_data().expect("fdatasync");
        self.offset += chunk.len() as u64;
    }
}

criterion_group!(benches, wal);
criterion_main!(benches);
