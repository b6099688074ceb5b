//! End-to-end tests: the real `hub` binary, real plugins (built by `cargo xtask plugins`),
//! a real SQLite file and real folders. One test binary, so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

mod api;
mod browser;
mod cli;
pub mod console;
mod contract21;
mod crash;
mod determinism;
mod doubt;
mod encryption;
mod enqueue_stream;
mod folder;
mod hardening;
mod hostile;
mod identity;
mod import;
mod import_attack;
mod kitaplaner;
mod kitastat;
mod metrics;
mod operator;
mod pause;
mod pipelining;
mod plugin_notes;
mod prisme;
mod protection;
mod python;
mod reencode;
mod reload;
mod rki;
mod scaffold;
mod view;
mod workers;
