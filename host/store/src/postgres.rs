//! The PostgreSQL implementation of [`Store`](crate::Store) and
//! [`InboundStore`](crate::inbound::InboundStore), for several hub workers on one database.
//!
//! Same tables, same states, same integers as SQLite (`migrations::MIGRATIONS` holds both
//! dialects). What SQLite gets from locking the whole file (`BEGIN IMMEDIATE`), PostgreSQL
//! gets from row locks in the transaction that needs them: a transfer's records are locked
//! `FOR NO KEY UPDATE` and checked to be still queued, its number comes from the scope's row in
//! `sequences` (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, locked until commit), and
//! enqueues of one target are serialised by a transaction-scoped advisory lock (duplicate
//! and supersede checks read what the other enqueue wrote).
//!
//! The driver is the synchronous `postgres` crate: the `Store` trait is synchronous and
//! runs on blocking threads, like rusqlite.

use std::path::PathBuf;
use std::sync::Arc;

use hub_core::state::{RecordState, TransferState};
use hub_core::time::Timestamp;
use postgres::{Client, Config, GenericClient, NoTls};

mod audit;
mod by_hand;
mod doubt;
mod enqueue;
mod inbound;
mod inbound_bytes;
mod inputs;
mod lease;
mod outbox;
mod pages;
mod pause;
mod reads;
mod retention;
mod schedule;
mod sealing;
mod view;

use crate::migrations::MIGRATIONS;
use crate::sqlite::{messages_json, parse_messages, parse_state};
use crate::{RecordView, Result, StoreError};

/// How to reach the database: the URL from hub.toml (never with a password), the password
/// read from its file or variable, and the CA that signs the server's certificate (else the
/// platform's trusted roots).
#[derive(Clone, Default)]
pub struct PgOptions {
    /// `postgres://user@host:port/db?sslmode=…` (`disable`, `prefer`, `require`,
    /// `verify-ca`, `verify-full`; with TLS the certificate and host name are always
    /// verified).
    pub url: String,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl PgOptions {
    /// The options `[store]` names, with the password read from its file or variable
    /// (through the one reader of hub.toml's secrets); `None` for a SQLite store.
    pub fn from_config(config: &hub_core::config::StoreConfig) -> Result<Option<Self>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let password = match config.password_source() {
            Some(source) => Some(source.read_secret().map_err(|e| StoreError::Open {
                path: redact_url(url),
                message: format!("the database password: {e}"),
            })?),
            None => None,
        };
        Ok(Some(Self {
            url: url.clone(),
            password,
            ca_file: config.ca_file.clone(),
        }))
    }
}

/// Which backend `[store]` selects and where it is, without credentials (`hub check`).
pub fn describe_store(config: &hub_core::config::StoreConfig) -> String {
    match &config.url {
        Some(url) => format!("PostgreSQL {}", redact_url(url)),
        None => format!("SQLite {}", config.path.display()),
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "**REDACTED**"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The PostgreSQL store: one connection.
pub struct PgStore {
    pub(crate) client: Client,
    /// `postgres://user@host:port/db`, for messages.
    endpoint: String,
    /// Whether this connection listens for wake-ups.
    listening: bool,
    /// `[audit] head_file`: where the audit trail's head is written after each append.
    head_file: Option<PathBuf>,
    /// The tenant's keys: bodies and bytes are sealed under the current one.
    pub(crate) keyring: Option<std::sync::Arc<crate::seal::Keyring>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// Maps a driver error to a store error naming what the store was doing; the database's
/// own message (never a password: the driver does not echo it) is kept.
pub(crate) fn pg(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres {
        context,
        message: describe(&source),
        source,
    }
}

fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let c_text = c.to_string();
                if !s.contains(&c_text) {
                    s.push_str(": ");
                    s.push_str(&c_text);
                }
                cause = c.source();
            }
            s
        }
    }
}

/// The URL without any password in it (`user:secret@` → `user@`).
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a postgres:// URL)".into();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    let tail = tail.split_once('?').map_or(tail, |(path, _)| path);
    format!("{scheme}://{authority}{tail}")
}

/// Turns libpq's `sslmode` values the driver does not know into the one it does:
/// `verify-ca` and `verify-full` are `require` (rustls always verifies the chain and the
/// host name, so both are at least as strict as libpq's).
fn driver_url(url: &str) -> String {
    url.replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require")
}

fn tls(options: &PgOptions, endpoint: &str) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::ClientConfig;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let open = |message: String| StoreError::Open {
        path: endpoint.to_string(),
        message,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| open(format!("TLS setup: {e}")))?;
    let config = match &options.ca_file {
        Some(ca) => {
            let fail = |why: String| open(format!("CA file {}: {why}", ca.display()));
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .map_err(|e| fail(e.to_string()))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("no PEM certificate in it".into()));
            }
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots.add(cert).map_err(|e| fail(e.to_string()))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                open(format!(
                    "cannot load the platform's trusted certificates: {e}"
                ))
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connects and brings the schema up to date (several workers opening at once apply
    /// each migration once: the migration runs under an advisory lock).
    pub fn open(options: &PgOptions) -> Result<Self> {
        let endpoint = redact_url(&options.url);
        let open = |message: String| StoreError::Open {
            path: endpoint.clone(),
            message,
        };
        let mut config: Config = driver_url(&options.url)
            .parse()
            .map_err(|e: postgres::Error| open(scrub(&describe(&e), options)))?;
        if let Some(p) = &options.password {
            config.password(p);
        }
        config.application_name("hub");
        let client = match config.get_ssl_mode() {
            postgres::config::SslMode::Disable => config.connect(NoTls),
            _ => config.connect(tls(options, &endpoint)?),
        }
        .map_err(|e| open(scrub(&describe(&e), options)))?;
        let mut store = Self {
            client,
            endpoint,
            listening: false,
            head_file: None,
            keyring: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Where this store is, without credentials.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn migrate(&mut self) -> Result<()> {
        let mut tx = self.client.transaction().map_err(pg("begin migration"))?;
        // One opener at a time; the others wait and then find everything applied.
        tx.execute("SELECT pg_advisory_xact_lock(7261, 1)", &[])
            .map_err(pg("lock for migration"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)",
        )
        .map_err(pg("create schema_migrations"))?;
        let applied: Vec<i64> = tx
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .map_err(pg("read schema versions"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Some(unknown) = applied
            .iter()
            .find(|n| !MIGRATIONS.iter().any(|m| i64::from(m.id) == **n))
        {
            return Err(StoreError::Corrupt(format!(
                "schema migration {unknown:03} applied, this hub knows {}",
                MIGRATIONS
                    .iter()
                    .map(|m| format!("{:03}", m.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for m in MIGRATIONS {
            if applied.contains(&i64::from(m.id)) {
                continue;
            }
            tx.batch_execute(m.postgres).map_err(pg("migrate schema"))?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&i64::from(m.id)],
            )
            .map_err(pg("record schema version"))?;
        }
        doubt::fill_content_hashes(&mut tx)?;
        tx.commit().map_err(pg("commit migration"))
    }
}

/// A message with the password taken out, should the driver ever echo it.
fn scrub(message: &str, options: &PgOptions) -> String {
    match &options.password {
        Some(p) if !p.is_empty() => message.replace(p.as_str(), "**REDACTED**"),
        _ => message.to_string(),
    }
}

type ViewColumns = &'static str;

/// The columns [`row_to_view`] reads, in its order.
pub(crate) const VIEW_COLUMNS: ViewColumns =
    "seq, target, record_id, kind, state, transfer_id, messages, updated_at";

pub(crate) fn row_to_view(r: &postgres::Row) -> Result<RecordView> {
    Ok(RecordView {
        seq: r.get(0),
        target: r.get(1),
        id: r.get(2),
        kind: r.get(3),
        state: parse_state(r.get(4), RecordState::parse)?,
        transfer_id: r.get(5),
        messages: parse_messages(r.get(6)),
        updated_at: Timestamp(r.get(7)),
    })
}

pub(crate) fn record_view(tx: &mut impl GenericClient, seq: i64) -> Result<RecordView> {
    let row = tx
        .query_one(
            &format!("SELECT {VIEW_COLUMNS} FROM records WHERE seq = $1"),
            &[&seq],
        )
        .map_err(pg("read record"))?;
    row_to_view(&row)
}

pub(crate) fn set_record_state(
    tx: &mut impl GenericClient,
    seq: i64,
    state: RecordState,
    messages: &[String],
    now: Timestamp,
) -> Result<()> {
    let m = messages_json(messages);
    // As SQLite's (`KEEP_PREVIOUS_OUTCOME`): the latest outcome is on the record, the
    // ones it replaced that said something are in `outcomes`.
    tx.execute(
        "INSERT INTO outcomes (record_seq, transfer_id, state, messages, at)
         SELECT seq, transfer_id, state, messages, updated_at FROM records
         WHERE seq = $1 AND (state NOT IN ('queued', 'in-transfer') OR messages <> '[]')",
        &[&seq],
    )
    .map_err(pg("keep the previous outcome"))?;
    tx.execute(
        "UPDATE records SET state = $2, messages = $3, updated_at = $4 WHERE seq = $1",
        &[&seq, &state.as_str(), &m, &now.0],
    )
    .map_err(pg("update record"))?;
    Ok(())
}

/// Recomputes a transfer's state from its payloads and records; sets "done on" once.
pub(crate) fn settle_transfer(
    tx: &mut impl GenericClient,
    transfer_id: i64,
    now: Timestamp,
) -> Result<TransferState> {
    // Whether, not how many: index probes on (transfer_id, state), as SQLite's.
    let row = tx
        .query_one(
            "SELECT
                EXISTS (SELECT 1 FROM payloads WHERE transfer_id = $1 AND state < 'delivered')
                 OR EXISTS (SELECT 1 FROM payloads WHERE transfer_id = $1 AND state > 'delivered'),
                EXISTS (SELECT 1 FROM payloads WHERE transfer_id = $1 AND state = 'in-doubt'),
                EXISTS (SELECT 1 FROM records WHERE transfer_id = $1 AND state = 'in-transfer'),
                EXISTS (SELECT 1 FROM records WHERE transfer_id = $1 AND state IN ('rejected', 'failed'))",
            &[&transfer_id],
        )
        .map_err(pg("settle transfer"))?;
    let (undelivered, in_doubt, in_transfer, needing): (bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let state = if in_doubt {
        TransferState::InDoubt
    } else if undelivered {
        TransferState::Open
    } else if in_transfer {
        TransferState::Sent
    } else if needing {
        TransferState::NeedsCheck
    } else {
        TransferState::Done
    };
    tx.execute(
        "UPDATE transfers SET state = $2::text,
            done_at = CASE WHEN $2::text = 'done' THEN coalesce(done_at, $3) ELSE NULL END
         WHERE id = $1",
        &[&transfer_id, &state.as_str(), &now.0],
    )
    .map_err(pg("update transfer"))?;
    if state != TransferState::Open {
        // Nothing left to deliver: the lease goes in this commit (see SQLite's).
        tx.execute("DELETE FROM leases WHERE transfer_id = $1", &[&transfer_id])
            .map_err(pg("release lease"))?;
    }
    Ok(state)
}

/// Completes the `begun` entry of an attempt, or adds a new one.
pub(crate) fn write_attempt(tx: &mut impl GenericClient, a: &crate::NewAttempt) -> Result<i64> {
    let Some(id) = a.begun else {
        return insert_attempt(tx, a);
    };
    let changed = tx
        .execute(
            "UPDATE attempts SET duration_ms = $2, sent = $3, received = $4, result = $5,
                error = $6 WHERE id = $1",
            &[
                &id,
                &i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                &a.sent,
                &a.received,
                &a.result.as_str(),
                &a.error,
            ],
        )
        .map_err(pg("complete attempt"))?;
    if changed == 0 {
        return insert_attempt(tx, a);
    }
    Ok(id)
}

pub(crate) fn insert_attempt(tx: &mut impl GenericClient, a: &crate::NewAttempt) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO attempts (transfer_id, payload_id, started_at, duration_ms, endpoint,
                credential, sent, received, result, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &a.transfer_id,
                &a.payload_id,
                &a.started_at.0,
                &i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
                &a.endpoint,
                &a.credential,
                &a.sent,
                &a.received,
                &a.result.as_str(),
                &a.error,
            ],
        )
        .map_err(pg("insert attempt"))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_query_in_messages() {
        assert_eq!(
            redact_url("postgres://hub:s3cret@db.example:5433/hub?sslmode=require"),
            "postgres://hub@db.example:5433/hub"
        );
        assert_eq!(
            redact_url("postgresql://db.example/hub"),
            "postgresql://db.example/hub"
        );
        assert_eq!(redact_url("hub.db"), "(not a postgres:// URL)");
        let o = PgOptions {
            url: "postgres://hub@h/db".into(),
            password: Some("s3cret-pw".into()),
            ca_file: None,
        };
        assert!(!format!("{o:?}").contains("s3cret"));
        assert_eq!(scrub("no s3cret-pw here", &o), "no **REDACTED** here");
    }

    #[test]
    fn libpq_verify_modes_become_the_drivers_require() {
        assert_eq!(
            driver_url("postgres://h/db?sslmode=verify-full"),
            "postgres://h/db?sslmode=require"
        );
        let c: Config = driver_url("postgres://h/db?sslmode=verify-ca")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            c.get_ssl_mode(),
            postgres::config::SslMode::Require
        ));
    }
}
