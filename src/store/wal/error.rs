//! The log's one error type: typed, cloneable (a failed commit round answers
//! every waiter with the same error), and free of record contents — only
//! paths, offsets, LSNs and sizes ever appear in a message.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum WalError {
    /// A system call failed. `op` says which ("open", "fdatasync", …).
    Io { path: PathBuf, op: &'static str, error: Arc<std::io::Error> },
    /// Preallocating a new segment hit ENOSPC/EDQUOT. Nothing was written
    /// and no LSN was used up: the append that needed the segment may be
    /// retried once space returns.
    NoSpace { path: PathBuf, bytes: u64 },
    /// The log is damaged somewhere other than its torn tail: never
    /// repaired automatically. `offset` is the byte offset in `file`.
    Corrupt { file: PathBuf, offset: u64, reason: String },
    /// A payload over `WalConfig::max_record`.
    TooLarge { len: usize, max: usize },
    /// A write or fdatasync failed earlier: what reached the disk is
    /// unknown, so the log takes no more appends. Reopen it.
    Poisoned { cause: Box<WalError> },
    /// `read` of a record that is not durable yet.
    NotDurable { lsn: u64 },
    /// A wait for an LSN that was never handed out.
    NotAppended { lsn: u64, next_lsn: u64 },
    /// The record (or LSN) lies in a segment removed by
    /// `remove_segments_before`.
    Removed { lsn: u64, first_lsn: u64 },
    /// Another `Wal` (this process or another) holds the directory.
    Locked { dir: PathBuf },
    /// A bad `WalConfig`.
    Config(String),
    /// The commit thread is gone (the `Wal` is being dropped).
    Closed,
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, error: std::io::Error) -> WalError {
        let path = path.into();
        match error.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => WalError::NoSpace { path, bytes: 0 },
            _ => WalError::Io { path, op, error: Arc::new(error) },
        }
    }

    pub(crate) fn corrupt(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corrupt { file: file.into(), offset, reason: reason.into() }
    }

    /// ENOSPC, directly or as the cause of a poisoned log.
    pub fn is_no_space(&self) -> bool {
        match self {
            WalError::NoSpace { .. } => true,
            WalError::Poisoned { cause } => cause.is_no_space(),
            _ => false,
        }
    }

    pub fn is_corrupt(&self) -> bool {
        matches!(self, WalError::Corrupt { .. })
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { path, op, error } => write!(f, "{op} {}: {error}", path.display()),
            WalError::NoSpace { path, bytes: 0 } => write!(f, "no space left on device for {}", path.display()),
            WalError::NoSpace { path, bytes } => {
                write!(f, "no space left on device to preallocate {} ({bytes} bytes)", path.display())
            }
            WalError::Corrupt { file, offset, reason } => {
                write!(f, "write-ahead log damaged: {} at offset {offset}: {reason}", file.display())
            }
            WalError::TooLarge { len, max } => write!(f, "record of {len} bytes is over the maximum of {max} bytes"),
            WalError::Poisoned { cause } => {
                write!(f, "write-ahead log stopped after an earlier failure ({cause}); it must be reopened")
            }
            WalError::NotDurable { lsn } => write!(f, "record {lsn} is not durable yet"),
            WalError::NotAppended { lsn, next_lsn } => {
                write!(f, "lsn {lsn} was never appended (the next lsn is {next_lsn})")
            }
            WalError::Removed { lsn, first_lsn } => {
                write!(f, "lsn {lsn} was removed by a checkpoint (the log starts at lsn {first_lsn})")
            }
            WalError::Locked { dir } => write!(f, "{} is in use by another write-ahead log writer", dir.display()),
            WalError::Config(reason) => write!(f, "write-ahead log config: {reason}"),
            WalError::Closed => f.write_str("write-ahead log is closed"),
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { error, .. } => Some(error.as_ref()),
            WalError::Poisoned { cause } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, WalError>;
