//! The hub's shells over the engine (`hub-engine`): the CLI commands, `hub serve` with
//! its API and page, SurvNet as a receiving format (`survnet`), and the wiring of store, WASM plugins and real
//! transports for one configuration (`app`).
#![deny(unsafe_code)]

pub mod api;
pub mod app;
pub mod certificates;
pub mod cli;
pub mod commands;
pub mod encryption;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod output;
pub mod progress;
pub mod retention;
pub mod service;
pub mod survnet;
pub mod view;

// The engine's modules keep their old paths for the shells and the tests.
pub use hub_engine::{fault, inbound, package, pipeline};
