//! Diagnostics: what a plugin wants a person to read in the hub's log (contract 0.2).
//!
//! A plugin cannot log (it imports nothing), so it collects notes here during a call; the
//! adapter hands them to the host beside `encode`'s payloads and `interpret`'s outcomes,
//! and the host writes them to its log with the plugin's name. Natively, tests read them
//! with [`take`].
//!
//! ```
//! use hub_plugin_sdk::diag;
//! diag::warn_record("r1", "amount rounded to whole cents");
//! let notes = diag::take();
//! assert_eq!(notes[0].record_id.as_deref(), Some("r1"));
//! assert!(diag::take().is_empty());
//! ```

use std::cell::RefCell;

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticLevel {
    /// Worth knowing.
    Info,
    /// Worth looking at.
    Warning,
}

/// One note from the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How much it matters.
    pub level: DiagnosticLevel,
    /// The record it is about, if one.
    pub record_id: Option<String>,
    /// The note.
    pub message: String,
}

/// Notes kept per call: a fresh sandbox per call on the host, one thread natively.
const MAX: usize = 64;

thread_local! {
    static NOTES: RefCell<Vec<Diagnostic>> = const { RefCell::new(Vec::new()) };
}

fn push(level: DiagnosticLevel, record_id: Option<&str>, message: String) {
    NOTES.with(|n| {
        let mut n = n.borrow_mut();
        if n.len() < MAX {
            n.push(Diagnostic {
                level,
                record_id: record_id.map(str::to_string),
                message,
            });
        }
    });
}

/// A note worth knowing.
pub fn info(message: impl Into<String>) {
    push(DiagnosticLevel::Info, None, message.into());
}

/// A note worth looking at.
pub fn warn(message: impl Into<String>) {
    push(DiagnosticLevel::Warning, None, message.into());
}

/// A note worth looking at, about one record.
pub fn warn_record(record_id: &str, message: impl Into<String>) {
    push(DiagnosticLevel::Warning, Some(record_id), message.into());
}

/// The notes so far, emptied (the adapter calls it after each call; tests may too).
pub fn take() -> Vec<Diagnostic> {
    NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()))
}
