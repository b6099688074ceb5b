//! A transport that keeps what it is given: `hub plugin test` shows what the real pipeline
//! would deliver through it, and the engine's own tests count what arrived. It behaves
//! like a strict receiver: a final name is never replaced, and a request without a given
//! answer fails (permanently), so nothing is ever called delivered by default.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use hub_core::config::{Config, TargetConfig, TransportConfig};
use hub_core::transport::{Digest, RemoteState, Transport, TransportError};
use hub_plugin_sdk::{Question, Response};
use sha2::Digest as _;

use crate::ports::{Connector, OpenError};

/// A request as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub idempotency_key: String,
    /// Method, path and headers where the plugin shaped the request (contract 0.2.1).
    pub shape: Option<hub_plugin_sdk::RequestShape>,
}

/// Everything the transports of one [`CaptureConnector`] were given.
#[derive(Debug, Default)]
pub struct Captured {
    /// Files under their final names, in the order they were made final.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files under their temporary names.
    pub temp: BTreeMap<String, Vec<u8>>,
    /// Requests in the order they were sent.
    pub requests: Vec<Request>,
    /// The answer every request gets; none: each request fails.
    pub answer: Option<Response>,
    /// Steps to fail once each, by verb (`put_temp`, `make_final`, `request`), in order:
    /// a test makes the receiver drop a connection at exactly that step.
    pub fail_next: Vec<(&'static str, TransportError)>,
    /// Steps to fail once each after that many more of the same verb went through: the
    /// third file of a group, say.
    pub fail_after: Vec<(&'static str, usize, TransportError)>,
}

/// Hands out transports that all write into one shared [`Captured`].
#[derive(Debug, Clone, Default)]
pub struct CaptureConnector {
    shared: Arc<Mutex<Captured>>,
}

impl CaptureConnector {
    /// A connector whose requests all get `answer` (none: they fail).
    pub fn new(answer: Option<Response>) -> Self {
        let c = Self::default();
        c.captured().answer = answer;
        c
    }

    /// What has arrived so far.
    pub fn captured(&self) -> MutexGuard<'_, Captured> {
        // A test that panicked while holding it has already failed; its data is still fine.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Connector for CaptureConnector {
    fn open(
        &mut self,
        _config: &Config,
        _user: &str,
        target: &TargetConfig,
    ) -> Result<Box<dyn Transport>, OpenError> {
        Ok(Box::new(CapturingTransport {
            files: hub_core::transport::delivers_files(&target.transport),
            shared: self.shared.clone(),
        }))
    }

    fn open_plain(&mut self, transport: &TransportConfig) -> Result<Box<dyn Transport>, OpenError> {
        Ok(Box::new(CapturingTransport {
            files: hub_core::transport::delivers_files(transport),
            shared: self.shared.clone(),
        }))
    }
}

/// One connection of a [`CaptureConnector`].
#[derive(Debug)]
pub struct CapturingTransport {
    files: bool,
    shared: Arc<Mutex<Captured>>,
}

impl CapturingTransport {
    fn state(&self) -> MutexGuard<'_, Captured> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The failure a test asked for at this step, once.
    fn injected(&self, verb: &str) -> Result<(), TransportError> {
        let mut s = self.state();
        if let Some(i) = s.fail_next.iter().position(|(v, _)| *v == verb) {
            return Err(s.fail_next.remove(i).1);
        }
        if let Some(i) = s.fail_after.iter().position(|(v, _, _)| *v == verb) {
            if s.fail_after[i].1 == 0 {
                return Err(s.fail_after.remove(i).2);
            }
            s.fail_after[i].1 -= 1;
        }
        Ok(())
    }
}

impl Transport for CapturingTransport {
    fn endpoint(&self) -> String {
        "capture:".into()
    }

    fn put_temp(&mut self, name: &str, bytes: &[u8]) -> Result<(), TransportError> {
        self.injected("put_temp")?;
        self.state().temp.insert(name.to_string(), bytes.to_vec());
        Ok(())
    }

    fn make_final(&mut self, name: &str) -> Result<(), TransportError> {
        self.injected("make_final")?;
        let mut s = self.state();
        if s.files.iter().any(|(n, _)| n == name) {
            return Err(TransportError::permanent(format!(
                "{name} already exists on the receiver"
            )));
        }
        let bytes = s
            .temp
            .remove(name)
            .ok_or_else(|| TransportError::permanent(format!("{name}: no temporary file")))?;
        s.files.push((name.to_string(), bytes));
        Ok(())
    }

    fn remove_temp(&mut self, name: &str) -> Result<(), TransportError> {
        self.state().temp.remove(name);
        Ok(())
    }

    fn inspect(&mut self, name: &str) -> Result<RemoteState, TransportError> {
        let s = self.state();
        Ok(RemoteState {
            final_present: s.files.iter().any(|(n, _)| n == name),
            temp_present: s.temp.contains_key(name),
        })
    }

    fn digest(&mut self, name: &str) -> Result<Option<Digest>, TransportError> {
        let s = self.state();
        Ok(s.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| Digest {
                size: b.len() as u64,
                sha256: hex::encode(sha2::Sha256::digest(b)),
            }))
    }

    fn request(
        &mut self,
        name: &str,
        media_type: &str,
        bytes: &[u8],
        idempotency_key: &str,
        shape: Option<&hub_plugin_sdk::RequestShape>,
    ) -> Result<Response, TransportError> {
        self.injected("request")?;
        let mut s = self.state();
        s.requests.push(Request {
            name: name.to_string(),
            media_type: media_type.to_string(),
            bytes: bytes.to_vec(),
            idempotency_key: idempotency_key.to_string(),
            shape: shape.cloned(),
        });
        s.answer
            .clone()
            .ok_or_else(|| TransportError::permanent(format!("{name}: no answer was given")))
    }

    fn ask(&mut self, question: &Question) -> Result<Response, TransportError> {
        Err(TransportError::permanent(format!(
            "capture: cannot answer `{} {}`",
            question.method, question.path
        )))
    }

    fn health(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    fn delivers_files(&self) -> bool {
        self.files
    }
}
