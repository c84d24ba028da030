//! The durable part of flow control: which routes are paused (since when)
//! and which breakers are open (until when), in `<storage.path>/flow.json`,
//! replaced whole and atomically (a temporary file, `fdatasync`, rename,
//! the directory synced) on each change — pauses, resumes and breaker
//! transitions are rare. A plain file, not the log: it must outlive the
//! log's trimming and an index rebuild, and an operator may read it.
//! Never decides anything; `flow` owns the rules.

use super::{Result, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const FILE: &str = "flow.json";

/// One route's saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteControl {
    pub source: String,
    pub route: String,
    /// Paused by an operator at this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_since_ms: Option<u64>,
    /// Its breaker is open until this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_open_until_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FlowFile {
    version: u32,
    routes: Vec<RouteControl>,
}

impl Store {
    /// The saved route states (none saved: empty).
    pub fn route_controls(&self) -> Result<Vec<RouteControl>> {
        read(&self.data_dir.join(FILE))
    }

    /// Replace the saved route states; durable when this returns. Routes
    /// with nothing to remember are left out.
    pub fn save_route_controls(&self, routes: &[RouteControl]) -> Result<()> {
        let _one = self.flow_lock.lock().unwrap_or_else(|p| p.into_inner());
        let routes = routes.iter().filter(|r| r.paused_since_ms.is_some() || r.breaker_open_until_ms.is_some());
        let file = FlowFile { version: 1, routes: routes.cloned().collect() };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Io(format!("{FILE}: {e}")))?;
        write_atomically(&self.data_dir, FILE, &text).map_err(|e| StoreError::Io(format!("{FILE}: {e}")))
    }
}

fn read(path: &Path) -> Result<Vec<RouteControl>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
    };
    let file: FlowFile = serde_json::from_slice(&text).map_err(|e| {
        StoreError::Damaged(format!("{}: {e} (remove it to forget pauses and open breakers)", path.display()))
    })?;
    if file.version != 1 {
        return Err(StoreError::Damaged(format!(
            "{}: version {} is not one this hookd reads",
            path.display(),
            file.version
        )));
    }
    Ok(file.routes)
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_states_read_back_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE);
        assert_eq!(read(&path).expect("missing"), vec![]);
        let r = RouteControl {
            source: "s".into(),
            route: "r".into(),
            paused_since_ms: Some(5),
            breaker_open_until_ms: None,
        };
        let file = FlowFile { version: 1, routes: vec![r.clone()] };
        write_atomically(dir.path(), FILE, &serde_json::to_vec(&file).expect("json")).expect("write");
        assert_eq!(read(&path).expect("read"), vec![r]);
        std::fs::write(&path, b"{").expect("write");
        assert!(matches!(read(&path), Err(StoreError::Damaged(_))));
    }
}
