//! The hub's engine: the one pipeline every target shares, written against ports.
//!
//! ```text
//!             ┌──────────────────────── hub-engine ─────────────────────────┐
//!  enqueue ──▶│ outbox ─claim─▶ create (number) ─▶ deliver ─▶ outcomes      │
//!             │   │                 │                  │          │         │
//!             └───┼─────────────────┼──────────────────┼──────────┼─────────┘
//!                 ▼                 ▼                  ▼          ▼
//!         Store (HubStore)    Encoder (plugin)     Transport    Clock
//!         SQLite | PostgreSQL  WASM | native test   dir, HTTP,   system |
//!         (hub-store)          (hub-runtime)        FTPS, SFTP   fixed
//!                                                   | capturing
//! ```
//!
//! The receiving side ([`inbound`]) is here too, behind its own port: the format of the
//! transports that arrive ([`inbound::format::InboundFormat`]; SurvNet in the hub).
//!
//! The CLI, `hub serve` and `hub plugin test` (all in the `hub` crate) build an
//! [`Engine`] with their ports and call [`pipeline`] on it; the engine itself does no
//! WASM and opens no connection, so its tests run with a native encoder, an in-memory
//! store and a capturing transport ([`capture`]).
#![deny(unsafe_code)]

pub mod capture;
mod engine;
pub mod fault;
pub mod inbound;
pub mod package;
pub mod pipeline;
pub mod ports;
pub mod progress;

pub use engine::{Engine, EngineError, Ports, ReloadEvent, TargetRuntime, check_target, stamp};
