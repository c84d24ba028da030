//! Integration tests: every test starts the real `hookd` binary on a free
//! loopback port with a temp data dir and talks to it over TCP.

mod cli;
mod dispatch;
mod durability;
mod ingress;
mod packaging;
mod support;
