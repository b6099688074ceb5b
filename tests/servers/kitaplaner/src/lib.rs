//! A Kita-Planer 2 import server for tests and demos, with real mutual TLS.
//!
//! [`pki`] generates a test CA, a server certificate for `localhost`/`127.0.0.1` and client
//! identities as .p12 files (one modern, one legacy, one from an untrusted CA, one expired);
//! [`server::start`] serves `POST /kitaplaner/api/import` on an ephemeral port of 127.0.0.1,
//! requires a client certificate from the test CA, answers per record like the model in
//! the Kita-Planer plugin, and records what arrived (requests, records, client CNs) so a
//! test can count that each record arrived exactly once and which credential was used.
//!
//! ```no_run
//! use hub_test_kitaplaner_server::{Behaviour, Pki, start};
//! let dir = std::env::temp_dir().join("kita-pki");
//! let pki = Pki::generate(&dir).unwrap();
//! let server = start(&pki, Behaviour::default().reject("K1", &["STAMMDATENPRÜFUNG=FEHLGESCHLAGEN"]));
//! println!("{}", server.url());
//! ```

pub mod pki;
pub mod server;

pub use pki::{Identity, Pki, PkiError};
pub use server::{Behaviour, IMPORT_PATH, Received, ServerHandle, StartError, start, try_start};
