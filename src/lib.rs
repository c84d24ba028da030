//! hookd: an inbound webhook receiver. Modules in the order the data travels:
//!
//! - `config`   — TOML ⊕ env → validated `Config` (sources, routes, secrets)
//! - `http`     — the accept loop: HTTP/1.1, timeouts, connection cap, graceful drain
//! - `ingress`  — `POST /webhooks/{source}`: the SPEC §4 checks in order, then the ack
//! - `verify`   — pure signature checks per sender kind, and event id/type extraction
//! - `route`    — event-type globs → routes and their handlers
//! - `store`    — the only sled user: dedup + event log + deliveries, group-committed
//! - `queue`    — wake-ups and the set of running deliveries (the store is the truth)
//! - `dispatch` — runs due deliveries: command and HTTP-callback handlers
//! - `retry`    — pure backoff schedule and outcome → next state
//! - `serve`    — wires the long-lived tasks and the ordered shutdown
//! - `recover`  — reopens the store after sled's sticky I/O error (disk full)
//! - `cli`      — the command line and exit codes

pub mod admin;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod http;
pub mod ingress;
pub mod janitor;
pub mod metrics;
pub mod queue;
pub mod recover;
pub mod retry;
pub mod route;
pub mod serve;
pub mod store;
pub mod verify;
