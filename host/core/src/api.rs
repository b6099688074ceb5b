//! `[api]` in hub.toml: where `hub serve` listens and who may call it. Tokens live in
//! files or environment variables, never in hub.toml; each belongs to this file (one
//! municipality) and, for a source system, to the targets it names.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[api]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address `hub serve` listens on, e.g. `127.0.0.1:8080` (`hub serve --listen` wins).
    pub listen: Option<String>,
    /// The operator's token (status page, every target of this file): a variable …
    pub operator_token_env: Option<String>,
    /// … or a file whose first line is the token.
    pub operator_token_file: Option<PathBuf>,
    /// The console's token: the operator of every municipality `hub serve` serves
    /// together (a folder of files), usually written once in the shared file they
    /// include. A variable …
    pub console_token_env: Option<String>,
    /// … or a file whose first line is the token.
    pub console_token_file: Option<PathBuf>,
    /// One entry per source system.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// How long and how many (`[api.limits]`); the defaults suit most sites.
    pub limits: Option<ApiLimits>,
}

/// `[api.limits]`: what keeps `hub serve` answering when clients are slow or many. A
/// burst of status calls is shed (503 with `Retry-After`) before it can delay `/healthz`,
/// `/metrics` or an enqueue; a client that sends its headers or body too slowly is cut
/// off; a stop waits for requests under way only so long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiLimits {
    /// A request's headers must have arrived within this (slow-header clients).
    pub header_timeout_ms: u64,
    /// A whole request, body included, must be answered within this (408 after).
    pub request_timeout_ms: u64,
    /// Reads (status, transfers, log, doubts, views) at once; more are answered 503.
    pub max_concurrent_reads: usize,
    /// After SIGTERM, requests under way get this long to finish.
    pub shutdown_deadline_ms: u64,
    /// `/readyz` reports the store stalled when it does not answer within this.
    pub ready_timeout_ms: u64,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            header_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_concurrent_reads: 8,
            shutdown_deadline_ms: 20_000,
            ready_timeout_ms: 2_000,
        }
    }
}

/// `[[api.tokens]]`: one source system's credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// The source system, e.g. `kita-software`; signs its resolutions and appears in logs.
    pub name: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// The targets it may enqueue to and read.
    pub targets: Vec<String>,
}

/// Where a secret comes from, as hub.toml names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// The source of a `*_env`/`*_file` pair: `None` when neither is set, `Err` when both.
    pub fn from_pair(env: &Option<String>, file: &Option<PathBuf>) -> Option<Result<Self, ()>> {
        match (env, file) {
            (Some(v), None) => Some(Ok(SecretSource::Env(v.clone()))),
            (None, Some(f)) => Some(Ok(SecretSource::File(f.clone()))),
            (None, None) => None,
            (Some(_), Some(_)) => Some(Err(())),
        }
    }

    /// Reads a token (first line of a file), at least 16 characters. The error names the
    /// source, never a value.
    pub fn read(&self) -> Result<String, String> {
        let value = self.read_secret()?;
        if value.len() < 16 {
            return Err(format!("{self} holds a token shorter than 16 characters"));
        }
        Ok(value)
    }

    /// Reads the secret (first line of a file, trimmed), of any length: a password
    /// someone else chose. The error names the source, never a value.
    pub fn read_secret(&self) -> Result<String, String> {
        let value = match self {
            SecretSource::Env(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
            }
            SecretSource::File(f) => std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read {}: {e}", f.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        Ok(value.trim().to_string())
    }
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "environment variable {v}"),
            SecretSource::File(p) => write!(f, "file {}", p.display()),
        }
    }
}

impl ApiConfig {
    /// The operator token's source, if one is configured.
    pub fn operator_source(&self) -> Option<SecretSource> {
        SecretSource::from_pair(&self.operator_token_env, &self.operator_token_file)
            .and_then(Result::ok)
    }

    /// The console token's source, if one is configured.
    pub fn console_source(&self) -> Option<SecretSource> {
        SecretSource::from_pair(&self.console_token_env, &self.console_token_file)
            .and_then(Result::ok)
    }

    /// Problems with this section; `targets` are the file's target names.
    pub fn problems(&self, targets: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(l) = &self.listen
            && l.parse::<std::net::SocketAddr>().is_err()
        {
            problems.push(format!(
                "api.listen must be an address like 127.0.0.1:8080, found `{l}`"
            ));
        }
        if let Some(Err(())) =
            SecretSource::from_pair(&self.operator_token_env, &self.operator_token_file)
        {
            problems.push(
                "api: give one of operator_token_env and operator_token_file, not both".into(),
            );
        }
        if let Some(Err(())) =
            SecretSource::from_pair(&self.console_token_env, &self.console_token_file)
        {
            problems
                .push("api: give one of console_token_env and console_token_file, not both".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.tokens {
            if !names.insert(t.name.as_str()) {
                problems.push(format!("api.tokens: `{}` is defined twice", t.name));
            }
            match SecretSource::from_pair(&t.token_env, &t.token_file) {
                Some(Ok(_)) => {}
                _ => problems.push(format!(
                    "api.tokens `{}`: give exactly one of token_env and token_file (never the token itself)",
                    t.name
                )),
            }
            if t.targets.is_empty() {
                problems.push(format!("api.tokens `{}`: targets is empty", t.name));
            }
            for target in &t.targets {
                if !targets.contains(&target.as_str()) {
                    problems.push(format!(
                        "api.tokens `{}`: target `{target}` is not defined in this file",
                        t.name
                    ));
                }
            }
        }
        problems
    }

    /// Makes token files absolute (relative to hub.toml).
    pub(crate) fn resolve_paths(&mut self, resolve: &impl Fn(&Path) -> PathBuf) {
        if let Some(f) = &mut self.operator_token_file {
            *f = resolve(f);
        }
        if let Some(f) = &mut self.console_token_file {
            *f = resolve(f);
        }
        for t in &mut self.tokens {
            if let Some(f) = &mut t.token_file {
                *f = resolve(f);
            }
        }
    }
}

impl ApiToken {
    /// Where this token comes from (checked at parse time to be exactly one place).
    pub fn source(&self) -> Option<SecretSource> {
        SecretSource::from_pair(&self.token_env, &self.token_file).and_then(Result::ok)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::{Path, PathBuf};

    use super::SecretSource;
    use crate::config::Config;

    const BASE: &str = r#"
version = 1
[plugins.prisme]
path = "prisme.wasm"
[[target]]
name = "prisme"
plugin = "prisme"
transport = { type = "dir", path = "out" }
"#;

    fn parse(api: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/hub/a.toml"), &format!("{BASE}\n{api}"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tokens_come_from_files_or_variables_and_files_are_relative_to_the_config() {
        let c = parse(
            "[api]\nlisten = \"127.0.0.1:9000\"\noperator_token_file = \"op.token\"\n\
             [[api.tokens]]\nname = \"fin\"\ntoken_env = \"FIN\"\ntargets = [\"prisme\"]",
        )
        .unwrap();
        let api = c.api.unwrap();
        assert_eq!(
            api.operator_source(),
            Some(SecretSource::File(PathBuf::from("/etc/hub/op.token")))
        );
        assert_eq!(
            api.tokens[0].source(),
            Some(SecretSource::Env("FIN".into()))
        );
    }

    #[test]
    fn every_problem_is_named() {
        let e = parse(
            "[api]\nlisten = \"everywhere\"\noperator_token_env = \"A\"\noperator_token_file = \"b\"\n\
             [[api.tokens]]\nname = \"fin\"\ntargets = [\"nope\"]\n\
             [[api.tokens]]\nname = \"fin\"\ntoken_env = \"X\"\ntoken_file = \"y\"\ntargets = []",
        )
        .unwrap_err();
        for part in [
            "api.listen must be an address",
            "not both",
            "`fin` is defined twice",
            "give exactly one of token_env and token_file",
            "target `nope` is not defined",
            "targets is empty",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        // A token in the file itself is an unknown key, not a secret accepted.
        let e = parse("[api]\ntoken = \"s3cret-s3cret-s3cret\"").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        assert!(parse("").unwrap().api.is_none());
    }

    #[test]
    fn a_short_or_missing_token_is_refused_without_showing_it() {
        let dir = std::env::temp_dir().join(format!("hub-api-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t");
        std::fs::write(&f, "short\n").unwrap();
        let e = SecretSource::File(f.clone()).read().unwrap_err();
        assert!(
            e.contains("shorter than 16") && !e.contains("short\n"),
            "{e}"
        );
        std::fs::write(&f, "a-long-enough-token-value\nsecond line\n").unwrap();
        assert_eq!(
            SecretSource::File(f).read().unwrap(),
            "a-long-enough-token-value"
        );
        let e = SecretSource::Env("HUB_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(e.contains("HUB_TEST_SURELY_UNSET_VAR is not set"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
