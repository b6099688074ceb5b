//! The hub's pure logic: the configuration model, record input (NDJSON), the checks on
//! names plugins propose, time, and the states records and transfers move through.
//!
//! Nothing here does I/O, so everything here is tested with plain unit tests and reused by
//! `hub check`, the CLI and the service alike.
#![deny(unsafe_code)]

pub mod api;
pub mod config;
pub mod input;
pub mod names;
pub mod request;
pub mod schedule;
pub mod state;
pub mod time;
pub mod transport;
