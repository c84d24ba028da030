//! Integration tests: every test starts the real `hookd` binary on a free
//! loopback port with a temp data dir and talks to it over TCP.

// The tests drive the real binary, so they start processes.
#![allow(clippy::disallowed_methods)]

mod acme;
mod admin_bodies;
mod backlog;
mod callbacks;
mod cli;
mod config_props;
mod console_api;
mod console_browser;
mod crash;
mod damage;
mod dispatch;
mod durability;
mod environment;
mod faults;
mod flow;
mod from_webhook;
mod header_props;
mod hostile;
mod ingress;
mod limits;
mod metrics_format;
mod nats;
mod neighbours;
mod operator;
mod packaging;
mod powercut;
mod recipes;
mod reply;
mod security;
mod send;
mod senders;
mod support;
mod tls;
