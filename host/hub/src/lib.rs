//! The hub's runtime and command line: the pipeline every target shares, the CLI
//! commands, and the wiring of store, plugins and transports for one configuration.
#![deny(unsafe_code)]

pub mod api;
pub mod app;
pub mod certificates;
pub mod cli;
pub mod commands;
pub mod fault;
pub mod inbound;
pub mod output;
pub mod package;
pub mod pipeline;
pub mod progress;
pub mod retention;
pub mod service;
pub mod view;
