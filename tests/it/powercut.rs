//! Power cuts, simulated: `tests/pcsim/` (an `LD_PRELOAD` shim that keeps
//! only what each fsync/fdatasync made durable, and a campaign driver; see
//! its README) runs the real binary under load with handlers that print
//! blob-sized output, cuts the power at a random moment, rebuilds the disk
//! as it would come back, opens it with a plain hookd and checks that every
//! event that ever got a 2xx is there with its body, that re-sends are
//! still duplicates, and, at the end, that every event was delivered.
//! Both of the simulator's modes run: exact (a sync makes durable exactly
//! what was written before it) and reordering (a disk cache may persist
//! later writes before earlier ones). A few cycles each here; set
//! `HOOKD_POWERCUT_CYCLES` for more.

use std::path::{Path, PathBuf};
use std::process::Command;

fn cycles() -> u32 {
    std::env::var("HOOKD_POWERCUT_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

fn pcsim() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pcsim")
}

/// Run one campaign; its summary line, after asserting it lost nothing.
fn campaign(name: &str, seed: u32, extra: &[&str]) -> String {
    let work = tempfile::tempdir().expect("tempdir");
    let shim = work.path().join("pcsim.so");
    let built = Command::new("sh").arg(pcsim().join("build.sh")).arg(&shim).output().expect("run build.sh (needs cc)");
    assert!(built.status.success(), "building the shim failed: {}", String::from_utf8_lossy(&built.stderr));
    let out = Command::new("python3")
        .arg(pcsim().join("campaign.py"))
        .arg(cycles().to_string())
        .args(["--seed", &seed.to_string(), "--hookd", crate::support::BIN, "--shim"])
        .arg(&shim)
        .arg("--work")
        .arg(work.path().join("w"))
        .args(extra)
        .output()
        .expect("run campaign.py (needs python3)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = stdout.lines().rev().find(|l| l.contains("\"summary\": true")).unwrap_or_default().to_string();
    assert!(
        out.status.success(),
        "{name}: the power-cut campaign failed (exit {:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&summary).unwrap_or_else(|_| panic!("{name}: no summary:\n{stdout}"));
    assert_eq!(v["lost"], 0, "{name}: {summary}");
    assert_eq!(v["unopenable"], 0, "{name}: {summary}");
    assert_eq!(v["wrong"], 0, "{name}: {summary}");
    assert!(v["acked"].as_u64().unwrap_or(0) > 0, "{name}: nothing was acknowledged, so nothing was tested: {summary}");
    eprintln!("{name}: {summary}");
    summary
}

#[test]
fn exact_power_cuts_lose_no_acknowledged_event() {
    campaign("exact", 7, &["--exact", "--no-final"]);
}

#[test]
fn reordering_power_cuts_lose_no_acknowledged_event() {
    campaign("reordering", 11, &[]);
}
