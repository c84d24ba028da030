//! hookd: an inbound webhook receiver. Modules in the order the data travels:
//!
//! - `config`   — TOML ⊕ env → validated `Config` (sources, routes, secrets, admin, alerts)
//! - `http`     — the accept loop: HTTP/1.1 (plain or TLS), timeouts, connection cap, graceful drain
//! - `tls`      — rustls for ingress (files, ACME) and the https clients (callbacks, alerts)
//! - `ingress`  — `POST /webhooks/{source}`: the SPEC §4 checks in order, then the ack
//! - `verify`   — pure signature checks per sender kind, handshakes, id/type extraction, signing
//! - `route`    — event-type globs → routes and their handlers; `order_by` keys
//! - `store`    — the only sled user: dedup + event log + deliveries, group-committed
//! - `queue`    — wake-ups and the deliveries running now (the store is the truth)
//! - `dispatch` — runs due deliveries: command and HTTP-callback handlers, NATS JetStream, alerts
//! - `retry`    — pure backoff schedule and outcome → next state
//! - `janitor`  — retention of finished events and dedup keys
//! - `feed`     — what happens as it happens (`/v1/tail`) and per-minute counts of the last hour
//! - `admin`    — the admin API: events, DLQ, replay, retry, purge, tail, stats, metrics
//! - `console`  — the web console at `/ui/` on the admin listener: assets, login sessions
//! - `metrics`  — Prometheus counters, gauges and histograms
//! - `serve`    — wires the long-lived tasks, SIGHUP reload and the ordered shutdown
//! - `recover`  — reopens the store after sled's sticky I/O error (disk full)
//! - `notify`   — systemd readiness, stopping and watchdog notifications
//! - `cli`      — the command line, the admin API client, and exit codes

pub mod admin;
pub mod cli;
pub mod config;
pub mod console;
pub mod dispatch;
pub mod feed;
pub mod flow;
pub mod http;
pub mod ingress;
pub mod janitor;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod recover;
pub mod retry;
pub mod route;
pub mod serve;
pub mod store;
pub mod tls;
pub mod verify;
