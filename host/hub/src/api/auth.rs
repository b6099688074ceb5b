//! Bearer tokens: one per source system (its targets of its own file), one operator
//! token per file (every target of that file, and the status page), and one console
//! token (the operator of every file served together; a request names its
//! municipality). Tokens are read once at start, kept only as SHA-256 digests, compared
//! in constant time, and never logged.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Result, bail};
use axum::http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::service::Site;

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The source system's name, or `operator`.
    pub name: String,
    /// Index of its site (configuration file).
    pub site: usize,
    /// The targets it may use; `None`: every target of its site (the operator).
    pub targets: Option<BTreeSet<String>>,
    /// The console: the operator of every site; `site` is the one the request names.
    pub console: bool,
}

impl Caller {
    pub fn may(&self, target: &str) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(target))
    }
}

struct Entry {
    digest: [u8; 32],
    caller: Caller,
}

/// Every token of every site.
pub struct Tokens(Vec<Entry>);

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// Equal without an early exit, so the time taken says nothing about the token.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Tokens {
    /// Reads every configured token; a missing or short one stops the start (named by
    /// its source, never its value), and so does one token used twice.
    pub fn load(sites: &[Arc<Site>]) -> Result<Tokens> {
        let mut entries: Vec<Entry> = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            let Some(api) = &site.config.api else {
                continue;
            };
            let file = site.config.file.display();
            if let Some(src) = api.console_source() {
                let value = src
                    .read()
                    .map_err(|e| anyhow::anyhow!("{file}: api console token: {e}"))?;
                let d = digest(value.as_bytes());
                match entries.iter().find(|e| same(&e.digest, &d)) {
                    // Every file that includes the shared settings names it again.
                    Some(e) if e.caller.console => {}
                    Some(e) => bail!(
                        "{file}: api console token: it is also the token `{}` of {}; give the console its own",
                        e.caller.name,
                        sites[e.caller.site].config.file.display()
                    ),
                    None => entries.push(Entry {
                        digest: d,
                        caller: Caller {
                            name: "console".into(),
                            site: i,
                            targets: None,
                            console: true,
                        },
                    }),
                }
            }
            let mut found = Vec::new();
            if let Some(src) = api.operator_source() {
                found.push((src, "operator".to_string(), None));
            }
            for t in &api.tokens {
                if let Some(src) = t.source() {
                    found.push((
                        src,
                        t.name.clone(),
                        Some(t.targets.iter().cloned().collect()),
                    ));
                }
            }
            for (src, name, targets) in found {
                let value = src
                    .read()
                    .map_err(|e| anyhow::anyhow!("{file}: api token {name}: {e}"))?;
                let d = digest(value.as_bytes());
                if let Some(e) = entries.iter().find(|e| same(&e.digest, &d)) {
                    bail!(
                        "{file}: api token {name}: the same token is configured twice (also `{}` of {}); give each source system, each file and the console its own",
                        e.caller.name,
                        sites[e.caller.site].config.file.display()
                    );
                }
                entries.push(Entry {
                    digest: d,
                    caller: Caller {
                        name,
                        site: i,
                        targets,
                        console: false,
                    },
                });
            }
        }
        Ok(Tokens(entries))
    }

    /// The caller a request's `Authorization: Bearer …` belongs to, or 401.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        // Every refusal is logged with its reason (never the token).
        let unauthorized = |m: &str| {
            tracing::warn!(reason = m, "api: login refused");
            ApiError::new(StatusCode::UNAUTHORIZED, m)
        };
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token>"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
        let d = digest(token.as_bytes());
        // Look at every entry, so the time does not say which one matched.
        let mut found = None;
        for e in &self.0 {
            if same(&e.digest, &d) && found.is_none() {
                found = Some(e.caller.clone());
            }
        }
        found.ok_or_else(|| unauthorized("unknown token"))
    }
}
