//! Integration tests: every test starts the real `hookd` binary on a free
//! loopback port with a temp data dir and talks to it over TCP.

mod backlog;
mod cli;
mod config_props;
mod crash;
mod dispatch;
mod durability;
mod faults;
mod header_props;
mod hostile;
mod ingress;
mod security;
mod senders;
mod support;
