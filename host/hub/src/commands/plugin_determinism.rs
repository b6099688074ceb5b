//! `hub plugin test --determinism`: the same records through the real pipeline several
//! times, each run with a fresh engine and store in memory and every plugin call in a
//! fresh sandbox, and where the component imports WASI, each run with another wall
//! clock, monotonic clock and random seed ([`WasiSeed`]). The payloads of every run must
//! equal the first run's byte for byte; the first difference is named by payload, transfer
//! and byte offset.
//!
//! What it proves: the bytes do not depend on the sandbox, the clocks or randomness, for
//! these records and settings. What it cannot: that other records would be encoded
//! deterministically too, or that the plugin does not depend on something that is the
//! same in every run (the hub's version, the fixed context of `hub plugin test`).

use std::sync::Arc;

use anyhow::Result;
use hub_engine::pipeline::{self, first_difference};
use hub_plugin_sdk::Response;
use hub_runtime::{Plugin, WasiSeed};
use serde::Serialize;

use super::plugin_test::{TARGET, engine, queue_valid};

/// What the check found, for the report and `--json`.
#[derive(Debug, Serialize)]
pub(super) struct Determinism {
    /// How many times the records were encoded.
    pub runs: u32,
    /// Whether the clocks and randomness were varied (only a WASI plugin sees them).
    pub varied_wasi: bool,
    /// Payloads compared in each run.
    pub payloads: usize,
    /// The first difference; `None`: every run gave the same bytes.
    pub difference: Option<String>,
}

/// One run's result: every payload in creation order, and the batches not encoded.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    payloads: Vec<Encoded>,
    errors: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct Encoded {
    transfer: i64,
    name: String,
    bytes: Vec<u8>,
}

/// Encodes the records `runs` times (at least two) and compares each run with the first.
pub(super) fn check(
    plugin: &Plugin,
    file: &std::path::Path,
    settings: &toml::Table,
    text: &str,
    response: Option<Response>,
    runs: u32,
) -> Result<Determinism> {
    let runs = runs.max(2);
    let mut first: Option<Run> = None;
    let mut difference = None;
    for n in 1..=runs {
        let seeded = Arc::new(plugin.seeded(WasiSeed::nth(u64::from(n))));
        let mut engine = engine(file, seeded, settings.clone(), response.clone())?;
        let unanswered = response.is_none()
            && plugin.info().delivery == hub_plugin_sdk::Delivery::RequestResponse;
        let run = run_once(&mut engine, text, unanswered)?;
        match &first {
            None => first = Some(run),
            Some(one) => {
                if let Some(d) = compare(plugin.name(), one, &run, n) {
                    difference = Some(d);
                    break;
                }
            }
        }
    }
    let first = first.unwrap_or(Run {
        payloads: Vec::new(),
        errors: Vec::new(),
    });
    // A run that could not encode at all (the pipeline's own second encode differed, a
    // crash) is no proof of determinism either.
    if difference.is_none() && first.payloads.is_empty() {
        difference = Some(match first.errors.first() {
            Some(e) => format!("nothing was encoded, so nothing could be compared: {e}"),
            None => "nothing was encoded, so nothing could be compared".into(),
        });
    }
    Ok(Determinism {
        runs,
        varied_wasi: plugin.uses_wasi(),
        payloads: first.payloads.len(),
        difference,
    })
}

/// Enqueues the valid records and sends them, as the report's run does; returns what was
/// encoded, read back from the store.
fn run_once(engine: &mut hub_engine::Engine, text: &str, unanswered: bool) -> Result<Run> {
    queue_valid(engine, text)?;
    let mut errors = Vec::new();
    match pipeline::send(engine, TARGET, false) {
        Ok(sent) => errors = sent.errors,
        // Without an answer a request cannot complete; what it carried is still compared.
        Err(pipeline::SendError::Delivery { .. }) if unanswered => {}
        Err(e) => errors.push(e.to_string()),
    }
    let mut payloads = Vec::new();
    let mut id = 1;
    while let Ok(transfer) = engine.store.transfer(id) {
        for p in &transfer.payloads {
            payloads.push(Encoded {
                transfer: transfer.id,
                name: p.name.clone(),
                bytes: engine.store.payload_bytes(p.id)?,
            });
        }
        id += 1;
    }
    Ok(Run { payloads, errors })
}

/// The first difference between run 1 and run `n`, in one line.
fn compare(plugin: &str, one: &Run, other: &Run, n: u32) -> Option<String> {
    let lead = format!("plugin {plugin} is not deterministic");
    if one.errors != other.errors {
        let say = |r: &Run| r.errors.first().cloned().unwrap_or_else(|| "none".into());
        return Some(format!(
            "{lead}: run 1 and run {n} failed differently (run 1: {}; run {n}: {})",
            say(one),
            say(other)
        ));
    }
    for (i, (a, b)) in one.payloads.iter().zip(&other.payloads).enumerate() {
        if a.name != b.name || a.transfer != b.transfer {
            return Some(format!(
                "{lead}: payload {} is `{}` (transfer {}) in run 1 but `{}` (transfer {}) in run {n}",
                i + 1,
                a.name,
                a.transfer,
                b.name,
                b.transfer
            ));
        }
        if let Some(at) = first_difference(&a.bytes, &b.bytes) {
            let byte = |v: &[u8]| {
                v.get(at)
                    .map_or("its end".to_string(), |b| format!("0x{b:02x}"))
            };
            return Some(format!(
                "{lead}: payload `{}` (transfer {}) differs at byte offset {at} between run 1 and run {n} \
                 (run 1 has {}, run {n} has {}; sizes {} and {} bytes)",
                a.name,
                a.transfer,
                byte(&a.bytes),
                byte(&b.bytes),
                a.bytes.len(),
                b.bytes.len()
            ));
        }
    }
    if one.payloads.len() != other.payloads.len() {
        return Some(format!(
            "{lead}: run 1 made {} payload(s), run {n} {}",
            one.payloads.len(),
            other.payloads.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(bytes: &[u8]) -> Run {
        Run {
            payloads: vec![Encoded {
                transfer: 1,
                name: "a.txt".into(),
                bytes: bytes.to_vec(),
            }],
            errors: Vec::new(),
        }
    }

    #[test]
    fn the_first_differing_byte_is_named_with_the_payload() {
        let d = compare("p", &run(b"nonce 01"), &run(b"nonce 02"), 2).unwrap_or_default();
        assert!(d.contains("payload `a.txt` (transfer 1)"), "{d}");
        assert!(d.contains("byte offset 7"), "{d}");
        assert!(d.contains("run 1 has 0x31, run 2 has 0x32"), "{d}");
        assert_eq!(compare("p", &run(b"same"), &run(b"same"), 2), None);
    }
}
