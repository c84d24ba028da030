//! Runs one command handler: direct argv exec (no shell, ever) with an environment built from
//! nothing but what the caller hands it, the webhook body complete on stdin before the handler
//! starts (a sealed memfd), a timeout that SIGKILLs the handler's whole process group, and a
//! bounded tail of its interleaved stdout/stderr, at a lower CPU priority than the ack path
//! (`[dispatch] nice`: spawned from a thread that carries the nice value, which the child
//! inherits). Also ends the process groups of attempts a previous hookd left running. It
//! must never use a shell, inherit hookd's environment, block the async runtime, or let a
//! handler's output grow memory without bound.

#![allow(clippy::disallowed_methods)] // the one place processes start

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Seek, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::ExitStatusExt;
use std::pin::{pin, Pin};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

use super::reply::Whole;

/// Size of one pipe read; the tail may briefly hold this much on top of `tail_bytes`.
const CHUNK: usize = 8 * 1024;
/// How long the pipes may stay open after the direct child is gone before the group is killed.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

pub struct CommandSpec {
    /// `argv[0]` is the program; executed directly, no shell.
    pub argv: Vec<String>,
    /// The handler's whole environment: nothing of hookd's reaches it otherwise.
    pub env: Vec<(String, String)>,
    /// The raw webhook body.
    pub stdin: Bytes,
    pub timeout: Duration,
    /// Keep at most this many last bytes of stdout+stderr, interleaved as they arrive.
    pub tail_bytes: usize,
    /// Also keep stdout alone, whole, up to this many bytes (0: not at all):
    /// a reply route's answer.
    pub stdout_bytes: usize,
    /// Told the handler's process group as soon as it started.
    pub on_start: Option<Box<dyn FnOnce(Started) + Send>>,
    /// The working directory (`None`: hookd's own).
    pub cwd: Option<std::path::PathBuf>,
}

/// Who a started handler is (the store keeps it while the attempt runs),
/// so that a later hookd can tell it apart from a process that reused its
/// pid: its pgid, the leader's start time in clock ticks since boot
/// (`/proc/PID/stat`) and `/proc/sys/kernel/random/boot_id`.
pub use crate::store::ProcessNote as Started;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandExit {
    Code(i32),
    Signal(i32),
    TimedOut,
    SpawnFailed(String),
}

#[derive(Debug, Clone)]
pub struct CommandResult {
    pub exit: CommandExit,
    /// Lossy UTF-8 of the kept tail; never longer than `tail_bytes` bytes.
    pub output_tail: String,
    /// All of stdout, when `stdout_bytes` asked for it and it fit.
    pub stdout: Option<Bytes>,
    pub duration: Duration,
}

/// The thread that spawns children when they run below hookd's priority:
/// it lowers only its own priority (Linux: per thread), and `posix_spawn`
/// hands that to the child, so no code runs between fork and exec.
struct Spawner(std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>);

/// One spawner per nice value in use: `[dispatch] nice` and
/// `background::BUSY_NICE` (a thread cannot raise its priority back
/// without privileges, so each level keeps its own thread).
fn spawner(nice: i32) -> Option<&'static Spawner> {
    static AT_NICE: std::sync::OnceLock<Option<Spawner>> = std::sync::OnceLock::new();
    static AT_BUSY: std::sync::OnceLock<Option<Spawner>> = std::sync::OnceLock::new();
    let cell = if nice == super::background::BUSY_NICE { &AT_BUSY } else { &AT_NICE };
    cell.get_or_init(|| start_spawner(nice)).as_ref()
}

fn start_spawner(nice: i32) -> Option<Spawner> {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let started = std::thread::Builder::new().name(format!("hookd-spawn-{nice}")).spawn(move || {
        super::background::lower_priority(nice);
        let _runtime = handle.enter();
        for job in rx {
            job();
        }
    });
    match started {
        Ok(_) => Some(Spawner(tx)),
        Err(e) => {
            tracing::warn!(error = %e, "no spawner thread; handlers run at hookd's priority");
            None
        }
    }
}

/// `cmd.spawn()`, on the spawner thread when handlers run niced.
async fn spawn_at_priority(mut cmd: Command) -> io::Result<Child> {
    let nice = super::background::handler_nice_now();
    let Some(spawner) = (nice > 0).then(|| spawner(nice)).flatten() else { return cmd.spawn() };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = tx.send(cmd.spawn());
    });
    if spawner.0.send(job).is_err() {
        return Err(io::Error::other("the spawner thread is gone"));
    }
    rx.await.unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")))
}

pub async fn run(mut spec: CommandSpec) -> CommandResult {
    let started = Instant::now();
    let mut tail = Tail::new(spec.tail_bytes);
    let mut stdout = Whole::new(spec.stdout_bytes);
    let built = build(&spec);
    let spawned = match built {
        Ok((cmd, program)) => spawn_at_priority(cmd).await.map_err(|e| format!("could not start {program}: {e}")),
        Err(e) => Err(e),
    };
    let exit = match spawned {
        Ok(child) => {
            if let (Some(tell), Some(pid)) = (spec.on_start.take(), child.id()) {
                if let Some(who) = identify(pid) {
                    tell(who);
                }
            }
            supervise(child, spec.timeout, &mut tail, &mut stdout).await
        }
        Err(e) => CommandExit::SpawnFailed(e),
    };
    CommandResult { exit, output_tail: tail.into_string(), stdout: stdout.into_bytes(), duration: started.elapsed() }
}

/// The command for `spec` (its program's name, for messages).
fn build(spec: &CommandSpec) -> Result<(Command, String), String> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err("could not start: empty argv".to_owned());
    };
    let stdin = sealed_stdin(&spec.stdin).map_err(|e| format!("could not start {program}: stdin: {e}"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    Ok((cmd, program.clone()))
}

/// The body in a file the handler reads from its start: a memfd sealed
/// against any change, or (where memfd is refused) an unlinked temp file.
/// A pipe fed while the handler runs would leave it a body cut short when
/// hookd dies mid-write; a file is complete before the handler starts.
fn sealed_stdin(body: &[u8]) -> io::Result<File> {
    let name = c"hookd-body";
    // SAFETY: memfd_create takes a NUL-terminated name and flags; a negative
    // result is an error and nothing is owned.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    let (mut file, sealable) = if fd >= 0 {
        // SAFETY: fd is a fresh descriptor we own.
        (unsafe { File::from_raw_fd(fd) }, true)
    } else {
        (tempfile::tempfile()?, false)
    };
    file.write_all(body)?;
    if sealable {
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a descriptor we own; failure is reported, not UB.
        if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    file.rewind()?;
    Ok(file)
}

/// The process group of a just-spawned leader, with what identifies it.
fn identify(pid: u32) -> Option<Started> {
    let pgid = i32::try_from(pid).ok().filter(|&p| p > 1)?;
    Some(Started { pgid, start_ticks: start_ticks(pgid)?, boot_id: boot_id()? })
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|s| s.trim().to_string())
}

/// Field 22 of `/proc/PID/stat` (after the parenthesised command name).
fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    // Fields after the name start at field 3 (state); starttime is field 22.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// End the process group of a handler a previous hookd started and never
/// saw end, if its leader is still that same process (same boot, same
/// start time); a pid reused by anything else is left alone. True when
/// the group was signalled.
pub fn end_interrupted(who: &Started) -> bool {
    if who.pgid <= 1 || boot_id().as_deref() != Some(who.boot_id.as_str()) {
        return false;
    }
    if start_ticks(who.pgid) != Some(who.start_ticks) {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; ESRCH is fine.
    unsafe { libc::kill(-who.pgid, libc::SIGKILL) == 0 }
}

/// Collects output and waits for the child, enforcing the timeout and drain grace.
async fn supervise(mut child: Child, timeout: Duration, tail: &mut Tail, whole: &mut Whole) -> CommandExit {
    let group = GroupGuard::new(child.id());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let mut io = pin!(collect(stdout, stderr, tail, whole));
    let mut io_done = false;
    let waited = tokio::time::timeout(timeout, wait_alongside(&mut child, io.as_mut(), &mut io_done)).await;
    let exit = match waited {
        Ok(Ok(status)) => exit_of(status),
        Ok(Err(e)) => {
            group.kill();
            CommandExit::SpawnFailed(format!("waiting for handler: {e}"))
        }
        Err(_elapsed) => {
            group.kill();
            reap(&mut child).await;
            CommandExit::TimedOut
        }
    };
    if !io_done && tokio::time::timeout(DRAIN_GRACE, &mut io).await.is_err() {
        tracing::debug!("handler pipes still open after exit; killing its process group");
        group.kill();
    }
    group.disarm();
    exit
}

/// Waits for the child while driving `io`, which may finish first (e.g. the child closed its pipes).
async fn wait_alongside<F: Future>(
    child: &mut Child,
    mut io: Pin<&mut F>,
    io_done: &mut bool,
) -> io::Result<ExitStatus> {
    loop {
        tokio::select! {
            status = child.wait() => return status,
            _ = &mut io, if !*io_done => *io_done = true,
        }
    }
}

async fn reap(child: &mut Child) {
    // Fallback in case the group kill was impossible (no pid); harmless if already dead.
    let _ = child.start_kill();
    if let Err(e) = child.wait().await {
        tracing::debug!(error = %e, "reaping timed-out handler failed");
    }
}

fn exit_of(status: ExitStatus) -> CommandExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => CommandExit::Code(code),
        (None, Some(sig)) => CommandExit::Signal(sig),
        (None, None) => CommandExit::Code(-1),
    }
}

async fn collect(mut out: Option<ChildStdout>, mut err: Option<ChildStderr>, tail: &mut Tail, whole: &mut Whole) {
    let (mut a, mut b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    while out.is_some() || err.is_some() {
        tokio::select! {
            n = read_some(&mut out, &mut a) => {
                whole.push(&a[..n]);
                tail.accept(&mut out, &a[..n])
            }
            n = read_some(&mut err, &mut b) => tail.accept(&mut err, &b[..n]),
        }
    }
}

/// One read; 0 means EOF or error. A closed (`None`) pipe never completes.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> usize {
    match pipe {
        Some(r) => r.read(buf).await.unwrap_or(0),
        None => std::future::pending().await,
    }
}

/// Kills the handler's process group; also on drop, so a cancelled `run` leaves no orphans.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        // process_group(0) makes the child's pid its pgid; never signal group 0/1 by mistake.
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).filter(|&p| p > 1);
        Self { pgid }
    }

    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: kill(2) has no memory-safety preconditions; ESRCH (group gone) is fine.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }

    fn disarm(mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `cap` bytes of output.
struct Tail {
    cap: usize,
    buf: VecDeque<u8>,
}

impl Tail {
    fn new(cap: usize) -> Self {
        Self { cap, buf: VecDeque::with_capacity(cap.min(64 * 1024)) }
    }

    /// Appends a read result; an empty chunk (EOF) closes the pipe it came from.
    fn accept<R>(&mut self, pipe: &mut Option<R>, chunk: &[u8]) {
        if chunk.is_empty() {
            *pipe = None;
        } else {
            self.push(chunk);
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let keep = &chunk[chunk.len().saturating_sub(self.cap)..];
        let excess = (self.buf.len() + keep.len()).saturating_sub(self.cap);
        self.buf.drain(..excess);
        self.buf.extend(keep);
    }

    fn into_string(mut self) -> String {
        let cap = self.cap;
        let bytes = self.buf.make_contiguous();
        // A cut may have split a UTF-8 sequence; drop its orphaned continuation bytes.
        let skip = bytes.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count();
        let mut s = String::from_utf8_lossy(&bytes[skip..]).into_owned();
        // Replacement characters can make the text longer than the bytes; re-clamp.
        let mut start = s.len().saturating_sub(cap);
        while !s.is_char_boundary(start) {
            start += 1;
        }
        s.drain(..start);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, stdin: impl Into<Bytes>, timeout_ms: u64) -> CommandSpec {
        CommandSpec {
            cwd: None,
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            stdin: stdin.into(),
            timeout: Duration::from_millis(timeout_ms),
            tail_bytes: 4096,
            stdout_bytes: 0,
            on_start: None,
        }
    }

    /// Gone, or a zombie (PID 1 in a container may never reap orphans).
    fn gone(pid: i32) -> bool {
        // SAFETY: signal 0 only probes for existence.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return true;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'))
    }

    async fn assert_gone(pid: i32) {
        for _ in 0..100 {
            if gone(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("grandchild {pid} survived");
    }

    fn pid_in(out: &str) -> i32 {
        out.trim().parse().unwrap_or_else(|_| panic!("no pid in {out:?}"))
    }

    #[tokio::test]
    async fn exit_code_and_signal_propagate() {
        assert_eq!(run(sh("exit 7", "", 5000)).await.exit, CommandExit::Code(7));
        let r = run(sh("kill -TERM $$", "", 5000)).await;
        assert_eq!(r.exit, CommandExit::Signal(libc::SIGTERM));
    }

    #[tokio::test]
    async fn the_environment_is_only_what_was_handed() {
        let mut spec = sh("env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | sort", "", 5000);
        spec.env.push(("HOOKD_EVENT".into(), "push".into()));
        let r = run(spec).await;
        assert_eq!(r.exit, CommandExit::Code(0));
        assert_eq!(r.output_tail.trim(), "HOOKD_EVENT=push");
    }

    #[tokio::test]
    async fn stdin_is_a_sealed_complete_file() {
        // A file, not a pipe: its size is known up front, and writes fail.
        let script = "stat -L -c %s /dev/stdin; echo x >> /dev/stdin 2>/dev/null && echo writable || echo sealed";
        let r = run(sh(script, vec![b'a'; 70_000], 5000)).await;
        assert_eq!(r.exit, CommandExit::Code(0));
        assert_eq!(r.output_tail.split_whitespace().collect::<Vec<_>>(), ["70000", "sealed"]);
    }

    #[tokio::test]
    async fn on_start_names_the_group_and_end_interrupted_ends_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut spec = sh("sleep 30 & echo $!; wait", "", 60_000);
        spec.on_start = Some(Box::new(move |who| tx.send(who).unwrap_or(())));
        let running = tokio::spawn(run(spec));
        let who = tokio::task::spawn_blocking(move || rx.recv()).await.unwrap().unwrap();
        // Let the shell print its child's pid before the group is ended.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!end_interrupted(&Started { start_ticks: who.start_ticks + 1, ..who.clone() }));
        assert!(!end_interrupted(&Started { boot_id: "another boot".into(), ..who.clone() }));
        assert!(end_interrupted(&who));
        let r = running.await.unwrap();
        assert_eq!(r.exit, CommandExit::Signal(libc::SIGKILL));
        assert_gone(pid_in(&r.output_tail)).await;
    }

    #[tokio::test]
    async fn stdin_reaches_handler_and_stderr_is_captured() {
        let r = run(sh("wc -c; echo oops >&2", vec![b'a'; 12345], 5000)).await;
        assert_eq!(r.exit, CommandExit::Code(0));
        // Separate pipes: their relative order is not guaranteed.
        let mut words: Vec<_> = r.output_tail.split_whitespace().collect();
        words.sort_unstable();
        assert_eq!(words, ["12345", "oops"]);
    }

    #[tokio::test]
    async fn big_stdin_to_non_reader_does_not_deadlock() {
        let r = run(sh("exit 0", vec![0u8; 10 << 20], 10_000)).await;
        assert_eq!(r.exit, CommandExit::Code(0));
    }

    #[tokio::test]
    async fn flood_keeps_only_the_tail() {
        let r = run(sh("yes | head -c 50000000; echo END", "", 30_000)).await;
        assert_eq!(r.exit, CommandExit::Code(0));
        assert!(r.output_tail.len() <= 4096, "{}", r.output_tail.len());
        assert!(r.output_tail.ends_with("y\nEND\n"));
    }

    #[tokio::test]
    async fn timeout_kills_grandchildren() {
        let r = run(sh("sleep 30 & echo $!; wait", "", 500)).await;
        assert_eq!(r.exit, CommandExit::TimedOut);
        assert_gone(pid_in(&r.output_tail)).await;
    }

    #[tokio::test]
    async fn grandchild_holding_stdout_does_not_hang() {
        let r = run(sh("sleep 30 & echo $!; exit 0", "", 60_000)).await;
        assert_eq!(r.exit, CommandExit::Code(0));
        assert!(r.duration < Duration::from_secs(5), "{:?}", r.duration);
        assert_gone(pid_in(&r.output_tail)).await;
    }

    #[tokio::test]
    async fn missing_program_is_spawn_failure() {
        let mut spec = sh("", "", 1000);
        spec.argv = vec!["/nonexistent/hookd-handler".into()];
        let r = run(spec).await;
        assert!(matches!(r.exit, CommandExit::SpawnFailed(ref e) if e.contains("No such file")));
        spec = sh("", "", 1000);
        spec.argv.clear();
        assert!(matches!(run(spec).await.exit, CommandExit::SpawnFailed(_)));
    }

    #[tokio::test]
    async fn stdout_alone_is_kept_whole_up_to_its_cap() {
        let mut spec = sh("printf '<Response/>'; echo noise >&2", "", 5000);
        spec.stdout_bytes = 11;
        assert_eq!(run(spec).await.stdout.as_deref(), Some(&b"<Response/>"[..]), "stderr is not in it");
        let mut spec = sh("printf '<Response/>!'", "", 5000);
        spec.stdout_bytes = 11;
        assert_eq!(run(spec).await.stdout, None, "one byte over is no answer");
        assert_eq!(run(sh("echo hi", "", 5000)).await.stdout, None, "not asked for");
    }

    #[test]
    fn tail_clamps_split_utf8() {
        let mut t = Tail::new(4);
        t.push("aé".as_bytes());
        t.push("xé".as_bytes());
        assert_eq!(t.into_string(), "xé");
    }
}
